import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { setNamespaceRetention } from '../temporal/setup';

export interface DevServer {
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  cliPath: string;
  /** host:port for the gRPC frontend. */
  address: string;
  uiPort: number;
  dataDir: string;
  namespace: string;
  /** Retention of closed workflows in the namespace, set each start (TEMPORAL_RETENTION_DAYS). */
  retentionDays: number;
  startTimeoutMs?: number;
  /** Do not pass the server's own output through. */
  quiet?: boolean;
  /** A codec server the Web UI decodes payloads with (payload encryption on). */
  uiCodecEndpoint?: string;
}

/**
 * Server settings the embedded dev server starts with: the values of
 * deploy/temporal-dynamic-config.yaml, which docker-compose.yml gives its Temporal server (the
 * reasons are there; test/compose.test.ts checks the two agree).
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Readonly<Record<string, number>> = {
  'history.transferProcessorMaxPollRPS': 200,
};

/** Something already listens where the dev server would: most often a `temporal server start-dev` of one's own. */
export class DevServerPortTakenError extends Error {
  override name = 'DevServerPortTakenError';
}

/**
 * Refuses to start when the frontend or UI port is already taken: the dev server would fail to
 * bind, and a client would then talk to whatever holds the port (another Temporal, with its own
 * data) as if it were ours.
 */
export async function assertDevServerPortsFree({ address, uiPort }: { address: string; uiPort: number }): Promise<void> {
  const [host = '127.0.0.1', port = '7233'] = address.split(':');
  for (const [setting, value] of [['TEMPORAL_ADDRESS', Number(port)], ['TEMPORAL_UI_PORT', uiPort]] as const) {
    if (!(await portTaken(host, value))) continue;
    throw new DevServerPortTakenError(
      `port ${value} on ${host} (${setting}) is already in use, probably by a Temporal server you started yourself ` +
        `(temporal server start-dev). npm start starts its own dev server, with its data in DATA_DIR. Either set ` +
        `TEMPORAL_ADDRESS and TEMPORAL_UI_PORT to free ports, or set TEMPORAL_DEV_SERVER=external to use the server ` +
        `running at ${address} (its data, not DATA_DIR; its UI has no codec endpoint for encrypted payloads).`,
    );
  }
}

function portTaken(host: string, port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' ? resolve(true) : reject(error)));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(false)));
  });
}

/**
 * Starts `temporal server start-dev` with a database file under dataDir (state survives
 * restarts), waits until it answers and sets the namespace's retention (start-dev creates it
 * with one day, and `--namespace` has no retention flag).
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const [host = '127.0.0.1', port = '7233'] = options.address.split(':');
  await assertDevServerPortsFree(options);
  mkdirSync(options.dataDir, { recursive: true });
  const child = spawn(
    options.cliPath,
    [
      'server', 'start-dev',
      '--ip', host,
      '--port', port,
      '--ui-port', String(options.uiPort),
      '--db-filename', path.join(options.dataDir, 'temporal.db'),
      // Write-ahead log, synced at checkpoints: commits survive a crash of the server process
      // (kill -9 included) and cost no fsync each; only a crash of the machine itself can lose
      // the last moments. The default (a full sync per commit) caps this server near 100 writes/s.
      '--sqlite-pragma', 'journal_mode=wal',
      '--sqlite-pragma', 'synchronous=normal',
      '--namespace', options.namespace,
      '--log-level', 'warn',
      ...Object.entries(DEV_SERVER_DYNAMIC_CONFIG).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]),
      ...(options.uiCodecEndpoint ? ['--ui-codec-endpoint', options.uiCodecEndpoint] : []),
    ],
    { stdio: options.quiet ? 'ignore' : ['ignore', 'inherit', 'inherit'] },
  );
  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = `exited with ${signal ?? code}`;
      resolve();
    });
  });
  const stop = async () => {
    if (exited === undefined) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exit;
      clearTimeout(killer);
    }
  };
  await untilServing({
    address: options.address,
    timeoutMs: options.startTimeoutMs ?? 60_000,
    pauseMs: 250,
    exited: () => (exited === undefined ? undefined : `temporal server start-dev ${exited} before it answered (its output is above; port ${port} or ${options.uiPort} taken?)`),
    ready: async (connection) => {
      await connection.workflowService.getSystemInfo({});
      await setNamespaceRetention(connection, options.namespace, options.retentionDays);
    },
    onTimeout: stop,
    what: `temporal dev server did not answer on ${options.address}`,
  });
  // Whatever answered, if our server has died meanwhile it was not ours.
  if (exited !== undefined) throw new Error(`temporal server start-dev ${exited} while it started (port ${port} or ${options.uiPort} taken?)`);
  return { process: child, stop };
}

/**
 * Connects to a Temporal server that is starting until `ready` succeeds on a connection, every
 * `pauseMs`. Fails at once when `exited` says the server process is gone, and after `timeoutMs`
 * (running `onTimeout` first) with `what` and the last error.
 */
export async function untilServing(options: {
  address: string;
  timeoutMs: number;
  pauseMs: number;
  exited: () => string | undefined;
  ready: (connection: Connection) => Promise<void>;
  onTimeout: () => Promise<void>;
  what: string;
}): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    const gone = options.exited();
    if (gone !== undefined) throw new Error(gone);
    try {
      const connection = await Connection.connect({ address: options.address, connectTimeout: 1_000 });
      try {
        await options.ready(connection);
      } finally {
        await connection.close();
      }
      return;
    } catch (error) {
      if (Date.now() > deadline) {
        await options.onTimeout();
        throw new Error(`${options.what}: ${(error as Error).message}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
  }
}
