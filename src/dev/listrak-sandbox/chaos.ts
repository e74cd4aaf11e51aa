import type { SandboxChaosSettings } from '../../config/sandbox';

/**
 * Faults for the sandbox: scripted answers ("fail twice with 503, then answer normally") and a
 * seeded random profile (error rates, latency, timeouts, resets, 429 bursts) for soak runs.
 */

export type FaultRoute =
  | 'token'
  | 'upsert'
  | 'getContact'
  | 'getContacts'
  | 'getList'
  | 'getFieldGroups'
  | 'getFields'
  | 'getEvents'
  | 'bulkProfile'
  /** The Privacy API: POST /v1/Forget and GET /v1/Forget/{requestId}. */
  | 'privacyForget'
  | 'privacyStatus'
  | 'any';

/** One scripted answer. `times` answers are taken from the front of the queue, in order. */
export interface Fault {
  route: FaultRoute;
  /** Only requests about this email address (case-insensitive). */
  email?: string;
  times?: number;
  status?: number;
  error?: string;
  /** Delay before answering (or before the scripted failure). */
  delayMs?: number;
  /** Destroy the connection instead of answering. */
  reset?: boolean;
}

/** The random fault profile: the settings of `npm run sandbox`, and the routes they apply to. */
export interface ChaosProfile extends SandboxChaosSettings {
  /** Routes random faults apply to; default every API route (not the token route). */
  routes?: FaultRoute[];
}

export interface FaultAction {
  delayMs: number;
  status?: number;
  error?: string;
  reset?: boolean;
}

const API_ROUTES: FaultRoute[] = ['upsert', 'getContact', 'getContacts', 'getList', 'getFieldGroups', 'getFields', 'getEvents', 'bulkProfile'];

/** mulberry32: small, fast, seedable. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Chaos {
  private readonly queue: Fault[] = [];
  private profile: ChaosProfile = {};
  private rng = random(1);
  private counted = 0;
  private burstLeft = 0;
  readonly injected: Record<string, number> = {};

  script(...faults: Fault[]): void {
    this.queue.push(...faults.map((fault) => ({ ...fault, times: fault.times ?? 1 })));
  }

  clear(): void {
    this.queue.length = 0;
  }

  configure(profile: ChaosProfile): void {
    this.profile = profile;
    this.rng = random(profile.seed ?? 1);
    this.counted = 0;
    this.burstLeft = 0;
  }

  stop(): void {
    this.clear();
    this.configure({});
  }

  describe() {
    return { scripted: this.queue.length, profile: this.profile, injected: this.injected };
  }

  /** Decides what happens to one request: scripted faults first, then the random profile. */
  next(route: FaultRoute | 'unknown', email: string | undefined): FaultAction {
    const index = this.queue.findIndex(
      (fault) => (fault.route === route || fault.route === 'any') && (fault.email === undefined || fault.email.toLowerCase() === email),
    );
    if (index >= 0) {
      const fault = this.queue[index]!;
      fault.times = (fault.times ?? 1) - 1;
      if (fault.times <= 0) this.queue.splice(index, 1);
      this.count(fault.reset ? 'reset' : fault.status ? `scripted ${fault.status}` : 'scripted delay');
      return { delayMs: fault.delayMs ?? 0, status: fault.status, error: fault.error, reset: fault.reset } satisfies FaultAction;
    }
    const profile = this.profile;
    if (route === 'unknown' || !(profile.routes ?? API_ROUTES).includes(route)) return { delayMs: 0 };
    const latency = profile.latencyMs ? profile.latencyMs.min + this.rng() * (profile.latencyMs.max - profile.latencyMs.min) : 0;
    if (profile.burst429) {
      this.counted++;
      if (this.burstLeft > 0) {
        this.burstLeft--;
        this.count('429 burst');
        return { delayMs: latency, status: 429, error: 'HTTP_429' };
      }
      if (this.counted % profile.burst429.every === 0) this.burstLeft = profile.burst429.length;
    }
    // One draw per request, split by cumulative rates, so each rate is exact.
    const draw = this.rng();
    let edge = profile.resetRate ?? 0;
    if (draw < edge) {
      this.count('reset');
      return { delayMs: latency, reset: true };
    }
    edge += profile.timeoutRate ?? 0;
    if (draw < edge) {
      this.count('timeout');
      return { delayMs: profile.timeoutMs ?? 30_000, reset: true };
    }
    for (const error of profile.errors ?? []) {
      edge += error.rate;
      if (draw < edge) {
        this.count(`${error.status}`);
        return { delayMs: latency, status: error.status, error: error.error } satisfies FaultAction;
      }
    }
    return { delayMs: latency };
  }

  private count(kind: string): void {
    this.injected[kind] = (this.injected[kind] ?? 0) + 1;
  }
}
