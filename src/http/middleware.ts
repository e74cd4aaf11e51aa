import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { trace } from '@opentelemetry/api';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import { TemporalUnavailableError } from '../consent/intake';
import { loggablePath } from '../observability/log';
import { bearerMatches } from './bearer';
import { RETRY_AFTER_SECONDS, sendProblem } from './problem';

/**
 * One access-log line per request, with its request id (taken from X-Request-Id or made here, and
 * sent back in that header); `req.log` carries the id into every line a handler writes. Paths are
 * logged as the route matched (`/consents/[email]`), or masked where none did: never an address,
 * however spelt.
 */
export function accessLog(log: Logger): RequestHandler[] {
  return [
    pinoHttp({
      logger: log,
      genReqId: (req: IncomingMessage, res: ServerResponse) => {
        const given = req.headers['x-request-id'];
        const requestId = (typeof given === 'string' ? given.slice(0, 100) : '') || randomUUID();
        res.setHeader('x-request-id', requestId);
        return requestId;
      },
      // The request is described when its answer is finished, not when it arrives (pino-http
      // serialises its `req` binding at the start, before a route has matched): the matched route
      // is known only then. The start-time binding is dropped.
      customAttributeKeys: { reqId: 'requestId', req: 'incoming' },
      quietReqLogger: true,
      serializers: {
        incoming: () => undefined,
        res: (res: { statusCode: number }) => ({ status: res.statusCode }),
      },
      customSuccessObject: (req, _res, value: object) => ({ ...value, req: accessRequest(req) }),
      customErrorObject: (req, _res, _error, value: object) => ({ ...value, req: accessRequest(req) }),
      // Health checks and scrapes are too frequent to log at info.
      customLogLevel: (req, res, error) =>
        error || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : /^\/(healthz|readyz|metrics)$/.test(req.url ?? '') ? 'debug' : 'info',
    }),
    (req, res, next) => {
      res.locals.requestId = req.id as string;
      next();
    },
  ];
}

/**
 * Names the request's trace span by its route (`GET /consents/:email`: never the address), and
 * notes the route for the access log. The HTTP instrumentation alone names server spans by method
 * only; the Express instrumentation that would do this supports Express 5 only in an
 * OpenTelemetry line the Temporal interceptors do not support yet. A no-op for the span when
 * tracing is off. Put it first in each route's handlers: `req.route` is set only inside a route.
 */
export function traced(req: Request, _res: Response, next: NextFunction): void {
  const span = trace.getActiveSpan();
  const route = (req.route as { path?: unknown } | undefined)?.path;
  // For the access log, written when the answer is finished, when Express has left the route.
  if (typeof route === 'string') matchedRoutes.set(req, route);
  if (span && typeof route === 'string') {
    span.updateName(`${req.method} ${route}`);
    span.setAttribute('http.route', route);
  }
  next();
}

/** The route each request matched (set by `traced`), for its access-log line. */
const matchedRoutes = new WeakMap<object, string>();

/** The access log's description of a request: its method and the route, or the masked path. */
function accessRequest(req: IncomingMessage): { method: string | undefined; path: string } {
  return { method: req.method, path: loggablePath(req.url ?? '', matchedRoutes.get(req)) };
}

/** Lets a request through with `Authorization: Bearer <token>`, or any request when no token is set. */
export function bearerGuard(token: string | undefined, hint: string): RequestHandler {
  return (req, res, next) => {
    // No token: development without ADMIN_TOKEN / METRICS_TOKEN, warned about at start-up.
    if (token === undefined || bearerMatches(req.get('authorization'), token)) {
      next();
      return;
    }
    sendProblem(res, 401, 'unauthorized', hint);
  };
}

/** The answer to a path no route matched. */
export function notFound(_req: Request, res: Response): void {
  sendProblem(res, 404, 'not_found', 'no such route');
}

/** The last handler: a client error Express or a parser raised, Temporal away, or a bug (logged, answered 500). */
export function errorHandler(error: unknown, req: Request, res: Response, _next: NextFunction): void {
  const status = (error as { status?: unknown }).status;
  if (typeof status === 'number' && status >= 400 && status < 500) {
    sendProblem(res, status, 'bad_request', (error as Error).message);
    return;
  }
  if (error instanceof TemporalUnavailableError) {
    res.set('retry-after', String(RETRY_AFTER_SECONDS));
    sendProblem(res, 503, 'temporal_unavailable', 'Temporal could not be reached; retry later');
    return;
  }
  req.log.error({ error: (error as Error)?.message }, 'unhandled error');
  sendProblem(res, 500, 'internal_error', 'unexpected error; see the service log for the request id');
}
