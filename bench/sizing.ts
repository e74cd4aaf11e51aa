// How each stage sizes its load and its waits from the capacity the bench measured first, and the
// shape of a stage that could not finish. Pure: test/unit/bench-sizing.test.ts needs no server.

/** Limits every sized stage stays within, whatever the measured capacity (0 included). */
export interface Bounds {
  /** How long a latency stage sends for, at the rate it picked. */
  sendSeconds: number;
  minChanges: number;
  maxChanges: number;
  /** Sending rates stay within 1/s and this. */
  maxRate: number;
  /** The wait for the last change after sending stops: between these. */
  minWaitSeconds: number;
  maxWaitSeconds: number;
  /** A burst's wait for its drain, from the end of its posting: at most this. */
  maxBurstWaitSeconds: number;
  /** Added to every wait: process start-up, the poll interval, a slow second. */
  slackSeconds: number;
  /** The capacity stage's sample: this many changes, for at most this long. */
  capacitySampleChanges: number;
  capacitySampleSeconds: number;
}

export const BOUNDS: Record<'full' | 'quick', Bounds> = {
  full: {
    sendSeconds: 20,
    minChanges: 20,
    maxChanges: 2_000,
    maxRate: 200,
    minWaitSeconds: 10,
    maxWaitSeconds: 180,
    maxBurstWaitSeconds: 900,
    slackSeconds: 10,
    capacitySampleChanges: 600,
    capacitySampleSeconds: 60,
  },
  quick: {
    sendSeconds: 3,
    minChanges: 10,
    maxChanges: 200,
    maxRate: 200,
    minWaitSeconds: 10,
    maxWaitSeconds: 60,
    maxBurstWaitSeconds: 120,
    slackSeconds: 10,
    capacitySampleChanges: 150,
    capacitySampleSeconds: 20,
  },
};

/** Every wait allows twice the time the measured capacity predicts. */
const MARGIN = 2;

const clamp = (value: number, min: number, max: number) => Math.min(max, Math.max(min, value));
/** A capacity that is not a positive finite number is unknown: 0. */
const known = (capacity: number) => (Number.isFinite(capacity) && capacity > 0 ? capacity : 0);

/** The load of one latency stage: `changes` sent at `rate`/s, then up to `drainTimeoutSeconds` for the last to be applied. */
export interface LoadPlan {
  /** The multiple of the measured capacity asked for (0.5: below it, 1.5: above it). */
  factor: number;
  rate: number;
  changes: number;
  drainTimeoutSeconds: number;
}

/**
 * `factor` × the measured capacity (applied changes/s) as a sending rate, for `bounds.sendSeconds`;
 * the wait after sending covers what the machine still has to apply then (changes ÷ min(rate,
 * capacity) after the first was sent), twice over. An unknown capacity sends at 1/s and waits the
 * longest allowed.
 */
export function planLoad(capacity: number, factor: number, bounds: Bounds): LoadPlan {
  const measured = known(capacity);
  const rate = clamp(Math.round(factor * measured), 1, bounds.maxRate);
  const changes = clamp(Math.round(rate * bounds.sendSeconds), bounds.minChanges, bounds.maxChanges);
  const drainRate = Math.min(rate, measured);
  const wait = drainRate > 0 ? (MARGIN * changes) / drainRate - changes / rate + bounds.slackSeconds : bounds.maxWaitSeconds;
  return { factor, rate, changes, drainTimeoutSeconds: Math.round(clamp(wait, bounds.minWaitSeconds, bounds.maxWaitSeconds)) };
}

/** A burst's wait for `changes` to drain at `drainRate`/s (the capacity, or the rate limit if lower). */
export function drainTimeoutSeconds(changes: number, drainRate: number, bounds: Bounds): number {
  const rate = known(drainRate);
  const wait = rate > 0 ? (MARGIN * changes) / rate + bounds.slackSeconds : bounds.maxBurstWaitSeconds;
  return Math.round(clamp(wait, bounds.minWaitSeconds, bounds.maxBurstWaitSeconds));
}

/**
 * Applied changes per second from the times they were applied (ms): between the 10th and the 90th
 * percentile, so neither the ramp at the start nor the stragglers at the end count; with fewer
 * than 20, their count over the time from `startedMs` to the last. To one decimal.
 */
export function capacityFrom(doneAt: readonly number[], startedMs: number): number {
  if (doneAt.length === 0) return 0;
  const sorted = [...doneAt].sort((a, b) => a - b);
  const round = (value: number) => Number(value.toFixed(1));
  const overall = () => round(sorted.length / Math.max((sorted.at(-1)! - startedMs) / 1000, 0.001));
  if (sorted.length < 20) return overall();
  const [first, last] = [Math.floor(0.1 * sorted.length), Math.ceil(0.9 * sorted.length) - 1];
  const seconds = (sorted[last]! - sorted[first]!) / 1000;
  return seconds > 0 ? round((last - first) / seconds) : overall();
}

/** "1,412 of 2,000 applied after 180 s": what a stage saw when its wait ran out. */
export function drainNote(done: number, total: number, seconds: number, what = 'applied'): string {
  const count = (value: number) => value.toLocaleString('en-US');
  return `${count(done)} of ${count(total)} ${what} after ${Math.round(seconds)} s`;
}

/** What a stage that could not finish saw instead, in words. */
export interface Incomplete {
  incomplete: string;
}

/** A stage's figures, or those it had when it could not finish (the others absent), marked incomplete. */
export type Outcome<T extends object> = T | (Partial<T> & Incomplete);

export function isIncomplete<T extends object>(outcome: Outcome<T>): outcome is Partial<T> & Incomplete {
  return typeof (outcome as Partial<Incomplete>).incomplete === 'string';
}

/** What a running stage has measured so far, and what it could not finish. */
export interface Progress<T> {
  figures: Partial<T>;
  notes: string[];
}

/**
 * Runs a stage so that it cannot abort the bench: it records figures in `progress.figures` as it
 * measures them and a note in `progress.notes` when a wait runs out; if it throws, its recorded
 * figures are kept and the error says where it stopped.
 */
export async function settle<T extends object>(stage: (progress: Progress<T>) => Promise<T>): Promise<Outcome<T>> {
  const progress: Progress<T> = { figures: {}, notes: [] };
  try {
    const figures = await stage(progress);
    return progress.notes.length ? { ...figures, incomplete: progress.notes.join('; ') } : figures;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return { ...progress.figures, incomplete: [...progress.notes, `stopped: ${message}`].join('; ') };
  }
}
