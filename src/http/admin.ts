import express, { type RequestHandler, type Response, type Router } from 'express';
import type { z } from 'zod';
import type { Config } from '../config/config';
import { hashEmail, normalizeEmail } from '../consent/email';
import type { AuditTrail } from '../consent/export';
import type { ReconcileOverview } from '../consent/reconcile';
import { ForgetInProgressError, ForgetRateLimitedError, PrivacyRequestError, type Forgetter } from '../consent/forget';
import { ChangeAmbiguousError, ChangeNotFoundError, ChangeNotParkedError, describeDecision, type Operations } from '../consent/status';
import { bearerGuard, traced } from './middleware';
import {
  consentStatusSchema,
  decisionSchema,
  environmentParam,
  forgetBodySchema,
  forgetStartedSchema,
  forgetsLimit,
  forgetsSchema,
  historySchema,
  recentLimit,
  reconcileSchema,
  recentSchema,
  refusedLimit,
  refusedSchema,
  workflowIdParam,
} from './contract';
import { sendProblem } from './problem';
import { REFUSALS_KEPT, type RefusalLog } from './refusals';

export interface AdminDeps {
  config: Readonly<Config>;
  operations: Operations;
  /** Serves GET /consents/{email}/history; the route is absent without it. */
  audit?: AuditTrail | undefined;
  /** Serves POST /consents/{email}/forget and the erasure record; the route is absent without it. */
  forgetter?: Forgetter | undefined;
  refusals: RefusalLog;
  /** Serves GET /reconcile; the route is absent without it. */
  reconciliation?: ReconcileOverview | undefined;
}

/** The support routes, behind ADMIN_TOKEN: a person's status and history, recent changes and refusals, retry and skip. */
export function createAdminRouter({ config, operations, audit, forgetter, refusals, reconciliation }: AdminDeps): Router {
  const router = express.Router();
  const admin = bearerGuard(config.adminToken, 'send Authorization: Bearer <ADMIN_TOKEN>');
  const get = (path: string, handler: RequestHandler) => router.get(path, traced, admin, handler);
  const post = (path: string, handler: RequestHandler) => router.post(path, traced, admin, handler);

  get('/consents/:email', async (req, res) => {
    const email = normalizeEmail(String(req.params.email));
    const [environments, erasure] = await Promise.all([operations.consentStatus(email), forgetter?.forgetProgress(email)]);
    if (environments.length === 0 && !erasure) {
      sendProblem(res, 404, 'not_found', 'no consent change has been recorded for this email');
      return;
    }
    // `desired` and `applied` are null when nothing is (the type says "or absent"; the answer never omits them).
    const views = environments.map((view) => ({ ...view, desired: view.desired ?? null, applied: view.applied ?? null }));
    send(res, consentStatusSchema, { emailHash: hashEmail(config.emailHashKey, email), environments: views, ...(erasure ? { erasure } : {}) });
  });

  // Forget a person: Listrak's Privacy API is asked (when configured) and this service erases
  // what it keeps of them, keeping a tombstone so that stale opt-ins stay refused.
  if (forgetter) {
    router.post('/consents/:email/forget', traced, admin, express.json({ limit: '8kb' }), async (req, res) => {
      const body = forgetBodySchema.safeParse(req.body);
      if (!body.success) {
        sendProblem(res, 400, 'invalid_body', 'send {"requestedBy": "<who asked, 1 to 200 characters>"}');
        return;
      }
      const email = normalizeEmail(String(req.params.email));
      if (!email.includes('@')) {
        sendProblem(res, 400, 'invalid_body', 'the path names no email address');
        return;
      }
      try {
        const started = await forgetter.forget(email, body.data.requestedBy);
        res.status(202);
        send(res, forgetStartedSchema, { ...started, temporalUiUrl: operations.uiLink(started.workflowId) });
      } catch (error) {
        if (error instanceof ForgetRateLimitedError) {
          res.set('retry-after', String(Math.ceil(error.retryAfterMs / 1000)));
          sendProblem(res, 429, 'rate_limited', error.message);
        } else if (error instanceof ForgetInProgressError) sendProblem(res, 409, 'forget_in_progress', error.message);
        else if (error instanceof PrivacyRequestError) sendProblem(res, 502, 'listrak_refused', error.message);
        else throw error;
      }
    });
  }

  // The recent forgets, so that support sees an erasure carried out (or stuck) without the address.
  if (forgetter) {
    get('/forgets', async (req, res) => {
      const limit = forgetsLimit.safeParse(req.query.limit);
      if (!limit.success) {
        sendProblem(res, 400, 'invalid_limit', 'limit must be an integer from 1 to 100');
        return;
      }
      send(res, forgetsSchema, { forgets: await forgetter.recentForgets(limit.data) });
    });
  }

  // Every change received for the person, with what Listrak answered and when it was written:
  // the ledgers' records and the change workflows Temporal still holds (retention).
  if (audit) {
    get('/consents/:email/history', async (req, res) => {
      const [history, erasure] = await Promise.all([audit.history(String(req.params.email)), forgetter?.forgetProgress(normalizeEmail(String(req.params.email)))]);
      if (history.changes.length === 0 && !erasure) {
        sendProblem(res, 404, 'not_found', 'no consent change has been recorded for this email');
        return;
      }
      // After a forget: what is left is the erasure record (and changes received since).
      send(res, historySchema, { ...history, ...(erasure ? { erasure } : {}) });
    });
  }

  // Recent refusals at intake, newest first: this API process only, since it started (the log and
  // consent_events_refused_total are the durable record).
  get('/changes/refused', (req, res) => {
    const limit = refusedLimit.safeParse(req.query.limit);
    if (!limit.success) {
      sendProblem(res, 400, 'invalid_limit', `limit must be an integer from 1 to ${REFUSALS_KEPT}`);
      return;
    }
    send(res, refusedSchema, { refused: refusals.recent(limit.data), kept: REFUSALS_KEPT, scope: 'this API process, since it started' });
  });

  get('/changes/recent', async (req, res) => {
    const limit = recentLimit.safeParse(req.query.limit);
    const environment = environmentParam.safeParse(req.query.environment);
    if (!limit.success) {
      sendProblem(res, 400, 'invalid_limit', 'limit must be an integer from 1 to 500');
      return;
    }
    if (!environment.success) {
      sendProblem(res, 400, 'invalid_environment', "environment must be 'production' or 'staging'");
      return;
    }
    send(res, recentSchema, { changes: await operations.recentChanges({ limit: limit.data, environment: environment.data }) });
  });

  // The reconciliation sweeps per routed list: what each Schedule did last and does next.
  if (reconciliation) {
    get('/reconcile', async (req, res) => {
      const environment = environmentParam.safeParse(req.query.environment);
      if (!environment.success) {
        sendProblem(res, 400, 'invalid_environment', "environment must be 'production' or 'staging'");
        return;
      }
      send(res, reconcileSchema, { sweeps: await reconciliation(environment.data) });
    });
  }

  for (const action of ['retry', 'skip'] as const) {
    post(`/changes/:eventId/${action}`, async (req, res) => {
      const eventId = String(req.params.eventId);
      // Event ids are not unique across people: `?workflow_id=` (from the status answer) names one change.
      const chosen = workflowIdParam.safeParse(req.query.workflow_id).data || undefined;
      try {
        const decided = await operations[action](eventId, chosen);
        send(res, decisionSchema, {
          eventId,
          workflowId: decided.workflowId,
          signal: action,
          result: describeDecision(decided),
          outcome: decided.outcome,
          temporalUiUrl: operations.uiLink(decided.workflowId),
        });
      } catch (error) {
        if (error instanceof ChangeNotFoundError) sendProblem(res, 404, 'not_found', error.message);
        else if (error instanceof ChangeNotParkedError) sendProblem(res, 409, 'not_parked', error.message);
        else if (error instanceof ChangeAmbiguousError) sendProblem(res, 409, 'ambiguous', error.message, { workflowIds: error.workflowIds });
        else throw error;
      }
    });
  }

  return router;
}

/** A successful answer, typed by its schema in the contract: what the document promises is what the compiler checks. */
function send<S extends z.ZodType>(res: Response, _schema: S, body: z.output<S>): void {
  res.json(body);
}
