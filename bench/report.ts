// The report: the markdown table, bench/results/<date>.json and the figures section of docs/benchmarks.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/dev/paths';
import type { Runtime } from './options';
import { isIncomplete, type LoadPlan, type Outcome } from './sizing';
import type { BurstResult } from './stages/burst';
import type { CapacityResult } from './stages/capacity';
import type { EndToEndResult } from './stages/end-to-end';
import type { IntakeResult } from './stages/intake';

export interface ScalingResult {
  one: Outcome<BurstResult>;
  two: Outcome<BurstResult>;
  /** Drain with 1 worker ÷ with 2; null unless both drained. */
  speedup: number | null;
}

export interface BenchResult {
  date: string;
  quick: boolean;
  /** How the service's processes ran: compiled (`npm run build`, as in the image) or through tsx. */
  runtime: Runtime;
  file: string;
  machine: ReturnType<typeof machine>;
  /** Applied changes/s end to end, measured first (absent before 2026-12-02). */
  capacity: Outcome<CapacityResult>;
  /** The latency stages' loads, chosen from the capacity. */
  plan: { below: LoadPlan; above: LoadPlan };
  intake: Outcome<IntakeResult>;
  endToEnd: Outcome<EndToEndResult>;
  burst: Outcome<BurstResult>;
  scaling: ScalingResult;
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

type Row = [string, string, string];

/** A figure, or "n/a" when the stage did not get to it. */
const shown = (value: number | string | null | undefined, unit = '') =>
  value === undefined || value === null || (typeof value === 'number' && !Number.isFinite(value)) ? 'n/a' : `${value}${unit}`;
const quantiles = (value: { p50: number; p99: number } | undefined | null) => (value ? `${shown(value.p50)} / ${shown(value.p99)} ms` : 'n/a');

/** The row that marks a stage which could not finish, with what it saw; none for a finished one. */
function status(stage: string, outcome: Outcome<object>): Row[] {
  return isIncomplete(outcome) ? [[`${stage}: stage incomplete`, `incomplete: ${outcome.incomplete}`, '']] : [];
}

/** The below-capacity breakdown as one table row: dispatch + run of each task, in order. */
function stepsRow(steps: Record<string, number>): Row {
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

const planned = (plan: LoadPlan) => `${plan.rate}/s × ${plan.changes} changes (then up to ${plan.drainTimeoutSeconds} s)`;

function capacityRows(capacity: Outcome<CapacityResult>, plan: BenchResult['plan']): Row[] {
  return [
    [
      `Capacity: applied changes per second end to end (${shown(capacity.applied)} of ${shown(capacity.sampleChanges)} opt-ins in ${shown(capacity.seconds)} s, Listrak ${shown(capacity.listrakLatencyMs)} ms)`,
      `${shown(capacity.appliedPerSecond, '/s')}`,
      '',
    ],
    ...status('Capacity', capacity),
    [`Loads chosen from it: below (${plan.below.factor} ×) and above (${plan.above.factor} ×) capacity`, `${planned(plan.below)}; ${planned(plan.above)}`, ''],
  ];
}

function intakeRows(i: Outcome<IntakeResult>, quick: boolean): Row[] {
  return [
    ...status('Intake', i),
    ['Intake: max webhook rate with p99 ≤ 25 ms', shown(i.intakeMaxRateP99Under25ms, '/s'), ''],
    ['Raw signalWithStart, same server: max rate with p99 ≤ 25 ms', shown(i.rawSignalWithStartMaxRateP99Under25ms, '/s'), ''],
    // A quick run's 1-second steps without warm-up cannot judge a p99 (see intakeStage).
    ['Intake ÷ raw', quick ? `${shown(i.intakeToRawRatio)} (1 s steps: not a measure)` : shown(i.intakeToRawRatio), '≥ 0.8'],
    ['Intake vs raw at saturation (highest rate delivered)', `${shown(i.intakeSaturationRps, '/s')} vs ${shown(i.rawSaturationRps, '/s')} (${shown(i.saturationRatio)})`, ''],
    ['Intake p50 / p99 at 200 req/s', quantiles(i.intakeAt200), ''],
  ];
}

function endToEndRows(e: Outcome<EndToEndResult>, plan: BenchResult['plan']): Row[] {
  const cost: Partial<EndToEndResult['cost']> = e.cost ?? {};
  return [
    ...status('End to end and cost', e),
    [`End to end (accepted → applied) p50 / p99 at ${shown(e.e2eRate, '/s')} (${plan.above.factor} × capacity), Listrak 20 ms`, quantiles(e.acceptedToApplied), 'p99 ≤ 1000 ms'],
    ['End to end (sent → applied) p50 / p99', quantiles(e.sentToApplied), ''],
    ['Naive peer (sent → applied) p50 / p99', quantiles(e.naivePeerSentToApplied), ''],
    ['p50 ÷ naive p50', shown(e.p50VersusNaive), '≤ 2'],
    [`End to end (accepted → applied) p50 / p99 at ${shown(e.sustainedRate, '/s')} (${plan.below.factor} × capacity)`, quantiles(e.sustainedAcceptedToApplied), ''],
    ...(e.sustainedStepsMs ? [stepsRow(e.sustainedStepsMs)] : []),
    ['History events per applied change', shown(cost.historyEventsPerAppliedChange), ''],
    ['Billable actions per applied change (estimate)', shown(cost.actionsPerAppliedChange), '≤ 6'],
    ['Listrak writes per applied change (no faults)', shown(cost.listrakWritesPerAppliedChange), '1'],
    ['Token requests per 1,000 changes', shown(cost.tokenRequestsPer1000Changes), ''],
    [`Listrak connections opened by the worker at ${shown(e.e2eRate, '/s')}; requests per connection`, `${shown(cost.listrakConnectionsOpened)}; ${shown(cost.listrakRequestsPerConnection)}`, ''],
  ];
}

function burstRows(b: Outcome<BurstResult>): Row[] {
  const allowed = b.allowedPeakPerSecond ? `≤ ${b.allowedPeakPerSecond} (${b.limitPerSecond} + ${b.allowedPeakPerSecond - (b.limitPerSecond ?? 0)})` : `≤ ${shown(b.limitPerSecond)}`;
  return [
    ...status('Burst', b),
    [`Burst ${shown(b.changes)} changes / ${shown(b.emails)} emails, limit ${shown(b.limitPerSecond, '/s')}: drain vs ideal`, `${shown(b.drainSeconds, ' s')} vs ${shown(b.idealSeconds, ' s')}`, ''],
    ["Burst: peak Listrak requests in any second (limit + the limiter's burst)", shown(b.peakRequestsPerSecond), allowed],
    // Below the limit even when it binds: Temporal splits it over 4 partitions of the task queue.
    ['Burst: mean Listrak requests per second while draining', shown(b.meanRequestsPerSecond), `≤ ${shown(b.limitPerSecond)}`],
    ['Burst: worker / server max RSS', `${shown(b.workerMaxRssMb)} / ${shown(b.serverMaxRssMb)} MB`, 'worker ≤ 300 MB'],
  ];
}

function scalingRows(s: ScalingResult): Row[] {
  const notes = [
    isIncomplete(s.one) ? `${s.one.incomplete} (1 worker)` : undefined,
    isIncomplete(s.two) ? `${s.two.incomplete} (2 workers + 2 APIs)` : undefined,
  ].filter(Boolean);
  return [
    ...(notes.length ? [[`Scaling: stage incomplete`, `incomplete: ${notes.join('; ')}`, ''] as Row] : []),
    [
      `Scaling (no limit, ${shown(s.one.changes)} changes): 1 worker vs 2 workers + 2 APIs drain`,
      `${shown(s.one.drainSeconds, ' s')} vs ${shown(s.two.drainSeconds, ' s')} (×${shown(s.speedup)})`,
      '',
    ],
  ];
}

export function markdown(result: BenchResult, defaultRuntime: Runtime): string {
  const flags = [result.quick && '--quick', result.runtime !== defaultRuntime && `--${result.runtime}`].filter(Boolean);
  const rows: Row[] = [
    ...capacityRows(result.capacity, result.plan),
    ...intakeRows(result.intake, result.quick),
    ...endToEndRows(result.endToEnd, result.plan),
    ...burstRows(result.burst),
    ...scalingRows(result.scaling),
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
