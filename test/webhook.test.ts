import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../src/http/app';
import { bearerMatches, parseAuthorization } from '../src/http/bearer';
import { DEFAULT_SERVER_TIMEOUTS, createServiceApp, listen } from '../src/http/server';
import { signExtolePayload } from '../src/http/webhook-auth';
import { createTemporalIntake } from '../src/consent/intake';
import { loadConfig } from '../src/config/config';
import { createOperations } from '../src/consent/status';
import { checkReadiness } from '../src/temporal/readiness';
import { hashEmail } from '../src/consent/email';
import { ADMIN_TOKEN, consentEvent, testEnv, uniqueEmail, waitForOutcome, WEBHOOK_SECRET } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

async function send(url: string, body: string | Buffer, headers: Record<string, string>) {
  const response = await fetch(`${url}/webhooks/extole`, { method: 'POST', headers, body });
  return { status: response.status, body: (await response.json().catch(() => undefined)) as any, headers: response.headers };
}

describe('webhook intake: authentication, validation and answers', () => {
  const { harness, service } = useHarness();
  const json = { 'content-type': 'application/json' };


  const signed = (raw: string, encoding: 'hex' | 'base64' = 'hex') => ({
    ...json,
    'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, raw, encoding),
  });

  it('accepts each of the three Extole authentication methods', async () => {
    const raw = () => JSON.stringify(consentEvent('opt_in', uniqueEmail('auth'), new Date()));
    const bodies = [raw(), raw(), raw(), raw()];
    const answers = await Promise.all([
      send(service().url, bodies[0]!, signed(bodies[0]!, 'hex')),
      send(service().url, bodies[1]!, signed(bodies[1]!, 'base64')),
      send(service().url, bodies[2]!, { ...json, authorization: `Bearer ${WEBHOOK_SECRET}` }),
      send(service().url, bodies[3]!, { ...json, authorization: `Basic ${Buffer.from(WEBHOOK_SECRET).toString('base64')}` }),
    ]);
    assert.deepEqual(answers.map((answer) => answer.status), [200, 200, 200, 200]);
  });

  it('answers 401 to missing or wrong credentials and to a replayed signature on a changed body', async () => {
    const event = consentEvent('opt_in', uniqueEmail('unauth'), new Date());
    const raw = JSON.stringify(event);
    const tampered = JSON.stringify({ ...event, type: 'opt_out' });
    const cases: Record<string, string>[] = [
      json,
      { ...json, authorization: 'Bearer wrong-secret' },
      { ...json, authorization: `Basic ${Buffer.from('wrong').toString('base64')}` },
      { ...json, authorization: `Digest ${WEBHOOK_SECRET}` },
      { ...json, 'x-extole-signature': 'not-a-signature' },
      { ...json, 'x-extole-signature': signExtolePayload('another-key', raw) },
    ];
    for (const headers of cases) {
      const answer = await send(service().url, raw, headers);
      assert.equal(answer.status, 401, JSON.stringify(headers));
      assert.equal(answer.body.error, 'unauthorized');
    }
    const replayed = await send(service().url, tampered, signed(raw));
    assert.equal(replayed.status, 401);
    assert.match(replayed.body.detail, /raw body/);
  });

  it('answers 415 to a body that is not JSON and 413 to one over 1 MB', async () => {
    const raw = JSON.stringify(consentEvent('opt_in', uniqueEmail('type'), new Date()));
    const notJson = await send(service().url, raw, { 'content-type': 'text/plain', authorization: `Bearer ${WEBHOOK_SECRET}` });
    assert.equal(notJson.status, 415);
    const big = Buffer.alloc(1024 * 1024 + 10, ' ');
    const tooLarge = await send(service().url, big, { ...json, authorization: `Bearer ${WEBHOOK_SECRET}` });
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.body.error, 'payload_too_large');
  });

  it('records and applies the valid events of a batch, refuses the invalid ones one by one, and answers 200', async () => {
    const validEmail = uniqueEmail('valid');
    const okEmail = uniqueEmail('ok');
    const refusedEmail = uniqueEmail('env');
    const batch = [
      consentEvent('opt_in', validEmail, new Date()),
      { event_id: 'has space', event_time: '2026-11-01 10:00', type: 'subscribe', email: 'not-an-email' },
      consentEvent('opt_out', okEmail, new Date()),
      { type: 'opt_in' },
      consentEvent('opt_in', refusedEmail, new Date(), { environment: 'qa', profile: { first_name: { nested: true } } }),
    ];
    const raw = JSON.stringify(batch);
    const answer = await send(service().url, raw, signed(raw));
    assert.equal(answer.status, 200, 'Extole must not retry a batch whose valid part is recorded');
    assert.deepEqual(answer.body.recorded.map((entry: any) => entry.eventId), [batch[0]!.event_id, batch[2]!.event_id]);
    const rejected = answer.body.rejected as { index: number; eventId?: string; field: string; message: string }[];
    assert.deepEqual(rejected.map((entry) => `${entry.index}:${entry.field}`).sort(), [
      '1:email', '1:event_id', '1:event_time', '1:type',
      '3:email', '3:event_id', '3:event_time',
      '4:environment', '4:profile.first_name',
    ].sort());
    assert.ok(rejected.every((entry) => typeof entry.message === 'string' && entry.message.length > 0));
    assert.deepEqual([...new Set(rejected.filter((entry) => entry.index === 4).map((entry) => entry.eventId))], [batch[4]!.event_id], 'the event id where readable');
    assert.ok(rejected.filter((entry) => entry.index !== 4).every((entry) => entry.eventId === undefined), 'an invalid event id is not echoed');
    assert.equal((await waitForOutcome(service(), validEmail, String(batch[0]!.event_id))).outcome, 'applied');
    assert.equal((await waitForOutcome(service(), okEmail, String(batch[2]!.event_id))).outcome, 'applied');
    assert.equal((await service().request(`/consents/${refusedEmail}`)).status, 404, 'a refused event is not recorded');
  });

  it('answers 400 naming every problem when nothing in the request could be recorded', async () => {
    const single = JSON.stringify({ event_id: 'x1', event_time: 'yesterday', type: 'opt_in', email: uniqueEmail('single') });
    const one = await send(service().url, single, signed(single));
    assert.equal(one.status, 400);
    assert.equal(one.body.error, 'invalid_events');
    assert.deepEqual(one.body.problems.map((problem: any) => [problem.index, problem.field, problem.eventId]), [[0, 'event_time', 'x1']]);
    const allBad = JSON.stringify([{ type: 'opt_in' }, { ...consentEvent('opt_out', uniqueEmail('allbad'), new Date()), email: 'nope' }]);
    const all = await send(service().url, allBad, signed(allBad));
    assert.equal(all.status, 400);
    assert.deepEqual(all.body.problems.map((problem: any) => `${problem.index}:${problem.field}`).sort(), ['0:email', '0:event_id', '0:event_time', '1:email']);
    assert.match(all.body.detail, /nothing from it was recorded/);
  });

  it('shows refused events to support at GET /changes/refused: index, event id, field, email hash, never the address', async () => {
    const email = uniqueEmail('refused');
    const good = consentEvent('opt_in', uniqueEmail('refusedok'), new Date());
    const bad = consentEvent('opt_out', email, new Date(), { event_time: '2026-02-30T10:00:00Z' });
    const raw = JSON.stringify([good, bad]);
    const answer = await send(service().url, raw, signed(raw));
    assert.equal(answer.status, 200);
    assert.equal((await service().request('/changes/refused', { admin: false })).status, 401, 'admin only');
    const listing = await service().request('/changes/refused?limit=500');
    assert.equal(listing.status, 200);
    const entry = (listing.body.refused as Record<string, unknown>[]).find((item) => item.eventId === bad.event_id);
    assert.ok(entry, 'the refused event is listed');
    assert.equal(entry.index, 1);
    assert.equal(entry.scope, 'event');
    assert.deepEqual((entry.problems as { field: string }[]).map((problem) => problem.field), ['event_time']);
    assert.equal(entry.answered, 200);
    assert.equal(entry.emailHash, hashEmail(service().config.emailHashKey, email));
    assert.equal(typeof entry.requestId, 'string');
    assert.ok(!JSON.stringify(listing.body).includes(email), 'no raw email');
    assert.ok(!JSON.stringify(listing.body).includes('@'), 'no address at all');
    assert.equal((await service().request('/changes/refused?limit=0')).status, 400);
  });

  it("refuses an Authorization header with anything after the credentials ('Bearer <key> junk')", async () => {
    const raw = JSON.stringify(consentEvent('opt_in', uniqueEmail('junk'), new Date()));
    const basic = Buffer.from(WEBHOOK_SECRET).toString('base64');
    for (const authorization of [`Bearer ${WEBHOOK_SECRET} junk`, `Bearer ${WEBHOOK_SECRET},x`, `Basic ${basic} junk`, `Basic ${basic}!!`, `Bearer`, `Bearer ${WEBHOOK_SECRET}\tjunk`]) {
      const answer = await send(service().url, raw, { ...json, authorization });
      assert.equal(answer.status, 401, authorization);
    }
    assert.equal((await service().request('/changes/recent', { headers: { authorization: `Bearer ${ADMIN_TOKEN} junk` }, admin: false })).status, 401);
    assert.equal((await service().request('/changes/recent', { headers: { authorization: `Bearer ${ADMIN_TOKEN}` }, admin: false })).status, 200);
  });

  it('rejects malformed JSON, empty and oversized arrays, and stays healthy', async () => {
    const cases = ['{"event_id": ', '[]', JSON.stringify(Array.from({ length: 501 }, () => ({}))), '"just a string"', 'null'];
    for (const raw of cases) {
      const answer = await send(service().url, raw, signed(raw));
      assert.equal(answer.status, 400, raw.slice(0, 30));
    }
    assert.equal((await service().request('/healthz', { admin: false })).status, 200);
  });

  it("accepts Extole's raw-object aliases (person.email, eventId, epoch-millisecond times, OPT_OUT)", async () => {
    const email = uniqueEmail('alias');
    const event = { eventId: 987654321, created_date: Date.parse('2026-11-05T08:00:00Z'), event_type: 'OPT_OUT', person: { email: email.toUpperCase(), first_name: 'Al' } };
    const raw = JSON.stringify(event);
    const answer = await send(service().url, raw, signed(raw));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.recorded[0].eventId, '987654321');
    const change = await waitForOutcome(service(), email, '987654321');
    assert.equal(change.type, 'opt_out');
    assert.equal(change.eventTime, '2026-11-05T08:00:00.000Z');
  });

  it('accepts a batch of 500 and answers with a workflow id per event', async () => {
    const batch = Array.from({ length: 500 }, (_, index) => consentEvent(index % 2 ? 'opt_in' : 'opt_out', uniqueEmail(`bulk${index}`), new Date()));
    const raw = JSON.stringify(batch);
    const answer = await send(service().url, raw, signed(raw));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.recorded.length, 500);
    assert.deepEqual(answer.body.recorded.map((entry: any) => entry.eventId), batch.map((event) => event.event_id));
  });

  it('answers 503 with Retry-After when Temporal cannot be reached, so Extole retries', async () => {
    const config = loadConfig(
      Object.fromEntries(Object.entries(testEnv(harness().sandboxUrls, { TEMPORAL_ADDRESS: '127.0.0.1:1' })).filter(([, value]) => value !== undefined)),
    );
    const connection = Connection.lazy({ address: config.temporal.address });
    const client = new Client({ connection });
    const app = createApp({
      config,
      intake: createTemporalIntake({ client, config, deadlineMs: 1_000 }),
      operations: createOperations({ client, config, deadlineMs: 1_000 }),
      readiness: () => checkReadiness(client, config.temporal.taskQueue, 1_000),
    });
    const server = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const raw = JSON.stringify(consentEvent('opt_in', uniqueEmail('down'), new Date()));
      const answer = await send(url, raw, signed(raw));
      assert.equal(answer.status, 503);
      assert.equal(answer.headers.get('retry-after'), '30');
      const ready = await fetch(`${url}/readyz`);
      assert.equal(ready.status, 503);
      assert.equal(((await ready.json()) as { temporal: string }).temporal, 'unreachable');
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
    } finally {
      server.close();
      // The lazy connection never connected; closing it races its own retry loop, so leave it.
    }
  });
});

describe('Authorization header parsing (no server)', () => {
  it('takes exactly one scheme and one credential; anything after the credential is refused', () => {
    assert.deepEqual(parseAuthorization('Bearer abc'), { scheme: 'bearer', credentials: 'abc' });
    assert.deepEqual(parseAuthorization('basic  YWJj'), { scheme: 'basic', credentials: 'YWJj' });
    for (const header of ['Bearer abc junk', 'Bearer abc\tjunk', 'Bearer', 'Bearer ', 'abc', '', undefined, 'Bearer abc\n', ' Bearer abc']) {
      assert.equal(parseAuthorization(header), undefined, JSON.stringify(header));
    }
    assert.equal(bearerMatches('Bearer token-1', 'token-1'), true);
    assert.equal(bearerMatches('bearer token-1', 'token-1'), true);
    assert.equal(bearerMatches('Bearer token-1 junk', 'token-1'), false);
    assert.equal(bearerMatches('Bearer token-1 token-1', 'token-1 token-1'), false, 'a token is one word');
    assert.equal(bearerMatches('Basic token-1', 'token-1'), false);
  });
});

/**
 * A client that sends `head`, then one byte every `everyMs`, never finishing; resolves with what
 * the server answered and when it closed the connection, or after `maxMs` (then it hangs up).
 */
function dribble(url: string, head: string, { everyMs = 50, maxMs = 5_000 } = {}): Promise<{ answer: string; closedAfterMs?: number }> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    const started = Date.now();
    const socket = net.connect(Number(port), '127.0.0.1');
    let answer = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('error', () => undefined);
    socket.write(head);
    const drip = setInterval(() => socket.writable && socket.write('a'), everyMs);
    const giveUp = setTimeout(() => {
      clearInterval(drip);
      socket.removeAllListeners('close');
      socket.destroy();
      resolve({ answer });
    }, maxMs);
    socket.on('close', () => {
      clearInterval(drip);
      clearTimeout(giveUp);
      resolve({ answer, closedAfterMs: Date.now() - started });
    });
  });
}

describe('API server timeouts for slow clients', () => {
  const { harness, service } = useHarness();

  it('defaults to 10 s for the headers and 30 s for the whole request', async () => {
    assert.deepEqual({ headersMs: DEFAULT_SERVER_TIMEOUTS.headersMs, requestMs: DEFAULT_SERVER_TIMEOUTS.requestMs }, { headersMs: 10_000, requestMs: 30_000 });
    const running = await listen(createServiceApp(service().config, harness().env.client), 0, '127.0.0.1');
    try {
      assert.equal(running.server.headersTimeout, 10_000);
      assert.equal(running.server.requestTimeout, 30_000);
    } finally {
      await running.close(0);
    }
  });

  it('answers 408 and hangs up on a client that dribbles its headers, or its body', async () => {
    const timeouts = { headersMs: 400, requestMs: 1_000, checkEveryMs: 50 };
    const running = await listen(createServiceApp(service().config, harness().env.client), 0, '127.0.0.1', { timeouts });
    try {
      const [slowHeaders, slowBody] = await Promise.all([
        dribble(running.url, 'POST /webhooks/extole HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: '),
        dribble(
          running.url,
          `POST /webhooks/extole HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAuthorization: Bearer ${WEBHOOK_SECRET}\r\nContent-Length: 100000\r\n\r\n"`,
        ),
      ]);
      assert.match(slowHeaders.answer, /^HTTP\/1\.1 408/, 'slow headers are answered 408');
      assert.ok(slowHeaders.closedAfterMs !== undefined && slowHeaders.closedAfterMs >= 350 && slowHeaders.closedAfterMs < 2_000, `closed after ${slowHeaders.closedAfterMs} ms`);
      assert.match(slowBody.answer, /^HTTP\/1\.1 408/, 'a slow body is answered 408');
      assert.ok(slowBody.closedAfterMs !== undefined && slowBody.closedAfterMs >= 900 && slowBody.closedAfterMs < 3_000, `closed after ${slowBody.closedAfterMs} ms`);
      assert.equal((await fetch(`${running.url}/healthz`)).status, 200, 'still serving');
    } finally {
      await running.close(0);
    }
  });
});
