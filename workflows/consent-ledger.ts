import {
  CancellationScope,
  ChildWorkflowCancellationType,
  WorkflowIdReusePolicy,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  startChild,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxySinks,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { emailHashKey, environmentKey, outcomeKey } from '../src/temporal/search-attributes';
import {
  NOT_PARKED,
  QUERIES,
  SIGNALS,
  UPDATES,
  changeWorkflowId,
  describeForgottenRefusal,
  describeListrakUnsubscribe,
  forgetEventId,
  desiredOf,
  legacyChangeWorkflowId,
  listrakUnsubscribeDecision,
  listrakUnsubscribeEventId,
  outcomeOfResult,
  parseListrakDate,
  supersedes,
  type ChangeMemo,
  type ChangeRecord,
  type ChangeResult,
  type ConsentChange,
  type ConsentSinks,
  type DecisionOutcome,
  type DoubleOptInConfirmation,
  type ForgetRequest,
  type LedgerKey,
  type LedgerState,
  type LedgerSummary,
  type ListrakUnsubscribe,
  DEFAULT_LEDGER_IDLE_DAYS,
} from '../src/shared';
import type { LedgerActivities } from '../activities';
import { applyConsentChangeWorkflow } from './apply-change';

export const consentChangeSignal = defineSignal<[ConsentChange]>(SIGNALS.change);
export const ledgerStateQuery = defineQuery<LedgerState>(QUERIES.ledgerState);
/** Retry (or skip) the change parked in this ledger, named by its event id. */
export const retryChangeSignal = defineSignal<[string]>(SIGNALS.retryChange);
export const skipChangeSignal = defineSignal<[string]>(SIGNALS.skipChange);
/** From reconciliation: an unsubscribe made in Listrak itself, recorded as an external opt-out when it is the newest change. */
export const listrakUnsubscribeSignal = defineSignal<[ListrakUnsubscribe]>(SIGNALS.listrakUnsubscribe);
/** From reconciliation (repair): Listrak holds the person subscribed although the newest change is an opt-out; write it again. */
export const reapplyOptOutSignal = defineSignal<[{ reason: string }]>(SIGNALS.reapplyOptOut);
/** From reconciliation: the person confirmed the double opt-in of the ledger's newest opt-in (Listrak holds them subscribed). */
export const doubleOptInConfirmedSignal = defineSignal<[DoubleOptInConfirmation]>(SIGNALS.doubleOptInConfirmed);
/** From a forget workflow: drop the email, profile and change records; keep the tombstone; continue as new. */
export const forgetSignal = defineSignal<[ForgetRequest]>(SIGNALS.forget);
/** The same as updates: refused, with the reason, unless that change is parked here; answer what it does now. */
export const retryParkedChangeUpdate = defineUpdate<DecisionOutcome, [string]>(UPDATES.retry);
export const skipParkedChangeUpdate = defineUpdate<DecisionOutcome, [string]>(UPDATES.skip);

/**
 * Patches (see docs/upgrades.md). PER_LEDGER_CHANGE_IDS: change workflow ids carry the ledger's key
 * (before: `consent-change/<event_id>` across all ledgers, so a second person's change with the same
 * event id failed to start and was lost) and a closed-without-outcome change id may be reused.
 * PARK_UNFINISHED_CHANGES: a change workflow that ends without an outcome parks the change in the
 * ledger for a person (before: recorded as `failed`, and nothing retried it).
 */
export const PATCHES = {
  perLedgerChangeIds: 'per-ledger-change-ids',
  parkUnfinishedChanges: 'park-unfinished-changes',
  /** An idle ledger closes after `idleDays`; a new run starts from the closed run's state. */
  closeIdleLedgers: 'close-idle-ledgers',
  /** The listrakUnsubscribe and reapplyOptOut signals of reconciliation (#15). */
  listrakReconciliation: 'listrak-reconciliation',
  /** The doubleOptInConfirmed signal of reconciliation (#14): an opt-in awaiting confirmation becomes applied. */
  doubleOptIn: 'double-opt-in',
  /** The forget signal (`consent forget`, #15): the ledger keeps a tombstone instead of the person's data. */
  forgetPerson: 'forget-person',
  /**
   * A repair's event id numbers after the highest `.repair-N` the ledger holds, not after how many
   * it holds: once old records were trimmed, the count gave an id a kept record already had (two
   * changes with one event id and one change workflow id).
   */
  repairIdAfterHighest: 'repair-id-after-highest',
} as const;

const DAY_MS = 86_400_000;

// A regular activity, not a local one: a local activity's result can reach the workflow in a later
// workflow task than the one whose history records it (when the worker heartbeats a slow task),
// and a replay then runs the code after it earlier and diverges. An activity's completion is an
// event of its own, so replays see it exactly where the run did.
const { previousLedgerRun } = proxyActivities<LedgerActivities>({
  startToCloseTimeout: '10 seconds',
  scheduleToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumAttempts: 3 },
});


/** The change a ledger is applying: its scope (to cancel it) and its change workflow's run, once started. */
interface RunningChange {
  eventId: string;
  scope: CancellationScope;
  runId?: string;
}

/** Changes remembered per email for status and de-duplication (older ones are summarised away). */
export const MAX_RECORDS = 100;
const MAX_OWN_UNSUBSCRIBES = 10;
const DEFAULT_CONTINUE_AS_NEW_AFTER_EVENTS = 4000;

const { metrics } = proxySinks<ConsentSinks>();

export interface LedgerInput {
  key: LedgerKey;
  /** Carried over continue-as-new. */
  state?: LedgerState;
  pending?: ConsentChange;
  /** History length after which the ledger starts a fresh run (tests lower it). */
  continueAsNewAfterEvents?: number;
  /** False where the namespace has no custom search attributes (TEMPORAL_SEARCH_ATTRIBUTES=false). */
  searchAttributes?: boolean;
  /** Days without a change after which the ledger closes (0: never). Default DEFAULT_LEDGER_IDLE_DAYS. */
  idleDays?: number;
}

/**
 * One long-lived workflow per (environment, list, email): it holds the ordering state and applies
 * consent changes one at a time through child workflows, newest event time first, opt-out on ties.
 */
export async function consentLedgerWorkflow(input: LedgerInput): Promise<LedgerSummary | void> {
  let pending = input.pending;
  let running: RunningChange | undefined;
  // A forget arrived: this run continues as new (without the email) at the next quiet point.
  let forgetting = false;
  // A query may come while a new run reads its previous one: it answers the state as it is then.
  let queried: LedgerState = input.state ?? emptyState(input.key);
  // Undefined fields are left out of the query's JSON answer.
  setHandler(ledgerStateQuery, () => ({
    ...queried,
    pendingEventId: pending?.eventId,
    runningEventId: running?.eventId,
    runningRunId: running?.runId,
    forgetting: forgetting || undefined,
  }) satisfies LedgerState);
  // A new run (not a continue-as-new) starts from the state of the run that closed idle, if any.
  // Before any signal handler is set, so that the signal that started this run meets the restored state.
  const restored = input.state === undefined && patched(PATCHES.closeIdleLedgers) ? await restorePreviousRun(input.key) : undefined;
  const state: LedgerState = input.state ?? restored ?? queried;
  queried = state;
  const idleDays = input.idleDays ?? DEFAULT_LEDGER_IDLE_DAYS;
  const historyLimit = input.continueAsNewAfterEvents ?? DEFAULT_CONTINUE_AS_NEW_AFTER_EVENTS;
  const indexed = input.searchAttributes ?? true;

  // Read through a function: signal handlers change `pending` while the main loop awaits.
  const pendingId = (): string | undefined => pending?.eventId;
  const recordOf = (eventId: string) => state.changes.find((record) => record.eventId === eventId);
  // The route is passed to the metrics (and copied into the records) as data: nothing decides on it.
  const reported = (record: ChangeRecord) => metrics.changeOutcome(state.key.environment, record.outcome, record.route);
  // ConsentOutcome on a ledger is set only while it holds a parked change (each upsert is an action).
  let ledgerMarkedParked = state.parked !== undefined;
  const markParked = (parked: boolean) => {
    if (!indexed || parked === ledgerMarkedParked) return;
    ledgerMarkedParked = parked;
    upsertSearchAttributes([{ key: outcomeKey, value: parked ? 'parked' : 'resolved' }]);
  };

  setHandler(consentChangeSignal, (change) => {
    // A forgotten person's email comes back only with a change that is applied (the person chose again).
    if (state.email === '' && !state.forgotten) state.email = change.email;
    const known = recordOf(change.eventId);
    if (known?.outcome === 'failed' && state.desired?.eventId === change.eventId && !pending && !running && patched(PATCHES.parkUnfinishedChanges)) {
      // Recorded as failed by a release before PARK_UNFINISHED_CHANGES and still the newest
      // change: delivered again, it is applied now (the new change workflow id cannot collide).
      known.outcome = 'pending';
      known.detail = 'delivered again after an earlier release recorded it as failed';
      pending = change;
      return;
    }
    if (known) {
      // A redelivery (Extole retries, replays, or the API retried the signal): never a second write.
      known.duplicatesSeen++;
      metrics.duplicate(state.key.environment, change.route);
      return;
    }
    const record: ChangeRecord = {
      eventId: change.eventId,
      eventTime: change.eventTime,
      eventTimeMs: change.eventTimeMs,
      type: change.type,
      receivedAt: change.receivedAt,
      outcome: 'pending',
      duplicatesSeen: 0,
    };
    // Absent in changes recorded before routes were named: their records' JSON stays as it was.
    if (change.route !== undefined) record.route = change.route;
    state.changes.push(record);
    if (state.desired && !supersedes(change, state.desired)) {
      record.outcome = 'superseded';
      // Refused without a Listrak read when the newest change is an unsubscribe made in Listrak.
      const external = state.listrakUnsubscribe?.eventId === state.desired.eventId ? state.listrakUnsubscribe : undefined;
      const tombstone = state.forgotten && state.desired.eventId === forgetEventId(state.forgotten.atMs) ? state.forgotten : undefined;
      record.detail = external
        ? `not newer than the opt-out ${describeListrakUnsubscribe(external)}`
        : tombstone
          ? describeForgottenRefusal(tombstone)
          : `not newer than ${state.desired.type} ${state.desired.eventId} of ${state.desired.eventTime}`;
      reported(record);
      trimRecords(state, pending?.eventId, running?.eventId);
      return;
    }
    if (state.parked) {
      const parkedRecord = recordOf(state.parked.eventId);
      if (parkedRecord) {
        parkedRecord.outcome = 'superseded';
        parkedRecord.detail = `parked, then replaced by the newer ${change.type} ${change.eventId}`;
        reported(parkedRecord);
      }
      delete state.parked;
      markParked(false);
    }
    if (pending) {
      const waiting = recordOf(pending.eventId);
      if (waiting) {
        waiting.outcome = 'superseded';
        waiting.detail = `replaced before it was applied by ${change.type} ${change.eventId}`;
        reported(waiting);
      }
    }
    pending = change;
    if (state.email === '') state.email = change.email;
    // With the cause's fields when the change has them (supersedes reads them); the same object otherwise.
    state.desired = desiredOf(change);
    // The running change is older: cancel it; the child closes before the newer one starts.
    running?.scope.cancel();
    trimRecords(state, pending.eventId, running?.eventId);
  });

  /** Marks the change waiting to be applied (or parked) as replaced by something newer. */
  const supersedeWaiting = (detail: string) => {
    for (const eventId of [pending?.eventId, state.parked?.eventId]) {
      const waiting = eventId === undefined ? undefined : recordOf(eventId);
      if (!waiting) continue;
      waiting.outcome = 'superseded';
      waiting.detail = detail;
      reported(waiting);
    }
    pending = undefined;
    if (state.parked) {
      delete state.parked;
      markParked(false);
    }
  };

  setHandler(listrakUnsubscribeSignal, (unsubscribe) => {
    if (!patched(PATCHES.listrakReconciliation)) return;
    // A sweep may still find a forgotten person in Listrak until its forget completes: not their address again.
    if (state.email === '' && !state.forgotten) state.email = unsubscribe.email;
    const decision = listrakUnsubscribeDecision(state, unsubscribe.unsubscribedAtMs);
    if (decision === 'known') {
      const known = recordOf(listrakUnsubscribeEventId(unsubscribe.unsubscribedAtMs));
      if (known) known.duplicatesSeen++;
      return;
    }
    // Our own unsubscribe, or a change at least as new (an Extole opt-in after it still wins).
    if (decision !== 'record') return;
    const eventId = listrakUnsubscribeEventId(unsubscribe.unsubscribedAtMs);
    const detail = describeListrakUnsubscribe(unsubscribe);
    const eventTime = new Date(unsubscribe.unsubscribedAtMs).toISOString();
    supersedeWaiting(`replaced before it was applied by the newer opt-out ${detail}`);
    state.changes.push({
      eventId,
      eventTime,
      eventTimeMs: unsubscribe.unsubscribedAtMs,
      type: 'opt_out',
      receivedAt: new Date().toISOString(),
      // Listrak holds it already: nothing to write.
      outcome: 'applied',
      detail: `external opt-out: ${detail}`,
      duplicatesSeen: 0,
    });
    state.desired = { eventId, type: 'opt_out', eventTime, eventTimeMs: unsubscribe.unsubscribedAtMs };
    state.listrakUnsubscribe = { eventId, unsubscribeDate: unsubscribe.unsubscribeDate, method: unsubscribe.method };
    // A running change is older than this opt-out: cancel it, as a newer Extole change would.
    running?.scope.cancel();
    trimRecords(state, undefined, running?.eventId);
  });

  setHandler(forgetSignal, (request) => {
    if (!patched(PATCHES.forgetPerson)) return;
    // Nothing of the person waits to be written any more: Listrak is asked to forget them too.
    pending = undefined;
    if (state.parked) {
      delete state.parked;
      markParked(false);
    }
    running?.scope.cancel();
    state.email = '';
    state.changes = [];
    delete state.listrakUnsubscribe;
    delete state.restoredFrom;
    delete state.restoreNote;
    // The tombstone: an opt-out at the time of the request, unless a newer change already holds
    // (the ordering keys of desired/applied stay: they carry no personal data).
    if (!state.desired || supersedes({ eventTimeMs: request.atMs, type: 'opt_out' }, state.desired)) {
      state.desired = { eventId: forgetEventId(request.atMs), type: 'opt_out', eventTime: request.at, eventTimeMs: request.atMs };
    }
    state.forgotten = { at: request.at, atMs: request.atMs, by: request.by, forgetWorkflowId: request.forgetWorkflowId };
    forgetting = true;
    log.info('person forgotten in this ledger: continuing as new without the email');
  });

  setHandler(reapplyOptOutSignal, ({ reason }) => {
    if (!patched(PATCHES.listrakReconciliation)) return;
    const desired = state.desired;
    // Only the newest change, only an opt-out, and not while one is on its way already.
    if (desired?.type !== 'opt_out' || pending || running || state.email === '') return;
    const base = desired.eventId.replace(/\.repair-\d+$/, '');
    const repairs = state.changes.filter((record) => record.eventId.startsWith(`${base}.repair-`));
    const eventId = `${base}.repair-${(patched(PATCHES.repairIdAfterHighest) ? highestRepair(base, [desired.eventId, ...repairs.map((record) => record.eventId)]) : repairs.length) + 1}`;
    const change: ConsentChange = {
      eventId,
      eventTime: desired.eventTime,
      eventTimeMs: desired.eventTimeMs,
      type: 'opt_out',
      environment: state.key.environment,
      email: state.email,
      profile: {},
      receivedAt: new Date().toISOString(),
    };
    const { eventTime, eventTimeMs, receivedAt } = change;
    const record: ChangeRecord = { eventId, eventTime, eventTimeMs, type: 'opt_out', receivedAt, outcome: 'pending', detail: `written again: ${reason}`, duplicatesSeen: 0 };
    // Written again through the route of the opt-out it repeats (carried along as data).
    const route = recordOf(desired.eventId)?.route;
    if (route !== undefined) {
      change.route = route;
      record.route = route;
    }
    state.changes.push(record);
    state.desired = { eventId, type: 'opt_out', eventTime: desired.eventTime, eventTimeMs: desired.eventTimeMs };
    pending = change;
    trimRecords(state, eventId, undefined);
  });

  setHandler(doubleOptInConfirmedSignal, (confirmed) => {
    if (!patched(PATCHES.doubleOptIn)) return;
    const record = recordOf(confirmed.eventId);
    // Only the newest change, still waiting: a newer change (an opt-out) decides instead.
    if (record?.outcome !== 'awaiting_confirmation' || record.type !== 'opt_in' || state.desired?.eventId !== confirmed.eventId) return;
    record.outcome = 'applied';
    record.detail = `double opt-in confirmed by the person: subscribed in Listrak since ${confirmed.subscribeDate} (method ${confirmed.method})`;
    const confirmedAtMs = parseListrakDate(confirmed.subscribeDate);
    state.applied = {
      eventId: record.eventId,
      type: 'opt_in',
      eventTime: record.eventTime,
      eventTimeMs: record.eventTimeMs,
      // The person's confirmation, as Listrak dates it (workflow time when it has no readable date).
      appliedAt: new Date(confirmedAtMs ?? Date.now()).toISOString(),
    };
    reported(record);
  });

  /** Retries the change parked here if it is `eventId`; whether it did. */
  const retryParked = (eventId: string): boolean => {
    const parked = state.parked;
    if (parked?.eventId !== eventId) return false;
    const record = recordOf(eventId);
    delete state.parked;
    markParked(false);
    if (record) {
      record.outcome = 'pending';
      record.detail = 'retried by a person after it was parked';
    }
    pending = parked;
    return true;
  };
  const skipParked = (eventId: string): boolean => {
    if (state.parked?.eventId !== eventId) return false;
    const record = recordOf(eventId);
    delete state.parked;
    markParked(false);
    if (record) {
      record.outcome = 'skipped';
      record.detail = `skipped by a person while parked: ${record.detail ?? ''}`;
      reported(record);
    }
    return true;
  };
  setHandler(retryChangeSignal, (eventId) => void retryParked(eventId));
  setHandler(skipChangeSignal, (eventId) => void skipParked(eventId));

  const parkedHere = (eventId: string) => {
    if (state.parked?.eventId === eventId) return;
    const reason = state.parked
      ? `the change parked in this ledger is ${state.parked.eventId}, not ${eventId}`
      : `no change is parked in this ledger (${eventId} is ${recordOf(eventId)?.outcome ?? 'not known to it'})`;
    throw ApplicationFailure.nonRetryable(reason, NOT_PARKED);
  };
  setHandler(
    retryParkedChangeUpdate,
    async (eventId): Promise<DecisionOutcome> => {
      retryParked(eventId);
      // The main loop starts it in this same workflow task (nothing else runs while a change is parked).
      await condition(() => recordOf(eventId)?.outcome !== 'pending');
      return { decision: 'retried', eventId, outcome: recordOf(eventId)?.outcome ?? 'applying' };
    },
    { validator: parkedHere },
  );
  setHandler(
    skipParkedChangeUpdate,
    (eventId): DecisionOutcome => {
      skipParked(eventId);
      return { decision: 'skipped', eventId, outcome: 'skipped' };
    },
    { validator: parkedHere },
  );

  for (;;) {
    const wake = () => pending !== undefined || forgetting || workflowInfo().historyLength > historyLimit || workflowInfo().continueAsNewSuggested;
    const closesIdle = idleDays > 0 && patched(PATCHES.closeIdleLedgers);
    const woken = closesIdle ? await condition(wake, idleDays * DAY_MS) : (await condition(wake), true);
    if (!woken) {
      // Idle: close unless a change waits for a person. The next change starts a new run, which
      // restores this state from the result (see restorePreviousRun).
      if (state.parked !== undefined) continue;
      await condition(allHandlersFinished);
      if (pending !== undefined) continue;
      log.info('ledger idle: closing', { idleDays });
      return { state, closedAt: new Date().toISOString() };
    }
    if (pending === undefined) {
      // Only ever between changes: no child is running here.
      await condition(allHandlersFinished);
      if (pending === undefined) {
        await continueAsNew<typeof consentLedgerWorkflow>({
          key: state.key,
          state,
          continueAsNewAfterEvents: historyLimit,
          searchAttributes: indexed,
          // Left out of the payload when undefined, as before.
          idleDays: input.idleDays,
        });
      }
      continue;
    }
    const change: ConsentChange = pending;
    pending = undefined;
    const record = recordOf(change.eventId);
    if (!record) continue;
    if (change.notSentReason !== undefined || state.key.listId === null) {
      record.outcome = 'not_sent';
      record.detail = change.notSentReason ?? `no Listrak list is configured for ${state.key.environment}`;
      reported(record);
      continue;
    }
    record.outcome = 'applying';
    const perLedgerIds = patched(PATCHES.perLedgerChangeIds);
    const childId = perLedgerIds ? changeWorkflowId(state.key, change.eventId) : legacyChangeWorkflowId(change.eventId);
    record.changeWorkflowId = childId;
    const scope = new CancellationScope();
    const current: RunningChange = { eventId: change.eventId, scope };
    running = current;
    try {
      const listId = state.key.listId;
      // startChild, then its result: the same commands as executeChild, and the run id, which the
      // activity compares before a subscribe (an attempt of a run that ended must not write).
      const result = await scope.run(async () => {
        const child = await startChild(applyConsentChangeWorkflow, {
          workflowId: childId,
          args: [
            { change, listId, ownUnsubscribes: [...state.ownUnsubscribes], ledgerWorkflowId: workflowInfo().workflowId },
            { searchAttributes: indexed },
          ],
          cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
          // A completed change is never run twice; one that ended without an outcome (terminated,
          // failed) may run again under its id when a person retries it.
          workflowIdReusePolicy: perLedgerIds
            ? WorkflowIdReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY
            : WorkflowIdReusePolicy.REJECT_DUPLICATE,
          // For lists of recent changes (live view) without reading each history; no email in it.
          memo: changeMemo(change),
          typedSearchAttributes: indexed
            ? [
                { key: emailHashKey, value: state.key.emailHash },
                { key: environmentKey, value: state.key.environment },
              ]
            : [],
        });
        current.runId = child.firstExecutionRunId;
        return child.result();
      });
      recordResult(state, record, change, result);
    } catch (error) {
      if (isCancellation(error)) {
        record.outcome = 'superseded';
        record.detail = `cancelled while applying: newer change ${state.desired?.eventId ?? ''} arrived`;
      } else if (!patched(PATCHES.parkUnfinishedChanges)) {
        record.outcome = 'failed';
        record.detail = error instanceof Error ? error.message : String(error);
        log.error('change workflow failed', { eventId: change.eventId, error: record.detail });
      } else if (error instanceof WorkflowExecutionAlreadyStartedError) {
        // Per-ledger ids: this person's change with this event id already completed (its record
        // was trimmed away or the ledger restarted): the redelivery is not written again.
        record.outcome = 'duplicate';
        record.detail = `already completed by ${childId}; not written again`;
      } else {
        record.outcome = 'parked';
        record.detail = `change workflow ${childId} ended without an outcome (${describeFailure(error)}); retry or skip it`;
        state.parked = change;
        markParked(true);
        log.warn('change parked in its ledger until a person sends retryChange or skipChange', { eventId: change.eventId });
      }
    } finally {
      running = undefined;
    }
    reported(record);
    trimRecords(state, pendingId(), undefined);
  }
}

/**
 * The state of this ledger's newest run that closed idle (its result), read by an activity.
 * Within the namespace's retention that run is there; after it, or where visibility cannot answer,
 * the ledger starts empty and Listrak's own dates decide (docs/architecture.md, "Idle ledgers").
 */
async function restorePreviousRun(key: LedgerKey): Promise<LedgerState | undefined> {
  const found = await previousLedgerRun(workflowInfo().workflowId).catch((error: unknown) => ({
    unavailable: error instanceof Error ? error.message : String(error),
  }));
  if ('unavailable' in found) {
    log.warn('the previous ledger run could not be read; starting empty', { reason: found.unavailable });
    return { ...emptyState(key), restoreNote: `the previous run could not be read: ${found.unavailable}` };
  }
  if (!found.summary) return undefined;
  return { ...found.summary.state, key, restoredFrom: { runId: found.runId ?? '', closedAt: found.summary.closedAt } };
}

/** The memo of a change workflow (no email): its route only when the change names one, so older changes' memos are as before. */
function changeMemo(change: ConsentChange): ChangeMemo {
  const memo: ChangeMemo = { type: change.type, environment: change.environment, eventTime: change.eventTime };
  if (change.route !== undefined) memo.route = change.route;
  return memo;
}

/** A ledger that knows nothing yet. */
function emptyState(key: LedgerKey): LedgerState {
  return { key, email: '', ownUnsubscribes: [], changes: [] };
}

/** What ended a change workflow, for people: its kind and the failure's message (a termination's reason is only in the child's history). */
function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? error.cause : undefined;
  const kind = cause?.name === 'TerminatedFailure' ? 'terminated' : cause?.name === 'TimeoutFailure' ? 'timed out' : 'failed';
  return cause?.message ? `${kind}: ${cause.message}` : `${kind}: ${error.message}`;
}

function recordResult(state: LedgerState, record: ChangeRecord, change: ConsentChange, result: ChangeResult): void {
  // Only what the result says is written: a detail or code it does not carry stays as it was.
  const { outcome, detail, listrakCode } = outcomeOfResult(result);
  record.outcome = outcome;
  if (listrakCode !== undefined) record.listrakCode = listrakCode;
  if (detail !== undefined) record.detail = detail;
  if (result.outcome !== 'applied') return;
  state.applied = {
    eventId: change.eventId,
    type: change.type,
    eventTime: change.eventTime,
    eventTimeMs: change.eventTimeMs,
    appliedAt: new Date(result.writeFinishedAtMs).toISOString(),
  };
  if (change.type === 'opt_out') {
    state.ownUnsubscribes.push({
      eventTimeMs: change.eventTimeMs,
      writeStartedAtMs: result.writeStartedAtMs,
      writeFinishedAtMs: result.writeFinishedAtMs,
    });
    state.ownUnsubscribes.splice(0, Math.max(0, state.ownUnsubscribes.length - MAX_OWN_UNSUBSCRIBES));
  }
}

/** The highest N of the ids `<base>.repair-N` among these (0 when none is). */
function highestRepair(base: string, eventIds: string[]): number {
  let highest = 0;
  for (const id of eventIds) {
    if (!id.startsWith(`${base}.repair-`)) continue;
    const n = Number(id.slice(base.length + '.repair-'.length));
    if (Number.isInteger(n) && n > highest) highest = n;
  }
  return highest;
}

/** Keeps the record list bounded, dropping the oldest finished changes first. */
function trimRecords(state: LedgerState, pendingId: string | undefined, runningId: string | undefined): void {
  while (state.changes.length > MAX_RECORDS) {
    const index = state.changes.findIndex(
      (record) =>
        record.eventId !== pendingId && record.eventId !== runningId && record.eventId !== state.desired?.eventId,
    );
    if (index < 0) return;
    state.changes.splice(index, 1);
  }
}
