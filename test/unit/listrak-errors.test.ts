import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { activityFailure, outcomeOfListrakError } from '../../activities/listrak-failures';
import type { ListrakTarget } from '../../src/config/config';
import { DEFAULT_SEED, ListrakSandbox, type Fault } from '../../src/dev/listrak-sandbox/sandbox';
import { ListrakClient, type ListrakClientOptions } from '../../src/listrak/client';
import { KIND_BY_CODE, ListrakError, ListrakTransientError, classifyListrakError, listrakErrorFromResponse, listrakNetworkError } from '../../src/listrak/errors';
import {
  NON_RETRYABLE_ERROR_TYPES,
  POLICY_BY_FAILURE_TYPE,
  POLICY_BY_KIND,
  QUICK_RETRY_BY_CODE,
  THEN_BY_CODE,
  afterFailure,
  mayRetryQuickly,
  type ActivityFailureType,
  type AfterFailure,
  type ListrakErrorKind,
} from '../../src/listrak/retry-policy';
import { FIXTURE_DIR } from '../replay/fixtures';

const LIST = DEFAULT_SEED.lists[0]!.listId;
const BANNED = 'banned@example.com';
const QUICK_RETRIES = 2;
let sandbox: ListrakSandbox;
let urls: { authUrl: string; apiUrl: string };
let target: ListrakTarget;
let nextEmail = 0;
const email = (name: string) => `${name}-${++nextEmail}@example.com`;

before(async () => {
  sandbox = new ListrakSandbox({ ...structuredClone(DEFAULT_SEED), bannedEmails: [BANNED] });
  urls = await sandbox.listen(0);
  const { clientId, clientSecret } = DEFAULT_SEED.clients[0]!;
  target = { clientId, clientSecret, listId: LIST };
});
after(() => sandbox.close());

const clientOf = (options: Partial<ListrakClientOptions> = {}) => new ListrakClient({ ...urls, quickRetries: QUICK_RETRIES, ...options });

/** The Listrak error a call ends with. */
async function failureOf(call: Promise<unknown>): Promise<ListrakError> {
  const error = await call.then(
    () => assert.fail('the call succeeded'),
    (failure: unknown) => failure,
  );
  assert.ok(error instanceof ListrakError, String(error));
  // The class carries the ApplicationFailure type the table names for its kind.
  assert.equal(error.name, POLICY_BY_KIND[error.kind].errorType);
  return error;
}

const unsubscribe = (address: string, segmentationFieldValues: { segmentationFieldId: number; value: string }[] = []) =>
  clientOf().upsertContact(target, { emailAddress: address, subscriptionState: 'Unsubscribed', segmentationFieldValues });
const subscribe = (address: string, segmentationFieldValues: { segmentationFieldId: number; value: string }[] = []) =>
  clientOf().upsertContact(target, { emailAddress: address, subscriptionState: 'Subscribed', segmentationFieldValues });

describe('Listrak errors: what the sandbox answers, classified', () => {
  it('an unsubscribe of an address Listrak never saw is already done', async () => {
    const error = await failureOf(unsubscribe(email('never-seen')));
    assert.deepEqual([error.kind, error.code, error.status], ['already_done', 'ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS', 400]);
    assert.equal(afterFailure(error), 'already_done');
  });

  it('a banned address is final; the message names the call, the code and the hint, never the address', async () => {
    const error = await failureOf(subscribe(BANNED));
    assert.deepEqual([error.kind, error.code], ['final', 'ERROR_BANNED_EMAIL_ADDRESS']);
    assert.equal(error.listrakMessage, 'Subscribing a contact that has been banned.');
    assert.match(error.message, /^POST \/List\/\{listId\}\/Contact answered 400 ERROR_BANNED_EMAIL_ADDRESS: Listrak will not accept this contact/);
    assert.ok(!error.message.includes(BANNED));
    assert.equal((await failureOf(subscribe('not-an-address'))).kind, 'final');
  });

  it('an unsubscribe carrying profile data is our request gone wrong: it parks', async () => {
    const error = await failureOf(unsubscribe(email('with-data'), [{ segmentationFieldId: 101, value: 'Ada' }]));
    assert.deepEqual([error.kind, error.code, afterFailure(error)], ['request', 'ERROR_UNSUBSCRIBE_WITH_SEGMENTATION_DATA', 'park']);
  });

  it('a profile value too long is a request error whose value is dropped', async () => {
    const error = await failureOf(subscribe(email('long'), [{ segmentationFieldId: 103, value: '0'.repeat(21) }]));
    assert.deepEqual([error.kind, error.code, afterFailure(error)], ['request', 'ERROR_SEGMENTATION_MAX_LENGTH', 'drop_value']);
  });

  it('an unknown list and refused credentials are for an operator', async () => {
    assert.equal((await failureOf(clientOf().getList({ ...target, listId: 9999 }))).kind, 'operator');
    const refused = await failureOf(clientOf().getList({ ...target, clientSecret: 'not-the-secret' }));
    assert.deepEqual([refused.kind, refused.code], ['operator', 'ERROR_INVALID_CREDENTIALS']);
  });

  it('a 401 that a fresh token does not cure is a token failure', async () => {
    const address = email('unauthorized');
    sandbox.script({ route: 'upsert', email: address, status: 401, error: 'ERROR_UNAUTHORIZED', times: 5 });
    const error = await failureOf(subscribe(address));
    assert.deepEqual([error.kind, afterFailure(error)], ['token', 'park']);
    assert.equal(sandbox.requestsFor('upsert', address).length, 2, 'one fresh token, one more call');
    sandbox.clearFaults();
  });

  it('an unknown code is classified by its status; an answer without a code is named by it', () => {
    const byStatus = [401, 403, 404, 409, 429, 502].map((status) => classifyListrakError(status, 'SOMETHING_NEW'));
    assert.deepEqual(byStatus, ['token', 'operator', 'operator', 'request', 'transient', 'transient']);
    assert.equal(classifyListrakError(500, 'ERROR_INVALID_LIST_ID'), 'operator', 'a known code wins over the status');
    const error = listrakErrorFromResponse(503, 'Service Unavailable', 'GET /List/{listId}');
    assert.deepEqual([error.code, error.kind, error.listrakMessage], ['HTTP_503', 'transient', undefined]);
  });

  it('no answer is transient, with status 0 and the cause', () => {
    const timeout = Object.assign(new Error('timed out'), { name: 'TimeoutError' });
    const reset = new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    for (const [cause, code] of [[timeout, 'TIMEOUT'], [reset, 'NETWORK_ERROR']] as const) {
      const error = listrakNetworkError('GET /List/{listId}', cause);
      assert.ok(error instanceof ListrakTransientError);
      assert.deepEqual([error.code, error.status, error.cause], [code, 0, cause]);
    }
  });
});

/** The ApplicationFailure types the table marks as parking. */
function parkingTypes(): string[] {
  const kinds = Object.values(POLICY_BY_KIND).filter((policy) => policy.then === 'park').map((policy) => policy.errorType);
  const types = Object.entries(POLICY_BY_FAILURE_TYPE).filter(([, then]) => then === 'park').map(([type]) => type);
  return [...kinds, ...types];
}

describe('the retry policy table: one decision per failure, and everyone reads it', () => {
  it('decides every kind, code and failure type exactly once', () => {
    assert.equal(POLICY_BY_FAILURE_TYPE.ChangeNoLongerRunning, 'abandon', 'the activity throws ChangeNoLongerRunning');
    // An ApplicationFailure type naming two failures would be two decisions for Temporal.
    const types = [...Object.values(POLICY_BY_KIND).map((policy) => policy.errorType), ...Object.keys(POLICY_BY_FAILURE_TYPE)];
    assert.equal(new Set(types).size, types.length, 'an ApplicationFailure type names one failure');
    // A code's own decision replaces its kind's; for a code the classifier does not know it would be a second table.
    for (const code of Object.keys(THEN_BY_CODE)) assert.ok(KIND_BY_CODE[code], `${code} has its own decision but is no code Listrak's table knows`);
    // Quick-retry exceptions by code apply to transient failures only: they name the client's own codes.
    for (const code of Object.keys(QUICK_RETRY_BY_CODE)) assert.equal(KIND_BY_CODE[code], undefined, code);
  });

  it("the workflow's nonRetryableErrorTypes are what the table parks, as every recorded history holds them", () => {
    assert.deepEqual([...NON_RETRYABLE_ERROR_TYPES].sort(), parkingTypes().sort());
    const recorded = new Set<string>();
    for (const file of readdirSync(FIXTURE_DIR).filter((name) => name.endsWith('.applyConsentChangeWorkflow.json'))) {
      const history = JSON.parse(readFileSync(path.join(FIXTURE_DIR, file), 'utf8')) as {
        events: { activityTaskScheduledEventAttributes?: { retryPolicy?: { nonRetryableErrorTypes?: string[] } } }[];
      };
      for (const event of history.events) {
        const types = event.activityTaskScheduledEventAttributes?.retryPolicy?.nonRetryableErrorTypes;
        if (types) recorded.add(JSON.stringify(types));
      }
    }
    assert.deepEqual([...recorded], [JSON.stringify(NON_RETRYABLE_ERROR_TYPES)], 'the same list, in the same order, as open histories hold');
  });

  const logged: { level: string; message: string }[] = [];
  const record = (level: string) => (message: string) => void logged.push({ level, message });
  const logger = { log: (level: string, message: string) => record(level)(message), trace: record('TRACE'), debug: record('DEBUG'), info: record('INFO'), warn: record('WARN'), error: record('ERROR') };
  const mockActivity = new MockActivityEnvironment(undefined, { logger });
  /** The activity's mapping of a failure: its result, or the ApplicationFailure it throws. */
  const mapped = (error: ListrakError) => mockActivity.run(() => Promise.resolve().then(() => outcomeOfListrakError(error, 'event-1'))).catch((failure: unknown) => failure);

  it('the activity turns each Listrak failure into what the table decides', async () => {
    const codeOfKind = (kind: ListrakErrorKind) => Object.keys(KIND_BY_CODE).find((code) => KIND_BY_CODE[code] === kind)!;
    const errors = (Object.keys(POLICY_BY_KIND) as ListrakErrorKind[]).map((kind) => listrakErrorFromResponse(400, { error: codeOfKind(kind) }, 'POST /List/{listId}/Contact'));
    errors.push(listrakErrorFromResponse(400, { error: 'ERROR_SEGMENTATION_MAX_LENGTH' }, 'POST /List/{listId}/Contact'));
    for (const error of errors) {
      const then = afterFailure(error);
      logged.length = 0;
      const outcome = await mapped(error);
      if (then === 'final') {
        assert.deepEqual(outcome, { outcome: 'rejected', code: error.code, status: 400, message: error.message });
        continue;
      }
      assert.ok(outcome instanceof ApplicationFailure, `${error.code}: ${String(outcome)}`);
      assert.equal(outcome.type, POLICY_BY_KIND[error.kind].errorType);
      // Where the write does not expect it, "already done" or a refused value parks.
      assert.equal(outcome.nonRetryable, then !== 'durable_retry', error.code);
      assert.equal(logged.some((entry) => entry.level === 'ERROR'), outcome.nonRetryable, 'what parks is logged as an error');
      assert.deepEqual(outcome.details, [{ status: 400, code: error.code, kind: error.kind }]);
    }
  });

  it('someone already pending a double opt-in: an opt-in waits for their confirmation (not a failure); an opt-out keeps the kind’s decision', async () => {
    const pending = listrakErrorFromResponse(400, { error: 'ERROR_PENDING_EMAIL_ADDRESS' }, 'POST /List/{listId}/Contact');
    assert.deepEqual([pending.kind, afterFailure(pending)], ['final', 'awaiting_confirmation']);
    assert.deepEqual(await mapped(pending), { outcome: 'awaiting_confirmation', code: 'ERROR_PENDING_EMAIL_ADDRESS' });
    const ofOptOut = await mockActivity.run(() => Promise.resolve(outcomeOfListrakError(pending, 'event-2', 'opt_out')));
    assert.deepEqual(ofOptOut, { outcome: 'rejected', code: 'ERROR_PENDING_EMAIL_ADDRESS', status: 400, message: pending.message });
    assert.ok(!NON_RETRYABLE_ERROR_TYPES.includes('awaiting_confirmation'));
  });

  it("the activity's own failures are retryable only where the table retries them durably", () => {
    for (const [type, then] of Object.entries(POLICY_BY_FAILURE_TYPE) as [ActivityFailureType, AfterFailure][]) {
      const failure = activityFailure(type, 'why');
      assert.deepEqual([failure.type, failure.nonRetryable], [type, then !== 'durable_retry']);
    }
  });
});

/** A port nothing listens on: a connection there is refused. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Requests the table allows for one failure: the first and its quick retries. */
function allowedRequests(method: 'GET' | 'POST', failure: ListrakError): number {
  let retries = 0;
  while (mayRetryQuickly(method, failure, retries, QUICK_RETRIES)) retries++;
  return 1 + retries;
}

describe("the client's quick retries are the table's (counted requests)", () => {
  const repeated: Omit<Fault, 'route'>[] = [{ status: 500, error: 'ERROR_UNHANDLED_EXCEPTION' }, { status: 429, error: 'HTTP_429' }, { status: 503 }, { reset: true }];
  const notRepeated: Omit<Fault, 'route'>[] = [{ delayMs: 600 }, { status: 400, error: 'ERROR_INVALID_PARAMETER' }, { status: 503, error: 'ERROR_LIST_INACTIVE' }];
  for (const fault of [...repeated, ...notRepeated]) {
    it(`${JSON.stringify(fault)}, read and written`, async () => {
      for (const method of ['GET', 'POST'] as const) {
        const address = email('quick');
        const route = method === 'GET' ? 'getContact' : 'upsert';
        sandbox.script({ route, email: address, times: QUICK_RETRIES + 1, ...fault });
        // A short timeout where the fault is a slow answer.
        const client = clientOf({ timeoutMs: fault.delayMs ? 300 : 5_000 });
        const contact = { emailAddress: address, subscriptionState: 'Subscribed' as const, segmentationFieldValues: [] };
        const error = await failureOf(method === 'GET' ? client.getContact(target, address) : client.upsertContact(target, contact));
        assert.equal(client.stats.apiRequests, allowedRequests(method, error), `${method} ${error.code}`);
        sandbox.clearFaults();
      }
    });
  }

  it('a refused connection is repeated, reads and writes alike', async () => {
    const client = clientOf({ apiUrl: `http://127.0.0.1:${await closedPort()}/email/v1` });
    for (const call of [() => client.getContact(target, email('refused')), () => client.upsertContact(target, { emailAddress: email('refused'), segmentationFieldValues: [] })]) {
      const before = client.stats.apiRequests;
      const error = await failureOf(call());
      assert.equal(error.code, 'CONNECTION_REFUSED');
      assert.equal(client.stats.apiRequests - before, QUICK_RETRIES + 1);
    }
  });
});
