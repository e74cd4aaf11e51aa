// Production entry point: the HTTP API only (scale separately from workers).
import './config/dotenv';
// Before express and http load: the HTTP instrumentation patches them.
import { tracing } from './observability/tracing';
import { loadConfig } from './config/config';
import { startHttpServer, type RunningServer } from './http/server';
import { logger } from './observability/log';
import { observeParkedChanges, parkedChangesCounter } from './observability/metrics';
import { exitOnConfigError } from './config/startup';
import { startCodecServer } from './temporal/codec-server';
import { lazyClientConnection, temporalClient } from './temporal/connection';
import { EmailHashKeyMismatchError, ensureEmailHashKeyFingerprint } from './temporal/email-hash-key';

async function main(): Promise<void> {
  const config = exitOnConfigError(loadConfig);
  // No token, no codec server: outside npm start nothing else tells the UI's browser from anyone.
  const codecToken = config.codecServer?.token;
  if (config.codecServer && codecToken === undefined) {
    throw new Error('CODEC_SERVER_PORT is set without CODEC_SERVER_TOKEN: the codec server would decrypt for anyone who reaches it');
  }
  // Lazy: the API starts (and answers 503) even while Temporal is unreachable.
  const connection = lazyClientConnection(config);
  const client = temporalClient(config, connection);
  const http = await startHttpServer(config, client);
  // consent_changes_parked on /metrics, from Temporal visibility (docs/operations.md).
  observeParkedChanges(parkedChangesCounter(client), {
    onError: (error) => logger.warn({ error: error.message }, 'could not count parked changes'),
  });
  logger.info({ url: http.url, temporal: config.temporal.address, namespace: config.temporal.namespace }, 'api listening');
  // Refuse to run against a namespace recorded with another EMAIL_HASH_KEY. With Temporal away the
  // check waits for the first webhook, which makes it before writing.
  connection
    .withDeadline(Date.now() + 10_000, () => ensureEmailHashKeyFingerprint(client, config))
    .catch((error: unknown) => {
      if (!(error instanceof EmailHashKeyMismatchError)) return;
      logger.error({ error: error.message }, 'api refused to run');
      process.exit(2);
    });
  let codec: RunningServer | undefined;
  if (config.codecServer) {
    codec = await startCodecServer(config, { token: codecToken });
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
