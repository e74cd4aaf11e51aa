// Production entry point: one worker process (run several for more throughput).
import './env';
import { Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from './config';
import { logger } from './log';
import { exitOnConfigError } from './startup';
import { ensureSearchAttributes } from './temporal/setup';
import { createConsentWorker } from './temporal/worker';

async function main(): Promise<void> {
  const config = exitOnConfigError(loadConfig);
  if (config.temporal.searchAttributes) {
    const admin = await Connection.connect({ address: config.temporal.address });
    await ensureSearchAttributes(admin, config.temporal.namespace);
    await admin.close();
  }
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  const worker = await createConsentWorker({ config, connection });
  logger.info('worker polling', {
    taskQueue: config.temporal.taskQueue,
    temporal: config.temporal.address,
    listrak: config.listrak.apiUrl,
  });
  // The SDK runtime stops the worker on SIGINT/SIGTERM: in-flight activities get to finish.
  await worker.run();
  await connection.close();
  logger.info('worker stopped');
}

main().catch((error: unknown) => {
  logger.error('worker failed', { error: (error as Error).message });
  process.exit(1);
});
