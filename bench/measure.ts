// Measuring helpers the stages share: percentiles, CPU and memory of a process, webhook posts.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { signExtolePayload } from '../src/http/webhook-auth';
import { PROJECT_ROOT } from '../src/dev/paths';
import { WEBHOOK_SECRET, type Cluster, type ConsentEventSpec } from '../src/dev/cluster';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const log = (line: string) => process.stdout.write(`${line}\n`);

/** The value at quantile `q` (0–1) of `values`, to one decimal; NaN when there are none. */
export function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN).toFixed(1));
}

/** CPU seconds (user + system) a process has used so far. */
export function cpuSeconds(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

export function rssMb(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Math.round(Number(match[1]) / 1024) : 0;
  } catch {
    return 0;
  }
}

/** One signed webhook delivery (an event or a batch); returns the status (rejects after 30 s). */
export async function post(url: string, body: string): Promise<number> {
  const response = await fetch(`${url}/webhooks/extole`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, body) },
    body,
    signal: AbortSignal.timeout(30_000),
  });
  await response.arrayBuffer();
  return response.status;
}

/**
 * Sends `events` at `rate` per second, one request each; returns when each was sent and when each
 * was answered 200 (an event answered otherwise, or not at all, has no answer time).
 */
export async function sendAtRate(url: string, events: ConsentEventSpec[], rate: number) {
  const sentAt = new Map<string, number>();
  const answeredAt = new Map<string, number>();
  const started = Date.now();
  const calls: Promise<void>[] = [];
  for (let index = 0; index < events.length; index++) {
    const wait = started + (index * 1000) / rate - Date.now();
    if (wait > 0) await sleep(wait);
    const event = events[index]!;
    sentAt.set(event.email, Date.now());
    calls.push(
      post(url, JSON.stringify(event)).then(
        (status) => {
          if (status === 200) answeredAt.set(event.email, Date.now());
        },
        () => undefined,
      ),
    );
  }
  await Promise.all(calls);
  return { sentAt, answeredAt };
}

/** When the sandbox finished writing `email`'s contact (its first successful upsert). */
export function writeDoneAt(cluster: Cluster, email: string): number | undefined {
  const write = cluster.sandbox.requestsFor('upsert', email).find((entry) => entry.status === 201);
  return write ? Date.parse(write.at) + write.durationMs : undefined;
}

/** How many of `events` the sandbox holds as written; remembers those it found. */
export function appliedCounter(cluster: Cluster, events: readonly ConsentEventSpec[]): () => number {
  const done = new Set<string>();
  return () => {
    for (const event of events) if (!done.has(event.email) && writeDoneAt(cluster, event.email) !== undefined) done.add(event.email);
    return done.size;
  };
}

/** Polls `check` every 200 ms until it holds or `timeoutMs` has passed; false if it never held (a throw counts as not yet). */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await Promise.resolve().then(check).catch(() => false)) return true;
    if (Date.now() > deadline) return false;
    await sleep(200);
  }
}

/** Runs a bench script in its own process (killed after 2 minutes); resolves with its last line. */
export function runChild(script: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out.trim().split('\n').at(-1) ?? '');
      else reject(new Error(`${script} exited with ${code}`));
    });
  });
}
