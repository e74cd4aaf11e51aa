// Production entry point: one worker process (run several for more throughput).
import type { AddressInfo } from 'node:net';
import { runService } from './lifecycle/run-service';
import { logger } from './observability/log';

runService('worker', async ({ config, onStop, stop }) => {
  // Loaded now that tracing runs: its HTTP instrumentation patches http and express as they load.
  const http = await import('node:http');
  const { default: express } = await import('express');
  const { Client } = await import('@temporalio/client');
  const { metricsHandler } = await import('./http/metrics-route.js');
  const { freeLocalPort } = await import('./observability/local-port.js');
  const { connectClient, connectWorker } = await import('./temporal/connection.js');
  const { createConsentWorker } = await import('./temporal/consent-worker.js');
  const { ensureEmailHashKeyFingerprint } = await import('./temporal/email-hash-key.js');
  const { dataConverterFor } = await import('./temporal/encryption.js');
  const { installRuntime } = await import('./temporal/runtime.js');
  const { ensureSearchAttributes } = await import('./temporal/setup.js');
  const { createReconcileLedgers, installReconcileSchedules } = await import('./consent/reconcile.js');

  const sdkMetricsBind = `127.0.0.1:${await freeLocalPort()}`;
  // runService handles SIGINT/SIGTERM: its stop step below shuts the worker down, and running
  // activities get SHUTDOWN_GRACE_SECONDS (the worker's shutdownGraceTime).
  installRuntime({ sdkMetricsBind, handleSignals: false });
  if (config.temporal.searchAttributes) {
    const admin = await connectClient(config);
    await ensureSearchAttributes(admin, config.temporal.namespace);
    await admin.close();
  }
  const connection = await connectWorker(config);
  onStop(() => connection.close());
  // With TEMPORAL_PAYLOAD_KEY, the Schedules' workflow arguments are stored encrypted like every other payload.
  const temporal = new Client({ connection, namespace: config.temporal.namespace, dataConverter: dataConverterFor(config.temporal.payloadKeys) });
  await ensureEmailHashKeyFingerprint(temporal, config);
  const worker = await createConsentWorker({ config, connection, reconcileLedgers: (client) => createReconcileLedgers({ client, config }) });
  // Idempotent: every worker brings the reconciliation Schedules to RECONCILE_INTERVAL/_FULL_INTERVAL/_MODE.
  // Not awaited: consent changes never wait for (or fail with) an optional sweep's Schedule.
  installReconcileSchedules(temporal, config).then(
    (schedules) => logger.info({ schedules }, 'reconciliation schedules installed'),
    (error: unknown) => logger.error({ error: (error as Error).message }, 'could not install the reconciliation Schedules: consent changes are processed as usual; reconciliation waits for the next start or `npm run consent -- reconcile`'),
  );

  // Prometheus scrapes each worker here: the service's metrics, then the Temporal SDK's.
  const app = express();
  app.get('/metrics', metricsHandler({ token: config.metrics.token, sdkMetricsUrl: `http://${sdkMetricsBind}/metrics` }));
  app.get('/healthz', (_req, res) => {
    const state = worker.getState();
    res.status(state === 'RUNNING' ? 200 : 503).json({ status: state === 'RUNNING' ? 'ok' : state.toLowerCase() });
  });
  const metricsServer = http.createServer(app);
  await new Promise<void>((resolve, reject) => {
    metricsServer.once('error', reject);
    metricsServer.listen(config.metrics.workerPort, '0.0.0.0', resolve);
  });
  onStop(() => new Promise((resolve) => metricsServer.close(resolve)));

  const running = worker.run();
  onStop(async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    logger.info('worker: in-flight tasks finished or handed back');
  });
  running.then(
    () => stop('the worker stopped polling'),
    (error: unknown) => {
      logger.error({ error: (error as Error).message }, 'worker failed');
      stop('worker failure', 1);
    },
  );
  logger.info(
    {
      taskQueue: config.temporal.taskQueue,
      temporal: config.temporal.address,
      listrak: config.listrak.apiUrl,
      metricsPort: (metricsServer.address() as AddressInfo).port,
    },
    'worker polling',
  );
});
