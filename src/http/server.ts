import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Client } from '@temporalio/client';
import type { Config } from '../config';
import { createTemporalIntake } from '../intake';
import { createOperations } from '../status';
import { checkReadiness } from '../temporal/readiness';
import { createApp } from './app';

/** The HTTP API wired to a Temporal client. */
export function createServiceApp(config: Readonly<Config>, client: Client) {
  return createApp({
    config,
    intake: createTemporalIntake({ client, config }),
    operations: createOperations({ client, config }),
    readiness: () => checkReadiness(client, config.temporal.taskQueue),
  });
}

/** Wires the HTTP API to a Temporal client and starts listening. */
export async function startHttpServer(
  config: Readonly<Config>,
  client: Client,
  port = config.port,
  host = '0.0.0.0',
): Promise<{ server: http.Server; url: string; close(): Promise<void> }> {
  const server = http.createServer(createServiceApp(config, client));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  const url = `http://${host === '0.0.0.0' ? 'localhost' : host}:${address.port}`;
  return {
    server,
    url,
    close: () =>
      new Promise<void>((resolve) => {
        // Let in-flight requests finish; idle keep-alive sockets are closed at once.
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
