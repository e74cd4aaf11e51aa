// The report: the markdown table, bench/results/<date>.json and the figures section of docs/benchmarks.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/temporal/cli';
import type { Runtime } from './options';
import type { BurstResult } from './stages/burst';
import type { EndToEndResult } from './stages/end-to-end';
import type { IntakeResult } from './stages/intake';

export interface BenchResult {
  date: string;
  quick: boolean;
  /** How the service's processes ran: compiled (`npm run build`, as in the image) or through tsx. */
  runtime: Runtime;
  file: string;
  machine: ReturnType<typeof machine>;
  intake: IntakeResult;
  endToEnd: EndToEndResult;
  burst: BurstResult;
  scaling: { one: BurstResult; two: BurstResult; speedup: number };
}

/** The result file's name: the date, `-quick`, and the runtime when it is not the default. */
export function resultFile(date: string, quick: boolean, runtime: Runtime, defaultRuntime: Runtime): string {
  return `${date}${quick ? '-quick' : ''}${runtime === defaultRuntime ? '' : `-${runtime}`}.json`;
}

export function machine() {
  const cpus = os.cpus();
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  return { cpus: cpus.length, cpuModel: cpus[0]?.model ?? 'unknown', memoryGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, commit };
}

/** The below-capacity breakdown as one table row: dispatch + run of each task, in order. */
function stepsRow(steps: Record<string, number>): [string, string, string] {
  const value = [
    `ledger task ${steps.ledgerTaskDispatch} + ${steps.ledgerTaskRun}`,
    `child start ${steps.childStart}`,
    `child task ${steps.childTaskDispatch} + ${steps.childTaskRun}`,
    `activity ${steps.activityDispatch} + ${steps.activity}`,
  ].join(', ');
  const inner =
    steps.listrakRead === undefined
      ? ''
      : ` (in the activity: ${steps.activityBeforeRead} until the contact read, read ${steps.listrakRead}, ${steps.activityReadToWrite} to the write incl. the ledger query, write ${steps.listrakWrite})`;
  return ['Below capacity, median ms per step (dispatch + run; the activity runs the Listrak calls)', value + inner, ''];
}

export function markdown(result: BenchResult, defaultRuntime: Runtime): string {
  const flags = [result.quick && '--quick', result.runtime !== defaultRuntime && `--${result.runtime}`].filter(Boolean);
  const i = result.intake;
  const e = result.endToEnd;
  const b = result.burst;
  const s = result.scaling;
  const rows: [string, string, string][] = [
    ['Intake: max webhook rate with p99 ≤ 25 ms', `${i.intakeMaxRateP99Under25ms}/s`, ''],
    ['Raw signalWithStart, same server: max rate with p99 ≤ 25 ms', `${i.rawSignalWithStartMaxRateP99Under25ms}/s`, ''],
    // A quick run's 1-second steps without warm-up cannot judge a p99 (see intakeStage).
    ['Intake ÷ raw', result.quick ? `${i.intakeToRawRatio} (1 s steps: not a measure)` : `${i.intakeToRawRatio}`, '≥ 0.8'],
    ['Intake vs raw at saturation (highest rate delivered)', `${i.intakeSaturationRps}/s vs ${i.rawSaturationRps}/s (${i.saturationRatio})`, ''],
    ['Intake p50 / p99 at 200 req/s', i.intakeAt200 ? `${i.intakeAt200.p50} / ${i.intakeAt200.p99} ms` : 'n/a', ''],
    ['End to end (accepted → applied) p50 / p99 at 100/s, Listrak 20 ms', `${e.acceptedToApplied.p50} / ${e.acceptedToApplied.p99} ms`, 'p99 ≤ 1000 ms'],
    ['End to end (sent → applied) p50 / p99', `${e.sentToApplied.p50} / ${e.sentToApplied.p99} ms`, ''],
    ['Naive peer (sent → applied) p50 / p99', `${e.naivePeerSentToApplied.p50} / ${e.naivePeerSentToApplied.p99} ms`, ''],
    ['p50 ÷ naive p50', `${e.p50VersusNaive}`, '≤ 2'],
    ...(e.sustainedAcceptedToApplied
      ? [[`End to end (accepted → applied) p50 / p99 at ${e.sustainedRate}/s, below capacity`, `${e.sustainedAcceptedToApplied.p50} / ${e.sustainedAcceptedToApplied.p99} ms`, ''] as [string, string, string]]
      : []),
    ...(e.sustainedStepsMs ? [stepsRow(e.sustainedStepsMs)] : []),
    ['History events per applied change', `${e.cost.historyEventsPerAppliedChange}`, ''],
    ['Billable actions per applied change (estimate)', `${e.cost.actionsPerAppliedChange}`, '≤ 6'],
    ['Listrak writes per applied change (no faults)', `${e.cost.listrakWritesPerAppliedChange}`, '1'],
    ['Token requests per 1,000 changes', `${e.cost.tokenRequestsPer1000Changes}`, ''],
    ...(e.cost.listrakConnectionsOpened === undefined
      ? []
      : [['Listrak connections opened by the worker at 100/s; requests per connection', `${e.cost.listrakConnectionsOpened}; ${e.cost.listrakRequestsPerConnection}`, ''] as [string, string, string]]),
    [`Burst ${b.changes} changes / ${b.emails} emails, limit ${b.limitPerSecond}/s: drain vs ideal`, `${b.drainSeconds} s vs ${b.idealSeconds} s`, ''],
    [
      'Burst: peak Listrak requests in any second (limit + the limiter\'s burst)',
      `${b.peakRequestsPerSecond}`,
      b.allowedPeakPerSecond ? `≤ ${b.allowedPeakPerSecond} (${b.limitPerSecond} + ${b.allowedPeakPerSecond - (b.limitPerSecond ?? 0)})` : `≤ ${b.limitPerSecond}`,
    ],
    // Below the limit even when it binds: Temporal splits it over 4 partitions of the task queue.
    ['Burst: mean Listrak requests per second while draining', `${b.meanRequestsPerSecond ?? 'n/a'}`, `≤ ${b.limitPerSecond}`],
    ['Burst: worker / server max RSS', `${b.workerMaxRssMb} / ${b.serverMaxRssMb} MB`, 'worker ≤ 300 MB'],
    [`Scaling (no limit, ${s.one.changes} changes): 1 worker vs 2 workers + 2 APIs drain`, `${s.one.drainSeconds} s vs ${s.two.drainSeconds} s (×${s.speedup})`, ''],
  ];
  const m = result.machine;
  return [
    `Run ${result.date} (${result.quick ? 'quick' : 'full'}, ${result.runtime ?? 'tsx'}) on ${m.cpus} × ${m.cpuModel}, ${m.memoryGb} GB, Node ${m.node}, commit ${m.commit}.`,
    `Command: \`npm run bench${flags.length ? ` -- ${flags.join(' ')}` : ''}\`; raw figures: \`bench/results/${result.file}\`.`,
    '',
    '| figure | value | goal |',
    '|---|---|---|',
    ...rows.map(([name, value, goal]) => `| ${name} | ${value} | ${goal} |`),
  ].join('\n');
}

/**
 * Writes the result to bench/results and returns its table; a run in its default runtime also
 * replaces the figures section of docs/benchmarks.md (a run in the other runtime is a comparison:
 * its figures stay in bench/results).
 */
export function writeReport(result: BenchResult, defaultRuntime: Runtime): string {
  const dir = path.join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, result.file), `${JSON.stringify(result, null, 2)}\n`);
  const table = markdown(result, defaultRuntime);
  const docs = path.join(PROJECT_ROOT, 'docs', 'benchmarks.md');
  if (existsSync(docs) && result.runtime === defaultRuntime) {
    const text = readFileSync(docs, 'utf8');
    const marker = result.quick ? ['<!-- bench:quick:start -->', '<!-- bench:quick:end -->'] : ['<!-- bench:start -->', '<!-- bench:end -->'];
    const [start, end] = [text.indexOf(marker[0]!), text.indexOf(marker[1]!)];
    if (start >= 0 && end > start) writeFileSync(docs, `${text.slice(0, start + marker[0]!.length)}\n${table}\n${text.slice(end)}`);
  }
  return table;
}
