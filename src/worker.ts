// Production entry point: one worker process (run several for more throughput).
import './config/dotenv';
// Before express and http load: the HTTP instrumentation patches them.
import { tracing } from './observability/tracing';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Client } from '@temporalio/client';
import express from 'express';
import { loadConfig } from './config/config';
import { logger } from './observability/log';
import { metricsHandler } from './observability/metrics';
import { exitOnConfigError } from './config/startup';
import { connectClient, connectWorker } from './temporal/connection';
import { ensureEmailHashKeyFingerprint } from './temporal/email-hash-key';
import { freeLocalPort } from './observability/local-port';
import { installRuntime } from './temporal/runtime';
import { ensureSearchAttributes } from './temporal/setup';
import { createConsentWorker } from './temporal/consent-worker';

async function main(): Promise<void> {
  const config = exitOnConfigError(loadConfig);
  const sdkMetricsBind = `127.0.0.1:${await freeLocalPort()}`;
  // The runtime stops the worker on SIGINT/SIGTERM: running activities get SHUTDOWN_GRACE_SECONDS.
  installRuntime({ sdkMetricsBind, handleSignals: true });
  if (config.temporal.searchAttributes) {
    const admin = await connectClient(config);
    await ensureSearchAttributes(admin, config.temporal.namespace);
    await admin.close();
  }
  const connection = await connectWorker(config);
  await ensureEmailHashKeyFingerprint(new Client({ connection, namespace: config.temporal.namespace }), config);
  const worker = await createConsentWorker({ config, connection });

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

  logger.info(
    {
      taskQueue: config.temporal.taskQueue,
      temporal: config.temporal.address,
      listrak: config.listrak.apiUrl,
      metricsPort: (metricsServer.address() as AddressInfo).port,
    },
    'worker polling',
  );
  await worker.run();
  logger.info('worker stopped: in-flight tasks finished or handed back');
  metricsServer.close();
  await connection.close();
  await tracing?.shutdown().catch(() => undefined);
  process.exit(0);
}

main().catch((error: unknown) => {
  logger.error({ error: (error as Error).message }, 'worker failed');
  process.exit(1);
});
