// `npm run bench [-- --quick] [--tsx|--compiled] [--only <stage>]`: performance figures on this machine, everything on 127.0.0.1.
// Prints a table, writes bench/results/<date>.json and the figures section of docs/benchmarks.md.
// The stages are in bench/stages/, the table and the files in bench/report.ts.
import os from 'node:os';
import { benchContext, type BenchContext } from './context';
import { log } from './measure';
import { parseBenchArgs } from './options';
import { machine, resultFile, writeReport, type BenchResult } from './report';
import { BURST_LIMIT, burst } from './stages/burst';
import { endToEndStage } from './stages/end-to-end';
import { intakeStage } from './stages/intake';

async function main(bench: BenchContext): Promise<void> {
  const { quick, only, runtime, defaultRuntime } = bench.options;
  const date = new Date().toISOString().replace(/[:.]/g, '-');
  log(`bench (${quick ? 'quick' : 'full'}) on ${os.cpus().length} cores`);
  if (only === 'burst') {
    const changes = bench.options.changes ?? (quick ? 1_000 : 10_000);
    log(JSON.stringify(await burst(bench, { workers: 1, apis: 1, limit: BURST_LIMIT, changes }), null, 2));
    return;
  }
  if (only === 'intake') {
    log(JSON.stringify(await intakeStage(bench), null, 2));
    return;
  }
  if (only === 'e2e') {
    log(JSON.stringify(await endToEndStage(bench), null, 2));
    return;
  }
  log('1. intake');
  const intake = await intakeStage(bench);
  log('2-3. end to end and cost');
  const endToEnd = await endToEndStage(bench);
  log('4. burst through the rate limit');
  const burstResult = await burst(bench, { workers: 1, apis: 1, limit: BURST_LIMIT, changes: quick ? 300 : 10_000 });
  log('5. scaling');
  const scalingChanges = quick ? 200 : 4_000;
  const one = await burst(bench, { workers: 1, apis: 1, changes: scalingChanges });
  const two = await burst(bench, { workers: 2, apis: 2, changes: scalingChanges });
  const result: BenchResult = {
    date,
    quick,
    runtime,
    file: resultFile(date, quick, runtime, defaultRuntime),
    machine: machine(),
    intake,
    endToEnd,
    burst: burstResult,
    scaling: { one, two, speedup: Number((one.drainSeconds / two.drainSeconds).toFixed(2)) },
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
