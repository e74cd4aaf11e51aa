import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { observeParkedChanges, parkedChangesCounter, registry } from '../src/observability/metrics';
import { consentEvent, createHarness, eventually, uniqueEmail, waitForOutcome, type Harness, type Service } from '../src/dev/harness';

/** The value of consent_changes_parked as Prometheus would scrape it. */
async function scrapedParked(): Promise<number | undefined> {
  const text = await registry.metrics();
  const line = text.split('\n').find((row) => row.startsWith('consent_changes_parked '));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

describe('consent_changes_parked: changes parked now, from Temporal visibility', () => {
  let harness: Harness;
  let service: Service;

  before(async () => {
    harness = await createHarness();
    service = await harness.start();
  });
  after(async () => {
    await harness?.close();
  });

  it('counts a change while it is parked and drops it when an operator skips it; ledgers are not counted', async () => {
    observeParkedChanges(parkedChangesCounter(harness.env.client), { refreshMs: 0 });
    assert.equal(await scrapedParked(), 0);
    const emails = [uniqueEmail('gauge-a'), uniqueEmail('gauge-b')];
    const events = emails.map((email) => {
      harness.sandbox.script({ route: 'upsert', email, status: 403, error: 'HTTP_403' });
      return consentEvent('opt_out', email, new Date());
    });
    for (const event of events) await service.post(event);
    for (const [index, event] of events.entries()) {
      assert.equal((await waitForOutcome(service, emails[index]!, String(event.event_id))).outcome, 'parked');
    }
    // Both ledgers carry ConsentOutcome="parked" too: only the two change workflows count.
    await eventually(async () => (await scrapedParked()) === 2, 20_000, 'two parked changes counted');
    assert.equal((await service.request(`/changes/${String(events[0]!.event_id)}/skip`, { method: 'POST' })).status, 200);
    await eventually(async () => (await scrapedParked()) === 1, 20_000, 'the skipped change no longer counted');
  });

  it('counts at most once per refresh interval, and keeps the last figure when Temporal cannot answer', async () => {
    let calls = 0;
    let fail = false;
    const errors: string[] = [];
    observeParkedChanges(
      () => {
        calls += 1;
        return fail ? Promise.reject(new Error('Temporal unreachable')) : Promise.resolve(7);
      },
      { refreshMs: 60_000, onError: (error) => errors.push(error.message) },
    );
    assert.equal(await scrapedParked(), 7);
    assert.equal(await scrapedParked(), 7);
    assert.equal(calls, 1, 'the second scrape within the interval reuses the count');
    fail = true;
    observeParkedChanges(
      () => {
        calls += 1;
        return Promise.reject(new Error('Temporal unreachable'));
      },
      { refreshMs: 0, onError: (error) => errors.push(error.message) },
    );
    assert.equal(await scrapedParked(), 0, 'a fresh gauge that never counted reports 0');
    assert.deepEqual(errors, ['Temporal unreachable']);
  });
});
