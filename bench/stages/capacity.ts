// Stage 1: how many changes per second this machine applies end to end, so that the stages after it
// can size their load and their waits from it instead of assuming a machine.
import { randomChanges } from '../../src/dev/cluster';
import type { BenchContext } from '../context';
import { appliedCounter, sendAtRate, waitUntil, writeDoneAt } from '../measure';
import { capacityFrom, drainNote, type Bounds, type Progress } from '../sizing';

export interface CapacityResult {
  /** Opt-ins of as many people, sent one per request at the highest rate a stage may send. */
  sampleChanges: number;
  applied: number;
  /** From the first send until the last change applied, or until the sample's time ran out. */
  seconds: number;
  appliedPerSecond: number;
  listrakLatencyMs: number;
}

/** Fewer applied changes than this measure nothing (capacityFrom's window needs them). */
const MIN_APPLIED = 20;

/**
 * Sends a bounded sample of opt-ins well above what two cores apply, the sandbox answering in 20 ms
 * as in the end-to-end stage, and counts applied changes per second between the 10th and 90th
 * percentile of their finished writes (capacityFrom). The sample ends when every change is applied
 * or after `bounds.capacitySampleSeconds`, whichever is first: what was applied by then still
 * measures the rate.
 */
export async function capacityStage({ newCluster, encryptedBundle }: BenchContext, bounds: Bounds, progress: Progress<CapacityResult>): Promise<CapacityResult> {
  const cluster = await newCluster({ LOG_LEVEL: 'warn', TEMPORAL_WORKFLOW_BUNDLE: await encryptedBundle() });
  try {
    await cluster.start();
    cluster.sandbox.latencyMs = 20;
    const sample = randomChanges(bounds.capacitySampleChanges, bounds.capacitySampleChanges).map((event) => ({ ...event, type: 'opt_in' as const }));
    progress.figures.sampleChanges = sample.length;
    progress.figures.listrakLatencyMs = cluster.sandbox.latencyMs;
    const started = Date.now();
    await sendAtRate(cluster.apiUrl, sample, bounds.maxRate);
    const applied = appliedCounter(cluster, sample);
    await waitUntil(() => applied() === sample.length, Math.max(0, started + bounds.capacitySampleSeconds * 1000 - Date.now()));
    const doneAt = sample.map((event) => writeDoneAt(cluster, event.email)).filter((at): at is number => at !== undefined);
    const seconds = ((doneAt.length === sample.length ? Math.max(...doneAt) : Date.now()) - started) / 1000;
    if (doneAt.length < MIN_APPLIED) progress.notes.push(`${drainNote(doneAt.length, sample.length, seconds)}: too few to measure`);
    return {
      sampleChanges: sample.length,
      applied: doneAt.length,
      seconds: Number(seconds.toFixed(1)),
      appliedPerSecond: doneAt.length < MIN_APPLIED ? 0 : capacityFrom(doneAt, started),
      listrakLatencyMs: cluster.sandbox.latencyMs,
    };
  } finally {
    await cluster.close();
    cluster.remove();
  }
}
