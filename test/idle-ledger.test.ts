import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { changeWorkflowIdFor, ledgerKeyFor } from '../src/consent/intake';
import { ledgerWorkflowId, type LedgerState } from '../src/shared';
import { consentEvent, eventually, PRODUCTION_LIST, uniqueEmail, waitForOutcome } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

/** About 2.6 seconds: ledgers close quickly here; the default is 14 days. */
const IDLE_DAYS = 0.00003;
const IDLE_MS = IDLE_DAYS * 86_400_000;

/**
 * Idle people cost nothing: a ledger with no change for LEDGER_IDLE_DAYS closes, and the next
 * change for that person starts a new run from the closed run's state, so ordering and
 * de-duplication hold across the boundary.
 */
describe('idle ledgers close, and the next change starts from where they left off', () => {
  const { harness, service } = useHarness({ LEDGER_IDLE_DAYS: String(IDLE_DAYS) });

  const ledgerId = (email: string) => ledgerWorkflowId(ledgerKeyFor(service().config, 'production', email));
  const closed = (email: string, runId?: string) =>
    eventually(
      async () => {
        const description = await harness().env.client.workflow.getHandle(ledgerId(email)).describe();
        return description.status.name === 'COMPLETED' && description.runId !== runId ? description.runId : undefined;
      },
      IDLE_MS * 4 + 20_000,
      'the idle ledger to close',
      250,
    );

  it('a stale opt-in after the ledger closed is refused without a Listrak request; a redelivery writes nothing; a newer opt-in applies', async () => {
    const email = uniqueEmail('idle');
    const optOut = consentEvent('opt_out', email, '2026-11-20T10:00:00Z');
    await service().post(consentEvent('opt_in', email, '2026-11-19T10:00:00Z'));
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'applied');
    const firstRun = await closed(email);

    // Status still answers from the closed run (a query replays it on a worker).
    const status = await service().request(`/consents/${encodeURIComponent(email)}`);
    assert.equal(status.status, 200);
    assert.equal(status.body.environments[0].desired.eventId, optOut.event_id);

    const requestsBefore = harness().sandbox.requests.filter((entry) => entry.email === email).length;
    const stale = consentEvent('opt_in', email, '2026-11-20T09:00:00Z');
    assert.equal((await service().post(stale)).status, 200);
    const refused = await waitForOutcome(service(), email, String(stale.event_id));
    assert.equal(refused.outcome, 'superseded');
    assert.match(refused.detail, /not newer than opt_out/);
    assert.equal((await service().post(optOut)).status, 200);
    await eventually(async () => (await waitForOutcome(service(), email, String(optOut.event_id))).duplicatesSeen === 1, 20_000, 'the redelivery to count');
    assert.equal(harness().sandbox.requests.filter((entry) => entry.email === email).length, requestsBefore, 'no Listrak request for either');

    const state = await harness().env.client.workflow.getHandle(ledgerId(email)).query<LedgerState>('ledgerState');
    assert.equal(state.restoredFrom?.runId, firstRun, 'the new run started from the closed one');
    assert.equal((await service().request(`/consents/${encodeURIComponent(email)}`)).body.environments[0].restoredFrom.runId, firstRun, 'the status says so');
    assert.equal(state.changes.length, 3, 'the two records of the closed run and the stale opt-in (the redelivery counts on its record)');

    const newer = consentEvent('opt_in', email, '2026-11-21T10:00:00Z');
    await service().post(newer);
    assert.equal((await waitForOutcome(service(), email, String(newer.event_id))).outcome, 'applied');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');

    // And again across a second close: the chain of runs carries the state on.
    await closed(email, firstRun);
    const older = consentEvent('opt_out', email, '2026-11-21T09:00:00Z');
    await service().post(older);
    assert.equal((await waitForOutcome(service(), email, String(older.event_id))).outcome, 'superseded');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
  });

  it('a ledger holding a parked change stays open', async () => {
    const email = uniqueEmail('idle-parked');
    harness().sandbox.script({ route: 'upsert', email, status: 503, times: 1_000 });
    const event = consentEvent('opt_out', email, new Date());
    await service().post(event);
    const childId = changeWorkflowIdFor(service().config, 'production', email, String(event.event_id));
    await eventually(() => harness().env.client.workflow.getHandle(childId).describe().then(() => true), 20_000, 'the change workflow');
    await harness().env.client.workflow.getHandle(childId).terminate('test');
    assert.equal((await waitForOutcome(service(), email, String(event.event_id))).outcome, 'parked');
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 2.5));
    assert.equal((await harness().env.client.workflow.getHandle(ledgerId(email)).describe()).status.name, 'RUNNING');
    harness().sandbox.clearFaults();
  });

  it('LEDGER_IDLE_DAYS=0 keeps ledgers open', async () => {
    const open = await harness().start({ LEDGER_IDLE_DAYS: '0' });
    const email = uniqueEmail('never-idle');
    const event = consentEvent('opt_in', email, new Date());
    await open.post(event);
    assert.equal((await waitForOutcome(open, email, String(event.event_id))).outcome, 'applied');
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS * 2.5));
    const description = await harness().env.client.workflow.getHandle(ledgerWorkflowId(ledgerKeyFor(open.config, 'production', email))).describe();
    assert.equal(description.status.name, 'RUNNING');
  });
});
