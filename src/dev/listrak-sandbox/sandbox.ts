import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import { Chaos, type ChaosProfile, type Fault, type FaultRoute } from './chaos';
import { ListrakContract, type ContractOperation } from './contract';

export type { ChaosProfile, Fault, FaultRoute } from './chaos';

/**
 * A local stand-in for Listrak's Email API and token endpoint. It routes and validates every
 * request against Listrak's published Swagger contract, keeps per-list state in memory, follows
 * the rules in ../shared/listrak/README.md, and lets tests script faults. The routes it serves
 * are the ones this service (and its credential check) use.
 */

export interface SandboxClient {
  clientId: string;
  clientSecret: string;
  /** A paused integration: every request is refused, token requests included. */
  paused?: boolean;
  /** Integration scopes (Contact, Event, List, Segmentation, …); all when omitted. */
  scopes?: string[];
  /** Whether the integration may use Beta routes (the bulk profile update). */
  betaRoutes?: boolean;
}

export interface SandboxField {
  segmentationFieldId: number;
  segmentationFieldName: string;
  maxLength: number;
  dataType?: string;
  /** Sandbox extension: a field switched off in Listrak rejects values. */
  disabled?: boolean;
}

export interface SandboxList {
  listId: number;
  listName: string;
  active?: boolean;
  segmentationFieldGroups?: { segmentationFieldGroupId: number; segmentationFieldGroupName: string; fields: SandboxField[] }[];
  events?: { eventId: number; eventName: string; eventGroupId?: number; status?: 'Active' | 'Blocked' }[];
}

export interface SandboxSeed {
  clients: SandboxClient[];
  lists: SandboxList[];
  bannedEmails?: string[];
  suppressedEmails?: string[];
  /** Addresses pending double opt-in. */
  pendingEmails?: string[];
}

const profileGroup = (offset: number) => [
  {
    segmentationFieldGroupId: 10 + offset,
    segmentationFieldGroupName: 'Referral profile',
    fields: [
      { segmentationFieldId: 101 + offset, segmentationFieldName: 'First Name', maxLength: 50, dataType: 'Text' },
      { segmentationFieldId: 102 + offset, segmentationFieldName: 'Last Name', maxLength: 50, dataType: 'Text' },
      { segmentationFieldId: 103 + offset, segmentationFieldName: 'Phone Number', maxLength: 20, dataType: 'Text' },
      { segmentationFieldId: 104 + offset, segmentationFieldName: 'Share Link', maxLength: 200, dataType: 'Text' },
      { segmentationFieldId: 105 + offset, segmentationFieldName: 'Funnel', maxLength: 20, dataType: 'Text' },
    ],
  },
];

/** What `npm start` and the tests use when no seed file is given. */
export const DEFAULT_SEED: SandboxSeed = {
  clients: [
    { clientId: 'sandbox-client', clientSecret: 'sandbox-secret', betaRoutes: true },
    { clientId: 'sandbox-staging-client', clientSecret: 'sandbox-staging-secret' },
  ],
  lists: [
    {
      listId: 1001,
      listName: 'Marketing (sandbox production)',
      segmentationFieldGroups: profileGroup(0),
      events: [{ eventId: 501, eventName: 'Referral welcome series', eventGroupId: 50, status: 'Active' }],
    },
    {
      listId: 2002,
      listName: 'Marketing (sandbox staging)',
      segmentationFieldGroups: profileGroup(0),
      events: [{ eventId: 501, eventName: 'Referral welcome series (staging)', eventGroupId: 50, status: 'Active' }],
    },
  ],
};

export interface SandboxContact {
  emailAddress: string;
  emailKey: string;
  subscriptionState: 'Subscribed' | 'Unsubscribed';
  subscribeDate?: string;
  resubscribeDate?: string;
  subscribeMethod?: string;
  unsubscribeDate?: string;
  unsubscribeMethod?: string;
  externalContactID?: string;
  segmentationFieldValues: { segmentationFieldId: number; value: string }[];
  /** Sandbox only: events raised for this contact. */
  raisedEvents: { eventId: number; at: string }[];
}

export interface LoggedRequest {
  at: string;
  method: string;
  route: FaultRoute | 'unknown';
  path: string;
  listId?: number;
  email?: string;
  query: Record<string, string>;
  body?: unknown;
  status: number;
  error?: string;
  durationMs: number;
}

/** Routes the sandbox implements, by Swagger operation id. */
const SERVED: Record<string, FaultRoute> = {
  Contact_PostContactResource: 'upsert',
  Contact_GetContactResourceByIdentifier: 'getContact',
  ContactSegmentationField_PostContactSegmentationFieldValuesResource: 'bulkProfile',
  List_GetListResourceById: 'getList',
  SegmentationFieldGroup_GetSegmentationFieldGroupCollection: 'getFieldGroups',
  SegmentationField_GetSegmentationFieldCollection: 'getFields',
  Event_GetEventCollection: 'getEvents',
};

/** Scope an integration needs for each route. */
const SCOPE: Partial<Record<FaultRoute, string>> = {
  upsert: 'Contact',
  getContact: 'Contact',
  bulkProfile: 'Contact',
  getList: 'List',
  getFieldGroups: 'Segmentation',
  getFields: 'Segmentation',
  getEvents: 'Event',
};

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

class ListrakAnswer extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

interface Context {
  route: FaultRoute | 'unknown';
  listId?: number;
  email?: string;
  query: Record<string, string>;
  body?: unknown;
  started: number;
}

export class ListrakSandbox {
  readonly requests: LoggedRequest[] = [];
  /** Every access token handed out so far (for tests that prove tokens stay out of history). */
  readonly issuedTokens: string[] = [];
  readonly contacts = new Map<number, Map<string, SandboxContact>>();
  readonly chaos = new Chaos();
  tokenLifetimeSeconds = 3600;
  /** Latency added to every API answer, in ms (the chaos profile can add a distribution). */
  latencyMs = 0;
  /** Bodies larger than this answer 404, as Listrak does for its undisclosed size limit. */
  payloadLimitBytes = 1024 * 1024;
  /** Highest number of writes for one email that were in flight at the same time (any email). */
  maxConcurrentWritesPerEmail = 0;
  private readonly maxWritesByEmail = new Map<string, number>();
  private readonly inFlightWrites = new Map<string, number>();
  private readonly tokens = new Map<string, { clientId: string; expiresAtMs: number }>();
  private readonly imports: { importId: string; listId: number; at: string; count: number }[] = [];
  private readonly contract: ListrakContract;
  private server: http.Server | undefined;
  /** TCP connections clients opened to the sandbox (the benchmark checks they are reused). */
  connectionsOpened = 0;

  constructor(
    readonly seed: SandboxSeed = DEFAULT_SEED,
    contract?: ListrakContract,
  ) {
    this.contract = contract ?? ListrakContract.load();
    for (const list of seed.lists) this.contacts.set(list.listId, new Map());
  }

  /** Queues scripted answers ("fail twice with 503, then answer normally"). */
  script(...faults: Fault[]): this {
    this.chaos.script(...faults);
    return this;
  }

  clearFaults(): void {
    this.chaos.clear();
  }

  /** Invalidates every access token handed out so far. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  client(clientId: string): SandboxClient | undefined {
    return this.seed.clients.find((client) => client.clientId === clientId);
  }

  list(listId: number): SandboxList | undefined {
    return this.seed.lists.find((list) => list.listId === listId);
  }

  field(listId: number, fieldId: number): SandboxField | undefined {
    for (const group of this.list(listId)?.segmentationFieldGroups ?? []) {
      const found = group.fields.find((field) => field.segmentationFieldId === fieldId);
      if (found) return found;
    }
    return undefined;
  }

  contact(listId: number, email: string): SandboxContact | undefined {
    return this.contacts.get(listId)?.get(email.toLowerCase());
  }

  /** An unsubscribe made in Listrak itself, as from an email footer. */
  unsubscribeByContact(listId: number, email: string, at: Date = new Date()): SandboxContact {
    const contacts = this.contacts.get(listId);
    if (!contacts) throw new Error(`sandbox has no list ${listId}`);
    const key = email.toLowerCase();
    const contact = contacts.get(key) ?? newContact(key, 'Unsubscribed');
    Object.assign(contact, { subscriptionState: 'Unsubscribed', unsubscribeDate: at.toISOString(), unsubscribeMethod: 'Contact' });
    contacts.set(key, contact);
    return contact;
  }

  requestsFor(route: FaultRoute, email?: string): LoggedRequest[] {
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

  /** Writes for this email being answered right now. */
  writesInFlight(email: string): number {
    return this.inFlightWrites.get(email.toLowerCase()) ?? 0;
  }

  /** Highest number of writes for this email that were ever in flight at the same time. */
  maxConcurrentWrites(email: string): number {
    return this.maxWritesByEmail.get(email.toLowerCase()) ?? 0;
  }

  state() {
    return {
      lists: this.seed.lists.map((list) => ({ ...list, contacts: [...(this.contacts.get(list.listId)?.values() ?? [])] })),
      imports: this.imports,
      tokens: this.tokens.size,
      maxConcurrentWritesPerEmail: this.maxConcurrentWritesPerEmail,
      chaos: this.chaos.describe(),
    };
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');
    app.set('query parser', 'simple');

    app.get('/_sandbox/requests', (_req, res) => void res.json(this.requests));
    app.get('/_sandbox/state', (_req, res) => void res.json(this.state()));
    app.post('/_sandbox/faults', express.json(), (req, res) => {
      this.script(...((Array.isArray(req.body) ? req.body : [req.body]) as Fault[]));
      res.json(this.chaos.describe());
    });
    app.delete('/_sandbox/faults', (_req, res) => {
      this.clearFaults();
      this.chaos.configure({});
      res.json(this.chaos.describe());
    });
    app.put('/_sandbox/chaos', express.json(), (req, res) => {
      this.chaos.configure(req.body as ChaosProfile);
      res.json(this.chaos.describe());
    });
    app.post('/_sandbox/revoke-tokens', (_req, res) => {
      this.revokeTokens();
      res.json({ tokens: 0 });
    });
    app.post('/_sandbox/unsubscribe', express.json(), (req, res) => {
      const { listId, email } = req.body as { listId?: number; email?: string };
      if (typeof listId !== 'number' || typeof email !== 'string' || !this.contacts.has(listId)) {
        res.status(400).json({ error: 'send {"listId": <a sandbox list>, "email": string}' });
        return;
      }
      res.json(this.unsubscribeByContact(listId, email));
    });

    // Everything else is Listrak: read the raw body ourselves, as the limit answers 404.
    app.use(express.raw({ type: () => true, limit: '20mb' }), (req, res) => {
      void this.handle(req, res);
    });
    return app;
  }

  /** Starts the sandbox on 127.0.0.1 (port 0 picks a free one). */
  async listen(port = 0): Promise<{ url: string; authUrl: string; apiUrl: string }> {
    const server = http.createServer(this.app());
    this.server = server;
    server.on('connection', () => {
      this.connectionsOpened++;
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', resolve);
    });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return { url, authUrl: `${url}/OAuth2/Token`, apiUrl: `${url}/email/v1` };
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.chaos.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: Request, res: Response): Promise<void> {
    const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const query = Object.fromEntries(Object.entries(req.query).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
    const ctx: Context = { route: 'unknown', query, started: Date.now() };
    let writing: string | undefined;
    try {
      if (req.path === '/OAuth2/Token') {
        ctx.route = 'token';
        if (req.method !== 'POST') throw new ListrakAnswer(405, 'ERROR_UNSUPPORTED_METHOD', 'Valid route supplied with an invalid HTTP method.');
        await this.applyFaults(ctx, req, res);
        if (res.headersSent || res.destroyed) return;
        this.issueToken(raw, res);
        return;
      }
      const match = req.path.startsWith('/email/') ? this.contract.match(req.method, req.path.slice('/email'.length)) : ({ error: 'ERROR_UNKNOWN_ROUTE' } as const);
      if ('error' in match) {
        throw match.error === 'ERROR_UNSUPPORTED_METHOD'
          ? new ListrakAnswer(405, match.error, 'Valid route supplied with an invalid HTTP method.')
          : new ListrakAnswer(404, match.error, 'Invalid route was supplied.');
      }
      const { operation, pathParams } = match;
      ctx.route = SERVED[operation.operationId] ?? 'unknown';
      if (/^\d+$/.test(pathParams.listId ?? '')) ctx.listId = Number(pathParams.listId);
      if (ctx.route === 'getContact') ctx.email = String(pathParams.contactIdentifier ?? '').toLowerCase();
      const body = parseLeniently(raw);
      if (body !== undefined) ctx.body = body;
      if (ctx.route === 'upsert' && typeof (body as { emailAddress?: unknown })?.emailAddress === 'string') {
        ctx.email = (body as { emailAddress: string }).emailAddress.trim().toLowerCase();
        writing = ctx.email;
        this.enterWrite(writing);
      }
      if (raw.length > this.payloadLimitBytes) {
        // Listrak answers an oversized payload with 404, not 413.
        throw new ListrakAnswer(404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Valid route was supplied with invalid resource IDs.');
      }
      this.authenticate(req, ctx.route);
      await this.applyFaults(ctx, req, res);
      if (res.headersSent || res.destroyed) return;
      if (ctx.route === 'unknown') {
        throw new ListrakAnswer(404, 'ERROR_UNKNOWN_ROUTE', `${operation.operationId} is part of Listrak's API but not served by the sandbox.`);
      }
      if (operation.validateBody && raw.length > 0) {
        if (!req.is('application/json')) {
          throw new ListrakAnswer(415, 'ERROR_UNSUPPORTED_CONTENT_TYPE', 'Invalid Content-Type header was supplied (must be application/json).');
        }
        if (body === undefined) throw new ListrakAnswer(400, 'ERROR_MALFORMED_REQUEST_BODY', 'Invalid JSON body was supplied.');
      }
      const problems = this.contract.validate(operation, pathParams, req.query, body);
      if (problems.length > 0) throw new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', problems.map((problem) => problem.message).join(' '));
      const list = this.requireList(ctx.listId);
      this.answer(operation, ctx, list, pathParams, body, res);
    } catch (error) {
      if (res.headersSent || res.destroyed) return;
      if (error instanceof ListrakAnswer) {
        res.status(error.status).json({ status: error.status, error: error.code, message: error.message });
      } else {
        res.status(500).json({ status: 500, error: 'ERROR_UNHANDLED_EXCEPTION', message: (error as Error).message });
      }
    } finally {
      if (writing !== undefined) this.leaveWrite(writing);
      this.log(req, ctx, res);
    }
  }

  private async applyFaults(ctx: Context, req: Request, res: Response): Promise<void> {
    const action = this.chaos.next(ctx.route, ctx.email);
    const delay = action.delayMs + (ctx.route === 'token' ? 0 : this.latencyMs);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    if (action.reset) {
      res.locals.reset = true;
      req.socket.destroy();
      return;
    }
    if (action.status) {
      const code = action.error ?? (action.status >= 500 ? 'ERROR_UNHANDLED_EXCEPTION' : `HTTP_${action.status}`);
      throw new ListrakAnswer(action.status, code, `Scripted sandbox answer ${action.status} ${code}.`);
    }
  }

  private authenticate(req: Request, route: FaultRoute | 'unknown'): void {
    const match = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    const token = match?.[1] ? this.tokens.get(match[1]) : undefined;
    const client = token ? this.client(token.clientId) : undefined;
    if (!token || token.expiresAtMs <= Date.now() || !client || client.paused) {
      throw new ListrakAnswer(401, 'ERROR_UNAUTHORIZED', 'Invalid access token, inactive integration, insufficient access level, unauthorized IP address.');
    }
    const scope = route === 'unknown' ? undefined : SCOPE[route];
    if (scope && client.scopes && !client.scopes.includes(scope)) {
      throw new ListrakAnswer(403, 'ERROR_UNAUTHORIZED', `The integration has no ${scope} access (Manage > Integrations).`);
    }
    if (route === 'bulkProfile' && !client.betaRoutes) {
      throw new ListrakAnswer(403, 'ERROR_INTEGRATION_CANNOT_ACCESS_BETA_ROUTE', 'This route is in Beta and not yet generally available for all integrations.');
    }
  }

  private requireList(listId: number | undefined): SandboxList {
    const list = listId === undefined ? undefined : this.list(listId);
    if (!list) throw new ListrakAnswer(404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Unable to locate a resource associated with the listId supplied.');
    if (list.active === false) throw new ListrakAnswer(400, 'ERROR_LIST_INACTIVE', 'The list is inactive.');
    return list;
  }

  private answer(
    operation: ContractOperation,
    ctx: Context,
    list: SandboxList,
    pathParams: Record<string, string>,
    body: unknown,
    res: Response,
  ): void {
    switch (SERVED[operation.operationId]) {
      case 'getList':
        res.json({ status: 200, data: { listId: list.listId, listName: list.listName, bounceHandling: 'Standard', bounceUnsubscribeCount: 3 } });
        return;
      case 'getFieldGroups':
        res.json({
          status: 200,
          data: (list.segmentationFieldGroups ?? []).map((group, position) => ({
            segmentationFieldGroupId: group.segmentationFieldGroupId,
            segmentationFieldGroupName: group.segmentationFieldGroupName,
            position,
          })),
        });
        return;
      case 'getFields': {
        const group = (list.segmentationFieldGroups ?? []).find((candidate) => candidate.segmentationFieldGroupId === Number(pathParams.segmentationFieldGroupId));
        if (!group) throw new ListrakAnswer(404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Unable to locate the profile field group.');
        res.json({
          status: 200,
          data: group.fields.map((field, position) => ({
            segmentationFieldId: field.segmentationFieldId,
            segmentationFieldName: field.segmentationFieldName,
            segmentationFieldGroupId: group.segmentationFieldGroupId,
            dataType: field.dataType ?? 'Text',
            maxLength: field.maxLength,
            position,
            // Sandbox extension (not in the contract): lets a credential check see a disabled field.
            ...(field.disabled ? { disabled: true } : {}),
          })),
        });
        return;
      }
      case 'getEvents':
        res.json({ status: 200, data: (list.events ?? []).map((event) => ({ eventGroupId: 0, status: 'Active', ...event })) });
        return;
      case 'getContact': {
        const contact = this.contact(list.listId, ctx.email ?? '');
        if (!contact) throw new ListrakAnswer(404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Unable to locate a contact associated with the identifier supplied.');
        const { raisedEvents: _events, ...data } = contact;
        res.json({ status: 200, data });
        return;
      }
      case 'upsert':
        this.upsert(list, ctx.query, body as UpsertBody, res);
        return;
      case 'bulkProfile':
        this.bulkProfile(list, body as { emailAddress: string; segmentationFieldValues: FieldValue[] }[], res);
        return;
      default:
        throw new ListrakAnswer(404, 'ERROR_UNKNOWN_ROUTE', 'Invalid route was supplied.');
    }
  }

  private issueToken(raw: Buffer, res: Response): void {
    const form = new URLSearchParams(raw.toString('utf8'));
    if (form.get('grant_type') !== 'client_credentials') {
      throw new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', 'grant_type must be client_credentials.');
    }
    const client = this.client(form.get('client_id') ?? '');
    if (!client || client.clientSecret !== form.get('client_secret') || client.paused) {
      throw new ListrakAnswer(400, 'ERROR_INVALID_CREDENTIALS', 'Invalid client credentials, inactive integration, unauthorized IP address.');
    }
    const accessToken = randomBytes(24).toString('base64url');
    this.issuedTokens.push(accessToken);
    this.tokens.set(accessToken, { clientId: client.clientId, expiresAtMs: Date.now() + this.tokenLifetimeSeconds * 1000 });
    res.json({ access_token: accessToken, token_type: 'Bearer', expires_in: this.tokenLifetimeSeconds });
  }

  /** Checks profile values against the list's fields; throws Listrak's code for the first bad one. */
  private checkValues(list: SandboxList, values: FieldValue[]): void {
    const seen = new Set<number>();
    for (const { segmentationFieldId, value } of values) {
      const field = this.field(list.listId, segmentationFieldId);
      if (!field) throw new ListrakAnswer(400, 'ERROR_INVALID_SEGMENTATION_FIELD_ID', `Profile field ${segmentationFieldId} does not exist on the list.`);
      if (field.disabled) throw new ListrakAnswer(400, 'ERROR_SEGMENTATION_FIELD_DISABLED', `Profile field ${segmentationFieldId} is disabled.`);
      if (value.length > field.maxLength) {
        throw new ListrakAnswer(400, 'ERROR_SEGMENTATION_MAX_LENGTH', `Value for profile field ${segmentationFieldId} exceeds ${field.maxLength} characters.`);
      }
      if (seen.has(segmentationFieldId)) {
        throw new ListrakAnswer(400, 'ERROR_SEGMENTATION_FIELD_DEFINED_TWICE', 'Two or more values were supplied for the same segmentationFieldId.');
      }
      seen.add(segmentationFieldId);
    }
  }

  private upsert(list: SandboxList, query: Record<string, string>, body: UpsertBody, res: Response): void {
    const flag = (name: string) => Object.entries(query).some(([key, value]) => key.toLowerCase() === name.toLowerCase() && /^true$/i.test(value));
    const rawEventIds = Object.entries(query).find(([key]) => key.toLowerCase() === 'eventids')?.[1] ?? '';
    const eventIds = rawEventIds.split(',').map((part) => part.trim()).filter(Boolean);
    if (eventIds.some((id) => !/^\d+$/.test(id) || !(list.events ?? []).some((event) => event.eventId === Number(id) && event.status !== 'Blocked'))) {
      throw new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', 'An invalid value was supplied for eventIds.');
    }
    const wanted = body.subscriptionState ?? 'Subscribed';
    if (wanted !== 'Subscribed' && wanted !== 'Unsubscribed') {
      throw new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', 'An invalid value was supplied for subscriptionState.');
    }
    const email = body.emailAddress.trim().toLowerCase();
    if (!EMAIL.test(email)) throw new ListrakAnswer(400, 'ERROR_INVALID_EMAIL_ADDRESS', 'The email address is invalid.');
    const contacts = this.contacts.get(list.listId)!;
    const contact = contacts.get(email);
    const values = body.segmentationFieldValues;

    if (wanted === 'Unsubscribed') {
      if (values.length > 0) throw new ListrakAnswer(400, 'ERROR_UNSUBSCRIBE_WITH_SEGMENTATION_DATA', 'Unsubscribing a contact with profile data.');
      if (eventIds.length > 0) throw new ListrakAnswer(400, 'ERROR_UNSUBSCRIBE_WITH_EVENTS', 'Unsubscribing a contact with a list of events.');
      if (!contact) throw new ListrakAnswer(400, 'ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS', 'Unsubscribing a contact that is not a subscriber for the list.');
      if (contact.subscriptionState === 'Unsubscribed') {
        throw new ListrakAnswer(400, 'ERROR_UNSUBSCRIBED_EMAIL_ADDRESS', 'Unsubscribing a contact that has already been unsubscribed from the list.');
      }
      Object.assign(contact, { subscriptionState: 'Unsubscribed', unsubscribeDate: new Date().toISOString(), unsubscribeMethod: 'API' });
      res.status(201).json({ status: 201, resourceId: contact.emailKey });
      return;
    }

    if (this.seed.bannedEmails?.includes(email)) throw new ListrakAnswer(400, 'ERROR_BANNED_EMAIL_ADDRESS', 'Subscribing a contact that has been banned.');
    if (this.seed.suppressedEmails?.includes(email)) throw new ListrakAnswer(400, 'ERROR_SUPPRESSED_EMAIL', 'Subscribing an emailAddress that has already been suppressed.');
    if (this.seed.pendingEmails?.includes(email)) throw new ListrakAnswer(400, 'ERROR_PENDING_EMAIL_ADDRESS', 'Already pending subscription through double opt-in.');
    this.checkValues(list, values);
    const override = flag('overrideUnsubscribe');
    if (contact?.subscriptionState === 'Unsubscribed' && !override && eventIds.length > 0) {
      throw new ListrakAnswer(400, 'ERROR_UPDATE_UNSUBSCRIBE_WITH_EVENTS', 'Updating a contact that is unsubscribed with a list of events.');
    }
    const now = new Date().toISOString();
    let target = contact;
    if (!target) {
      if (flag('sendDoubleOptIn')) {
        // A double opt-in confirmation goes out; the contact stays pending until confirmed.
        (this.seed.pendingEmails ??= []).push(email);
        res.status(201).json({ status: 201, resourceId: randomUUID() });
        return;
      }
      target = newContact(email, 'Subscribed');
      Object.assign(target, { subscribeDate: now, subscribeMethod: flag('subscribedByContact') ? 'Contact' : 'API' });
      contacts.set(email, target);
    } else if (target.subscriptionState === 'Unsubscribed' && override) {
      Object.assign(target, { subscriptionState: 'Subscribed', resubscribeDate: now, subscribeMethod: 'API' });
    }
    // Without overrideUnsubscribe an unsubscribed contact stays unsubscribed; its profile updates.
    applyValues(target, values, (query.updateType ?? 'Update').toLowerCase());
    if (body.externalContactID !== undefined) target.externalContactID = body.externalContactID;
    if (target.subscriptionState === 'Subscribed') {
      for (const id of eventIds) target.raisedEvents.push({ eventId: Number(id), at: now });
    }
    res.status(201).json({ status: 201, resourceId: target.emailKey });
  }

  /** Beta bulk profile update: accepted at once, applied by a list import a moment later. */
  private bulkProfile(list: SandboxList, items: { emailAddress: string; segmentationFieldValues: FieldValue[] }[], res: Response): void {
    for (const item of items) this.checkValues(list, item.segmentationFieldValues);
    const importId = randomUUID();
    this.imports.push({ importId, listId: list.listId, at: new Date().toISOString(), count: items.length });
    setTimeout(() => {
      for (const item of items) {
        const contact = this.contact(list.listId, item.emailAddress);
        if (contact) applyValues(contact, item.segmentationFieldValues, 'update');
      }
    }, 50).unref();
    res.status(201).json({ status: 201, resourceId: importId });
  }

  private enterWrite(email: string): void {
    const count = (this.inFlightWrites.get(email) ?? 0) + 1;
    this.inFlightWrites.set(email, count);
    this.maxConcurrentWritesPerEmail = Math.max(this.maxConcurrentWritesPerEmail, count);
    this.maxWritesByEmail.set(email, Math.max(this.maxWritesByEmail.get(email) ?? 0, count));
  }

  private leaveWrite(email: string): void {
    const count = (this.inFlightWrites.get(email) ?? 1) - 1;
    if (count <= 0) this.inFlightWrites.delete(email);
    else this.inFlightWrites.set(email, count);
  }

  private log(req: Request, ctx: Context, res: Response): void {
    const body = ctx.route === 'token' ? undefined : ctx.body;
    this.requests.push({
      at: new Date(ctx.started).toISOString(),
      method: req.method,
      route: ctx.route,
      path: req.path,
      ...(ctx.listId === undefined ? {} : { listId: ctx.listId }),
      ...(ctx.email === undefined ? {} : { email: ctx.email }),
      query: ctx.query,
      ...(body === undefined ? {} : { body }),
      status: res.locals.reset ? 0 : res.statusCode,
      ...(res.locals.reset ? { error: 'CONNECTION_RESET' } : {}),
      durationMs: Date.now() - ctx.started,
    });
    if (this.requests.length > 100_000) this.requests.splice(0, this.requests.length - 100_000);
  }
}

type FieldValue = { segmentationFieldId: number; value: string };
interface UpsertBody {
  emailAddress: string;
  subscriptionState?: string;
  externalContactID?: string;
  segmentationFieldValues: FieldValue[];
}

function newContact(email: string, state: 'Subscribed' | 'Unsubscribed'): SandboxContact {
  const contact: SandboxContact = {
    emailAddress: email,
    emailKey: randomBytes(8).toString('hex'),
    subscriptionState: state,
    segmentationFieldValues: [],
    raisedEvents: [],
  };
  if (state === 'Unsubscribed') Object.assign(contact, { unsubscribeDate: new Date().toISOString(), unsubscribeMethod: 'API' });
  return contact;
}

function applyValues(contact: SandboxContact, values: FieldValue[], updateType: string): void {
  if (updateType === 'overwrite') contact.segmentationFieldValues = [];
  for (const value of values) {
    const existing = contact.segmentationFieldValues.find((entry) => entry.segmentationFieldId === value.segmentationFieldId);
    if (existing) existing.value = updateType === 'append' ? `${existing.value}${value.value}` : value.value;
    else contact.segmentationFieldValues.push({ ...value });
  }
}

function parseLeniently(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

