import type { Response } from 'express';

/** Extole retries after 1 s, then 1 h: ask for a quick retry when Temporal is briefly away. */
export const RETRY_AFTER_SECONDS = 30;

/** The one way an error is answered: its code, a message for people, the request id, and what else the caller needs. */
export function sendError(res: Response, status: number, error: string, message: string, extra: Record<string, unknown> = {}): void {
  res.status(status).json({ error, message, ...extra, requestId: res.locals.requestId as string });
}
