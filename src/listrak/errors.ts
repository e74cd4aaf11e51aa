/**
 * Listrak failures, one class per kind. Which kind a code is is decided here, as data (the table
 * below mirrors the error table in Listrak's facts for this project); what happens after each kind
 * (and the few codes that differ from their kind) is decided in ./retry-policy.ts, not in callers.
 */

import { POLICY_BY_KIND, type ListrakErrorKind } from './retry-policy';

export type { ListrakErrorKind } from './retry-policy';

export const KIND_BY_CODE: Readonly<Record<string, ListrakErrorKind>> = {
  ERROR_UNHANDLED_EXCEPTION: 'transient',
  ERROR_UNAUTHORIZED: 'token',
  ERROR_INVALID_CREDENTIALS: 'operator',
  ERROR_INVALID_LIST_ID: 'operator',
  ERROR_LIST_INACTIVE: 'operator',
  ERROR_UNABLE_TO_LOCATE_RESOURCE: 'operator',
  ERROR_INTEGRATION_CANNOT_ACCESS_BETA_ROUTE: 'operator',
  ERROR_INVALID_EMAIL_ADDRESS: 'final',
  ERROR_BANNED_EMAIL_ADDRESS: 'final',
  ERROR_SUPPRESSED_EMAIL: 'final',
  ERROR_PENDING_EMAIL_ADDRESS: 'final',
  ERROR_SUBSCRIBED_EMAIL_ADDRESS: 'already_done',
  ERROR_UNSUBSCRIBED_EMAIL_ADDRESS: 'already_done',
  ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS: 'already_done',
  ERROR_INVALID_PARAMETER: 'request',
  ERROR_MALFORMED_REQUEST_BODY: 'request',
  ERROR_UNSUPPORTED_CONTENT_TYPE: 'request',
  ERROR_UNSUBSCRIBE_WITH_SEGMENTATION_DATA: 'request',
  ERROR_UNSUBSCRIBE_WITH_EVENTS: 'request',
  ERROR_SEGMENTATION_FIELD_DEFINED_TWICE: 'request',
  ERROR_SEGMENTATION_MAX_LENGTH: 'request',
  ERROR_SEGMENTATION_FIELD_DISABLED: 'request',
  ERROR_INVALID_SEGMENTATION_FIELD_ID: 'request',
  ERROR_INVALID_EVENT_ID: 'request',
  ERROR_UPDATE_UNSUBSCRIBE_WITH_EVENTS: 'request',
  ERROR_TOO_MANY_SEGMENTATION_FIELDS: 'request',
};

/** A code this table does not know is classified by the HTTP status: these, else 5xx transient, else `request`. */
const KIND_BY_STATUS: Readonly<Record<number, ListrakErrorKind>> = {
  401: 'token',
  403: 'operator',
  404: 'operator',
  429: 'transient',
};

/** Classifies an HTTP answer: Listrak's `error` code first, the status when the code is unknown. */
export function classifyListrakError(status: number, code: string | undefined): ListrakErrorKind {
  const byCode = code === undefined ? undefined : KIND_BY_CODE[code];
  return byCode ?? KIND_BY_STATUS[status] ?? (status >= 500 ? 'transient' : 'request');
}

export interface ListrakErrorDetails {
  status: number;
  code: string;
  /** Listrak's message, for people; never branch on it. */
  listrakMessage?: string | undefined;
  /** Which call failed, e.g. "POST /List/{listId}/Contact". Never contains an email or a token. */
  operation: string;
  cause?: unknown;
}

export abstract class ListrakError extends Error {
  abstract readonly kind: ListrakErrorKind;
  readonly status: number;
  readonly code: string;
  readonly listrakMessage: string | undefined;
  readonly operation: string;

  constructor(message: string, details: ListrakErrorDetails) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.status = details.status;
    this.code = details.code;
    this.listrakMessage = details.listrakMessage;
    this.operation = details.operation;
  }
}

/** One class per kind, named as the retry policy's table names the kind's ApplicationFailure type. */
function errorClass<K extends ListrakErrorKind>(kind: K) {
  const { errorType } = POLICY_BY_KIND[kind];
  const named = class extends ListrakError {
    override name: string = errorType;
    readonly kind: K = kind;
  };
  return Object.defineProperty(named, 'name', { value: errorType });
}

export const ListrakTransientError = errorClass('transient');
export const ListrakTokenError = errorClass('token');
export const ListrakOperatorError = errorClass('operator');
export const ListrakFinalError = errorClass('final');
export const ListrakAlreadyDoneError = errorClass('already_done');
export const ListrakRequestError = errorClass('request');
export type ListrakTransientError = InstanceType<typeof ListrakTransientError>;
export type ListrakTokenError = InstanceType<typeof ListrakTokenError>;
export type ListrakOperatorError = InstanceType<typeof ListrakOperatorError>;
export type ListrakFinalError = InstanceType<typeof ListrakFinalError>;

const CLASS_BY_KIND = {
  transient: ListrakTransientError,
  token: ListrakTokenError,
  operator: ListrakOperatorError,
  final: ListrakFinalError,
  already_done: ListrakAlreadyDoneError,
  request: ListrakRequestError,
} as const;

const HINT_BY_KIND: Record<ListrakErrorKind, string> = {
  transient: 'Listrak is unavailable or rate limiting; retrying with backoff',
  token: 'the access token was refused twice: check the integration is active under Manage > Integrations',
  operator: 'a person must fix the Listrak setup (credentials, list id, integration scopes), then retry the change',
  final: 'Listrak will not accept this contact; no retry will help',
  already_done: 'the wanted state already holds in Listrak',
  request: 'Listrak rejected what we sent: check LISTRAK_SEGMENTATION_FIELDS and LISTRAK_OPT_IN_EVENT_IDS',
};

/** Turns a non-2xx Listrak answer into the right error class. */
export function listrakErrorFromResponse(status: number, body: unknown, operation: string): ListrakError {
  const envelope = (body && typeof body === 'object' ? body : {}) as { error?: unknown; message?: unknown };
  const code = typeof envelope.error === 'string' ? envelope.error : `HTTP_${status}`;
  const kind = classifyListrakError(status, typeof envelope.error === 'string' ? envelope.error : undefined);
  const listrakMessage = typeof envelope.message === 'string' ? envelope.message : undefined;
  return new CLASS_BY_KIND[kind](`${operation} answered ${status} ${code}: ${HINT_BY_KIND[kind]}`, {
    status,
    code,
    listrakMessage,
    operation,
  });
}

/** A request that never got an answer (connection refused or reset, DNS, timeout). */
export function listrakNetworkError(operation: string, cause: unknown): ListrakTransientError {
  const timedOut = cause instanceof Error && (cause.name === 'TimeoutError' || cause.name === 'AbortError');
  const refused = cause instanceof Error && (cause.cause as { code?: unknown } | undefined)?.code === 'ECONNREFUSED';
  const code = timedOut ? 'TIMEOUT' : refused ? 'CONNECTION_REFUSED' : 'NETWORK_ERROR';
  const reason = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause);
  return new ListrakTransientError(`${operation} got no answer (${code}: ${reason}); retrying with backoff`, {
    status: 0,
    code,
    operation,
    cause,
  });
}
