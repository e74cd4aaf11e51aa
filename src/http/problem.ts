import type { Response } from 'express';
import { loggablePath } from '../observability/log';
import type { Problem } from './contract';

/** Extole retries after 1 s, then 1 h: ask for a quick retry when Temporal is briefly away. */
export const RETRY_AFTER_SECONDS = 30;

/** Every kind of error the API answers, with its title (the same for every problem of the kind). */
export const PROBLEM_TITLES = {
  bad_request: 'The request could not be read',
  unauthorized: 'Credentials missing or wrong',
  not_found: 'Not found',
  invalid_json: 'The body is not valid JSON',
  invalid_events: 'No event of the request could be recorded',
  invalid_limit: 'Invalid limit',
  invalid_environment: 'Invalid environment',
  not_parked: 'The change is not parked',
  ambiguous: 'Several changes carry this event id',
  invalid_body: 'The body is not what the route takes',
  forget_in_progress: 'A forget of this person is under way',
  rate_limited: 'Too many requests',
  listrak_refused: 'Listrak did not take the request',
  payload_too_large: 'The body is too large',
  unsupported_media_type: 'The body is not JSON',
  not_ready: 'Not ready',
  temporal_unavailable: 'Temporal unavailable',
  internal_error: 'Unexpected error',
} as const;
export type ProblemCode = keyof typeof PROBLEM_TITLES;

/** The `type` of a problem: a tag URI (RFC 4151), which names the kind and is not a page to fetch. */
export const problemType = (code: ProblemCode) => `tag:listrak-consent-sync,2026:problem:${code}`;

export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** Members a problem may carry beside the standard ones (`Problem` in ./contract). */
export type ProblemExtensions = Omit<Problem, 'type' | 'title' | 'status' | 'detail' | 'instance' | 'requestId' | 'error'>;

/**
 * The one way an error is answered: RFC 9457 problem details with the code (`error`, the end of
 * `type`), the request id (also in X-Request-Id), and what else the caller needs to act.
 * `instance` is the path as the access log writes it: an address in it is masked.
 */
export function sendProblem<E extends object = ProblemExtensions>(
  res: Response,
  status: number,
  code: ProblemCode,
  detail: string,
  extensions?: E,
): void {
  const body = {
    type: problemType(code),
    title: PROBLEM_TITLES[code],
    status,
    detail,
    instance: encodeURI(loggablePath(res.req.originalUrl)),
    ...extensions,
    requestId: res.locals.requestId as string,
    error: code,
  };
  res.status(status).type(PROBLEM_MEDIA_TYPE).json(body);
}
