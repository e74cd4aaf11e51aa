import { randomBytes, randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import http from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';

/**
 * A local stand-in for Listrak's Email API and token endpoint, following the rules in
 * ../shared/listrak/README.md. Tests script its answers; people use it to see the whole flow
 * without a Listrak account. It keeps everything in memory.
 */

export interface SandboxClient {
  clientId: string;
  clientSecret: string;
  /** A paused integration: token requests are refused. */
  paused?: boolean;
}

export interface SandboxField {
  id: number;
  name: string;
  maxLength?: number;
  disabled?: boolean;
}

export interface SandboxList {
  listId: number;
  name: string;
  active?: boolean;
}

export interface SandboxSeed {
  clients: SandboxClient[];
  lists: SandboxList[];
  fields: SandboxField[];
  /** Listrak event ids that may be raised with eventIds. */
  events: { id: number; name: string }[];
  bannedEmails?: string[];
  suppressedEmails?: string[];
  pendingEmails?: string[];
}

export const DEFAULT_SEED: SandboxSeed = {
  clients: [
    { clientId: 'sandbox-client', clientSecret: 'sandbox-secret' },
    { clientId: 'sandbox-staging-client', clientSecret: 'sandbox-staging-secret' },
  ],
  lists: [
    { listId: 1001, name: 'Marketing (sandbox production)' },
    { listId: 2002, name: 'Marketing (sandbox staging)' },
  ],
  fields: [
    { id: 101, name: 'First Name', maxLength: 50 },
    { id: 102, name: 'Last Name', maxLength: 50 },
    { id: 103, name: 'Phone Number', maxLength: 20 },
    { id: 104, name: 'Share Link', maxLength: 200 },
    { id: 105, name: 'Funnel', maxLength: 20 },
  ],
  events: [{ id: 501, name: 'Referral welcome series' }],
};

export interface SandboxContact {
  emailAddress: string;
  subscriptionState: 'Subscribed' | 'Unsubscribed';
  subscribeDate?: string;
  resubscribeDate?: string;
  subscribeMethod?: string;
  unsubscribeDate?: string;
  unsubscribeMethod?: string;
  segmentationFieldValues: { segmentationFieldId: number; value: string }[];
  /** Sandbox only: events raised for this contact. */
  raisedEvents: { eventId: number; at: string }[];
}

export type FaultRoute = 'token' | 'upsert' | 'getContact' | 'getList' | 'any';

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
}

interface Token {
  clientId: string;
  expiresAtMs: number;
}

function listrakError(res: Response, status: number, error: string, message: string): void {
  res.status(status).json({ status, error, message });
}

/** Which API route a request is for, by method and path under /email/v1. */
function routeOf(req: Request): FaultRoute | 'unknown' {
  if (req.method === 'POST' && /^\/List\/[^/]+\/Contact$/.test(req.path)) return 'upsert';
  if (req.method === 'GET' && /^\/List\/[^/]+\/Contact\/[^/]+$/.test(req.path)) return 'getContact';
  if (req.method === 'GET' && /^\/List\/[^/]+$/.test(req.path)) return 'getList';
  return 'unknown';
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export class ListrakSandbox {
  readonly requests: LoggedRequest[] = [];
  readonly contacts = new Map<number, Map<string, SandboxContact>>();
  tokenLifetimeSeconds = 3600;
  /** Latency added to every API answer, in ms. */
  latencyMs = 0;
  /** Highest number of writes for one email that were in flight at the same time (any email). */
  maxConcurrentWritesPerEmail = 0;
  private readonly maxWritesByEmail = new Map<string, number>();
  private readonly faults: Fault[] = [];
  private readonly tokens = new Map<string, Token>();
  private readonly inFlightWrites = new Map<string, number>();
  private server: http.Server | undefined;

  constructor(readonly seed: SandboxSeed = DEFAULT_SEED) {
    for (const list of seed.lists) this.contacts.set(list.listId, new Map());
  }

  /** Queues scripted answers ("fail twice with 503, then answer normally"). */
  script(...faults: Fault[]): this {
    this.faults.push(...faults.map((fault) => ({ ...fault, times: fault.times ?? 1 })));
    return this;
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  /** Every access token handed out so far (for tests that prove tokens stay out of history). */
  readonly issuedTokens: string[] = [];

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

  contact(listId: number, email: string): SandboxContact | undefined {
    return this.contacts.get(listId)?.get(email.toLowerCase());
  }

  /** An unsubscribe made in Listrak itself, as from an email footer. */
  unsubscribeByContact(listId: number, email: string, at: Date = new Date()): SandboxContact {
    const contacts = this.contacts.get(listId);
    if (!contacts) throw new Error(`sandbox has no list ${listId}`);
    const key = email.toLowerCase();
    const contact = contacts.get(key) ?? {
      emailAddress: key,
      subscriptionState: 'Unsubscribed' as const,
      segmentationFieldValues: [],
      raisedEvents: [],
    };
    contact.subscriptionState = 'Unsubscribed';
    contact.unsubscribeDate = at.toISOString();
    contact.unsubscribeMethod = 'Contact';
    contacts.set(key, contact);
    return contact;
  }

  requestsFor(route: FaultRoute, email?: string): LoggedRequest[] {
    return this.requests.filter(
      (entry) => entry.route === route && (email === undefined || entry.email === email.toLowerCase()),
    );
  }

  state() {
    return {
      lists: this.seed.lists.map((list) => ({
        ...list,
        contacts: [...(this.contacts.get(list.listId)?.values() ?? [])],
      })),
      tokens: this.tokens.size,
      maxConcurrentWritesPerEmail: this.maxConcurrentWritesPerEmail,
    };
  }

  app(): express.Express {
    const app = express();
    app.disable('x-powered-by');

    app.get('/_sandbox/requests', (_req, res) => {
      res.json(this.requests);
    });
    app.get('/_sandbox/state', (_req, res) => {
      res.json(this.state());
    });
    app.post('/_sandbox/faults', express.json(), (req, res) => {
      const faults = (Array.isArray(req.body) ? req.body : [req.body]) as Fault[];
      this.script(...faults);
      res.json({ queued: this.faults.length });
    });
    app.delete('/_sandbox/faults', (_req, res) => {
      this.clearFaults();
      res.json({ queued: 0 });
    });
    app.post('/_sandbox/unsubscribe', express.json(), (req, res) => {
      const { listId, email } = req.body as { listId?: number; email?: string };
      if (typeof listId !== 'number' || typeof email !== 'string') {
        res.status(400).json({ error: 'send {"listId": number, "email": string}' });
        return;
      }
      res.json(this.unsubscribeByContact(listId, email));
    });

    app.post('/OAuth2/Token', express.urlencoded({ extended: false }), (req, res, next) =>
      this.answer(req, res, next, 'token', () => this.issueToken(req, res)),
    );

    const api = express.Router();
    api.use((req, res, next) => this.authenticate(req, res, next));
    api.get('/List/:listId', (req, res, next) =>
      this.answer(req, res, next, 'getList', () => {
        const list = this.requireList(req, res);
        if (list) res.json({ status: 200, data: { listId: list.listId, listName: list.name, listStatus: list.active === false ? 'Inactive' : 'Active' } });
      }),
    );
    api.get('/List/:listId/Contact/:identifier', (req, res, next) =>
      this.answer(req, res, next, 'getContact', () => {
        const list = this.requireList(req, res);
        if (!list) return;
        const contact = this.contact(list.listId, String(req.params.identifier));
        if (!contact) {
          listrakError(res, 404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Unable to locate a contact associated with the identifier supplied.');
          return;
        }
        const { raisedEvents: _events, ...data } = contact;
        res.json({ status: 200, data });
      }),
    );
    api.post(
      '/List/:listId/Contact',
      (req, res, next) => {
        if (!req.is('application/json')) {
          listrakError(res, 415, 'ERROR_UNSUPPORTED_CONTENT_TYPE', 'The content type supplied is not supported.');
          return;
        }
        next();
      },
      express.json({ limit: '256kb' }),
      (req, res, next) => this.answer(req, res, next, 'upsert', () => this.upsert(req, res)),
    );
    api.use((req, res) => {
      const known = /^\/List\/[^/]+(\/Contact(\/[^/]+)?)?$/.test(req.path);
      if (known) listrakError(res, 405, 'ERROR_UNSUPPORTED_METHOD', 'The requested method is not supported for this route.');
      else listrakError(res, 404, 'ERROR_UNKNOWN_ROUTE', 'The requested route does not exist.');
    });
    app.use('/email/v1', api);

    app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
      const type = (error as { type?: string }).type;
      if (type === 'entity.too.large') {
        // Listrak answers an oversized payload with 404, not 413.
        listrakError(res, 404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'The resource could not be found.');
      } else if (type === 'entity.parse.failed') {
        listrakError(res, 400, 'ERROR_MALFORMED_REQUEST_BODY', 'The request body is malformed.');
      } else {
        listrakError(res, 500, 'ERROR_UNHANDLED_EXCEPTION', 'An unhandled exception occurred.');
      }
      this.log(req, 'unknown', res.statusCode);
    });
    app.use((req, res) => {
      listrakError(res, 404, 'ERROR_UNKNOWN_ROUTE', 'The requested route does not exist.');
      this.log(req, 'unknown', 404);
    });
    return app;
  }

  /** Starts the sandbox on 127.0.0.1 (port 0 picks a free one). */
  async listen(port = 0): Promise<{ url: string; authUrl: string; apiUrl: string }> {
    const server = http.createServer(this.app());
    this.server = server;
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
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** Applies a scripted fault for this route if one is queued, else runs the real handler. */
  private answer(req: Request, res: Response, next: NextFunction, route: FaultRoute, handler: () => void): void {
    const run = async () => {
      const email = this.emailOf(req, route);
      const fault = this.takeFault(route, email);
      const delay = (fault?.delayMs ?? 0) + (route === 'token' ? 0 : this.latencyMs);
      const writing = route === 'upsert' && email !== undefined;
      if (writing) this.enterWrite(email);
      try {
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        if (fault?.reset) {
          this.log(req, route, 0, 'CONNECTION_RESET');
          req.socket.destroy();
          return;
        }
        if (fault?.status) {
          const status = fault.status;
          const error = fault.error ?? (status >= 500 ? 'ERROR_UNHANDLED_EXCEPTION' : `HTTP_${status}`);
          listrakError(res, status, error, `Scripted sandbox answer ${status} ${error}.`);
        } else {
          handler();
        }
        this.log(req, route, res.statusCode, (res.locals.error as string | undefined) ?? undefined);
      } finally {
        if (writing) this.leaveWrite(email);
      }
    };
    run().catch(next);
  }

  private takeFault(route: FaultRoute, email: string | undefined): Fault | undefined {
    const faults = this.faults;
    const index = faults.findIndex(
      (fault) =>
        (fault.route === route || fault.route === 'any') &&
        (fault.email === undefined || fault.email.toLowerCase() === email),
    );
    if (index < 0) return undefined;
    const fault = faults[index]!;
    fault.times = (fault.times ?? 1) - 1;
    if (fault.times <= 0) faults.splice(index, 1);
    return fault;
  }

  private enterWrite(email: string): void {
    const count = (this.inFlightWrites.get(email) ?? 0) + 1;
    this.inFlightWrites.set(email, count);
    this.maxConcurrentWritesPerEmail = Math.max(this.maxConcurrentWritesPerEmail, count);
    this.maxWritesByEmail.set(email, Math.max(this.maxWritesByEmail.get(email) ?? 0, count));
  }

  /** Writes for this email being answered right now. */
  writesInFlight(email: string): number {
    return this.inFlightWrites.get(email.toLowerCase()) ?? 0;
  }

  /** Highest number of writes for this email that were ever in flight at the same time. */
  maxConcurrentWrites(email: string): number {
    return this.maxWritesByEmail.get(email.toLowerCase()) ?? 0;
  }

  private leaveWrite(email: string): void {
    const count = (this.inFlightWrites.get(email) ?? 1) - 1;
    if (count <= 0) this.inFlightWrites.delete(email);
    else this.inFlightWrites.set(email, count);
  }

  private emailOf(req: Request, route: FaultRoute | 'unknown'): string | undefined {
    if (route === 'getContact') return String(req.params.identifier ?? '').toLowerCase();
    const body = req.body as { emailAddress?: unknown } | undefined;
    if (route === 'upsert' && typeof body?.emailAddress === 'string') return body.emailAddress.toLowerCase();
    return undefined;
  }

  private log(req: Request, route: FaultRoute | 'unknown', status: number, error?: string): void {
    const listId = Number(req.params?.listId);
    const email = this.emailOf(req, route);
    const body = route === 'token' ? undefined : (req.body as unknown);
    this.requests.push({
      at: new Date().toISOString(),
      method: req.method,
      route,
      path: req.path,
      ...(Number.isInteger(listId) ? { listId } : {}),
      ...(email === undefined ? {} : { email }),
      query: Object.fromEntries(Object.entries(req.query).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)])),
      ...(body === undefined || (typeof body === 'object' && Object.keys(body as object).length === 0) ? {} : { body }),
      status,
      ...(error === undefined ? {} : { error }),
    });
    if (this.requests.length > 100_000) this.requests.splice(0, this.requests.length - 100_000);
  }

  private issueToken(req: Request, res: Response): void {
    const body = (req.body ?? {}) as Record<string, string | undefined>;
    if (body.grant_type !== 'client_credentials') {
      res.locals.error = 'ERROR_INVALID_PARAMETER';
      listrakError(res, 400, 'ERROR_INVALID_PARAMETER', 'grant_type must be client_credentials.');
      return;
    }
    const client = this.client(body.client_id ?? '');
    if (!client || client.clientSecret !== body.client_secret || client.paused) {
      res.locals.error = 'ERROR_INVALID_CREDENTIALS';
      listrakError(res, 400, 'ERROR_INVALID_CREDENTIALS', 'The client credentials are invalid or the integration is paused.');
      return;
    }
    const accessToken = randomBytes(24).toString('base64url');
    this.issuedTokens.push(accessToken);
    this.tokens.set(accessToken, { clientId: client.clientId, expiresAtMs: Date.now() + this.tokenLifetimeSeconds * 1000 });
    res.json({ access_token: accessToken, token_type: 'Bearer', expires_in: this.tokenLifetimeSeconds });
  }

  private authenticate(req: Request, res: Response, next: NextFunction): void {
    const match = /^Bearer (.+)$/.exec(req.get('authorization') ?? '');
    const token = match?.[1] ? this.tokens.get(match[1]) : undefined;
    const client = token ? this.client(token.clientId) : undefined;
    if (!token || token.expiresAtMs <= Date.now() || !client || client.paused) {
      listrakError(res, 401, 'ERROR_UNAUTHORIZED', 'Authorization was denied for this request.');
      this.log(req, routeOf(req), 401, 'ERROR_UNAUTHORIZED');
      return;
    }
    next();
  }

  private requireList(req: Request, res: Response): SandboxList | undefined {
    const raw = String(req.params.listId);
    if (!/^\d+$/.test(raw)) {
      res.locals.error = 'ERROR_INVALID_PARAMETER';
      listrakError(res, 400, 'ERROR_INVALID_PARAMETER', 'An invalid value was supplied for listId.');
      return undefined;
    }
    const list = this.list(Number(raw));
    if (!list) {
      res.locals.error = 'ERROR_UNABLE_TO_LOCATE_RESOURCE';
      listrakError(res, 404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Unable to locate a resource associated with the listId supplied.');
      return undefined;
    }
    return list;
  }

  private reject(res: Response, status: number, error: string, message: string): void {
    res.locals.error = error;
    listrakError(res, status, error, message);
  }

  private upsert(req: Request, res: Response): void {
    const list = this.requireList(req, res);
    if (!list) return;
    if (list.active === false) return this.reject(res, 400, 'ERROR_LIST_INACTIVE', 'The list is inactive.');
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      return this.reject(res, 400, 'ERROR_MALFORMED_REQUEST_BODY', 'The request body is malformed.');
    }
    const query = req.query as Record<string, string | undefined>;
    for (const name of ['overrideUnsubscribe', 'subscribedByContact', 'sendDoubleOptIn']) {
      const value = query[name];
      if (value !== undefined && !/^(true|false)$/i.test(value)) {
        return this.reject(res, 400, 'ERROR_INVALID_PARAMETER', `An invalid value was supplied for ${name}.`);
      }
    }
    const eventIds = (query.eventIds ?? '').split(',').map((part) => part.trim()).filter(Boolean);
    if (eventIds.some((id) => !/^\d+$/.test(id) || !this.seed.events.some((event) => event.id === Number(id)))) {
      return this.reject(res, 400, 'ERROR_INVALID_PARAMETER', 'An invalid value was supplied for eventIds.');
    }
    const { emailAddress, subscriptionState, segmentationFieldValues } = body;
    if (typeof emailAddress !== 'string' || !Array.isArray(segmentationFieldValues)) {
      return this.reject(res, 400, 'ERROR_MALFORMED_REQUEST_BODY', 'emailAddress and segmentationFieldValues are required.');
    }
    if (subscriptionState !== undefined && subscriptionState !== 'Subscribed' && subscriptionState !== 'Unsubscribed') {
      return this.reject(res, 400, 'ERROR_INVALID_PARAMETER', 'An invalid value was supplied for subscriptionState.');
    }
    const email = emailAddress.trim().toLowerCase();
    if (!EMAIL.test(email)) return this.reject(res, 400, 'ERROR_INVALID_EMAIL_ADDRESS', 'The email address is invalid.');
    if (this.seed.bannedEmails?.includes(email)) return this.reject(res, 400, 'ERROR_BANNED_EMAIL_ADDRESS', 'The email address is banned.');
    if (this.seed.suppressedEmails?.includes(email)) return this.reject(res, 400, 'ERROR_SUPPRESSED_EMAIL', 'The email address is suppressed.');
    if (this.seed.pendingEmails?.includes(email)) return this.reject(res, 400, 'ERROR_PENDING_EMAIL_ADDRESS', 'The email address is pending double opt-in.');
    if (subscriptionState === 'Unsubscribed' && segmentationFieldValues.length > 0) {
      return this.reject(res, 400, 'ERROR_UNSUBSCRIBE_WITH_SEGMENTATION_DATA', 'Cannot unsubscribe with segmentation data.');
    }
    if (subscriptionState === 'Unsubscribed' && eventIds.length > 0) {
      return this.reject(res, 400, 'ERROR_UNSUBSCRIBE_WITH_EVENTS', 'Cannot unsubscribe with events.');
    }
    const values: { segmentationFieldId: number; value: string }[] = [];
    for (const item of segmentationFieldValues as unknown[]) {
      const { segmentationFieldId, value } = (item ?? {}) as { segmentationFieldId?: unknown; value?: unknown };
      if (!Number.isInteger(segmentationFieldId) || typeof value !== 'string') {
        return this.reject(res, 400, 'ERROR_MALFORMED_REQUEST_BODY', 'segmentationFieldValues items need segmentationFieldId and value.');
      }
      const field = this.seed.fields.find((candidate) => candidate.id === segmentationFieldId);
      if (!field) return this.reject(res, 400, 'ERROR_INVALID_SEGMENTATION_FIELD_ID', `Unknown segmentation field ${String(segmentationFieldId)}.`);
      if (field.disabled) return this.reject(res, 400, 'ERROR_SEGMENTATION_FIELD_DISABLED', `Segmentation field ${field.id} is disabled.`);
      if (field.maxLength !== undefined && value.length > field.maxLength) {
        return this.reject(res, 400, 'ERROR_SEGMENTATION_MAX_LENGTH', `Value for field ${field.id} exceeds ${field.maxLength}.`);
      }
      if (values.some((existing) => existing.segmentationFieldId === field.id)) {
        return this.reject(res, 400, 'ERROR_SEGMENTATION_FIELD_DEFINED_TWICE', `Segmentation field ${field.id} is defined twice.`);
      }
      values.push({ segmentationFieldId: field.id, value });
    }

    const now = new Date().toISOString();
    const contacts = this.contacts.get(list.listId)!;
    const wanted = subscriptionState ?? 'Subscribed';
    const override = /^true$/i.test(query.overrideUnsubscribe ?? '');
    let contact = contacts.get(email);
    if (!contact) {
      contact = { emailAddress: email, subscriptionState: wanted, segmentationFieldValues: [], raisedEvents: [] };
      if (wanted === 'Subscribed') Object.assign(contact, { subscribeDate: now, subscribeMethod: 'API' });
      else Object.assign(contact, { unsubscribeDate: now, unsubscribeMethod: 'API' });
      contacts.set(email, contact);
    } else if (wanted === 'Unsubscribed' && contact.subscriptionState === 'Subscribed') {
      Object.assign(contact, { subscriptionState: 'Unsubscribed', unsubscribeDate: now, unsubscribeMethod: 'API' });
    } else if (wanted === 'Subscribed' && contact.subscriptionState === 'Unsubscribed' && override) {
      // Without overrideUnsubscribe an unsubscribed contact stays unsubscribed (profile still updates).
      Object.assign(contact, { subscriptionState: 'Subscribed', resubscribeDate: now, subscribeMethod: 'API' });
    }
    for (const value of values) {
      const existing = contact.segmentationFieldValues.find((entry) => entry.segmentationFieldId === value.segmentationFieldId);
      if (existing) existing.value = value.value;
      else contact.segmentationFieldValues.push({ ...value });
    }
    if (contact.subscriptionState === 'Subscribed') {
      for (const id of eventIds) contact.raisedEvents.push({ eventId: Number(id), at: now });
    }
    res.status(201).json({ status: 201, resourceId: randomUUID() });
  }
}
