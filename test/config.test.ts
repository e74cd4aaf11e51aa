import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../src/config';
import { PROJECT_ROOT } from '../src/temporal/cli';

const base = { NODE_ENV: 'development' };

describe('configuration', () => {
  it('has working defaults for development', () => {
    const config = loadConfig(base);
    assert.equal(config.port, 3000);
    assert.equal(config.temporal.address, '127.0.0.1:7233');
    assert.equal(config.temporal.namespace, 'default');
    assert.equal(config.listrak.authUrl, 'https://auth.listrak.com/OAuth2/Token');
    assert.equal(config.listrak.apiUrl, 'https://api.listrak.com/email/v1');
    assert.equal(config.listrak.sendOptIns, true);
    assert.equal(config.listrak.sendOptOuts, true);
    assert.ok(config.warnings.some((warning) => warning.includes('EXTOLE_WEBHOOK_SECRET')));
    assert.ok(Object.isFrozen(config.listrak));
  });

  it('parses the segmentation field map and event ids', () => {
    const config = loadConfig({ ...base, LISTRAK_SEGMENTATION_FIELDS: 'first_name:101, funnel:105', LISTRAK_OPT_IN_EVENT_IDS: '7,8' });
    assert.deepEqual(config.listrak.segmentationFields, { first_name: 101, funnel: 105 });
    assert.deepEqual(config.listrak.optInEventIds, [7, 8]);
  });

  it('names every malformed variable and what it expects', () => {
    assert.throws(
      () => loadConfig({ ...base, PORT: 'http', LISTRAK_LIST_ID: 'abc', SEND_OPT_INS: 'maybe', LISTRAK_SEGMENTATION_FIELDS: 'nickname:9', LISTRAK_API_URL: 'not a url' }),
      (error: unknown) => {
        assert.ok(error instanceof ConfigError);
        for (const text of ['PORT', "LISTRAK_LIST_ID: must be an integer between 1 and 2147483647, got 'abc'", 'SEND_OPT_INS', 'LISTRAK_SEGMENTATION_FIELDS', 'LISTRAK_API_URL']) {
          assert.ok(error.message.includes(text), `${text} in ${error.message}`);
        }
        return true;
      },
    );
  });

  it('wants credentials and list id together', () => {
    assert.throws(() => loadConfig({ ...base, LISTRAK_CLIENT_ID: 'id' }), /LISTRAK_CLIENT_ID, LISTRAK_CLIENT_SECRET and LISTRAK_LIST_ID must be set together/);
  });

  it('requires the webhook secret, Listrak credentials, admin token and hash key in production', () => {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production' }),
      /NODE_ENV=production requires EXTOLE_WEBHOOK_SECRET, LISTRAK_CLIENT_ID\/LISTRAK_CLIENT_SECRET\/LISTRAK_LIST_ID, ADMIN_TOKEN, EMAIL_HASH_KEY/,
    );
    const config = loadConfig({
      NODE_ENV: 'production',
      EXTOLE_WEBHOOK_SECRET: 'secret',
      ADMIN_TOKEN: 'admin',
      EMAIL_HASH_KEY: 'a-long-enough-hash-key',
      LISTRAK_CLIENT_ID: 'id',
      LISTRAK_CLIENT_SECRET: 'secret',
      LISTRAK_LIST_ID: '12',
    });
    assert.equal(config.listrak.targets.production?.listId, 12);
    assert.equal(config.listrak.targets.staging, undefined);
    assert.deepEqual(config.warnings, []);
  });

  it('documents every variable in .env.example and the README table, and nothing that does not exist', () => {
    const example = readFileSync(path.join(PROJECT_ROOT, '.env.example'), 'utf8');
    const readme = readFileSync(path.join(PROJECT_ROOT, 'README.md'), 'utf8');
    // Read outside loadConfig: by the logger, the sandbox and the OpenTelemetry SDK.
    const elsewhere = ['LOG_PRETTY', 'LISTRAK_SANDBOX_SEED', 'OTEL_SERVICE_NAME'];
    const documented = [...example.matchAll(/^([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]!);
    for (const name of [...CONFIG_VARIABLES, ...elsewhere]) {
      if (name === 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') continue; // the standard per-signal variant
      assert.ok(documented.includes(name), `${name} is in .env.example`);
      assert.ok(readme.includes(`\`${name}\``), `${name} is in the README`);
    }
    for (const name of documented) assert.ok(CONFIG_VARIABLES.includes(name) || elsewhere.includes(name), `${name} in .env.example is read by the service`);
  });
});
