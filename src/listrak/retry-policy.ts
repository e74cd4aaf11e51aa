/**
 * What happens after a Listrak failure, as data: the one table the client's quick retries, the
 * activity's failure mapping and the change workflow's retry options all read. Workflow code
 * imports this module, so it stays pure data (no Node built-ins, no I/O).
 */

export type ListrakErrorKind =
  /** 429, 5xx, ERROR_UNHANDLED_EXCEPTION, network errors, timeouts. */
  | 'transient'
  /** 401 on an API call that persisted after one fresh token. */
  | 'token'
  /** Credentials, list or permissions are wrong. */
  | 'operator'
  /** Nothing we can send will succeed for this contact. */
  | 'final'
  /** The wanted state already holds (a retried write whose first answer was lost). */
  | 'already_done'
  /** We sent something Listrak cannot accept: configuration or mapping error. */
  | 'request';

/**
 * What a change does after the failure:
 * - `durable_retry`: the activity attempt fails retryably; Temporal retries it with backoff
 *   (TRANSIENT_RETRY_WINDOW), then the change parks.
 * - `park`: the attempt fails non-retryably; the change waits for a person (retry or skip).
 * - `final`: the change ends `rejected`; no retry will help.
 * - `already_done`: the write counts as success (the state holds already).
 * - `drop_value`: one profile value was refused, not the contact: the opt-in is applied without it
 *   (`droppedFields`). An answer with no value of ours to drop parks.
 * - `abandon`: the attempt fails non-retryably and writes nothing; no one waits for it (its change
 *   workflow run has ended or is no longer its ledger's), so it is not listed as parking.
 * - `awaiting_confirmation`: an opt-in whose person is already pending a double opt-in in Listrak:
 *   the change ends waiting for their confirmation, as a double opt-in write does (not a failure).
 *   For an opt-out the kind's decision holds.
 */
export type AfterFailure = 'durable_retry' | 'park' | 'final' | 'already_done' | 'drop_value' | 'abandon' | 'awaiting_confirmation';

/**
 * Whether the client repeats the request in-process before the activity's durable retry:
 * `reads` only for GETs (a repeated write could raise its opt-in events twice), `reads_and_writes`
 * when Listrak certainly did not process the request, `no` never.
 */
export type QuickRetry = 'no' | 'reads' | 'reads_and_writes';

export interface FailurePolicy {
  then: AfterFailure;
  quickRetry: QuickRetry;
}

/**
 * By kind. The key order is the order of the change workflow's `nonRetryableErrorTypes` (part of
 * each ScheduleActivityTask command); `errorType` is the ApplicationFailure type the activity throws.
 */
export const POLICY_BY_KIND = {
  transient: { errorType: 'ListrakTransientError', then: 'durable_retry', quickRetry: 'reads' },
  operator: { errorType: 'ListrakOperatorError', then: 'park', quickRetry: 'no' },
  token: { errorType: 'ListrakTokenError', then: 'park', quickRetry: 'no' },
  request: { errorType: 'ListrakRequestError', then: 'park', quickRetry: 'no' },
  final: { errorType: 'ListrakFinalError', then: 'final', quickRetry: 'no' },
  already_done: { errorType: 'ListrakAlreadyDoneError', then: 'already_done', quickRetry: 'no' },
} as const satisfies Record<ListrakErrorKind, FailurePolicy & { errorType: string }>;

/** Where a transient failure's quick retry differs from its kind's, by Listrak code or HTTP status. */
export const QUICK_RETRY_BY_CODE: Readonly<Record<string, QuickRetry>> = {
  /** A timeout already used a whole request's time: left to the activity's backoff. */
  TIMEOUT: 'no',
  /** Nothing reached Listrak. */
  CONNECTION_REFUSED: 'reads_and_writes',
};
export const QUICK_RETRY_BY_STATUS: Readonly<Record<number, QuickRetry>> = {
  /** Rate limited or unavailable: Listrak did not process the request. */
  429: 'reads_and_writes',
  503: 'reads_and_writes',
};

/** Where a code's decision differs from its kind's (`request`, and the pending double opt-in's `final`). */
export const THEN_BY_CODE = {
  ERROR_PENDING_EMAIL_ADDRESS: 'awaiting_confirmation',
  ERROR_SEGMENTATION_MAX_LENGTH: 'drop_value',
  ERROR_SEGMENTATION_FIELD_DISABLED: 'drop_value',
  ERROR_INVALID_SEGMENTATION_FIELD_ID: 'drop_value',
  ERROR_SEGMENTATION_FIELD_DEFINED_TWICE: 'drop_value',
} as const satisfies Record<string, AfterFailure>;

/** Failures of the activity that are not Listrak answers, by ApplicationFailure type. */
export const POLICY_BY_FAILURE_TYPE = {
  /** No credentials for the change's list in this worker's configuration. */
  ListrakNotConfigured: 'park',
  /** The ledger could not be asked before a subscribe: no subscribe goes out without its answer. */
  LedgerUnavailable: 'durable_retry',
  /** The ledger no longer runs this change workflow run (terminated, or retried as a new run). */
  ChangeNoLongerRunning: 'abandon',
} as const satisfies Record<string, 'durable_retry' | 'park' | 'abandon'>;

export type ActivityFailureType = keyof typeof POLICY_BY_FAILURE_TYPE;

/** The decision for one Listrak failure: its code's, else its kind's. */
export function afterFailure(failure: { kind: ListrakErrorKind; code: string }): AfterFailure {
  return (THEN_BY_CODE as Readonly<Record<string, AfterFailure>>)[failure.code] ?? POLICY_BY_KIND[failure.kind].then;
}

/** The quick-retry rule of one failure: the code's, else the status's (transient only), else the kind's. */
export function quickRetryFor(failure: { kind: ListrakErrorKind; status: number; code: string }): QuickRetry {
  const kindRule = POLICY_BY_KIND[failure.kind].quickRetry;
  if (kindRule === 'no') return 'no';
  return QUICK_RETRY_BY_CODE[failure.code] ?? QUICK_RETRY_BY_STATUS[failure.status] ?? kindRule;
}

/** Whether the client may repeat this request now (`done` quick retries already made, of `allowed`). */
export function mayRetryQuickly(method: 'GET' | 'POST', failure: { kind: ListrakErrorKind; status: number; code: string }, done: number, allowed: number): boolean {
  if (done >= allowed) return false;
  const rule = quickRetryFor(failure);
  return rule === 'reads_and_writes' || (rule === 'reads' && method === 'GET');
}

/**
 * ApplicationFailure types the activity's retry policy never retries: everything that parks.
 * (The activity also throws them non-retryable; listing them keeps the policy readable in the UI.)
 * The change workflow schedules its activity with this list, and open histories hold it: `abandon`
 * stays off it, so adding ChangeNoLongerRunning left the list as it was.
 */
export const NON_RETRYABLE_ERROR_TYPES: readonly string[] = [
  ...Object.values(POLICY_BY_KIND)
    .filter((policy) => policy.then === 'park')
    .map((policy) => policy.errorType),
  ...Object.entries(POLICY_BY_FAILURE_TYPE)
    .filter(([, then]) => then === 'park')
    .map(([type]) => type),
];
