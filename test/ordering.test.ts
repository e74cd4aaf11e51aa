import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashEmail } from '../src/consent/email';
import { ledgerKeyFor } from '../src/consent/intake';
import { SIGNALS, ledgerWorkflowId, type LedgerState } from '../src/shared';
import { consentEvent, eventually, PRODUCTION_LIST, uniqueEmail, waitForOutcome, waitForRetrying } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

const HOUR = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms);

describe('ordering: newest event time wins, opt-out wins ties, stale opt-ins are never applied', () => {
  const { harness, service } = useHarness();

  const subscribeWrites = (email: string) =>
    harness().sandbox
      .requestsFor('upsert', email)
      .filter((entry) => (entry.body as { subscriptionState?: string }).subscriptionState === 'Subscribed');

  it('records an opt-in older than an opt-out already seen as superseded, with no Listrak write', async () => {
    const email = uniqueEmail('late');
    const optOut = consentEvent('opt_out', email, '2026-11-10T12:00:00Z');
    const lateOptIn = consentEvent('opt_in', email, '2026-11-10T11:59:59Z');
    await service().post(optOut);
    await waitForOutcome(service(), email, String(optOut.event_id));
    await service().post(lateOptIn);
    const change = await waitForOutcome(service(), email, String(lateOptIn.event_id));
    assert.equal(change.outcome, 'superseded');
    assert.equal(subscribeWrites(email).length, 0);
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email), undefined, 'never subscribed');
  });

  it('lets an opt-out win a tie whichever arrives first', async () => {
    const first = uniqueEmail('tie-a');
    const optIn = consentEvent('opt_in', first, '2026-11-10T12:00:00Z');
    const optOut = consentEvent('opt_out', first, '2026-11-10T12:00:00Z');
    await service().post(optIn);
    await waitForOutcome(service(), first, String(optIn.event_id));
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), first, String(optOut.event_id))).outcome, 'applied');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, first)?.subscriptionState, 'Unsubscribed');

    const second = uniqueEmail('tie-b');
    const optOutFirst = consentEvent('opt_out', second, '2026-11-10T12:00:00Z');
    const optInSecond = consentEvent('opt_in', second, '2026-11-10T12:00:00.000+00:00');
    await service().post([optOutFirst, optInSecond]);
    assert.equal((await waitForOutcome(service(), second, String(optInSecond.event_id))).outcome, 'superseded');
    await waitForOutcome(service(), second, String(optOutFirst.event_id));
    assert.equal(subscribeWrites(second).length, 0);
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, second), undefined, 'never subscribed');
  });

  it('cancels an older change that is still retrying when a newer one arrives, then applies the newer', async () => {
    const email = uniqueEmail('retrying');
    // The opt-in reads the contact first: make that read fail until the test ends.
    harness().sandbox.script({ route: 'getContact', email, status: 503, times: 10_000 });
    const optIn = consentEvent('opt_in', email, ago(2 * HOUR));
    await service().post(optIn);
    const retrying = await waitForRetrying(service(), email);
    assert.match(retrying.lastError, /503/);

    const optOut = consentEvent('opt_out', email, ago(HOUR));
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'applied');
    const cancelled = await waitForOutcome(service(), email, String(optIn.event_id));
    assert.equal(cancelled.outcome, 'superseded');
    assert.match(cancelled.detail, /cancelled/);
    assert.equal(subscribeWrites(email).length, 0);
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email), undefined, 'never subscribed');
    harness().sandbox.clearFaults();
  });

  it('never has two writes for one email on the wire at once', async () => {
    const email = uniqueEmail('inflight');
    harness().sandbox.script({ route: 'upsert', email, delayMs: 1_500 });
    const optIn = consentEvent('opt_in', email, ago(2 * HOUR));
    await service().post(optIn);
    await eventually(() => harness().sandbox.writesInFlight(email) > 0, 20_000, 'the opt-in write to be in flight');
    const optOut = consentEvent('opt_out', email, ago(HOUR));
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'applied');
    // The opt-in write was already on the wire: it completes, and the opt-out follows it.
    assert.equal((await waitForOutcome(service(), email, String(optIn.event_id))).outcome, 'applied');
    assert.equal(harness().sandbox.maxConcurrentWrites(email), 1);
    assert.deepEqual(
      harness().sandbox.requestsFor('upsert', email).map((entry) => (entry.body as { subscriptionState: string }).subscriptionState),
      ['Subscribed', 'Unsubscribed'],
    );
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Unsubscribed');
  });

  it('does not apply an opt-in older than an unsubscribe made in Listrak itself', async () => {
    const email = uniqueEmail('footer');
    const optIn = consentEvent('opt_in', email, ago(3 * HOUR));
    await service().post(optIn);
    await waitForOutcome(service(), email, String(optIn.event_id));
    harness().sandbox.unsubscribeByContact(PRODUCTION_LIST, email, ago(HOUR));

    const staleOptIn = consentEvent('opt_in', email, ago(2 * HOUR));
    await service().post(staleOptIn);
    const stale = await waitForOutcome(service(), email, String(staleOptIn.event_id));
    assert.equal(stale.outcome, 'superseded');
    assert.match(stale.detail, /Listrak holds an unsubscribe/);
    assert.equal(subscribeWrites(email).length, 1);
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Unsubscribed');

    // A genuinely newer opt-in (the person signed up again) does move them back.
    const newer = consentEvent('opt_in', email, ago(30 * 60_000));
    await service().post(newer);
    assert.equal((await waitForOutcome(service(), email, String(newer.event_id))).outcome, 'applied');
    assert.equal(subscribeWrites(email).at(-1)?.query.overrideUnsubscribe, 'true');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
  });

  it("tells its own unsubscribe (dated at write time) from Listrak's: a newer opt-in still applies", async () => {
    const email = uniqueEmail('own');
    const first = consentEvent('opt_in', email, ago(3 * HOUR));
    await service().post(first);
    await waitForOutcome(service(), email, String(first.event_id));
    // Extole delivered the opt-out late: its event is 2 h old, Listrak dates it now.
    const optOut = consentEvent('opt_out', email, ago(2 * HOUR));
    await service().post(optOut);
    await waitForOutcome(service(), email, String(optOut.event_id));
    const unsubscribeDate = Date.parse(harness().sandbox.contact(PRODUCTION_LIST, email)?.unsubscribeDate ?? '');
    assert.ok(unsubscribeDate > Date.now() - 60_000);

    const optIn = consentEvent('opt_in', email, ago(HOUR));
    await service().post(optIn);
    const change = await waitForOutcome(service(), email, String(optIn.event_id));
    assert.equal(change.outcome, 'applied');
    assert.equal(subscribeWrites(email)[1]?.query.overrideUnsubscribe, 'true');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
  });

  it('keeps history bounded with continue-as-new and carries the ordering state across', async () => {
    const email = uniqueEmail('long');
    const key = ledgerKeyFor(service().config, 'production', email);
    const workflowId = ledgerWorkflowId(key);
    const client = harness().env.client;
    // Start the ledger as intake would, with a low history limit so the test stays short.
    const first = consentEvent('opt_out', email, '2026-11-01T00:00:00Z');
    await client.workflow.signalWithStart('consentLedgerWorkflow', {
      workflowId,
      taskQueue: service().config.temporal.taskQueue,
      args: [{ key, continueAsNewAfterEvents: 40 }],
      signal: SIGNALS.change,
      signalArgs: [{ eventId: first.event_id, eventTime: first.event_time, eventTimeMs: Date.parse(String(first.event_time)), type: 'opt_out', environment: 'production', email, profile: {}, receivedAt: new Date().toISOString() }],
    });
    const firstRun = (await client.workflow.getHandle(workflowId).describe()).runId;
    await waitForOutcome(service(), email, String(first.event_id));
    let last = first;
    for (let day = 2; day <= 9; day++) {
      last = consentEvent(day % 2 === 0 ? 'opt_in' : 'opt_out', email, `2026-11-0${day}T00:00:00Z`);
      await service().post(last);
      await waitForOutcome(service(), email, String(last.event_id));
    }
    const description = await client.workflow.getHandle(workflowId).describe();
    assert.notEqual(description.runId, firstRun, 'the ledger continued as new');
    assert.ok((description.historyLength ?? 0) < 60, `history length ${description.historyLength} stays bounded`);
    const state = await client.workflow.getHandle(workflowId).query<LedgerState>('ledgerState');
    assert.equal(state.desired?.eventId, last.event_id);
    assert.equal(state.changes.length, 9, 'records survive continue-as-new');
    // A stale opt-in is still recognised after the ledger has moved to a new run.
    const stale = consentEvent('opt_in', email, '2026-11-08T12:00:00Z');
    await service().post(stale);
    assert.equal((await waitForOutcome(service(), email, String(stale.event_id))).outcome, 'superseded');
  });

  it('keeps raw emails out of workflow ids and search attributes', async () => {
    const email = uniqueEmail('private');
    const event = consentEvent('opt_in', email, new Date());
    await service().post(event);
    await waitForOutcome(service(), email, String(event.event_id));
    const hash = hashEmail(service().config.emailHashKey, email);
    const found = await eventually(async () => {
      const executions = [];
      for await (const execution of harness().env.client.workflow.list({ query: `ConsentEmailHash = "${hash}"` })) {
        executions.push(execution);
      }
      return executions.length >= 2 ? executions : undefined;
    }, 20_000, 'visibility to list the ledger and the change');
    for (const execution of found) {
      assert.ok(!execution.workflowId.includes(email));
      assert.ok(!execution.workflowId.includes(email.split('@')[0]!));
      const attributes = JSON.stringify(execution.searchAttributes);
      assert.ok(!attributes.includes(email) && !attributes.includes(email.split('@')[0]!), attributes);
    }
  });
});
