import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { consentEvent, PRODUCTION_LIST, uniqueEmail, waitForOutcome } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

describe('stale opt-ins after long gaps (time-skipping test server)', () => {
  const { harness, service } = useHarness({}, { timeSkipping: true });

  it('recognises an opt-in replayed 8 days after a newer opt-out and never applies it', async () => {
    const email = uniqueEmail('replayed');
    const startMs = await harness().env.currentTimeMs();
    const optIn = consentEvent('opt_in', email, new Date(startMs - 2 * 3_600_000));
    const optOut = consentEvent('opt_out', email, new Date(startMs - 3_600_000));
    // The opt-out arrives; the opt-in's first delivery failed and sits in Extole's dead-letter queue.
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'applied');

    await harness().env.sleep('8 days');
    assert.ok((await harness().env.currentTimeMs()) - startMs >= 8 * 86_400_000, 'Temporal time moved 8 days on');

    await service().post(optIn);
    const replayed = await waitForOutcome(service(), email, String(optIn.event_id));
    assert.equal(replayed.outcome, 'superseded');
    assert.equal(
      harness().sandbox.requestsFor('upsert', email).filter((entry) => (entry.body as { subscriptionState: string }).subscriptionState === 'Subscribed').length,
      0,
    );
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email), undefined, 'never subscribed');
  });
});
