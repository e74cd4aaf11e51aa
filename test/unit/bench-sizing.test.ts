import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { percentile } from '../../bench/measure';
import { markdown, type BenchResult } from '../../bench/report';
import { BOUNDS, capacityFrom, drainNote, drainTimeoutSeconds, isIncomplete, planLoad, settle } from '../../bench/sizing';

// The bench's pure rules, no server: how each stage sizes its load from the measured capacity,
// and what a stage that could not finish reports.

describe('planLoad: rates, change counts and drain waits from the measured capacity', () => {
  for (const quick of [false, true]) {
    const bounds = BOUNDS[quick ? 'quick' : 'full'];
    describe(quick ? 'quick run' : 'full run', () => {
      it('at a capacity of 22/s: half and one and a half times it, each drained within its wait', () => {
        const below = planLoad(22, 0.5, bounds);
        const above = planLoad(22, 1.5, bounds);
        assert.equal(below.rate, 11);
        assert.equal(above.rate, 33);
        for (const plan of [below, above]) {
          assert.equal(plan.changes, Math.round(plan.rate * bounds.sendSeconds));
          // Sending takes changes ÷ rate; the machine applies at most 22/s: the last change lands
          // changes ÷ min(rate, 22) after the first is sent, and the wait after sending covers it.
          const drainAfterSending = plan.changes / Math.min(plan.rate, 22) - plan.changes / plan.rate;
          assert.ok(plan.drainTimeoutSeconds >= drainAfterSending + 5, `${plan.drainTimeoutSeconds} s for ${drainAfterSending} s`);
          assert.ok(plan.drainTimeoutSeconds <= bounds.maxWaitSeconds);
        }
      });

      it('the old end-to-end load (100/s for 20 s on a 22/s machine) is not what it picks', () => {
        const above = planLoad(22, 1.5, bounds);
        assert.ok(above.changes < 2_000);
        assert.ok(above.changes / 22 <= bounds.sendSeconds + above.drainTimeoutSeconds);
      });

      for (const capacity of [0, Number.NaN, -3, Number.POSITIVE_INFINITY, 1e6]) {
        it(`at a capacity of ${capacity}: still bounded in rate, count and time`, () => {
          for (const factor of [0.5, 1.5]) {
            const plan = planLoad(capacity, factor, bounds);
            assert.ok(plan.rate >= 1 && plan.rate <= bounds.maxRate, `rate ${plan.rate}`);
            assert.ok(plan.changes >= bounds.minChanges && plan.changes <= bounds.maxChanges, `changes ${plan.changes}`);
            assert.ok(plan.changes / plan.rate <= Math.max(bounds.sendSeconds, bounds.minChanges), `sending takes ${plan.changes / plan.rate} s`);
            assert.ok(plan.drainTimeoutSeconds >= bounds.minWaitSeconds && plan.drainTimeoutSeconds <= bounds.maxWaitSeconds, `wait ${plan.drainTimeoutSeconds}`);
          }
        });
      }
    });
  }
});

describe('drainTimeoutSeconds: a burst waits for its changes at the rate it can drain, within the bounds', () => {
  const bounds = BOUNDS.full;
  it('10,000 changes at 20/s: the cap of the full run', () => assert.equal(drainTimeoutSeconds(10_000, 20, bounds), bounds.maxBurstWaitSeconds));
  it('4,000 changes at 100/s: twice the expected drain plus slack', () => assert.equal(drainTimeoutSeconds(4_000, 100, bounds), 2 * 40 + bounds.slackSeconds));
  it('an unknown rate (0) waits the longest allowed', () => assert.equal(drainTimeoutSeconds(300, 0, BOUNDS.quick), BOUNDS.quick.maxBurstWaitSeconds));
});

describe('capacityFrom: applied changes per second between the 10th and 90th percentile of the applied times', () => {
  const started = 1_000_000;
  it('100 changes applied one every 50 ms: 20/s, whatever the ramp before them', () => {
    const doneAt = Array.from({ length: 100 }, (_, index) => started + 3_000 + index * 50);
    assert.equal(capacityFrom(doneAt, started), 20);
  });
  it('a few changes: their count over the time to the last', () => assert.equal(capacityFrom([started + 500, started + 1_000], started), 2));
  it('none applied: 0', () => assert.equal(capacityFrom([], started), 0));
});

describe('percentile', () => {
  it('nearest rank, to one decimal', () => {
    assert.equal(percentile([5, 1, 4, 2, 3], 0.5), 3);
    assert.equal(percentile([1.26, 2], 0), 1.3);
    assert.equal(percentile(Array.from({ length: 100 }, (_, index) => index + 1), 0.99), 100);
  });
  it('of nothing: NaN', () => assert.ok(Number.isNaN(percentile([], 0.5))));
});

describe('settle: a stage that cannot finish reports what it saw instead of aborting the run', () => {
  it('a stage that finishes returns its figures as they are', async () => {
    const outcome = await settle<{ applied: number }>(async () => Promise.resolve({ applied: 3 }));
    assert.deepEqual(outcome, { applied: 3 });
    assert.equal(isIncomplete(outcome), false);
  });
  it('a stage that ran out of time is incomplete, with its figures and what it saw', async () => {
    const outcome = await settle<{ applied: number }>(async (progress) => {
      progress.notes.push(drainNote(1_412, 2_000, 180.2));
      return Promise.resolve({ applied: 1_412 });
    });
    assert.deepEqual(outcome, { applied: 1_412, incomplete: '1,412 of 2,000 applied after 180 s' });
    assert.equal(isIncomplete(outcome), true);
  });
  it('a stage that throws keeps the figures it had recorded and says where it stopped', async () => {
    const outcome = await settle<{ applied: number; cost: number }>(async (progress) => {
      progress.figures.applied = 7;
      await Promise.resolve();
      throw new Error('the worker exited');
    });
    assert.deepEqual(outcome, { applied: 7, incomplete: 'stopped: the worker exited' });
  });
});

describe('markdown: the measured capacity, the rates chosen from it, and incomplete stages', () => {
  const belowPlan = planLoad(22, 0.5, BOUNDS.full);
  const abovePlan = planLoad(22, 1.5, BOUNDS.full);
  const result: BenchResult = {
    date: '2026-12-02T10-00-00-000Z',
    quick: false,
    runtime: 'compiled',
    file: '2026-12-02T10-00-00-000Z.json',
    machine: { cpus: 2, cpuModel: 'test cpu', memoryGb: 8, node: 'v20', commit: 'abc1234' },
    capacity: { sampleChanges: 600, applied: 600, seconds: 27.3, appliedPerSecond: 22, listrakLatencyMs: 20 },
    plan: { below: belowPlan, above: abovePlan },
    intake: { incomplete: 'stopped: bench/load.ts exited with 1', intakeSteps: [], rawSteps: [] },
    endToEnd: {
      incomplete: '412 of 660 applied after 50 s',
      e2eRate: abovePlan.rate,
      e2eChanges: abovePlan.changes,
      acceptedToApplied: { p50: 9_000, p99: 20_000 },
    },
    burst: { incomplete: 'stopped: timed out waiting for the API' },
    scaling: { one: { incomplete: '120 of 4,000 changes settled after 374 s' }, two: { incomplete: 'not run' }, speedup: null },
  };
  const table = markdown(result, 'compiled');

  it('shows the capacity and the rates and waits chosen from it', () => {
    assert.match(table, /Capacity: applied changes per second end to end[^|]*\| 22\/s/);
    assert.match(table, new RegExp(`${belowPlan.rate}/s × ${belowPlan.changes} changes`));
    assert.match(table, new RegExp(`${abovePlan.rate}/s × ${abovePlan.changes} changes`));
  });
  it('marks each incomplete stage with what it saw, and shows its partial figures', () => {
    assert.match(table, /End to end[^\n]*incomplete: 412 of 660 applied after 50 s/);
    assert.match(table, /Intake[^\n]*incomplete: stopped: bench\/load.ts exited with 1/);
    assert.match(table, /Burst[^\n]*incomplete: stopped: timed out waiting for the API/);
    assert.match(table, /Scaling[^\n]*incomplete: 120 of 4,000 changes settled after 374 s/);
    assert.match(table, /9000 \/ 20000 ms/);
  });
  it('renders a missing figure as n/a, never as undefined or NaN', () => {
    assert.doesNotMatch(table, /undefined|NaN/);
    assert.match(table, /n\/a/);
  });
});
