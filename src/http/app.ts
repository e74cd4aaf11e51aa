import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { trace } from '@opentelemetry/api';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { AuditTrail } from '../consent/export';
import type { Config } from '../config/config';
import { hashEmail, normalizeEmail } from '../consent/email';
import { applyFieldMap } from '../consent/field-map';
import { TemporalUnavailableError, type ConsentIntake } from '../consent/intake';
import { loggablePath, logger } from '../observability/log';
import { metrics } from '../observability/metrics';
import { metricsHandler } from './metrics-route';
import type { Readiness } from '../temporal/readiness';
import { ChangeAmbiguousError, ChangeNotFoundError, ChangeNotParkedError, describeDecision, type Operations } from '../consent/status';
import { bearerMatches } from './bearer';
import { nestingDepth, parseEvents, problemLabels, type RejectedEvent } from './extole-events';
import { REFUSALS_KEPT, createRefusalLog, type Refusal, type RefusalLog } from './refusals';
import { verifyExtoleDelivery } from './webhook-auth';

export const MAX_BODY_BYTES = 1024 * 1024;
/** The live view: a static page; the data it shows comes from the admin routes, with the token. */
const LIVE_VIEW = readFileSync(path.join(__dirname, 'live-view.html'), 'utf8');
/** Consent events nest three levels at most (array, event, profile); refuse anything far deeper. */
const MAX_JSON_DEPTH = 16;
/** Extole retries after 1 s, then 1 h: ask for a quick retry when Temporal is briefly away. */
const RETRY_AFTER_SECONDS = 30;

export interface AppDeps {
  config: Readonly<Config>;
  intake: ConsentIntake;
  operations: Operations;
  /** Serves GET /consents/{email}/history; the route is absent without it. */
  audit?: AuditTrail;
  readiness: () => Promise<Readiness>;
  /** The Temporal SDK's Prometheus exporter of this process, appended to /metrics (npm start). */
  sdkMetricsUrl?: string;
  /** Where the access log and handler lines go; the service's logger unless a test reads them. */
  logger?: Logger;
  /** Recent refusals at intake, for GET /changes/refused; a new ring per app unless given. */
  refusals?: RefusalLog;
}

/** Builds the HTTP API. The caller listens; tests bind port 0. */
export function createApp({
  config,
  intake,
  operations,
  audit,
  readiness,
  sdkMetricsUrl,
  logger: log = logger,
  refusals = createRefusalLog(),
}: AppDeps): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  // One access-log line per request, with its request id (taken from X-Request-Id or made here);
  // `req.log` carries the id into every line a handler writes. Paths are logged as the route
  // matched (`/consents/[email]`), or masked where none did: never an address, however spelt.
  app.use(
    pinoHttp({
      logger: log,
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const given = req.headers['x-request-id'];
        const requestId = (typeof given === 'string' ? given.slice(0, 100) : '') || randomUUID();
        res.setHeader('x-request-id', requestId);
        return requestId;
      },
      // The request is described when its answer is finished, not when it arrives (pino-http
      // serialises its `req` binding at the start, before a route has matched): the matched route
      // is known only then. The start-time binding is dropped.
      customAttributeKeys: { reqId: 'requestId', req: 'incoming' },
      quietReqLogger: true,
      serializers: {
        incoming: () => undefined,
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
      customSuccessObject: (req, _res, value: object) => ({ ...value, req: accessRequest(req) }),
      customErrorObject: (req, _res, _error, value: object) => ({ ...value, req: accessRequest(req) }),
      // Health checks and scrapes are too frequent to log at info.
      customLogLevel: (req, res, error) =>
        error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : /^\/(healthz|readyz|metrics)$/.test(req.url ?? '') ? 'debug' : 'info',
    }),
  );
  app.use((req, res, next) => {
    res.locals.requestId = req.id as string;
    next();
  });

  app.get('/', (_req, res) => {
    res
      .set('content-security-policy', "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'")
      .set('cache-control', 'no-store')
      .type('html')
      .send(LIVE_VIEW);
  });

  app.get('/metrics', metricsHandler({ token: config.metrics.token, sdkMetricsUrl }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', traced, async (req, res) => {
    const result = await readiness();
    res.status((req.query.scope === 'intake' ? result.intakeReady : result.ready) ? 200 : 503).json(result);
  });

  /** A whole request refused: counted, logged and kept for support (never the body). */
  function refuseRequest(req: Request, res: Response, status: number, error: string, message: string, logged = message): void {
    metrics.webhookRequests.inc({ outcome: error });
    keepRequestRefusal(req, res, status, [{ field: '', reason: error, message: logged }]);
    sendError(res, status, error, message);
  }

  function keepRequestRefusal(req: Request, res: Response, status: number, problems: Refusal['problems']): void {
    refusals.add({ at: new Date().toISOString(), requestId: res.locals.requestId as string, answered: status, scope: 'request', problems });
    req.log.warn({ problems, status }, 'webhook refused');
  }

  /** Each refused event of a request: counted by field and reason, logged with the email's hash only, kept for support. */
  function recordRefusedEvents(req: Request, res: Response, rejected: RejectedEvent[], answered: number): void {
    const at = new Date().toISOString();
    for (const event of rejected) {
      const problems = event.problems.map((problem) => {
        const labels = problemLabels(problem);
        metrics.eventsRefused.inc(labels);
        return { field: problem.field, reason: labels.reason, message: problem.message };
      });
      const refusal: Refusal = { at, requestId: res.locals.requestId as string, answered, scope: 'event', index: event.index, problems };
      if (event.eventId !== undefined) refusal.eventId = event.eventId;
      if (event.email !== undefined) refusal.emailHash = hashEmail(config.emailHashKey, event.email);
      refusals.add(refusal);
      req.log.warn(
        { index: refusal.index, eventId: refusal.eventId, emailHash: refusal.emailHash, problems, answered },
        'event refused at intake',
      );
    }
  }

  app.post(
    '/webhooks/extole',
    traced,
    (req, res, next) => {
      if (!req.is('application/json') && !req.is('application/*+json')) {
        refuseRequest(req, res, 415, 'unsupported_media_type', 'send the events as JSON with Content-Type: application/json');
        return;
      }
      next();
    },
    express.raw({ type: () => true, limit: MAX_BODY_BYTES }),
    async (req, res) => {
      const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      if (config.extoleWebhookSecret) {
        const auth = verifyExtoleDelivery(
          config.extoleWebhookSecret,
          { signature: req.get('x-extole-signature'), authorization: req.get('authorization') },
          raw,
        );
        if (!auth.ok) {
          refuseRequest(req, res, 401, 'unauthorized', auth.reason);
          return;
        }
      }
      const text = raw.toString('utf8');
      if (nestingDepth(text) > MAX_JSON_DEPTH) {
        refuseRequest(req, res, 400, 'invalid_json', `the body nests deeper than ${MAX_JSON_DEPTH} levels; consent events are flat objects`);
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch (error) {
        // The parser's message quotes the body: the sender sees it, the log and support view do not.
        refuseRequest(req, res, 400, 'invalid_json', `the body is not valid JSON: ${(error as Error).message}`, 'the body is not valid JSON');
        return;
      }
      const parsed = parseEvents(applyFieldMap(body, config.listrak.routing.fields));
      if ('problems' in parsed) {
        // Nothing in the request can be recorded (a single invalid event, or all of them): 400.
        metrics.webhookRequests.inc({ outcome: 'invalid_events' });
        if (parsed.rejected.length > 0) recordRefusedEvents(req, res, parsed.rejected, 400);
        else keepRequestRefusal(req, res, 400, parsed.problems.map((problem) => ({ field: problem.field, reason: 'invalid_events', message: problem.message })));
        res.status(400).json({
          error: 'invalid_events',
          message: `${parsed.problems.length} problem(s) in the request; nothing from it was recorded`,
          problems: parsed.problems,
        });
        return;
      }
      const rejected = parsed.rejected.flatMap((event) => event.problems);
      for (const event of parsed.events) metrics.changesReceived.inc({ environment: event.environment, type: event.type });
      const timer = metrics.intakeDuration.startTimer();
      try {
        const recorded = await intake.record(parsed.events);
        timer({ result: 'recorded' });
        metrics.webhookRequests.inc({ outcome: rejected.length > 0 ? 'partially_accepted' : 'accepted' });
        for (const event of parsed.events) metrics.changesAccepted.inc({ environment: event.environment, type: event.type });
        recordRefusedEvents(req, res, parsed.rejected, 200);
        req.log.info(
          { events: recorded.map((entry) => entry.event_id), workflowIds: recorded.map((entry) => entry.workflow_id), refused: parsed.rejected.length },
          'webhook recorded',
        );
        // Exactly 200: Extole retries any other status, 202 included. A batch whose valid part is
        // recorded is answered 200 too: a retry could not make its invalid part valid, and would
        // end in Extole's dead-letter queue with the valid part.
        res.status(200).json({ recorded, rejected });
      } catch (error) {
        timer({ result: 'failed' });
        if (!(error instanceof TemporalUnavailableError)) throw error;
        metrics.webhookRequests.inc({ outcome: 'temporal_unavailable' });
        recordRefusedEvents(req, res, parsed.rejected, 503);
        req.log.error({ error: error.message }, 'webhook not recorded: Temporal unavailable');
        res.set('retry-after', String(RETRY_AFTER_SECONDS));
        sendError(res, 503, 'temporal_unavailable', 'the change could not be recorded durably; retry later');
      }
    },
  );

  const admin = adminGuard(config);

  app.get('/consents/:email', traced, admin, async (req, res) => {
    const email = normalizeEmail(String(req.params.email));
    const environments = await operations.consentStatus(email);
    if (environments.length === 0) {
      sendError(res, 404, 'not_found', 'no consent change has been recorded for this email');
      return;
    }
    res.json({ emailHash: hashEmail(config.emailHashKey, email), environments });
  });

  // Every change received for the person, with what Listrak answered and when it was written:
  // the ledgers' records and the change workflows Temporal still holds (retention).
  if (audit) {
    app.get('/consents/:email/history', traced, admin, async (req, res) => {
      const history = await audit.history(String(req.params.email));
      if (history.changes.length === 0) {
        sendError(res, 404, 'not_found', 'no consent change has been recorded for this email');
        return;
      }
      res.json(history);
    });
  }

  // Recent refusals at intake, newest first: this API process only, since it started (the log and
  // consent_events_refused_total are the durable record).
  app.get('/changes/refused', traced, admin, (req, res) => {
    const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > REFUSALS_KEPT) {
      sendError(res, 400, 'invalid_limit', `limit must be an integer from 1 to ${REFUSALS_KEPT}`);
      return;
    }
    res.json({ refused: refusals.recent(limit), kept: REFUSALS_KEPT, scope: 'this API process, since it started' });
  });

  app.get('/changes/recent', traced, admin, async (req, res) => {
    const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
    const environment = typeof req.query.environment === 'string' ? req.query.environment : undefined;
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      sendError(res, 400, 'invalid_limit', 'limit must be an integer from 1 to 500');
      return;
    }
    if (environment !== undefined && !['production', 'staging'].includes(environment)) {
      sendError(res, 400, 'invalid_environment', "environment must be 'production' or 'staging'");
      return;
    }
    res.json({ changes: await operations.recentChanges({ limit, ...(environment ? { environment } : {}) }) });
  });

  for (const action of ['retry', 'skip'] as const) {
    app.post(`/changes/:eventId/${action}`, traced, admin, async (req, res) => {
      const eventId = String(req.params.eventId);
      // Event ids are not unique across people: `?workflow_id=` (from the status answer) names one change.
      const chosen = typeof req.query.workflow_id === 'string' && req.query.workflow_id !== '' ? req.query.workflow_id : undefined;
      try {
        const decided = await operations[action](eventId, chosen);
        res.json({
          event_id: eventId,
          workflow_id: decided.workflowId,
          signal: action,
          result: describeDecision(decided),
          outcome: decided.outcome,
          temporalUiUrl: operations.uiLink(decided.workflowId),
        });
      } catch (error) {
        if (error instanceof ChangeNotFoundError) sendError(res, 404, 'not_found', error.message);
        else if (error instanceof ChangeNotParkedError) sendError(res, 409, 'not_parked', error.message);
        else if (error instanceof ChangeAmbiguousError) res.status(409).json({ error: 'ambiguous', message: error.message, workflowIds: error.workflowIds, requestId: res.locals.requestId as string });
        else throw error;
      }
    });
  }

  app.use((_req, res) => {
    sendError(res, 404, 'not_found', 'no such route');
  });

  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    const status = (error as { status?: unknown }).status;
    const type = (error as { type?: unknown }).type;
    if (type === 'entity.too.large' || status === 413) {
      refuseRequest(req, res, 413, 'payload_too_large', `the body is over ${MAX_BODY_BYTES} bytes; send fewer events per request`);
      return;
    }
    if (typeof status === 'number' && status >= 400 && status < 500) {
      sendError(res, status, 'bad_request', (error as Error).message);
      return;
    }
    if (error instanceof TemporalUnavailableError) {
      res.set('retry-after', String(RETRY_AFTER_SECONDS));
      sendError(res, 503, 'temporal_unavailable', 'Temporal could not be reached; retry later');
      return;
    }
    req.log.error({ error: (error as Error)?.message }, 'unhandled error');
    sendError(res, 500, 'internal_error', 'unexpected error; see the service log for the request id');
  });

  return app;
}

/**
 * Names the request's trace span by its route (`GET /consents/:email`: never the address). The
 * HTTP instrumentation alone names server spans by method only; the Express instrumentation that
 * would do this supports Express 5 only in an OpenTelemetry line the Temporal interceptors do
 * not support yet. A no-op when tracing is off.
 */
function traced(req: Request, _res: Response, next: NextFunction): void {
  const span = trace.getActiveSpan();
  const route = (req.route as { path?: unknown } | undefined)?.path;
  // For the access log, written when the answer is finished, when Express has left the route.
  if (typeof route === 'string') matchedRoutes.set(req, route);
  if (span && typeof route === 'string') {
    span.updateName(`${req.method} ${route}`);
    span.setAttribute('http.route', route);
  }
  next();
}

/** The route each request matched (set by `traced`), for its access-log line. */
const matchedRoutes = new WeakMap<object, string>();

/** The access log's description of a request: its method and the route, or the masked path. */
function accessRequest(req: IncomingMessage): { method: string | undefined; path: string } {
  return { method: req.method, path: loggablePath(req.url ?? '', matchedRoutes.get(req)) };
}

function sendError(res: Response, status: number, error: string, message: string): void {
  res.status(status).json({ error, message, requestId: res.locals.requestId as string });
}

function adminGuard(config: Readonly<Config>) {
  const expected = config.adminToken;
  return (req: Request, res: Response, next: NextFunction) => {
    if (expected === undefined) {
      next(); // development without ADMIN_TOKEN: warned about at start-up
      return;
    }
    if (bearerMatches(req.get('authorization'), expected)) {
      next();
      return;
    }
    sendError(res, 401, 'unauthorized', 'send Authorization: Bearer <ADMIN_TOKEN>');
  };
}
