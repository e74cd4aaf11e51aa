// `npm run bench:idle [-- --people 10000]`: what idle people cost in Temporal, before and after
// ledgers close idle (LEDGER_IDLE_DAYS). Everything on 127.0.0.1: a dev server, the sandbox, one
// worker and API per side. Prints the figures and writes bench/results/<date>-idle.json.
//
// "Before": LEDGER_IDLE_DAYS=0 (ledgers stay open, as every release before this one).
// "After": ledgers close after ~1.7 s of idleness here (days in production; the bytes are the same).
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { PROJECT_ROOT } from '../src/dev/paths';
import { consentEvent, createHarness, type Service } from '../src/dev/harness';

const arg = (name: string, fallback: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const PEOPLE = arg('--people', 10_000);
/** Changes per second sent to each side: below this machine's capacity (about 20–25 applied/s). */
const RATE = arg('--rate', 20);
/** Changes whose histories are read to count actions and bytes per applied change. */
const SAMPLE = Math.min(200, PEOPLE);
const IDLE_DAYS = 0.00002;
const log = (line: string) => process.stdout.write(`${line}\n`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Events whose history entries are billed as actions on Temporal Cloud (as bench/run.ts counts them). */
const ACTION_EVENTS = new Set([
  'EVENT_TYPE_WORKFLOW_EXECUTION_STARTED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
  'EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED',
  'EVENT_TYPE_ACTIVITY_TASK_STARTED',
  'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES',
  'EVENT_TYPE_TIMER_STARTED',
  'EVENT_TYPE_MARKER_RECORDED',
  'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW',
]);

interface Side {
  name: 'before' | 'after';
  service: Service;
  emails: string[];
}

interface Footprint {
  open: { workflows: number; bytes: number };
  closed: { workflows: number; bytes: number };
}

/** Open and closed workflows of one side's task queue, with their history bytes (visibility). */
async function footprint(client: Client, taskQueue: string): Promise<Footprint> {
  const result: Footprint = { open: { workflows: 0, bytes: 0 }, closed: { workflows: 0, bytes: 0 } };
  for await (const info of client.workflow.list({ query: `TaskQueue = '${taskQueue}'`, pageSize: 1000 })) {
    const open = info.status.name === 'RUNNING';
    const bucket = open ? result.open : result.closed;
    bucket.workflows++;
    // Visibility records a history's size when the workflow closes; an open one's comes from describe.
    bucket.bytes += open ? ((await client.workflow.getHandle(info.workflowId, info.runId).describe()).historySize ?? 0) : (info.historySize ?? 0);
  }
  return result;
}

async function send(side: Side): Promise<void> {
  const started = Date.now();
  for (let index = 0; index < side.emails.length; index++) {
    const due = started + (index * 1000) / RATE;
    if (due > Date.now()) await sleep(due - Date.now());
    const answer = await side.service.post(consentEvent('opt_in', side.emails[index]!, new Date(), { profile: { first_name: 'Ada' } }));
    if (answer.status !== 200) throw new Error(`${side.name}: webhook answered ${answer.status}`);
    if (index % 1000 === 999) log(`  ${side.name}: ${index + 1} sent`);
  }
}

/** Actions and history bytes of a sample of applied changes (ledger run + change workflow). */
async function perChange(client: Client, taskQueue: string): Promise<{ actions: number; bytes: number; events: number }> {
  let actions = 0;
  let bytes = 0;
  let events = 0;
  let changes = 0;
  for await (const info of client.workflow.list({ query: `TaskQueue = '${taskQueue}' AND WorkflowType = 'applyConsentChangeWorkflow'`, pageSize: SAMPLE })) {
    const ledgerId = `consent-ledger/${info.workflowId.split('/').slice(2).join('/')}`;
    for (const id of [info.workflowId, ledgerId]) {
      const handle = client.workflow.getHandle(id);
      const description = await handle.describe();
      bytes += description.historySize ?? 0;
      for (const event of (await handle.fetchHistory()).events ?? []) {
        events++;
        const name = temporal.api.enums.v1.EventType[event.eventType ?? 0] ?? '';
        if (ACTION_EVENTS.has(name)) actions++;
      }
    }
    // The activity's ledger query before a subscribe is billed as an action too.
    actions++;
    if (++changes >= SAMPLE) break;
  }
  return { actions: actions / changes, bytes: bytes / changes, events: events / changes };
}

async function main(): Promise<void> {
  const harness = await createHarness();
  try {
    const sides: Side[] = [
      { name: 'before', service: await harness.start({ LEDGER_IDLE_DAYS: '0' }), emails: [] },
      { name: 'after', service: await harness.start({ LEDGER_IDLE_DAYS: String(IDLE_DAYS) }), emails: [] },
    ];
    for (const side of sides) side.emails = Array.from({ length: PEOPLE }, (_, index) => `idle.${side.name}.${index}@example.com`);
    const started = Date.now();
    log(`${PEOPLE} people per side, one opt-in each, ${RATE}/s`);
    await Promise.all(sides.map(send));
    // Every webhook was answered 200 (recorded); the service may still be applying the last ones.
    const sent = Date.now();
    log(`sent in ${Math.round((sent - started) / 1000)} s; waiting for every change to be applied`);
    const client = harness.env.client;
    const queue = (side: Side) => side.service.config.temporal.taskQueue;
    const settled = async (side: Side) => {
      for (;;) {
        const subscribed = side.emails.filter((email) => harness.sandbox.contact(1001, email)?.subscriptionState === 'Subscribed').length;
        const open = side.name === 'after' ? await client.workflow.count(`TaskQueue = '${queue(side)}' AND ExecutionStatus = 'Running'`) : { count: 0 };
        if (subscribed === PEOPLE && open.count === 0) return;
        if (Date.now() - sent > 30 * 60_000) throw new Error(`${side.name}: not settled 30 minutes after the last webhook (${subscribed} applied, ${open.count} open)`);
        await sleep(2_000);
      }
    };
    await Promise.all(sides.map(settled));
    // Visibility records history sizes when a workflow closes or records a task: give it a moment.
    await sleep(5_000);
    const figures: Record<string, unknown> = { people: PEOPLE, rate: RATE, machine: `${os.cpus().length} cores`, at: new Date().toISOString() };
    for (const side of sides) {
      const print = await footprint(client, queue(side));
      const costs = await perChange(client, queue(side));
      figures[side.name] = { ...print, perAppliedChange: { actions: Number(costs.actions.toFixed(2)), historyBytes: Math.round(costs.bytes), historyEvents: Number(costs.events.toFixed(1)) } };
      log(
        `${side.name}: open ${print.open.workflows} workflows, ${(print.open.bytes / 1e6).toFixed(2)} MB; closed ${print.closed.workflows}, ${(print.closed.bytes / 1e6).toFixed(2)} MB; ` +
          `per applied change ${costs.actions.toFixed(2)} actions, ${Math.round(costs.bytes)} bytes, ${costs.events.toFixed(1)} events`,
      );
    }
    figures.seconds = Math.round((Date.now() - started) / 1000);
    figures.monthlyCloudCost = costTable(figures as unknown as MeasuredSides);
    log(markdownCostTable(figures.monthlyCloudCost as CostRow[]));
    const dir = path.join(PROJECT_ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-idle.json`);
    writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
    log(`figures: ${path.relative(PROJECT_ROOT, file)}`);
  } finally {
    await harness.close();
  }
}

// Temporal Cloud pay-as-you-go rates, https://docs.temporal.io/cloud/pricing (read 2026-12-01):
// actions $50 per million for the first 5 M, $45 to 10 M, $40 to 20 M, $35 to 50 M, $30 to 100 M,
// $25 to 200 M; active storage (open workflows) $0.042 per GB-hour, retained storage (closed
// workflows, for the namespace's retention) $0.00105 per GB-hour; 1 GB for a month = 744 GBh.
const ACTION_TIERS: [upTo: number, perMillion: number][] = [
  [5e6, 50],
  [10e6, 45],
  [20e6, 40],
  [50e6, 35],
  [100e6, 30],
  [200e6, 25],
];
const ACTIVE_PER_GBH = 0.042;
const RETAINED_PER_GBH = 0.00105;
const HOURS_PER_MONTH = 744;
const RETENTION_DAYS = 30;
const IDLE_CLOSE_DAYS = 14;

interface SideFigures extends Footprint {
  perAppliedChange: { actions: number; historyBytes: number; historyEvents: number };
}
type MeasuredSides = { people: number; before: SideFigures; after: SideFigures };
interface CostRow {
  people: number;
  changingPerMonth: number;
  before: { actions: number; activeStorage: number; retainedStorage: number; total: number };
  after: { actions: number; activeStorage: number; retainedStorage: number; total: number };
}

function actionCost(actions: number): number {
  let cost = 0;
  let from = 0;
  for (const [upTo, perMillion] of ACTION_TIERS) {
    const inTier = Math.max(0, Math.min(actions, upTo) - from);
    cost += (inTier / 1e6) * perMillion;
    from = upTo;
  }
  return cost + (Math.max(0, actions - from) / 1e6) * ACTION_TIERS.at(-1)![1];
}

/**
 * Monthly cost of one namespace, from the measured bytes and actions. Before: every person's
 * ledger stays open, one change's ledger size each. After: only people who changed within the last
 * LEDGER_IDLE_DAYS have an open ledger; the rest closed and are retained for the retention, then
 * gone. Change workflows are closed in both and retained for the retention. People change evenly
 * over the month.
 */
function costTable(measured: MeasuredSides): CostRow[] {
  const gb = (bytes: number) => bytes / 1e9;
  const openLedgerBytes = measured.before.open.bytes / measured.people;
  const closedAfterBytes = measured.after.closed.bytes / measured.people; // a closed ledger and its change
  const changeBytes = measured.before.closed.bytes / measured.people; // the closed change workflow
  const rows: CostRow[] = [];
  for (const people of [1e6, 10e6]) {
    for (const changingPerMonth of [0.01, 0.1]) {
      const changes = people * changingPerMonth;
      const retainedChanges = changes * (RETENTION_DAYS / 30);
      const beforeActive = gb(people * openLedgerBytes) * HOURS_PER_MONTH * ACTIVE_PER_GBH;
      const beforeRetained = gb(retainedChanges * changeBytes) * HOURS_PER_MONTH * RETAINED_PER_GBH;
      const beforeActions = actionCost(changes * measured.before.perAppliedChange.actions);
      const openAfter = changes * (IDLE_CLOSE_DAYS / 30);
      const afterActive = gb(openAfter * openLedgerBytes) * HOURS_PER_MONTH * ACTIVE_PER_GBH;
      const afterRetained = gb(retainedChanges * closedAfterBytes) * HOURS_PER_MONTH * RETAINED_PER_GBH;
      const afterActions = actionCost(changes * measured.after.perAppliedChange.actions);
      const round = (value: number) => Math.round(value);
      rows.push({
        people,
        changingPerMonth,
        before: { actions: round(beforeActions), activeStorage: round(beforeActive), retainedStorage: round(beforeRetained), total: round(beforeActions + beforeActive + beforeRetained) },
        after: { actions: round(afterActions), activeStorage: round(afterActive), retainedStorage: round(afterRetained), total: round(afterActions + afterActive + afterRetained) },
      });
    }
  }
  return rows;
}

function markdownCostTable(rows: CostRow[]): string {
  const usd = (value: number) => `$${value.toLocaleString('en-US')}`;
  return [
    '| people | changing a month | before: actions + active + retained = total | after: actions + active + retained = total |',
    '|---|---|---|---|',
    ...rows.map(
      (row) =>
        `| ${(row.people / 1e6).toFixed(0)} M | ${(row.changingPerMonth * 100).toFixed(0)} % | ` +
        `${usd(row.before.actions)} + ${usd(row.before.activeStorage)} + ${usd(row.before.retainedStorage)} = **${usd(row.before.total)}** | ` +
        `${usd(row.after.actions)} + ${usd(row.after.activeStorage)} + ${usd(row.after.retainedStorage)} = **${usd(row.after.total)}** |`,
    ),
  ].join('\n');
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
