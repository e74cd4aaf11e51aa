import { readFileSync } from 'node:fs';
import type express from 'express';
import type { SandboxSettings } from '../../config/sandbox';
import { Chaos, type Fault } from './chaos';
import { ListrakContract } from './contract';
import { SandboxProbes, sandboxState, type LoggedRequest } from './probes';
import { ListrakRules, type ListrakSideChange, type PendingContact, type SandboxContact, type SandboxRoute } from './rules';
import { DEFAULT_SEED, seededClient, seededField, seededList, type SandboxClient, type SandboxField, type SandboxList, type SandboxSeed } from './seed';
import { SandboxPrivacy } from './privacy';
import { SandboxServer, type SandboxUrls } from './server';

export type { ChaosProfile, Fault, FaultRoute } from './chaos';
export type { LoggedRequest } from './probes';
export type { ListrakSideChange, PendingContact, SandboxContact } from './rules';
export { DEFAULT_SEED, type SandboxClient, type SandboxField, type SandboxList, type SandboxSeed } from './seed';

/**
 * A local stand-in for Listrak's Email API and token endpoint. It routes and validates every
 * request against Listrak's published Swagger contract, keeps per-list state in memory, follows
 * the rules in ../shared/listrak/README.md, and lets tests script faults. The routes it serves
 * are the ones this service (and its credential check) use.
 *
 * It assembles four parts: the seed it starts with (seed.ts), Listrak's behaviour (rules.ts), the
 * HTTP server (server.ts), and what tests inspect and steer (probes.ts, chaos.ts); this class is
 * the one surface tests and launchers use.
 */
export class ListrakSandbox {
  readonly chaos = new Chaos();
  tokenLifetimeSeconds = 3600;
  /** Bodies larger than this answer 404, as Listrak does for its undisclosed size limit. */
  payloadLimitBytes = 1024 * 1024;
  /** Latency added to every API answer, in ms (the chaos profile can add a distribution). */
  latencyMs = 0;
  /** Status requests of a Privacy API forget request answered PROCESSING before it is COMPLETE. */
  privacyPollsUntilComplete = 2;
  /** Listrak's Privacy API (privacy.ts): its forget requests and the requests it refused with 429. */
  readonly privacy: SandboxPrivacy;
  private readonly rules: ListrakRules;
  private readonly probes = new SandboxProbes();
  private readonly server: SandboxServer;

  constructor(
    readonly seed: SandboxSeed = DEFAULT_SEED,
    contract: ListrakContract = ListrakContract.load(),
  ) {
    this.rules = new ListrakRules(seed, contract, this);
    this.privacy = new SandboxPrivacy(this.rules, this);
    this.server = new SandboxServer({ rules: this.rules, contract, chaos: this.chaos, probes: this.probes, privacy: this.privacy, knobs: this });
  }

  // Listrak's state (rules.ts).

  get contacts(): Map<number, Map<string, SandboxContact>> {
    return this.rules.contacts;
  }

  /** Every access token handed out so far (for tests that prove tokens stay out of history). */
  get issuedTokens(): string[] {
    return this.rules.issuedTokens;
  }

  /** Invalidates every access token handed out so far. */
  revokeTokens(): void {
    this.rules.revokeTokens();
  }

  client(clientId: string): SandboxClient | undefined {
    return seededClient(this.seed, clientId);
  }

  list(listId: number): SandboxList | undefined {
    return seededList(this.seed, listId);
  }

  field(listId: number, fieldId: number): SandboxField | undefined {
    return seededField(this.seed, listId, fieldId);
  }

  contact(listId: number, email: string): SandboxContact | undefined {
    return this.rules.contact(listId, email);
  }

  /** An unsubscribe made in Listrak itself, as from an email footer. */
  unsubscribeByContact(listId: number, email: string, at: Date = new Date()): SandboxContact {
    return this.rules.unsubscribeInListrak(listId, email, { at, method: 'Contact' });
  }

  /** An unsubscribe made in Listrak itself (footer, complaint, a person in its UI), with its date and method. */
  unsubscribeInListrak(listId: number, email: string, change: ListrakSideChange = {}): SandboxContact {
    return this.rules.unsubscribeInListrak(listId, email, change);
  }

  /** An import in Listrak that (re-)subscribes the contact, with its date and method (default `Import`). */
  subscribeInListrak(listId: number, email: string, change: ListrakSideChange = {}): SandboxContact {
    return this.rules.subscribeInListrak(listId, email, change);
  }

  /** The person confirms Listrak's double opt-in email: the pending address becomes a subscribed contact (throws when none is pending). */
  confirmDoubleOptIn(listId: number, email: string, at: Date = new Date()): SandboxContact {
    return this.rules.confirmDoubleOptIn(listId, email, { at });
  }

  /** The address's pending double opt-in on the list (the sandbox's model: not a contact until confirmed). */
  pendingDoubleOptIn(listId: number, email: string): PendingContact | undefined {
    return this.rules.pendingOn(listId, email);
  }

  // Faults (chaos.ts).

  /** Queues scripted answers ("fail twice with 503, then answer normally"). */
  script(...faults: Fault[]): this {
    this.chaos.script(...faults);
    return this;
  }

  clearFaults(): void {
    this.chaos.clear();
  }

  // What the requests were (probes.ts).

  get requests(): LoggedRequest[] {
    return this.probes.requests;
  }

  /** Highest number of writes for one email that were in flight at the same time (any email). */
  get maxConcurrentWritesPerEmail(): number {
    return this.probes.maxConcurrentWritesPerEmail;
  }

  requestsFor(route: SandboxRoute, email?: string): LoggedRequest[] {
    return this.probes.requestsFor(route, email);
  }

  /** The most API requests within any sliding window of `windowMs`: the rate Listrak would see. */
  peakRequests(options?: Parameters<SandboxProbes['peakRequests']>[0]): number {
    return this.probes.peakRequests(options);
  }

  /** Writes for this email being answered right now. */
  writesInFlight(email: string): number {
    return this.probes.writesInFlight(email);
  }

  /** Highest number of writes for this email that were ever in flight at the same time. */
  maxConcurrentWrites(email: string): number {
    return this.probes.maxConcurrentWrites(email);
  }

  state() {
    return sandboxState(this.rules, this.probes, this.chaos);
  }

  // HTTP (server.ts).

  /** TCP connections clients opened to the sandbox (the benchmark checks they are reused). */
  get connectionsOpened(): number {
    return this.server.connectionsOpened;
  }

  app(): express.Express {
    return this.server.app();
  }

  /** Starts the sandbox on 127.0.0.1 (port 0 picks a free one). */
  listen(port = 0): Promise<SandboxUrls> {
    return this.server.listen(port);
  }

  close(): Promise<void> {
    return this.server.close();
  }
}

/** The sandbox `npm run sandbox` serves: the seed file's (or the built-in) seed, with the settings' knobs and faults. */
export function sandboxFromSettings(settings: SandboxSettings): ListrakSandbox {
  const seed = settings.seedFile === undefined ? DEFAULT_SEED : (JSON.parse(readFileSync(settings.seedFile, 'utf8')) as SandboxSeed);
  const sandbox = new ListrakSandbox(seed);
  sandbox.tokenLifetimeSeconds = settings.tokenLifetimeSeconds ?? sandbox.tokenLifetimeSeconds;
  sandbox.payloadLimitBytes = settings.payloadLimitBytes ?? sandbox.payloadLimitBytes;
  sandbox.chaos.configure(settings.chaos);
  return sandbox;
}
