import assert from 'node:assert/strict';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import type express from 'express';
import { pino } from 'pino';
import { loadConfig } from '../src/config/config';
import { createAuditTrail } from '../src/consent/export';
import { createTemporalIntake } from '../src/consent/intake';
import { createReconcileOverview } from '../src/consent/reconcile';
import { createOperations } from '../src/consent/status';
import { ADMIN_TOKEN, consentEvent, eventually, testEnv, uniqueEmail, uniqueId, waitForOutcome, WEBHOOK_SECRET } from '../src/dev/harness';
import { createApp } from '../src/http/app';
import { contractChecker } from '../src/http/contract-check';
import { ROUTES, openApiDocument } from '../src/http/openapi';
import { signExtolePayload } from '../src/http/webhook-auth';
import { checkReadiness } from '../src/temporal/readiness';
import { OPENAPI_FILE, openApiText } from '../scripts/openapi';
import { useHarness } from './helpers/use-harness';
import { createForgetter } from '../src/consent/forget';

const METRICS_TOKEN = 'test-metrics-token';
const DOCUMENT = openApiDocument() as { paths: Record<string, Record<string, { responses: Record<string, { content: Record<string, unknown> }> }>> };

const check = contractChecker(DOCUMENT);

/** The routes Express serves, as `METHOD /path` in the document's form (`:email` → `{email}`). */
function servedRoutes(app: express.Express): string[] {
  const found: string[] = [];
  const walk = (stack: { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: unknown[] } }[]) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const method of Object.keys(layer.route.methods)) found.push(`${method} ${layer.route.path.replace(/:(\w+)/g, '{$1}')}`);
      } else if (layer.handle?.stack) walk(layer.handle.stack as never);
    }
  };
  walk((app as unknown as { router: { stack: never } }).router.stack);
  return found.sort();
}

describe('the API contract (OpenAPI 3.1 from the zod schemas), checked against every answer of the real service', () => {
  const { harness, service } = useHarness({ METRICS_TOKEN });
  /** `method path status` of every answer checked. */
  const covered = new Set<string>();
  let downUrl: string;
  let downServer: http.Server;

  /** Sends a request, checks its answer against the document (status listed, media type, body, X-Request-Id), and returns it. */
  async function exchange(
    base: string,
    method: 'get' | 'post',
    template: string,
    path: string,
    init: { headers?: Record<string, string>; body?: string | Buffer; admin?: boolean } = {},
  ): Promise<{ status: number; body: any; headers: Headers }> {
    const headers = { ...(init.admin === false ? {} : { authorization: `Bearer ${ADMIN_TOKEN}` }), ...init.headers };
    const response = await fetch(`${base}${path}`, { method: method.toUpperCase(), headers, body: init.body ?? null });
    const text = await response.text();
    const matched = check({ method, path, status: response.status, contentType: response.headers.get('content-type') ?? '', text, requestId: response.headers.get('x-request-id') });
    assert.equal(matched.problem, undefined);
    assert.equal(matched.template, template, `${method.toUpperCase()} ${path}: matched the route ${template}`);
    const body = (response.headers.get('content-type') ?? '').includes('json') ? JSON.parse(text) : text;
    covered.add(`${method} ${template} ${response.status}`);
    return { status: response.status, body, headers: response.headers };
  }

  const signed = (raw: string | Buffer) => ({ 'content-type': 'application/json', 'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, raw) });
  const webhook = (raw: string | Buffer, headers: Record<string, string> = signed(raw), base = service().url) =>
    exchange(base, 'post', '/webhooks/extole', '/webhooks/extole', { body: raw, headers, admin: false });

  before(async () => {
    // The same API with Temporal out of reach: the 503s.
    const config = loadConfig(
      Object.fromEntries(Object.entries(testEnv(harness().sandboxUrls, { TEMPORAL_ADDRESS: '127.0.0.1:1' })).filter(([, value]) => value !== undefined)),
    );
    const client = new Client({ connection: Connection.lazy({ address: config.temporal.address }) });
    const operations = createOperations({ client, config, deadlineMs: 1_000 });
    const app = createApp({
      config,
      intake: createTemporalIntake({ client, config, deadlineMs: 1_000 }),
      operations,
      audit: createAuditTrail({ client, config, operations, deadlineMs: 1_000 }),
      reconciliation: createReconcileOverview({ client, config, deadlineMs: 1_000 }),
      forgetter: createForgetter({ client, config, deadlineMs: 1_000 }),
      readiness: () => checkReadiness(client, config.temporal.taskQueue, 1_000),
      // Its 503s are the point: keep their error lines out of the test output.
      logger: pino({ level: 'silent' }),
    });
    downServer = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => downServer.once('listening', resolve));
    downUrl = `http://127.0.0.1:${(downServer.address() as AddressInfo).port}`;
  });
  after(() => {
    // The lazy connection never connected; closing it races its own retry loop, so leave it.
    downServer?.close();
  });

  it('is written to docs/openapi.json (run `npx tsx scripts/openapi.ts` when this fails) and served at GET /openapi.json without a token', async () => {
    assert.equal(readFileSync(OPENAPI_FILE, 'utf8'), openApiText(), 'docs/openapi.json is stale: run `npx tsx scripts/openapi.ts`');
    const served = await exchange(service().url, 'get', '/openapi.json', '/openapi.json', { admin: false });
    assert.deepEqual(served.body, JSON.parse(openApiText()));
    assert.equal(served.body.openapi, '3.1.1');
  });

  it('documents exactly the routes Express serves', () => {
    const config = service().config;
    const client = harness().env.client;
    const operations = createOperations({ client, config });
    const app = createApp({
      config,
      intake: createTemporalIntake({ client, config }),
      operations,
      audit: createAuditTrail({ client, config, operations }),
      reconciliation: createReconcileOverview({ client, config }),
      forgetter: createForgetter({ client, config }),
      readiness: () => checkReadiness(client, config.temporal.taskQueue),
    });
    assert.deepEqual(servedRoutes(app), ROUTES.map((route) => `${route.method} ${route.path}`).sort());
  });

  it('the open routes: the live view, health, readiness (ready and not), metrics', async () => {
    await exchange(service().url, 'get', '/', '/', { admin: false });
    await exchange(service().url, 'get', '/healthz', '/healthz', { admin: false });
    await eventually(async () => (await fetch(`${service().url}/readyz`)).status === 200, 20_000, 'the worker to poll');
    await exchange(service().url, 'get', '/readyz', '/readyz', { admin: false });
    await exchange(service().url, 'get', '/readyz', '/readyz?scope=intake', { admin: false });
    const notReady = await exchange(downUrl, 'get', '/readyz', '/readyz', { admin: false });
    assert.deepEqual([notReady.status, notReady.body.error, notReady.body.temporal, notReady.body.ready], [503, 'not_ready', 'unreachable', false]);
    await exchange(service().url, 'get', '/metrics', '/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` }, admin: false });
    assert.equal((await exchange(service().url, 'get', '/metrics', '/metrics', { admin: false })).status, 401);
    const unknown = await fetch(`${service().url}/no/such/route`);
    assert.equal(unknown.status, 404);
    const outside = { method: 'GET', path: '/no/such/route', status: 404, contentType: unknown.headers.get('content-type') ?? '', text: await unknown.text(), requestId: unknown.headers.get('x-request-id') };
    assert.deepEqual(check(outside), { template: undefined }, 'an unknown path is answered a problem');
  });

  it('the webhook: 200 (whole and partial batch), 400, 401, 413, 415, 503', async () => {
    const whole = JSON.stringify([consentEvent('opt_in', uniqueEmail('oa-whole'), new Date())]);
    assert.equal((await webhook(whole)).status, 200);
    const partial = JSON.stringify([consentEvent('opt_in', uniqueEmail('oa-part'), new Date()), { ...consentEvent('opt_out', uniqueEmail('oa-bad'), new Date()), event_time: 'yesterday' }]);
    const partly = await webhook(partial);
    assert.equal(partly.status, 200);
    assert.equal(partly.headers.get('content-type')?.split(';')[0], 'application/json', 'a partial batch is not an error');
    assert.deepEqual(partly.body.rejected.map((problem: any) => [problem.index, problem.field, typeof problem.eventId]), [[1, 'event_time', 'string']]);
    const notJson = await webhook('{"event_id": ');
    assert.deepEqual([notJson.status, notJson.body.error], [400, 'invalid_json']);
    const invalid = JSON.stringify({ event_id: 'oa-1', type: 'opt_in' });
    const noEvent = await webhook(invalid);
    assert.deepEqual([noEvent.status, noEvent.body.error, noEvent.body.problems.map((problem: any) => problem.field).sort()], [400, 'invalid_events', ['email', 'event_time']]);
    assert.equal((await webhook(whole, { 'content-type': 'application/json', authorization: 'Bearer wrong' })).status, 401);
    const big = Buffer.alloc(1024 * 1024 + 10, ' ');
    assert.equal((await webhook(big, { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_SECRET}` })).status, 413);
    assert.equal((await webhook(whole, { 'content-type': 'text/plain', authorization: `Bearer ${WEBHOOK_SECRET}` })).status, 415);
    const encoded = await webhook(whole, { ...signed(whole), 'content-encoding': 'x-unknown' });
    assert.deepEqual([encoded.status, encoded.body.error], [415, 'bad_request']);
    const down = await webhook(whole, signed(whole), downUrl);
    assert.deepEqual([down.status, down.headers.get('retry-after')], [503, '30']);
  });

  it('the admin routes: 200, 400, 401, 404, 409 (not parked, ambiguous), 503', async () => {
    const base = service().url;
    const email = uniqueEmail('oa-person');
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    await service().post(optIn);
    assert.equal((await waitForOutcome(service(), email, String(optIn.event_id))).outcome, 'applied');
    const person = `/consents/${encodeURIComponent(email)}`;
    const nobody = `/consents/${encodeURIComponent(uniqueEmail('oa-nobody'))}`;
    for (const [template, path] of [['/consents/{email}', person], ['/consents/{email}/history', `${person}/history`]] as const) {
      assert.equal((await exchange(base, 'get', template, path)).status, 200);
      assert.equal((await exchange(base, 'get', template, path, { admin: false })).status, 401);
      assert.equal((await exchange(base, 'get', template, path.replace(person, nobody))).status, 404);
      assert.equal((await exchange(downUrl, 'get', template, path)).status, 503);
    }
    await eventually(async () => (await exchange(base, 'get', '/changes/recent', '/changes/recent?limit=20&environment=production')).body.changes.length > 0, 20_000, 'a recent change');
    assert.equal((await exchange(base, 'get', '/changes/recent', '/changes/recent?limit=0')).status, 400);
    assert.equal((await exchange(base, 'get', '/changes/recent', '/changes/recent?environment=qa')).status, 400);
    assert.equal((await exchange(base, 'get', '/changes/recent', '/changes/recent', { admin: false })).status, 401);
    assert.equal((await exchange(downUrl, 'get', '/changes/recent', '/changes/recent')).status, 503);
    assert.ok((await exchange(base, 'get', '/changes/refused', '/changes/refused?limit=500')).body.refused.length > 0);
    assert.equal((await exchange(base, 'get', '/changes/refused', '/changes/refused?limit=0')).status, 400);
    assert.equal((await exchange(base, 'get', '/changes/refused', '/changes/refused', { admin: false })).status, 401);
    assert.ok((await exchange(base, 'get', '/reconcile', '/reconcile?environment=production')).body.sweeps.length > 0);
    assert.equal((await exchange(base, 'get', '/reconcile', '/reconcile?environment=qa')).status, 400);
    assert.equal((await exchange(base, 'get', '/reconcile', '/reconcile', { admin: false })).status, 401);
    assert.equal((await exchange(downUrl, 'get', '/reconcile', '/reconcile')).status, 503);
    assert.ok(Array.isArray((await exchange(base, 'get', '/forgets', '/forgets?limit=100')).body.forgets));
    assert.equal((await exchange(base, 'get', '/forgets', '/forgets?limit=101')).status, 400);
    assert.equal((await exchange(base, 'get', '/forgets', '/forgets', { admin: false })).status, 401);
    assert.equal((await exchange(downUrl, 'get', '/forgets', '/forgets')).status, 503);

    // Two people's opt-outs with one event id, both parked on a Listrak 404: retry and skip.
    const shared = uniqueId('oa-shared-');
    const people = [email, uniqueEmail('oa-other')];
    const other = consentEvent('opt_in', people[1]!, new Date(Date.now() - 60_000));
    await service().post(other);
    await waitForOutcome(service(), people[1]!, String(other.event_id));
    for (const address of people) harness().sandbox.script({ route: 'upsert', email: address, status: 404, error: 'ERROR_UNABLE_TO_LOCATE_RESOURCE' });
    for (const address of people) await service().post(consentEvent('opt_out', address, new Date(), { event_id: shared }));
    for (const address of people) assert.equal((await waitForOutcome(service(), address, shared)).outcome, 'parked');
    for (const action of ['retry', 'skip'] as const) {
      const template = `/changes/{eventId}/${action}`;
      const ambiguous = await exchange(base, 'post', template, `/changes/${shared}/${action}`);
      assert.deepEqual([ambiguous.status, ambiguous.body.error, ambiguous.body.workflowIds.length], [409, 'ambiguous', 2]);
      assert.equal((await exchange(base, 'post', template, `/changes/${String(optIn.event_id)}/${action}`)).body.error, 'not_parked');
      assert.equal((await exchange(base, 'post', template, `/changes/${uniqueId('oa-unknown-')}/${action}`)).status, 404);
      assert.equal((await exchange(base, 'post', template, `/changes/${shared}/${action}`, { admin: false })).status, 401);
      assert.equal((await exchange(downUrl, 'post', template, `/changes/${shared}/${action}`)).status, 503);
    }
    const [first, second] = (await exchange(base, 'post', '/changes/{eventId}/retry', `/changes/${shared}/retry`)).body.workflowIds as string[];
    const retried = await exchange(base, 'post', '/changes/{eventId}/retry', `/changes/${shared}/retry?workflow_id=${encodeURIComponent(first!)}`);
    assert.deepEqual([retried.status, retried.body.signal, retried.body.workflowId], [200, 'retry', first]);
    const skipped = await exchange(base, 'post', '/changes/{eventId}/skip', `/changes/${shared}/skip?workflow_id=${encodeURIComponent(second!)}`);
    assert.deepEqual([skipped.status, skipped.body.result], [200, 'skipped']);
  });

  it('the forget route: 202, 400, 401, 409 (under way), 429 (rate limit), 502 (Listrak refused), 503', async () => {
    // Listrak is asked, and the status polls wait 5 minutes: a forget stays under way here.
    const privacy = await harness().start({
      LISTRAK_PRIVACY_CLIENT_ID: 'sandbox-privacy-client',
      LISTRAK_PRIVACY_CLIENT_SECRET: 'sandbox-privacy-secret',
      LISTRAK_PRIVACY_API_URL: harness().sandboxUrls.privacyUrl,
    });
    const template = '/consents/{email}/forget';
    const forget = (base: string, email: string, body: unknown = { requestedBy: 'contract test' }, admin = true) =>
      exchange(base, 'post', template, `/consents/${encodeURIComponent(email)}/forget`, { body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, admin });
    const email = uniqueEmail('oa-forget');
    const started = await forget(privacy.url, email);
    assert.deepEqual([started.status, started.body.privacy.asked, started.body.privacy.status], [202, true, 'PROCESSING']);
    assert.deepEqual([(await forget(privacy.url, email)).status], [409]);
    assert.equal((await forget(privacy.url, uniqueEmail('oa-forget'), {})).status, 400);
    assert.equal((await forget(privacy.url, uniqueEmail('oa-forget'), undefined, false)).status, 401);
    assert.equal((await forget(downUrl, uniqueEmail('oa-forget'))).status, 503);
    harness().sandbox.script({ route: 'privacyForget', status: 400, error: 'ERROR_INVALID_PARAMETER' });
    const refused = await forget(privacy.url, uniqueEmail('oa-forget'));
    assert.deepEqual([refused.status, refused.body.error], [502, 'listrak_refused']);
    let limited: Awaited<ReturnType<typeof forget>> | undefined;
    for (let index = 0; index < 12 && limited === undefined; index++) {
      const answer = await forget(privacy.url, uniqueEmail('oa-forget'));
      if (answer.status === 429) limited = answer;
    }
    assert.ok(limited, 'the API refused once over its share of the Privacy API limit');
    assert.ok(Number(limited.headers.get('retry-after')) >= 1);
  });

  it('covered every status of every route the document lists', () => {
    const documented = ROUTES.flatMap((route) => Object.keys(route.answers).map((status) => `${route.method} ${route.path} ${status}`)).sort();
    assert.deepEqual([...covered].sort(), documented);
  });
});
