import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ledgerKeyFor } from '../../src/consent/intake';
import { ledgerWorkflowId, supersedes, type LedgerState } from '../../src/shared';
import { eventually, PRODUCTION_LIST, uniqueEmail } from '../../src/dev/harness';
import { useHarness } from '../helpers/use-harness';
import { SCALE } from '../../src/dev/cluster';
import { recordFigures } from './figures';

// Suite 6 of the reliability proof: random per-email histories of opt-ins and opt-outs with
// random event times (ties included), delivered in random order with duplicates, against a
// Listrak that fails at random, with the person's ledger closing idle between some deliveries
// (the next delivery starts a new run from the closed one). Invariants:
//  (a) Listrak ends in the state of the newest event (opt-out on ties);
//  (b) no subscribe write starts after an opt-out at least as new as every opt-in seen so far
//      was recorded (answered 200).
// A failure prints fast-check's seed and path; replay with PROPERTY_SEED=<seed> PROPERTY_PATH=<path>.

const CASES = Number(process.env.PROPERTY_CASES ?? (SCALE === 'full' ? 1_000 : 100));
const PER_RUN = 20; // cases (emails) run side by side in one property run
/** About 1.7 seconds: ledgers close idle between deliveries where a case asks for it (and wherever a pause is that long). */
const IDLE_DAYS = 0.00002;

interface Step {
  type: 'opt_in' | 'opt_out';
  minute: number;
}
interface Case {
  steps: Step[];
  /** Delivery order: indexes into steps; repeats are redeliveries. */
  order: number[];
  /** How many of this email's writes Listrak fails with 503 first. */
  failures: number;
  /** After which deliveries (indexes into order) the ledger is left to close idle before the next. */
  closeAfter: boolean[];
}

const caseArbitrary: fc.Arbitrary<Case> = fc
  .array(fc.record({ type: fc.constantFrom<'opt_in' | 'opt_out'>('opt_in', 'opt_out'), minute: fc.integer({ min: 0, max: 4 }) }), { minLength: 1, maxLength: 6 })
  .chain((steps) =>
    fc.record({
      steps: fc.constant(steps),
      order: fc
        .tuple(fc.shuffledSubarray(steps.map((_, index) => index), { minLength: steps.length, maxLength: steps.length }), fc.array(fc.nat({ max: steps.length - 1 }), { maxLength: 2 }))
        .map(([permutation, duplicates]) => [...permutation, ...duplicates]),
      failures: fc.integer({ min: 0, max: 2 }),
      closeAfter: fc.array(fc.integer({ min: 0, max: 4 }).map((draw) => draw === 0), { minLength: steps.length + 2, maxLength: steps.length + 2 }),
    }),
  );

describe(`reliability: ordering property (${CASES} cases)`, { timeout: 1_800_000 }, () => {
  const { harness, service } = useHarness({ LEDGER_IDLE_DAYS: String(IDLE_DAYS) });
  const totals = { cases: 0, deliveries: 0, ledgerCloses: 0, subscribeWrites: 0, staleSubscribeWrites: 0, wrongFinalState: 0 };


  async function runCase(testCase: Case): Promise<string | undefined> {
    const email = uniqueEmail('prop');
    const base = Date.parse('2026-11-01T00:00:00Z');
    const events = testCase.steps.map((step, index) => ({
      event_id: `${email.split('@')[0]!.replace(/[^a-z0-9]/g, '')}-${index}`,
      event_time: new Date(base + step.minute * 60_000).toISOString(),
      type: step.type,
      email,
    }));
    if (testCase.failures > 0) harness().sandbox.script({ route: 'upsert', email, status: 503, times: testCase.failures });
    const answeredAt = new Map<string, number>();
    const id = ledgerWorkflowId(ledgerKeyFor(service().config, 'production', email));
    for (const [position, index] of testCase.order.entries()) {
      const event = events[index]!;
      const answer = await service().post(event);
      if (answer.status !== 200) return `delivery answered ${answer.status}`;
      if (!answeredAt.has(event.event_id)) answeredAt.set(event.event_id, Date.now());
      totals.deliveries++;
      if (testCase.closeAfter[position] && position < testCase.order.length - 1) {
        // Leave the person idle until the ledger closes; the next delivery starts a new run.
        await eventually(
          async () => (await harness().env.client.workflow.getHandle(id).describe()).status.name === 'COMPLETED',
          120_000,
          `ledger of ${email} to close idle`,
          250,
        );
        totals.ledgerCloses++;
      }
    }
    await eventually(
      async () => {
        const state = await harness().env.client.workflow.getHandle(id).query<LedgerState>('ledgerState');
        return !state.pendingEventId && !state.runningEventId && events.every((event) => state.changes.some((record) => record.eventId === event.event_id && record.outcome !== 'pending'));
      },
      120_000,
      `ledger of ${email} to settle`,
      250,
    );

    // (a) final state
    let winner = events[0]!;
    for (const event of events) {
      if (supersedes({ eventTimeMs: Date.parse(event.event_time), type: event.type }, { eventTimeMs: Date.parse(winner.event_time), type: winner.type })) winner = event;
    }
    const subscribed = harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState === 'Subscribed';
    if (subscribed !== (winner.type === 'opt_in')) {
      totals.wrongFinalState++;
      return `final state ${subscribed ? 'Subscribed' : 'not subscribed'} but the newest event is ${winner.type} ${winner.event_id}`;
    }

    // (b) no stale subscribe write
    const subscribeWrites = harness().sandbox
      .requestsFor('upsert', email)
      .filter((entry) => (entry.body as { subscriptionState?: string }).subscriptionState === 'Subscribed');
    totals.subscribeWrites += subscribeWrites.length;
    for (const write of subscribeWrites) {
      const startedAt = Date.parse(write.at);
      const seen = events.filter((event) => (answeredAt.get(event.event_id) ?? Infinity) < startedAt);
      const newestOptOut = Math.max(-Infinity, ...seen.filter((event) => event.type === 'opt_out').map((event) => Date.parse(event.event_time)));
      const newerOptIn = seen.some((event) => event.type === 'opt_in' && Date.parse(event.event_time) > newestOptOut);
      if (!newerOptIn) {
        totals.staleSubscribeWrites++;
        return `a subscribe write started at ${write.at} after an opt-out as new as every opt-in seen was recorded`;
      }
    }
    totals.cases++;
    return undefined;
  }

  it('keeps both invariants for random histories, delivery orders, duplicates and Listrak failures', async () => {
    const seed = process.env.PROPERTY_SEED ? Number(process.env.PROPERTY_SEED) : Date.now() % 2_147_483_647;
    const started = Date.now();
    let failure: string | undefined;
    try {
      await fc.assert(
        fc.asyncProperty(fc.array(caseArbitrary, { minLength: PER_RUN, maxLength: PER_RUN }), async (cases) => {
          const problems = (await Promise.all(cases.map((testCase) => runCase(testCase)))).filter((problem): problem is string => problem !== undefined);
          if (problems.length > 0) failure = problems[0];
          return problems.length === 0;
        }),
        {
          seed,
          numRuns: Math.ceil(CASES / PER_RUN),
          endOnFailure: true,
          ...(process.env.PROPERTY_PATH ? { path: process.env.PROPERTY_PATH } : {}),
        },
      );
    } catch (error) {
      process.stdout.write(`ordering property failed: replay with PROPERTY_SEED=${seed} (fast-check prints the path)\n`);
      throw new Error(`${failure ?? ''}\n${(error as Error).message}`, { cause: error });
    } finally {
      recordFigures('6-ordering-property', { ...totals, seed, seconds: Math.round((Date.now() - started) / 1000) });
    }
    assert.equal(totals.wrongFinalState, 0);
    assert.equal(totals.staleSubscribeWrites, 0);
  });
});
