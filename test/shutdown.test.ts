import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { changeWorkflowIdFor } from '../src/consent/intake';
import { signExtolePayload } from '../src/http/webhook-auth';
import type { ChangeResult } from '../workflows/apply-change';
import { ADMIN_TOKEN, Cluster, WEBHOOK_SECRET } from '../src/dev/cluster';

// Separate processes, as in production: SIGTERM (what Docker, Kubernetes and systemd send) must let
// running work finish instead of cutting it off. Also what operators scrape and read from them.

const uniqueEmail = (label: string) => `${label}.${Math.random().toString(36).slice(2, 10)}@example.com`;

function logLines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** The result of a change workflow, once the ledger has started it. */
async function changeResult(cluster: Cluster, email: string, eventId: string): Promise<ChangeResult> {
  const handle = cluster.client.workflow.getHandle(changeWorkflowIdFor(cluster.config, 'production', email, eventId));
  await cluster.waitFor(() => handle.describe().then(() => true), 30_000, `the change workflow of ${eventId}`);
  return (await handle.result()) as ChangeResult;
}

describe('graceful shutdown, metrics and logs of the api and worker processes', { timeout: 300_000 }, () => {
  const cluster = new Cluster();

  before(async () => {
    await cluster.start();
  });
  after(async () => {
    await cluster.close();
    cluster.remove();
  });

  const post = async (event: Record<string, unknown>, requestId?: string) => {
    const body = JSON.stringify(event);
    const response = await fetch(`${cluster.apiUrl}/webhooks/extole`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, body),
        ...(requestId ? { 'x-request-id': requestId } : {}),
      },
      body,
    });
    return response.status;
  };

  it('a worker scrape shows outcome counters and the Temporal SDK metrics; logs are JSON with request ids and no emails', async () => {
    const email = uniqueEmail('scrape');
    const eventId = `scrape-${Date.now()}`;
    assert.equal(await post({ event_id: eventId, event_time: new Date().toISOString(), type: 'opt_in', email }, 'req-scrape-1'), 200);
    await changeResult(cluster, email, eventId);

    const workerLog = cluster.logFiles.find((file) => file.includes('worker'))!;
    const polling = logLines(workerLog).find((line) => line.msg === 'worker polling');
    assert.ok(polling, 'the worker logged its start as JSON');
    const text = await cluster.waitFor(async () => {
      const scraped = await (await fetch(`http://127.0.0.1:${String(polling.metricsPort)}/metrics`)).text();
      return /consent_change_outcomes_total\{environment="production",outcome="applied",list="production",route="default"\} [1-9]/.test(scraped);
    }, 10_000, 'the applied outcome in the worker metrics').then(() => fetch(`http://127.0.0.1:${String(polling.metricsPort)}/metrics`).then((response) => response.text()));
    assert.match(text, /listrak_request_duration_seconds_count\{operation="POST \/List\/\{listId\}\/Contact",status="20[01]"\}/);
    assert.match(text, /^temporal_[a-z_]+/m, 'the SDK runtime exporter is appended');
    const health = await fetch(`http://127.0.0.1:${String(polling.metricsPort)}/healthz`);
    assert.deepEqual([health.status, await health.json()], [200, { status: 'ok' }]);
    assert.match(text, /^temporal_activity_schedule_to_start_latency_bucket/m);
    assert.match(text, /^temporal_workflow_completed_total/m);

    const apiLog = logLines(cluster.logFiles.find((file) => file.includes('api'))!);
    const recorded = apiLog.find((line) => line.msg === 'webhook recorded' && line.requestId === 'req-scrape-1');
    assert.ok(recorded, 'the handler line carries the caller’s request id');
    assert.deepEqual(recorded.events, [eventId]);
    assert.match(String((recorded.workflowIds as string[])[0]), /^consent-ledger\/production\/1001\/[0-9a-f]+$/, 'the ledger workflow id, with the email hash');
    const access = apiLog.find((line) => line.msg === 'request completed' && line.requestId === 'req-scrape-1');
    assert.deepEqual(access?.req, { method: 'POST', path: '/webhooks/extole' });
    assert.equal((await fetch(`${cluster.apiUrl}/consents/${encodeURIComponent(email)}`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).status, 200);
    const apiLogFile = cluster.logFiles.find((file) => file.includes('api'))!;
    await cluster.waitFor(() => logLines(apiLogFile).some((line) => (line.req as { path?: string } | undefined)?.path === '/consents/[email]'), 5_000, 'the status lookup to be logged without the address');
    for (const file of cluster.logFiles) {
      const content = readFileSync(file, 'utf8');
      assert.ok(!content.includes(email), `${file} holds no email`);
      assert.ok(!content.includes('reliability-admin-token') && !content.includes('sandbox-secret'), `${file} holds no secret`);
    }
  });

  it('SIGTERM to a worker lets the running Listrak call finish; the change is not retried', async () => {
    const email = uniqueEmail('drain');
    const eventId = `drain-${Date.now()}`;
    cluster.sandbox.script({ route: 'upsert', email, delayMs: 4_000 });
    assert.equal(await post({ event_id: eventId, event_time: new Date().toISOString(), type: 'opt_in', email }), 200);
    await cluster.waitFor(() => cluster.sandbox.writesInFlight(email) > 0, 30_000, 'the write to reach Listrak');

    const [worker] = cluster.workers;
    assert.ok(worker, 'a worker runs');
    const signalledAt = Date.now();
    worker.child.kill('SIGTERM');
    await worker.exited;
    const exitedAfterMs = Date.now() - signalledAt;
    cluster.workers = cluster.workers.filter((candidate) => candidate !== worker);
    assert.equal(worker.child.exitCode, 0, 'a clean exit');
    assert.equal(cluster.sandbox.writesInFlight(email), 0, 'the worker waited for the answer before it exited');
    assert.ok(exitedAfterMs >= 2_000, `it waited for the slow write (${exitedAfterMs} ms)`);
    const writes = cluster.sandbox.requestsFor('upsert', email);
    assert.equal(writes.length, 1);
    assert.ok(writes[0]!.status >= 200 && writes[0]!.status < 300, `the write succeeded: ${JSON.stringify(writes[0])}`);
    const workerLog = cluster.logFiles.filter((file) => file.includes('worker')).at(-1)!;
    await cluster.waitFor(() => logLines(workerLog).some((line) => String(line.msg).startsWith('worker stopped')), 5_000, 'the worker to log its orderly stop');

    await cluster.startWorker();
    const result = await changeResult(cluster, email, eventId);
    assert.equal(result.outcome, 'applied');
    assert.equal('attempt' in result ? result.attempt : undefined, 1, 'the first attempt completed: no retry after the shutdown');
    assert.equal(cluster.sandbox.requestsFor('upsert', email).length, 1, 'one write in all');
    assert.equal(cluster.sandbox.contact(1001, email)?.subscriptionState, 'Subscribed');
  });

  it('a write slower than SHUTDOWN_GRACE_SECONDS is cancelled and handed back: the worker exits in time, the next one applies the change', async () => {
    const email = uniqueEmail('handback');
    const eventId = `handback-${Date.now()}`;
    for (const worker of cluster.workers) await worker.kill('SIGTERM');
    const impatient = await cluster.startWorker({ SHUTDOWN_GRACE_SECONDS: '1' });
    cluster.workers = [impatient];
    cluster.sandbox.script({ route: 'upsert', email, delayMs: 20_000, times: 1 });
    assert.equal(await post({ event_id: eventId, event_time: new Date().toISOString(), type: 'opt_in', email }), 200);
    await cluster.waitFor(() => cluster.sandbox.writesInFlight(email) > 0, 30_000, 'the write to reach Listrak');
    const signalledAt = Date.now();
    impatient.child.kill('SIGTERM');
    await impatient.exited;
    const exitedAfterMs = Date.now() - signalledAt;
    cluster.workers = [];
    assert.ok(exitedAfterMs < 18_000, `the worker stopped within grace + force time, not after the 20 s write (${exitedAfterMs} ms)`);

    await cluster.startWorker();
    const result = await changeResult(cluster, email, eventId);
    assert.equal(result.outcome, 'applied');
    assert.ok('attempt' in result && (result.attempt ?? 0) >= 2, 'a later attempt, on the new worker, applied it');
    assert.equal(cluster.sandbox.contact(1001, email)?.subscriptionState, 'Subscribed');
  });

  it('SIGTERM to the API answers the request in flight (recorded, 200), then exits; new connections are refused', async () => {
    const eventId = `inflight-${Date.now()}`;
    const email = uniqueEmail('inflight');
    const body = JSON.stringify({ event_id: eventId, event_time: new Date().toISOString(), type: 'opt_in', email });
    const url = new URL(`${cluster.apiUrl}/webhooks/extole`);
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(
        { host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, body) } },
        (response) => {
          let text = '';
          response.on('data', (chunk: Buffer) => (text += chunk.toString()));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        },
      );
      request.on('error', reject);
      // Half the body now; the rest after the API was told to stop.
      request.write(body.slice(0, 20));
      setTimeout(() => {
        api.child.kill('SIGTERM');
        setTimeout(() => request.end(body.slice(20)), 500);
      }, 300);
    });
    const api = cluster.api!;
    const { status, body: text } = await answer;
    assert.equal(status, 200, text);
    await api.exited;
    assert.equal(api.child.exitCode, 0);
    await assert.rejects(fetch(`${cluster.apiUrl}/healthz`), 'the port no longer accepts connections');
    const result = await changeResult(cluster, email, eventId);
    assert.equal(result.outcome, 'applied', 'the change answered 200 was recorded and applied');
    await cluster.startApi();
  });
});
