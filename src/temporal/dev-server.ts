import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { setNamespaceRetention } from './setup';

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

/**
 * Starts `temporal server start-dev` with a database file under dataDir (state survives
 * restarts), waits until it answers and sets the namespace's retention (start-dev creates it
 * with one day, and `--namespace` has no retention flag).
 */
export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const [host = '127.0.0.1', port = '7233'] = options.address.split(':');
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
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== undefined) throw new Error(`temporal server start-dev ${exited} (is port ${port} or ${options.uiPort} in use?)`);
    try {
      const connection = await Connection.connect({ address: options.address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        await setNamespaceRetention(connection, options.namespace, options.retentionDays);
      } finally {
        await connection.close();
      }
      return { process: child, stop };
    } catch (error) {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`temporal dev server did not answer on ${options.address}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }
}
