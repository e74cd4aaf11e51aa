import type { Chaos } from './chaos';
import type { ListrakRules, SandboxRoute } from './rules';

/**
 * What tests read from the sandbox beyond Listrak's own answers: the log of every request, how
 * many writes for one address were in flight at once, and a dump of the whole state. Steering
 * (scripted faults, the random profile) is the Chaos in chaos.ts.
 */

export interface LoggedRequest {
  at: string;
  method: string;
  route: SandboxRoute;
  path: string;
  listId?: number;
  email?: string;
  query: Record<string, string>;
  body?: unknown;
  /** 0 when the connection was reset instead of answered. */
  status: number;
  error?: string;
  durationMs: number;
}

/** The log keeps the newest entries only, so a soak run does not grow without bound. */
const LOG_LIMIT = 100_000;

export class SandboxProbes {
  readonly requests: LoggedRequest[] = [];
  /** Highest number of writes for one email that were in flight at the same time (any email). */
  maxConcurrentWritesPerEmail = 0;
  private readonly maxWritesByEmail = new Map<string, number>();
  private readonly inFlightWrites = new Map<string, number>();

  record(entry: LoggedRequest): void {
    this.requests.push(entry);
    if (this.requests.length > LOG_LIMIT) this.requests.splice(0, this.requests.length - LOG_LIMIT);
  }

  requestsFor(route: SandboxRoute, email?: string): LoggedRequest[] {
    return this.requests.filter((entry) => entry.route === route && (email === undefined || entry.email === email.toLowerCase()));
  }

  /**
   * The most API requests (token requests aside) that arrived within any window of `windowMs`
   * (sliding, not calendar seconds), among those `include` accepts: the rate Listrak would see.
   */
  peakRequests({ windowMs = 1000, include = () => true }: { windowMs?: number; include?: (entry: LoggedRequest) => boolean } = {}): number {
    const times = this.requests
      .filter((entry) => entry.route !== 'token' && include(entry))
      .map((entry) => Date.parse(entry.at))
      .sort((a, b) => a - b);
    let peak = 0;
    for (let first = 0, last = 0; last < times.length; last++) {
      while (times[last]! - times[first]! >= windowMs) first++;
      peak = Math.max(peak, last - first + 1);
    }
    return peak;
  }

  /** A write for this (lower-cased) email started being answered. */
  enterWrite(email: string): void {
    const count = (this.inFlightWrites.get(email) ?? 0) + 1;
    this.inFlightWrites.set(email, count);
    this.maxConcurrentWritesPerEmail = Math.max(this.maxConcurrentWritesPerEmail, count);
    this.maxWritesByEmail.set(email, Math.max(this.maxWritesByEmail.get(email) ?? 0, count));
  }

  leaveWrite(email: string): void {
    const count = (this.inFlightWrites.get(email) ?? 1) - 1;
    if (count <= 0) this.inFlightWrites.delete(email);
    else this.inFlightWrites.set(email, count);
  }

  /** Writes for this email being answered right now. */
  writesInFlight(email: string): number {
    return this.inFlightWrites.get(email.toLowerCase()) ?? 0;
  }

  /** Highest number of writes for this email that were ever in flight at the same time. */
  maxConcurrentWrites(email: string): number {
    return this.maxWritesByEmail.get(email.toLowerCase()) ?? 0;
  }
}

/** Everything the sandbox holds, as GET /_sandbox/state shows it. */
export function sandboxState(rules: ListrakRules, probes: SandboxProbes, chaos: Chaos) {
  return {
    lists: rules.seed.lists.map((list) => ({
      ...list,
      contacts: [...(rules.contacts.get(list.listId)?.values() ?? [])],
      // Pending double opt-ins: not contacts until confirmed (the sandbox's model, rules.ts).
      pendingDoubleOptIns: [...(rules.pending.get(list.listId)?.values() ?? [])],
    })),
    imports: rules.imports,
    tokens: rules.tokenCount,
    maxConcurrentWritesPerEmail: probes.maxConcurrentWritesPerEmail,
    chaos: chaos.describe(),
  };
}
