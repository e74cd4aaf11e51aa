import { randomUUID } from 'node:crypto';
import { SlidingWindowLimiter, PRIVACY_RATE_LIMITS } from '../../listrak/rate-limiter';
import { ListrakAnswer, type Answer, type ListrakRules } from './rules';

/** One forget request the sandbox's Privacy API holds. */
export interface SandboxForgetRequest {
  requestId: string;
  email: string;
  clientId: string;
  submittedDate: string;
  processedDate: string | null;
  status: 'PROCESSING' | 'COMPLETE';
  /** Status requests answered so far. */
  polls: number;
}

/**
 * Listrak's Privacy API as privacy-api-swagger.json describes it (base /privacy): POST /v1/Forget
 * {emailAddress} answers 201 with a resourceId; GET /v1/Forget/{requestId} answers its status,
 * PROCESSING until `pollsUntilComplete` status requests were made, then COMPLETE (the contact is
 * then gone from every list). Only integrations of type Privacy get in, and each is held to the
 * published limits (20 requests per 10 seconds, 60 per minute): beyond them, 429.
 */
export class SandboxPrivacy {
  readonly requests = new Map<string, SandboxForgetRequest>();
  /** Requests refused with 429, per client (tests read it to show the service kept to the limit). */
  readonly rateLimited = new Map<string, number>();
  private readonly limiters = new Map<string, SlidingWindowLimiter>();

  constructor(
    private readonly rules: ListrakRules,
    private readonly knobs: { readonly privacyPollsUntilComplete: number },
  ) {}

  /** Answers a request under /privacy; `path` is what follows it. Sets `email` on the context it is about. */
  answer(method: string, path: string, authorization: string | undefined, body: unknown, ctx: { email?: string }): Answer & { retryAfterSeconds?: number } {
    const client = this.rules.clientOf(authorization);
    if (client.integrationType !== 'Privacy') {
      throw new ListrakAnswer(401, 'ERROR_UNAUTHORIZED', 'Invalid access token, inactive integration, insufficient access level, unauthorized IP address.');
    }
    let limiter = this.limiters.get(client.clientId);
    if (!limiter) {
      limiter = new SlidingWindowLimiter(PRIVACY_RATE_LIMITS);
      this.limiters.set(client.clientId, limiter);
    }
    const admission = limiter.tryAcquire();
    if (!admission.admitted) {
      this.rateLimited.set(client.clientId, (this.rateLimited.get(client.clientId) ?? 0) + 1);
      return {
        status: 429,
        body: { status: 429, error: 'ERROR_TOO_MANY_REQUESTS', message: 'Rate limit exceeded: 20 requests per 10 seconds, 60 per minute.' },
        retryAfterSeconds: Math.ceil(admission.retryAfterMs / 1000),
      };
    }
    if (path === '/v1/Forget') {
      if (method !== 'POST') throw new ListrakAnswer(405, 'ERROR_UNSUPPORTED_METHOD', 'Valid route supplied with an invalid HTTP method.');
      const email = (body as { emailAddress?: unknown } | undefined)?.emailAddress;
      if (typeof email !== 'string' || !/^[^@\s]+@[^@\s]+$/.test(email.trim())) {
        throw new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', 'An invalid value was supplied for emailAddress.');
      }
      const request: SandboxForgetRequest = {
        requestId: randomUUID(),
        email: email.trim().toLowerCase(),
        clientId: client.clientId,
        submittedDate: new Date().toISOString(),
        processedDate: null,
        status: 'PROCESSING',
        polls: 0,
      };
      ctx.email = request.email;
      this.requests.set(request.requestId, request);
      return { status: 201, body: { status: 201, resourceId: request.requestId } };
    }
    const match = /^\/v1\/Forget\/([^/]+)$/.exec(path);
    if (!match) throw new ListrakAnswer(404, 'ERROR_UNKNOWN_ROUTE', 'Invalid route was supplied.');
    if (method !== 'GET') throw new ListrakAnswer(405, 'ERROR_UNSUPPORTED_METHOD', 'Valid route supplied with an invalid HTTP method.');
    const request = this.requests.get(decodeURIComponent(match[1]!));
    if (!request || request.clientId !== client.clientId) throw new ListrakAnswer(404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Valid route was supplied with invalid resource IDs.');
    ctx.email = request.email;
    request.polls++;
    if (request.status === 'PROCESSING' && request.polls >= this.knobs.privacyPollsUntilComplete) {
      request.status = 'COMPLETE';
      request.processedDate = new Date().toISOString();
      // Listrak forgot the contact: it is in no list any more.
      for (const contacts of this.rules.contacts.values()) contacts.delete(request.email);
    }
    const { requestId, status, submittedDate, processedDate } = request;
    return { status: 200, body: { status: 200, data: { requestID: requestId, status, submittedDate, processedDate } } };
  }
}
