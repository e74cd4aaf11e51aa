import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SEED, type SandboxSeed } from '../src/dev/listrak-sandbox/sandbox';
import { consentEvent, eventually, PRODUCTION_LIST, uniqueEmail, waitForOutcome } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

// The project's Listrak client, through the real workflows, against the sandbox: one case per row
// and code of the error table in ../shared/listrak/README.md, asserting the outcome class and the
// number of Listrak writes.

function seedWithQuirks(): SandboxSeed {
  const seed = structuredClone(DEFAULT_SEED);
  const fields = seed.lists[0]!.segmentationFieldGroups![0]!.fields;
  fields.find((field) => field.segmentationFieldId === 103)!.maxLength = 5;
  fields.find((field) => field.segmentationFieldId === 104)!.disabled = true;
  seed.lists.push({ listId: 3003, listName: 'Paused list', active: false, segmentationFieldGroups: [], events: [] });
  seed.bannedEmails = ['banned@example.com'];
  return seed;
}

type Row = { codes: string; fault: { status: number; error?: string; reset?: boolean; delayMs?: number }; type: 'opt_in' | 'opt_out' };

describe("Listrak error table: every class and code gets the contract's treatment", () => {
  const { harness, service } = useHarness({}, { seed: seedWithQuirks() });

  const writes = (email: string) => harness().sandbox.requestsFor('upsert', email);

  async function run(row: Row) {
    const email = uniqueEmail(row.codes.toLowerCase().replace(/[^a-z0-9]+/g, '-').slice(0, 30));
    harness().sandbox.script({ route: 'upsert', email, ...row.fault });
    const event = consentEvent(row.type, email, new Date());
    await service().post(event);
    const change = await waitForOutcome(service(), email, String(event.event_id), { timeoutMs: 40_000 });
    return { email, event, change };
  }

  const transient: Row[] = [
    { codes: 'HTTP 429', fault: { status: 429, error: 'HTTP_429' }, type: 'opt_in' },
    { codes: 'HTTP 500 ERROR_UNHANDLED_EXCEPTION', fault: { status: 500, error: 'ERROR_UNHANDLED_EXCEPTION' }, type: 'opt_in' },
    { codes: 'HTTP 502', fault: { status: 502, error: 'HTTP_502' }, type: 'opt_in' },
    { codes: 'HTTP 503', fault: { status: 503 }, type: 'opt_in' },
    { codes: 'connection reset', fault: { status: 0, reset: true }, type: 'opt_in' },
    { codes: 'timeout', fault: { status: 0, reset: true, delayMs: 5_500 }, type: 'opt_in' },
  ];
  for (const row of transient) {
    it(`transient: ${row.codes} is retried, then applied`, async () => {
      const { email, change } = await run(row);
      assert.equal(change.outcome, 'applied');
      assert.equal(writes(email).length, 2, 'one failed write, one that applied');
      assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
    });
  }

  it('token: a 401 on an API call gets one fresh token and the same call again', async () => {
    const tokensBefore = service().listrakClient.stats.tokenRequests;
    const { email, change } = await run({ codes: 'ERROR_UNAUTHORIZED', fault: { status: 401, error: 'ERROR_UNAUTHORIZED' }, type: 'opt_in' });
    assert.equal(change.outcome, 'applied');
    assert.deepEqual(writes(email).map((entry) => entry.status), [401, 201]);
    assert.equal(service().listrakClient.stats.tokenRequests, tokensBefore + 1);
  });

  it('token: a 401 that persists after a fresh token parks the change', async () => {
    const email = uniqueEmail('token-persists');
    harness().sandbox.script({ route: 'upsert', email, status: 401, error: 'ERROR_UNAUTHORIZED', times: 2 });
    const event = consentEvent('opt_out', email, new Date());
    await service().post(event);
    const change = await waitForOutcome(service(), email, String(event.event_id));
    assert.equal(change.outcome, 'parked');
    assert.equal(change.listrakCode, 'ERROR_UNAUTHORIZED');
    assert.equal(writes(email).length, 2);
  });

  const operator: Row[] = [
    { codes: 'ERROR_INVALID_CREDENTIALS', fault: { status: 400, error: 'ERROR_INVALID_CREDENTIALS' }, type: 'opt_out' },
    { codes: 'ERROR_INVALID_LIST_ID', fault: { status: 400, error: 'ERROR_INVALID_LIST_ID' }, type: 'opt_out' },
    { codes: 'ERROR_LIST_INACTIVE', fault: { status: 400, error: 'ERROR_LIST_INACTIVE' }, type: 'opt_out' },
    { codes: '404 ERROR_UNABLE_TO_LOCATE_RESOURCE', fault: { status: 404, error: 'ERROR_UNABLE_TO_LOCATE_RESOURCE' }, type: 'opt_out' },
    { codes: 'HTTP 403', fault: { status: 403, error: 'HTTP_403' }, type: 'opt_out' },
  ];
  for (const row of operator) {
    it(`operator must act: ${row.codes} parks after one call, and applies after a retry signal`, async () => {
      const { email, event, change } = await run(row);
      assert.equal(change.outcome, 'parked');
      assert.equal(writes(email).length, 1, 'not retried by itself');
      assert.equal((await service().request(`/changes/${String(event.event_id)}/retry`, { method: 'POST' })).status, 200);
      const applied = await eventually(async () => {
        const latest = await waitForOutcome(service(), email, String(event.event_id));
        return latest.outcome === 'applied' ? latest : undefined;
      });
      assert.equal(applied.listrakCode, 'ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS');
      assert.equal(writes(email).length, 2);
    });
  }

  const final: Row[] = ['ERROR_INVALID_EMAIL_ADDRESS', 'ERROR_BANNED_EMAIL_ADDRESS', 'ERROR_SUPPRESSED_EMAIL'].map((code) => ({
    codes: code,
    fault: { status: 400, error: code },
    type: 'opt_in' as const,
  }));
  for (const row of final) {
    it(`final for the contact: ${row.codes} is recorded after exactly one call`, async () => {
      const { email, change } = await run(row);
      assert.equal(change.outcome, 'rejected');
      assert.equal(change.listrakCode, row.codes);
      assert.equal(writes(email).length, 1);
    });
  }

  it('pending a double opt-in: ERROR_PENDING_EMAIL_ADDRESS is recorded as awaiting the confirmation after exactly one call', async () => {
    const { email, change } = await run({ codes: 'ERROR_PENDING_EMAIL_ADDRESS', fault: { status: 400, error: 'ERROR_PENDING_EMAIL_ADDRESS' }, type: 'opt_in' });
    assert.equal(change.outcome, 'awaiting_confirmation');
    assert.equal(change.listrakCode, 'ERROR_PENDING_EMAIL_ADDRESS');
    assert.equal(writes(email).length, 1);
  });

  const alreadyDone: Row[] = [
    { codes: 'ERROR_SUBSCRIBED_EMAIL_ADDRESS', fault: { status: 400, error: 'ERROR_SUBSCRIBED_EMAIL_ADDRESS' }, type: 'opt_in' },
    { codes: 'ERROR_UNSUBSCRIBED_EMAIL_ADDRESS', fault: { status: 400, error: 'ERROR_UNSUBSCRIBED_EMAIL_ADDRESS' }, type: 'opt_out' },
    { codes: 'ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS', fault: { status: 400, error: 'ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS' }, type: 'opt_out' },
  ];
  for (const row of alreadyDone) {
    it(`already done: ${row.codes} counts as success after one call`, async () => {
      const { email, change } = await run(row);
      assert.equal(change.outcome, 'applied');
      assert.equal(change.listrakCode, row.codes);
      assert.equal(writes(email).length, 1);
    });
  }

  const ourBug: Row[] = [
    'ERROR_INVALID_PARAMETER',
    'ERROR_MALFORMED_REQUEST_BODY',
    'ERROR_UNSUBSCRIBE_WITH_SEGMENTATION_DATA',
    'ERROR_UNSUBSCRIBE_WITH_EVENTS',
    'ERROR_SEGMENTATION_FIELD_DEFINED_TWICE',
    'ERROR_SEGMENTATION_MAX_LENGTH',
    'ERROR_SEGMENTATION_FIELD_DISABLED',
    'ERROR_INVALID_SEGMENTATION_FIELD_ID',
  ].map((code) => ({ codes: code, fault: { status: 400, error: code }, type: 'opt_out' as const }));
  ourBug.push({ codes: '415 ERROR_UNSUPPORTED_CONTENT_TYPE', fault: { status: 415, error: 'ERROR_UNSUPPORTED_CONTENT_TYPE' }, type: 'opt_out' });
  for (const row of ourBug) {
    it(`our request is wrong: ${row.codes} is not retried blindly; it parks, loudly`, async () => {
      const { email, change } = await run(row);
      assert.equal(change.outcome, 'parked');
      assert.equal(writes(email).length, 1);
      assert.match(change.parkedReason, /LISTRAK_SEGMENTATION_FIELDS|LISTRAK_OPT_IN_EVENT_IDS/);
    });
  }

  it('subscribes despite profile values Listrak refuses (too long, disabled field) and reports what was dropped', async () => {
    const email = uniqueEmail('profile');
    const event = consentEvent('opt_in', email, new Date(), {
      profile: { first_name: 'Jo', last_name: 'Ng', phone_number: '+15555555555', share_link: 'refer.example.com/jo', funnel: 'friend' },
    });
    await service().post(event);
    const change = await waitForOutcome(service(), email, String(event.event_id));
    assert.equal(change.outcome, 'applied');
    assert.match(change.detail, /profile values dropped: 103 \(ERROR_SEGMENTATION_MAX_LENGTH\), 104 \(ERROR_SEGMENTATION_FIELD_DISABLED\)/);
    const contact = harness().sandbox.contact(PRODUCTION_LIST, email);
    assert.equal(contact?.subscriptionState, 'Subscribed');
    assert.deepEqual(contact?.segmentationFieldValues.map((value) => value.segmentationFieldId).sort(), [101, 102, 105]);
    assert.deepEqual(contact?.raisedEvents.map((raised) => raised.eventId), [501], 'the email series starts once');
  });

  it('parks on an unknown or inactive list, and applies once a person fixed the list', async () => {
    const unknown = await harness().start({ LISTRAK_LIST_ID: '4004' });
    const inactive = await harness().start({ LISTRAK_LIST_ID: '3003' });
    const cases = [
      { svc: unknown, listId: 4004, code: 'ERROR_UNABLE_TO_LOCATE_RESOURCE' },
      { svc: inactive, listId: 3003, code: 'ERROR_LIST_INACTIVE' },
    ];
    for (const { svc, listId, code } of cases) {
      const email = uniqueEmail(`list${listId}`);
      const event = consentEvent('opt_in', email, new Date());
      await svc.post(event);
      const parked = await waitForOutcome(svc, email, String(event.event_id));
      assert.equal(parked.outcome, 'parked');
      assert.equal(parked.listrakCode, code);
      // A person fixes the list in Listrak, then retries the change.
      const existing = harness().sandbox.list(listId);
      if (existing) existing.active = true;
      else {
        harness().sandbox.seed.lists.push({ listId, listName: 'Created later', segmentationFieldGroups: [], events: [{ eventId: 501, eventName: 'Welcome' }] });
        harness().sandbox.contacts.set(listId, new Map());
      }
      harness().sandbox.list(listId)!.events = [{ eventId: 501, eventName: 'Welcome' }];
      assert.equal((await svc.request(`/changes/${String(event.event_id)}/retry`, { method: 'POST' })).status, 200);
      await eventually(async () => (await waitForOutcome(svc, email, String(event.event_id))).outcome === 'applied');
      assert.equal(harness().sandbox.contact(listId, email)?.subscriptionState, 'Subscribed');
    }
  });

  it('a real banned address is rejected after one call', async () => {
    const event = consentEvent('opt_in', 'banned@example.com', new Date());
    await service().post(event);
    const change = await waitForOutcome(service(), 'banned@example.com', String(event.event_id));
    assert.equal(change.outcome, 'rejected');
    assert.equal(change.listrakCode, 'ERROR_BANNED_EMAIL_ADDRESS');
    assert.equal(writes('banned@example.com').length, 1);
  });
});
