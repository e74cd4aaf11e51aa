import type { Config } from '../config/config';
import { listrakMetrics } from '../observability/metrics';
import { ListrakClient, type ListrakCredentials } from './client';
import { PRIVACY_PROCESS_SHARE, SlidingWindowLimiter } from './rate-limiter';

/** Listrak's Privacy API as one process uses it: its own client (base URL, token), credentials and rate limiter. */
export interface PrivacyApi {
  client: ListrakClient;
  credentials: ListrakCredentials;
  limiter: SlidingWindowLimiter;
}

/**
 * The Privacy API of this process, when an integration of type Privacy is configured
 * (LISTRAK_PRIVACY_CLIENT_ID/SECRET): the same token endpoint as the Email API, its own base URL
 * (LISTRAK_PRIVACY_API_URL) and a limiter holding this process's share of the published limits
 * (20 requests per 10 s and 60 per minute: half each for the API and the worker).
 */
export function privacyApiFor(config: Readonly<Config>): PrivacyApi | undefined {
  const privacy = config.listrak.privacy;
  if (!privacy) return undefined;
  return {
    client: new ListrakClient({
      authUrl: config.listrak.authUrl,
      apiUrl: privacy.apiUrl,
      timeoutMs: config.listrak.timeoutMs,
      // Every request passes the limiter: no in-process repeat around it (the activity retries, in turn).
      quickRetries: 0,
      observer: listrakMetrics,
    }),
    credentials: { clientId: privacy.clientId, clientSecret: privacy.clientSecret },
    limiter: new SlidingWindowLimiter(PRIVACY_PROCESS_SHARE),
  };
}
