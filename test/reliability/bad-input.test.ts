import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { WorkflowNotFoundError } from '@temporalio/client';
import { signExtolePayload } from '../../src/http/webhook-auth';
import { ledgerKeyFor } from '../../src/intake';
import { ledgerWorkflowId } from '../../src/shared';
import { WEBHOOK_SECRET, createHarness, uniqueEmail, uniqueId, type Harness, type Service } from '../helpers/harness';
import { SCALE } from './cluster';
import { recordFigures } from './figures';

// Suite 7 of the reliability proof: every class of malformed request, then a bounded fuzz run of
// random mutations of valid payloads. Nothing may answer 5xx, no rejected request may start a
// workflow, and the service must stay healthy.

const FUZZ_COUNT = SCALE === 'full' ? 5_000 : 600;

describe(`reliability: bad input (${FUZZ_COUNT} fuzzed requests)`, { timeout: 900_000 }, () => {
  let harness: Harness;
  let service: Service;
  const answers: Record<string, number> = {};
  const rejectedEmails: string[] = [];
  let tried = 0;

  before(async () => {
    harness = await createHarness();
    service = await harness.start();
  });
  after(async () => {
    await harness?.close();
  });

  async function send(body: string | Buffer, headers: Record<string, string>, email?: string): Promise<number> {
    tried++;
    const response = await fetch(`${service.url}/webhooks/extole`, { method: 'POST', headers, body });
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
    assert.equal((await service.request('/healthz', { admin: false })).status, 200);
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
      const id = ledgerWorkflowId(ledgerKeyFor(service.config, 'production', email));
      try {
        await harness.env.client.workflow.getHandle(id).describe();
        strayWorkflows++;
      } catch (error) {
        if (!(error instanceof WorkflowNotFoundError)) throw error;
      }
    }
    const health = await service.request('/healthz', { admin: false });
    const validBody = JSON.stringify(valid());
    const afterwards = await fetch(`${service.url}/webhooks/extole`, { method: 'POST', headers: signed(validBody), body: validBody });
    const figures = {
      requestsTried: tried,
      fuzzed: samples.length,
      fuzzAccepted: accepted,
      answers,
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
