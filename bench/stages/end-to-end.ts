// Stages 3 and 4: end-to-end latency above and below the measured capacity, against the naive
// peer, and what each change costs.
import { spawn } from 'node:child_process';
import { temporal } from '@temporalio/proto';
import { PROJECT_ROOT } from '../../src/dev/paths';
import { freePort, randomChanges, type Cluster, type ConsentEventSpec } from '../../src/dev/cluster';
import type { BenchContext } from '../context';
import { appliedCounter, percentile, sendAtRate, waitUntil, writeDoneAt } from '../measure';
import { drainNote, type LoadPlan, type Progress } from '../sizing';
import type { Quantiles } from './intake';
import { latencyBreakdown } from './latency-breakdown';

export interface EndToEndResult {
  /** The rate above capacity (1.5 × the measured capacity; 100/s before 2026-12-02). */
  e2eRate: number;
  /** Changes sent at it (absent before 2026-12-02). */
  e2eChanges?: number;
  /** The same measurement at a rate below the machine's capacity (absent in older results). */
  sustainedRate?: number;
  sustainedChanges?: number;
  sustainedAcceptedToApplied?: Quantiles;
  /** Medians of the steps of those changes (see latencyBreakdown). */
  sustainedStepsMs?: Record<string, number>;
  e2eSeconds: number;
  sandboxLatencyMs: number;
  acceptedToApplied: Quantiles;
  sentToApplied: Quantiles;
  naivePeerSentToApplied: Quantiles;
  p50VersusNaive: number;
  cost: {
    historyEventsPerAppliedChange: number;
    actionsPerAppliedChange: number;
    listrakWritesPerAppliedChange: number;
    listrakRequestsPerAppliedChange: number;
    tokenRequestsPer1000Changes: number;
    /** Absent in runs before 2026-11-27 19:30. */
    listrakConnectionsOpened?: number;
    listrakRequestsPerConnection?: number;
  };
}

const LISTRAK_LATENCY_MS = 20;

const optIns = (count: number) => randomChanges(count, count).map((event) => ({ ...event, type: 'opt_in' as const }));
const quantiles = (values: number[]): Quantiles => {
  const finite = values.filter(Number.isFinite);
  return { p50: percentile(finite, 0.5), p99: percentile(finite, 0.99) };
};

/**
 * Sends `plan.changes` opt-ins at `plan.rate` and waits up to `plan.drainTimeoutSeconds` for the
 * last; a wait that runs out leaves a note and the changes applied by then.
 */
async function sendAndDrain(cluster: Cluster, plan: LoadPlan, label: string, progress: Progress<EndToEndResult>) {
  const events = optIns(plan.changes);
  const started = Date.now();
  const times = await sendAtRate(cluster.apiUrl, events, plan.rate);
  const applied = appliedCounter(cluster, events);
  if (!(await waitUntil(() => applied() === events.length, plan.drainTimeoutSeconds * 1000))) {
    progress.notes.push(`${label}: ${drainNote(applied(), events.length, (Date.now() - started) / 1000)}`);
  }
  return { events, applied: events.filter((event) => writeDoneAt(cluster, event.email) !== undefined), ...times };
}

/** Billable actions and history events of every workflow on the cluster, and the Listrak requests. */
async function costOf(cluster: Cluster, applied: ConsentEventSpec[], naiveChanges: number): Promise<Omit<EndToEndResult['cost'], 'listrakConnectionsOpened' | 'listrakRequestsPerConnection'>> {
  // The cluster's client holds the payload key (change workflows carry an encrypted memo).
  const raw = cluster.client;
  const counts = { historyEvents: 0, actions: 0, workflows: 0 };
  const actionEvents: Record<string, number> = {
    EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: 1,
    EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED: 1,
    EVENT_TYPE_ACTIVITY_TASK_STARTED: 1,
    EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES: 1,
    EVENT_TYPE_TIMER_STARTED: 1,
    EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW: 1,
  };
  for await (const execution of raw.workflow.list()) {
    const history = await raw.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    counts.workflows++;
    for (const event of history.events ?? []) {
      counts.historyEvents++;
      const name = typeof event.eventType === 'number' ? (temporal.api.enums.v1.EventType[event.eventType] ?? '') : String(event.eventType ?? '');
      counts.actions += actionEvents[name] ?? 0;
      // Starting a ledger with signal-with-start is billed as two actions (start + signal).
      if (name.endsWith('WORKFLOW_EXECUTION_STARTED') && execution.workflowId.startsWith('consent-ledger/')) counts.actions += 1;
    }
  }
  // Each opt-in attempt asks its ledger one query before writing (see the activity).
  counts.actions += applied.length;
  const emails = new Set(applied.map((event) => event.email));
  const upserts = cluster.sandbox.requests.filter((entry) => entry.route === 'upsert' && entry.email !== undefined && emails.has(entry.email)).length;
  const listrakRequests = cluster.sandbox.requests.filter((entry) => entry.route !== 'token').length;
  const tokenRequests = cluster.sandbox.requests.filter((entry) => entry.route === 'token').length;
  // No applied change: no cost per change (NaN, "n/a" in the table).
  const per = (value: number, changes: number, digits: number) => (changes ? Number((value / changes).toFixed(digits)) : NaN);
  return {
    historyEventsPerAppliedChange: per(counts.historyEvents, applied.length, 1),
    actionsPerAppliedChange: per(counts.actions, applied.length, 2),
    listrakWritesPerAppliedChange: per(upserts, applied.length, 2),
    listrakRequestsPerAppliedChange: per(listrakRequests, applied.length + naiveChanges, 2),
    tokenRequestsPer1000Changes: per(1000 * tokenRequests, applied.length + naiveChanges, 2),
  };
}

/** The naive peer (an Express handler calling Listrak inline), against the same sandbox and load. */
async function naivePeer(cluster: Cluster, plan: LoadPlan) {
  const port = await freePort();
  const peer = spawn(process.execPath, ['--import', 'tsx', 'bench/naive-peer.ts'], { cwd: PROJECT_ROOT, env: { ...cluster.env, PORT: String(port) }, stdio: 'ignore' });
  try {
    const peerUrl = `http://127.0.0.1:${port}`;
    await cluster.waitFor(async () => (await fetch(peerUrl, { method: 'HEAD' }).catch(() => undefined)) !== undefined, 30_000, 'the naive peer');
    const naive = optIns(plan.changes);
    const run = await sendAtRate(peerUrl, naive, plan.rate);
    return { changes: naive.length, latency: naive.map((event) => (writeDoneAt(cluster, event.email) ?? NaN) - run.sentAt.get(event.email)!) };
  } finally {
    peer.kill('SIGTERM');
  }
}

/**
 * Above capacity (a queue builds: its latency is mostly waiting), the naive peer at the same load,
 * the cost from every history, then below capacity (the latency of the work itself).
 */
export async function endToEndStage(
  { newCluster, encryptedBundle }: BenchContext,
  plan: { below: LoadPlan; above: LoadPlan },
  progress: Progress<EndToEndResult>,
): Promise<EndToEndResult> {
  const figures = progress.figures;
  const cluster = await newCluster({ LOG_LEVEL: 'warn', TEMPORAL_WORKFLOW_BUNDLE: await encryptedBundle() });
  try {
    await cluster.start();
    cluster.sandbox.latencyMs = LISTRAK_LATENCY_MS;
    Object.assign(figures, { e2eRate: plan.above.rate, e2eChanges: plan.above.changes, e2eSeconds: Number((plan.above.changes / plan.above.rate).toFixed(1)), sandboxLatencyMs: LISTRAK_LATENCY_MS });
    const above = await sendAndDrain(cluster, plan.above, `above capacity (${plan.above.rate}/s)`, progress);
    // Connection reuse toward Listrak: the worker's connections, before the naive peer opens its own.
    const connections = cluster.sandbox.connectionsOpened;
    const requestsServed = cluster.sandbox.requests.length;
    figures.acceptedToApplied = quantiles(above.applied.map((event) => writeDoneAt(cluster, event.email)! - (above.answeredAt.get(event.email) ?? NaN)));
    figures.sentToApplied = quantiles(above.applied.map((event) => writeDoneAt(cluster, event.email)! - above.sentAt.get(event.email)!));

    const naive = await naivePeer(cluster, plan.above);
    figures.naivePeerSentToApplied = quantiles(naive.latency);
    figures.p50VersusNaive = Number((figures.sentToApplied.p50 / figures.naivePeerSentToApplied.p50).toFixed(2));

    // Stage 4: cost, counted from the histories of this run's workflows.
    figures.cost = {
      ...(await costOf(cluster, above.applied, naive.changes)),
      listrakConnectionsOpened: connections,
      listrakRequestsPerConnection: Number((requestsServed / Math.max(connections, 1)).toFixed(1)),
    };

    // The same path below its capacity (after the cost count, which reads every history): the
    // latency of the work itself rather than of a queue, so only on a cluster with no backlog left.
    figures.sustainedRate = plan.below.rate;
    figures.sustainedChanges = plan.below.changes;
    const backlog = appliedCounter(cluster, above.events);
    if (!(await waitUntil(() => backlog() === above.events.length, plan.above.drainTimeoutSeconds * 1000))) {
      progress.notes.push(`below capacity: not run, the run above still had ${(above.events.length - backlog()).toLocaleString('en-US')} changes to apply`);
    } else {
      const below = await sendAndDrain(cluster, plan.below, `below capacity (${plan.below.rate}/s)`, progress);
      figures.sustainedAcceptedToApplied = quantiles(below.applied.map((event) => writeDoneAt(cluster, event.email)! - (below.answeredAt.get(event.email) ?? NaN)));
      figures.sustainedStepsMs = await latencyBreakdown(cluster, below.applied.filter((event) => below.answeredAt.has(event.email)), below.answeredAt);
    }
    return {
      ...figures,
      e2eRate: plan.above.rate,
      e2eSeconds: figures.e2eSeconds!,
      sandboxLatencyMs: LISTRAK_LATENCY_MS,
      acceptedToApplied: figures.acceptedToApplied,
      sentToApplied: figures.sentToApplied,
      naivePeerSentToApplied: figures.naivePeerSentToApplied,
      p50VersusNaive: figures.p50VersusNaive,
      cost: figures.cost,
    };
  } finally {
    await cluster.close();
    cluster.remove();
  }
}
