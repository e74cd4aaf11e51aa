import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  isCancellation,
  log,
  proxyActivities,
  proxySinks,
  setHandler,
  setWorkflowOptions,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { ListrakActivities } from '../activities';
import { NON_RETRYABLE_ERROR_TYPES } from '../src/listrak/retry-policy';
import { outcomeKey } from '../src/temporal/search-attributes';
import { NOT_PARKED, QUERIES, SIGNALS, UPDATES, type ApplyChangeInput, type ChangeResult, type ChangeStatus, type ConsentSinks, type DecisionOutcome } from '../src/shared';

export type { ChangeResult } from '../src/shared';

export const retrySignal = defineSignal(SIGNALS.retry);
export const skipSignal = defineSignal(SIGNALS.skip);
export const changeStatusQuery = defineQuery<ChangeStatus>(QUERIES.changeStatus);
/** Retry (or skip) this change while it is parked, and answer what it does now; refused otherwise. */
export const retryUpdate = defineUpdate<DecisionOutcome>(UPDATES.retry);
export const skipUpdate = defineUpdate<DecisionOutcome>(UPDATES.skip);

/** How long transient Listrak failures are retried before the change is parked for a person. */
export const TRANSIENT_RETRY_WINDOW = '3 days';
/** The longest pause between two attempts of a change (the backoff doubles from 1 s up to it). */
export const MAXIMUM_RETRY_INTERVAL_MS = 5 * 60_000;

const { applyConsentChange } = proxyActivities<ListrakActivities>({
  // An attempt makes at most a handful of requests, each bounded by LISTRAK_TIMEOUT_MS (≤ 25 s) and
  // preceded by a heartbeat: a worker that dies mid-attempt is noticed within 30 s.
  startToCloseTimeout: '3 minutes',
  heartbeatTimeout: '30 seconds',
  scheduleToCloseTimeout: TRANSIENT_RETRY_WINDOW,
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: MAXIMUM_RETRY_INTERVAL_MS,
    // Everything the retry policy parks (src/listrak/retry-policy.ts).
    nonRetryableErrorTypes: [...NON_RETRYABLE_ERROR_TYPES],
  },
  // Wait for a running Listrak call to finish before reporting cancellation, so that the ledger
  // never starts a newer write for the same email while an older one is still on the wire.
  cancellationType: 'WAIT_CANCELLATION_COMPLETED',
});

const { metrics } = proxySinks<ConsentSinks>();

// Worker versioning (docs/upgrades.md): a change finishes on the build it started on (ledgers take
// the worker's default, AUTO_UPGRADE). Declared only where the first task ran on a versioned worker
// (a deployment name; from history on replay): the server refuses tasks of an unversioned worker
// that declare a behaviour, and a change started unversioned was never pinned.
setWorkflowOptions(() => (workflowInfo().currentDeploymentVersion?.deploymentName ? { versioningBehavior: 'PINNED' } : {}), applyConsentChangeWorkflow);

/**
 * Applies one consent change to Listrak. Transient failures retry inside the activity's retry
 * policy; failures a person must fix park the change until a `retry` or `skip` signal.
 */
export async function applyConsentChangeWorkflow(
  input: ApplyChangeInput,
  { searchAttributes = true }: { searchAttributes?: boolean } = {},
): Promise<ChangeResult> {
  // ConsentOutcome is set only once a change has been parked (each upsert is a billable action):
  // `ConsentOutcome="parked"` lists what waits for a person; a change that never parked has none.
  let everParked = false;
  const setOutcome = (value: string) => {
    if (searchAttributes && (everParked || value === 'parked')) upsertSearchAttributes([{ key: outcomeKey, value }]);
    if (value === 'parked') everParked = true;
  };
  const status: ChangeStatus = { phase: 'applying', manualRetries: 0 };
  let decision: 'retry' | 'skip' | undefined;
  setHandler(changeStatusQuery, () => status);
  setHandler(retrySignal, () => {
    if (status.phase === 'parked') decision = 'retry';
  });
  setHandler(skipSignal, () => {
    if (status.phase === 'parked') decision = 'skip';
  });
  // Updates: the same decisions, checked and answered in one round trip (no query-then-signal race).
  const parkedOnly = () => {
    if (status.phase !== 'parked') throw ApplicationFailure.nonRetryable(`the change is not parked (it is ${status.phase})`, NOT_PARKED);
    if (decision !== undefined) throw ApplicationFailure.nonRetryable(`a ${decision} of this change is already on its way`, NOT_PARKED);
  };
  setHandler(
    retryUpdate,
    async (): Promise<DecisionOutcome> => {
      decision = 'retry';
      // The main loop takes the decision in this same workflow task.
      await condition(() => status.phase !== 'parked');
      return { decision: 'retried', eventId: input.change.eventId, outcome: 'applying' };
    },
    { validator: parkedOnly },
  );
  // Synchronous: the workflow completes right after a skip, and an update must finish before it does.
  setHandler(
    skipUpdate,
    (): DecisionOutcome => {
      decision = 'skip';
      return { decision: 'skipped', eventId: input.change.eventId, outcome: 'skipped' };
    },
    { validator: parkedOnly },
  );

  for (;;) {
    try {
      const result = await applyConsentChange(input);
      status.phase = 'done';
      setOutcome(result.outcome);
      return result;
    } catch (error) {
      if (isCancellation(error)) throw error;
      const failure = error instanceof ActivityFailure ? error.cause : undefined;
      const code = failure instanceof ApplicationFailure ? detailCode(failure) : undefined;
      status.phase = 'parked';
      status.parkedReason = failure?.message ?? String(error);
      if (code !== undefined) status.listrakCode = code;
      else delete status.listrakCode;
      setOutcome('parked');
      metrics.changeOutcome(input.change.environment, 'parked', input.change.route);
      log.warn('change parked until a person sends retry or skip', { eventId: input.change.eventId, code });
    }
    await condition(() => decision !== undefined);
    if (decision === 'skip') {
      status.phase = 'done';
      setOutcome('skipped');
      return { outcome: 'skipped', reason: `skipped by an operator while parked: ${status.parkedReason ?? ''}` };
    }
    decision = undefined;
    status.manualRetries++;
    status.phase = 'applying';
    setOutcome('applying');
  }
}

function detailCode(failure: ApplicationFailure): string | undefined {
  const first = failure.details?.[0] as { code?: unknown } | undefined;
  return typeof first?.code === 'string' ? first.code : undefined;
}
