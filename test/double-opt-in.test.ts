import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_SEED, type SandboxSeed } from '../src/dev/listrak-sandbox/sandbox';
import { consentEvent, PRODUCTION_LIST, uniqueEmail, uniqueId, waitForOutcome } from '../src/dev/harness';
import { reconcileWorkflow, type ReconcileResult } from '../workflows/reconcile';
import { useHarness } from './helpers/use-harness';

// Double opt-in per list (#14), end to end: a real Temporal dev server, the sandbox over HTTP, a
// routing file with one list that asks new people to confirm (doubleOptIn: true) and one that does not.

const DOI_LIST = 3005;
/** Already pending a double opt-in in Listrak when the test starts (the seed's pendingEmails). */
const ALREADY_PENDING = uniqueEmail('already-pending');

const seed: SandboxSeed = {
  ...structuredClone(DEFAULT_SEED),
  lists: [...structuredClone(DEFAULT_SEED.lists), { ...structuredClone(DEFAULT_SEED.lists[0]!), listId: DOI_LIST, listName: 'Confirmed marketing (sandbox)', enableDoubleOptIn: true }],
  pendingEmails: [ALREADY_PENDING],
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'double-opt-in-'));
const ROUTING_FILE = path.join(dir, 'routing.yaml');
writeFileSync(
  ROUTING_FILE,
  `lists:
  main:
    listId: ${PRODUCTION_LIST}
    clientIdFrom: env:LISTRAK_CLIENT_ID
    clientSecretFrom: env:LISTRAK_CLIENT_SECRET
    profileFields: { first_name: 101 }
    optInEventIds: [501]
  confirmed:
    listId: ${DOI_LIST}
    clientIdFrom: env:LISTRAK_CLIENT_ID
    clientSecretFrom: env:LISTRAK_CLIENT_SECRET
    profileFields: { first_name: 101 }
    optInEventIds: [501]
    doubleOptIn: true
routes:
  - name: confirmed-program
    match: { programLabel: doi }
    lists: [confirmed]
default:
  lists: [main]
`,
);

const HOUR = 3_600_000;
const ago = (ms: number) => new Date(Date.now() - ms);

describe('double opt-in per list (doubleOptIn: true in the routing file)', () => {
  const { harness, service } = useHarness(
    {
      ROUTING_FILE,
      LISTRAK_LIST_ID: undefined,
      LISTRAK_STAGING_LIST_ID: undefined,
      LISTRAK_SEGMENTATION_FIELDS: undefined,
      LISTRAK_OPT_IN_EVENT_IDS: undefined,
    },
    { seed },
  );

  const doi = (type: 'opt_in' | 'opt_out', email: string, at: Date) => consentEvent(type, email, at, { program_label: 'doi', profile: { first_name: 'Ada' } });
  const writes = (email: string) => harness().sandbox.requestsFor('upsert', email);
  const askedToConfirm = (email: string) => writes(email).filter((write) => write.query.sendDoubleOptIn === 'true');
  const statusOf = async (email: string) => (await service().request(`/consents/${encodeURIComponent(email)}`)).body.environments[0];
  /** The person clicks the link in Listrak's confirmation email (the sandbox's test-only route). */
  const confirm = (email: string) =>
    fetch(`${harness().sandboxUrls.url}/_sandbox/confirm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ listId: DOI_LIST, email }) });
  const sweepSubscribed = (): Promise<ReconcileResult> =>
    harness().env.client.workflow.execute(reconcileWorkflow, {
      workflowId: uniqueId('reconcile-doi-'),
      taskQueue: service().config.temporal.taskQueue,
      args: [{ environment: 'production', listId: DOI_LIST, sweep: 'subscribed', mode: 'report' }],
    });

  it('an opt-in for a new person is written with sendDoubleOptIn and waits for their confirmation; confirmed, a sweep records it and a later opt-in updates with no second confirmation', async () => {
    const email = uniqueEmail('doi-confirms');
    const first = doi('opt_in', email, ago(3 * HOUR));
    assert.equal((await service().post(first)).status, 200);
    const waiting = await waitForOutcome(service(), email, String(first.event_id));
    assert.equal(waiting.outcome, 'awaiting_confirmation');
    assert.match(waiting.detail, /Listrak sent its confirmation email/);
    const [write] = writes(email);
    assert.equal(writes(email).length, 1);
    assert.equal(write?.listId, DOI_LIST);
    assert.equal(write?.query.sendDoubleOptIn, 'true');
    assert.equal(write?.query.eventIds, undefined, 'no opt-in events for a person who has not confirmed');
    assert.equal(harness().sandbox.contact(DOI_LIST, email), undefined, 'not subscribed: pending');
    assert.equal(harness().sandbox.pendingDoubleOptIn(DOI_LIST, email)?.segmentationFieldValues[0]?.value, 'Ada');
    assert.equal((await statusOf(email)).applied, null, 'nothing is subscribed yet');
    // The live view's listing says the same as the person's status.
    const listed = (await service().request('/changes/recent?limit=20')).body.changes.find((change: { eventId: string }) => change.eventId === first.event_id);
    assert.equal(listed?.outcome, 'awaiting_confirmation');

    assert.equal((await confirm(email)).status, 200);
    assert.deepEqual([harness().sandbox.contact(DOI_LIST, email)?.subscriptionState, harness().sandbox.contact(DOI_LIST, email)?.subscribeMethod], ['Subscribed', 'DoubleOptIn']);
    // The service learns of the confirmation when it next reads the list: the full sweep.
    await sweepSubscribed();
    const view = await statusOf(email);
    const confirmed = view.changes.find((change: { eventId: string }) => change.eventId === first.event_id);
    assert.equal(confirmed.outcome, 'applied');
    assert.match(confirmed.detail, /double opt-in confirmed by the person: subscribed in Listrak since .* \(method DoubleOptIn\)/);
    assert.equal(view.applied?.eventId, first.event_id);

    const later = doi('opt_in', email, ago(HOUR));
    await service().post(later);
    assert.equal((await waitForOutcome(service(), email, String(later.event_id))).outcome, 'applied');
    assert.equal(writes(email).length, 2);
    assert.equal(writes(email)[1]?.query.sendDoubleOptIn, undefined, 'a subscribed contact is updated as on any list');
    assert.equal(askedToConfirm(email).length, 1, 'one confirmation email in all');
    assert.deepEqual(harness().sandbox.contact(DOI_LIST, email)?.raisedEvents.map((event) => event.eventId), [501]);
  });

  it('an opt-out while the confirmation is pending unsubscribes the address: a confirmation afterwards subscribes nobody', async () => {
    const email = uniqueEmail('doi-withdrawn');
    const optIn = doi('opt_in', email, ago(2 * HOUR));
    await service().post(optIn);
    assert.equal((await waitForOutcome(service(), email, String(optIn.event_id))).outcome, 'awaiting_confirmation');
    const optOut = doi('opt_out', email, ago(HOUR));
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'applied');
    assert.equal(harness().sandbox.contact(DOI_LIST, email)?.subscriptionState, 'Unsubscribed');
    assert.equal(harness().sandbox.pendingDoubleOptIn(DOI_LIST, email), undefined, 'the pending double opt-in is withdrawn');

    assert.equal((await confirm(email)).status, 409, 'nothing left to confirm');
    assert.equal(harness().sandbox.contact(DOI_LIST, email)?.subscriptionState, 'Unsubscribed');
    const swept = await sweepSubscribed();
    assert.equal(swept.figures.driftFound, 0, JSON.stringify(swept.figures));
    const view = await statusOf(email);
    assert.equal(view.desired.eventId, optOut.event_id);
    assert.equal(view.applied.eventId, optOut.event_id);
  });

  it('a person already subscribed to the double opt-in list is updated with no confirmation email, and the opt-in events are raised', async () => {
    const email = uniqueEmail('doi-subscribed');
    harness().sandbox.subscribeInListrak(DOI_LIST, email, { at: ago(5 * HOUR) });
    const optIn = doi('opt_in', email, ago(HOUR));
    await service().post(optIn);
    assert.equal((await waitForOutcome(service(), email, String(optIn.event_id))).outcome, 'applied');
    assert.equal(askedToConfirm(email).length, 0);
    assert.deepEqual(harness().sandbox.contact(DOI_LIST, email)?.raisedEvents.map((event) => event.eventId), [501]);
  });

  it('ERROR_PENDING_EMAIL_ADDRESS (someone already pending) is the same waiting outcome, not a failure, after one write', async () => {
    const optIn = consentEvent('opt_in', ALREADY_PENDING, ago(HOUR));
    await service().post(optIn);
    const change = await waitForOutcome(service(), ALREADY_PENDING, String(optIn.event_id));
    assert.equal(change.outcome, 'awaiting_confirmation');
    assert.equal(change.listrakCode, 'ERROR_PENDING_EMAIL_ADDRESS');
    assert.match(change.detail, /already pending in Listrak/);
    assert.equal(writes(ALREADY_PENDING).length, 1, 'not retried');
  });

  it('a list without doubleOptIn never sends the flag: a new person is subscribed at once', async () => {
    const email = uniqueEmail('no-doi');
    const optIn = consentEvent('opt_in', email, ago(HOUR));
    await service().post(optIn);
    assert.equal((await waitForOutcome(service(), email, String(optIn.event_id))).outcome, 'applied');
    assert.equal(writes(email).length, 1);
    assert.equal(writes(email)[0]?.listId, PRODUCTION_LIST);
    assert.equal(askedToConfirm(email).length, 0);
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
  });
});
