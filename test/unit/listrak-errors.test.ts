import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  KIND_BY_CODE,
  ListrakAlreadyDoneError,
  ListrakFinalError,
  ListrakOperatorError,
  ListrakRequestError,
  ListrakTokenError,
  ListrakTransientError,
  classifyListrakError,
  listrakErrorFromResponse,
  listrakNetworkError,
  type ListrakErrorKind,
} from '../../src/listrak/errors';
import { NON_RETRYABLE_ERROR_TYPES, POLICY_BY_KIND, mayRetryQuickly, quickRetryFor } from '../../src/listrak/retry-policy';

// Listrak's error table (shared/listrak/README.md), as this service classifies it. Every code the
// classifier knows is listed here: a code added to KIND_BY_CODE without a row fails the first test.
const EXPECTED_KIND_BY_CODE: Record<string, ListrakErrorKind> = {
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

const CLASS_BY_KIND = {
  transient: ListrakTransientError,
  token: ListrakTokenError,
  operator: ListrakOperatorError,
  final: ListrakFinalError,
  already_done: ListrakAlreadyDoneError,
  request: ListrakRequestError,
};

/** What the table says a change does after each kind (the retry policy, spelled out). */
const EXPECTED_THEN: Record<ListrakErrorKind, string> = {
  transient: 'durable_retry',
  token: 'park',
  operator: 'park',
  request: 'park',
  final: 'final',
  already_done: 'already_done',
};

describe('Listrak error classification', () => {
  it('knows exactly the codes of the table', () => {
    assert.deepEqual(Object.keys(KIND_BY_CODE).sort(), Object.keys(EXPECTED_KIND_BY_CODE).sort());
  });

  for (const [code, kind] of Object.entries(EXPECTED_KIND_BY_CODE)) {
    it(`${code} is ${kind}, whatever the status`, () => {
      for (const status of [400, 401, 404, 429, 500]) assert.equal(classifyListrakError(status, code), kind);
      const error = listrakErrorFromResponse(400, { error: code, message: 'as Listrak says it' }, 'POST /List/{listId}/Contact');
      assert.ok(error instanceof CLASS_BY_KIND[kind], error.name);
      assert.equal(error.kind, kind);
      assert.equal(error.code, code);
      assert.equal(error.status, 400);
      assert.equal(error.listrakMessage, 'as Listrak says it');
      assert.match(error.message, new RegExp(`^POST /List/\\{listId\\}/Contact answered 400 ${code}: `));
    });
  }

  const byStatus: [number, string | undefined, ListrakErrorKind][] = [
    [429, undefined, 'transient'],
    [500, undefined, 'transient'],
    [502, 'SOMETHING_NEW', 'transient'],
    [503, undefined, 'transient'],
    [401, undefined, 'token'],
    [403, undefined, 'operator'],
    [404, 'SOMETHING_NEW', 'operator'],
    [400, undefined, 'request'],
    [409, 'SOMETHING_NEW', 'request'],
  ];
  for (const [status, code, kind] of byStatus) {
    it(`an unknown code with status ${status} is ${kind}`, () => assert.equal(classifyListrakError(status, code), kind));
  }

  it('an answer without an error code is named by its status', () => {
    const error = listrakErrorFromResponse(503, 'Service Unavailable', 'GET /List/{listId}');
    assert.equal(error.code, 'HTTP_503');
    assert.equal(error.kind, 'transient');
    assert.equal(error.listrakMessage, undefined);
  });

  const network: [string, unknown, string][] = [
    ['a timeout', Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'TIMEOUT'],
    ['an abort', Object.assign(new Error('aborted'), { name: 'AbortError' }), 'TIMEOUT'],
    ['a refused connection', new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }), 'CONNECTION_REFUSED'],
    ['a reset', new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) }), 'NETWORK_ERROR'],
  ];
  for (const [name, cause, code] of network) {
    it(`no answer (${name}) is transient ${code}, status 0, with the cause`, () => {
      const error = listrakNetworkError('GET /List/{listId}', cause);
      assert.ok(error instanceof ListrakTransientError);
      assert.deepEqual([error.code, error.status, error.cause], [code, 0, cause]);
    });
  }
});

describe('the retry policy table', () => {
  for (const [kind, then] of Object.entries(EXPECTED_THEN) as [ListrakErrorKind, string][]) {
    it(`${kind}: ${then}, thrown as ${CLASS_BY_KIND[kind].name}`, () => {
      assert.equal(POLICY_BY_KIND[kind].then, then);
      // The activity throws ApplicationFailures of this type; the class has the same name.
      const error = new CLASS_BY_KIND[kind]('x', { status: 400, code: 'X', operation: 'op' });
      assert.equal(POLICY_BY_KIND[kind].errorType, error.name);
    });
  }

  it('the workflow never retries what parks (the same list, in the same order, as before the table)', () => {
    assert.deepEqual(NON_RETRYABLE_ERROR_TYPES, ['ListrakOperatorError', 'ListrakTokenError', 'ListrakRequestError', 'ListrakNotConfigured']);
  });

  const quick: [string, { kind: ListrakErrorKind; status: number; code: string }, string, boolean, boolean][] = [
    // name, failure, rule, GET repeated, POST repeated
    ['a 500', { kind: 'transient', status: 500, code: 'ERROR_UNHANDLED_EXCEPTION' }, 'reads', true, false],
    ['a 502 without a code', { kind: 'transient', status: 502, code: 'HTTP_502' }, 'reads', true, false],
    ['a 429', { kind: 'transient', status: 429, code: 'HTTP_429' }, 'reads_and_writes', true, true],
    ['a 503', { kind: 'transient', status: 503, code: 'HTTP_503' }, 'reads_and_writes', true, true],
    ['a refused connection', { kind: 'transient', status: 0, code: 'CONNECTION_REFUSED' }, 'reads_and_writes', true, true],
    ['a reset connection', { kind: 'transient', status: 0, code: 'NETWORK_ERROR' }, 'reads', true, false],
    ['a timeout', { kind: 'transient', status: 0, code: 'TIMEOUT' }, 'no', false, false],
    ['a token refusal', { kind: 'token', status: 401, code: 'ERROR_UNAUTHORIZED' }, 'no', false, false],
    ['an operator problem that answers 503', { kind: 'operator', status: 503, code: 'ERROR_LIST_INACTIVE' }, 'no', false, false],
    ['a final answer', { kind: 'final', status: 400, code: 'ERROR_BANNED_EMAIL_ADDRESS' }, 'no', false, false],
    ['already done', { kind: 'already_done', status: 400, code: 'ERROR_SUBSCRIBED_EMAIL_ADDRESS' }, 'no', false, false],
    ['a request error', { kind: 'request', status: 400, code: 'ERROR_INVALID_PARAMETER' }, 'no', false, false],
  ];
  for (const [name, failure, rule, get, post] of quick) {
    it(`quick retry of ${name}: ${rule}`, () => {
      assert.equal(quickRetryFor(failure), rule);
      assert.equal(mayRetryQuickly('GET', failure, 0, 2), get);
      assert.equal(mayRetryQuickly('POST', failure, 0, 2), post);
    });
  }
  it('quick retries stop at the allowance', () => {
    const failure = { kind: 'transient', status: 503, code: 'HTTP_503' } as const;
    assert.deepEqual([0, 1, 2, 3].map((done) => mayRetryQuickly('POST', failure, done, 2)), [true, true, false, false]);
    assert.equal(mayRetryQuickly('GET', failure, 0, 0), false);
  });
});
