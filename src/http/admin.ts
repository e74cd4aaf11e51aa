import express, { type RequestHandler, type Router } from 'express';
import type { Config } from '../config/config';
import { hashEmail, normalizeEmail } from '../consent/email';
import type { AuditTrail } from '../consent/export';
import { ChangeAmbiguousError, ChangeNotFoundError, ChangeNotParkedError, describeDecision, type Operations } from '../consent/status';
import { bearerGuard, traced } from './middleware';
import { sendError } from './problem';
import { REFUSALS_KEPT, type RefusalLog } from './refusals';

export interface AdminDeps {
  config: Readonly<Config>;
  operations: Operations;
  /** Serves GET /consents/{email}/history; the route is absent without it. */
  audit?: AuditTrail | undefined;
  refusals: RefusalLog;
}

/** The support routes, behind ADMIN_TOKEN: a person's status and history, recent changes and refusals, retry and skip. */
export function createAdminRouter({ config, operations, audit, refusals }: AdminDeps): Router {
  const router = express.Router();
  const admin = bearerGuard(config.adminToken, 'send Authorization: Bearer <ADMIN_TOKEN>');
  const get = (path: string, handler: RequestHandler) => router.get(path, traced, admin, handler);
  const post = (path: string, handler: RequestHandler) => router.post(path, traced, admin, handler);

  get('/consents/:email', async (req, res) => {
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
    get('/consents/:email/history', async (req, res) => {
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
  get('/changes/refused', (req, res) => {
    const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > REFUSALS_KEPT) {
      sendError(res, 400, 'invalid_limit', `limit must be an integer from 1 to ${REFUSALS_KEPT}`);
      return;
    }
    res.json({ refused: refusals.recent(limit), kept: REFUSALS_KEPT, scope: 'this API process, since it started' });
  });

  get('/changes/recent', async (req, res) => {
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
    res.json({ changes: await operations.recentChanges({ limit, environment }) });
  });

  for (const action of ['retry', 'skip'] as const) {
    post(`/changes/:eventId/${action}`, async (req, res) => {
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
        else if (error instanceof ChangeAmbiguousError) sendError(res, 409, 'ambiguous', error.message, { workflowIds: error.workflowIds });
        else throw error;
      }
    });
  }

  return router;
}

