import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { consentEvent, eventually, uniqueEmail, waitForOutcome, waitForRetrying } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

/** The value of one sample in Prometheus text format (0 when absent). */
function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  let total = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const labelText = /\{(.*)\}/.exec(line)?.[1] ?? '';
    if (wanted.every((pair) => labelText.split(',').includes(pair))) total += Number(line.split(' ').at(-1));
  }
  return total;
}

describe('operations: metrics, live view data', () => {
  const { harness, service } = useHarness();

  const scrape = async (url = service().url, headers: Record<string, string> = {}) => {
    const response = await fetch(`${url}/metrics`, { headers });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /text\/plain/);
    return response.text();
  };

  it('GET /metrics counts intake, outcomes by environment, duplicates, parked changes and Listrak requests', async () => {
    const before = await scrape();
    const email = uniqueEmail('metrics');
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    assert.equal((await service().post(optIn)).status, 200);
    assert.equal((await service().post(optIn)).status, 200, 'a redelivery');
    assert.equal((await waitForOutcome(service(), email, String(optIn.event_id))).outcome, 'applied');
    const stale = consentEvent('opt_in', email, new Date(Date.now() - 120_000));
    await service().post(stale);
    assert.equal((await waitForOutcome(service(), email, String(stale.event_id))).outcome, 'superseded');
    harness().sandbox.script({ route: 'upsert', email, status: 400, error: 'ERROR_INVALID_PARAMETER' });
    const optOut = consentEvent('opt_out', email, new Date());
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'parked');
    assert.equal((await service().post('{"broken"')).status, 400);
    await eventually(async () => sample(await scrape(), 'consent_changes_duplicate_total', { environment: 'production' }) > sample(before, 'consent_changes_duplicate_total', { environment: 'production' }), 10_000, 'the duplicate to be counted');

    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
    assert.equal(delta('consent_changes_received_total', { environment: 'production', type: 'opt_in' }), 3);
    assert.equal(delta('consent_changes_accepted_total', { environment: 'production', type: 'opt_in' }), 3);
    assert.equal(delta('consent_changes_accepted_total', { environment: 'production', type: 'opt_out' }), 1);
    assert.equal(delta('consent_webhook_requests_total', { outcome: 'accepted' }), 4);
    assert.equal(delta('consent_webhook_requests_total', { outcome: 'invalid_json' }), 1);
    assert.equal(delta('consent_changes_duplicate_total', { environment: 'production' }), 1);
    assert.equal(delta('consent_change_outcomes_total', { environment: 'production', outcome: 'applied' }), 1);
    assert.equal(delta('consent_change_outcomes_total', { environment: 'production', outcome: 'superseded' }), 1);
    assert.equal(delta('consent_change_outcomes_total', { environment: 'production', outcome: 'parked' }), 1);
    assert.ok(delta('consent_intake_duration_seconds_count', { result: 'recorded' }) >= 4);
    assert.equal(delta('listrak_request_duration_seconds_count', { operation: 'POST /List/{listId}/Contact', status: '400' }), 1);
    assert.ok(delta('listrak_request_duration_seconds_count', { operation: 'POST /List/{listId}/Contact', status: '201' }) + delta('listrak_request_duration_seconds_count', { operation: 'POST /List/{listId}/Contact', status: '200' }) >= 1);
    assert.equal(delta('listrak_errors_total', { operation: 'POST /List/{listId}/Contact', code: 'ERROR_INVALID_PARAMETER' }), 1);
    assert.ok(sample(after, 'listrak_token_requests_total', { result: 'issued' }) >= 1);
    assert.ok(sample(after, 'process_resident_memory_bytes') > 0, 'default process metrics');
    assert.ok(!after.includes(email) && !after.includes('@'), 'no email in metrics');
  });

  it('counts events refused at intake by field and reason, and the live view has a section for them', async () => {
    const before = await scrape();
    const batch = [
      consentEvent('opt_in', uniqueEmail('refusedmetric'), new Date()),
      consentEvent('opt_in', uniqueEmail('refusedmetric'), new Date(), { event_time: 'yesterday' }),
      { type: 'opt_out' },
    ];
    assert.equal((await service().post(batch)).status, 200);
    assert.equal((await service().post([{ type: 'opt_out' }])).status, 400);
    const after = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sample(after, name, labels) - sample(before, name, labels);
    assert.equal(delta('consent_events_refused_total', { field: 'event_time', reason: 'invalid' }), 1);
    assert.equal(delta('consent_events_refused_total', { field: 'event_id', reason: 'missing' }), 2);
    assert.equal(delta('consent_events_refused_total', { field: 'email', reason: 'missing' }), 2);
    assert.equal(delta('consent_webhook_requests_total', { outcome: 'partially_accepted' }), 1);
    assert.equal(delta('consent_webhook_requests_total', { outcome: 'invalid_events' }), 1);
    assert.equal(delta('consent_changes_accepted_total', { environment: 'production', type: 'opt_in' }), 1);
    const page = await (await fetch(`${service().url}/`)).text();
    assert.match(page, /id="refused"/, 'the live view shows refused events');
    assert.match(page, /\/changes\/refused/);
  });

  it('METRICS_TOKEN protects /metrics', async () => {
    const guarded = await harness().start({ METRICS_TOKEN: 'scrape-token' });
    assert.equal((await fetch(`${guarded.url}/metrics`)).status, 401);
    assert.equal((await fetch(`${guarded.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status, 401);
    assert.match(await scrape(guarded.url, { authorization: 'Bearer scrape-token' }), /consent_webhook_requests_total/);
  });

  it('GET /changes/recent lists changes newest first with outcome, Listrak code, attempts and a Temporal UI link', async () => {
    const email = uniqueEmail('recent');
    harness().sandbox.script({ route: 'upsert', email, status: 503, times: 4 });
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    await service().post(optIn);
    assert.equal((await waitForOutcome(service(), email, String(optIn.event_id))).outcome, 'applied');
    harness().sandbox.script({ route: 'upsert', email, status: 404, error: 'ERROR_UNABLE_TO_LOCATE_RESOURCE' });
    const optOut = consentEvent('opt_out', email, new Date());
    await service().post(optOut);
    await waitForOutcome(service(), email, String(optOut.event_id));

    assert.equal((await service().request('/changes/recent', { admin: false })).status, 401);
    const { status, body } = await eventually(async () => {
      const answer = await service().request('/changes/recent?limit=20');
      const ids = (answer.body?.changes as { eventId: string }[] | undefined)?.map((change) => change.eventId) ?? [];
      return ids.includes(String(optIn.event_id)) && ids.includes(String(optOut.event_id)) ? answer : undefined;
    }, 15_000, 'both changes in the visibility listing');
    assert.equal(status, 200);
    const changes = body.changes as Record<string, any>[];
    const applied = changes.find((change) => change.eventId === optIn.event_id)!;
    const parked = changes.find((change) => change.eventId === optOut.event_id)!;
    assert.ok(changes.indexOf(parked) < changes.indexOf(applied), 'newest first');
    assert.deepEqual(
      { outcome: applied.outcome, type: applied.type, environment: applied.environment, attempts: applied.attempts },
      { outcome: 'applied', type: 'opt_in', environment: 'production', attempts: 2 },
      'the first attempt met 503 (twice quick-retried, then once more): the second attempt applied',
    );
    assert.equal(parked.outcome, 'parked');
    assert.equal(parked.listrakCode, 'ERROR_UNABLE_TO_LOCATE_RESOURCE');
    assert.match(parked.temporalUiUrl, /\/workflows\/consent-change%2F/);
    assert.equal((await service().request('/changes/recent?limit=0')).status, 400);
  });

  it('a change still retrying shows the same attempt and last error in the person view and in the listing', async () => {
    const email = uniqueEmail('retrying-views');
    harness().sandbox.script({ route: 'upsert', email, status: 503, times: 10_000 });
    const optOut = consentEvent('opt_out', email, new Date());
    await service().post(optOut);
    const inView = await waitForRetrying(service(), email);
    assert.match(inView.lastError, /503/);
    const listed = await eventually(async () => {
      const answer = await service().request('/changes/recent?limit=50');
      const change = (answer.body?.changes as Record<string, any>[] | undefined)?.find((entry) => entry.eventId === optOut.event_id);
      return change?.attempts >= 2 ? change : undefined;
    }, 15_000, 'the retrying change in the visibility listing');
    assert.equal(listed.outcome, 'applying');
    assert.match(listed.detail, /503/);
    assert.equal(inView.outcome, 'applying');
    harness().sandbox.clearFaults();
  });
});
