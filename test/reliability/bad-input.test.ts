import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { WorkflowNotFoundError } from '@temporalio/client';
import { hashEmail } from '../../src/consent/email';
import { createApp } from '../../src/http/app';
import { signExtolePayload } from '../../src/http/webhook-auth';
import { createTemporalIntake, ledgerKeyFor } from '../../src/consent/intake';
import { createLogger, loggablePath } from '../../src/observability/log';
import { createOperations } from '../../src/consent/status';
import { checkReadiness } from '../../src/temporal/readiness';
import { ledgerWorkflowId } from '../../src/shared';
import { ADMIN_TOKEN, uniqueEmail, uniqueId, waitForOutcome, WEBHOOK_SECRET } from '../../src/dev/harness';
import { useHarness } from '../helpers/use-harness';
import { SCALE } from '../../src/dev/cluster';
import { recordFigures } from './figures';

// Suite 7 of the reliability proof: every class of malformed request, batches mixing valid and
// invalid events, every spelling of a path that carries an email (none may reach the log), then a
// bounded fuzz run of random mutations of valid payloads. Nothing may answer 5xx, no rejected
// event may start a workflow, and the service must stay healthy.

const FUZZ_COUNT = SCALE === 'full' ? 5_000 : 600;

describe(`reliability: bad input (${FUZZ_COUNT} fuzzed requests)`, { timeout: 900_000 }, () => {
  const { harness, service } = useHarness();
  const answers: Record<string, number> = {};
  const rejectedEmails: string[] = [];
  const partial = { batches: 0, eventsRecorded: 0, eventsApplied: 0, eventsRefused: 0 };
  const pathVariants = { requests: 0, logLines: 0, linesWithTheEmail: 0 };
  let tried = 0;


  async function send(body: string | Buffer, headers: Record<string, string>, email?: string): Promise<number> {
    tried++;
    const response = await fetch(`${service().url}/webhooks/extole`, { method: 'POST', headers, body });
    await response.arrayBuffer();
    answers[response.status] = (answers[response.status] ?? 0) + 1;
    if (response.status !== 200 && email) rejectedEmails.push(email);
    return response.status;
  }

  const signed = (raw: string | Buffer) => ({ 'content-type': 'application/json', 'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, raw) });
  const valid = (email = uniqueEmail('bad')) => ({ event_id: uniqueId('bad-'), event_time: '2026-11-01T10:00:00Z', type: 'opt_in', email });

  it('answers every class of malformed request with a 4xx naming the problem', async () => {
    const cases: [string, () => { raw: string | Buffer; headers?: Record<string, string>; email?: string }, number][] = [
      ['JSON syntax: truncated', () => ({ raw: '{"event_id": "x", ' }), 400],
      ['JSON syntax: trailing comma', () => ({ raw: '{"a": 1,}' }), 400],
      ['JSON syntax: single quotes', () => ({ raw: "{'event_id': 'x'}" }), 400],
      ['JSON syntax: byte order mark', () => ({ raw: `\uFEFF${JSON.stringify(valid())}` }), 400],
      ['empty body', () => ({ raw: '' }), 400],
      ['wrong type: event_id object', () => ({ raw: JSON.stringify({ ...valid(), event_id: { id: 1 } }) }), 400],
      ['wrong type: type number', () => ({ raw: JSON.stringify({ ...valid(), type: 1 }) }), 400],
      ['wrong type: email number', () => ({ raw: JSON.stringify({ ...valid(), email: 12345 }) }), 400],
      ['wrong type: profile array', () => ({ raw: JSON.stringify({ ...valid(), profile: ['Ann'] }) }), 400],
      ['wrong type: profile value object', () => ({ raw: JSON.stringify({ ...valid(), profile: { first_name: { a: 1 } } }) }), 400],
      ['missing fields', () => ({ raw: JSON.stringify({ type: 'opt_in' }) }), 400],
      ['unknown type', () => ({ raw: JSON.stringify({ ...valid(), type: 'maybe' }) }), 400],
      ['unknown environment', () => ({ raw: JSON.stringify({ ...valid(), environment: 'qa' }) }), 400],
      ['bad date: no offset', () => ({ raw: JSON.stringify({ ...valid(), event_time: '2026-11-01T10:00:00' }) }), 400],
      ['bad date: impossible day', () => ({ raw: JSON.stringify({ ...valid(), event_time: '2026-02-30T10:00:00Z' }) }), 400],
      ['bad date: words', () => ({ raw: JSON.stringify({ ...valid(), event_time: 'yesterday' }) }), 400],
      ['bad date: epoch out of range', () => ({ raw: JSON.stringify({ ...valid(), event_time: 1e20 }) }), 400],
      ['invalid email: no at-sign', () => ({ raw: JSON.stringify(valid('not-an-email')) }), 400],
      ['invalid email: spaces', () => ({ raw: JSON.stringify(valid('a b@example.com')) }), 400],
      ['invalid email: 300 characters', () => ({ raw: JSON.stringify(valid(`${'a'.repeat(290)}@example.com`)) }), 400],
      ['event id with an email in it', () => ({ raw: JSON.stringify({ ...valid(), event_id: 'jane@example.com' }) }), 400],
      ['oversize body', () => ({ raw: JSON.stringify({ ...valid(), padding: 'x'.repeat(1_100_000) }) }), 413],
      ['wrong content type: text/plain', () => ({ raw: JSON.stringify(valid()), headers: { 'content-type': 'text/plain', authorization: `Bearer ${WEBHOOK_SECRET}` } }), 415],
      ['wrong content type: form', () => ({ raw: 'event_id=1', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${WEBHOOK_SECRET}` } }), 415],
      ['no content type', () => ({ raw: JSON.stringify(valid()), headers: { authorization: `Bearer ${WEBHOOK_SECRET}` } }), 415],
      ['missing auth', () => ({ raw: JSON.stringify(valid()), headers: { 'content-type': 'application/json' } }), 401],
      ['invalid bearer', () => ({ raw: JSON.stringify(valid()), headers: { 'content-type': 'application/json', authorization: 'Bearer nope' } }), 401],
      ['invalid signature', () => ({ raw: JSON.stringify(valid()), headers: { 'content-type': 'application/json', 'x-extole-signature': 'ab'.repeat(32) } }), 401],
      [
        'replayed signature, changed body',
        () => {
          const original = JSON.stringify(valid());
          return { raw: original.replace('opt_in', 'opt_out'), headers: signed(original) };
        },
        401,
      ],
      ['array over the limit', () => ({ raw: JSON.stringify(Array.from({ length: 501 }, () => valid())) }), 400],
      ['deeply nested JSON', () => ({ raw: `${'['.repeat(100_000)}${']'.repeat(100_000)}` }), 400],
      ['deeply nested profile', () => ({ raw: `${JSON.stringify(valid()).slice(0, -1)},"profile":${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}}` }), 400],
      ['unicode: lone surrogate in email', () => ({ raw: JSON.stringify(valid('\ud800@example.com')) }), 400],
      ['unicode: zero-width space in email', () => ({ raw: JSON.stringify(valid('jane\u200b@example .com')) }), 400],
      ['unicode: NUL in event id', () => ({ raw: JSON.stringify({ ...valid(), event_id: 'a\u0000b' }) }), 400],
      ['unicode: right-to-left override in type', () => ({ raw: JSON.stringify({ ...valid(), type: '\u202eni_tpo' }) }), 400],
      ['prototype keys', () => ({ raw: '{"__proto__": {"type": "opt_in"}, "constructor": {"prototype": {}}}' }), 400],
    ];
    const results: Record<string, number> = {};
    for (const [name, build, expected] of cases) {
      const { raw, headers, email } = build();
      const status = await send(raw, headers ?? signed(raw), email);
      results[name] = status;
      assert.equal(status, expected, name);
    }
    assert.equal((await service().request('/healthz', { admin: false })).status, 200);
  });

  it('records and applies the valid part of a batch and refuses each invalid event with its index', async () => {
    const invalid: [string, (email: string) => Record<string, unknown>, string][] = [
      ['bad date', (email) => ({ ...valid(email), event_time: '2026-02-30T10:00:00Z' }), 'event_time'],
      ['unknown type', (email) => ({ ...valid(email), type: 'maybe' }), 'type'],
      ['unknown environment', (email) => ({ ...valid(email), environment: 'qa' }), 'environment'],
      ['profile array', (email) => ({ ...valid(email), profile: ['Ann'] }), 'profile'],
      ['no event id', (email) => ({ ...valid(email), event_id: undefined }), 'event_id'],
      ['email in the event id', (email) => ({ ...valid(email), event_id: email }), 'event_id'],
      ['invalid email', () => valid('not-an-email'), 'email'],
      ['not an object', () => ['opt_in'] as unknown as Record<string, unknown>, ''],
    ];
    const applied: { email: string; eventId: string }[] = [];
    for (const [name, build, field] of invalid) {
      for (const position of ['first', 'middle', 'last'] as const) {
        const goods = [valid(uniqueEmail('partok')), valid(uniqueEmail('partok'))];
        const badEmail = uniqueEmail('partbad');
        const bad = build(badEmail);
        const batch: unknown[] = position === 'first' ? [bad, ...goods] : position === 'middle' ? [goods[0], bad, goods[1]] : [...goods, bad];
        const badIndex = batch.indexOf(bad);
        const raw = JSON.stringify(batch);
        const response = await fetch(`${service().url}/webhooks/extole`, { method: 'POST', headers: signed(raw), body: raw });
        tried++;
        answers[response.status] = (answers[response.status] ?? 0) + 1;
        const body = (await response.json()) as { recorded: { eventId: string }[]; rejected: { index: number; field: string; eventId?: string }[] };
        partial.batches++;
        assert.equal(response.status, 200, `${name} ${position}`);
        assert.deepEqual(body.recorded.map((entry) => entry.eventId), goods.map((event) => event.event_id), `${name} ${position}: the valid events are recorded`);
        assert.ok(body.rejected.length >= 1 && body.rejected.every((entry) => entry.index === badIndex), `${name} ${position}: refused at index ${badIndex}`);
        assert.ok(body.rejected.some((entry) => entry.field === field || entry.field.startsWith(`${field}.`)), `${name} ${position}: names ${field}`);
        assert.ok(!JSON.stringify(body).includes(badEmail), `${name} ${position}: the answer does not echo an email`);
        partial.eventsRecorded += body.recorded.length;
        partial.eventsRefused++;
        rejectedEmails.push(badEmail);
        if (position === 'middle') applied.push(...goods.map((event) => ({ email: String(event.email), eventId: String(event.event_id) })));
      }
    }
    for (const { email, eventId } of applied) {
      assert.equal((await waitForOutcome(service(), email, eventId)).outcome, 'applied');
      assert.equal(harness().sandbox.contact(1001, email)?.subscriptionState, 'Subscribed');
      partial.eventsApplied++;
    }
  });

  it('never writes an email to the log, for any spelling of a path (access, error and 404 lines)', async () => {
    const lines: string[] = [];
    const log = createLogger({ write: (line: string) => void lines.push(line) }, { level: 'debug', pretty: false });
    const { config } = service();
    const client = harness().env.client;
    const app = createApp({
      config,
      intake: createTemporalIntake({ client, config }),
      operations: createOperations({ client, config }),
      readiness: () => checkReadiness(client, config.temporal.taskQueue),
      logger: log,
    });
    const server = http.createServer(app).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    const email = uniqueEmail('pathleak');
    const [local = '', domain = ''] = email.split('@');
    const request = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
      new Promise<number>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
          res.resume();
          res.on('end', () => resolve(res.statusCode ?? 0));
        });
        req.on('error', reject);
        req.end(body);
      });
    try {
      const raw = JSON.stringify([valid(email), { ...valid(email), type: 'maybe' }]);
      assert.equal(await request('POST', '/webhooks/extole', signed(raw), raw), 200, 'a partial batch for the person');
      const everyCharEncoded = [...email].map((char) => `%${char.charCodeAt(0).toString(16).padStart(2, '0')}`).join('');
      const spellings = [
        `/consents/${email}`, `/CONSENTS/${email}`, `/Consents/${email.toUpperCase()}`, `//consents/${email}`, `/consents//${email}`,
        `///consents/${email}`, `/%63onsents/${email}`, `/%43ONSENTS/${email}`, `/consents/${encodeURIComponent(email)}`,
        `/consents/${local}%40${domain}`, `/consents/${local}%2540${domain}`, `/consents/${everyCharEncoded}`, `/consents/${email}/`,
        `/consents/${email}/extra/segments`, `/consents/${email}?as=json`, `/consents/${email}#fragment`, `/consents/${email}%`,
        `/consents/${email}%E0%A4%A`, `/consents/${email};jsessionid=1`, `/./consents/${email}`, `/x/../consents/${email}`,
        `/${email}`, `/${email}/consents`, `/nope/${email}`, `/changes/${email}/retry`, `/webhooks/extole/${email}`,
        `/changes/recent/${email}`, `/consents/%20${email}`, `http://127.0.0.1/consents/${email}`,
      ];
      for (const path of spellings) {
        for (const [method, headers] of [['GET', { authorization: `Bearer ${ADMIN_TOKEN}` }], ['GET', {}], ['POST', { authorization: `Bearer ${ADMIN_TOKEN}` }]] as const) {
          const status = await request(method, path, headers);
          pathVariants.requests++;
          assert.ok(status < 500, `${method} ${path}: ${status}`);
        }
      }
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    // Every spelling of the address, after undoing up to three rounds of percent-encoding.
    const decoded = (line: string) => {
      let text = line.toLowerCase();
      for (let round = 0; round < 3; round++) text = text.replace(/%([0-9a-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
      return text;
    };
    const leaking = lines.filter((line) => decoded(line).includes(local.toLowerCase()));
    pathVariants.logLines = lines.length;
    pathVariants.linesWithTheEmail = leaking.length;
    assert.ok(lines.length >= pathVariants.requests, `one access line per request at least (${lines.length} lines)`);
    assert.deepEqual(leaking, [], 'no log line carries the email');
    // A lookup that matched its route is logged as the route, so support can still count them.
    const routes = lines.map((line) => JSON.parse(line) as { req?: { method?: string; path?: string } }).filter((line) => line.req?.method === 'GET').map((line) => line.req?.path);
    assert.ok(routes.includes('/consents/[email]'), `a matched status lookup is logged as its route (saw ${[...new Set(routes)].slice(0, 5).join(', ')})`);
    const refusal = lines.map((line) => JSON.parse(line) as Record<string, unknown>).find((line) => line.msg === 'event refused at intake');
    assert.ok(refusal, 'the refused event is logged');
    assert.equal(refusal.emailHash, hashEmail(service().config.emailHashKey, email), 'with the email hash');
    assert.equal(refusal.index, 1);
    assert.deepEqual((refusal.problems as { field: string }[]).map((problem) => problem.field), ['type']);
  });

  it('masks every spelling of an email path the same way where no route is known (trace spans, 404s)', () => {
    for (const path of ['/CONSENTS/a@b.com', '//consents/a@b.com', '/%63onsents/a@b.com', '/consents/a%40b.com', '/consents/a@b.com/x', '/x/a@b.com', '/a%2540b.com']) {
      assert.ok(!/a(@|%40|%2540)b/i.test(loggablePath(path)), `${path} → ${loggablePath(path)}`);
    }
    assert.equal(loggablePath('/consents/a@b.com', '/consents/:email'), '/consents/[email]');
    assert.equal(loggablePath('/healthz?x=1'), '/healthz');
    assert.equal(loggablePath('/changes/recent'), '/changes/recent');
  });

  it('survives a bounded fuzz run of mutated valid payloads without a 5xx or a stray workflow', async () => {
    const mutations = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), char: fc.string({ minLength: 1, maxLength: 1 }) }),
      fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }),
      fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.string({ maxLength: 8, unit: 'binary' }) }),
      fc.record({ kind: fc.constant('field' as const), field: fc.constantFrom('event_id', 'event_time', 'type', 'email', 'environment', 'profile'), value: fc.jsonValue({ maxDepth: 3 }) }),
      fc.record({ kind: fc.constant('drop' as const), field: fc.constantFrom('event_id', 'event_time', 'type', 'email') }),
    );
    const samples = fc.sample(fc.tuple(fc.array(mutations, { minLength: 1, maxLength: 3 }), fc.boolean()), { numRuns: FUZZ_COUNT, seed: 20261127 });
    const started = Date.now();
    let accepted = 0;
    for (const [steps, signIt] of samples) {
      const email = uniqueEmail('fuzz');
      const event: Record<string, unknown> = { ...valid(email), profile: { first_name: 'Fuzz' } };
      for (const step of steps) {
        if (step.kind === 'field') event[step.field] = step.value;
        if (step.kind === 'drop') delete event[step.field];
      }
      let raw = JSON.stringify(event);
      for (const step of steps) {
        const at = 'at' in step ? step.at % (raw.length + 1) : 0;
        if (step.kind === 'flip') raw = raw.slice(0, at) + step.char + raw.slice(at + 1);
        if (step.kind === 'delete') raw = raw.slice(0, at) + raw.slice(at + step.length);
        if (step.kind === 'insert') raw = raw.slice(0, at) + step.text + raw.slice(at);
      }
      // Authenticated either way, so every mutation reaches the parser and the validator.
      const headers = signIt ? signed(raw) : { 'content-type': 'application/json', authorization: `Bearer ${WEBHOOK_SECRET}` };
      const status = await send(raw, headers, email);
      if (status === 200) accepted++;
      assert.ok(status < 500, `5xx for ${raw.slice(0, 200)}`);
    }

    // No rejected request may have started a ledger for its (original) email.
    let strayWorkflows = 0;
    for (const email of rejectedEmails) {
      const id = ledgerWorkflowId(ledgerKeyFor(service().config, 'production', email));
      try {
        await harness().env.client.workflow.getHandle(id).describe();
        strayWorkflows++;
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    }
    const health = await service().request('/healthz', { admin: false });
    const validBody = JSON.stringify(valid());
    const afterwards = await fetch(`${service().url}/webhooks/extole`, { method: 'POST', headers: signed(validBody), body: validBody });
    const figures = {
      requestsTried: tried,
      fuzzed: samples.length,
      fuzzAccepted: accepted,
      answers,
      partialBatches: partial,
      pathVariants,
      fiveHundreds: Object.entries(answers).filter(([status]) => Number(status) >= 500).reduce((sum, [, count]) => sum + count, 0),
      rejectedChecked: rejectedEmails.length,
      workflowsStartedByRejectedRequests: strayWorkflows,
      healthyAfter: health.status === 200,
      seconds: Math.round((Date.now() - started) / 1000),
    };
    recordFigures('7-bad-input', figures);
    assert.equal(figures.fiveHundreds, 0);
    assert.equal(strayWorkflows, 0);
    assert.equal(health.status, 200);
    assert.equal(afterwards.status, 200, 'a valid delivery is still accepted');
  });
});
