import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { changeWorkflowIdFor } from '../src/consent/intake';
import { DEFAULT_SEED, type SandboxSeed } from '../src/dev/listrak-sandbox/sandbox';
import { eventually, PRODUCTION_LIST, uniqueEmail, uniqueId, type Service } from '../src/dev/harness';
import { metrics } from '../src/observability/metrics';
import { EVERY_LIST_ROUTE } from '../src/config/routing';
import { AUDIT_FIELDS, createAuditTrail, formatRow, type AuditRow } from '../src/consent/export';
import { createOperations } from '../src/consent/status';
import { useHarness } from './helpers/use-harness';
import { runConsent } from './helpers/run-consent';

// ROUTING_FILE end to end: two programs, two Listrak lists with their own integrations, Extole's
// own event objects read through a field map (real Temporal dev server, sandbox over HTTP).

const FRIENDS_LIST = 3003;
const seed: SandboxSeed = {
  ...structuredClone(DEFAULT_SEED),
  clients: [...structuredClone(DEFAULT_SEED.clients), { clientId: 'friends-client', clientSecret: 'friends-secret' }],
  lists: [...structuredClone(DEFAULT_SEED.lists), { ...structuredClone(DEFAULT_SEED.lists[0]!), listId: FRIENDS_LIST, listName: 'Friends (sandbox)', events: [] }],
};

const dir = mkdtempSync(path.join(os.tmpdir(), 'routing-e2e-'));
writeFileSync(path.join(dir, 'friends-secret'), 'friends-secret\n');
const ROUTING_FILE = path.join(dir, 'routing.yaml');
writeFileSync(
  ROUTING_FILE,
  `lists:
  advocates:
    listId: ${PRODUCTION_LIST}
    clientIdFrom: env:LISTRAK_CLIENT_ID
    clientSecretFrom: env:LISTRAK_CLIENT_SECRET
    profileFields: { first_name: 101 }
    optInEventIds: [501]
  friends:
    listId: ${FRIENDS_LIST}
    clientIdFrom: env:FRIENDS_CLIENT_ID
    clientSecretFrom: file:${dir}/friends-secret
    profileFields: { first_name: 102 }
routes:
  - name: advocate
    match: { programLabel: advocate }
    lists: [advocates]
  - name: friend
    match: { programLabel: friend }
    lists: [friends]
  - name: both
    match: { programLabel: both }
    lists: [advocates, friends]
fields:
  eventId: eventId
  eventTime: eventTime
  email: data.email
  type: { path: data.state, optIn: [subscribed], optOut: [unsubscribed] }
  programLabel: programLabel
  causeEventId: causeEventId
  causeEventSequence: causeEventSequence
  profile: { first_name: data.first_name }
`,
);

/** An event object as Extole's webhook sends it (its own field names), read through the field map above. */
function extoleEvent(state: 'subscribed' | 'unsubscribed', email: string, programLabel: string, extra: Record<string, unknown> = {}) {
  return {
    eventId: uniqueId('ext-'),
    clientId: '1890234',
    eventTime: '2026-11-10T12:00:00Z',
    rootEventId: 'root-1',
    programLabel,
    sandbox: 'production',
    data: { email, state, first_name: 'Ada' },
    ...extra,
  };
}

/** The outcome of a change in one list's ledger, once it has a final or parked one (status endpoint). */
async function outcomeIn(service: Service, email: string, eventId: string, listId: number | null): Promise<Record<string, any>> {
  return eventually(
    async () => {
      const { body } = await service.request(`/consents/${encodeURIComponent(email)}`);
      const view = (body?.environments as any[] | undefined)?.find((entry) => entry.listId === listId);
      const change = (view?.changes as any[] | undefined)?.find((entry) => entry.eventId === eventId);
      return change && !['pending', 'applying'].includes(change.outcome) ? change : undefined;
    },
    30_000,
    `an outcome for ${eventId} in list ${listId}`,
  );
}

/** consent_changes_unrouted_total of production (summed over the other labels, or of those given). */
const unrouted = async (labels: Record<string, string> = {}) =>
  (await metrics.changesUnrouted.get()).values
    .filter((value) => value.labels.environment === 'production' && Object.entries(labels).every(([key, wanted]) => (value.labels as Record<string, unknown>)[key] === wanted))
    .reduce((total, value) => total + value.value, 0);

/** The value of one sample in Prometheus text format, summed over the series with these labels (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (wanted.every((pair) => labelText.split(',').includes(pair))) total += Number(line.split(' ').at(-1));
  }
  return total;
}

describe('ROUTING_FILE: programs routed to lists, each list with its own credentials', () => {
  const { harness, service } = useHarness(
    {
      ROUTING_FILE,
      FRIENDS_CLIENT_ID: 'friends-client',
      // The one-list shorthand gives way to the file (credentials stay in variables it references).
      LISTRAK_LIST_ID: undefined,
      LISTRAK_STAGING_LIST_ID: undefined,
      LISTRAK_SEGMENTATION_FIELDS: undefined,
      LISTRAK_OPT_IN_EVENT_IDS: undefined,
    },
    { seed },
  );
  const scrape = async () => (await fetch(`${service().url}/metrics`)).text();

  it('sends two programs to two lists, each with its own profile fields and events, from Extole’s own field names', async () => {
    const advocate = uniqueEmail('advocate');
    const friend = uniqueEmail('friend');
    const toAdvocates = extoleEvent('subscribed', advocate, 'advocate');
    const toFriends = extoleEvent('subscribed', friend, 'friend');
    const response = await service().post([toAdvocates, toFriends]);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    assert.deepEqual(
      response.body.recorded.map((entry: { workflowId: string }) => entry.workflowId.split('/').slice(0, 3).join('/')),
      [`consent-ledger/production/${PRODUCTION_LIST}`, `consent-ledger/production/${FRIENDS_LIST}`],
    );
    assert.equal((await outcomeIn(service(), advocate, toAdvocates.eventId, PRODUCTION_LIST)).outcome, 'applied');
    assert.equal((await outcomeIn(service(), friend, toFriends.eventId, FRIENDS_LIST)).outcome, 'applied');

    const { sandbox } = harness();
    const advocateContact = sandbox.contact(PRODUCTION_LIST, advocate);
    assert.equal(advocateContact?.subscriptionState, 'Subscribed');
    assert.deepEqual(advocateContact?.segmentationFieldValues.map((value) => [value.segmentationFieldId, value.value]), [[101, 'Ada']]);
    assert.deepEqual(advocateContact?.raisedEvents.map((raised) => raised.eventId), [501]);
    const friendContact = sandbox.contact(FRIENDS_LIST, friend);
    assert.equal(friendContact?.subscriptionState, 'Subscribed');
    assert.deepEqual(friendContact?.segmentationFieldValues.map((value) => [value.segmentationFieldId, value.value]), [[102, 'Ada']]);
    assert.deepEqual(friendContact?.raisedEvents, []);
    assert.equal(sandbox.contact(FRIENDS_LIST, advocate), undefined);
    assert.equal(sandbox.contact(PRODUCTION_LIST, friend), undefined);
  });

  // Before the tests that park and retry a change of route `both`: their outcomes may be counted after they end.
  it('names the route and list of each change: status, history, recent changes, the audit export and the metrics', async () => {
    const email = uniqueEmail('named');
    const since = new Date(Date.now() - 1_000);
    const optIn = extoleEvent('subscribed', email, 'both');
    const unclaimed = extoleEvent('unsubscribed', uniqueEmail('named-every'), 'spring-promo');
    const metricsBefore = await scrape();
    assert.equal((await service().post([optIn, unclaimed])).status, 200);
    for (const listId of [PRODUCTION_LIST, FRIENDS_LIST]) assert.equal((await outcomeIn(service(), email, optIn.eventId, listId)).outcome, 'applied');

    // Status: each list's ledger, and each change in it, says its route and list.
    const { body: status } = await service().request(`/consents/${encodeURIComponent(email)}`);
    const named = (status.environments as any[]).map((view) => {
      const change = (view.changes as any[]).find((entry) => entry.eventId === optIn.eventId);
      return [view.listId, view.listName, change.route, change.listId, change.listName];
    });
    assert.deepEqual(named.sort(), [
      [PRODUCTION_LIST, 'advocates', 'both', PRODUCTION_LIST, 'advocates'],
      [FRIENDS_LIST, 'friends', 'both', FRIENDS_LIST, 'friends'],
    ].sort());

    // The history and the export: one row per list, with route and list.
    const { body: history } = await service().request(`/consents/${encodeURIComponent(email)}/history`);
    const historyRows = (history.changes as AuditRow[]).filter((row) => row.eventId === optIn.eventId).map((row) => [row.route, row.listId, row.listName]);
    assert.deepEqual(historyRows.sort(), [['both', PRODUCTION_LIST, 'advocates'], ['both', FRIENDS_LIST, 'friends']].sort());
    const operations = createOperations({ client: harness().env.client, config: service().config });
    const audit = createAuditTrail({ client: harness().env.client, config: service().config, operations });
    const exported = await eventually(async () => {
      const rows: AuditRow[] = [];
      for await (const row of audit.exportChanges({ since })) if (row.eventId === optIn.eventId) rows.push(row);
      return rows.length === 2 ? rows : undefined;
    }, 15_000, 'both change workflows in the export');
    assert.deepEqual(exported.map((row) => [row.route, row.listId, row.listName, row.outcome]).sort(), [['both', PRODUCTION_LIST, 'advocates', 'applied'], ['both', FRIENDS_LIST, 'friends', 'applied']].sort());
    const csv = formatRow(exported[0]!, 'csv').split(',');
    assert.equal(csv[AUDIT_FIELDS.indexOf('route')], 'both');
    assert.ok(['advocates', 'friends'].includes(csv[AUDIT_FIELDS.indexOf('listName')]!));

    // Recent changes (the live view's data): route and list of each change workflow.
    const recent = await eventually(async () => {
      const { body } = await service().request('/changes/recent?limit=100');
      const mine = (body.changes as any[]).filter((change) => change.eventId === optIn.eventId);
      return mine.length === 2 ? mine : undefined;
    }, 15_000, 'both changes in the recent listing');
    assert.deepEqual(recent.map((change) => [change.route, change.listId, change.listName]).sort(), [['both', PRODUCTION_LIST, 'advocates'], ['both', FRIENDS_LIST, 'friends']].sort());

    // The opt-out no route claims goes to every list, through the route that says so.
    for (const listId of [PRODUCTION_LIST, FRIENDS_LIST]) {
      const change = await outcomeIn(service(), String(unclaimed.data.email), unclaimed.eventId, listId);
      assert.equal(change.route, EVERY_LIST_ROUTE.name);
    }

    // Metrics: changes counted per list and route, by the routing file's names.
    const metricsAfter = await eventually(async () => {
      const text = await scrape();
      return sample(text, 'consent_change_outcomes_total', { outcome: 'applied', list: 'friends', route: 'both' }) >
        sample(metricsBefore, 'consent_change_outcomes_total', { outcome: 'applied', list: 'friends', route: 'both' })
        ? text
        : undefined;
    }, 10_000, 'the applied outcome counted with its list');
    const delta = (name: string, labels: Record<string, string>) => sample(metricsAfter, name, labels) - sample(metricsBefore, name, labels);
    for (const list of ['advocates', 'friends']) {
      assert.equal(delta('consent_changes_received_total', { type: 'opt_in', list, route: 'both' }), 1, list);
      assert.equal(delta('consent_changes_accepted_total', { type: 'opt_in', list, route: 'both' }), 1, list);
      assert.equal(delta('consent_change_outcomes_total', { outcome: 'applied', list, route: 'both' }), 1, list);
      assert.equal(delta('consent_changes_accepted_total', { type: 'opt_out', list, route: EVERY_LIST_ROUTE.name }), 1, list);
    }
  });

  it('writes one opt-in to two lists as two changes: with the friends integration paused, the advocates list applies and the friends list parks, then retries alone', async () => {
    const email = uniqueEmail('both');
    const optIn = extoleEvent('subscribed', email, 'both');
    const friends = harness().sandbox.client('friends-client')!;
    friends.paused = true;
    try {
      assert.equal((await service().post(optIn)).status, 200);
      assert.equal((await outcomeIn(service(), email, optIn.eventId, PRODUCTION_LIST)).outcome, 'applied');
      const parked = await outcomeIn(service(), email, optIn.eventId, FRIENDS_LIST);
      assert.equal(parked.outcome, 'parked', JSON.stringify(parked));
      assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
      assert.equal(harness().sandbox.contact(FRIENDS_LIST, email), undefined);
    } finally {
      friends.paused = false;
    }
    const workflowId = changeWorkflowIdFor(service().config, 'production', email, optIn.eventId, FRIENDS_LIST);
    const retried = await service().request(`/changes/${optIn.eventId}/retry?workflow_id=${encodeURIComponent(workflowId)}`, { method: 'POST' });
    assert.equal(retried.status, 200, JSON.stringify(retried.body));
    await eventually(() => harness().sandbox.contact(FRIENDS_LIST, email)?.subscriptionState === 'Subscribed', 30_000, 'the retried change in the friends list');
    // The advocates list was written once: its change was not repeated by the other list's retry.
    assert.equal(harness().sandbox.requestsFor('upsert', email).filter((request) => request.listId === PRODUCTION_LIST).length, 1);
  });

  it('an opt-out from a program goes to the lists its route subscribes to', async () => {
    const email = uniqueEmail('both-out');
    const optIn = extoleEvent('subscribed', email, 'both');
    const optOut = extoleEvent('unsubscribed', email, 'both', { eventTime: '2026-11-11T12:00:00Z' });
    await service().post(optIn);
    for (const listId of [PRODUCTION_LIST, FRIENDS_LIST]) assert.equal((await outcomeIn(service(), email, optIn.eventId, listId)).outcome, 'applied');
    await service().post(optOut);
    for (const listId of [PRODUCTION_LIST, FRIENDS_LIST]) {
      assert.equal((await outcomeIn(service(), email, optOut.eventId, listId)).outcome, 'applied');
      assert.equal(harness().sandbox.contact(listId, email)?.subscriptionState, 'Unsubscribed');
    }
  });

  it('sends an opt-out no route claims (another program, none) to every list of its environment: never left subscribed for want of a route', async () => {
    const email = uniqueEmail('unrouted-out');
    const optIn = extoleEvent('subscribed', email, 'advocate');
    await service().post(optIn);
    assert.equal((await outcomeIn(service(), email, optIn.eventId, PRODUCTION_LIST)).outcome, 'applied');
    const optOut = extoleEvent('unsubscribed', email, 'spring-promo', { eventTime: '2026-11-11T12:00:00Z' });
    const response = await service().post(optOut);
    assert.equal(response.status, 200);
    assert.equal(response.body.recorded.length, 2, 'one change per list of the environment');
    for (const listId of [PRODUCTION_LIST, FRIENDS_LIST]) assert.equal((await outcomeIn(service(), email, optOut.eventId, listId)).outcome, 'applied');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Unsubscribed', 'the list the advocate opt-in reached');
  });

  it('records an event of an unrouted program as not_sent with reason no_route, counts it and shows it', async () => {
    const email = uniqueEmail('unrouted');
    const before = await unrouted();
    const event = extoleEvent('subscribed', email, 'spring-promo');
    const response = await service().post(event);
    assert.equal(response.status, 200);
    assert.match(response.body.recorded[0].workflowId, /^consent-ledger\/production\/unconfigured\//);
    const change = await outcomeIn(service(), email, event.eventId, null);
    assert.equal(change.outcome, 'not_sent');
    assert.match(change.detail, /^no_route: no route matches program 'spring-promo'/);
    assert.deepEqual([change.route, change.listId, change.listName], [undefined, null, null], 'no route matched; no list');
    assert.equal(await unrouted({ list: 'none', route: 'none' }), before + 1);
    assert.equal(await unrouted(), before + 1);
    assert.equal(harness().sandbox.requestsFor('upsert', email).length, 0);
  });

  it('`consent replay` reads saved deliveries through the field map, as the webhook does', async () => {
    const email = uniqueEmail('replayed-native');
    const saved = extoleEvent('subscribed', email, 'advocate');
    const file = path.join(dir, 'saved-deliveries.ndjson');
    writeFileSync(file, `${JSON.stringify(saved)}\n`);
    const dryRun = await runConsent(service().env, 'replay', file, '--dry-run', '--json');
    assert.equal(dryRun.code, 0, dryRun.stdout + dryRun.stderr);
    assert.equal(JSON.parse(dryRun.stdout).valid, 1);
    const run = await runConsent(service().env, 'replay', file, '--json');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(JSON.parse(run.stdout).recorded, 1);
    assert.equal((await outcomeIn(service(), email, saved.eventId, PRODUCTION_LIST)).outcome, 'applied');
    assert.deepEqual(harness().sandbox.contact(PRODUCTION_LIST, email)?.segmentationFieldValues.map((value) => [value.segmentationFieldId, value.value]), [[101, 'Ada']]);
  });

  it('refuses an event whose mapped type has a value the map does not know, naming the field', async () => {
    const response = await service().post(extoleEvent('maybe' as 'subscribed', uniqueEmail('maybe'), 'advocate'));
    assert.equal(response.status, 400);
    assert.deepEqual(response.body.problems.map((problem: { field: string }) => problem.field), ['type']);
  });

  it('orders two events of one cause at the same event time by causeEventSequence, in the ledger and against its own unsubscribe in Listrak', async () => {
    // Without the sequence the opt-out would win these ties; with it, the later event of the cause holds.
    const sequenced = (email: string) => {
      const cause = { causeEventId: uniqueId('cause-'), eventTime: '2026-11-12T12:00:00Z' };
      return {
        optOut: extoleEvent('unsubscribed', email, 'advocate', { ...cause, causeEventSequence: 1 }),
        optIn: extoleEvent('subscribed', email, 'advocate', { ...cause, causeEventSequence: 2 }),
      };
    };

    // The later opt-in arrives first: the earlier opt-out of the cause is superseded in the ledger.
    const first = uniqueEmail('sequence-in-first');
    const a = sequenced(first);
    assert.equal((await service().post(a.optIn)).status, 200);
    assert.equal((await service().post(a.optOut)).status, 200);
    assert.equal((await outcomeIn(service(), first, a.optOut.eventId, PRODUCTION_LIST)).outcome, 'superseded');
    assert.equal((await outcomeIn(service(), first, a.optIn.eventId, PRODUCTION_LIST)).outcome, 'applied');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, first)?.subscriptionState, 'Subscribed');

    // The opt-out is applied first (the person was subscribed): the later opt-in still applies.
    const second = uniqueEmail('sequence-out-first');
    const b = sequenced(second);
    const earlier = extoleEvent('subscribed', second, 'advocate', { eventTime: '2026-11-01T12:00:00Z' });
    await service().post(earlier);
    assert.equal((await outcomeIn(service(), second, earlier.eventId, PRODUCTION_LIST)).outcome, 'applied');
    await service().post(b.optOut);
    assert.equal((await outcomeIn(service(), second, b.optOut.eventId, PRODUCTION_LIST)).outcome, 'applied');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, second)?.subscriptionState, 'Unsubscribed');
    await service().post(b.optIn);
    assert.equal((await outcomeIn(service(), second, b.optIn.eventId, PRODUCTION_LIST)).outcome, 'applied');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, second)?.subscriptionState, 'Subscribed');
  });
});
