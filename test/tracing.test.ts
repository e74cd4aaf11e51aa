import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { changeWorkflowIdFor } from '../src/consent/intake';
import { signExtolePayload } from '../src/http/webhook-auth';
import { ADMIN_TOKEN, Cluster, WEBHOOK_SECRET } from '../src/dev/cluster';

// OpenTelemetry with OTEL_EXPORTER_OTLP_ENDPOINT set: the API and worker processes export spans
// (OTLP over HTTP, JSON) to a collector stand-in, and one webhook is one trace from the HTTP
// request through the ledger and change workflows to the Listrak activity.

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes?: { key: string; value: Record<string, unknown> }[];
}

describe('tracing (OpenTelemetry, on when OTEL_EXPORTER_OTLP_ENDPOINT is set)', { timeout: 180_000 }, () => {
  const spans: Span[] = [];
  const bodies: string[] = [];
  const collector = http.createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      bodies.push(body);
      if (req.url === '/v1/traces' && req.headers['content-type']?.includes('json')) {
        const parsed = JSON.parse(body) as { resourceSpans?: { scopeSpans?: { spans?: Span[] }[] }[] };
        for (const resource of parsed.resourceSpans ?? []) for (const scope of resource.scopeSpans ?? []) spans.push(...(scope.spans ?? []));
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  let cluster: Cluster;

  before(async () => {
    await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
    cluster = new Cluster({
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
    });
    await cluster.start();
  });
  after(async () => {
    await cluster?.close();
    cluster?.remove();
    collector.close();
  });

  it('one trace runs from the webhook through both workflows to the Listrak activity, with no email in it', async () => {
    const email = `traced.${Date.now()}@example.com`;
    const eventId = `traced-${Date.now()}`;
    const body = JSON.stringify({ event_id: eventId, event_time: new Date().toISOString(), type: 'opt_in', email });
    const response = await fetch(`${cluster.apiUrl}/webhooks/extole`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, body) },
      body,
    });
    assert.equal(response.status, 200);
    await fetch(`${cluster.apiUrl}/consents/${encodeURIComponent(email)}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
    const handle = cluster.client.workflow.getHandle(changeWorkflowIdFor(cluster.config, 'production', email, eventId));
    await cluster.waitFor(() => handle.describe().then(() => true), 30_000, 'the change workflow');
    await handle.result();

    const named = (pattern: RegExp) => spans.filter((span) => pattern.test(span.name));
    await cluster.waitFor(() => named(/^RunActivity:applyConsentChange$/).length > 0 && named(/^POST \/webhooks\/extole$/).length > 0, 30_000, 'the spans to be exported');
    const [webhook] = named(/^POST \/webhooks\/extole$/);
    const trace = spans.filter((span) => span.traceId === webhook!.traceId).map((span) => span.name);
    for (const expected of [
      'POST /webhooks/extole',
      'SignalWithStartWorkflow:consentLedgerWorkflow',
      // The ledger's own RunWorkflow span never ends (it runs for as long as the person exists).
      'HandleSignal:consentChange',
      'StartChildWorkflow:applyConsentChangeWorkflow',
      'RunWorkflow:applyConsentChangeWorkflow',
      'StartActivity:applyConsentChange',
      'RunActivity:applyConsentChange',
    ]) {
      assert.ok(trace.includes(expected), `${expected} is in the webhook's trace (has: ${[...new Set(trace)].join(', ')})`);
    }
    await cluster.waitFor(() => named(/^GET \/consents\/:email$/).length > 0, 10_000, 'the status lookup span');
    const exported = bodies.join('\n');
    assert.ok(!exported.includes(email) && !exported.includes(encodeURIComponent(email)), 'no email address in any exported span');
    assert.ok(!exported.includes('sandbox-secret') && !exported.includes('reliability-admin-token'), 'no secret in any exported span');
  });
});
