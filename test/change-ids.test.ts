import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changeWorkflowIdFor, ledgerKeyFor } from '../src/consent/intake';
import { ledgerWorkflowId, parseChangeWorkflowId, type LedgerState } from '../src/shared';
import { consentEvent, eventually, PRODUCTION_LIST, STAGING_LIST, uniqueEmail, uniqueId, waitForOutcome } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

/**
 * No silent terminal state: a change ends applied, superseded, rejected, skipped, not sent or as a
 * duplicate of one that did; anything else parks it where support sees it. Event ids are not unique
 * across people, so change workflow ids are per ledger.
 */
describe('change workflows are per ledger, and a change never ends unseen', () => {
  const { harness, service } = useHarness();

  const ledgerState = (email: string, environment: 'production' | 'staging' = 'production') =>
    harness().env.client.workflow.getHandle(ledgerWorkflowId(ledgerKeyFor(service().config, environment, email))).query<LedgerState>('ledgerState');

  it("two people's changes with the same event id are both written (an opt-out answered 200 is never lost)", async () => {
    const subscribed = uniqueEmail('reused-a');
    const leaving = uniqueEmail('reused-b');
    const staged = uniqueEmail('reused-c');
    // The person who opts out was subscribed first.
    const first = consentEvent('opt_in', leaving, '2026-11-01T10:00:00Z');
    assert.equal((await service().post(first)).status, 200);
    await waitForOutcome(service(), leaving, String(first.event_id));

    const shared = uniqueId('shared-');
    const optIn = consentEvent('opt_in', subscribed, '2026-11-02T10:00:00Z', { event_id: shared });
    const optOut = consentEvent('opt_out', leaving, '2026-11-02T10:00:00Z', { event_id: shared });
    const staging = consentEvent('opt_in', staged, '2026-11-02T10:00:00Z', { event_id: shared, environment: 'staging' });
    const answers = await Promise.all([service().post(optIn), service().post(optOut), service().post(staging)]);
    assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200]);
    const ids = answers.map((answer) => answer.body.recorded[0].changeWorkflowId as string);
    assert.equal(new Set(ids).size, 3, 'one change workflow per person and environment');
    for (const id of ids) assert.equal(parseChangeWorkflowId(id)?.eventId, shared);

    const outcomes = await Promise.all([
      waitForOutcome(service(), subscribed, shared),
      waitForOutcome(service(), leaving, shared),
      waitForOutcome(service(), staged, shared, { environment: 'staging' }),
    ]);
    assert.deepEqual(outcomes.map((change) => change.outcome), ['applied', 'applied', 'applied']);
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, leaving)?.subscriptionState, 'Unsubscribed');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, subscribed)?.subscriptionState, 'Subscribed');
    assert.equal(harness().sandbox.contact(STAGING_LIST, staged)?.subscriptionState, 'Subscribed');
    // The status answer links the person's own change workflow.
    assert.equal(outcomes[1].changeWorkflowId, ids[1]);
    assert.ok(String(outcomes[1].temporalUiUrl).endsWith(encodeURIComponent(ids[1]!)));
  });

  it('a change whose workflow was terminated parks in its ledger, is listed, and applies once retried', async () => {
    const email = uniqueEmail('terminated');
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    await service().post(optIn);
    assert.equal((await waitForOutcome(service(), email, String(optIn.event_id))).outcome, 'applied');
    harness().sandbox.script({ route: 'upsert', email, status: 503, times: 1_000 });
    const event = consentEvent('opt_out', email, new Date());
    await service().post(event);
    const eventId = String(event.event_id);
    const childId = changeWorkflowIdFor(service().config, 'production', email, eventId);
    await eventually(
      async () => ((await harness().env.client.workflow.getHandle(childId).describe()).raw.pendingActivities?.[0]?.attempt ?? 0) >= 2,
      20_000,
      'the opt-out to be retrying',
    );
    await harness().env.client.workflow.getHandle(childId).terminate('a person ended it in the Temporal UI');

    const parked = await waitForOutcome(service(), email, eventId);
    assert.equal(parked.outcome, 'parked');
    assert.match(parked.parkedReason, /ended without an outcome \(terminated/);
    assert.equal((await ledgerState(email)).parked?.eventId, eventId);

    // Where support looks: the parked search attribute (on the ledger) and the recent changes.
    const ledgerId = ledgerWorkflowId(ledgerKeyFor(service().config, 'production', email));
    await eventually(async () => {
      for await (const info of harness().env.client.workflow.list({ query: `ConsentOutcome = "parked" AND WorkflowId = "${ledgerId}"` })) return info;
      return undefined;
    }, 20_000, 'the ledger to be listed as parked');
    const recent = await eventually(async () => {
      const { body } = await service().request('/changes/recent?limit=100');
      return (body.changes as any[]).find((change) => change.workflowId === childId && change.outcome === 'parked');
    }, 20_000, 'the terminated change to show as parked in the recent changes');
    assert.match(recent.detail, /ended without an outcome/);

    harness().sandbox.clearFaults();
    const retried = await service().request(`/changes/${eventId}/retry`, { method: 'POST' });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    assert.equal(retried.body.workflowId, childId);
    assert.equal(retried.body.result, 'retried: now applying', 'the ledger answers what the retry did');
    const applied = await eventually(async () => {
      const change = await waitForOutcome(service(), email, eventId);
      return change.outcome === 'applied' ? change : undefined;
    }, 30_000, 'the retried change to apply');
    assert.equal(applied.changeWorkflowId, childId, 'the same change workflow id runs again');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Unsubscribed');
    assert.equal((await ledgerState(email)).parked, undefined);
    assert.equal((await service().request(`/changes/${eventId}/retry`, { method: 'POST' })).status, 409, 'no longer parked');
  });

  it('a change parked in its ledger can be skipped, and a newer change supersedes it', async () => {
    const skipped = uniqueEmail('skip-parked');
    const replaced = uniqueEmail('replace-parked');
    for (const email of [skipped, replaced]) harness().sandbox.script({ route: 'upsert', email, status: 503, times: 1_000 });
    const events = [consentEvent('opt_in', skipped, new Date(Date.now() - 60_000)), consentEvent('opt_in', replaced, new Date(Date.now() - 60_000))];
    for (const event of events) await service().post(event);
    for (const [index, email] of [skipped, replaced].entries()) {
      const childId = changeWorkflowIdFor(service().config, 'production', email, String(events[index]!.event_id));
      await eventually(() => harness().env.client.workflow.getHandle(childId).describe().then(() => true), 20_000, 'the change workflow');
      await harness().env.client.workflow.getHandle(childId).terminate('test');
      assert.equal((await waitForOutcome(service(), email, String(events[index]!.event_id))).outcome, 'parked');
    }
    // The terminated run's attempt may still be in its quick retries (about a second at most): a
    // call already on the wire is not recalled; a new subscribe is refused (the ledger no longer runs it).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    harness().sandbox.clearFaults();

    const skippedAnswer = await service().request(`/changes/${String(events[0]!.event_id)}/skip`, { method: 'POST' });
    assert.equal(skippedAnswer.status, 200);
    assert.equal(skippedAnswer.body.result, 'skipped');
    const after = await waitForOutcome(service(), skipped, String(events[0]!.event_id));
    assert.equal(after.outcome, 'skipped');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, skipped), undefined, 'nothing written');

    const newer = consentEvent('opt_out', replaced, new Date());
    await service().post(newer);
    assert.equal((await waitForOutcome(service(), replaced, String(newer.event_id))).outcome, 'applied');
    const old = await waitForOutcome(service(), replaced, String(events[1]!.event_id));
    assert.equal(old.outcome, 'superseded');
    assert.equal((await ledgerState(replaced)).parked, undefined);
  });

  it('an attempt that outlives its terminated change workflow sends no subscribe', async () => {
    const email = uniqueEmail('zombie');
    // The attempt is inside its contact read when the change workflow is terminated.
    harness().sandbox.script({ route: 'getContact', email, delayMs: 2_500, times: 1 });
    const event = consentEvent('opt_in', email, new Date());
    await service().post(event);
    const childId = changeWorkflowIdFor(service().config, 'production', email, String(event.event_id));
    await eventually(
      async () => (await harness().env.client.workflow.getHandle(childId).describe()).raw.pendingActivities?.[0]?.lastStartedTime !== undefined,
      20_000,
      'the attempt to start',
    );
    await harness().env.client.workflow.getHandle(childId).terminate('test: ended mid-read');
    assert.equal((await waitForOutcome(service(), email, String(event.event_id))).outcome, 'parked');
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    assert.equal(harness().sandbox.requestsFor('upsert', email).length, 0, 'the attempt asked its ledger and wrote nothing');
  });

  it('a redelivery whose ledger lost its record (a new ledger run) is not written again', async () => {
    const email = uniqueEmail('redelivered');
    const event = consentEvent('opt_in', email, new Date());
    await service().post(event);
    assert.equal((await waitForOutcome(service(), email, String(event.event_id))).outcome, 'applied');
    const writes = harness().sandbox.requestsFor('upsert', email).length;
    // The ledger's records are gone (as after trimming, or an operator terminating the ledger).
    await harness().env.client.workflow.getHandle(ledgerWorkflowId(ledgerKeyFor(service().config, 'production', email))).terminate('test: forget the records');
    assert.equal((await service().post(event)).status, 200);
    const again = await eventually(async () => {
      const change = await waitForOutcome(service(), email, String(event.event_id));
      return change.outcome === 'duplicate' ? change : undefined;
    }, 20_000, 'the redelivery to be recognised');
    assert.match(again.detail, /already completed/);
    assert.equal(harness().sandbox.requestsFor('upsert', email).length, writes, 'no second write');
  });

  it('with several parked changes under one event id, retry asks which one and takes a workflow id', async () => {
    const shared = uniqueId('ambiguous-');
    const emails = [uniqueEmail('amb-a'), uniqueEmail('amb-b')];
    for (const email of emails) harness().sandbox.script({ route: 'upsert', email, status: 400, error: 'ERROR_INVALID_PARAMETER' });
    for (const email of emails) await service().post(consentEvent('opt_out', email, new Date(), { event_id: shared }));
    for (const email of emails) assert.equal((await waitForOutcome(service(), email, shared)).outcome, 'parked');
    harness().sandbox.clearFaults();
    const childIds = emails.map((email) => changeWorkflowIdFor(service().config, 'production', email, shared));
    const ambiguous = await eventually(async () => {
      const answer = await service().request(`/changes/${shared}/retry`, { method: 'POST' });
      return answer.status === 409 && answer.body.error === 'ambiguous' ? answer : undefined;
    }, 20_000, 'both parked changes to be found');
    assert.deepEqual([...(ambiguous.body.workflowIds as string[])].sort(), [...childIds].sort());
    const one = await service().request(`/changes/${shared}/retry?workflow_id=${encodeURIComponent(childIds[0]!)}`, { method: 'POST' });
    assert.equal(one.status, 200);
    await eventually(async () => (await waitForOutcome(service(), emails[0]!, shared)).outcome === 'applied', 20_000, 'the chosen change to apply');
    // Only one is parked now: the event id alone is enough.
    assert.equal((await service().request(`/changes/${shared}/retry`, { method: 'POST' })).status, 200);
    await eventually(async () => (await waitForOutcome(service(), emails[1]!, shared)).outcome === 'applied', 20_000, 'the other change to apply');
  });
});
