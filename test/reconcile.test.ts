import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { consentEvent, eventually, PRODUCTION_LIST, STAGING_LIST, uniqueEmail, uniqueId, waitForOutcome } from '../src/dev/harness';
import { ledgerKeyFor } from '../src/consent/intake';
import { installReconcileSchedules, reconcileScheduleId } from '../src/consent/reconcile';
import { reconcileWorkflow, type ReconcileInput, type ReconcileResult } from '../workflows/reconcile';
import { runConsent } from './helpers/run-consent';
import { useHarness } from './helpers/use-harness';

// Reconciliation against the sandbox on a real Temporal dev server: unsubscribes made in Listrak
// reach the ledgers, drift the other way is reported and repaired, a sweep survives losing its run.

const HOUR = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms);

describe('reconciliation with Listrak', () => {
  const { harness, service } = useHarness({ RECONCILE_INTERVAL: '15m', RECONCILE_FULL_INTERVAL: '2h', RECONCILE_MODE: 'repair' });

  function sweep(input: Partial<ReconcileInput> & Pick<ReconcileInput, 'sweep'>, workflowId = uniqueId('reconcile-')): Promise<ReconcileResult> {
    return harness().env.client.workflow.execute(reconcileWorkflow, {
      workflowId,
      taskQueue: service().config.temporal.taskQueue,
      args: [{ environment: 'production', listId: PRODUCTION_LIST, mode: 'report', ...input }],
    });
  }
  const statusOf = async (email: string) => (await service().request(`/consents/${encodeURIComponent(email)}`)).body.environments[0];

  it('records an unsubscribe made in Listrak between two Extole changes: the stale opt-in after it is refused without a read, a newer one applies', async () => {
    const email = uniqueEmail('between');
    const first = consentEvent('opt_in', email, ago(3 * HOUR));
    await service().post(first);
    assert.equal((await waitForOutcome(service(), email, String(first.event_id))).outcome, 'applied');
    const unsubscribedAt = ago(2 * HOUR);
    harness().sandbox.unsubscribeInListrak(PRODUCTION_LIST, email, { at: unsubscribedAt, method: 'Complaint' });

    const result = await sweep({ sweep: 'unsubscribed', since: ago(4 * HOUR).toISOString() });
    assert.ok(result.figures.externalOptOutsRecorded >= 1, JSON.stringify(result.figures));
    const view = await statusOf(email);
    const external = view.changes.find((change: { eventId: string }) => change.eventId.startsWith('listrak-unsubscribe:'));
    assert.equal(external?.type, 'opt_out');
    assert.equal(external?.detail, `external opt-out: unsubscribed in Listrak at ${unsubscribedAt.toISOString()}, method Complaint`);
    assert.equal(view.desired.eventId, external.eventId);

    // A second sweep over the same window finds it known: not recorded twice.
    const again = await sweep({ sweep: 'unsubscribed', since: ago(4 * HOUR).toISOString() });
    assert.ok(again.figures.unsubscribesKnown >= 1);
    assert.equal((await statusOf(email)).changes.filter((change: { eventId: string }) => change.eventId.startsWith('listrak-unsubscribe:')).length, 1);

    const readsBefore = harness().sandbox.requestsFor('getContact', email).length;
    const stale = consentEvent('opt_in', email, ago(2.5 * HOUR));
    await service().post(stale);
    const refused = await waitForOutcome(service(), email, String(stale.event_id));
    assert.equal(refused.outcome, 'superseded');
    assert.match(refused.detail, /unsubscribed in Listrak at .*, method Complaint/);
    assert.equal(harness().sandbox.requestsFor('getContact', email).length, readsBefore, 'refused without a Listrak read');

    const newer = consentEvent('opt_in', email, ago(HOUR));
    await service().post(newer);
    assert.equal((await waitForOutcome(service(), email, String(newer.event_id))).outcome, 'applied');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
  });

  it('gives a person with no ledger one that holds the Listrak-side opt-out', async () => {
    const email = uniqueEmail('no-ledger');
    harness().sandbox.unsubscribeInListrak(PRODUCTION_LIST, email, { at: ago(HOUR) });
    await sweep({ sweep: 'unsubscribed', since: ago(2 * HOUR).toISOString() });
    const view = await eventually(async () => {
      const current = await statusOf(email).catch(() => undefined);
      return current?.desired ? current : undefined;
    });
    assert.equal(view.desired.type, 'opt_out');
    const stale = consentEvent('opt_in', email, ago(1.5 * HOUR));
    await service().post(stale);
    assert.equal((await waitForOutcome(service(), email, String(stale.event_id))).outcome, 'superseded');
    assert.equal(harness().sandbox.requestsFor('getContact', email).length, 0);
  });

  it('finds a person an import re-subscribed after they opted out: report lists the hash, repair writes the opt-out again', async () => {
    const email = uniqueEmail('imported');
    const optOut = consentEvent('opt_out', email, ago(HOUR));
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'applied');
    harness().sandbox.subscribeInListrak(PRODUCTION_LIST, email, { at: ago(30 * 60_000) });
    const hash = ledgerKeyFor(service().config, 'production', email).emailHash;

    const report = await sweep({ sweep: 'subscribed', mode: 'report' });
    assert.ok(report.drifted.includes(hash), 'the drifted contact is listed by its email hash');
    assert.ok(!JSON.stringify(report).includes(email), 'never the address');
    assert.equal(report.figures.driftRepaired, 0);
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed', 'report changes nothing');

    const dry = await sweep({ sweep: 'subscribed', mode: 'repair', dryRun: true });
    assert.ok(dry.drifted.includes(hash));
    assert.equal(dry.figures.driftRepaired, 0);

    const repair = await sweep({ sweep: 'subscribed', mode: 'repair' });
    assert.ok(repair.drifted.includes(hash));
    assert.ok(repair.figures.driftRepaired >= 1);
    await eventually(() => harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState === 'Unsubscribed', 20_000, 'the opt-out written again');
    const rewritten = (await statusOf(email)).changes.find((change: { eventId: string }) => change.eventId === `${String(optOut.event_id)}.repair-1`);
    assert.equal(rewritten?.type, 'opt_out');
    await eventually(async () => (await statusOf(email)).changes.find((change: { eventId: string }) => change.eventId === `${String(optOut.event_id)}.repair-1`)?.outcome === 'applied');
    const after = await sweep({ sweep: 'subscribed', mode: 'report' });
    assert.ok(!after.drifted.includes(hash), 'no drift once repaired');
  });

  it('resumes a sweep whose run was lost between pages: no contact missed, none recorded twice', async () => {
    const emails = Array.from({ length: 7 }, (_, index) => uniqueEmail(`sweep${index}`));
    for (const [index, email] of emails.entries()) harness().sandbox.unsubscribeInListrak(STAGING_LIST, email, { at: new Date(Date.UTC(2020, 0, 1, 0, index)) });
    const input: ReconcileInput = { environment: 'staging', listId: STAGING_LIST, sweep: 'unsubscribed', mode: 'report', since: '2020-01-01T00:05:00Z', pageSize: 2, pagesPerRun: 1 };
    // The second page answers slowly: the run is terminated while it is being read.
    harness().sandbox.script({ route: 'getContacts', times: 1 }, { route: 'getContacts', delayMs: 4_000, times: 1 });
    const workflowId = uniqueId('reconcile-lost-');
    const handle = await harness().env.client.workflow.start(reconcileWorkflow, { workflowId, taskQueue: service().config.temporal.taskQueue, args: [input] });
    await eventually(() => harness().sandbox.requestsFor('getContacts').length >= 2 && harness().sandbox.requestsFor('getContacts').at(-1)!.status === 200, 20_000, 'the first page');
    await handle.terminate('lost between pages');

    const result = await harness().env.client.workflow.execute(reconcileWorkflow, { workflowId, taskQueue: service().config.temporal.taskQueue, args: [input] });
    assert.equal(result.figures.contactsRead, 7, 'every contact of the window, once');
    assert.equal(result.figures.externalOptOutsRecorded + result.figures.unsubscribesKnown, 7);
    assert.ok(result.pages >= 4);
    for (const email of emails) {
      const view = (await service().request(`/consents/${encodeURIComponent(email)}`)).body.environments.find((entry: { environment: string }) => entry.environment === 'staging');
      assert.equal(view.changes.filter((change: { eventId: string }) => change.eventId.startsWith('listrak-unsubscribe:')).length, 1, 'recorded exactly once');
    }
  });

  it('npm run consent -- reconcile: --now --dry-run sweeps each list with figures and records nothing; without --now it shows the Schedules', async () => {
    const email = uniqueEmail('cli-sweep');
    harness().sandbox.unsubscribeInListrak(PRODUCTION_LIST, email, { at: ago(HOUR) });
    const swept = await runConsent(service().env, 'reconcile', '--now', '--dry-run', '--environment', 'production', '--json');
    assert.equal(swept.code, 0, swept.stderr);
    const results = JSON.parse(swept.stdout) as ReconcileResult[];
    assert.deepEqual(results.map((result) => [result.environment, result.listId, result.sweep, result.dryRun]), [
      ['production', PRODUCTION_LIST, 'unsubscribed', true],
      ['production', PRODUCTION_LIST, 'subscribed', true],
    ]);
    assert.ok(results[0]!.figures.contactsRead >= 1 && results[0]!.figures.externalOptOutsRecorded >= 1, JSON.stringify(results[0]!.figures));
    assert.match(swept.stderr, /production list 1001: sweeping unsubscribed contacts \(dry run/);
    assert.ok(!swept.stdout.includes(email) && !swept.stderr.includes(email), 'no address in the output');
    assert.equal((await service().request(`/consents/${encodeURIComponent(email)}`)).status, 404, 'a dry run starts no ledger');

    const shown = await runConsent(service().env, 'reconcile', '--environment', 'production', '--json');
    assert.equal(shown.code, 0, shown.stderr);
    const rows = JSON.parse(shown.stdout) as { scheduleId: string; mode: string; nextRunAt?: string }[];
    assert.deepEqual(rows.map((row) => [row.scheduleId, row.mode]), [
      [reconcileScheduleId('production', PRODUCTION_LIST, 'unsubscribed'), 'repair'],
      [reconcileScheduleId('production', PRODUCTION_LIST, 'subscribed'), 'repair'],
    ]);
    assert.ok(rows.every((row) => row.nextRunAt !== undefined), 'installed, with a next run');
    for (const row of rows) await harness().env.client.schedule.getHandle(row.scheduleId).delete();

    const refused = await runConsent(service().env, 'reconcile', '--dry-run');
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /--dry-run goes with --now/);
  });

  it('installs one Schedule per environment and sweep, idempotently, at RECONCILE_INTERVAL, RECONCILE_FULL_INTERVAL and RECONCILE_MODE', async () => {
    const client = harness().env.client;
    const ids = await installReconcileSchedules(client, service().config);
    assert.deepEqual(await installReconcileSchedules(client, service().config), ids, 'a second install updates, it does not fail');
    const unsubscribed = await client.schedule.getHandle(reconcileScheduleId('production', PRODUCTION_LIST, 'unsubscribed')).describe();
    const subscribed = await client.schedule.getHandle(reconcileScheduleId('production', PRODUCTION_LIST, 'subscribed')).describe();
    assert.equal(unsubscribed.spec.intervals?.[0]?.every, 15 * 60_000);
    assert.equal(subscribed.spec.intervals?.[0]?.every, 2 * HOUR);
    assert.equal(unsubscribed.action.type === 'startWorkflow' && (unsubscribed.action.args?.[0] as ReconcileInput).mode, 'repair');
    for (const id of ids) await client.schedule.getHandle(id).delete();
  });
});
