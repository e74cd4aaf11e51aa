import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApplicationFailure, Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import type { ApplyChangeInput, ApplyResult, ConsentChange, ConsentType, LedgerKey, LedgerState, LedgerSummary, PreviousLedgerRun } from '../../src/shared';
import { changeWorkflowId, ledgerWorkflowId } from '../../src/shared';
import { temporalCliPath, temporalTestServerPath } from '../../src/dev/temporal-binaries';
import { consentChangeSignal, consentLedgerWorkflow, ledgerStateQuery, type LedgerInput } from '../../workflows';
import { changeStatusQuery, retryUpdate, skipUpdate } from '../../workflows/apply-change';
import { doubleOptInConfirmedSignal, MAX_RECORDS, reapplyOptOutSignal, retryChangeSignal, retryParkedChangeUpdate, skipChangeSignal, skipParkedChangeUpdate } from '../../workflows/consent-ledger';
import { eventually, installQuietRuntime, uniqueId, workflowBundle } from '../../src/dev/harness';

/**
 * The ledger workflow alone: the real workflows bundle on the time-skipping server, with stub
 * activities in place of Listrak (`applyConsentChange`) and visibility (`previousLedgerRun`).
 * Days of idleness cost nothing here.
 */

type Behaviour =
  /** Applied at once. */
  | 'apply'
  /** Runs until released or cancelled (a cancellation ends it at once). */
  | 'block'
  /** Runs until released; a cancellation is noted, and honoured only once released. */
  | 'block-until-released'
  /** Fails as a Listrak setup problem would: the change parks in its change workflow. */
  | 'refuse'
  /** Written to a double opt-in list: waits for the person's confirmation. */
  | 'await-confirmation';

/** A stand-in for Listrak: scripted per event id, one behaviour per call, counting every call. */
class StubListrak {
  readonly calls: { eventId: string; type: ConsentType; cancelled: boolean }[] = [];
  readonly previous = new Map<string, PreviousLedgerRun | 'unreadable'>();
  private readonly scripts = new Map<string, Behaviour[]>();
  private readonly releases = new Map<string, () => void>();

  script(eventId: string, ...behaviours: Behaviour[]): void {
    this.scripts.set(eventId, behaviours);
  }
  release(eventId: string): void {
    this.releases.get(eventId)?.();
  }
  callsOf(eventId: string) {
    return this.calls.filter((call) => call.eventId === eventId);
  }

  readonly activities = {
    applyConsentChange: async ({ change }: ApplyChangeInput): Promise<ApplyResult> => {
      const call = { eventId: change.eventId, type: change.type, cancelled: false };
      this.calls.push(call);
      const behaviour = this.scripts.get(change.eventId)?.shift() ?? 'apply';
      const writeStartedAtMs = Date.now();
      if (behaviour === 'refuse') {
        throw ApplicationFailure.nonRetryable('list not found', 'ListrakOperatorError', { status: 404, code: 'ERROR_INVALID_LIST_ID', kind: 'operator' });
      }
      if (behaviour === 'await-confirmation') return { outcome: 'awaiting_confirmation', attempt: 1 };
      if (behaviour !== 'apply') {
        const context = Context.current();
        const released = new Promise<void>((resolve) => this.releases.set(change.eventId, resolve));
        const beat = setInterval(() => context.heartbeat(), 50);
        let cancellation: unknown;
        const cancelled = context.cancelled.catch((error: unknown) => {
          call.cancelled = true;
          cancellation = error;
        });
        try {
          await Promise.race([released, cancelled]);
          if (call.cancelled && behaviour === 'block-until-released') await released;
        } finally {
          clearInterval(beat);
        }
        if (call.cancelled) throw cancellation;
      }
      return { outcome: 'applied', writeStartedAtMs, writeFinishedAtMs: Date.now(), attempt: 1 };
    },
    previousLedgerRun: (workflowId: string): Promise<PreviousLedgerRun> => {
      const previous = this.previous.get(workflowId);
      if (previous === 'unreadable') return Promise.reject(ApplicationFailure.nonRetryable('visibility is unavailable', 'VisibilityUnavailable'));
      return Promise.resolve(previous ?? {});
    },
  };
}

const T = Date.parse('2026-03-01T12:00:00Z');
const MINUTE = 60_000;

/** The reason an update was refused (its validator's message). */
async function refusal(update: Promise<unknown>): Promise<string> {
  const error = await update.then(
    () => assert.fail('the update was accepted'),
    (error: unknown) => error,
  );
  assert.ok(error instanceof WorkflowUpdateFailedError, String(error));
  return error.cause?.message ?? '';
}
/** Half a second, for the dev server (no time skipping there). */
const IDLE_DAYS = 0.5 / 86_400;
const IDLE_MS = IDLE_DAYS * 86_400_000;

/** A worker with the real workflows bundle and the stub activities, on `createEnv`'s server; helpers to drive a ledger. */
function ledgerFixture(createEnv: () => Promise<TestWorkflowEnvironment>) {
  let env: TestWorkflowEnvironment;
  let worker: Worker;
  let running: Promise<void>;
  const listrak = new StubListrak();
  const taskQueue = uniqueId('ledger-unit-');

  before(async () => {
    installQuietRuntime();
    env = await createEnv();
    worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      activities: listrak.activities,
      sinks: { metrics: { changeOutcome: { fn: () => undefined }, duplicate: { fn: () => undefined } } },
      // Cancellation reaches an activity with a heartbeat's answer: do not hold heartbeats back.
      maxHeartbeatThrottleInterval: '50 milliseconds',
      defaultHeartbeatThrottleInterval: '50 milliseconds',
    });
    running = worker.run();
  });
  after(async () => {
    worker?.shutdown();
    await running;
    await env?.teardown();
  });

  const client = () => env.client;
  /** Delivers a change as intake does: signal-with-start of the person's ledger. */
  const deliver = (key: LedgerKey, consentChange: ConsentChange, input: Partial<LedgerInput> = {}) =>
    client().workflow.signalWithStart(consentLedgerWorkflow, {
      workflowId: ledgerWorkflowId(key),
      taskQueue,
      args: [{ key, searchAttributes: false, ...input }],
      signal: consentChangeSignal,
      signalArgs: [consentChange],
    });
  const stateOf = (key: LedgerKey) => client().workflow.getHandle(ledgerWorkflowId(key)).query(ledgerStateQuery);
  const recordOf = async (key: LedgerKey, eventId: string) => (await stateOf(key)).changes.find((record) => record.eventId === eventId);
  const outcomeOf = (key: LedgerKey, eventId: string, outcome: string) =>
    eventually(
      async () => {
        const record = await recordOf(key, eventId);
        return record?.outcome === outcome ? record : undefined;
      },
      15_000,
      `${eventId} ${outcome}`,
      50,
    );
  const started = (eventId: string, times = 1) => eventually(() => listrak.callsOf(eventId).length >= times, 15_000, `${eventId} applying`, 20);
  return { env: () => env, client, listrak, deliver, stateOf, recordOf, outcomeOf, started };
}

/** A fresh ledger key, so tests never share ledgers. */
const newKey = (): LedgerKey => ({ environment: 'production', listId: 1001, emailHash: uniqueId('').padEnd(12, '0') });
const change = (eventId: string, type: ConsentType, eventTimeMs: number): ConsentChange => ({
  eventId,
  eventTime: new Date(eventTimeMs).toISOString(),
  eventTimeMs,
  type,
  environment: 'production',
  email: 'person@example.com',
  profile: {},
  receivedAt: new Date().toISOString(),
});

describe('the ledger workflow, with stub activities on the time-skipping server', () => {
  const { client, listrak, deliver, stateOf, recordOf, outcomeOf, started } = ledgerFixture(() =>
    TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: temporalTestServerPath() } } }),
  );

  it('applies the newest change; an older one arriving later is superseded without a write', async () => {
    const key = newKey();
    await deliver(key, change('a1', 'opt_in', T + 10 * MINUTE));
    await outcomeOf(key, 'a1', 'applied');
    await deliver(key, change('a0', 'opt_out', T));
    const older = await outcomeOf(key, 'a0', 'superseded');
    assert.match(older.detail ?? '', /^not newer than opt_in a1 of /);
    // A tie: the opt-out wins and is applied.
    await deliver(key, change('a2', 'opt_out', T + 10 * MINUTE));
    await outcomeOf(key, 'a2', 'applied');
    const state = await stateOf(key);
    assert.deepEqual([listrak.callsOf('a1').length, listrak.callsOf('a0').length, listrak.callsOf('a2').length], [1, 0, 1]);
    assert.equal(state.applied?.eventId, 'a2');
    assert.equal(state.desired?.eventId, 'a2');
    assert.equal(state.ownUnsubscribes.length, 1, 'the opt-out is remembered as our own unsubscribe');
  });

  it('records an opt-in awaiting its double opt-in confirmation, then applied when reconciliation finds it confirmed; only the newest change', async () => {
    const key = newKey();
    listrak.script('doi-c1', 'await-confirmation');
    await deliver(key, change('doi-c1', 'opt_in', T));
    const waiting = await outcomeOf(key, 'doi-c1', 'awaiting_confirmation');
    assert.match(waiting.detail ?? '', /^double opt-in: Listrak sent its confirmation email/);
    assert.equal((await stateOf(key)).applied, undefined, 'not subscribed yet');
    const ledger = client().workflow.getHandle(ledgerWorkflowId(key));
    await ledger.signal(doubleOptInConfirmedSignal, { eventId: 'doi-c0', subscribeDate: '2026-03-01T13:00:00', method: 'DoubleOptIn' });
    await ledger.signal(doubleOptInConfirmedSignal, { eventId: 'doi-c1', subscribeDate: '2026-03-01T13:00:00', method: 'DoubleOptIn' });
    const confirmed = await outcomeOf(key, 'doi-c1', 'applied');
    assert.equal(confirmed.detail, 'double opt-in confirmed by the person: subscribed in Listrak since 2026-03-01T13:00:00 (method DoubleOptIn)');
    const state = await stateOf(key);
    assert.deepEqual([state.applied?.eventId, state.applied?.appliedAt], ['doi-c1', '2026-03-01T13:00:00.000Z']);
    assert.equal(state.changes.length, 1, 'an unknown event id is ignored');
    assert.equal(listrak.callsOf('doi-c1').length, 1);

    // An opt-out after it decides: a confirmation found later does not make the opt-in applied.
    const other = newKey();
    listrak.script('doi-w1', 'await-confirmation');
    await deliver(other, change('doi-w1', 'opt_in', T));
    await outcomeOf(other, 'doi-w1', 'awaiting_confirmation');
    await deliver(other, change('doi-w2', 'opt_out', T + MINUTE));
    await outcomeOf(other, 'doi-w2', 'applied');
    await client().workflow.getHandle(ledgerWorkflowId(other)).signal(doubleOptInConfirmedSignal, { eventId: 'doi-w1', subscribeDate: '2026-03-01T13:00:00Z', method: 'DoubleOptIn' });
    // A redelivery after it: once it is counted, the signal before it has been handled (signals keep their order).
    await deliver(other, change('doi-w2', 'opt_out', T + MINUTE));
    await eventually(async () => (await recordOf(other, 'doi-w2'))?.duplicatesSeen === 1, 15_000, 'the redelivery counted', 50);
    const after = await stateOf(other);
    assert.equal(after.changes.find((record) => record.eventId === 'doi-w1')?.outcome, 'awaiting_confirmation');
    assert.equal(after.applied?.eventId, 'doi-w2');
  });

  it('counts a redelivery and never writes it twice, while running or after', async () => {
    const key = newKey();
    listrak.script('d1', 'block');
    await deliver(key, change('d1', 'opt_in', T));
    await started('d1');
    await deliver(key, change('d1', 'opt_in', T));
    listrak.release('d1');
    await outcomeOf(key, 'd1', 'applied');
    await deliver(key, change('d1', 'opt_in', T));
    const record = await eventually(async () => {
      const found = await recordOf(key, 'd1');
      return found?.duplicatesSeen === 2 ? found : undefined;
    });
    assert.equal(record.outcome, 'applied');
    assert.equal(listrak.callsOf('d1').length, 1);
  });

  it('numbers a repair after the highest it holds: once old records are trimmed, the next repair is still a new change and is written', async () => {
    const key = newKey();
    await deliver(key, change('rp', 'opt_out', T + 10 * MINUTE));
    await outcomeOf(key, 'rp', 'applied');
    const ledger = client().workflow.getHandle(ledgerWorkflowId(key));
    for (const n of [1, 2]) {
      await ledger.signal(reapplyOptOutSignal, { reason: 'drift found by the full sweep' });
      await outcomeOf(key, `rp.repair-${n}`, 'applied');
    }
    // Older opt-ins, refused, until the oldest records (the opt-out and the first repair) are trimmed.
    for (let index = 0; index < MAX_RECORDS; index++) await deliver(key, change(`rp-stale-${index}`, 'opt_in', T + index));
    await outcomeOf(key, `rp-stale-${MAX_RECORDS - 1}`, 'superseded');
    const trimmed = (await stateOf(key)).changes.map((record) => record.eventId);
    assert.deepEqual([trimmed.includes('rp.repair-1'), trimmed.includes('rp.repair-2')], [false, true], 'the first repair trimmed, the newest kept (it is desired)');

    await ledger.signal(reapplyOptOutSignal, { reason: 'drift found again' });
    const repair = await outcomeOf(key, 'rp.repair-3', 'applied');
    assert.equal(repair.detail, 'written again: drift found again');
    assert.equal(listrak.callsOf('rp.repair-3').length, 1, 'the repair was written');
    assert.equal(listrak.callsOf('rp.repair-2').length, 1, 'the earlier repair was not written twice');
  });

  it('applies a change an earlier release recorded as failed when it is delivered again, while it is still the newest', async () => {
    const key = newKey();
    const failed = change('f1', 'opt_out', T);
    const older = change('f0', 'opt_in', T - MINUTE);
    // The state a ledger of the release before park-unfinished-changes carried on: the newest change failed.
    const state: LedgerState = {
      key,
      email: failed.email,
      ownUnsubscribes: [],
      desired: { eventId: 'f1', type: 'opt_out', eventTime: failed.eventTime, eventTimeMs: failed.eventTimeMs },
      changes: [
        { eventId: 'f0', eventTime: older.eventTime, eventTimeMs: older.eventTimeMs, type: 'opt_in', receivedAt: older.receivedAt, outcome: 'failed', detail: 'start failed', duplicatesSeen: 0 },
        { eventId: 'f1', eventTime: failed.eventTime, eventTimeMs: failed.eventTimeMs, type: 'opt_out', receivedAt: failed.receivedAt, outcome: 'failed', detail: 'start failed', duplicatesSeen: 0 },
      ],
    };
    await deliver(key, failed, { state });
    await outcomeOf(key, 'f1', 'applied');
    assert.equal(listrak.callsOf('f1').length, 1, 'written once');
    // An older one stays as it was: the newest change stands.
    await deliver(key, older);
    const kept = await eventually(async () => ((await recordOf(key, 'f0'))?.duplicatesSeen === 1 ? recordOf(key, 'f0') : undefined));
    assert.equal(kept?.outcome, 'failed');
    assert.equal(listrak.callsOf('f0').length, 0);
  });

  it('a newer change cancels the running one; one still pending is replaced without a write', async () => {
    const key = newKey();
    listrak.script('s1', 'block-until-released');
    await deliver(key, change('s1', 'opt_in', T));
    await started('s1');
    await deliver(key, change('s2', 'opt_in', T + MINUTE));
    // s1's cancellation is held open: s2 waits, pending, until the running change has closed.
    await eventually(() => listrak.callsOf('s1')[0]?.cancelled === true, 15_000, 's1 to see the cancellation');
    assert.equal((await stateOf(key)).pendingEventId, 's2');
    assert.equal((await stateOf(key)).runningEventId, 's1');
    await deliver(key, change('s3', 'opt_out', T + 2 * MINUTE));
    const replaced = await outcomeOf(key, 's2', 'superseded');
    assert.match(replaced.detail ?? '', /^replaced before it was applied by opt_out s3/);
    listrak.release('s1');
    const cancelled = await outcomeOf(key, 's1', 'superseded');
    assert.match(cancelled.detail ?? '', /^cancelled while applying: newer change s3 arrived/);
    await outcomeOf(key, 's3', 'applied');
    assert.deepEqual([listrak.callsOf('s1').length, listrak.callsOf('s2').length, listrak.callsOf('s3').length], [1, 0, 1]);
    assert.equal((await stateOf(key)).applied?.eventId, 's3');
  });

  it('closes after idleDays without a change, and the next run restores its state from the closed run', async () => {
    const key = newKey();
    const workflowId = ledgerWorkflowId(key);
    const first = await deliver(key, change('i1', 'opt_in', T + MINUTE), { idleDays: 2 });
    await outcomeOf(key, 'i1', 'applied');
    // Time skips: two days pass in an instant.
    const summary = (await first.result()) as LedgerSummary;
    assert.equal(summary.state.applied?.eventId, 'i1');
    assert.equal(summary.state.pendingEventId, undefined);
    listrak.previous.set(workflowId, { summary, runId: first.signaledRunId });

    // A redelivery after the close: recognised from the restored state, not written again.
    await deliver(key, change('i1', 'opt_in', T + MINUTE), { idleDays: 2 });
    const restored = await eventually(async () => {
      const state = await stateOf(key);
      return state.changes[0]?.duplicatesSeen === 1 ? state : undefined;
    });
    assert.deepEqual(restored.restoredFrom, { runId: first.signaledRunId, closedAt: summary.closedAt });
    // An older opt-out that arrives now is superseded by the restored desired state.
    await deliver(key, change('i0', 'opt_out', T), { idleDays: 2 });
    await outcomeOf(key, 'i0', 'superseded');
    assert.deepEqual([listrak.callsOf('i1').length, listrak.callsOf('i0').length], [1, 0]);
  });

  it('starts empty, with a note, when the closed run cannot be read', async () => {
    const key = newKey();
    listrak.previous.set(ledgerWorkflowId(key), 'unreadable');
    await deliver(key, change('u1', 'opt_in', T));
    await outcomeOf(key, 'u1', 'applied');
    const state: LedgerState = await stateOf(key);
    assert.match(state.restoreNote ?? '', /^the previous run could not be read: Activity task failed$/);
    assert.equal(state.restoredFrom, undefined);
  });

  it('continues as new past its history limit, carrying the state', async () => {
    const key = newKey();
    const first = await deliver(key, change('c0', 'opt_in', T), { continueAsNewAfterEvents: 30 });
    await outcomeOf(key, 'c0', 'applied');
    for (let index = 1; index <= 3; index++) {
      await deliver(key, change(`c${index}`, index % 2 ? 'opt_out' : 'opt_in', T + index * MINUTE), { continueAsNewAfterEvents: 30 });
      await outcomeOf(key, `c${index}`, 'applied');
    }
    const latest = await eventually(async () => {
      const description = await client().workflow.getHandle(ledgerWorkflowId(key)).describe();
      return description.runId !== first.signaledRunId && description.status.name === 'RUNNING' ? description : undefined;
    });
    assert.ok(latest.historyLength < 30, `the new run has a short history (${latest.historyLength} events)`);
    const state = await stateOf(key);
    assert.deepEqual(state.changes.map((record) => [record.eventId, record.outcome]), [
      ['c0', 'applied'],
      ['c1', 'applied'],
      ['c2', 'applied'],
      ['c3', 'applied'],
    ]);
    assert.equal(state.applied?.eventId, 'c3');
    assert.equal(state.ownUnsubscribes.length, 2);
    // De-duplication holds across the new run.
    await deliver(key, change('c1', 'opt_out', T + MINUTE), { continueAsNewAfterEvents: 30 });
    await eventually(async () => (await recordOf(key, 'c1'))?.duplicatesSeen === 1);
    assert.equal(listrak.callsOf('c1').length, 1);
  });
});

// The time-skipping server never tells a parent that its child was terminated (sdk-java#2921):
// changes parked in their ledger are tested on a dev server, with idleness in seconds.
describe('the ledger workflow, with stub activities on a dev server: changes parked in the ledger', () => {
  const { client, listrak, deliver, stateOf, outcomeOf, started } = ledgerFixture(() =>
    TestWorkflowEnvironment.createLocal({ server: { executable: { type: 'existing-path', path: temporalCliPath() }, extraArgs: ['--log-level', 'error'] } }),
  );

  /** Starts a change, ends its change workflow without an outcome (a person terminates it), waits until parked. */
  async function parkInLedger(key: LedgerKey, eventId: string, type: ConsentType, eventTimeMs: number) {
    listrak.script(eventId, 'block', 'apply');
    await deliver(key, change(eventId, type, eventTimeMs));
    await started(eventId);
    await client().workflow.getHandle(changeWorkflowId(key, eventId)).terminate('stuck, says a person');
    const record = await outcomeOf(key, eventId, 'parked');
    assert.match(record.detail ?? '', /ended without an outcome \(terminated: Terminated\); retry or skip it$/);
    assert.equal((await stateOf(key)).parked?.eventId, eventId);
  }

  it('parks a change whose change workflow ended without an outcome; retryChange applies it', async () => {
    const key = newKey();
    await parkInLedger(key, 'p1', 'opt_out', T);
    const handle = client().workflow.getHandle(ledgerWorkflowId(key));
    await handle.signal(retryChangeSignal, 'some-other-event');
    await handle.signal(skipChangeSignal, 'some-other-event');
    assert.equal((await stateOf(key)).parked?.eventId, 'p1', 'a signal naming another change does nothing');
    await handle.signal(retryChangeSignal, 'p1');
    const record = await outcomeOf(key, 'p1', 'applied');
    assert.equal(record.detail, 'retried by a person after it was parked');
    assert.equal(listrak.callsOf('p1').length, 2);
    assert.equal((await stateOf(key)).parked, undefined);
  });

  it('skipChange drops a parked change; a newer change replaces a parked one', async () => {
    const skipped = newKey();
    await parkInLedger(skipped, 'k1', 'opt_in', T);
    await client().workflow.getHandle(ledgerWorkflowId(skipped)).signal(skipChangeSignal, 'k1');
    const record = await outcomeOf(skipped, 'k1', 'skipped');
    assert.match(record.detail ?? '', /^skipped by a person while parked: change workflow /);
    assert.equal(listrak.callsOf('k1').length, 1);

    const replaced = newKey();
    await parkInLedger(replaced, 'r1', 'opt_in', T);
    await deliver(replaced, change('r2', 'opt_out', T + MINUTE));
    const parked = await outcomeOf(replaced, 'r1', 'superseded');
    assert.match(parked.detail ?? '', /^parked, then replaced by the newer opt_out r2/);
    await outcomeOf(replaced, 'r2', 'applied');
    assert.equal((await stateOf(replaced)).parked, undefined);
  });

  it('does not close while a change is parked in it', async () => {
    const key = newKey();
    listrak.script('w1', 'block');
    await deliver(key, change('w1', 'opt_in', T), { idleDays: IDLE_DAYS });
    await started('w1');
    await client().workflow.getHandle(changeWorkflowId(key, 'w1')).terminate('stuck');
    await outcomeOf(key, 'w1', 'parked');
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 3));
    const description = await client().workflow.getHandle(ledgerWorkflowId(key)).describe();
    assert.equal(description.status.name, 'RUNNING');
  });


  it('retry and skip updates on a change parked in its change workflow answer the outcome; refused, with the reason, otherwise', async () => {
    const key = newKey();
    listrak.script('v0', 'block');
    await deliver(key, change('v0', 'opt_in', T));
    await started('v0');
    const applying = client().workflow.getHandle(changeWorkflowId(key, 'v0'));
    assert.equal(await refusal(applying.executeUpdate(retryUpdate)), 'the change is not parked (it is applying)');
    assert.equal(await refusal(applying.executeUpdate(skipUpdate)), 'the change is not parked (it is applying)');
    listrak.release('v0');
    await outcomeOf(key, 'v0', 'applied');

    listrak.script('v1', 'refuse', 'apply');
    await deliver(key, change('v1', 'opt_out', T + MINUTE));
    const parked = client().workflow.getHandle(changeWorkflowId(key, 'v1'));
    await eventually(async () => (await parked.query(changeStatusQuery)).phase === 'parked', 15_000, 'v1 parked in its change workflow');
    assert.deepEqual(await parked.executeUpdate(retryUpdate), { decision: 'retried', eventId: 'v1', outcome: 'applying' });
    await outcomeOf(key, 'v1', 'applied');
    assert.equal(listrak.callsOf('v1').length, 2);

    listrak.script('v2', 'refuse');
    await deliver(key, change('v2', 'opt_in', T + 2 * MINUTE));
    const skipped = client().workflow.getHandle(changeWorkflowId(key, 'v2'));
    await eventually(async () => (await skipped.query(changeStatusQuery)).phase === 'parked', 15_000, 'v2 parked in its change workflow');
    assert.deepEqual(await skipped.executeUpdate(skipUpdate), { decision: 'skipped', eventId: 'v2', outcome: 'skipped' });
    const record = await outcomeOf(key, 'v2', 'skipped');
    assert.match(record.detail ?? '', /^skipped by an operator while parked: list not found/);
    assert.equal(listrak.callsOf('v2').length, 1);
  });

  it('retry and skip updates on a ledger act on the change parked there only, and answer the outcome', async () => {
    const key = newKey();
    const ledger = client().workflow.getHandle(ledgerWorkflowId(key));
    await deliver(key, change('l0', 'opt_in', T));
    await outcomeOf(key, 'l0', 'applied');
    assert.equal(await refusal(ledger.executeUpdate(retryParkedChangeUpdate, { args: ['l0'] })), 'no change is parked in this ledger (l0 is applied)');
    await parkInLedger(key, 'l1', 'opt_out', T + MINUTE);
    assert.equal(await refusal(ledger.executeUpdate(skipParkedChangeUpdate, { args: ['l0'] })), 'the change parked in this ledger is l1, not l0');
    assert.deepEqual(await ledger.executeUpdate(retryParkedChangeUpdate, { args: ['l1'] }), { decision: 'retried', eventId: 'l1', outcome: 'applying' });
    await outcomeOf(key, 'l1', 'applied');
    assert.equal(await refusal(ledger.executeUpdate(retryParkedChangeUpdate, { args: ['l1'] })), 'no change is parked in this ledger (l1 is applied)');

    await parkInLedger(key, 'l2', 'opt_in', T + 2 * MINUTE);
    assert.deepEqual(await ledger.executeUpdate(skipParkedChangeUpdate, { args: ['l2'] }), { decision: 'skipped', eventId: 'l2', outcome: 'skipped' });
    await outcomeOf(key, 'l2', 'skipped');
    assert.equal(listrak.callsOf('l2').length, 1);
  });
});
