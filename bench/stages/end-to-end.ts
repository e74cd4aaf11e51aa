// Stages 2 and 3: end-to-end latency against the naive peer, and what each change costs.
import { spawn } from 'node:child_process';
import { temporal } from '@temporalio/proto';
import { PROJECT_ROOT } from '../../src/temporal/cli';
import { freePort, randomChanges } from '../../test/reliability/cluster';
import type { BenchContext } from '../context';
import { percentile, sendAtRate, writeDoneAt } from '../measure';
import type { Quantiles } from './intake';
import { latencyBreakdown } from './latency-breakdown';

export interface EndToEndResult {
  e2eRate: number;
  /** The same measurement at a rate below the machine's capacity (absent in older results). */
  sustainedRate?: number;
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

/**
 * A rate this machine sustains end to end: an applied change takes about 85 ms of CPU across the
 * server and the worker, so two cores top out near 25 per second (docs/benchmarks.md).
 */
const SUSTAINED_RATE = 10;

export async function endToEndStage({ options: { quick }, newCluster, encryptedBundle }: BenchContext): Promise<EndToEndResult> {
  const cluster = await newCluster({ LOG_LEVEL: 'warn', TEMPORAL_WORKFLOW_BUNDLE: await encryptedBundle() });
  await cluster.start();
  cluster.sandbox.latencyMs = 20;
  const seconds = quick ? 1 : 20;
  const rate = 100;
  const count = rate * seconds;
  const ours = randomChanges(count, count).map((event) => ({ ...event, type: 'opt_in' as const }));
  try {
    const { sentAt, answeredAt } = await sendAtRate(cluster.apiUrl, ours, rate);
    await cluster.waitFor(() => ours.every((event) => writeDoneAt(cluster, event.email) !== undefined), 120_000, 'every change applied');
    // Connection reuse toward Listrak: the worker's connections, before the naive peer opens its own.
    const connections = cluster.sandbox.connectionsOpened;
    const requestsServed = cluster.sandbox.requests.length;
    const fromAccepted = ours.map((event) => writeDoneAt(cluster, event.email)! - answeredAt.get(event.email)!);
    const fromSent = ours.map((event) => writeDoneAt(cluster, event.email)! - sentAt.get(event.email)!);

    // The naive peer, against the same sandbox.
    const port = await freePort();
    const peer = spawn(process.execPath, ['--import', 'tsx', 'bench/naive-peer.ts'], { cwd: PROJECT_ROOT, env: { ...cluster.env, PORT: String(port) }, stdio: 'ignore' });
    const peerUrl = `http://127.0.0.1:${port}`;
    await cluster.waitFor(async () => (await fetch(peerUrl, { method: 'HEAD' }).catch(() => undefined)) !== undefined, 30_000, 'the naive peer');
    const naive = randomChanges(count, count).map((event) => ({ ...event, type: 'opt_in' as const }));
    const naiveRun = await sendAtRate(peerUrl, naive, rate);
    peer.kill('SIGTERM');
    const naiveLatency = naive.map((event) => (writeDoneAt(cluster, event.email) ?? NaN) - naiveRun.sentAt.get(event.email)!).filter(Number.isFinite);

    // Stage 3: cost, counted from the histories of this run's workflows.
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
    counts.actions += ours.length;
    const applied = ours.length;
    const upserts = cluster.sandbox.requests.filter((entry) => entry.route === 'upsert' && ours.some((event) => event.email === entry.email)).length;
    const listrakRequests = cluster.sandbox.requests.filter((entry) => entry.route !== 'token').length;
    const tokenRequests = cluster.sandbox.requests.filter((entry) => entry.route === 'token').length;

    // The same path below its capacity (after the cost count, which reads every history): the
    // latency of the work itself rather than of a queue.
    const belowCapacity = randomChanges(SUSTAINED_RATE * seconds, SUSTAINED_RATE * seconds).map((event) => ({ ...event, type: 'opt_in' as const }));
    const sustained = await sendAtRate(cluster.apiUrl, belowCapacity, SUSTAINED_RATE);
    await cluster.waitFor(() => belowCapacity.every((event) => writeDoneAt(cluster, event.email) !== undefined), 120_000, 'every change applied');
    const sustainedLatency = belowCapacity.map((event) => writeDoneAt(cluster, event.email)! - sustained.answeredAt.get(event.email)!);
    return {
      e2eRate: rate,
      sustainedRate: SUSTAINED_RATE,
      sustainedAcceptedToApplied: { p50: percentile(sustainedLatency, 0.5), p99: percentile(sustainedLatency, 0.99) },
      sustainedStepsMs: await latencyBreakdown(cluster, belowCapacity, sustained.answeredAt),
      e2eSeconds: seconds,
      sandboxLatencyMs: 20,
      acceptedToApplied: { p50: percentile(fromAccepted, 0.5), p99: percentile(fromAccepted, 0.99) },
      sentToApplied: { p50: percentile(fromSent, 0.5), p99: percentile(fromSent, 0.99) },
      naivePeerSentToApplied: { p50: percentile(naiveLatency, 0.5), p99: percentile(naiveLatency, 0.99) },
      p50VersusNaive: Number((percentile(fromSent, 0.5) / percentile(naiveLatency, 0.5)).toFixed(2)),
      cost: {
        historyEventsPerAppliedChange: Number((counts.historyEvents / applied).toFixed(1)),
        actionsPerAppliedChange: Number((counts.actions / applied).toFixed(2)),
        listrakWritesPerAppliedChange: Number((upserts / applied).toFixed(2)),
        listrakRequestsPerAppliedChange: Number((listrakRequests / (applied + naive.length)).toFixed(2)),
        tokenRequestsPer1000Changes: Number(((1000 * tokenRequests) / (applied + naive.length)).toFixed(2)),
        listrakConnectionsOpened: connections,
        listrakRequestsPerConnection: Number((requestsServed / Math.max(connections, 1)).toFixed(1)),
      },
    };
  } finally {
    await cluster.close();
    cluster.remove();
  }
}
