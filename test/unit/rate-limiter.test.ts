import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PRIVACY_PROCESS_SHARE, PRIVACY_RATE_LIMITS, SlidingWindowLimiter } from '../../src/listrak/rate-limiter';

describe('the Privacy API rate limiter', () => {
  const clock = () => {
    let now = 1_000_000;
    return { now: () => now, advance: (ms: number) => (now += ms) };
  };

  it('admits 20 per 10 s, then says when the next one may go', () => {
    const time = clock();
    const limiter = new SlidingWindowLimiter(PRIVACY_RATE_LIMITS, time.now);
    for (let index = 0; index < 20; index++) {
      assert.deepEqual(limiter.tryAcquire(), { admitted: true });
      time.advance(100);
    }
    // The first was admitted 2 s ago: it leaves the 10 s window in 8 s.
    assert.deepEqual(limiter.tryAcquire(), { admitted: false, retryAfterMs: 8_000 });
    time.advance(8_000);
    assert.deepEqual(limiter.tryAcquire(), { admitted: true });
  });

  it('holds 60 per minute across the 10 s windows', () => {
    const time = clock();
    const limiter = new SlidingWindowLimiter(PRIVACY_RATE_LIMITS, time.now);
    let admitted = 0;
    // 20 at once every 10 s: the fourth burst meets the minute's limit.
    for (let burst = 0; burst < 4; burst++) {
      for (let index = 0; index < 20; index++) if (limiter.tryAcquire().admitted) admitted++;
      time.advance(10_000);
    }
    assert.equal(admitted, 60);
    const refused = limiter.tryAcquire();
    assert.equal(refused.admitted, false);
    // The first burst, at 0 s, leaves the minute at 60 s; it is now 40 s.
    assert.equal(!refused.admitted && refused.retryAfterMs, 20_000);
  });

  it('a process holds half of each published limit, over slightly longer windows', () => {
    assert.deepEqual(PRIVACY_PROCESS_SHARE, [
      { limit: 10, windowMs: 10_500 },
      { limit: 30, windowMs: 60_500 },
    ]);
    const time = clock();
    const limiter = new SlidingWindowLimiter(PRIVACY_PROCESS_SHARE, time.now);
    for (let index = 0; index < 10; index++) assert.equal(limiter.tryAcquire().admitted, true);
    assert.deepEqual(limiter.tryAcquire(), { admitted: false, retryAfterMs: 10_500 });
  });

  it('acquire waits its turn', async () => {
    const limiter = new SlidingWindowLimiter([{ limit: 2, windowMs: 300 }]);
    const started = Date.now();
    const waits: number[] = [];
    for (let index = 0; index < 3; index++) await limiter.acquire({ onWait: (ms) => waits.push(ms) });
    assert.ok(Date.now() - started >= 250, 'the third waited for the window');
    assert.equal(waits.length >= 1, true);
  });
});
