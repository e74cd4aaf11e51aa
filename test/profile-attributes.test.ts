import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DEFAULT_SEED, type SandboxSeed } from '../src/dev/listrak-sandbox/sandbox';
import { PRODUCTION_LIST, uniqueEmail, uniqueId, waitForOutcome } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

// Any profile attribute (#14), end to end: a routing file maps a custom Extole attribute to a
// Listrak field, an opt-in through the webhook writes it to the sandbox's contact; a value over
// the field's maxLength is dropped on Listrak's answer and the consent still applies
// (real Temporal dev server, sandbox over HTTP).

const LOYALTY_TIER = 201;
const TIER_MAX_LENGTH = 10;

function seed(): SandboxSeed {
  const value = structuredClone(DEFAULT_SEED);
  value.lists[0]!.segmentationFieldGroups![0]!.fields.push({ segmentationFieldId: LOYALTY_TIER, segmentationFieldName: 'Loyalty Tier', maxLength: TIER_MAX_LENGTH, dataType: 'Text' });
  return value;
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'attributes-e2e-'));
const ROUTING_FILE = path.join(dir, 'routing.yaml');
writeFileSync(
  ROUTING_FILE,
  `lists:
  advocates:
    listId: ${PRODUCTION_LIST}
    clientIdFrom: env:LISTRAK_CLIENT_ID
    clientSecretFrom: env:LISTRAK_CLIENT_SECRET
    profileFields: { first_name: 101, loyalty_tier: ${LOYALTY_TIER} }
    optInEventIds: [501]
default:
  lists: [advocates]
fields:
  eventId: eventId
  eventTime: eventTime
  email: data.person.email
  type: { path: data.state, optIn: [subscribed], optOut: [unsubscribed] }
  attributes:
    first_name: data.person.first_name
    loyalty_tier: data.person.tier
`,
);

/** An event object as Extole's webhook would send it, with a person carrying more than any list maps. */
function extoleOptIn(email: string, tier: string) {
  return {
    eventId: uniqueId('ext-'),
    eventTime: new Date().toISOString(),
    programLabel: 'advocate',
    data: { state: 'subscribed', person: { email, first_name: 'Ada', tier, birthday: '1815-12-10' } },
  };
}

/** Every payload of a workflow's history, decoded as text (the tests run without payload encryption). */
function payloadTexts(history: unknown): string[] {
  const texts: string[] = [];
  const walk = (node: unknown): void => {
    if (!node || typeof node !== 'object') return;
    const data = (node as { data?: unknown }).data;
    if ((node as { metadata?: unknown }).metadata && data instanceof Uint8Array) texts.push(Buffer.from(data).toString('utf8'));
    for (const child of Object.values(node)) if (child && typeof child === 'object' && !(child instanceof Uint8Array)) walk(child);
  };
  walk(history);
  return texts;
}

describe('any profile attribute: a custom Extole attribute reaches its Listrak field', () => {
  const { harness, service } = useHarness(
    {
      ROUTING_FILE,
      LISTRAK_LIST_ID: undefined,
      LISTRAK_STAGING_LIST_ID: undefined,
      LISTRAK_SEGMENTATION_FIELDS: undefined,
      LISTRAK_OPT_IN_EVENT_IDS: undefined,
    },
    { seed: seed() },
  );

  it('an opt-in through the webhook writes loyalty_tier (data.person.tier) to field 201 of the contact; what no list maps is not stored', async () => {
    const email = uniqueEmail('loyal');
    const event = extoleOptIn(email, 'gold');
    const response = await service().post(event);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    const change = await waitForOutcome(service(), email, event.eventId);
    assert.equal(change.outcome, 'applied');
    assert.equal(change.detail, undefined, 'nothing was dropped');

    const contact = harness().sandbox.contact(PRODUCTION_LIST, email);
    assert.equal(contact?.subscriptionState, 'Subscribed');
    assert.deepEqual(contact?.segmentationFieldValues.map((value) => [value.segmentationFieldId, value.value]), [
      [101, 'Ada'],
      [LOYALTY_TIER, 'gold'],
    ]);
    assert.deepEqual(contact?.raisedEvents.map((raised) => raised.eventId), [501]);
    assert.equal(harness().sandbox.requestsFor('upsert', email).length, 1, 'one write');

    // The change workflow's input carries the mapped attributes only: the birthday is not stored.
    const workflowId = response.body.recorded[0].changeWorkflowId as string;
    const inputs = payloadTexts(await harness().env.client.workflow.getHandle(workflowId).fetchHistory()).join('\n');
    assert.match(inputs, /"loyalty_tier":"gold"/);
    assert.doesNotMatch(inputs, /1815-12-10|birthday/);
  });

  it(`a value over the field's ${TIER_MAX_LENGTH} characters: the opt-in applies, the other values are written, that one is dropped and reported`, async () => {
    const email = uniqueEmail('too-long');
    const event = extoleOptIn(email, 'platinum-elite');
    await service().post(event);
    const change = await waitForOutcome(service(), email, event.eventId);
    assert.equal(change.outcome, 'applied');
    assert.equal(change.detail, `profile values dropped: ${LOYALTY_TIER} (ERROR_SEGMENTATION_MAX_LENGTH)`);

    const contact = harness().sandbox.contact(PRODUCTION_LIST, email);
    assert.equal(contact?.subscriptionState, 'Subscribed');
    assert.deepEqual(contact?.segmentationFieldValues.map((value) => [value.segmentationFieldId, value.value]), [[101, 'Ada']]);
    assert.deepEqual(contact?.raisedEvents.map((raised) => raised.eventId), [501], 'the email series starts once');
    // The whole write refused, the subscribe without profile data, then each value on its own.
    const writes = harness().sandbox.requestsFor('upsert', email);
    const fieldsOf = (body: unknown) => (body as { segmentationFieldValues: { segmentationFieldId: number }[] }).segmentationFieldValues.map((value) => value.segmentationFieldId);
    assert.deepEqual(writes.map((entry) => [entry.status, fieldsOf(entry.body)]), [
      [400, [101, LOYALTY_TIER]],
      [201, []],
      [201, [101]],
      [400, [LOYALTY_TIER]],
    ]);
  });
});
