/**
 * The HTTP API's contract, as zod schemas: the routes parse their parameters with them and type
 * their answers by them, and `openApiDocument()` (./openapi.ts) turns them into OpenAPI 3.1.
 * Every answer is camelCase; only the webhook's input keeps Extole's snake_case. Objects are
 * strict (`additionalProperties: false`), so a field an answer gains without its schema fails the
 * contract test (test/openapi.test.ts) instead of going undocumented.
 */
import { z } from 'zod';
import { ENVIRONMENTS, type ChangeOutcome } from '../shared';
import { documentedEventSchema } from './extole-events';
import { REFUSALS_KEPT } from './refusals';

/** The named schemas of the document (`#/components/schemas/<id>`). */
export const components = z.registry<{ id: string }>();

function named<T extends z.ZodType>(id: string, description: string, schema: T): T {
  const described = schema.describe(description);
  components.add(described, { id });
  return described;
}

const CHANGE_OUTCOMES = ['pending', 'applying', 'applied', 'awaiting_confirmation', 'superseded', 'duplicate', 'rejected', 'skipped', 'not_sent', 'parked', 'failed'] as const;
// Every ChangeOutcome listed, and nothing else: a new outcome is a compile error here until it is.
const everyOutcome: [Exclude<ChangeOutcome, (typeof CHANGE_OUTCOMES)[number]>, Exclude<(typeof CHANGE_OUTCOMES)[number], ChangeOutcome>] extends [never, never] ? true : never = true;
void everyOutcome;

const int = () => z.int();
const consentType = z.enum(['opt_in', 'opt_out']);
const changeOutcome = z.enum(CHANGE_OUTCOMES).describe('what became of the change (docs/architecture.md)');

// ---- Parameters (the routes parse them with these) ----

/** `?limit=` of a listing: an integer from 1 to `max`, 50 when absent. */
export const limitParam = (max: number) => z.coerce.number().int().min(1).max(max).default(50).describe(`how many, newest first: 1 to ${max}`);
export const refusedLimit = limitParam(REFUSALS_KEPT);
export const recentLimit = limitParam(500);
export const forgetsLimit = limitParam(100);
export const environmentParam = z.enum(ENVIRONMENTS).optional().describe('only changes of this environment');
export const workflowIdParam = z
  .string()
  .optional()
  .describe('the change workflow id (from the status answer) when several people’s changes carry this event id');
export const scopeParam = z.string().optional().describe('`intake`: Temporal reachable, worker or not (the API’s readiness probe); anything else: a worker polls too');
export const emailParam = z.string().describe('the address, URL-encoded; trimmed and lower-cased before the lookup');
export const eventIdParam = z.string().describe('the Extole event id of the change');

export const extoleEventSchema = named(
  'ExtoleEvent',
  'One consent event as Extole sends it (snake_case); the aliases of the README’s "Pointing Extole at the service" are accepted too.',
  documentedEventSchema,
);

// ---- Answers ----

export const problemSchema = named(
  'Problem',
  'An error, as RFC 9457 problem details (`application/problem+json`). `error` is the code that ends `type`; `requestId` is also in the X-Request-Id header.',
  z.strictObject({
    type: z.string().meta({ format: 'uri' }).describe('tag URI naming the kind of problem; an identifier, not a page'),
    title: z.string().describe('the kind of problem, in words; the same for every problem of a type'),
    status: int().min(400).max(599),
    detail: z.string().describe('this occurrence, in words: what to change'),
    instance: z.string().meta({ format: 'uri-reference' }).describe('the path requested, any address in it masked'),
    requestId: z.string(),
    error: z.string().describe('machine-readable code, e.g. `invalid_events`, `not_parked`, `ambiguous`'),
    problems: z.array(z.lazy(() => eventProblemSchema)).optional().describe('`invalid_events`: every problem found, one per field'),
    workflowIds: z.array(z.string()).optional().describe('`ambiguous`: the parked changes that carry the event id; name one with `?workflow_id=`'),
  }),
);
export type Problem = z.output<typeof problemSchema>;

export const eventProblemSchema = named(
  'EventProblem',
  'A problem of one event of a webhook request.',
  z.strictObject({
    index: int().min(0).describe('the event’s index in the request’s array; 0 for a single object'),
    eventId: z.string().optional().describe('the event’s id, when it was valid'),
    field: z.string().describe('the field as sent (`event_time`, `person.email`, `profile.first_name`); empty for the event as a whole'),
    message: z.string(),
  }),
);

export const webhookAnswerSchema = named(
  'WebhookAnswer',
  'The events recorded durably in Temporal, and those refused one by one (a partial batch is answered 200: a retry could not make them valid).',
  z.strictObject({
    recorded: z.array(
      z.strictObject({
        eventId: z.string(),
        workflowId: z.string().describe('the ledger workflow of the person and environment'),
        changeWorkflowId: z.string().describe('the change workflow that applies it'),
      }),
    ),
    rejected: z.array(eventProblemSchema),
  }),
);
export type WebhookAnswer = z.output<typeof webhookAnswerSchema>;

export const healthSchema = named('Health', 'The process is up.', z.strictObject({ status: z.literal('ok') }));

const readinessFields = {
  ready: z.boolean().describe('Temporal reachable and a worker polling the task queue'),
  intakeReady: z.boolean().describe('Temporal reachable: webhooks can be recorded'),
  temporal: z.enum(['reachable', 'unreachable']),
  workflowPollers: int().min(0),
  activityPollers: int().min(0),
};
export const readinessSchema = named('Readiness', 'Ready.', z.strictObject({ ...readinessFields, detail: z.string().optional() }));
export const notReadySchema = named(
  'NotReady',
  'Not ready: a problem whose `detail` says why, with the readiness report as extension members.',
  problemSchema.extend(readinessFields),
);

/** What the history and the recent-changes listing both say of a change workflow. */
const changeSummary = {
  eventId: z.string(),
  eventTime: z.string().optional(),
  type: z.string().optional(),
  environment: z.string().optional(),
  closedAt: z.string().optional(),
  /** When Listrak confirmed the write (applied changes). */
  appliedAt: z.string().optional(),
  detail: z.string().optional(),
  listrakCode: z.string().optional(),
};

/** The route and list of a change: every status, listing and export names them alike. */
const routeField = z.string().describe('the route of the routing that sent the change to its list (`default`, `(every list)` for an opt-out no route of its own claims); absent for changes recorded before routes were named, and for an unrouted change no route matched');
const listIdField = int().nullable().describe('the Listrak list the change was recorded for; null: no list takes it (not sent)');
const listNameField = z.string().nullable().describe('the list’s name in ROUTING_FILE (`production`/`staging` under the LISTRAK_* variables); null: no list, or a list the routing no longer has');

const ledgerPoint = { eventId: z.string(), type: consentType, eventTime: z.string(), eventTimeMs: int() };
const changeViewSchema = named(
  'LedgerChange',
  'One change as the person’s ledger recorded it, newest first; a change being applied says what Temporal reports of its attempts.',
  z.strictObject({
    eventId: z.string(),
    eventTime: z.string(),
    type: consentType,
    receivedAt: z.string(),
    outcome: changeOutcome,
    detail: z.string().optional(),
    listrakCode: z.string().optional(),
    changeWorkflowId: z.string().optional(),
    duplicatesSeen: int().min(0),
    route: routeField.optional(),
    listId: listIdField,
    listName: listNameField,
    attempt: int().optional(),
    lastError: z.string().optional(),
    parkedReason: z.string().optional(),
    temporalUiUrl: z.string().optional(),
  }),
);

const privacyRequestSchema = named(
  'PrivacyRequest',
  'Listrak’s Privacy API forget request as the forget follows it (`asked: true`), or why Listrak was not asked (`asked: false`: no Privacy integration configured; Listrak did not forget the person).',
  z.discriminatedUnion('asked', [
    z.strictObject({
      asked: z.literal(true),
      requestId: z.string().describe('Listrak’s resourceId of the forget request'),
      status: z.string().describe('PROCESSING or COMPLETE, as Listrak last answered'),
      submittedDate: z.string().optional(),
      processedDate: z.string().nullable().optional(),
      polls: int().min(0).describe('status requests made so far'),
    }),
    z.strictObject({ asked: z.literal(false), reason: z.string() }),
  ]),
);

export const erasureSchema = named(
  'Erasure',
  'The record of a person’s erasure (the newest forget): when, who asked, what was deleted, and Listrak’s request. It holds no email.',
  z.strictObject({
    emailHash: z.string(),
    requestedBy: z.string(),
    requestedAt: z.string(),
    phase: z.enum(['forgetting_ledgers', 'deleting_workflows', 'following_listrak', 'done']),
    ledgers: z.array(
      z.strictObject({
        workflowId: z.string(),
        result: z.enum(['forgotten', 'none']).describe('`none`: the person had no ledger there'),
        runId: z.string().optional().describe('the run that carries no email (the runs before it were deleted)'),
        changeWorkflowIds: z.array(z.string()).optional(),
      }),
    ),
    deletedWorkflows: int().min(0).optional().describe('workflow runs that carried the email, deleted'),
    privacy: privacyRequestSchema,
    completedAt: z.string().optional(),
  }),
);

export const forgetsSchema = named(
  'Forgets',
  'The most recent forgets, newest first: each forget workflow, how Temporal says it stands and its erasure record. It holds no email.',
  z.strictObject({
    forgets: z.array(
      z.strictObject({
        workflowId: z.string().describe('the forget workflow (consent-forget/<hash>)'),
        emailHash: z.string(),
        status: z.string().describe('running, completed, failed, terminated, timed_out, canceled'),
        startedAt: z.string(),
        closedAt: z.string().optional(),
        erasure: erasureSchema.optional().describe('its record: progress while it runs, the result once completed; absent when it could not be read'),
        temporalUiUrl: z.string(),
      }),
    ),
  }),
);

export const forgetBodySchema = z
  .strictObject({
    requestedBy: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .regex(/^[^\p{Cc}]*$/u, 'no control characters')
      .describe('who asked for the erasure (a person or ticket), kept in the erasure record'),
  })
  .describe('Who asked');

export const forgetStartedSchema = named(
  'ForgetStarted',
  'A forget under way: Listrak’s forget request was sent (or why not), and the forget workflow erases what this service keeps. Follow it with GET /consents/{email} (`erasure`).',
  z.strictObject({
    emailHash: z.string(),
    workflowId: z.string().describe('the forget workflow (consent-forget/<hash>)'),
    requestedAt: z.string(),
    requestedBy: z.string(),
    privacy: privacyRequestSchema,
    ledgerWorkflowIds: z.array(z.string()).describe('every ledger the person may have; those that exist forget'),
    temporalUiUrl: z.string(),
  }),
);

export const consentStatusSchema = named(
  'ConsentStatus',
  'A person’s consent per environment: what should hold in Listrak, what was written, and the changes received.',
  z.strictObject({
    emailHash: z.string(),
    environments: z.array(
      z.strictObject({
        environment: z.string(),
        listId: int().nullable(),
        listName: listNameField,
        workflowId: z.string(),
        temporalUiUrl: z.string(),
        desired: z
          .strictObject({
            ...ledgerPoint,
            causeEventId: z.string().optional().describe('Extole’s causeEventId, when the event carried one'),
            causeEventSequence: int().optional().describe('Extole’s causeEventSequence: orders the events of one cause at the same event time'),
          })
          .nullable(),
        applied: z.strictObject({ ...ledgerPoint, appliedAt: z.string() }).nullable(),
        restoredFrom: z.strictObject({ runId: z.string(), closedAt: z.string() }).optional(),
        restoreNote: z.string().optional(),
        forgotten: z
          .strictObject({ at: z.string(), by: z.string(), forgetWorkflowId: z.string() })
          .optional()
          .describe('the person was forgotten: this ledger dropped the email and its records, and keeps this tombstone (with `desired`)'),
        changes: z.array(changeViewSchema),
      }),
    ),
    erasure: erasureSchema.optional().describe('the newest forget of this person, when there was one'),
  }),
);

export const historySchema = named(
  'ConsentHistory',
  'Every change received for the person that Temporal still holds, as the audit export writes it.',
  z.strictObject({
    truncated: z.boolean().describe('more change workflows exist than were read'),
    emailHash: z.string(),
    changes: z.array(
      z.strictObject({
        ...changeSummary,
        receivedAt: z.string().optional(),
        outcome: z.string(),
        route: routeField.optional(),
        listId: listIdField.optional(),
        listName: listNameField.optional(),
        emailHash: z.string().optional(),
        email: z.string().optional(),
        changeWorkflowId: z.string().optional(),
        ledgerWorkflowId: z.string().optional(),
        duplicatesSeen: int().optional(),
        attempts: int().optional(),
      }),
    ),
    erasure: erasureSchema.optional().describe('the person was forgotten: the erasure record (the changes before it are gone)'),
  }),
);

export const refusedSchema = named(
  'Refusals',
  'Recent refusals at intake, newest first, kept in memory by this API process (never the payload or the address).',
  z.strictObject({
    refused: z.array(
      z.strictObject({
        at: z.string(),
        requestId: z.string(),
        answered: int().describe('the status the request was answered with: 200 when other events of it were recorded'),
        scope: z.enum(['event', 'request']),
        index: int().optional(),
        eventId: z.string().optional(),
        emailHash: z.string().optional(),
        problems: z.array(z.strictObject({ field: z.string(), reason: z.string(), message: z.string() })),
      }),
    ),
    kept: int(),
    scope: z.string(),
  }),
);

export const recentSchema = named(
  'RecentChanges',
  'The most recent change workflows, newest first.',
  z.strictObject({
    changes: z.array(
      z.strictObject({
        ...changeSummary,
        route: routeField.optional(),
        listId: listIdField.optional().describe('the change’s list; absent for a change workflow of the legacy id (`consent-change/<event id>`), which does not name its ledger'),
        listName: listNameField.optional(),
        workflowId: z.string(),
        startedAt: z.string(),
        outcome: z.string().describe('applying, parked, applied, awaiting_confirmation, superseded, rejected, skipped, failed, terminated, timed_out'),
        attempts: int().optional(),
        temporalUiUrl: z.string(),
      }),
    ),
  }),
);

export const decisionSchema = named(
  'Decision',
  'What a retry or skip of a parked change did.',
  z.strictObject({
    eventId: z.string(),
    workflowId: z.string().describe('the change workflow acted on'),
    signal: z.enum(['retry', 'skip']),
    result: z.string().describe('in words: `retried: now pending`, `skipped`'),
    outcome: changeOutcome,
    temporalUiUrl: z.string(),
  }),
);

const reconcileFigures = z.strictObject({
  contactsRead: int(),
  externalOptOutsRecorded: int().describe('Listrak-side unsubscribes newer than everything the ledger held: recorded there'),
  unsubscribesKnown: int(),
  unreadableDates: int(),
  driftFound: int().describe('contacts subscribed in Listrak whose ledger’s newest change is an opt-out'),
  driftRepaired: int(),
});
const sweepRun = { workflowId: z.string(), startedAt: z.string() };

export const reconcileSchema = named(
  'Reconciliation',
  'The reconciliation sweeps of every routed list: their Schedule, the run under way, the last finished and a newer failed one.',
  z.strictObject({
    sweeps: z.array(
      z.strictObject({
        scheduleId: z.string(),
        environment: z.enum(ENVIRONMENTS),
        listId: int(),
        listName: z.string(),
        sweep: z.enum(['unsubscribed', 'subscribed']),
        mode: z.enum(['report', 'repair']),
        installed: z.boolean().describe('false: the Schedule does not exist (the worker installs it at start)'),
        paused: z.boolean(),
        nextRunAt: z.string().optional(),
        running: z.strictObject({ ...sweepRun, pages: int(), figures: reconcileFigures }).optional(),
        last: z
          .strictObject({
            ...sweepRun,
            dryRun: z.boolean(),
            since: z.string().optional(),
            watermark: z.string(),
            pages: int(),
            figures: reconcileFigures,
            drifted: z.array(z.string()).describe('email hashes of drifted contacts (at most 100)'),
            finishedAt: z.string(),
          })
          .optional(),
        lastFailed: z.strictObject({ ...sweepRun, status: z.string().describe('failed, terminated, timed_out, canceled, or unreadable') }).optional(),
      }),
    ),
  }),
);
