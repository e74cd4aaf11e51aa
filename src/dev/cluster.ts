import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { inheritedVariables, reliabilityScale } from '../config/environment';
import { Client, Connection } from '@temporalio/client';
import { build } from '../../scripts/build';
import { loadConfig, type Config } from '../config/config';
import { freeLocalPort } from '../observability/local-port';
import { signExtolePayload } from '../http/webhook-auth';
import { ledgerKeyFor } from '../consent/intake';
import { DEFAULT_SEED, ListrakSandbox } from './listrak-sandbox/sandbox';
import { ledgerWorkflowId, supersedes, type ConsentType, type LedgerState } from '../shared';
import { PROJECT_ROOT } from './paths';
import { temporalCliPath } from './temporal-binaries';
import { startDevServer, type DevServer } from './dev-server';
import { dataConverterFor } from '../temporal/encryption';
import { ensureSearchAttributes } from '../temporal/setup';

/**
 * The service as separate processes on 127.0.0.1, so tests can kill -9 any of them: a Temporal
 * dev server on a database file, worker and API processes (`src/worker.ts`, `src/api.ts`), and
 * the Listrak sandbox in the test process.
 */

export const SCALE = reliabilityScale();
// Production's secrets policy: at least 32 characters each, and not the same.
export const WEBHOOK_SECRET = 'reliability-webhook-secret-0123456789';
export const ADMIN_TOKEN = 'reliability-admin-token-0123456789abcdef';
export const CLIENT_SECRET = 'sandbox-secret';

export const freePort = freeLocalPort;

/**
 * `npm run build` into a temporary folder laid out like the Docker image's /app: package.json,
 * node_modules (a link to this checkout's) and dist/. Pass `dist` to a Cluster to run it.
 */
export async function compiledApp(): Promise<{ dist: string; remove(): void }> {
  const root = mkdtempSync(path.join(os.tmpdir(), 'consent-build-'));
  copyFileSync(path.join(PROJECT_ROOT, 'package.json'), path.join(root, 'package.json'));
  symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(root, 'node_modules'), 'dir');
  const dist = await build(path.join(root, 'dist'));
  return { dist, remove: () => rmSync(root, { recursive: true, force: true }) };
}

export interface ConsentEventSpec {
  event_id: string;
  event_time: string;
  type: ConsentType;
  email: string;
}

/** Random changes over `emails` people, with event times inside one day and some ties. */
export function randomChanges(count: number, emails: number, random: () => number = Math.random): ConsentEventSpec[] {
  const run = randomBytes(3).toString('hex');
  const people = Array.from({ length: emails }, (_, index) => `person${index}.${run}@example.com`);
  const base = Date.now() - 86_400_000;
  return Array.from({ length: count }, (_, index) => ({
    event_id: `r${run}-${index}`,
    // Whole minutes over a day: ties happen.
    event_time: new Date(base + Math.floor(random() * 1440) * 60_000).toISOString(),
    type: random() < 0.5 ? 'opt_in' : 'opt_out',
    email: people[index % emails]!,
  }));
}

/** Per email, the change that must hold at the end: newest event time, opt-out on ties. */
export function expectedFinal(events: ConsentEventSpec[]): Map<string, ConsentEventSpec> {
  const winners = new Map<string, ConsentEventSpec>();
  for (const event of events) {
    const current = winners.get(event.email);
    const candidate = { eventTimeMs: Date.parse(event.event_time), type: event.type };
    if (!current || supersedes(candidate, { eventTimeMs: Date.parse(current.event_time), type: current.type })) winners.set(event.email, event);
  }
  return winners;
}

export interface SendReport {
  accepted: Map<string, number>;
  answers: Record<string, number>;
  attempts: number;
}

/**
 * Sends events one per request as Extole does: signed, and retried until answered 200 (Extole
 * retries any other answer). Bounded by `deadlineMs`.
 */
export async function sendLikeExtole(
  apiUrl: () => string,
  events: ConsentEventSpec[],
  { concurrency = 16, deadlineMs = 120_000, report }: { concurrency?: number; deadlineMs?: number; report?: SendReport } = {},
): Promise<SendReport> {
  const result = report ?? { accepted: new Map<string, number>(), answers: {}, attempts: 0 };
  const deadline = Date.now() + deadlineMs;
  let next = 0;
  const lane = async () => {
    while (next < events.length) {
      const event = events[next++]!;
      const body = JSON.stringify(event);
      for (let retry = 0; ; retry++) {
        if (Date.now() > deadline) throw new Error(`sender deadline passed with ${event.event_id} not accepted`);
        result.attempts++;
        let status = 'network error';
        try {
          const response = await fetch(`${apiUrl()}/webhooks/extole`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, body) },
            body,
            signal: AbortSignal.timeout(10_000),
          });
          status = String(response.status);
          await response.arrayBuffer();
        } catch {
          // connection refused or reset: the API is down
        }
        result.answers[status] = (result.answers[status] ?? 0) + 1;
        if (status === '200') {
          result.accepted.set(event.event_id, Date.now());
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(1_000, 100 * 2 ** retry)));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return result;
}

export interface ManagedProcess {
  child: ChildProcess;
  exited: Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export class Cluster {
  readonly dir = mkdtempSync(path.join(os.tmpdir(), 'consent-reliability-'));
  readonly logFiles: string[] = [];
  readonly sandbox = new ListrakSandbox(structuredClone(DEFAULT_SEED));
  readonly payloadKey = `k1:${randomBytes(32).toString('base64')}`;
  server: DevServer | undefined;
  workers: ManagedProcess[] = [];
  api: ManagedProcess | undefined;
  /** Extra API processes (benchmarks scale the API too). */
  readonly extraApis: { process: ManagedProcess; url: string }[] = [];
  client!: Client;
  config!: Readonly<Config>;
  env: Record<string, string> = {};
  private connection: Connection | undefined;
  private temporalPort = 0;
  private apiPort = 0;

  /**
   * `startTemporal` replaces the dev server (the topology test runs a Temporal server on
   * PostgreSQL); it is called again after killServer, on the same frontend port. With
   * `compiledDir` (the output of `npm run build`), the API and worker processes run the compiled
   * JavaScript as the Docker image does, instead of the TypeScript through tsx.
   */
  constructor(
    private readonly extraEnv: Record<string, string> = {},
    private readonly startTemporal?: (address: string, dir: string) => Promise<DevServer>,
    private readonly compiledDir?: string,
  ) {}

  get apiUrl(): string {
    return `http://127.0.0.1:${this.apiPort}`;
  }

  async start({ workers = 1, sandboxPort = 0 }: { workers?: number; sandboxPort?: number } = {}): Promise<void> {
    mkdirSync(path.join(this.dir, 'logs'), { recursive: true });
    const urls = await this.sandbox.listen(sandboxPort);
    this.temporalPort = await freePort();
    this.apiPort = await freePort();
    this.env = {
      ...inheritedVariables(['PATH', 'HOME']),
      NODE_ENV: 'production',
      LOG_LEVEL: 'info',
      PORT: String(this.apiPort),
      TEMPORAL_ADDRESS: `127.0.0.1:${this.temporalPort}`,
      TEMPORAL_TASK_QUEUE: 'reliability',
      TEMPORAL_PAYLOAD_KEY: this.payloadKey,
      EXTOLE_WEBHOOK_SECRET: WEBHOOK_SECRET,
      ADMIN_TOKEN,
      EMAIL_HASH_KEY: 'reliability-email-hash-key',
      LISTRAK_AUTH_URL: urls.authUrl,
      LISTRAK_API_URL: urls.apiUrl,
      LISTRAK_CLIENT_ID: 'sandbox-client',
      LISTRAK_CLIENT_SECRET: CLIENT_SECRET,
      LISTRAK_LIST_ID: '1001',
      LISTRAK_OPT_IN_EVENT_IDS: '501',
      LISTRAK_TIMEOUT_MS: '5000',
      // Several workers share this machine: each takes any free port for its /metrics.
      WORKER_METRICS_PORT: '0',
      ...this.extraEnv,
    };
    this.config = loadConfig(this.env);
    await this.startServer();
    // Started side by side: each takes a few seconds to load its workflow bundle and poll.
    await Promise.all([...Array.from({ length: workers }, () => this.startWorker()), this.startApi()]);
  }

  async startServer(): Promise<void> {
    const address = `127.0.0.1:${this.temporalPort}`;
    this.server = this.startTemporal
      ? await this.startTemporal(address, this.dir)
      : await startDevServer({
          cliPath: temporalCliPath(),
          address,
          uiPort: await freePort(),
          dataDir: this.dir,
          namespace: 'default',
          retentionDays: this.config.temporal.retentionDays,
          quiet: true,
        });
    if (!this.connection) {
      this.connection = await Connection.connect({ address: `127.0.0.1:${this.temporalPort}` });
      this.client = new Client({ connection: this.connection, dataConverter: dataConverterFor(this.config.temporal.payloadKeys) });
      await ensureSearchAttributes(this.connection, 'default');
    }
  }

  /** kill -9 the Temporal server: its database file stays. */
  async killServer(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    server.process.kill('SIGKILL');
    await new Promise((resolve) => server.process.once('exit', resolve));
  }

  private spawnNode(name: string, entry: string, env: Record<string, string> = {}): ManagedProcess {
    const log = path.join(this.dir, 'logs', `${name}-${this.logFiles.length}.log`);
    this.logFiles.push(log);
    const out = createWriteStream(log);
    const command = this.compiledDir ? [path.join(this.compiledDir, entry.replace(/\.ts$/, '.js'))] : ['--import', 'tsx', entry];
    const child = spawn(process.execPath, command, { cwd: PROJECT_ROOT, env: { ...this.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(out);
    child.stderr?.pipe(out);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    return {
      child,
      exited,
      async kill(signal: NodeJS.Signals = 'SIGKILL') {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        await exited;
      },
    };
  }

  /** Starts a worker process and waits until it polls. */
  async startWorker(env: Record<string, string> = {}): Promise<ManagedProcess> {
    // Info level: start-up waits for the worker's "worker polling" line.
    // The heap cap of docker-compose.yml's workers (see there), unless the cluster sets its own.
    const nodeOptions = this.extraEnv.NODE_OPTIONS ?? '--max-old-space-size=256 --max-semi-space-size=8';
    const worker = this.spawnNode('worker', 'src/worker.ts', { LOG_LEVEL: 'info', NODE_OPTIONS: nodeOptions, ...env });
    const log = this.logFiles.at(-1)!;
    this.workers.push(worker);
    await this.waitFor(() => readFileSync(log, 'utf8').includes('worker polling'), 60_000, 'the worker to poll');
    return worker;
  }

  async killWorker(worker: ManagedProcess): Promise<void> {
    await worker.kill('SIGKILL');
    this.workers = this.workers.filter((candidate) => candidate !== worker);
  }

  async startApi(): Promise<void> {
    this.api = this.spawnNode('api', 'src/api.ts');
    await this.waitFor(async () => (await fetch(`${this.apiUrl}/healthz`).catch(() => undefined))?.status === 200, 60_000, 'the API');
  }

  /** Starts another API process on its own port; returns its URL. */
  async startExtraApi(): Promise<string> {
    const port = await freePort();
    const process = this.spawnNode('api', 'src/api.ts', { PORT: String(port) });
    const url = `http://127.0.0.1:${port}`;
    await this.waitFor(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.status === 200, 60_000, 'the extra API');
    this.extraApis.push({ process, url });
    return url;
  }

  /** Process ids of the API processes. */
  apiPids(): number[] {
    return [this.api?.child.pid, ...this.extraApis.map((api) => api.process.child.pid)].filter((pid): pid is number => pid !== undefined);
  }

  /** Process ids of the Temporal server and the workers, for resource figures. */
  pids(): { server?: number; workers: number[] } {
    return {
      ...(this.server?.process.pid ? { server: this.server.process.pid } : {}),
      workers: this.workers.map((worker) => worker.child.pid).filter((pid): pid is number => pid !== undefined),
    };
  }

  async killApi(): Promise<void> {
    await this.api?.kill('SIGKILL');
    this.api = undefined;
  }

  async waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await Promise.resolve().then(check).catch(() => false))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  async ledger(email: string): Promise<LedgerState | undefined> {
    const id = ledgerWorkflowId(ledgerKeyFor(this.config, 'production', email));
    try {
      return await this.client.workflow.getHandle(id).query<LedgerState>('ledgerState');
    } catch {
      return undefined;
    }
  }

  /**
   * Waits until every accepted event is settled in its ledger, then compares Listrak (the sandbox)
   * with the expected final state. Returns the figures.
   */
  async verify(events: ConsentEventSpec[], accepted: Map<string, number>, timeoutMs = 300_000) {
    const byEmail = new Map<string, ConsentEventSpec[]>();
    for (const event of events) byEmail.set(event.email, [...(byEmail.get(event.email) ?? []), event]);
    const settled = new Map<string, LedgerState>();
    const deadline = Date.now() + timeoutMs;
    while (settled.size < byEmail.size && Date.now() < deadline) {
      await Promise.all(
        [...byEmail.entries()].filter(([email]) => !settled.has(email)).map(async ([email, list]) => {
          const state = await this.ledger(email);
          if (!state || state.pendingEventId || state.runningEventId) return;
          const outcomes = new Map(state.changes.map((record) => [record.eventId, record.outcome]));
          if (list.every((event) => !accepted.has(event.event_id) || (outcomes.has(event.event_id) && outcomes.get(event.event_id) !== 'pending'))) {
            settled.set(email, state);
          }
        }),
      );
      if (settled.size < byEmail.size) await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const expected = expectedFinal(events.filter((event) => accepted.has(event.event_id)));
    let lost = 0;
    let wrongFinalState = 0;
    let applied = 0;
    let extraWrites = 0;
    for (const [email, list] of byEmail) {
      const state = settled.get(email);
      const recorded = new Set(state?.changes.map((record) => record.eventId) ?? []);
      lost += list.filter((event) => accepted.has(event.event_id) && !recorded.has(event.event_id)).length;
      const winner = expected.get(email);
      const subscribed = this.sandbox.contact(1001, email)?.subscriptionState === 'Subscribed';
      if (winner && subscribed !== (winner.type === 'opt_in')) wrongFinalState++;
      const appliedHere = state?.changes.filter((record) => record.outcome === 'applied').length ?? 0;
      applied += appliedHere;
      const writes = this.sandbox.requestsFor('upsert', email).filter((entry) => entry.status !== 0 && entry.status < 500 && entry.status !== 429 && entry.status !== 401).length;
      extraWrites += Math.max(0, writes - appliedHere);
    }
    return {
      changesSent: events.length,
      changesAccepted: accepted.size,
      emails: byEmail.size,
      emailsSettled: settled.size,
      changesLost: lost,
      emailsInWrongFinalState: wrongFinalState,
      changesApplied: applied,
      writesBeyondOnePerAppliedChange: extraWrites,
    };
  }

  async close(): Promise<void> {
    await this.api?.kill('SIGTERM');
    for (const api of this.extraApis) await api.process.kill('SIGTERM');
    for (const worker of this.workers) await worker.kill('SIGTERM');
    await this.connection?.close().catch(() => undefined);
    await this.server?.stop();
    await this.sandbox.close();
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
