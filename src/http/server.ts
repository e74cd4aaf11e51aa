import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type express from 'express';
import type { Config } from '../config/config';
import { createAuditTrail } from '../consent/export';
import { createForgetter } from '../consent/forget';
import { createTemporalIntake } from '../consent/intake';
import { privacyApiFor } from '../listrak/privacy-api';
import { logger } from '../observability/log';
import { createReconcileOverview } from '../consent/reconcile';
import { createOperations } from '../consent/status';
import { checkReadiness } from '../temporal/readiness';
import { createApp } from './app';

/** The HTTP API wired to a Temporal client. */
export function createServiceApp(config: Readonly<Config>, client: Client, { sdkMetricsUrl }: { sdkMetricsUrl?: string | undefined } = {}) {
  const operations = createOperations({ client, config });
  return createApp({
    config,
    intake: createTemporalIntake({ client, config }),
    operations,
    audit: createAuditTrail({ client, config, operations, deadlineMs: 5_000 }),
    reconciliation: createReconcileOverview({ client, config }),
    forgetter: createForgetter({ client, config, privacy: privacyApiFor(config) }),
    readiness: () => checkReadiness(client, config.temporal.taskQueue),
    sdkMetricsUrl,
  });
}

export interface RunningServer {
  server: http.Server;
  url: string;
  /**
   * Stops taking connections and lets requests in flight finish (a webhook being recorded is
   * answered), for at most `graceMs`; then closes what is left.
   */
  close(graceMs?: number): Promise<void>;
}

/** How long a client may take to send a request, so slow or stalled clients cannot hold sockets. */
export interface ServerTimeouts {
  /** Until the last header line arrived (Node's `headersTimeout`). */
  headersMs: number;
  /** Until the whole request, body included, arrived (Node's `requestTimeout`). */
  requestMs: number;
  /** How often Node checks the two above; its own default, 30 s, would let a timeout run 30 s late. */
  checkEveryMs: number;
}

export const DEFAULT_SERVER_TIMEOUTS: Readonly<ServerTimeouts> = Object.freeze({ headersMs: 10_000, requestMs: 30_000, checkEveryMs: 1_000 });

/** Listens with an Express app; the returned close() drains in-flight requests. A slow client is answered 408. */
export async function listen(
  app: express.Express,
  port: number,
  host = '0.0.0.0',
  { timeouts = DEFAULT_SERVER_TIMEOUTS }: { timeouts?: Readonly<ServerTimeouts> } = {},
): Promise<RunningServer> {
  const server = http.createServer(
    {
      headersTimeout: timeouts.headersMs,
      requestTimeout: timeouts.requestMs,
      connectionsCheckingInterval: timeouts.checkEveryMs,
    } satisfies http.ServerOptions,
    app,
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  const url = `http://${host === '0.0.0.0' ? 'localhost' : host}:${address.port}`;
  return {
    server,
    url,
    close: (graceMs = 30_000) =>
      new Promise<void>((resolve) => {
        const forced = setTimeout(() => {
          logger.warn({ graceMs }, 'requests still running at the end of the shutdown grace period: closing them');
          server.closeAllConnections();
        }, graceMs);
        forced.unref();
        server.close(() => {
          clearTimeout(forced);
          resolve();
        });
        // Idle keep-alive sockets close at once; busy ones close after their response.
        server.closeIdleConnections();
      }),
  };
}

/** Wires the HTTP API to a Temporal client and starts listening. */
export function startHttpServer(
  config: Readonly<Config>,
  client: Client,
  { port = config.port, host = '0.0.0.0', sdkMetricsUrl }: { port?: number; host?: string; sdkMetricsUrl?: string } = {},
): Promise<RunningServer> {
  return listen(createServiceApp(config, client, { sdkMetricsUrl }), port, host);
}
