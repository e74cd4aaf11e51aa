import type { ListrakTarget } from '../config/config';
import {
  ListrakError,
  ListrakTokenError,
  listrakErrorFromResponse,
  listrakNetworkError,
} from './errors';
import { mayRetryQuickly } from './retry-policy';

/** Listrak's `Contact` resource, as far as this service reads or writes it. */
export interface ListrakContact {
  emailAddress: string;
  subscriptionState?: 'Subscribed' | 'Unsubscribed';
  subscribeDate?: string;
  resubscribeDate?: string;
  unsubscribeDate?: string;
  unsubscribeMethod?: string;
  subscribeMethod?: string;
  segmentationFieldValues: { segmentationFieldId: number; value: string }[];
}

/** What the service reads of a list (GET /List/{listId}; Listrak answers more). */
export interface ListrakList {
  listId?: number;
  listName?: string;
  /** Whether the list itself asks new contacts to confirm. */
  enableDoubleOptIn?: boolean;
}

export interface ListrakField {
  segmentationFieldId: number;
  segmentationFieldName: string;
  maxLength: number;
  /** `Text`, `Numeric`, `RadioButton`, `CheckBox`, `CommentArea`, `Date` or `ContentBlock` (Listrak's SegmentationField). */
  dataType?: string;
  /** Not in Listrak's contract; the sandbox reports switched-off fields this way. */
  disabled?: boolean;
}

export interface ListrakEvent {
  eventId: number;
  eventName: string;
  status?: 'Active' | 'Blocked';
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Called before every HTTP request (activities heartbeat here, so long retries stay visible). */
  progress?: () => void;
}

export interface UpsertOptions extends CallOptions {
  eventIds?: number[];
  overrideUnsubscribe?: boolean;
  /** Listrak sends its double opt-in email when the write creates the contact; it stays pending until confirmed. */
  sendDoubleOptIn?: boolean;
}

/** Contact_GetContactCollection's parameters: which contacts, from which cursor, how many. */
export interface ContactPageQuery {
  subscriptionState: 'Subscribed' | 'Unsubscribed';
  /** Inclusive bounds on the unsubscribe date (Unsubscribed) or the original subscribe date (Subscribed). */
  startDate?: string | undefined;
  endDate?: string | undefined;
  /** `Start` (the default) or the previous page's nextCursor. */
  cursor?: string | undefined;
  /** 1 to 5000 (Listrak's default 1000). */
  count?: number | undefined;
  /** Profile fields the contacts carry (up to 30); none when empty. */
  segmentationFieldIds?: number[] | undefined;
}

/** One page of the collection and the cursor of the next one (undefined after the last page). */
export interface ContactPage {
  contacts: ListrakContact[];
  nextCursor: string | undefined;
}

/** Receives what the client observes (the worker feeds it into Prometheus metrics). */
export interface ListrakObserver {
  /** One HTTP request: status 0 when no answer came (timeout, refused, reset). */
  request(operation: string, status: number, seconds: number): void;
  error(operation: string, code: string): void;
  token(result: 'issued' | 'refused' | 'failed'): void;
}

export interface ListrakClientOptions {
  authUrl: string;
  apiUrl: string;
  /** Per-request timeout; a timeout counts as a transient failure. */
  timeoutMs?: number;
  /** Renew a token this long before Listrak says it expires (capped at a fifth of its lifetime). */
  refreshMarginMs?: number;
  /** In-process retries of a transient failure before the activity's durable retry takes over. */
  quickRetries?: number;
  observer?: ListrakObserver;
}

interface CachedToken {
  accessToken: string;
  expiresAtMs: number;
  refreshAtMs: number;
}

/** An integration's credentials: the Email API's lists carry them, the Privacy integration is one of its own. */
export type ListrakCredentials = Pick<ListrakTarget, 'clientId' | 'clientSecret'>;

/** Listrak's Privacy API's answer of a forget request's status (Forget_GetForgetRequest). */
export interface ForgetRequestStatus {
  /** PROCESSING or COMPLETE. */
  status: string;
  submittedDate?: string;
  processedDate?: string | null;
}

export interface ListrakClientStats {
  tokenRequests: number;
  apiRequests: number;
}

/**
 * Listrak Email API client. Tokens are cached per credential in this process, renewed before
 * expiry and once after a 401; concurrent callers share one token request. Tokens never leave
 * this module: errors carry codes and statuses only.
 */
export class ListrakClient {
  readonly stats: ListrakClientStats = { tokenRequests: 0, apiRequests: 0 };
  private readonly tokens = new Map<string, CachedToken>();
  private readonly tokenRequests = new Map<string, Promise<CachedToken>>();
  private readonly timeoutMs: number;
  private readonly refreshMarginMs: number;
  private readonly quickRetries: number;

  constructor(private readonly options: ListrakClientOptions) {
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.refreshMarginMs = options.refreshMarginMs ?? 60_000;
    this.quickRetries = options.quickRetries ?? 2;
  }

  /** Reads a contact of a list; undefined when Listrak has never seen the address on that list. */
  async getContact(target: ListrakTarget, email: string, options: CallOptions = {}): Promise<ListrakContact | undefined> {
    const operation = 'GET /List/{listId}/Contact/{email}';
    const path = `/List/${target.listId}/Contact/${encodeURIComponent(email)}`;
    try {
      const body = (await this.request(target, 'GET', path, operation, options)) as { data?: ListrakContact };
      return body.data;
    } catch (error) {
      // A missing contact answers 404 ERROR_UNABLE_TO_LOCATE_RESOURCE, like a missing list; the
      // write that follows tells an unknown list apart.
      if (error instanceof ListrakError && error.status === 404) return undefined;
      throw error;
    }
  }

  /** Contact_PostContactResource: creates or updates the contact keyed by its email address. */
  async upsertContact(target: ListrakTarget, contact: ListrakContact, options: UpsertOptions = {}): Promise<string> {
    const query = new URLSearchParams();
    if (options.eventIds && options.eventIds.length > 0) query.set('eventIds', options.eventIds.join(','));
    if (options.overrideUnsubscribe) query.set('overrideUnsubscribe', 'true');
    if (options.sendDoubleOptIn) query.set('sendDoubleOptIn', 'true');
    const search = query.size > 0 ? `?${query.toString()}` : '';
    const body = (await this.request(
      target,
      'POST',
      `/List/${target.listId}/Contact${search}`,
      'POST /List/{listId}/Contact',
      { body: contact, signal: options.signal, progress: options.progress },
    )) as { resourceId?: string };
    return String(body.resourceId ?? '');
  }

  /** Contact_GetContactCollection: one page of the list's contacts. */
  async getContactPage(target: ListrakTarget, query: ContactPageQuery, options: CallOptions = {}): Promise<ContactPage> {
    const search = new URLSearchParams({ subscriptionState: query.subscriptionState, cursor: query.cursor ?? 'Start' });
    if (query.startDate !== undefined) search.set('startDate', query.startDate);
    if (query.endDate !== undefined) search.set('endDate', query.endDate);
    if (query.count !== undefined) search.set('count', String(query.count));
    if (query.segmentationFieldIds !== undefined) search.set('segmentationFieldIds', query.segmentationFieldIds.join(','));
    const body = (await this.request(target, 'GET', `/List/${target.listId}/Contact?${search.toString()}`, 'GET /List/{listId}/Contact', options)) as {
      data?: ListrakContact[];
      nextPageCursor?: string | null;
    };
    // The last page carries no cursor (null, absent or empty).
    return { contacts: body.data ?? [], nextCursor: body.nextPageCursor || undefined };
  }

  /** Every page of the collection, one at a time (never the whole list in memory). */
  async *contactPages(target: ListrakTarget, query: ContactPageQuery, options: CallOptions = {}): AsyncGenerator<ContactPage> {
    let cursor = query.cursor;
    do {
      const page = await this.getContactPage(target, { ...query, cursor }, options);
      yield page;
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  /** List_GetListResourceById. */
  async getList(target: ListrakTarget, options: CallOptions = {}): Promise<ListrakList | undefined> {
    const body = (await this.request(target, 'GET', `/List/${target.listId}`, 'GET /List/{listId}', options)) as {
      data?: ListrakList;
    };
    return body.data;
  }

  /** Every profile (segmentation) field of the list, across its field groups. */
  async getSegmentationFields(target: ListrakTarget): Promise<ListrakField[]> {
    const groups = (await this.request(target, 'GET', `/List/${target.listId}/SegmentationFieldGroup`, 'GET /List/{listId}/SegmentationFieldGroup', {})) as {
      data?: { segmentationFieldGroupId: number }[];
    };
    const fields: ListrakField[] = [];
    for (const group of groups.data ?? []) {
      const body = (await this.request(
        target,
        'GET',
        `/List/${target.listId}/SegmentationFieldGroup/${group.segmentationFieldGroupId}/SegmentationField`,
        'GET /List/{listId}/SegmentationFieldGroup/{groupId}/SegmentationField',
        {},
      )) as { data?: ListrakField[] };
      fields.push(...(body.data ?? []));
    }
    return fields;
  }

  /**
   * Privacy API (a client whose apiUrl is the Privacy base, e.g. https://api.listrak.com/privacy):
   * Forget_PostForgetRequest queues the erasure of a contact; its resourceId names the request.
   */
  async requestForget(credentials: ListrakCredentials, email: string, options: CallOptions = {}): Promise<string> {
    const body = (await this.request(credentials, 'POST', '/v1/Forget', 'POST /v1/Forget', { body: { emailAddress: email }, ...options })) as {
      resourceId?: unknown;
    };
    if (typeof body.resourceId !== 'string' || body.resourceId === '') {
      throw listrakErrorFromResponse(502, { error: 'ERROR_UNHANDLED_EXCEPTION', message: 'no resourceId in the forget answer' }, 'POST /v1/Forget');
    }
    return body.resourceId;
  }

  /** Privacy API: Forget_GetForgetRequest, the status of a forget request. */
  async forgetStatus(credentials: ListrakCredentials, requestId: string, options: CallOptions = {}): Promise<ForgetRequestStatus> {
    const body = (await this.request(credentials, 'GET', `/v1/Forget/${encodeURIComponent(requestId)}`, 'GET /v1/Forget/{requestId}', options)) as {
      data?: { status?: unknown; submittedDate?: unknown; processedDate?: unknown };
    };
    const data = body.data ?? {};
    const answer: ForgetRequestStatus = { status: typeof data.status === 'string' ? data.status : 'UNKNOWN' };
    if (typeof data.submittedDate === 'string') answer.submittedDate = data.submittedDate;
    if (typeof data.processedDate === 'string' || data.processedDate === null) answer.processedDate = data.processedDate;
    return answer;
  }

  /** Event_GetEventCollection: the events that can be raised on the list. */
  async getEvents(target: ListrakTarget): Promise<ListrakEvent[]> {
    const body = (await this.request(target, 'GET', `/List/${target.listId}/Event`, 'GET /List/{listId}/Event', {})) as { data?: ListrakEvent[] };
    return body.data ?? [];
  }

  private async request(
    target: ListrakCredentials,
    method: 'GET' | 'POST',
    path: string,
    operation: string,
    { body, signal, progress }: { body?: unknown; signal?: AbortSignal | undefined; progress?: (() => void) | undefined },
  ): Promise<unknown> {
    let quickRetries = 0;
    /** The token fetched because the previous one was refused. */
    let replacement: CachedToken | undefined;
    let refusals = 0;
    for (;;) {
      progress?.();
      // Asked before every send: after a pause the cached token may be due for renewal.
      const token = await this.token(target, signal);
      let response: Response;
      try {
        const headers: Record<string, string> = { authorization: `Bearer ${token.accessToken}`, accept: 'application/json' };
        if (body !== undefined) headers['content-type'] = 'application/json';
        response = await this.fetch(operation, `${this.options.apiUrl}${path}`, signal, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
        } satisfies RequestInit);
      } catch (error) {
        this.stats.apiRequests++;
        if (error instanceof ListrakError) this.options.observer?.error(operation, error.code);
        if (error instanceof ListrakError && this.mayRepeat(method, error, quickRetries)) {
          await pause(quickRetries++, signal);
          continue;
        }
        throw error;
      }
      this.stats.apiRequests++;
      const payload = await readJson(response);
      if (response.ok) return payload;
      const error = listrakErrorFromResponse(response.status, payload, operation);
      this.options.observer?.error(operation, error.code);
      if (this.mayRepeat(method, error, quickRetries)) {
        await pause(quickRetries++, signal);
        continue;
      }
      if (error.kind !== 'token') throw error;
      this.forget(target, token);
      // A replacement token refused while it should still be valid: an operator problem. (An
      // expired or revoked token is simply replaced, once per refusal.)
      if ((token === replacement && Date.now() < token.expiresAtMs - 1_000) || ++refusals > 3) {
        throw new ListrakTokenError(`${operation}: a fresh access token was refused too; ${error.message}`, {
          status: error.status,
          code: error.code,
          operation,
        });
      }
      replacement = await this.token(target, signal);
    }
  }

  /** A short in-process retry before the activity's durable, backed-off one (./retry-policy.ts decides when). */
  private mayRepeat(method: 'GET' | 'POST', error: ListrakError, done: number): boolean {
    return mayRetryQuickly(method, error, done, this.quickRetries);
  }

  private async token(target: ListrakCredentials, signal: AbortSignal | undefined): Promise<CachedToken> {
    const key = credentialKey(target);
    const cached = this.tokens.get(key);
    if (cached && Date.now() < cached.refreshAtMs) return cached;
    let pending = this.tokenRequests.get(key);
    if (!pending) {
      pending = this.requestToken(target, signal).finally(() => this.tokenRequests.delete(key));
      this.tokenRequests.set(key, pending);
    }
    const token = await pending;
    this.tokens.set(key, token);
    return token;
  }

  private forget(target: ListrakCredentials, token: CachedToken): void {
    const key = credentialKey(target);
    if (this.tokens.get(key) === token) this.tokens.delete(key);
  }

  private async requestToken(target: ListrakCredentials, signal: AbortSignal | undefined): Promise<CachedToken> {
    const operation = 'POST /OAuth2/Token';
    const startedAt = Date.now();
    const response = await this.fetch(operation, this.options.authUrl, signal, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: target.clientId,
        client_secret: target.clientSecret,
      }).toString(),
    });
    this.stats.tokenRequests++;
    const payload = (await readJson(response)) as { access_token?: unknown; expires_in?: unknown };
    this.options.observer?.token(response.ok ? 'issued' : response.status === 400 || response.status === 401 ? 'refused' : 'failed');
    if (!response.ok) {
      const error = listrakErrorFromResponse(response.status, payload, operation);
      // A refused token request is never cured by a new token: treat it as an operator problem.
      if (error.kind === 'token') {
        throw listrakErrorFromResponse(response.status, { ...(payload as object), error: 'ERROR_INVALID_CREDENTIALS' }, operation);
      }
      throw error;
    }
    if (typeof payload.access_token !== 'string' || payload.access_token === '') {
      throw listrakErrorFromResponse(502, { error: 'ERROR_UNHANDLED_EXCEPTION', message: 'no access_token' }, operation);
    }
    const lifetimeMs = (typeof payload.expires_in === 'number' && payload.expires_in > 0 ? payload.expires_in : 3600) * 1000;
    const margin = Math.min(this.refreshMarginMs, lifetimeMs / 5);
    return {
      accessToken: payload.access_token,
      expiresAtMs: startedAt + lifetimeMs,
      refreshAtMs: startedAt + lifetimeMs - margin,
    };
  }

  private async fetch(
    operation: string,
    url: string,
    signal: AbortSignal | undefined,
    init: RequestInit,
  ): Promise<Response> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    const startedAt = performance.now();
    const observe = (status: number) => this.options.observer?.request(operation, status, (performance.now() - startedAt) / 1000);
    try {
      const response = await fetch(url, { ...init, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
      observe(response.status);
      return response;
    } catch (error) {
      observe(0);
      if (signal?.aborted) throw signal.reason;
      throw listrakNetworkError(operation, error);
    }
  }
}

/** 150 ms, 450 ms (with jitter): enough to ride out a blip, short enough to stay inside an attempt. */
async function pause(retry: number, signal: AbortSignal | undefined): Promise<void> {
  const ms = 150 * 3 ** retry * (0.75 + Math.random() / 2);
  await new Promise((resolve) => setTimeout(resolve, ms));
  if (signal?.aborted) throw signal.reason;
}

function credentialKey(target: ListrakCredentials): string {
  return target.clientId;
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  if (text === '') return {};
  try {
    return JSON.parse(text);
  } catch {
    return { message: text.slice(0, 200) };
  }
}
