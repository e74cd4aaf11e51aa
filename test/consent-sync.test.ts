import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { consentEvent, eventually, PRODUCTION_LIST, STAGING_LIST, uniqueEmail, waitForOutcome } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

describe('consent sync end to end (real Temporal dev server, Listrak sandbox over HTTP)', () => {
  const { harness, service } = useHarness();

  it('subscribes an opt-in with mapped profile fields and the opt-in event', async () => {
    const email = uniqueEmail('optin');
    const event = consentEvent('opt_in', email, '2026-11-01T10:00:00+01:00', {
      profile: { first_name: 'Jane', last_name: 'Doe', phone_number: '+15555555555', share_link: 'refer.example.com/jdoe', funnel: 'advocate' },
    });
    const response = await service().post(event);
    assert.equal(response.status, 200);
    assert.equal(response.body.recorded[0].eventId, event.event_id);
    assert.match(response.body.recorded[0].workflowId, /^consent-ledger\/production\/1001\/[0-9a-f]{32}$/);
    assert.ok(!JSON.stringify(response.body).includes(email), 'workflow ids never carry the email');

    const change = await waitForOutcome(service(), email, String(event.event_id));
    assert.equal(change.outcome, 'applied');
    const contact = harness().sandbox.contact(PRODUCTION_LIST, email);
    assert.equal(contact?.subscriptionState, 'Subscribed');
    assert.deepEqual(
      contact?.segmentationFieldValues.map((value) => [value.segmentationFieldId, value.value]),
      [[101, 'Jane'], [102, 'Doe'], [103, '+15555555555'], [104, 'refer.example.com/jdoe'], [105, 'advocate']],
    );
    assert.deepEqual(contact?.raisedEvents.map((raised) => raised.eventId), [501]);
    const writes = harness().sandbox.requestsFor('upsert', email);
    assert.equal(writes.length, 1);
    assert.equal(writes[0]?.query.eventIds, '501');
  });

  it('unsubscribes an opt-out with no profile data and no events', async () => {
    const email = uniqueEmail('optout');
    const optIn = consentEvent('opt_in', email, '2026-11-01T10:00:00Z', { profile: { first_name: 'Ann' } });
    await service().post(optIn);
    await waitForOutcome(service(), email, String(optIn.event_id));
    const optOut = consentEvent('opt_out', email, '2026-11-02T10:00:00Z', { profile: { first_name: 'Ann' } });
    assert.equal((await service().post(optOut)).status, 200);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'applied');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Unsubscribed');
    const write = harness().sandbox.requestsFor('upsert', email).at(-1);
    assert.deepEqual((write?.body as { segmentationFieldValues: unknown[] }).segmentationFieldValues, []);
    assert.equal(write?.query.eventIds, undefined);
  });

  it('leaves someone Listrak has never seen unsubscribed after an opt-out', async () => {
    const email = uniqueEmail('unknown');
    const optOut = consentEvent('opt_out', email, new Date());
    await service().post(optOut);
    // Listrak answers ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS: the wanted state (not subscribed) holds.
    const change = await waitForOutcome(service(), email, String(optOut.event_id));
    assert.equal(change.outcome, 'applied');
    assert.equal(change.listrakCode, 'ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS');
    assert.notEqual(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
    // And the ledger remembers the opt-out: an older opt-in arriving later is never applied.
    const older = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    await service().post(older);
    assert.equal((await waitForOutcome(service(), email, String(older.event_id))).outcome, 'superseded');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email), undefined);
  });

  it('treats a redelivered event id as a duplicate: 200 and no second Listrak write', async () => {
    const email = uniqueEmail('dup');
    const event = consentEvent('opt_in', email, '2026-11-03T10:00:00Z');
    assert.equal((await service().post(event)).status, 200);
    await waitForOutcome(service(), email, String(event.event_id));
    const again = await service().post(event);
    assert.equal(again.status, 200);
    assert.equal(again.body.recorded[0].workflowId, (await service().post([event])).body.recorded[0].workflowId);
    const change = await eventually(async () => {
      const { body } = await service().request(`/consents/${email}`);
      const found = body.environments[0].changes.find((entry: any) => entry.eventId === event.event_id);
      return found.duplicatesSeen === 2 ? found : undefined;
    });
    assert.equal(change.outcome, 'applied');
    assert.equal(harness().sandbox.requestsFor('upsert', email).length, 1);
  });

  it('sends staging events with the staging credentials to the staging list', async () => {
    const email = uniqueEmail('staging');
    const event = consentEvent('opt_in', email, new Date(), { environment: 'staging' });
    const response = await service().post(event);
    assert.match(response.body.recorded[0].workflowId, /^consent-ledger\/staging\/2002\//);
    assert.equal((await waitForOutcome(service(), email, String(event.event_id), { environment: 'staging' })).outcome, 'applied');
    assert.equal(harness().sandbox.contact(STAGING_LIST, email)?.subscriptionState, 'Subscribed');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email), undefined);
  });

  it('does not send staging events without staging credentials, and says why', async () => {
    const productionOnly = await harness().start({
      LISTRAK_STAGING_CLIENT_ID: undefined,
      LISTRAK_STAGING_CLIENT_SECRET: undefined,
      LISTRAK_STAGING_LIST_ID: undefined,
    });
    const email = uniqueEmail('nostaging');
    const event = consentEvent('opt_in', email, new Date(), { environment: 'staging' });
    assert.equal((await productionOnly.post(event)).status, 200);
    const change = await waitForOutcome(productionOnly, email, String(event.event_id), { environment: 'staging' });
    assert.equal(change.outcome, 'not_sent');
    assert.match(change.detail, /staging/);
    assert.equal(harness().sandbox.requestsFor('upsert', email).length, 0);
  });

  it('skips opt-ins when SEND_OPT_INS=false but still applies opt-outs', async () => {
    const optOutsOnly = await harness().start({ SEND_OPT_INS: 'false' });
    const email = uniqueEmail('optoutsonly');
    const optIn = consentEvent('opt_in', email, '2026-11-01T00:00:00Z');
    await optOutsOnly.post(optIn);
    const skipped = await waitForOutcome(optOutsOnly, email, String(optIn.event_id));
    assert.equal(skipped.outcome, 'not_sent');
    assert.match(skipped.detail, /SEND_OPT_INS=false/);
    const optOut = consentEvent('opt_out', email, '2026-11-02T00:00:00Z');
    await optOutsOnly.post(optOut);
    assert.equal((await waitForOutcome(optOutsOnly, email, String(optOut.event_id))).outcome, 'applied');
    assert.equal(harness().sandbox.requestsFor('upsert', email).length, 1);
  });

  it('shows a person by email on the status endpoint, behind the admin token', async () => {
    const email = uniqueEmail('status');
    const event = consentEvent('opt_in', email, new Date());
    await service().post(event);
    await waitForOutcome(service(), email, String(event.event_id));
    const unauthorised = await service().request(`/consents/${email}`, { admin: false });
    assert.equal(unauthorised.status, 401);
    const { status, body } = await service().request(`/consents/${email.toUpperCase()}`);
    assert.equal(status, 200);
    const production = body.environments.find((entry: any) => entry.environment === 'production');
    assert.equal(production.desired.eventId, event.event_id);
    assert.equal(production.applied.eventId, event.event_id);
    assert.match(production.changes[0].temporalUiUrl, /\/namespaces\/default\/workflows\/consent-change%2F/);
    assert.equal((await service().request(`/consents/${uniqueEmail('nobody')}`)).status, 404);
  });

  it('is ready once Temporal is reachable and the worker polls', async () => {
    const ready = await eventually(async () => {
      const response = await service().request('/readyz', { admin: false });
      return response.status === 200 ? response.body : undefined;
    });
    assert.equal(ready.temporal, 'reachable');
    assert.equal((await service().request('/healthz', { admin: false })).status, 200);
  });
});
