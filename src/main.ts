// `npm start`: everything in one process tree for a laptop or a demo: the Temporal dev server
// (state in DATA_DIR), the worker, the HTTP API and, without Listrak credentials, the sandbox.
import { loadConfigWith } from './config/config';
import type { DevServer } from './dev/dev-server';
import { runService } from './lifecycle/run-service';
import { logger } from './observability/log';

runService('listrak-consent-sync', async ({ config: configured, onStop, stop }) => {
  // Loaded now that tracing runs: its HTTP instrumentation patches http and express as they load.
  const { startHttpServer } = await import('./http/server.js');
  const { startCodecServer } = await import('./http/codec-server.js');
  const { DEFAULT_SEED, ListrakSandbox } = await import('./dev/listrak-sandbox/sandbox.js');
  const { assertDevServerPortsFree, startDevServer } = await import('./dev/dev-server.js');
  const { temporalCliPath } = await import('./dev/temporal-binaries.js');
  const { ListrakClient } = await import('./listrak/client.js');
  const { checkListrak, formatReport } = await import('./listrak/check.js');
  const { observeParkedChanges, parkedChangesCounter } = await import('./observability/metrics.js');
  const { freeLocalPort } = await import('./observability/local-port.js');
  const { connectClient, connectWorker, temporalClient } = await import('./temporal/connection.js');
  const { createConsentWorker, listrakClientOptionsFor } = await import('./temporal/consent-worker.js');
  const { ensureEmailHashKeyFingerprint } = await import('./temporal/email-hash-key.js');
  const { installRuntime } = await import('./temporal/runtime.js');
  const { ensureSearchAttributes } = await import('./temporal/setup.js');
  const { createReconcileLedgers, installReconcileSchedules } = await import('./consent/reconcile.js');

  let config = configured;
  // We stop the worker ourselves, in order, instead of the SDK runtime's own signal handlers.
  const sdkMetricsBind = `127.0.0.1:${await freeLocalPort()}`;
  installRuntime({ sdkMetricsBind, handleSignals: false });

  // First of all: never carry on against a Temporal server that someone else started.
  const ownDevServer = config.temporal.devServer === 'start';
  if (ownDevServer) await assertDevServerPortsFree({ address: config.temporal.address, uiPort: config.temporal.uiPort });

  let listrakLabel = `Listrak at ${config.listrak.apiUrl}`;
  if (!config.listrak.targets.production && config.listrak.routing.file === undefined) {
    const sandbox = new ListrakSandbox(DEFAULT_SEED);
    const urls = await sandbox.listen(config.sandboxPort);
    onStop(() => sandbox.close());
    const [production, staging] = DEFAULT_SEED.clients;
    const [productionList, stagingList] = DEFAULT_SEED.lists;
    // The sandbox's URLs and credentials over the configuration (the variables a real Listrak needs).
    const overlay: Record<string, string> = {
      LISTRAK_AUTH_URL: urls.authUrl,
      LISTRAK_API_URL: urls.apiUrl,
      LISTRAK_CLIENT_ID: production?.clientId ?? '',
      LISTRAK_CLIENT_SECRET: production?.clientSecret ?? '',
      LISTRAK_LIST_ID: String(productionList?.listId ?? ''),
      LISTRAK_STAGING_CLIENT_ID: staging?.clientId ?? '',
      LISTRAK_STAGING_CLIENT_SECRET: staging?.clientSecret ?? '',
      LISTRAK_STAGING_LIST_ID: String(stagingList?.listId ?? ''),
    };
    // The seeded list's profile fields and opt-in event, unless configured otherwise.
    if (Object.keys(config.listrak.segmentationFields).length === 0) {
      overlay.LISTRAK_SEGMENTATION_FIELDS = 'first_name:101,last_name:102,phone_number:103,share_link:104,funnel:105';
    }
    if (config.listrak.optInEventIds.length === 0) overlay.LISTRAK_OPT_IN_EVENT_IDS = '501';
    config = loadConfigWith(overlay);
    listrakLabel = `the local Listrak sandbox at ${urls.url} (no LISTRAK_CLIENT_ID set; state: ${urls.url}/_sandbox/state)`;
  }

  // The same check as `npm run check-listrak`: a warning in development, fatal in production.
  const report = await checkListrak(new ListrakClient(listrakClientOptionsFor(config)), config);
  const checkText = formatReport(report, config.listrak.apiUrl);
  if (report.ok) logger.info({ report: checkText }, 'Listrak check passed');
  else if (config.nodeEnv === 'production') throw new Error(checkText);
  else logger.warn({ report: checkText }, 'Listrak check found problems (changes will park until they are fixed)');

  // With payload encryption, the Web UI decodes payloads through this process's codec server.
  // The dev UI cannot send a token, so here a browser request from exactly its origin to a
  // loopback listener is enough (a page elsewhere cannot forge Origin; a program on this machine
  // could, but it can read .env and the key too). Published further, only the token counts.
  let uiCodecEndpoint: string | undefined;
  if (config.temporal.payloadKeys) {
    const port = config.codecServer?.port ?? (await freeLocalPort());
    const host = config.codecServer?.host ?? '127.0.0.1';
    const token = config.codecServer?.token;
    const loopback = ['127.0.0.1', '::1', 'localhost'].includes(host);
    if (!loopback && token === undefined) {
      throw new Error(`CODEC_SERVER_HOST=${host} publishes the codec server beyond this machine: set CODEC_SERVER_TOKEN, or leave CODEC_SERVER_HOST at 127.0.0.1`);
    }
    const access = { token, trustUiOrigin: loopback };
    const codec = await startCodecServer(config, access, port);
    onStop(() => codec.close(1_000));
    uiCodecEndpoint = `http://localhost:${(codec.server.address() as { port: number }).port}`;
  }

  if (ownDevServer) {
    const cliPath = temporalCliPath(config.temporal.cliPath);
    const devServer: DevServer = await startDevServer({
      cliPath,
      address: config.temporal.address,
      uiPort: config.temporal.uiPort,
      dataDir: config.dataDir,
      namespace: config.temporal.namespace,
      retentionDays: config.temporal.retentionDays,
      uiCodecEndpoint,
    });
    let stoppingDevServer = false;
    onStop(() => {
      stoppingDevServer = true;
      return devServer.stop();
    });
    devServer.process.once('exit', (code, signal) => {
      if (stoppingDevServer) return;
      logger.error({ exit: signal ?? code }, 'the Temporal dev server exited: stopping everything');
      stop('dev server exit', 1);
    });
  }

  const connection = await connectClient(config);
  onStop(() => connection.close());
  await ensureSearchAttributes(connection, config.temporal.namespace);
  const client = temporalClient(config, connection);
  await ensureEmailHashKeyFingerprint(client, config);

  const workerConnection = await connectWorker(config);
  onStop(() => workerConnection.close());
  const worker = await createConsentWorker({ config, connection: workerConnection, reconcileLedgers: (temporal) => createReconcileLedgers({ client: temporal, config }) });
  // Not awaited: consent changes never wait for (or fail with) an optional sweep's Schedule.
  installReconcileSchedules(client, config).catch((error: unknown) =>
    logger.error({ error: (error as Error).message }, 'could not install the reconciliation Schedules: consent changes are processed as usual; reconciliation waits for the next start or `npm run consent -- reconcile`'),
  );
  const running = worker.run();
  onStop(async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
  });
  running.catch((error: unknown) => {
    logger.error({ error: (error as Error).message }, 'worker failed');
    stop('worker failure', 1);
  });

  const http = await startHttpServer(config, client, { sdkMetricsUrl: `http://${sdkMetricsBind}/metrics` });
  // consent_changes_parked on /metrics, from Temporal visibility (docs/operations.md).
  observeParkedChanges(parkedChangesCounter(client), {
    onError: (error) => logger.warn({ error: error.message }, 'could not count parked changes'),
  });
  onStop(() => http.close(config.shutdownGraceMs));

  const uiUrl = config.temporal.uiUrl ?? `http://localhost:${config.temporal.uiPort}`;
  process.stdout.write(
    [
      '',
      'listrak-consent-sync is running',
      `  API:         ${http.url}  (POST /webhooks/extole, GET /consents/{email}, GET /readyz, GET /metrics)`,
      `  Live view:   ${http.url}/`,
      `  Temporal UI: ${uiUrl}${uiCodecEndpoint ? `  (decodes encrypted payloads through ${uiCodecEndpoint})` : ''}`,
      `  Listrak:     ${listrakLabel}`,
      ownDevServer
        ? `  Data:        ${config.dataDir}`
        : `  Temporal:    the server already running at ${config.temporal.address} (TEMPORAL_DEV_SERVER=external: its data, DATA_DIR is not used)`,
      'Ctrl-C stops everything.',
      '',
    ].join('\n'),
  );
});
