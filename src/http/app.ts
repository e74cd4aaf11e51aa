import { readFileSync } from 'node:fs';
import path from 'node:path';
import express from 'express';
import type { Logger } from 'pino';
import type { AuditTrail } from '../consent/export';
import type { Config } from '../config/config';
import type { Forgetter } from '../consent/forget';
import type { ConsentIntake } from '../consent/intake';
import type { ReconcileOverview } from '../consent/reconcile';
import { logger } from '../observability/log';
import { metricsHandler } from './metrics-route';
import type { Operations } from '../consent/status';
import type { Readiness } from '../temporal/readiness';
import { createAdminRouter } from './admin';
import { accessLog, bearerGuard, errorHandler, notFound, traced } from './middleware';
import { openApiDocument } from './openapi';
import { sendProblem } from './problem';
import { createRefusalLog, type RefusalLog } from './refusals';
import { createWebhookRouter } from './webhook';

export { MAX_BODY_BYTES } from './webhook';

/** The live view: a static page; the data it shows comes from the admin routes, with the token. */
const LIVE_VIEW = readFileSync(path.join(__dirname, 'live-view.html'), 'utf8');

export interface AppDeps {
  config: Readonly<Config>;
  intake: ConsentIntake;
  operations: Operations;
  /** Serves GET /consents/{email}/history; the route is absent without it. */
  audit?: AuditTrail | undefined;
  /** Serves POST /consents/{email}/forget (and the erasure in GET /consents/{email}); the route is absent without it. */
  forgetter?: Forgetter | undefined;
  readiness: () => Promise<Readiness>;
  /** The Temporal SDK's Prometheus exporter of this process, appended to /metrics (npm start). */
  sdkMetricsUrl?: string | undefined;
  /** Where the access log and handler lines go; the service's logger unless a test reads them. */
  logger?: Logger;
  /** Recent refusals at intake, for GET /changes/refused; a new ring per app unless given. */
  refusals?: RefusalLog;
  /** Serves GET /reconcile (the live view's sweeps); the route is absent without it. */
  reconciliation?: ReconcileOverview | undefined;
}

/** Builds the HTTP API from its parts: the access log, the open routes (the contract at /openapi.json), Extole's webhook, the admin routes. The caller listens; tests bind port 0. */
export function createApp({
  config,
  intake,
  operations,
  audit,
  forgetter,
  readiness,
  sdkMetricsUrl,
  logger: log = logger,
  refusals = createRefusalLog(),
  reconciliation,
}: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(accessLog(log));

  app.get('/', (_req, res) => {
    res
      .set('content-security-policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
      .set('cache-control', 'no-store')
      .type('html')
      .send(LIVE_VIEW);
  });

  app.get('/metrics', bearerGuard(config.metrics.token, 'send Authorization: Bearer <METRICS_TOKEN>'), metricsHandler({ sdkMetricsUrl }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  const contract = openApiDocument();
  app.get('/openapi.json', (_req, res) => {
    res.json(contract);
  });

  app.get('/readyz', traced, async (req, res) => {
    const { detail, ...report } = await readiness();
    if (req.query.scope === 'intake' ? report.intakeReady : report.ready) {
      res.json({ ...report, detail });
      return;
    }
    // Not ready: a problem like any error, with the report beside it for whoever looks.
    sendProblem(res, 503, 'not_ready', detail ?? 'not ready', report);
  });

  app.use(createWebhookRouter({ config, intake, refusals }));
  app.use(createAdminRouter({ config, operations, audit, forgetter, refusals, reconciliation }));
  app.use(notFound);
  app.use(errorHandler);
  return app;
}
