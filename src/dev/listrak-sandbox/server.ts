import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express, { type Request, type Response } from 'express';
import type { Chaos, ChaosProfile, Fault, FaultRoute } from './chaos';
import type { ListrakContract } from './contract';
import type { SandboxPrivacy } from './privacy';
import { sandboxState, type LoggedRequest, type SandboxProbes } from './probes';
import { errorAnswer, ListrakAnswer, unknownRoute, unsupportedMethod, type Answer, type ApiRequest, type ListrakRules, type ListrakSideChange, type SandboxRoute } from './rules';

/**
 * The sandbox over HTTP: Listrak's token route and Email API on one port, each request routed by
 * the Swagger contract to the rules, with the faults of the chaos applied and every request
 * logged for the probes; and the /_sandbox admin routes that inspect and steer it.
 */

/** Routes the sandbox implements, by Swagger operation id. */
const SERVED: Record<string, FaultRoute> = {
  Contact_PostContactResource: 'upsert',
  Contact_GetContactResourceByIdentifier: 'getContact',
  Contact_GetContactCollection: 'getContacts',
  ContactSegmentationField_PostContactSegmentationFieldValuesResource: 'bulkProfile',
  List_GetListResourceById: 'getList',
  SegmentationFieldGroup_GetSegmentationFieldGroupCollection: 'getFieldGroups',
  SegmentationField_GetSegmentationFieldCollection: 'getFields',
  Event_GetEventCollection: 'getEvents',
};

export interface SandboxUrls {
  url: string;
  authUrl: string;
  apiUrl: string;
  /** The Privacy API's base (LISTRAK_PRIVACY_API_URL). */
  privacyUrl: string;
}

export interface SandboxParts {
  rules: ListrakRules;
  contract: ListrakContract;
  chaos: Chaos;
  probes: SandboxProbes;
  privacy: SandboxPrivacy;
  /** Latency added to every API answer, in ms, read at each request (ListrakSandbox holds it). */
  knobs: { readonly latencyMs: number };
}

/** What a request is about, as far as it got: for the faults and the log. */
interface Context {
  route: SandboxRoute;
  listId?: number;
  email?: string;
  query: Record<string, string>;
  body?: unknown;
  started: number;
}

export class SandboxServer {
  /** TCP connections clients opened to the sandbox (the benchmark checks they are reused). */
  connectionsOpened = 0;
  private server: http.Server | undefined;

  constructor(private readonly parts: SandboxParts) {}

  app(): express.Express {
    const { rules, chaos, probes } = this.parts;
    const app = express();
    app.disable('x-powered-by');
    app.set('query parser', 'simple');

    app.get('/_sandbox/requests', (_req, res) => void res.json(probes.requests));
    app.get('/_sandbox/state', (_req, res) => void res.json(sandboxState(rules, probes, chaos)));
    app.post('/_sandbox/faults', express.json(), (req, res) => {
      chaos.script(...((Array.isArray(req.body) ? req.body : [req.body]) as Fault[]));
      res.json(chaos.describe());
    });
    app.delete('/_sandbox/faults', (_req, res) => {
      chaos.stop();
      res.json(chaos.describe());
    });
    app.put('/_sandbox/chaos', express.json(), (req, res) => {
      chaos.configure(req.body as ChaosProfile);
      res.json(chaos.describe());
    });
    app.post('/_sandbox/revoke-tokens', (_req, res) => {
      rules.revokeTokens();
      res.json({ tokens: 0 });
    });
    // Changes made in Listrak itself, not through the API: an unsubscribe (email footer, complaint)
    // and an import that (re-)subscribes, each dated `at` (ISO, default now) with its `method`.
    for (const [route, change] of [
      ['/_sandbox/unsubscribe', (listId: number, email: string, at: ListrakSideChange) => rules.unsubscribeInListrak(listId, email, at)],
      ['/_sandbox/subscribe', (listId: number, email: string, at: ListrakSideChange) => rules.subscribeInListrak(listId, email, at)],
    ] as const) {
      app.post(route, express.json(), (req, res) => {
        const { listId, email, at, method } = req.body as { listId?: unknown; email?: unknown; at?: unknown; method?: unknown };
        const date = typeof at === 'string' ? new Date(at) : new Date();
        if (typeof listId !== 'number' || typeof email !== 'string' || !rules.contacts.has(listId) || Number.isNaN(date.getTime()) || (method !== undefined && typeof method !== 'string')) {
          res.status(400).json({ error: 'send {"listId": <a sandbox list>, "email": string, "at"?: ISO date, "method"?: string}' });
          return;
        }
        res.json(change(listId, email, { at: date, method: method ?? undefined }));
      });
    }

    // The person confirms Listrak's double opt-in email (sandbox only: in Listrak a click in the
    // email does it). 409 when nothing is pending for the address on the list.
    app.post('/_sandbox/confirm', express.json(), (req, res) => {
      const { listId, email, at } = req.body as { listId?: unknown; email?: unknown; at?: unknown };
      const date = typeof at === 'string' ? new Date(at) : new Date();
      if (typeof listId !== 'number' || typeof email !== 'string' || !rules.contacts.has(listId) || Number.isNaN(date.getTime())) {
        res.status(400).json({ error: 'send {"listId": <a sandbox list>, "email": string, "at"?: ISO date}' });
        return;
      }
      try {
        res.json(rules.confirmDoubleOptIn(listId, email, { at: date }));
      } catch (error) {
        res.status(409).json({ error: (error as Error).message });
      }
    });

    // Everything else is Listrak: read the raw body ourselves, as the limit answers 404.
    app.use(express.raw({ type: () => true, limit: '20mb' }), (req, res) => {
      void this.handle(req, res);
    });
    return app;
  }

  /** Starts the sandbox on 127.0.0.1 (port 0 picks a free one). */
  async listen(port = 0): Promise<SandboxUrls> {
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
    return { url, authUrl: `${url}/OAuth2/Token`, apiUrl: `${url}/email/v1`, privacyUrl: `${url}/privacy` };
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.parts.chaos.stop();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async handle(req: Request, res: Response): Promise<void> {
    const { rules, contract, probes } = this.parts;
    const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const query = Object.fromEntries(Object.entries(req.query).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
    const ctx: Context = { route: 'unknown', query, started: Date.now() };
    let writing: string | undefined;
    try {
      if (req.path === '/OAuth2/Token') {
        ctx.route = 'token';
        if (req.method !== 'POST') throw unsupportedMethod();
        await this.applyFaults(ctx, req, res);
        if (res.headersSent || res.destroyed) return;
        send(res, rules.issueToken(new URLSearchParams(raw.toString('utf8'))));
        return;
      }
      if (req.path.startsWith('/privacy/')) {
        const path = req.path.slice('/privacy'.length);
        ctx.route = path === '/v1/Forget' ? 'privacyForget' : 'privacyStatus';
        const body = parseLeniently(raw);
        if (body !== undefined) ctx.body = body;
        await this.applyFaults(ctx, req, res);
        if (res.headersSent || res.destroyed) return;
        const answer = this.parts.privacy.answer(req.method, path, req.get('authorization'), body, ctx);
        if (answer.retryAfterSeconds !== undefined) res.set('retry-after', String(answer.retryAfterSeconds));
        send(res, answer);
        return;
      }
      const match = req.path.startsWith('/email/') ? contract.match(req.method, req.path.slice('/email'.length)) : ({ error: 'ERROR_UNKNOWN_ROUTE' } as const);
      if ('error' in match) throw match.error === 'ERROR_UNSUPPORTED_METHOD' ? unsupportedMethod() : unknownRoute();
      const { operation, pathParams } = match;
      ctx.route = SERVED[operation.operationId] ?? 'unknown';
      if (/^\d+$/.test(pathParams.listId ?? '')) ctx.listId = Number(pathParams.listId);
      if (ctx.route === 'getContact') ctx.email = String(pathParams.contactIdentifier ?? '').toLowerCase();
      const body = parseLeniently(raw);
      if (body !== undefined) ctx.body = body;
      if (ctx.route === 'upsert' && typeof (body as { emailAddress?: unknown })?.emailAddress === 'string') {
        ctx.email = (body as { emailAddress: string }).emailAddress.trim().toLowerCase();
        writing = ctx.email;
        probes.enterWrite(writing);
      }
      rules.checkPayloadSize(raw.length);
      rules.authenticate(req.get('authorization'), ctx.route);
      await this.applyFaults(ctx, req, res);
      if (res.headersSent || res.destroyed) return;
      const request = {
        route: ctx.route,
        operation,
        pathParams,
        query,
        rawQuery: req.query,
        listId: ctx.listId,
        email: ctx.email,
        body,
        rawBytes: raw.length,
        isJson: Boolean(req.is('application/json')),
      } satisfies ApiRequest;
      send(res, rules.answer(request));
    } catch (error) {
      if (res.headersSent || res.destroyed) return;
      send(res, errorAnswer(error));
    } finally {
      if (writing !== undefined) probes.leaveWrite(writing);
      this.log(req, ctx, res);
    }
  }

  private async applyFaults(ctx: Context, req: Request, res: Response): Promise<void> {
    const action = this.parts.chaos.next(ctx.route, ctx.email);
    const delay = action.delayMs + (ctx.route === 'token' ? 0 : this.parts.knobs.latencyMs);
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

  private log(req: Request, ctx: Context, res: Response): void {
    const reset = res.locals.reset === true;
    this.parts.probes.record({
      at: new Date(ctx.started).toISOString(),
      method: req.method,
      route: ctx.route,
      path: req.path,
      listId: ctx.listId,
      email: ctx.email,
      query: ctx.query,
      // Token requests carry the client secret: never logged.
      body: ctx.route === 'token' ? undefined : ctx.body,
      status: reset ? 0 : res.statusCode,
      error: reset ? 'CONNECTION_RESET' : undefined,
      durationMs: Date.now() - ctx.started,
    } satisfies LoggedRequest);
  }
}

function send(res: Response, answer: Answer): void {
  res.status(answer.status).json(answer.body);
}

function parseLeniently(raw: Buffer): unknown {
  if (raw.length === 0) return undefined;
  try {
    return JSON.parse(raw.toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}
