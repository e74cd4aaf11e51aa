import type { Request, Response } from 'express';
import { registry } from '../observability/metrics';
import { bearerMatches } from './bearer';

/**
 * GET /metrics: this registry, followed by the Temporal SDK's own metrics when the process runs a
 * worker (the SDK runtime's Prometheus exporter, scraped locally so Prometheus needs one target).
 */
export function metricsHandler({ token, sdkMetricsUrl }: { token?: string | undefined; sdkMetricsUrl?: string | undefined }) {
  return async (req: Request, res: Response) => {
    if (token !== undefined && !bearerMatches(req.get('authorization'), token)) {
      res.status(401).json({ error: 'unauthorized', message: 'send Authorization: Bearer <METRICS_TOKEN>' });
      return;
    }
    let text = await registry.metrics();
    if (sdkMetricsUrl) {
      const sdk = await fetch(sdkMetricsUrl, { signal: AbortSignal.timeout(2_000) })
        .then((response) => (response.ok ? response.text() : ''))
        .catch(() => '');
      text += `\n${sdk}`;
    }
    res.set('content-type', registry.contentType).send(text);
  };
}
