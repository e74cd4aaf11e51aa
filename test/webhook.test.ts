import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { createApp } from '../src/http/app';
import { signExtolePayload } from '../src/http/webhook-auth';
import { createTemporalIntake } from '../src/intake';
import { loadConfig } from '../src/config';
import { createOperations } from '../src/status';
import { checkReadiness } from '../src/temporal/readiness';
import {
  WEBHOOK_SECRET,
  consentEvent,
  createHarness,
  testEnv,
  uniqueEmail,
  waitForOutcome,
  type Harness,
  type Service,
} from './helpers/harness';

async function send(url: string, body: string | Buffer, headers: Record<string, string>) {
  const response = await fetch(`${url}/webhooks/extole`, { method: 'POST', headers, body });
  return { status: response.status, body: (await response.json().catch(() => undefined)) as any, headers: response.headers };
}

describe('webhook intake: authentication, validation and answers', () => {
  let harness: Harness;
  let service: Service;
  const json = { 'content-type': 'application/json' };

  before(async () => {
    harness = await createHarness();
    service = await harness.start();
  });
  after(async () => {
    await harness?.close();
  });

  const signed = (raw: string, encoding: 'hex' | 'base64' = 'hex') => ({
    ...json,
    'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, raw, encoding),
  });

  it('accepts each of the three Extole authentication methods', async () => {
    const raw = () => JSON.stringify(consentEvent('opt_in', uniqueEmail('auth'), new Date()));
    const bodies = [raw(), raw(), raw(), raw()];
    const answers = await Promise.all([
      send(service.url, bodies[0]!, signed(bodies[0]!, 'hex')),
      send(service.url, bodies[1]!, signed(bodies[1]!, 'base64')),
      send(service.url, bodies[2]!, { ...json, authorization: `Bearer ${WEBHOOK_SECRET}` }),
      send(service.url, bodies[3]!, { ...json, authorization: `Basic ${Buffer.from(WEBHOOK_SECRET).toString('base64')}` }),
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
      const answer = await send(service.url, raw, headers);
      assert.equal(answer.status, 401, JSON.stringify(headers));
      assert.equal(answer.body.error, 'unauthorized');
    }
    const replayed = await send(service.url, tampered, signed(raw));
    assert.equal(replayed.status, 401);
    assert.match(replayed.body.message, /raw body/);
  });

  it('answers 415 to a body that is not JSON and 413 to one over 1 MB', async () => {
    const raw = JSON.stringify(consentEvent('opt_in', uniqueEmail('type'), new Date()));
    const notJson = await send(service.url, raw, { 'content-type': 'text/plain', authorization: `Bearer ${WEBHOOK_SECRET}` });
    assert.equal(notJson.status, 415);
    const big = Buffer.alloc(1024 * 1024 + 10, ' ');
    const tooLarge = await send(service.url, big, { ...json, authorization: `Bearer ${WEBHOOK_SECRET}` });
    assert.equal(tooLarge.status, 413);
    assert.equal(tooLarge.body.error, 'payload_too_large');
  });

  it('answers 400 naming each invalid field, for every invalid item of a batch, and records nothing', async () => {
    const validEmail = uniqueEmail('valid');
    const batch = [
      consentEvent('opt_in', validEmail, new Date()),
      { event_id: 'has space', event_time: '2026-11-01 10:00', type: 'subscribe', email: 'not-an-email' },
      consentEvent('opt_out', uniqueEmail('ok'), new Date()),
      { type: 'opt_in' },
      consentEvent('opt_in', uniqueEmail('env'), new Date(), { environment: 'qa', profile: { first_name: { nested: true } } }),
    ];
    const raw = JSON.stringify(batch);
    const answer = await send(service.url, raw, signed(raw));
    assert.equal(answer.status, 400);
    assert.equal(answer.body.error, 'invalid_events');
    const fields = (answer.body.problems as { index: number; field: string }[]).map((problem) => `${problem.index}:${problem.field}`);
    assert.deepEqual(fields.sort(), [
      '1:email', '1:event_id', '1:event_time', '1:type',
      '3:email', '3:event_id', '3:event_time',
      '4:environment', '4:profile.first_name',
    ].sort());
    assert.equal((await service.request(`/consents/${validEmail}`)).status, 404, 'nothing from a rejected batch is recorded');
  });

  it('rejects malformed JSON, empty and oversized arrays, and stays healthy', async () => {
    const cases = ['{"event_id": ', '[]', JSON.stringify(Array.from({ length: 501 }, () => ({}))), '"just a string"', 'null'];
    for (const raw of cases) {
      const answer = await send(service.url, raw, signed(raw));
      assert.equal(answer.status, 400, raw.slice(0, 30));
    }
    assert.equal((await service.request('/healthz', { admin: false })).status, 200);
  });

  it("accepts Extole's raw-object aliases (person.email, eventId, epoch-millisecond times, OPT_OUT)", async () => {
    const email = uniqueEmail('alias');
    const event = { eventId: 987654321, created_date: Date.parse('2026-11-05T08:00:00Z'), event_type: 'OPT_OUT', person: { email: email.toUpperCase(), first_name: 'Al' } };
    const raw = JSON.stringify(event);
    const answer = await send(service.url, raw, signed(raw));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.recorded[0].event_id, '987654321');
    const change = await waitForOutcome(service, email, '987654321');
    assert.equal(change.type, 'opt_out');
    assert.equal(change.eventTime, '2026-11-05T08:00:00.000Z');
  });

  it('accepts a batch of 500 and answers with a workflow id per event', async () => {
    const batch = Array.from({ length: 500 }, (_, index) => consentEvent(index % 2 ? 'opt_in' : 'opt_out', uniqueEmail(`bulk${index}`), new Date()));
    const raw = JSON.stringify(batch);
    const answer = await send(service.url, raw, signed(raw));
    assert.equal(answer.status, 200);
    assert.equal(answer.body.recorded.length, 500);
    assert.deepEqual(answer.body.recorded.map((entry: any) => entry.event_id), batch.map((event) => event.event_id));
  });

  it('answers 503 with Retry-After when Temporal cannot be reached, so Extole retries', async () => {
    const config = loadConfig(
      Object.fromEntries(Object.entries(testEnv(harness.sandboxUrls, { TEMPORAL_ADDRESS: '127.0.0.1:1' })).filter(([, value]) => value !== undefined)),
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
