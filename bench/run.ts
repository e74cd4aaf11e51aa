// `npm run bench [-- --quick] [--tsx|--compiled] [--only <stage>]`: performance figures on this machine, everything on 127.0.0.1.
// Prints a table, writes bench/results/<date>.json and the figures section of docs/benchmarks.md.
// The stages are in bench/stages/, how they size their loads in bench/sizing.ts, the table and
// the files in bench/report.ts. A stage that cannot finish is reported as incomplete with what it
// saw; the others still run and the report is still written.
import os from 'node:os';
import { benchContext, type BenchContext } from './context';
import { log } from './measure';
import { parseBenchArgs } from './options';
import { machine, resultFile, writeReport, type BenchResult, type ScalingResult } from './report';
import { BOUNDS, drainTimeoutSeconds, isIncomplete, planLoad, settle, type Bounds, type Outcome } from './sizing';
import { BURST_LIMIT, burst, type BurstResult } from './stages/burst';
import { capacityStage, type CapacityResult } from './stages/capacity';
import { endToEndStage, type EndToEndResult } from './stages/end-to-end';
import { intakeStage, type IntakeResult } from './stages/intake';

/** Below and above the measured capacity: a queue's latency is not the work's. */
const BELOW = 0.5;
const ABOVE = 1.5;

async function capacityFirst(bench: BenchContext, bounds: Bounds) {
  log('1. capacity');
  const capacity = await settle<CapacityResult>((progress) => capacityStage(bench, bounds, progress));
  const measured = capacity.appliedPerSecond ?? 0;
  const plan = { below: planLoad(measured, BELOW, bounds), above: planLoad(measured, ABOVE, bounds) };
  log(`  ${measured} applied changes/s${isIncomplete(capacity) ? ` (incomplete: ${capacity.incomplete})` : ''}; below: ${JSON.stringify(plan.below)}; above: ${JSON.stringify(plan.above)}`);
  return { capacity, measured, plan };
}

/** Scaling: the same burst without a limit on 1 worker and 1 API, then on 2 of each. */
async function scaling(bench: BenchContext, changes: number, drainTimeout: number): Promise<ScalingResult> {
  const run = (workers: number) => settle<BurstResult>((progress) => burst(bench, { workers, apis: workers, changes, drainTimeoutSeconds: drainTimeout }, progress));
  const one = await run(1);
  const two = await run(2);
  const bothDrained = !isIncomplete(one) && !isIncomplete(two);
  return { one, two, speedup: bothDrained ? Number((one.drainSeconds / two.drainSeconds).toFixed(2)) : null };
}

const logIncomplete = (stage: string, outcome: Outcome<object>) => {
  if (isIncomplete(outcome)) log(`  ${stage} incomplete: ${outcome.incomplete}`);
};

async function main(bench: BenchContext): Promise<void> {
  const { quick, only, runtime, defaultRuntime } = bench.options;
  const bounds = BOUNDS[quick ? 'quick' : 'full'];
  const date = new Date().toISOString().replace(/[:.]/g, '-');
  log(`bench (${quick ? 'quick' : 'full'}) on ${os.cpus().length} cores`);
  if (only === 'burst') {
    // Alone, for profiling: no capacity measured, so the full run's longest wait.
    const changes = bench.options.changes ?? (quick ? 1_000 : 10_000);
    const options = { workers: 1, apis: 1, limit: BURST_LIMIT, changes, drainTimeoutSeconds: BOUNDS.full.maxBurstWaitSeconds };
    log(JSON.stringify(await settle<BurstResult>((progress) => burst(bench, options, progress)), null, 2));
    return;
  }
  if (only === 'intake') {
    log(JSON.stringify(await settle<IntakeResult>((progress) => intakeStage(bench, progress)), null, 2));
    return;
  }
  if (only === 'capacity') {
    log(JSON.stringify(await capacityFirst(bench, bounds), null, 2));
    return;
  }
  if (only === 'e2e') {
    const { plan } = await capacityFirst(bench, bounds);
    log(JSON.stringify(await settle<EndToEndResult>((progress) => endToEndStage(bench, plan, progress)), null, 2));
    return;
  }
  if (only !== undefined) throw new Error(`--only takes capacity, intake, e2e or burst, got '${only}'`);

  const { capacity, measured, plan } = await capacityFirst(bench, bounds);
  log('2. intake');
  const intake = await settle<IntakeResult>((progress) => intakeStage(bench, progress));
  logIncomplete('intake', intake);
  log('3-4. end to end and cost');
  const endToEnd = await settle<EndToEndResult>((progress) => endToEndStage(bench, plan, progress));
  logIncomplete('end to end', endToEnd);
  log('5. burst through the rate limit');
  const burstChanges = quick ? 300 : 10_000;
  const burstOptions = { workers: 1, apis: 1, limit: BURST_LIMIT, changes: burstChanges, drainTimeoutSeconds: drainTimeoutSeconds(burstChanges, Math.min(measured, BURST_LIMIT), bounds) };
  const burstResult = await settle<BurstResult>((progress) => burst(bench, burstOptions, progress));
  logIncomplete('burst', burstResult);
  log('6. scaling');
  const scalingChanges = quick ? 200 : 4_000;
  const scalingResult = await scaling(bench, scalingChanges, drainTimeoutSeconds(scalingChanges, measured, bounds));
  logIncomplete('scaling, 1 worker', scalingResult.one);
  logIncomplete('scaling, 2 workers', scalingResult.two);
  const result: BenchResult = {
    date,
    quick,
    runtime,
    file: resultFile(date, quick, runtime, defaultRuntime),
    machine: machine(),
    capacity,
    plan,
    intake,
    endToEnd,
    burst: burstResult,
    scaling: scalingResult,
  };
  const table = writeReport(result, defaultRuntime);
  log(`\n${table}\n`);
}

const bench = benchContext(parseBenchArgs(process.argv.slice(2)));
main(bench).then(
  async () => {
    await bench.dispose();
    process.exit(0);
  },
  async (error: unknown) => {
    await bench.dispose();
    process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
