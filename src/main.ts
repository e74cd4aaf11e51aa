// `npm start`: everything in one process tree for a laptop or a demo: the Temporal dev server
// (state in DATA_DIR), the worker, the HTTP API and, without Listrak credentials, the sandbox.
import './env';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { loadConfig } from './config';
import { startHttpServer } from './http/server';
import { DEFAULT_SEED, ListrakSandbox } from './listrak-sandbox/sandbox';
import { ListrakClient } from './listrak/client';
import { checkListrak, formatReport } from './listrak/check';
import { logger } from './log';
import { exitOnConfigError } from './startup';
import { temporalCliPath } from './temporal/cli';
import { startDevServer, type DevServer } from './temporal/dev-server';
import { dataConverterFor } from './temporal/encryption';
import { ensureSearchAttributes } from './temporal/setup';
import { createConsentWorker } from './temporal/worker';

async function main(): Promise<void> {
  let config = exitOnConfigError(loadConfig);
  const cleanups: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info(`${signal}: stopping`);
    void stopAll().then(() => process.exit(0));
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  // We stop the worker ourselves, in order, instead of the SDK runtime's own signal handlers.
  Runtime.install({ shutdownSignals: [] });

  try {
    let listrakLabel = `Listrak at ${config.listrak.apiUrl}`;
    if (!config.listrak.targets.production) {
      const sandbox = new ListrakSandbox(DEFAULT_SEED);
      const urls = await sandbox.listen(config.sandboxPort);
      cleanups.push(() => sandbox.close());
      const [production, staging] = DEFAULT_SEED.clients;
      const [productionList, stagingList] = DEFAULT_SEED.lists;
      Object.assign(process.env, {
        LISTRAK_AUTH_URL: urls.authUrl,
        LISTRAK_API_URL: urls.apiUrl,
        LISTRAK_CLIENT_ID: production?.clientId,
        LISTRAK_CLIENT_SECRET: production?.clientSecret,
        LISTRAK_LIST_ID: String(productionList?.listId),
        LISTRAK_STAGING_CLIENT_ID: staging?.clientId,
        LISTRAK_STAGING_CLIENT_SECRET: staging?.clientSecret,
        LISTRAK_STAGING_LIST_ID: String(stagingList?.listId),
        LISTRAK_SEGMENTATION_FIELDS:
          process.env.LISTRAK_SEGMENTATION_FIELDS || 'first_name:101,last_name:102,phone_number:103,share_link:104,funnel:105',
        LISTRAK_OPT_IN_EVENT_IDS: process.env.LISTRAK_OPT_IN_EVENT_IDS || '501',
      });
      config = loadConfig();
      listrakLabel = `the local Listrak sandbox at ${urls.url} (no LISTRAK_CLIENT_ID set; state: ${urls.url}/_sandbox/state)`;
    }

    // The same check as `npm run check-listrak`: a warning in development, fatal in production.
    const report = await checkListrak(new ListrakClient({ authUrl: config.listrak.authUrl, apiUrl: config.listrak.apiUrl, timeoutMs: 10_000 }), config);
    const checkText = formatReport(report, config.listrak.apiUrl);
    if (report.ok) logger.info('Listrak check passed', { report: checkText });
    else if (config.nodeEnv === 'production') throw new Error(checkText);
    else logger.warn('Listrak check found problems (changes will park until they are fixed)', { report: checkText });

    const cliPath = config.temporal.cliPath ?? temporalCliPath();
    const devServer: DevServer = await startDevServer({
      cliPath,
      address: config.temporal.address,
      uiPort: config.temporal.uiPort,
      dataDir: config.dataDir,
      namespace: config.temporal.namespace,
    });
    cleanups.push(() => devServer.stop());

    const connection = await Connection.connect({ address: config.temporal.address });
    cleanups.push(() => connection.close());
    await ensureSearchAttributes(connection, config.temporal.namespace);
    const client = new Client({
      connection,
      namespace: config.temporal.namespace,
      dataConverter: dataConverterFor(config.temporal.payloadKeys),
    });

    const workerConnection = await NativeConnection.connect({ address: config.temporal.address });
    cleanups.push(() => workerConnection.close());
    const worker = await createConsentWorker({ config, connection: workerConnection });
    const running = worker.run();
    cleanups.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });
    running.catch((error: unknown) => {
      logger.error('worker failed', { error: (error as Error).message });
      shutdown('worker failure');
    });

    const http = await startHttpServer(config, client);
    cleanups.push(() => http.close());

    const uiUrl = config.temporal.uiUrl ?? `http://localhost:${config.temporal.uiPort}`;
    process.stdout.write(
      [
        '',
        'listrak-consent-sync is running',
        `  API:         ${http.url}  (POST /webhooks/extole, GET /consents/{email}, GET /readyz)`,
        `  Temporal UI: ${uiUrl}`,
        `  Listrak:     ${listrakLabel}`,
        `  Data:        ${config.dataDir}`,
        'Ctrl-C stops everything.',
        '',
      ].join('\n'),
    );
  } catch (error) {
    logger.error('start-up failed', { error: (error as Error).message });
    await stopAll();
    process.exit(1);
  }
}

void main();
