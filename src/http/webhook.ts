import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import type { Config } from '../config/config';
import { hashEmail } from '../consent/email';
import { profileAttributes } from '../config/routing';
import { applyFieldMap } from '../consent/field-map';
import { TemporalUnavailableError, changeLabels, routeChanges, type ConsentIntake } from '../consent/intake';
import { metrics } from '../observability/metrics';
import type { WebhookAnswer } from './contract';
import { nestingDepth, parseEvents, problemLabels, type FieldProblem, type RejectedEvent } from './extole-events';
import { traced } from './middleware';
import { RETRY_AFTER_SECONDS, sendProblem, type ProblemCode } from './problem';
import type { Refusal, RefusalLog } from './refusals';
import { verifyExtoleDelivery } from './webhook-auth';

export const MAX_BODY_BYTES = 1024 * 1024;
/** Consent events nest three levels at most (array, event, profile); refuse anything far deeper. */
const MAX_JSON_DEPTH = 16;

/** An answer of the webhook: the recorded events (200), or a refusal as a problem. */
type WebhookReply =
  | { outcome: 'accepted' | 'partially_accepted'; body: WebhookAnswer }
  | { outcome: ProblemCode; status: number; detail: string; problems?: FieldProblem[] };

export interface WebhookDeps {
  config: Readonly<Config>;
  intake: ConsentIntake;
  refusals: RefusalLog;
}

/** `POST /webhooks/extole`: Extole's deliveries, verified on the raw bytes, validated, recorded in Temporal. */
export function createWebhookRouter({ config, intake, refusals }: WebhookDeps): Router {
  const router = express.Router();
  // The profile attributes the configuration maps: any other an event carries is dropped at parsing.
  const parseOptions = { attributes: profileAttributes(config.listrak.routing) };

  /**
   * Every answer of the webhook goes through here, and is counted here by its outcome (a refusal's
   * code): `consent_webhook_requests_total` is incremented nowhere else.
   */
  function answer(res: Response, reply: WebhookReply): void {
    metrics.webhookRequests.inc({ outcome: reply.outcome });
    if ('body' in reply) res.status(200).json(reply.body);
    else sendProblem(res, reply.status, reply.outcome, reply.detail, reply.problems && { problems: reply.problems.map(answerProblem) });
  }

  /** A whole request refused: counted, logged and kept for support (never the body). */
  function refuseRequest(req: Request, res: Response, status: number, code: ProblemCode, detail: string, logged = detail): void {
    keepRequestRefusal(req, res, status, [{ field: '', reason: code, message: logged }]);
    answer(res, { outcome: code, status, detail });
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

  router.post(
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
      const parsed = parseEvents(applyFieldMap(body, config.listrak.routing.fields), parseOptions);
      if ('problems' in parsed) {
        // Nothing in the request can be recorded (a single invalid event, or all of them): 400.
        if (parsed.rejected.length > 0) recordRefusedEvents(req, res, parsed.rejected, 400);
        else keepRequestRefusal(req, res, 400, parsed.problems.map((problem) => ({ field: problem.field, reason: 'invalid_events', message: problem.message })));
        answer(res, {
          outcome: 'invalid_events',
          status: 400,
          detail: `${parsed.problems.length} problem(s) in the request; nothing from it was recorded`,
          problems: parsed.problems,
        });
        return;
      }
      const rejected = parsed.rejected.flatMap((event) => event.problems);
      // One change per (event, list): an event routed to two lists counts in each.
      const labels = parsed.events.flatMap((event) => routeChanges(config, event).map((routed) => changeLabels(config, event, routed)));
      for (const label of labels) metrics.changesReceived.inc(label);
      const timer = metrics.intakeDuration.startTimer();
      try {
        const recorded = await intake.record(parsed.events);
        timer({ result: 'recorded' });
        for (const label of labels) metrics.changesAccepted.inc(label);
        recordRefusedEvents(req, res, parsed.rejected, 200);
        req.log.info(
          { events: recorded.map((entry) => entry.event_id), workflowIds: recorded.map((entry) => entry.workflow_id), refused: parsed.rejected.length },
          'webhook recorded',
        );
        // Exactly 200: Extole retries any other status, 202 included. A batch whose valid part is
        // recorded is answered 200 too: a retry could not make its invalid part valid, and would
        // end in Extole's dead-letter queue with the valid part.
        answer(res, {
          outcome: rejected.length > 0 ? 'partially_accepted' : 'accepted',
          body: {
            recorded: recorded.map((entry) => ({ eventId: entry.event_id, workflowId: entry.workflow_id, changeWorkflowId: entry.change_workflow_id })),
            rejected: rejected.map(answerProblem),
          },
        });
      } catch (error) {
        timer({ result: 'failed' });
        if (!(error instanceof TemporalUnavailableError)) throw error;
        recordRefusedEvents(req, res, parsed.rejected, 503);
        req.log.error({ error: error.message }, 'webhook not recorded: Temporal unavailable');
        res.set('retry-after', String(RETRY_AFTER_SECONDS));
        answer(res, { outcome: 'temporal_unavailable', status: 503, detail: 'the change could not be recorded durably; retry later' });
      }
    },
  );

  // The body parser refuses a body over the limit: answered, counted and kept like any refusal.
  router.use((error: unknown, req: Request, res: Response, next: NextFunction) => {
    const { status, type } = error as { status?: unknown; type?: unknown };
    if (type === 'entity.too.large' || status === 413) {
      refuseRequest(req, res, 413, 'payload_too_large', `the body is over ${MAX_BODY_BYTES} bytes; send fewer events per request`);
      return;
    }
    next(error);
  });

  return router;
}

/** A problem of an event as the answers spell it (camelCase, like every answer). */
function answerProblem({ index, event_id: eventId, field, message }: FieldProblem): WebhookAnswer['rejected'][number] {
  return eventId === undefined ? { index, field, message } : { index, eventId, field, message };
}
