/**
 * A sliding-window limiter for one process: at most `limit` requests in any `windowMs`, for each
 * window given. Listrak's Privacy API publishes two (20 requests per 10 seconds, 60 per minute).
 * The API sends the forget requests and the worker asks their status, each under its own limiter
 * holding half of each limit (PRIVACY_PROCESS_SHARE), so one API and one worker together keep to
 * the published limits (docs/operations.md, "Forgetting a person").
 */
export interface RateWindow {
  limit: number;
  windowMs: number;
}

/** Listrak's Privacy API's published limits. */
export const PRIVACY_RATE_LIMITS: readonly RateWindow[] = Object.freeze([
  { limit: 20, windowMs: 10_000 },
  { limit: 60, windowMs: 60_000 },
]);

/**
 * What one process may send to the Privacy API: half of each published limit (the API's forget
 * requests and the worker's status requests share them), over windows half a second longer than
 * Listrak's so that a request's time on the wire cannot bring two windows' requests into one.
 */
export const PRIVACY_PROCESS_SHARE: readonly RateWindow[] = Object.freeze(
  PRIVACY_RATE_LIMITS.map(({ limit, windowMs }) => ({ limit: Math.floor(limit / 2), windowMs: windowMs + 500 })),
);

export type Admission = { admitted: true } | { admitted: false; retryAfterMs: number };

export class SlidingWindowLimiter {
  /** Times of the admitted requests, oldest first, kept for the longest window. */
  private readonly admitted: number[] = [];
  private readonly longestMs: number;

  constructor(
    private readonly windows: readonly RateWindow[],
    private readonly now: () => number = Date.now,
  ) {
    if (windows.length === 0 || windows.some((window) => !(window.limit >= 1) || !(window.windowMs > 0))) {
      throw new Error('a rate window needs a limit of at least 1 and a positive length');
    }
    this.longestMs = Math.max(...windows.map((window) => window.windowMs));
  }

  /** Admits a request now (and counts it), or says how long until one would be admitted. */
  tryAcquire(): Admission {
    const now = this.now();
    while (this.admitted.length > 0 && this.admitted[0]! <= now - this.longestMs) this.admitted.shift();
    let waitMs = 0;
    for (const { limit, windowMs } of this.windows) {
      const inWindow = this.admitted.filter((at) => at > now - windowMs);
      if (inWindow.length >= limit) {
        // The request that frees a place is the `limit`-th newest: it leaves the window at at + windowMs.
        const freeing = inWindow[inWindow.length - limit]!;
        waitMs = Math.max(waitMs, freeing + windowMs - now);
      }
    }
    if (waitMs > 0) return { admitted: false, retryAfterMs: waitMs };
    this.admitted.push(now);
    return { admitted: true };
  }

  /** Waits for a place (calling `onWait` before each pause), then takes it. */
  async acquire({ onWait, signal }: { onWait?: (waitMs: number) => void; signal?: AbortSignal } = {}): Promise<void> {
    for (;;) {
      const admission = this.tryAcquire();
      if (admission.admitted) return;
      onWait?.(admission.retryAfterMs);
      await new Promise((resolve) => setTimeout(resolve, Math.min(admission.retryAfterMs, 5_000)));
      if (signal?.aborted) throw signal.reason;
    }
  }
}
