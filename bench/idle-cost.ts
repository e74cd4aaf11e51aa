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
import { PROJECT_ROOT } from '../src/temporal/cli';
import { consentEvent, createHarness, type Service } from '../test/helpers/harness';

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
    const bucket = info.status.name === 'RUNNING' ? result.open : result.closed;
    bucket.workflows++;
    bucket.bytes += info.historySize ?? 0;
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
    const client = harness.env.client;
    const queue = (side: Side) => side.service.config.temporal.taskQueue;
    const settled = async (side: Side) => {
      for (;;) {
        const subscribed = side.emails.filter((email) => harness.sandbox.contact(1001, email)?.subscriptionState === 'Subscribed').length;
        const open = side.name === 'after' ? await client.workflow.count(`TaskQueue = '${queue(side)}' AND ExecutionStatus = 'Running'`) : { count: 0 };
        if (subscribed === PEOPLE && open.count === 0) return;
        if (Date.now() - started > 60 * 60_000) throw new Error(`${side.name}: not settled after an hour (${subscribed} applied, ${open.count} open)`);
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
    const dir = path.join(PROJECT_ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `${new Date().toISOString().replace(/[:.]/g, '-')}-idle.json`);
    writeFileSync(file, `${JSON.stringify(figures, null, 2)}\n`);
    log(`figures: ${path.relative(PROJECT_ROOT, file)}`);
  } finally {
    await harness.close();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
