// Production entry point: the HTTP API only (scale separately from workers).
import './env';
// Before express and http load: the HTTP instrumentation patches them.
import { tracing } from './tracing';
import { loadConfig } from './config';
import { startHttpServer, type RunningServer } from './http/server';
import { logger } from './log';
import { exitOnConfigError } from './startup';
import { startCodecServer } from './temporal/codec-server';
import { lazyClientConnection, temporalClient } from './temporal/connection';

async function main(): Promise<void> {
  const config = exitOnConfigError(loadConfig);
  // Lazy: the API starts (and answers 503) even while Temporal is unreachable.
  const connection = lazyClientConnection(config);
  const client = temporalClient(config, connection);
  const http = await startHttpServer(config, client);
  logger.info({ url: http.url, temporal: config.temporal.address, namespace: config.temporal.namespace }, 'api listening');
  let codec: RunningServer | undefined;
  if (config.codecServer) {
    codec = await startCodecServer(config);
    logger.info({ url: codec.url }, 'codec server for the Temporal UI listening');
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, 'api stopping: no new connections; finishing requests in flight');
    await Promise.all([http.close(config.shutdownGraceMs), codec?.close(1_000)]);
    await connection.close();
    await tracing?.shutdown().catch(() => undefined);
    logger.info('api stopped');
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

main().catch((error: unknown) => {
  logger.error({ error: (error as Error).message }, 'api failed');
  process.exit(1);
});
