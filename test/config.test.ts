import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { CONFIG_VARIABLES, ConfigError, SECRET_VARIABLES, loadConfig } from '../src/config/config';
import { PROJECT_ROOT } from '../src/dev/paths';

const base = { NODE_ENV: 'development' };
const key32 = () => randomBytes(32).toString('base64');
/** A production configuration that loads; tests break one thing at a time. */
const production = {
  NODE_ENV: 'production',
  // Random, so no six characters of them match a word of a message by chance.
  EXTOLE_WEBHOOK_SECRET: randomBytes(24).toString('hex'),
  ADMIN_TOKEN: randomBytes(24).toString('hex'),
  EMAIL_HASH_KEY: 'a-long-enough-hash-key',
  LISTRAK_CLIENT_ID: 'id',
  LISTRAK_CLIENT_SECRET: 'listrak-client-secret',
  LISTRAK_LIST_ID: '12',
  TEMPORAL_PAYLOAD_KEY: `k1:${key32()}`,
};

/** loadConfig's ConfigError message for `env` (fails if it loads). */
function configError(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail(`expected a ConfigError for ${Object.keys(env).join(', ')}`);
}

describe('configuration', () => {
  it('a Privacy integration: both credentials, its base URL and poll interval; one credential alone is refused', () => {
    assert.equal(loadConfig(base).listrak.privacy, undefined);
    const privacy = { LISTRAK_PRIVACY_CLIENT_ID: 'privacy-id', LISTRAK_PRIVACY_CLIENT_SECRET: 'privacy-secret' };
    assert.deepEqual(loadConfig({ ...base, ...privacy }).listrak.privacy, {
      clientId: 'privacy-id',
      clientSecret: 'privacy-secret',
      apiUrl: 'https://api.listrak.com/privacy',
      pollIntervalMs: 300_000,
    });
    const set = loadConfig({ ...base, ...privacy, LISTRAK_PRIVACY_API_URL: 'http://127.0.0.1:9/privacy/', LISTRAK_PRIVACY_POLL_SECONDS: '5' }).listrak.privacy;
    assert.deepEqual([set?.apiUrl, set?.pollIntervalMs], ['http://127.0.0.1:9/privacy', 5_000]);
    assert.match(configError({ ...base, LISTRAK_PRIVACY_CLIENT_ID: 'privacy-id' }), /LISTRAK_PRIVACY_CLIENT_ID and LISTRAK_PRIVACY_CLIENT_SECRET must be set together/);
    assert.match(configError({ ...base, ...privacy, LISTRAK_PRIVACY_POLL_SECONDS: '0' }), /LISTRAK_PRIVACY_POLL_SECONDS/);
    const leaked = configError({ ...base, LISTRAK_PRIVACY_CLIENT_SECRET: 'privacy-secret-value' });
    assert.ok(!leaked.includes('privacy-secret-value'), 'the secret is never echoed');
  });

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

  it('wants a build id with a worker deployment, and neither alone', () => {
    assert.equal(loadConfig(base).temporal.workerDeployment, undefined, 'unversioned by default');
    assert.deepEqual(loadConfig({ ...base, TEMPORAL_WORKER_DEPLOYMENT: 'consent', TEMPORAL_WORKER_BUILD_ID: '0.1.0+3f9c2ab' }).temporal.workerDeployment, {
      name: 'consent',
      buildId: '0.1.0+3f9c2ab',
    });
    assert.throws(() => loadConfig({ ...base, TEMPORAL_WORKER_DEPLOYMENT: 'consent' }), /TEMPORAL_WORKER_DEPLOYMENT=consent needs TEMPORAL_WORKER_BUILD_ID/);
    assert.throws(() => loadConfig({ ...base, TEMPORAL_WORKER_BUILD_ID: 'b1' }), /TEMPORAL_WORKER_BUILD_ID needs TEMPORAL_WORKER_DEPLOYMENT/);
    assert.throws(() => loadConfig({ ...base, TEMPORAL_WORKER_DEPLOYMENT: 'consent.v2', TEMPORAL_WORKER_BUILD_ID: 'b1' }), /TEMPORAL_WORKER_DEPLOYMENT.*letters, digits, - and _/);
  });

  it('requires the webhook secret, Listrak credentials, admin token, hash key and payload key in production', () => {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production' }),
      /NODE_ENV=production requires EXTOLE_WEBHOOK_SECRET, LISTRAK_CLIENT_ID\/LISTRAK_CLIENT_SECRET\/LISTRAK_LIST_ID, ADMIN_TOKEN, EMAIL_HASH_KEY, TEMPORAL_PAYLOAD_KEY \(or TEMPORAL_PAYLOAD_ENCRYPTION=off/,
    );
    const config = loadConfig(production);
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

  it('never shows a secret, or any six characters of one, in a configuration error', () => {
    const key = key32();
    const cases: [name: string, env: Record<string, string>][] = [
      // The finding: an entry without a key id was echoed, key included.
      ['TEMPORAL_PAYLOAD_KEY', { ...base, TEMPORAL_PAYLOAD_KEY: key }],
      ['TEMPORAL_PAYLOAD_KEY', { ...base, TEMPORAL_PAYLOAD_KEY: `k1:${key32()},${key}` }],
      ['TEMPORAL_PAYLOAD_KEY', { ...base, TEMPORAL_PAYLOAD_KEY: `${key}:k1` }],
      ['TEMPORAL_PAYLOAD_KEY', { ...base, TEMPORAL_PAYLOAD_KEY: `k1:${key.slice(0, 30)}` }],
      ['TEMPORAL_PAYLOAD_KEY', { ...base, TEMPORAL_PAYLOAD_KEY: `k1:${key}:${key32()}` }],
      ['TEMPORAL_PAYLOAD_KEY', { ...base, TEMPORAL_PAYLOAD_KEY: `k1 ${key}` }],
      ['TEMPORAL_PAYLOAD_KEY', { ...base, TEMPORAL_PAYLOAD_KEY: `k1:${key.replace(/=$/, '!')}` }],
      ['EMAIL_HASH_KEY', { ...base, EMAIL_HASH_KEY: 'short-hash-k' }],
      ['EXTOLE_WEBHOOK_SECRET', { ...production, EXTOLE_WEBHOOK_SECRET: 'short-webhook-secret' }],
      ['EXTOLE_WEBHOOK_SECRET', { ...base, EXTOLE_WEBHOOK_SECRET: 'Zq9-webhook\nsecret-0123456789abcdef' }],
      ['ADMIN_TOKEN', { ...production, ADMIN_TOKEN: 'short-admin-token' }],
      ['ADMIN_TOKEN', { ...production, ADMIN_TOKEN: production.EXTOLE_WEBHOOK_SECRET }],
      ['ADMIN_TOKEN', { ...base, ADMIN_TOKEN: 'admin token with spaces 0123456789' }],
      ['METRICS_TOKEN', { ...production, METRICS_TOKEN: 'short-metrics-token' }],
      ['METRICS_TOKEN', { ...base, METRICS_TOKEN: 'metrics\ttoken-0123456789abcdef' }],
      ['LISTRAK_CLIENT_SECRET', { ...base, LISTRAK_CLIENT_SECRET: 'lonely-listrak-secret' }],
      ['LISTRAK_CLIENT_SECRET', { ...base, LISTRAK_CLIENT_ID: 'id', LISTRAK_LIST_ID: '1', LISTRAK_CLIENT_SECRET: 'listrak secret\u0000x' }],
      ['LISTRAK_STAGING_CLIENT_SECRET', { ...base, LISTRAK_STAGING_CLIENT_SECRET: 'lonely-staging-secret' }],
      ['TEMPORAL_API_KEY', { ...base, TEMPORAL_API_KEY: 'cloud-api-key\r\n0123456789' }],
    ];
    for (const [name, env] of cases) {
      const message = configError(env);
      const value = env[name]!;
      assert.ok(message.includes(name), `the message names ${name}: ${message}`);
      for (let start = 0; start + 6 <= value.length; start++) {
        const fragment = value.slice(start, start + 6);
        if (/\s/.test(fragment.trim()) || fragment.trim().length < 6) continue; // separators, not secret text
        assert.ok(!message.includes(fragment), `'${fragment}' of ${name} is not in: ${message}`);
      }
    }
  });

  it('says what a payload key entry should look like, by position', () => {
    assert.match(configError({ ...base, TEMPORAL_PAYLOAD_KEY: key32() }), /TEMPORAL_PAYLOAD_KEY: each entry must be keyId:<32 bytes in base64>.*entry 1 of 1/);
    assert.match(configError({ ...base, TEMPORAL_PAYLOAD_KEY: `k1:${key32()},k2:c2hvcnQ=` }), /the key of entry 2 of 2 is not 32 bytes of base64/);
  });

  it('treats every variable named like a secret as one', () => {
    const named = CONFIG_VARIABLES.filter((name) => /(SECRET|TOKEN|_KEY)$/.test(name));
    assert.deepEqual([...named].sort(), [...SECRET_VARIABLES].sort());
  });

  it('refuses short or shared secrets in production, and warns about them in development', () => {
    for (const name of ['EXTOLE_WEBHOOK_SECRET', 'ADMIN_TOKEN', 'METRICS_TOKEN']) {
      const short = { [name]: 'x'.repeat(31) };
      assert.match(configError({ ...production, ...short }), new RegExp(`${name} must be at least 32 characters`));
      assert.ok(loadConfig({ ...base, ...short }).warnings.some((warning) => warning.startsWith(`${name} must be at least 32 characters`)));
      assert.doesNotThrow(() => loadConfig({ ...production, [name]: `${'y'.repeat(31)}${name}` }), '32 characters or more pass');
    }
    const shared = { ADMIN_TOKEN: production.EXTOLE_WEBHOOK_SECRET };
    assert.match(configError({ ...production, ...shared }), /ADMIN_TOKEN must differ from EXTOLE_WEBHOOK_SECRET/);
    assert.ok(loadConfig({ ...base, EXTOLE_WEBHOOK_SECRET: production.EXTOLE_WEBHOOK_SECRET, ...shared }).warnings.some((warning) => warning.includes('must differ')));
  });

  it('encrypts payloads in production unless TEMPORAL_PAYLOAD_ENCRYPTION=off says otherwise on purpose', () => {
    const { TEMPORAL_PAYLOAD_KEY: _key, ...withoutKey } = production;
    assert.match(configError(withoutKey), /requires TEMPORAL_PAYLOAD_KEY \(or TEMPORAL_PAYLOAD_ENCRYPTION=off/);
    assert.equal(loadConfig({ ...withoutKey, TEMPORAL_PAYLOAD_ENCRYPTION: 'off' }).temporal.payloadKeys, undefined);
    assert.equal(loadConfig(production).temporal.payloadKeys?.[0]?.id, 'k1');
    assert.match(configError({ ...production, TEMPORAL_PAYLOAD_ENCRYPTION: 'off' }), /TEMPORAL_PAYLOAD_ENCRYPTION=off contradicts TEMPORAL_PAYLOAD_KEY/);
    for (const value of ['on', 'false', 'OFF', 'none']) {
      assert.match(configError({ ...withoutKey, TEMPORAL_PAYLOAD_ENCRYPTION: value }), /TEMPORAL_PAYLOAD_ENCRYPTION: the only value is 'off'/);
    }
    assert.doesNotThrow(() => loadConfig({ ...base, TEMPORAL_PAYLOAD_ENCRYPTION: 'off' }), 'development needs no key either way');
  });

  it('refuses the development email-hash key against a real Listrak or a Temporal elsewhere', () => {
    const credentials = { LISTRAK_CLIENT_ID: 'id', LISTRAK_CLIENT_SECRET: 'listrak-client-secret', LISTRAK_LIST_ID: '12' };
    // The finding: `npm run consent -- replay` with real Listrak settings and no EMAIL_HASH_KEY.
    assert.match(configError({ ...base, ...credentials }), /EMAIL_HASH_KEY is not set.*Listrak at https:\/\/api\.listrak\.com.*set EMAIL_HASH_KEY/);
    assert.match(configError({ ...base, ...credentials, LISTRAK_AUTH_URL: 'https://auth.listrak.com/OAuth2/Token', LISTRAK_API_URL: 'http://127.0.0.1:4010/email/v1' }), /EMAIL_HASH_KEY is not set/);
    assert.match(configError({ ...base, TEMPORAL_ADDRESS: 'temporal.internal:7233' }), /EMAIL_HASH_KEY is not set.*Temporal at temporal\.internal:7233/);
    assert.match(configError({ ...base, TEMPORAL_ADDRESS: 'my-ns.a1b2c.tmprl.cloud:7233', TEMPORAL_API_KEY: 'cloud-key' }), /EMAIL_HASH_KEY is not set/);
    // On this machine (the sandbox, a dev server) the development key stays, with a warning.
    for (const local of [
      {},
      { ...credentials, LISTRAK_AUTH_URL: 'http://127.0.0.1:4010/OAuth2/Token', LISTRAK_API_URL: 'http://localhost:4010/email/v1' },
      { TEMPORAL_ADDRESS: 'localhost:7233' },
    ]) {
      const config = loadConfig({ ...base, ...local });
      assert.ok(config.warnings.some((warning) => warning.startsWith('EMAIL_HASH_KEY is not set')));
    }
    assert.doesNotThrow(() => loadConfig({ ...base, ...credentials, EMAIL_HASH_KEY: 'a-long-enough-hash-key' }));
  });
});
