/**
 * Names and types shared by the API, the workflows and the activities.
 * Workflow code imports this module, so it must stay free of Node built-ins and I/O.
 */

export const DEFAULT_TASK_QUEUE = 'listrak-consent-sync';

/**
 * Days without a change after which a ledger closes (LEDGER_IDLE_DAYS), when its input does not
 * say: longer than Extole's redelivery horizon (retries over about 28 hours, then 7 days in its
 * dead-letter queue), shorter than the namespace retention so the closed run can be restored.
 */
export const DEFAULT_LEDGER_IDLE_DAYS = 14;

export const ENVIRONMENTS = ['production', 'staging'] as const;
export type Environment = (typeof ENVIRONMENTS)[number];

export type ConsentType = 'opt_in' | 'opt_out';

/**
 * The documented profile attributes: read from an event's `profile` (or `person`) object under
 * their own names without any configuration. Any other attribute is read where the routing
 * file's field map (`fields.attributes`) says.
 */
export const PROFILE_FIELDS = ['first_name', 'last_name', 'phone_number', 'share_link', 'funnel'] as const;
export type ProfileField = (typeof PROFILE_FIELDS)[number];

/** A profile attribute's name: letters, digits, `_` and `-` (it is a key in payloads, logs and the routing file). */
export const ATTRIBUTE_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;
export const ATTRIBUTE_NAME_RULE = 'attribute names are 1-64 letters, digits, _ and -, starting with a letter';

/** Profile attribute name -> value as text; only attributes the configuration asks for are kept. */
export type Profile = Record<string, string>;

/** One consent change as recorded in Temporal (the signal payload). */
export interface ConsentChange {
  eventId: string;
  /** ISO-8601 as Extole sent it, for people to read. */
  eventTime: string;
  /** The same instant in epoch milliseconds: the ordering key. */
  eventTimeMs: number;
  type: ConsentType;
  environment: Environment;
  email: string;
  profile: Profile;
  receivedAt: string;
  /**
   * Set at intake when configuration says this change must not be written to Listrak
   * (no staging credentials, SEND_OPT_INS=false, …). It still takes part in ordering.
   */
  notSentReason?: string;
  /** A backfilled change (`consent import`): subscribe without raising the opt-in events. */
  suppressEvents?: boolean;
  /** Extole's causeEventId: the event that raised this one (with causeEventSequence, see `supersedes`). */
  causeEventId?: string;
  /** Extole's causeEventSequence: the order of the events one cause raised. */
  causeEventSequence?: number;
  /**
   * The route of the routing that sent the change to this ledger (set at intake; absent in
   * changes recorded before routes were named, and for an unrouted change no route matched). For
   * people and metrics only: workflow code carries it along and never decides on it.
   */
  route?: string;
}

/**
 * A consent event as the webhook accepts it (src/http/extole-events.ts parses it): intake routes
 * it by program and campaign and records it as a ConsentChange in each of its lists' ledgers.
 */
export type ExtoleConsentEvent = Omit<ConsentChange, 'receivedAt' | 'notSentReason' | 'route'> & {
  /** Extole's programLabel: the program the event came from. */
  programLabel?: string;
  campaignId?: string;
};

/** Which per-email ledger a change belongs to. */
export interface LedgerKey {
  environment: Environment;
  /** Listrak list id, or null when the environment has no Listrak configuration. */
  listId: number | null;
  emailHash: string;
}

/** A write window of an unsubscribe this service made, used to recognise its own date in Listrak. */
export interface OwnUnsubscribe {
  eventTimeMs: number;
  writeStartedAtMs: number;
  writeFinishedAtMs: number;
}

/**
 * Listrak stamps its own clock on our writes; allow this much disagreement between its clock and
 * ours when deciding whether an unsubscribe date is the one our own write produced.
 */
export const OWN_WRITE_CLOCK_TOLERANCE_MS = 2 * 60_000;

/** Listrak dates may come without an offset; they are read as UTC. */
export function parseListrakDate(value: string): number | undefined {
  if (value === '') return undefined;
  const withZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(value) ? value : `${value}Z`;
  const ms = Date.parse(withZone);
  return Number.isNaN(ms) ? undefined : ms;
}

/** The unsubscribe this service wrote whose write window holds Listrak's unsubscribe date, if any. */
export function ownUnsubscribeAt(unsubscribedAtMs: number, ownUnsubscribes: readonly OwnUnsubscribe[]): OwnUnsubscribe | undefined {
  return ownUnsubscribes.find(
    (write) =>
      unsubscribedAtMs >= write.writeStartedAtMs - OWN_WRITE_CLOCK_TOLERANCE_MS &&
      unsubscribedAtMs <= write.writeFinishedAtMs + OWN_WRITE_CLOCK_TOLERANCE_MS,
  );
}

/** An unsubscribe made in Listrak itself (footer, complaint, import), as reconciliation found it. */
export interface ListrakUnsubscribe {
  email: string;
  /** As Listrak wrote it, for people to read. */
  unsubscribeDate: string;
  unsubscribedAtMs: number;
  method: string;
}

/** What reconciliation found of an opt-in that awaited the person's double opt-in confirmation: Listrak holds them subscribed. */
export interface DoubleOptInConfirmation {
  /** The ledger's opt-in that was awaiting the confirmation. */
  eventId: string;
  /** Listrak's subscribe date and method of the contact, as it wrote them. */
  subscribeDate: string;
  method: string;
}

/** The record id of a Listrak-side unsubscribe in a ledger: one per date, so a second sweep finds it known. */
export function listrakUnsubscribeEventId(unsubscribedAtMs: number): string {
  return `listrak-unsubscribe:${new Date(unsubscribedAtMs).toISOString()}`;
}

/** What a ledger says of an unsubscribe made in Listrak, in its words for a person. */
export function describeListrakUnsubscribe(unsubscribe: Pick<ListrakUnsubscribe, 'unsubscribeDate' | 'method'>): string {
  return `unsubscribed in Listrak at ${unsubscribe.unsubscribeDate}, method ${unsubscribe.method}`;
}

/**
 * Whether a ledger records a Listrak-side unsubscribe as an external opt-out: `record` when it is
 * newer than every change the ledger holds (opt-out wins a tie); else why not (already recorded,
 * the unsubscribe this service wrote, or a change at least as new decides).
 */
export function listrakUnsubscribeDecision(
  state: Pick<LedgerState, 'changes' | 'desired' | 'ownUnsubscribes'>,
  unsubscribedAtMs: number,
): 'record' | 'known' | 'own' | 'older' {
  const eventId = listrakUnsubscribeEventId(unsubscribedAtMs);
  if (state.desired?.eventId === eventId || state.changes.some((record) => record.eventId === eventId)) return 'known';
  if (ownUnsubscribeAt(unsubscribedAtMs, state.ownUnsubscribes)) return 'own';
  if (state.desired && !supersedes({ eventTimeMs: unsubscribedAtMs, type: 'opt_out' }, state.desired)) return 'older';
  return 'record';
}

export interface ApplyChangeInput {
  change: ConsentChange;
  listId: number;
  /** The ledger that started this change: asked, just before a subscribe, whether it still wants it. */
  ledgerWorkflowId?: string;
  /** Unsubscribes this service applied for this email, newest last. */
  ownUnsubscribes: OwnUnsubscribe[];
}

/*
 * What happened to a change, in one vocabulary: ChangeOutcome names it everywhere (the ledger's
 * records, the status views, the metrics); the workflows' results (ApplyResult, ChangeResult) say
 * it in Listrak's terms, and outcomeOfResult is the one translation between the two.
 */

/** What the Listrak activity returns (the change workflow's result unless a person skipped it). Never carries tokens or secrets. */
export type ApplyResult = (
  | {
      outcome: 'applied';
      writeStartedAtMs: number;
      writeFinishedAtMs: number;
      /** Listrak's "already done" code when the wanted state already held. */
      alreadyDoneCode?: string;
      overrodeUnsubscribe?: boolean;
      /** Profile values Listrak refused (too long, disabled or unknown field); the consent still applied. */
      droppedFields?: { segmentationFieldId: number; code: string }[];
      /** A retry found the earlier attempt's subscribe had landed, so the opt-in events were not raised twice. */
      eventsAlreadyRaised?: boolean;
    }
  | { outcome: 'rejected'; code: string; status: number; message: string }
  /**
   * A double opt-in: Listrak holds the subscribe until the person confirms it from the email it
   * sent (written with `sendDoubleOptIn`), or already held one pending (`code`
   * ERROR_PENDING_EMAIL_ADDRESS). Not subscribed yet; a later read of Listrak says whether they confirmed.
   */
  | {
      outcome: 'awaiting_confirmation';
      /** Listrak's code when it answered that the person was already pending. */
      code?: string;
      /** Profile values not written: Listrak refused one (its code), and a pending contact takes no value on its own. */
      droppedFields?: { segmentationFieldId: number; code: string }[];
    }
  | { outcome: 'superseded_in_listrak'; unsubscribeDate: string }
  /** A newer change reached the ledger while this opt-in was on its way: nothing was written. */
  | { outcome: 'superseded_before_write'; newerEventId: string }
) & {
  /** The activity attempt that produced this result (1 when the first attempt succeeded). */
  attempt?: number;
};

/** What a change workflow returns: the activity's result, or skipped by a person while parked. */
export type ChangeResult = ApplyResult | { outcome: 'skipped'; reason: string };

/** What became of a change, or what it is doing: the one outcome vocabulary. */
export type ChangeOutcome =
  | 'pending'
  | 'applying'
  | 'applied'
  /** Double opt-in: written to Listrak, which waits for the person to confirm from its email (not subscribed yet). */
  | 'awaiting_confirmation'
  | 'superseded'
  | 'duplicate'
  | 'rejected'
  | 'skipped'
  | 'not_sent'
  /** Waiting for a person: Listrak refused it in a way a person must fix, or its change workflow ended without applying it. */
  | 'parked'
  /** Recorded by ledgers of releases before per-ledger change ids; no new change ends so. */
  | 'failed';

/** The outcome a finished change workflow's result says, with what the ledger records beside it. */
export type ResultOutcome = Pick<ChangeRecord, 'detail' | 'listrakCode'> & {
  outcome: Extract<ChangeOutcome, 'applied' | 'awaiting_confirmation' | 'rejected' | 'superseded' | 'skipped'>;
};

/**
 * The one translation from a change workflow's result to an outcome: the ledger records it
 * (recordResult) and the change listing shows it (describeChange), so both say the same.
 */
export function outcomeOfResult(result: ChangeResult): ResultOutcome {
  switch (result.outcome) {
    case 'applied': {
      const described: ResultOutcome = { outcome: 'applied' };
      if (result.alreadyDoneCode) described.listrakCode = result.alreadyDoneCode;
      const notes = [
        result.overrodeUnsubscribe && 'moved an unsubscribed contact back to subscribed',
        result.droppedFields &&
          `profile values dropped: ${result.droppedFields.map((field) => `${field.segmentationFieldId} (${field.code})`).join(', ')}`,
        result.eventsAlreadyRaised && 'opt-in events were raised by an earlier attempt',
      ].filter((note): note is string => typeof note === 'string');
      if (notes.length > 0) described.detail = notes.join('; ');
      return described;
    }
    case 'awaiting_confirmation': {
      const described: ResultOutcome = {
        outcome: 'awaiting_confirmation',
        detail:
          result.code === undefined
            ? 'double opt-in: Listrak sent its confirmation email; subscribed once the person confirms'
            : 'double opt-in: already pending in Listrak; subscribed once the person confirms',
      };
      if (result.code !== undefined) described.listrakCode = result.code;
      if (result.droppedFields) described.detail += `; profile values not written: ${result.droppedFields.map((field) => `${field.segmentationFieldId} (${field.code})`).join(', ')}`;
      return described;
    }
    case 'rejected':
      return { outcome: 'rejected', listrakCode: result.code, detail: result.message };
    case 'superseded_before_write':
      return { outcome: 'superseded', detail: `newer change ${result.newerEventId} arrived before the write; nothing was written` };
    case 'superseded_in_listrak':
      return { outcome: 'superseded', detail: `Listrak holds an unsubscribe of ${result.unsubscribeDate}, not older than this opt-in` };
    case 'skipped':
      return { outcome: 'skipped', detail: result.reason };
  }
}

/** What a ledger keeps of the change that should hold: what `supersedes` compares a newer change with. */
export interface DesiredChange extends Pick<ConsentChange, 'causeEventId' | 'causeEventSequence'> {
  eventId: string;
  type: ConsentType;
  eventTime: string;
  eventTimeMs: number;
}

/** The desired change a ledger records for a change (its cause's fields only when the change has them). */
export function desiredOf(change: ConsentChange): DesiredChange {
  const desired: DesiredChange = { eventId: change.eventId, type: change.type, eventTime: change.eventTime, eventTimeMs: change.eventTimeMs };
  if (change.causeEventId !== undefined) desired.causeEventId = change.causeEventId;
  if (change.causeEventSequence !== undefined) desired.causeEventSequence = change.causeEventSequence;
  return desired;
}

/** The memo a ledger gives a change workflow: what lists of recent changes show without reading its history (never the email). */
export type ChangeMemo = {
  type: ConsentType;
  environment: Environment;
  eventTime: string;
  route?: string;
};

/** One line of a ledger's record of what happened to a change (the ledger's query answer and its summary carry it). */
export interface ChangeRecord {
  eventId: string;
  eventTime: string;
  eventTimeMs: number;
  type: ConsentType;
  receivedAt: string;
  outcome: ChangeOutcome;
  detail?: string;
  listrakCode?: string;
  changeWorkflowId?: string;
  duplicatesSeen: number;
  /** The change's route (ConsentChange.route), when it has one. */
  route?: string;
}

export interface LedgerState {
  key: LedgerKey;
  email: string;
  /** The change that should hold in Listrak: the newest by event time (see `supersedes`), opt-out on ties. */
  desired?: DesiredChange;
  /** The last change actually written to Listrak by this service. */
  applied?: { eventId: string; type: ConsentType; eventTime: string; eventTimeMs: number; appliedAt: string };
  ownUnsubscribes: OwnUnsubscribe[];
  /** Most recent changes, newest last, bounded (see MAX_RECORDS in the ledger workflow). */
  changes: ChangeRecord[];
  /**
   * A change whose change workflow ended without an outcome (terminated or failed by a person or a
   * bug): kept here until a `retryChange` or `skipChange` signal, or a newer change, decides it.
   */
  parked?: ConsentChange;
  /** The newest unsubscribe made in Listrak itself that this ledger recorded (reconciliation). */
  listrakUnsubscribe?: { eventId: string; unsubscribeDate: string; method: string };
  /** The run this one started from after the previous run closed idle. */
  restoredFrom?: { runId: string; closedAt: string };
  /** Set when a new run could not read the run before it (it then starts empty). */
  restoreNote?: string;
  /** The change waiting to be applied once the running one has closed. */
  pendingEventId?: string;
  runningEventId?: string;
  /** The run of the change workflow applying it (an attempt of another run must not write). */
  runningRunId?: string;
  /**
   * Set once the person was forgotten (`consent forget`): the erasure record this ledger keeps
   * instead of the email, profile and change records it dropped. Its `desired` then holds the
   * tombstone's opt-out, so a stale opt-in stays refused; a newer one is the person choosing again.
   */
  forgotten?: ForgottenRecord;
  /** In the query answer only: the forget arrived and this run has yet to continue as new without the email. */
  forgetting?: boolean;
}

/** What a ledger keeps of an erasure: when, who asked, and the workflow that carried it out (no email). */
export interface ForgottenRecord {
  at: string;
  atMs: number;
  by: string;
  forgetWorkflowId: string;
}

/** The forget signal's payload: the erasure request as the forget workflow passes it on to each ledger. */
export type ForgetRequest = ForgottenRecord;

/** The record id of the opt-out a forget leaves as the ledger's desired change (a tombstone). */
export function forgetEventId(atMs: number): string {
  return `forget:${new Date(atMs).toISOString()}`;
}

/** Forget workflows: one per person (`consent-forget/<keyed hash>`), never the email itself. */
export const FORGET_WORKFLOW_PREFIX = 'consent-forget/';
export function forgetWorkflowId(emailHash: string): string {
  return `${FORGET_WORKFLOW_PREFIX}${emailHash}`;
}

/** Listrak's Privacy API forget request as the forget workflow follows it, or why Listrak was not asked. */
export type PrivacyRequest =
  | { asked: true; requestId: string; status: string; submittedDate?: string; processedDate?: string | null; polls: number }
  | { asked: false; reason: string };

/** The input of forgetPersonWorkflow: only the keyed hash and where the person's data lives (never the email). */
export interface ForgetInput {
  emailHash: string;
  requestedBy: string;
  requestedAt: string;
  requestedAtMs: number;
  /** Every ledger the person may have (each routed list of each environment). */
  ledgers: LedgerKey[];
  privacy: PrivacyRequest;
  /** Between two status requests to Listrak's Privacy API. */
  pollIntervalMs: number;
  /** Gives up following Listrak's request after this many polls (it stays recorded as PROCESSING). */
  maxPolls?: number;
}

/** What became of one ledger in a forget. */
export interface ForgottenLedger {
  workflowId: string;
  /** `forgotten`: the ledger dropped the email and continued as new; `none`: the person had no ledger there. */
  result: 'forgotten' | 'none';
  /** The run that carries no email (kept; the runs before it were deleted). */
  runId?: string;
  /** The change workflows its records named before it forgot (deleted with the earlier runs). */
  changeWorkflowIds?: string[];
}

/** What a forget workflow reports (its query answer while it runs, its result once done). */
export interface ForgetProgress {
  emailHash: string;
  requestedBy: string;
  requestedAt: string;
  phase: 'forgetting_ledgers' | 'deleting_workflows' | 'following_listrak' | 'done';
  ledgers: ForgottenLedger[];
  /** Closed (or open) workflows that carried the email and were deleted. */
  deletedWorkflows?: number;
  privacy: PrivacyRequest;
  completedAt?: string;
}

/** What a ledger records of a change refused because it is older than a forget. */
export function describeForgottenRefusal(forgotten: ForgottenRecord): string {
  return `not newer than the erasure of ${forgotten.at} (the person asked to be forgotten): not applied`;
}

/** What a ledger returns when it closes idle: everything ordering and de-duplication need. */
export interface LedgerSummary {
  state: LedgerState;
  closedAt: string;
}

/** The previous run of a ledger, as the `previousLedgerRun` local activity found it. */
export interface PreviousLedgerRun {
  summary?: LedgerSummary;
  runId?: string;
}

/** A change workflow's answer to the changeStatus query: where it is now (`done` once it has a result). */
export interface ChangeStatus {
  phase: Extract<ChangeOutcome, 'applying' | 'parked'> | 'done';
  parkedReason?: string;
  listrakCode?: string;
  manualRetries: number;
}

/**
 * What workflows report to their worker process for Prometheus metrics. A sink call is not
 * recorded in history and not repeated on replay.
 */
export type ConsentSinks = {
  metrics: {
    /**
     * A change reached an outcome (parked included: it may later reach another). The worker
     * reads the list from the workflow's id; `route` is the change's, passed along unread.
     */
    changeOutcome(environment: Environment, outcome: ChangeOutcome, route?: string): void;
    duplicate(environment: Environment, route?: string): void;
  };
};

/** Signal and query names, usable from `temporal workflow signal --name …`. */
export const SIGNALS = {
  change: 'consentChange',
  retry: 'retry',
  skip: 'skip',
  /** To a ledger, with an event id: retry or skip a change parked in the ledger itself. */
  retryChange: 'retryChange',
  skipChange: 'skipChange',
  /** To a ledger, from reconciliation: an unsubscribe made in Listrak itself (ListrakUnsubscribe). */
  listrakUnsubscribe: 'listrakUnsubscribe',
  /** To a ledger, from reconciliation in repair mode: write its newest opt-out again (Listrak holds the person subscribed). */
  reapplyOptOut: 'reapplyOptOut',
  /** To a ledger, from reconciliation: Listrak holds subscribed the person whose newest opt-in awaited their double opt-in confirmation. */
  doubleOptInConfirmed: 'doubleOptInConfirmed',
  /** To a ledger, from a forget workflow (ForgetRequest): drop the email and profile, keep a tombstone. */
  forget: 'forgetPerson',
} as const;
export const QUERIES = { ledgerState: 'ledgerState', changeStatus: 'changeStatus', forgetProgress: 'forgetProgress' } as const;
/**
 * Update names (`temporal workflow update execute --name …`): retry or skip a parked change and
 * answer what became of it; refused, with the reason, when the change is not parked. On a change
 * workflow they take no argument; on a ledger, the event id of the change parked there.
 */
export const UPDATES = { retry: 'retryParked', skip: 'skipParked' } as const;

/** The answer of a retry or skip update: the decision taken and the change's outcome after it. */
export interface DecisionOutcome {
  decision: 'retried' | 'skipped';
  eventId: string;
  /** What the change is doing now (a retried change: applying). */
  outcome: ChangeOutcome;
}

/** The ApplicationFailure type of an update refused because the change is not parked. */
export const NOT_PARKED = 'NotParked';

export const SEARCH_ATTRIBUTES = {
  emailHash: 'ConsentEmailHash',
  environment: 'ConsentEnvironment',
  outcome: 'ConsentOutcome',
} as const;

export const LEDGER_WORKFLOW_PREFIX = 'consent-ledger/';

/** Ledger workflow id: one per (environment, list, email). Carries only a keyed hash of the email. */
export function ledgerWorkflowId(key: LedgerKey): string {
  return `${LEDGER_WORKFLOW_PREFIX}${key.environment}/${key.listId ?? 'unconfigured'}/${key.emailHash}`;
}

/** The key of a ledger workflow id (ledgerWorkflowId's inverse), if it is one. */
export function parseLedgerWorkflowId(workflowId: string): LedgerKey | undefined {
  if (!workflowId.startsWith(LEDGER_WORKFLOW_PREFIX)) return undefined;
  const [environment, listId, emailHash, ...rest] = workflowId.slice(LEDGER_WORKFLOW_PREFIX.length).split('/');
  if (!(ENVIRONMENTS as readonly string[]).includes(environment ?? '') || !listId || !emailHash || rest.length > 0) return undefined;
  if (listId !== 'unconfigured' && !/^\d+$/.test(listId)) return undefined;
  return { environment: environment as Environment, listId: listId === 'unconfigured' ? null : Number(listId), emailHash };
}

/**
 * The ledger a workflow belongs to: a ledger's own key, or a change workflow's ledger (named by
 * its per-ledger id, or, for a legacy id, by its parent). Metrics read the list from it.
 */
export function ledgerKeyOfWorkflow(info: { workflowId: string; parent?: { workflowId: string } | undefined }): LedgerKey | undefined {
  const own = parseLedgerWorkflowId(info.workflowId);
  if (own) return own;
  const ledgerId = parseChangeWorkflowId(info.workflowId)?.ledgerWorkflowId ?? info.parent?.workflowId;
  return ledgerId === undefined ? undefined : parseLedgerWorkflowId(ledgerId);
}

/** Event ids as the webhook accepts them: no `/` (change workflow ids split on it) and no quotes (safe in a visibility query). */
export const EVENT_ID = /^[A-Za-z0-9._:-]{1,200}$/;

export const CHANGE_WORKFLOW_PREFIX = 'consent-change/';

/**
 * Child workflow id for one change: unique per ledger, so two people's changes that carry the same
 * Extole event id (a non-unique mapped field, two programs, production and staging) never collide.
 * It starts with the event id (event ids have no `/`), so support finds a change by event id with
 * `WorkflowId STARTS_WITH 'consent-change/<event_id>/'`.
 */
export function changeWorkflowId(key: LedgerKey, eventId: string): string {
  return `${CHANGE_WORKFLOW_PREFIX}${eventId}/${key.environment}/${key.listId ?? 'unconfigured'}/${key.emailHash}`;
}

/** The id of releases before per-ledger ids (one per event id across all ledgers); still open in old ledgers. */
export function legacyChangeWorkflowId(eventId: string): string {
  return `${CHANGE_WORKFLOW_PREFIX}${eventId}`;
}

/** The event id and, for per-ledger ids, the ledger of a change workflow id. */
export function parseChangeWorkflowId(workflowId: string): { eventId: string; ledgerWorkflowId?: string } | undefined {
  if (!workflowId.startsWith(CHANGE_WORKFLOW_PREFIX)) return undefined;
  const [eventId, environment, listId, emailHash, ...rest] = workflowId.slice(CHANGE_WORKFLOW_PREFIX.length).split('/');
  if (!eventId) return undefined;
  if (environment === undefined) return { eventId };
  if (!(ENVIRONMENTS as readonly string[]).includes(environment) || !listId || !emailHash || rest.length > 0) return undefined;
  const key: LedgerKey = { environment: environment as Environment, listId: listId === 'unconfigured' ? null : Number(listId), emailHash };
  return { eventId, ledgerWorkflowId: ledgerWorkflowId(key) };
}

/** What the ordering rule reads of a change. */
export type Ordered = { eventTimeMs: number; type: ConsentType } & Pick<ConsentChange, 'causeEventId' | 'causeEventSequence'>;

/**
 * The ordering rule: newer event time wins; at the same event time, the later of the events one
 * cause raised (Extole's causeEventSequence, when both carry one and the same causeEventId); on a
 * real tie an opt-out beats an opt-in. A change without a sequence is ordered as
 * before sequences existed, so recorded histories replay to the same decisions.
 */
export function supersedes(candidate: Ordered, current: Ordered): boolean {
  if (candidate.eventTimeMs !== current.eventTimeMs) return candidate.eventTimeMs > current.eventTimeMs;
  if (
    candidate.causeEventSequence !== undefined &&
    current.causeEventSequence !== undefined &&
    // Two events of one cause: a sequence without a cause orders nothing (unrelated events).
    candidate.causeEventId !== undefined &&
    candidate.causeEventId === current.causeEventId &&
    candidate.causeEventSequence !== current.causeEventSequence
  ) {
    return candidate.causeEventSequence > current.causeEventSequence;
  }
  return candidate.type === 'opt_out' && current.type === 'opt_in';
}
