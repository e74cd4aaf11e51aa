// Production entry point: the HTTP API only (scale separately from workers).
import { runService } from './lifecycle/run-service';
import { logger } from './observability/log';

runService('api', async ({ config, onStop, stop }) => {
  // Loaded now that tracing runs: its HTTP instrumentation patches http and express as they load.
  const { startHttpServer } = await import('./http/server.js');
  const { startCodecServer } = await import('./http/codec-server.js');
  const { observeParkedChanges, parkedChangesCounter } = await import('./observability/metrics.js');
  const { lazyClientConnection, temporalClient } = await import('./temporal/connection.js');
  const { EmailHashKeyMismatchError, ensureEmailHashKeyFingerprint } = await import('./temporal/email-hash-key.js');

  // No token, no codec server: outside npm start nothing else tells the UI's browser from anyone.
  const codecToken = config.codecServer?.token;
  if (config.codecServer && codecToken === undefined) {
    throw new Error('CODEC_SERVER_PORT is set without CODEC_SERVER_TOKEN: the codec server would decrypt for anyone who reaches it');
  }
  // Lazy: the API starts (and answers 503) even while Temporal is unreachable.
  const connection = lazyClientConnection(config);
  const client = temporalClient(config, connection);
  const http = await startHttpServer(config, client);
  onStop(() => connection.close());
  onStop(() => http.close(config.shutdownGraceMs));
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
      stop('email hash key mismatch', 2);
    });
  if (config.codecServer) {
    const codec = await startCodecServer(config, { token: codecToken });
    onStop(() => codec.close(1_000));
    logger.info({ url: codec.url }, 'codec server for the Temporal UI listening');
  }
});
