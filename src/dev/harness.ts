import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Runtime, type WorkflowBundleWithSourceMap, type Worker } from '@temporalio/worker';
import { loadConfig, logSettingsFrom, type Config } from '../config/config';
import { configureLogging } from '../observability/log';
import { contractChecker } from '../http/contract-check';
import { createServiceApp } from '../http/server';
import { signExtolePayload } from '../http/webhook-auth';
import { ListrakClient } from '../listrak/client';
import { DEFAULT_SEED, ListrakSandbox, type SandboxSeed } from './listrak-sandbox/sandbox';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../temporal/search-attributes';
import { temporalCliPath, temporalTestServerPath } from './temporal-binaries';
import { dataConverterFor } from '../temporal/encryption';
import { createConsentWorker, listrakClientOptionsFor } from '../temporal/consent-worker';
import { createReconcileLedgers } from '../consent/reconcile';

export const WEBHOOK_SECRET = 'test-webhook-secret';
export const ADMIN_TOKEN = 'test-admin-token';
export const PRODUCTION_LIST = 1001;
export const STAGING_LIST = 2002;

const bundles = new Map<boolean, Promise<WorkflowBundleWithSourceMap>>();
/**
 * The workflow bundle, built once per test file, or read from a cache shared by the test files
 * of a run: building takes seconds per file, and `npm test` starts two dozen files. The cache key
 * hashes every source the bundle can include (workflows/, src/) and the SDK's version.
 */
export function workflowBundle(encrypted = false): Promise<WorkflowBundleWithSourceMap> {
  let bundle = bundles.get(encrypted);
  if (!bundle) {
    bundle = cachedBundle(encrypted, () =>
      bundleWorkflowCode({
        workflowsPath: require.resolve('../../workflows'),
        logger: quietLogger(),
        failureConverterPath: encrypted ? require.resolve('../temporal/failure-converter') : undefined,
      }),
    );
    bundles.set(encrypted, bundle);
  }
  return bundle;
}

const ROOT = path.resolve(__dirname, '../..');
const BUNDLE_CACHE = path.join(os.tmpdir(), 'listrak-consent-sync-test-bundles');

async function cachedBundle(encrypted: boolean, build: () => Promise<WorkflowBundleWithSourceMap>): Promise<WorkflowBundleWithSourceMap> {
  const hash = createHash('sha256').update(`encrypted=${encrypted}\n`);
  hash.update(JSON.parse(readFileSync(require.resolve('@temporalio/workflow/package.json'), 'utf8')).version as string);
  for (const dir of ['workflows', 'src']) {
    for (const file of (readdirSync(path.join(ROOT, dir), { recursive: true }) as string[]).filter((name) => name.endsWith('.ts')).sort()) {
      hash.update(`\n${dir}/${file}\n`).update(readFileSync(path.join(ROOT, dir, file)));
    }
  }
  const file = path.join(BUNDLE_CACHE, `${hash.digest('hex').slice(0, 24)}.json`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as WorkflowBundleWithSourceMap;
  } catch {
    const bundle = await build();
    mkdirSync(BUNDLE_CACHE, { recursive: true });
    // Written whole, then renamed: a concurrent reader sees the old state or the new file, never half.
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, JSON.stringify({ code: bundle.code, sourceMap: bundle.sourceMap }));
    renameSync(partial, file);
    // Bundles of code edited since are never read again: drop those older than a day.
    for (const name of readdirSync(BUNDLE_CACHE)) {
      const stale = path.join(BUNDLE_CACHE, name);
      if (Date.now() - statSync(stale).mtimeMs > 86_400_000) rmSync(stale, { force: true });
    }
    return bundle;
  }
}

function quietLogger() {
  const noop = () => undefined;
  return { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop } as never;
}

let runtimeInstalled = false;
/** Installs the Temporal runtime once per process, with SDK logs off (errors only). */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: quietLogger(), shutdownSignals: [] });
}

/** A unique suffix so tests never share ledgers, events or task queues. */
export function uniqueId(prefix = 't'): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

export function uniqueEmail(label = 'person'): string {
  return `${label}.${randomBytes(4).toString('hex')}@example.com`;
}

/** A real Temporal dev server (or the time-skipping server) and a real Listrak sandbox. */
export interface Harness {
  env: TestWorkflowEnvironment;
  sandbox: ListrakSandbox;
  sandboxUrls: { url: string; authUrl: string; apiUrl: string; privacyUrl: string };
  start(overrides?: Record<string, string | undefined>): Promise<Service>;
  close(): Promise<void>;
}

export async function createHarness({
  timeSkipping = false,
  seed = DEFAULT_SEED,
}: { timeSkipping?: boolean; seed?: SandboxSeed } = {}): Promise<Harness> {
  installQuietRuntime();
  const env = timeSkipping
    ? await TestWorkflowEnvironment.createTimeSkipping({
        server: { executable: { type: 'existing-path', path: temporalTestServerPath() } },
      })
    : await TestWorkflowEnvironment.createLocal({
        server: {
          executable: { type: 'existing-path', path: temporalCliPath() },
          searchAttributes: ALL_SEARCH_ATTRIBUTE_KEYS,
          extraArgs: ['--log-level', 'error'],
        },
      });
  const sandbox = new ListrakSandbox(structuredClone(seed));
  const sandboxUrls = await sandbox.listen(0);
  const services: Service[] = [];
  return {
    env,
    sandbox,
    sandboxUrls,
    async start(overrides = {}) {
      // The time-skipping server has no custom search attributes.
      const withServer = timeSkipping ? { TEMPORAL_SEARCH_ATTRIBUTES: 'false', ...overrides } : overrides;
      const service = await startService(env, sandboxUrls, withServer);
      services.push(service);
      return service;
    },
    async close() {
      for (const service of services) await service.close();
      await sandbox.close();
      await env.teardown();
    },
  };
}

// LOG_LEVEL of the test run (npm test sets warn): the service's logger in this process.
configureLogging(logSettingsFrom());

const checkAnswer = contractChecker();

/**
 * Every answer a test receives through the harness is checked against the API contract
 * (docs/openapi.json): an answer outside it fails the test that received it.
 */
async function withinContract(method: string, path: string, response: Response): Promise<{ status: number; body: any }> {
  const text = await response.text();
  const { problem } = checkAnswer({ method, path, status: response.status, contentType: response.headers.get('content-type') ?? '', text, requestId: response.headers.get('x-request-id') });
  if (problem) throw new Error(`answer outside the API contract (docs/openapi.json): ${problem}`);
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  return { status: response.status, body };
}

/** One worker + HTTP API with its own task queue and configuration. */
export interface Service {
  config: Readonly<Config>;
  /** The environment variables the service was configured from (for child processes such as the CLI). */
  env: Record<string, string>;
  listrakClient: ListrakClient;
  url: string;
  worker: Worker;
  /** POSTs events as Extole would, signed with the webhook secret. */
  post(body: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any; headers: Headers }>;
  request(path: string, init?: RequestInit & { admin?: boolean }): Promise<{ status: number; body: any }>;
  /** Stops the worker (the API keeps answering) and starts it again on demand. */
  close(): Promise<void>;
}

export function testEnv(
  sandboxUrls: { authUrl: string; apiUrl: string },
  overrides: Record<string, string | undefined> = {},
): Record<string, string | undefined> {
  return {
    NODE_ENV: 'test',
    TEMPORAL_TASK_QUEUE: uniqueId('queue-'),
    EXTOLE_WEBHOOK_SECRET: WEBHOOK_SECRET,
    ADMIN_TOKEN,
    EMAIL_HASH_KEY: 'test-email-hash-key-0123456789',
    LISTRAK_AUTH_URL: sandboxUrls.authUrl,
    LISTRAK_API_URL: sandboxUrls.apiUrl,
    LISTRAK_CLIENT_ID: 'sandbox-client',
    LISTRAK_CLIENT_SECRET: 'sandbox-secret',
    LISTRAK_LIST_ID: String(PRODUCTION_LIST),
    LISTRAK_STAGING_CLIENT_ID: 'sandbox-staging-client',
    LISTRAK_STAGING_CLIENT_SECRET: 'sandbox-staging-secret',
    LISTRAK_STAGING_LIST_ID: String(STAGING_LIST),
    LISTRAK_SEGMENTATION_FIELDS: 'first_name:101,last_name:102,phone_number:103,share_link:104,funnel:105',
    LISTRAK_OPT_IN_EVENT_IDS: '501',
    // Short, so a test of a slow Listrak does not wait the production 15 s.
    LISTRAK_TIMEOUT_MS: '5000',
    ...overrides,
  };
}

async function startService(
  env: TestWorkflowEnvironment,
  sandboxUrls: { authUrl: string; apiUrl: string },
  overrides: Record<string, string | undefined>,
): Promise<Service> {
  const serviceEnv = Object.fromEntries(
    Object.entries({ TEMPORAL_ADDRESS: env.address, ...testEnv(sandboxUrls, overrides) }).filter((entry): entry is [string, string] => entry[1] !== undefined),
  );
  const config = loadConfig(serviceEnv);
  const listrakClient = new ListrakClient(listrakClientOptionsFor(config));
  const worker = await createConsentWorker({
    config,
    connection: env.nativeConnection,
    listrakClient,
    workerOptions: { workflowBundle: await workflowBundle(config.temporal.payloadKeys !== undefined) },
    reconcileLedgers: (temporal) => createReconcileLedgers({ client: temporal, config }),
  });
  const running = worker.run();
  const client = config.temporal.payloadKeys
    ? new Client({ connection: env.connection, dataConverter: dataConverterFor(config.temporal.payloadKeys) })
    : env.client;
  const server = http.createServer(createServiceApp(config, client));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  let closed = false;
  return {
    config,
    env: serviceEnv,
    listrakClient,
    url,
    worker,
    async post(body, headers = {}) {
      const raw = typeof body === 'string' ? body : JSON.stringify(body);
      const response = await fetch(`${url}/webhooks/extole`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, raw),
          ...headers,
        },
        body: raw,
      });
      return { ...(await withinContract('POST', '/webhooks/extole', response)), headers: response.headers };
    },
    async request(path, { admin = true, ...init } = {}) {
      const headers = new Headers(init.headers);
      if (admin && !headers.has('authorization')) headers.set('authorization', `Bearer ${ADMIN_TOKEN}`);
      const response = await fetch(`${url}${path}`, { ...init, headers });
      return withinContract(init.method ?? 'GET', path, response);
    },
    async close() {
      if (closed) return;
      closed = true;
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    },
  };
}

/** Polls until `check` returns a value other than undefined/false, or fails after `timeoutMs`. */
export async function eventually<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
  what = 'condition',
  intervalMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** An Extole consent event in the documented shape. */
export function consentEvent(
  type: 'opt_in' | 'opt_out',
  email: string,
  eventTime: string | Date,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    event_id: uniqueId('evt-'),
    event_time: typeof eventTime === 'string' ? eventTime : eventTime.toISOString(),
    type,
    email,
    ...extra,
  };
}

const FINAL_OUTCOMES = new Set(['applied', 'awaiting_confirmation', 'superseded', 'duplicate', 'rejected', 'skipped', 'not_sent', 'failed', 'parked']);

/** Waits until the status endpoint shows the person's first change still applying, on attempt 2 or later. */
export async function waitForRetrying(service: Service, email: string, timeoutMs = 20_000): Promise<Record<string, any>> {
  return eventually(
    async () => {
      const { body } = await service.request(`/consents/${encodeURIComponent(email)}`);
      const change = body?.environments?.[0]?.changes?.[0];
      return change?.outcome === 'applying' && change.attempt >= 2 ? change : undefined;
    },
    timeoutMs,
    `the first change of ${email} to be retrying`,
  );
}

/** Waits (through the status endpoint) until the change has a final or parked outcome. */
export async function waitForOutcome(
  service: Service,
  email: string,
  eventId: string,
  { environment = 'production', timeoutMs = 30_000 }: { environment?: string; timeoutMs?: number } = {},
): Promise<Record<string, any>> {
  return eventually(
    async () => {
      const { status, body } = await service.request(`/consents/${encodeURIComponent(email)}`);
      if (status !== 200) return undefined;
      const view = (body.environments as any[]).find((entry) => entry.environment === environment);
      const change = (view?.changes as any[] | undefined)?.find((entry) => entry.eventId === eventId);
      return change && FINAL_OUTCOMES.has(change.outcome) ? change : undefined;
    },
    timeoutMs,
    `an outcome for ${eventId}`,
  );
}
