// Stages 4 and 5: a burst drained through a rate limit, and worker scaling.
import { expectedFinal, randomChanges } from '../../src/dev/cluster';
import { listrakRequestsAllowedPerSecond } from '../../src/temporal/consent-worker';
import type { BenchContext } from '../context';
import { cpuSeconds, post, rssMb, sleep, waitUntil } from '../measure';
import { drainNote, type Progress } from '../sizing';

/**
 * The burst stage's LISTRAK_MAX_REQUESTS_PER_SECOND: below what one worker drains without a limit
 * on this 2-core machine (about 30 requests/s on average, peaks of 60–70 in a second), so the
 * limit binds and the stage shows whether it holds. A limit above that (200/s before) is never
 * reached and proves nothing.
 */
export const BURST_LIMIT = 20;

export interface BurstResult {
  changes: number;
  emails: number;
  workers: number;
  apis: number;
  limitPerSecond: number | null;
  /** The most requests any second may see under the limit: limit + Temporal's limiter burst. */
  allowedPeakPerSecond?: number | null;
  /** Requests ÷ drain time (below the limit: Temporal splits it over the task queue's partitions). */
  meanRequestsPerSecond?: number;
  acceptedSeconds: number;
  drainSeconds: number;
  idealSeconds: number | null;
  listrakRequests: number;
  listrakWrites: number;
  peakRequestsPerSecond: number;
  workerMaxRssMb: number;
  serverMaxRssMb: number;
  /** CPU seconds each role used during the burst. */
  cpu: { serverSeconds: number; workerSeconds: number; apiSeconds: number };
}

export interface BurstOptions {
  workers: number;
  apis: number;
  limit?: number;
  changes: number;
  /** How long posting, and then the drain, may take each (sizing's drainTimeoutSeconds). */
  drainTimeoutSeconds: number;
}

/**
 * `changes` over half as many emails, posted in batches of 100 as fast as intake takes them, then
 * drained until every email's contact holds its expected final state and no change workflow runs.
 * A drain that runs out of time still reports its figures, `drainSeconds` being the time waited.
 */
export async function burst({ newCluster, encryptedBundle }: BenchContext, options: BurstOptions, progress: Progress<BurstResult>): Promise<BurstResult> {
  const env: Record<string, string> = { LOG_LEVEL: 'warn', TEMPORAL_WORKFLOW_BUNDLE: await encryptedBundle() };
  if (options.limit) env.LISTRAK_MAX_REQUESTS_PER_SECOND = String(options.limit);
  Object.assign(progress.figures, { changes: options.changes, emails: options.changes / 2, workers: options.workers, apis: options.apis, limitPerSecond: options.limit ?? null });
  const cluster = await newCluster(env);
  const rss = { workerMaxMb: 0, serverMaxMb: 0 };
  let sampler: NodeJS.Timeout | undefined;
  try {
    await cluster.start({ workers: options.workers });
    const urls = [cluster.apiUrl];
    for (let index = 1; index < options.apis; index++) urls.push(await cluster.startExtraApi());
    const events = randomChanges(options.changes, options.changes / 2);
    const expected = expectedFinal(events);
    const pids = cluster.pids();
    sampler = setInterval(() => {
      for (const pid of pids.workers) rss.workerMaxMb = Math.max(rss.workerMaxMb, rssMb(pid));
      rss.serverMaxMb = Math.max(rss.serverMaxMb, rssMb(pids.server));
    }, 500);
    const started = Date.now();
    const cpuBefore = { server: cpuSeconds(pids.server), workers: pids.workers.map(cpuSeconds) };
    const postingDeadline = started + options.drainTimeoutSeconds * 1000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 * options.apis }, async (_, lane) => {
        while (next < events.length) {
          const batch = events.slice(next, next + 100);
          next += 100;
          while ((await post(urls[lane % urls.length]!, JSON.stringify(batch)).catch(() => 0)) !== 200) {
            if (Date.now() > postingDeadline) throw new Error(`intake did not accept the burst: ${drainNote(next - 100, events.length, (Date.now() - started) / 1000, 'posted')}`);
            await sleep(200);
          }
        }
      }),
    );
    const acceptedSeconds = (Date.now() - started) / 1000;
    progress.figures.acceptedSeconds = Number(acceptedSeconds.toFixed(1));
    const settledEmails = () =>
      [...expected].filter(([email, winner]) => (cluster.sandbox.contact(1001, email)?.subscriptionState === 'Subscribed') === (winner.type === 'opt_in')).length;
    let quiet = 0;
    const drained = await waitUntil(async () => {
      if (settledEmails() < expected.size) return false;
      const running = await cluster.client.workflow.count('WorkflowType = "applyConsentChangeWorkflow" AND ExecutionStatus = "Running"');
      quiet = running.count === 0 ? quiet + 1 : 0;
      return quiet >= 3;
    }, options.drainTimeoutSeconds * 1000);
    const drainSeconds = (Date.now() - started) / 1000;
    if (!drained) progress.notes.push(`${drainNote(settledEmails(), expected.size, drainSeconds, 'emails settled')}${settledEmails() === expected.size ? ', change workflows still running' : ''}`);
    const cpu = {
      serverSeconds: Number((cpuSeconds(pids.server) - cpuBefore.server).toFixed(1)),
      workerSeconds: Number(pids.workers.reduce((sum, pid, index) => sum + cpuSeconds(pid) - (cpuBefore.workers[index] ?? 0), 0).toFixed(1)),
      apiSeconds: Number(cluster.apiPids().reduce((sum, pid) => sum + cpuSeconds(pid), 0).toFixed(1)),
    };
    const requests = cluster.sandbox.requests.filter((entry) => entry.route !== 'token');
    const writes = requests.filter((entry) => entry.route === 'upsert').length;
    return {
      ...progress.figures,
      changes: events.length,
      emails: events.length / 2,
      workers: options.workers,
      apis: options.apis,
      limitPerSecond: options.limit ?? null,
      allowedPeakPerSecond: options.limit ? listrakRequestsAllowedPerSecond(options.limit).peak : null,
      meanRequestsPerSecond: Number((requests.length / drainSeconds).toFixed(1)),
      acceptedSeconds: Number(acceptedSeconds.toFixed(1)),
      drainSeconds: Number(drainSeconds.toFixed(1)),
      idealSeconds: options.limit ? Number((requests.length / options.limit).toFixed(1)) : null,
      listrakRequests: requests.length,
      listrakWrites: writes,
      // In any one-second window (sliding), as Listrak would count.
      peakRequestsPerSecond: cluster.sandbox.peakRequests(),
      workerMaxRssMb: rss.workerMaxMb,
      serverMaxRssMb: rss.serverMaxMb,
      cpu,
    };
  } finally {
    clearInterval(sampler);
    Object.assign(progress.figures, { workerMaxRssMb: rss.workerMaxMb, serverMaxRssMb: rss.serverMaxMb });
    await cluster.close();
    cluster.remove();
  }
}
