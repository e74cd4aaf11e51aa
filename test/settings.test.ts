import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { NativeConnection } from '@temporalio/worker';
import { loadConfig, type Config } from '../src/config/config';
import { hashEmail } from '../src/consent/email';
import type { ExtoleConsentEvent } from '../src/http/extole-events';
import { startHttpServer, type RunningServer } from '../src/http/server';
import { ledgerKeyFor, notSentReason, routeChanges } from '../src/consent/intake';
import { reconcileScheduleId } from '../src/consent/reconcile';
import { DEFAULT_SEED } from '../src/dev/listrak-sandbox/sandbox';
import { loggerOptionsFor } from '../src/observability/log';
import { freeLocalPort } from '../src/observability/local-port';
import { PROJECT_ROOT } from '../src/dev/paths';
import { temporalCliPath } from '../src/dev/temporal-binaries';
import { startCodecServer } from '../src/http/codec-server';
import { connectionOptions, lazyClientConnection } from '../src/temporal/connection';
import { listrakClientOptionsFor, workerOptionsFor } from '../src/temporal/consent-worker';
import { tracingResource } from '../src/observability/tracing';
import { buildWorkflowBundle } from '../scripts/build-workflows';
import { createHarness, eventually, testEnv, type Harness } from '../src/dev/harness';

// Every variable in .env.example has a row here that shows its effect where it is consumed: a
// setting that does nothing fails this file. A row is one line:
//   shows(value, observe, expected, alsoSet?)  observe(config, env) at the point of consumption
//       gives `expected` with the variable set to `value`, and something else without it;
//   provenBy(file, test, via?)  an existing test proves it: the file must exist, hold that test
//       name and mention the variable (or `via`, the helper that sets it for that test, must).

type Env = Record<string, string>;
type Observe = (config: Readonly<Config>, env: Env) => unknown;
type Row =
  | { kind: 'shows'; value: string; observe: Observe; expected: unknown; alsoSet: Env }
  | { kind: 'provenBy'; file: string; test: string; via?: string };

const shows = (value: string, observe: Observe, expected: unknown, alsoSet: Env = {}): Row => ({ kind: 'shows', value, observe, expected, alsoSet });
const provenBy = (file: string, test: string, via?: string): Row => ({ kind: 'provenBy', file, test, via });

const BASE: Env = { NODE_ENV: 'test', EMAIL_HASH_KEY: 'settings-test-email-hash-key' };
const PAYLOAD_KEY = `k1:${Buffer.alloc(32, 3).toString('base64')}`;
const LISTRAK = { LISTRAK_CLIENT_ID: 'id', LISTRAK_CLIENT_SECRET: 'secret', LISTRAK_LIST_ID: '12' };
const HARNESS = 'src/dev/harness.ts';
const THIS_FILE = 'test/settings.test.ts';

/** A routing file with one route: the friend program's changes go to list 77. */
const ROUTING_FILE = path.join(mkdtempSync(path.join(os.tmpdir(), 'settings-routing-')), 'routing.yaml');
writeFileSync(
  ROUTING_FILE,
  'lists:\n  friends:\n    listId: 77\n    clientIdFrom: env:FRIENDS_ID\n    clientSecretFrom: env:FRIENDS_SECRET\nroutes:\n  - name: friend\n    match: { programLabel: friend }\n    lists: [friends]\n',
);

/** What Worker.create would get (the connection and activities are not configuration). */
const worker = (config: Readonly<Config>) => workerOptionsFor(config, { connection: {} as NativeConnection, activities: {} });

/** Starts a server, makes one request to it, and closes it. */
async function answer(server: Promise<RunningServer>, route: string, init: RequestInit = {}): Promise<Response> {
  const running = await server;
  try {
    const response = await fetch(`http://127.0.0.1:${(running.server.address() as AddressInfo).port}${route}`, init);
    await response.arrayBuffer();
    return response;
  } finally {
    await running.close(1_000);
  }
}

/** The API on a free port of 127.0.0.1 (its Temporal connection is lazy: these routes never use it). */
const api = (config: Readonly<Config>) => startHttpServer(config, new Client({ connection: lazyClientConnection(config) }), { port: 0, host: '127.0.0.1' });

/** The origin the codec server allows for browsers (the Temporal UI's). */
const codecAllows = async (config: Readonly<Config>, origin: string) =>
  (await answer(startCodecServer(config, { token: config.codecServer?.token, trustUiOrigin: true }, 0), '/decode', { method: 'OPTIONS', headers: { origin } })).headers.get('access-control-allow-origin');

const optOut: ExtoleConsentEvent = {
  eventId: 'e1',
  eventTime: '2026-11-10T12:00:00Z',
  eventTimeMs: Date.parse('2026-11-10T12:00:00Z'),
  type: 'opt_out',
  environment: 'production',
  email: 'a@example.com',
  profile: {},
};

const SETTINGS: Record<string, Row> = {
  NODE_ENV: provenBy('test/config.test.ts', 'requires the webhook secret, Listrak credentials, admin token, hash key and payload key in production'),
  PORT: provenBy(THIS_FILE, 'the API listens on PORT'),
  DATA_DIR: provenBy('test/smoke.test.ts', 'serves the whole flow with the sandbox, stops cleanly on Ctrl-C, and keeps state across restarts'),
  LOG_LEVEL: shows('debug', (config) => loggerOptionsFor(config.log).level, 'debug'),
  LOG_PRETTY: shows('true', (config) => (loggerOptionsFor(config.log).transport as { target?: string } | undefined)?.target, 'pino-pretty'),
  SHUTDOWN_GRACE_SECONDS: shows('5', (config) => worker(config).shutdownGraceTime, 5_000),
  LEDGER_IDLE_DAYS: provenBy('test/idle-ledger.test.ts', 'LEDGER_IDLE_DAYS=0 keeps ledgers open'),
  TEMPORAL_RETENTION_DAYS: provenBy('test/retention.test.ts', 'the embedded dev server sets its namespace to the configured retention, and a restart with another value changes it'),
  TEMPORAL_DEV_SERVER: provenBy('test/start-dev-server.test.ts', 'refuses a running Temporal server by default, and uses it with TEMPORAL_DEV_SERVER=external'),
  TEMPORAL_PAYLOAD_ENCRYPTION: provenBy('test/config.test.ts', 'encrypts payloads in production unless TEMPORAL_PAYLOAD_ENCRYPTION=off says otherwise on purpose'),
  CODEC_SERVER_TOKEN: provenBy('test/encryption.test.ts', 'decodes only with the token, for this namespace, and from the UI origin when called by a browser'),
  TEMPORAL_ADDRESS: shows('temporal.internal:7233', (config) => connectionOptions(config).address, 'temporal.internal:7233'),
  TEMPORAL_NAMESPACE: shows('consent', (config) => worker(config).namespace, 'consent'),
  TEMPORAL_TASK_QUEUE: shows('consent-queue', (config) => worker(config).taskQueue, 'consent-queue'),
  TEMPORAL_UI_PORT: shows('18233', (config) => codecAllows(config, 'http://localhost:18233'), 'http://localhost:18233', { TEMPORAL_PAYLOAD_KEY: PAYLOAD_KEY }),
  TEMPORAL_UI_URL: shows('https://temporal.example.com/', (config) => codecAllows(config, 'https://temporal.example.com'), 'https://temporal.example.com', { TEMPORAL_PAYLOAD_KEY: PAYLOAD_KEY }),
  TEMPORAL_SEARCH_ATTRIBUTES: provenBy('test/stale-after-days.test.ts', 'recognises an opt-in replayed 8 days after a newer opt-out and never applies it', HARNESS),
  TEMPORAL_PAYLOAD_KEY: shows(PAYLOAD_KEY, (config) => worker(config).dataConverter?.payloadCodecs?.length ?? 0, 1),
  TEMPORAL_WORKFLOW_BUNDLE: shows('/srv/bundle.js', (config) => worker(config).workflowBundle, { codePath: '/srv/bundle.js' }),
  TEMPORAL_MAX_CACHED_WORKFLOWS: shows('7', (config) => worker(config).maxCachedWorkflows, 7),
  TEMPORAL_CLI_PATH: shows(process.execPath, (config) => temporalCliPath(config.temporal.cliPath), process.execPath),
  TEMPORAL_API_KEY: provenBy('test/temporal-tls.test.ts', 'an API key travels as a Bearer authorization header, over TLS only, and never in clear config output'),
  TEMPORAL_TLS: shows('true', (config) => connectionOptions(config).tls, {}),
  TEMPORAL_TLS_CA_PATH: provenBy('test/temporal-tls.test.ts', 'with a client certificate from the cluster CA, the worker and the intake work end to end'),
  TEMPORAL_TLS_CERT_PATH: provenBy('test/temporal-tls.test.ts', 'with a client certificate from the cluster CA, the worker and the intake work end to end'),
  TEMPORAL_TLS_KEY_PATH: provenBy('test/temporal-tls.test.ts', 'with a client certificate from the cluster CA, the worker and the intake work end to end'),
  // Each needs the other (a ConfigError alone), so a shows() row has no "unset" to compare with.
  TEMPORAL_WORKER_DEPLOYMENT: provenBy('test/versioning.test.ts', 'ledgers move to the promoted build, a pinned change finishes on its own, and roll-back returns new work to the old build'),
  TEMPORAL_WORKER_BUILD_ID: provenBy('test/versioning.test.ts', 'ledgers move to the promoted build, a pinned change finishes on its own, and roll-back returns new work to the old build'),
  TEMPORAL_TLS_SERVER_NAME: shows('temporal.internal', (config) => connectionOptions(config).tls?.serverNameOverride, 'temporal.internal'),
  CODEC_SERVER_PORT: provenBy(THIS_FILE, 'the codec server listens on CODEC_SERVER_HOST:CODEC_SERVER_PORT'),
  CODEC_SERVER_HOST: provenBy(THIS_FILE, 'the codec server listens on CODEC_SERVER_HOST:CODEC_SERVER_PORT'),
  WORKER_METRICS_PORT: provenBy(THIS_FILE, 'the worker process serves /healthz and /metrics on WORKER_METRICS_PORT'),
  METRICS_TOKEN: provenBy('test/operations.test.ts', 'METRICS_TOKEN protects /metrics'),
  OTEL_EXPORTER_OTLP_ENDPOINT: provenBy('test/tracing.test.ts', 'one trace runs from the webhook through both workflows to the Listrak activity, with no email in it'),
  OTEL_SERVICE_NAME: shows('consent-staging', (config) => config.tracing && tracingResource(config.tracing).attributes['service.name'], 'consent-staging', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }),
  EXTOLE_WEBHOOK_SECRET: shows(
    'webhook-secret',
    async (config) => (await answer(api(config), '/webhooks/extole', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status,
    401,
  ),
  ADMIN_TOKEN: provenBy('test/consent-sync.test.ts', 'shows a person by email on the status endpoint, behind the admin token', HARNESS),
  EMAIL_HASH_KEY: shows('another-email-hash-key', (config) => ledgerKeyFor(config, 'production', 'a@example.com').emailHash, hashEmail('another-email-hash-key', 'a@example.com')),
  LISTRAK_AUTH_URL: shows('https://auth.example.com/token', (config) => listrakClientOptionsFor(config).authUrl, 'https://auth.example.com/token'),
  LISTRAK_API_URL: shows('https://api.example.com/email/v1', (config) => listrakClientOptionsFor(config).apiUrl, 'https://api.example.com/email/v1'),
  LISTRAK_TIMEOUT_MS: shows('4000', (config) => listrakClientOptionsFor(config).timeoutMs, 4_000),
  LISTRAK_QUICK_RETRIES: shows('0', (config) => listrakClientOptionsFor(config).quickRetries, 0),
  // 20 requests/s = 10 activities/s (two requests each); test/rate-limit.test.ts measures it.
  LISTRAK_MAX_REQUESTS_PER_SECOND: shows('20', (config) => worker(config).maxTaskQueueActivitiesPerSecond, 10),
  LISTRAK_CLIENT_ID: provenBy('test/consent-sync.test.ts', 'subscribes an opt-in with mapped profile fields and the opt-in event', HARNESS),
  LISTRAK_CLIENT_SECRET: provenBy('test/consent-sync.test.ts', 'subscribes an opt-in with mapped profile fields and the opt-in event', HARNESS),
  LISTRAK_LIST_ID: provenBy('test/consent-sync.test.ts', 'subscribes an opt-in with mapped profile fields and the opt-in event', HARNESS),
  LISTRAK_STAGING_CLIENT_ID: provenBy('test/consent-sync.test.ts', 'sends staging events with the staging credentials to the staging list'),
  LISTRAK_STAGING_CLIENT_SECRET: provenBy('test/consent-sync.test.ts', 'sends staging events with the staging credentials to the staging list'),
  LISTRAK_STAGING_LIST_ID: provenBy('test/consent-sync.test.ts', 'sends staging events with the staging credentials to the staging list'),
  LISTRAK_SEGMENTATION_FIELDS: provenBy('test/consent-sync.test.ts', 'subscribes an opt-in with mapped profile fields and the opt-in event', HARNESS),
  LISTRAK_OPT_IN_EVENT_IDS: provenBy('test/consent-sync.test.ts', 'subscribes an opt-in with mapped profile fields and the opt-in event', HARNESS),
  LISTRAK_DOUBLE_OPT_IN: shows('true', (config) => config.listrak.routing.lists.map((list) => list.doubleOptIn), [true], LISTRAK),
  SEND_OPT_INS: provenBy('test/consent-sync.test.ts', 'skips opt-ins when SEND_OPT_INS=false but still applies opt-outs'),
  ROUTING_FILE: shows(ROUTING_FILE, (config) => routeChanges(config, { ...optOut, programLabel: 'friend' }).map((change) => change.key.listId), [77], { FRIENDS_ID: 'id', FRIENDS_SECRET: 'secret' }),
  SEND_OPT_OUTS: shows('false', (config) => notSentReason(config, optOut), 'opt-outs are not sent: SEND_OPT_OUTS=false', LISTRAK),
  RECONCILE_INTERVAL: provenBy('test/reconcile.test.ts', 'installs one Schedule per environment and sweep, idempotently, at RECONCILE_INTERVAL, RECONCILE_FULL_INTERVAL and RECONCILE_MODE'),
  RECONCILE_FULL_INTERVAL: provenBy('test/reconcile.test.ts', 'installs one Schedule per environment and sweep, idempotently, at RECONCILE_INTERVAL, RECONCILE_FULL_INTERVAL and RECONCILE_MODE'),
  RECONCILE_MODE: provenBy('test/reconcile.test.ts', 'installs one Schedule per environment and sweep, idempotently, at RECONCILE_INTERVAL, RECONCILE_FULL_INTERVAL and RECONCILE_MODE'),
  LISTRAK_PRIVACY_CLIENT_ID: provenBy('test/forget.test.ts', 'asks Listrak and follows it to COMPLETE, erases the email from every history, refuses a stale opt-in and applies a newer one'),
  LISTRAK_PRIVACY_CLIENT_SECRET: provenBy('test/forget.test.ts', 'asks Listrak and follows it to COMPLETE, erases the email from every history, refuses a stale opt-in and applies a newer one'),
  LISTRAK_PRIVACY_API_URL: provenBy('test/forget.test.ts', 'asks Listrak and follows it to COMPLETE, erases the email from every history, refuses a stale opt-in and applies a newer one'),
  // 1 s there: at the default 300 s the forget would not reach COMPLETE within the test.
  LISTRAK_PRIVACY_POLL_SECONDS: provenBy('test/forget.test.ts', 'asks Listrak and follows it to COMPLETE, erases the email from every history, refuses a stale opt-in and applies a newer one'),
  LISTRAK_SANDBOX_PORT: provenBy(THIS_FILE, 'npm run sandbox listens on LISTRAK_SANDBOX_PORT with the clients of LISTRAK_SANDBOX_SEED'),
  LISTRAK_SANDBOX_SEED: provenBy(THIS_FILE, 'npm run sandbox listens on LISTRAK_SANDBOX_PORT with the clients of LISTRAK_SANDBOX_SEED'),
};

const read = (file: string) => readFileSync(path.join(PROJECT_ROOT, file), 'utf8');
const documented = [...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]+)=/gm)].map((match) => match[1]!);

describe('every setting in .env.example has an effect where it is consumed', () => {
  it('has a row for every variable in .env.example, and none for a variable not in it', () => {
    const missing = documented.filter((name) => !(name in SETTINGS));
    assert.deepEqual(missing, [], `add a row to SETTINGS in ${THIS_FILE} for ${missing.join(', ')}: shows(value, observe, expected) or provenBy(file, test)`);
    const unknown = Object.keys(SETTINGS).filter((name) => !documented.includes(name));
    assert.deepEqual(unknown, [], `${unknown.join(', ')} in ${THIS_FILE} is not in .env.example: remove the row from SETTINGS or document the variable`);
  });

  for (const [name, row] of Object.entries(SETTINGS)) {
    if (row.kind === 'shows') {
      it(`${name}=${row.value.length > 40 ? `${row.value.slice(0, 12)}…` : row.value} shows where it is consumed`, async () => {
        const env = { ...BASE, ...row.alsoSet, [name]: row.value };
        const withIt = await row.observe(loadConfig(env), env);
        assert.deepEqual(withIt, row.expected, `${name}=${row.value}`);
        const withoutEnv = { ...BASE, ...row.alsoSet };
        const without = await row.observe(loadConfig(withoutEnv), withoutEnv);
        assert.notDeepEqual(without, row.expected, `${name} unset gives something else than ${JSON.stringify(row.expected)}`);
      });
    } else {
      it(`${name} is proven by ${row.file}: "${row.test}"`, () => {
        assert.ok(existsSync(path.join(PROJECT_ROOT, row.file)), `${row.file} exists (fix the row of ${name} in SETTINGS in ${THIS_FILE})`);
        const text = read(row.file);
        assert.ok(text.includes(`'${row.test}'`) || text.includes(`\`${row.test}\``), `${row.file} has a test named "${row.test}"`);
        assert.ok(text.includes(name) || (row.via !== undefined && read(row.via).includes(name)), `${row.file}${row.via ? ` or ${row.via}` : ''} sets ${name}`);
      });
    }
  }
});

describe('settings that need a server: what listens where', () => {
  it('the API listens on PORT', async () => {
    const port = await freeLocalPort();
    const config = loadConfig({ ...BASE, PORT: String(port) });
    const running = await startHttpServer(config, new Client({ connection: lazyClientConnection(config) }), { host: '127.0.0.1' });
    try {
      assert.equal((running.server.address() as AddressInfo).port, port);
      assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
    } finally {
      await running.close(1_000);
    }
  });

  it('the codec server listens on CODEC_SERVER_HOST:CODEC_SERVER_PORT', async () => {
    const port = await freeLocalPort();
    // Another loopback address than the default 127.0.0.1 (bound only; nothing is sent to it).
    const config = loadConfig({
      ...BASE,
      TEMPORAL_PAYLOAD_KEY: PAYLOAD_KEY,
      CODEC_SERVER_PORT: String(port),
      CODEC_SERVER_HOST: '127.0.0.2',
      CODEC_SERVER_TOKEN: 'settings-test-codec-token-0123456789abcdef',
    });
    const running = await startCodecServer(config, { token: config.codecServer?.token });
    try {
      assert.deepEqual([(running.server.address() as AddressInfo).address, (running.server.address() as AddressInfo).port], ['127.0.0.2', port]);
    } finally {
      await running.close(1_000);
    }
  });

  it('npm run sandbox listens on LISTRAK_SANDBOX_PORT with the clients of LISTRAK_SANDBOX_SEED', { timeout: 30_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'settings-seed-'));
    const seedFile = path.join(dir, 'seed.json');
    writeFileSync(seedFile, JSON.stringify({ ...DEFAULT_SEED, clients: [{ clientId: 'seeded-client', clientSecret: 'seeded-secret' }] }));
    const port = await freeLocalPort();
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/dev/listrak-sandbox/main.ts'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH, LISTRAK_SANDBOX_PORT: String(port), LISTRAK_SANDBOX_SEED: seedFile },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    try {
      await eventually(() => out.includes('inspect:'), 20_000, 'the sandbox to print its address');
      assert.match(out, new RegExp(`listening on http://127\\.0\\.0\\.1:${port}|listening on http://[^:]+:${port}`));
      assert.match(out, /demo credentials: seeded-client \//);
      const token = await fetch(`http://127.0.0.1:${port}/OAuth2/Token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&client_id=seeded-client&client_secret=seeded-secret',
      });
      assert.equal(token.status, 200, 'the seeded client gets a token');
    } finally {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('settings that reach a real worker (Temporal dev server)', { timeout: 120_000 }, () => {
  let harness: Harness;
  before(async () => {
    harness = await createHarness();
  });
  after(async () => {
    await harness?.close();
  });

  it('the harness worker gets the rate limit and cache size from configuration, and the server applies the limit', async () => {
    const service = await harness.start({ LISTRAK_MAX_REQUESTS_PER_SECOND: '20', TEMPORAL_MAX_CACHED_WORKFLOWS: '7' });
    assert.equal(service.worker.options.maxCachedWorkflows, 7);
    assert.equal(service.worker.options.maxTaskQueueActivitiesPerSecond, 10);
    const limit = await eventually(async () => {
      const described = await harness.env.client.workflowService.describeTaskQueue({
        namespace: service.config.temporal.namespace,
        taskQueue: { name: service.config.temporal.taskQueue },
        taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        reportConfig: true,
      });
      // Until the worker's first activity poll the server reports its own default (source: system).
      const effective = described.effectiveRateLimit;
      return effective?.rateLimitSource === temporal.api.enums.v1.RateLimitSource.RATE_LIMIT_SOURCE_WORKER ? effective.requestsPerSecond : undefined;
    }, 10_000, 'the task queue rate limit set by the worker on the server');
    assert.equal(limit, 10, 'activities per second, as the server enforces it for the task queue');
  });

  it('the worker process serves /healthz and /metrics on WORKER_METRICS_PORT', { timeout: 90_000 }, async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'settings-worker-'));
    const port = await freeLocalPort();
    const env = {
      ...testEnv(harness.sandboxUrls),
      PATH: process.env.PATH ?? '',
      LOG_LEVEL: 'warn',
      TEMPORAL_ADDRESS: harness.env.address,
      TEMPORAL_WORKFLOW_BUNDLE: await buildWorkflowBundle(path.join(dir, 'bundle.js'), true),
      WORKER_METRICS_PORT: String(port),
      // The Schedules it installs carry their workflow arguments encrypted, as every payload.
      TEMPORAL_PAYLOAD_KEY: `k1:${randomBytes(32).toString('base64')}`,
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/worker.ts'], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'ignore', 'inherit'] });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    const config = loadConfig(env);
    const list = config.listrak.routing.lists[0]!;
    try {
      await eventually(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).status === 200, 60_000, `the worker's /healthz on ${port}`, 250);
      assert.match(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), /consent_/);
      const encoding = await eventually(async () => {
        const described = await harness.env.client.workflowService
          .describeSchedule({ namespace: config.temporal.namespace, scheduleId: reconcileScheduleId(list.environment, list.listId, 'unsubscribed') })
          .catch(() => undefined);
        const payload = described?.schedule?.action?.startWorkflow?.input?.payloads?.[0];
        const found = payload ? Buffer.from(payload.metadata?.encoding ?? []).toString() : undefined;
        return found === 'binary/encrypted' ? found : undefined;
      }, 30_000, 'the reconciliation Schedule the worker installs, its arguments encrypted');
      assert.equal(encoding, 'binary/encrypted');
    } finally {
      child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
