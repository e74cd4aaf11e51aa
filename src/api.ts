// Production entry point: the HTTP API only (scale separately from workers).
import './env';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from './config';
import { startHttpServer } from './http/server';
import { logger } from './log';
import { exitOnConfigError } from './startup';
import { dataConverterFor } from './temporal/encryption';

async function main(): Promise<void> {
  const config = exitOnConfigError(loadConfig);
  // Lazy: the API starts (and answers 503) even while Temporal is unreachable.
  const connection = Connection.lazy({ address: config.temporal.address });
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config.temporal.payloadKeys),
  });
  const http = await startHttpServer(config, client);
  logger.info('api listening', { url: http.url, temporal: config.temporal.address, namespace: config.temporal.namespace });
  const shutdown = async () => {
    logger.info('api shutting down');
    await http.close();
    await connection.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}

main().catch((error: unknown) => {
  logger.error('api failed', { error: (error as Error).message });
  process.exit(1);
});
