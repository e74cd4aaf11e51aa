import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { REQUESTS_PER_ATTEMPT, listrakRequestsAllowedPerSecond } from '../src/temporal/consent-worker';
import { PRODUCTION_LIST, consentEvent, createHarness, eventually, uniqueEmail, type Harness, type Service } from '../src/dev/harness';

/** Opt-ins in the burst: each makes two Listrak requests (read, then write). */
const CHANGES = 100;
const LIMIT = 10;
/**
 * The rate plus the burst of Temporal's task-queue limiter (a token bucket per partition:
 * 4 partitions × ceil(5 activities/s ÷ 4) = 8 activities = 16 requests at once, so at most
 * 10 + 16 = 26 requests in any second; measured peaks 17–24: docs/operations.md, "The Listrak rate limit").
 */
const ALLOWED = listrakRequestsAllowedPerSecond(LIMIT);

interface BurstFigures {
  requests: number;
  peak: number;
  drainSeconds: number;
}

describe('LISTRAK_MAX_REQUESTS_PER_SECOND holds Listrak to the limit (Temporal task-queue rate limit)', () => {
  let harness: Harness;

  before(async () => {
    harness = await createHarness();
  });
  after(async () => {
    await harness?.close();
  });

  /** Posts CHANGES opt-ins for as many people in one batch and waits until Listrak has them all. */
  async function burst(service: Service): Promise<BurstFigures> {
    const emails = Array.from({ length: CHANGES }, (_, index) => uniqueEmail(`burst${index}`));
    const ours = new Set(emails.map((email) => email.toLowerCase()));
    const started = Date.now();
    const answer = await service.post(emails.map((email) => consentEvent('opt_in', email, new Date())));
    assert.equal(answer.status, 200);
    await eventually(
      () => emails.every((email) => harness.sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState === 'Subscribed'),
      90_000,
      `${CHANGES} opt-ins to reach Listrak`,
    );
    const include = (entry: { email?: string }) => entry.email !== undefined && ours.has(entry.email);
    return {
      requests: harness.sandbox.requests.filter((entry) => entry.route !== 'token' && include(entry)).length,
      peak: harness.sandbox.peakRequests({ include }),
      drainSeconds: (Date.now() - started) / 1000,
    };
  }

  it(`keeps a burst of ${CHANGES} opt-ins at ${LIMIT} requests/s plus the limiter's burst, and the same burst runs faster without a limit`, async (t) => {
    const limitedService = await harness.start({ LISTRAK_MAX_REQUESTS_PER_SECOND: String(LIMIT) });
    const limited = await burst(limitedService);
    await limitedService.close();
    const unlimitedService = await harness.start();
    const unlimited = await burst(unlimitedService);
    t.diagnostic(`limited: ${JSON.stringify(limited)}; unlimited: ${JSON.stringify(unlimited)}; peak allowed ${ALLOWED.peak}`);

    assert.ok(limited.requests >= CHANGES * REQUESTS_PER_ATTEMPT, `every opt-in read and wrote (${limited.requests} requests)`);
    assert.ok(
      limited.peak <= ALLOWED.peak,
      `peak ${limited.peak} requests in a second, allowed ${ALLOWED.peak} (limit ${LIMIT} + the limiter's burst of ${ALLOWED.burst})`,
    );
    // Draining at the limit takes at least (requests − burst) ÷ limit seconds.
    const floor = (limited.requests - ALLOWED.burst) / LIMIT;
    assert.ok(limited.drainSeconds >= floor, `the limited burst took ${limited.drainSeconds} s, at least ${floor} s at ${LIMIT}/s`);
    // Without a limit the same burst goes measurably faster: a limit that does nothing fails here.
    assert.ok(unlimited.peak > ALLOWED.peak, `without a limit the peak (${unlimited.peak} in a second) exceeds ${ALLOWED.peak}`);
    assert.ok(
      unlimited.drainSeconds < limited.drainSeconds / 1.5,
      `without a limit the burst drained in ${unlimited.drainSeconds} s, with it in ${limited.drainSeconds} s`,
    );
  });
});
