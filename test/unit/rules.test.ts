import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { defaultPayloadConverter, extractWorkflowType } from '@temporalio/common';
import { OWN_WRITE_CLOCK_TOLERANCE_MS, unsubscribeNewerThan } from '../../activities/listrak-activities';
import { nestingDepth, parseEachEvent, parseEvent, parseEvents, MAX_EVENTS_PER_REQUEST } from '../../src/http/extole-events';
import type { ListrakContact } from '../../src/listrak/client';
import { loggablePath } from '../../src/observability/log';
import { QUERIES, SIGNALS, UPDATES, changeWorkflowId, desiredOf, ledgerWorkflowId, outcomeOfResult, parseChangeWorkflowId, supersedes, type ChangeResult, type ConsentType, type LedgerKey, type ResultOutcome } from '../../src/shared';
import { applyConsentChangeWorkflow, changeStatusQuery, retrySignal, retryUpdate, skipSignal, skipUpdate } from '../../workflows/apply-change';
import { consentChangeSignal, consentLedgerWorkflow, ledgerStateQuery, retryChangeSignal, retryParkedChangeUpdate, skipChangeSignal, skipParkedChangeUpdate } from '../../workflows/consent-ledger';
import { WORKFLOW_TYPES } from '../replay/fixtures';

// Pure rules, no server: each of these fails in milliseconds.

const T = Date.parse('2026-03-01T12:00:00Z');

describe('supersedes: newer event time wins, an opt-out wins a tie', () => {
  const cases: [string, { eventTimeMs: number; type: ConsentType }, { eventTimeMs: number; type: ConsentType }, boolean][] = [
    ['a newer opt-in beats an older opt-out', { eventTimeMs: T + 1, type: 'opt_in' }, { eventTimeMs: T, type: 'opt_out' }, true],
    ['a newer opt-out beats an older opt-in', { eventTimeMs: T + 1, type: 'opt_out' }, { eventTimeMs: T, type: 'opt_in' }, true],
    ['an older opt-out loses to a newer opt-in', { eventTimeMs: T - 1, type: 'opt_out' }, { eventTimeMs: T, type: 'opt_in' }, false],
    ['an older opt-in loses', { eventTimeMs: T - 1, type: 'opt_in' }, { eventTimeMs: T, type: 'opt_in' }, false],
    ['tie: an opt-out beats an opt-in', { eventTimeMs: T, type: 'opt_out' }, { eventTimeMs: T, type: 'opt_in' }, true],
    ['tie: an opt-in does not beat an opt-out', { eventTimeMs: T, type: 'opt_in' }, { eventTimeMs: T, type: 'opt_out' }, false],
    ['tie: an opt-in does not beat an opt-in', { eventTimeMs: T, type: 'opt_in' }, { eventTimeMs: T, type: 'opt_in' }, false],
    ['tie: an opt-out does not beat an opt-out', { eventTimeMs: T, type: 'opt_out' }, { eventTimeMs: T, type: 'opt_out' }, false],
  ];
  for (const [name, candidate, current, expected] of cases) {
    it(name, () => assert.equal(supersedes(candidate, current), expected));
  }
});

describe('supersedes: causeEventSequence orders the events of one cause at the same event time', () => {
  const at = (type: ConsentType, causeEventSequence?: number, causeEventId?: string) => ({ eventTimeMs: T, type, causeEventSequence, causeEventId });
  it('the later of one cause wins a tie of event times, an opt-in over an earlier opt-out too', () => {
    assert.equal(supersedes(at('opt_in', 2, 'c1'), at('opt_out', 1, 'c1')), true);
    assert.equal(supersedes(at('opt_out', 1, 'c1'), at('opt_in', 2, 'c1')), false);
    // Without cause ids nothing says the two are of one cause: a real tie, and the opt-out wins.
    assert.equal(supersedes(at('opt_in', 1), at('opt_out', 0)), false, 'sequences without cause ids order nothing');
    assert.equal(supersedes(at('opt_out', 0), at('opt_in', 1)), true, 'sequences without cause ids order nothing');
  });
  it('the same sequence, or sequences of different causes, fall back to opt-out wins', () => {
    assert.equal(supersedes(at('opt_in', 3, 'c1'), at('opt_out', 3, 'c1')), false);
    assert.equal(supersedes(at('opt_out', 3, 'c1'), at('opt_in', 3, 'c1')), true);
    assert.equal(supersedes(at('opt_in', 2, 'c2'), at('opt_out', 1, 'c1')), false);
    assert.equal(supersedes(at('opt_in', 2, 'c1'), at('opt_out', 1)), false, 'one cause id missing: not known to be one cause');
  });
  it('never outranks a newer or older event time', () => {
    assert.equal(supersedes({ ...at('opt_in', 9, 'c1'), eventTimeMs: T - 1 }, at('opt_out', 0, 'c1')), false);
    assert.equal(supersedes({ ...at('opt_out', 0, 'c1'), eventTimeMs: T + 1 }, at('opt_in', 9, 'c1')), true);
  });
  it('absent on either side, it changes no decision of the rule without it', () => {
    const times = [T - 1, T, T + 1];
    const types: ConsentType[] = ['opt_in', 'opt_out'];
    let compared = 0;
    for (const a of times) for (const b of times) for (const ta of types) for (const tb of types) {
      const without = supersedes({ eventTimeMs: a, type: ta }, { eventTimeMs: b, type: tb });
      for (const [sa, sb] of [[undefined, 1], [1, undefined], [undefined, undefined]] as const) {
        assert.equal(supersedes({ eventTimeMs: a, type: ta, causeEventSequence: sa, causeEventId: 'c' }, { eventTimeMs: b, type: tb, causeEventSequence: sb, causeEventId: 'c' }), without);
        compared++;
      }
    }
    assert.equal(compared, 108);
  });
});

describe('desiredOf: the ledger keeps the cause only when the change has one', () => {
  const change = { eventId: 'e1', eventTime: '2026-03-01T12:00:00Z', eventTimeMs: T, type: 'opt_in' as const, environment: 'production' as const, email: 'a@example.com', profile: {}, receivedAt: '2026-03-01T12:00:01Z' };
  it('is the four fields of before for a change without a sequence (histories carry the same state)', () => {
    assert.deepEqual(desiredOf(change), { eventId: 'e1', type: 'opt_in', eventTime: change.eventTime, eventTimeMs: T });
  });
  it('carries causeEventId and causeEventSequence when sent', () => {
    assert.deepEqual(desiredOf({ ...change, causeEventId: 'c1', causeEventSequence: 2 }), { eventId: 'e1', type: 'opt_in', eventTime: change.eventTime, eventTimeMs: T, causeEventId: 'c1', causeEventSequence: 2 });
  });
});

describe('unsubscribeNewerThan: when Listrak holds an unsubscribe an opt-in must not override', () => {
  const unsubscribed = (unsubscribeDate?: string): ListrakContact => ({
    emailAddress: 'a@example.com',
    subscriptionState: 'Unsubscribed',
    ...(unsubscribeDate === undefined ? {} : { unsubscribeDate }),
    segmentationFieldValues: [],
  });
  const iso = (ms: number) => new Date(ms).toISOString();
  // Our own opt-out of event time T-1h, written between T and T+2s (Listrak stamps the write time).
  const own = [{ eventTimeMs: T - 3_600_000, writeStartedAtMs: T, writeFinishedAtMs: T + 2_000 }];
  const cases: [string, ListrakContact | undefined, number, typeof own, string | undefined][] = [
    ['no contact: nothing blocks', undefined, T, [], undefined],
    ['a subscribed contact: nothing blocks', { emailAddress: 'a@example.com', subscriptionState: 'Subscribed', segmentationFieldValues: [] }, T, [], undefined],
    ['an unsubscribe newer than the opt-in blocks it', unsubscribed(iso(T + 1)), T, [], iso(T + 1)],
    ['an unsubscribe older than the opt-in does not block', unsubscribed(iso(T - 1)), T, [], undefined],
    ['a tie: the opt-out wins', unsubscribed(iso(T)), T, [], iso(T)],
    ['a date without an offset is read as UTC (newer: blocks)', unsubscribed('2026-03-01T12:00:01'), T, [], '2026-03-01T12:00:01'],
    ['a date without an offset is read as UTC (older: does not block)', unsubscribed('2026-03-01T11:59:59'), T, [], undefined],
    ['a date with a numeric offset', unsubscribed('2026-03-01T13:00:01+01:00'), T, [], '2026-03-01T13:00:01+01:00'],
    ['unsubscribed without a date: the opt-out wins', unsubscribed(), T, [], 'unknown'],
    ['unsubscribed with an unreadable date: the opt-out wins', unsubscribed('yesterday'), T, [], 'yesterday'],
    // Our own write: compared by the opt-out's event time (T-1h), not Listrak's write time.
    ['our own unsubscribe, opt-in newer than its opt-out: does not block', unsubscribed(iso(T + 1_000)), T - 1_800_000, own, undefined],
    ['our own unsubscribe, opt-in older than its opt-out: blocks', unsubscribed(iso(T + 1_000)), T - 7_200_000, own, iso(T + 1_000)],
    ['our own unsubscribe, opt-in at its opt-out time: the opt-out wins', unsubscribed(iso(T + 1_000)), T - 3_600_000, own, iso(T + 1_000)],
    [
      'within the clock tolerance before the write started: still ours',
      unsubscribed(iso(T - OWN_WRITE_CLOCK_TOLERANCE_MS)),
      T - 1_800_000,
      own,
      undefined,
    ],
    [
      'within the clock tolerance after the write finished: still ours',
      unsubscribed(iso(T + 2_000 + OWN_WRITE_CLOCK_TOLERANCE_MS)),
      T - 1_800_000,
      own,
      undefined,
    ],
    [
      'just outside the tolerance after the write: not ours, Listrak’s date counts',
      unsubscribed(iso(T + 2_000 + OWN_WRITE_CLOCK_TOLERANCE_MS + 1)),
      T - 1_800_000,
      own,
      iso(T + 2_000 + OWN_WRITE_CLOCK_TOLERANCE_MS + 1),
    ],
    [
      'just outside the tolerance before the write: not ours, and older than the opt-in',
      unsubscribed(iso(T - OWN_WRITE_CLOCK_TOLERANCE_MS - 1)),
      T - 1_000,
      own,
      undefined,
    ],
  ];
  for (const [name, contact, eventTimeMs, ownUnsubscribes, expected] of cases) {
    it(name, () => assert.equal(unsubscribeNewerThan(contact, eventTimeMs, ownUnsubscribes), expected));
  }
  it('a sequenced opt-in at its own opt-out’s event time is not blocked (the ledger ordered them); Listrak’s own unsubscribe still wins the tie', () => {
    assert.equal(unsubscribeNewerThan(unsubscribed(iso(T + 1_000)), T - 3_600_000, own, { sequenced: true }), undefined);
    assert.equal(unsubscribeNewerThan(unsubscribed(iso(T + 1_000)), T - 3_600_001, own, { sequenced: true }), iso(T + 1_000));
    assert.equal(unsubscribeNewerThan(unsubscribed(iso(T)), T, [], { sequenced: true }), iso(T));
  });
  it('without a sequence, every case above decides as before', () => {
    for (const [, contact, eventTimeMs, ownUnsubscribes, expected] of cases) {
      assert.equal(unsubscribeNewerThan(contact, eventTimeMs, ownUnsubscribes, { sequenced: false }), expected);
    }
  });
});

describe('parseEvent: what the webhook accepts', () => {
  const valid = { event_id: 'e-1', event_time: '2026-03-01T12:00:00Z', type: 'opt_in', email: ' Person@Example.com ' };
  const problemsOf = (raw: unknown) => {
    const result = parseEvent(raw, 3);
    assert.ok(!('event' in result), 'expected a refusal');
    return result.problems.map((problem) => `${problem.field}: ${problem.message}`);
  };

  it('accepts the documented shape, normalizes the address and defaults to production', () => {
    const result = parseEvent(valid, 0);
    assert.ok('event' in result);
    assert.deepEqual(result.event, {
      eventId: 'e-1',
      eventTime: '2026-03-01T12:00:00Z',
      eventTimeMs: T,
      type: 'opt_in',
      email: 'person@example.com',
      environment: 'production',
      profile: {},
    });
  });

  const accepted: [string, Record<string, unknown>, Partial<Record<string, unknown>>][] = [
    ['aliases (eventId, eventTime, event_type, email_address)', { eventId: 7, eventTime: '2026-03-01T13:00:00+01:00', event_type: 'OPT-OUT', email_address: 'a@example.com' }, { eventId: '7', eventTimeMs: T, type: 'opt_out' }],
    ['epoch milliseconds', { ...valid, event_time: T }, { eventTime: '2026-03-01T12:00:00.000Z', eventTimeMs: T }],
    ['a nested person.email and program_environment', { event_id: 'e', event_time: valid.event_time, type: 'optin', person: { email: 'b@example.com', first_name: ' Ann ' }, program_environment: 'STAGING' }, { email: 'b@example.com', environment: 'staging', profile: { first_name: 'Ann' } }],
    ['numeric and empty profile values', { ...valid, profile: { phone_number: 5551234, last_name: '', funnel: null } }, { profile: { phone_number: '5551234' } }],
  ];
  for (const [name, raw, expected] of accepted) {
    it(`accepts ${name}`, () => {
      const result = parseEvent(raw, 0);
      assert.ok('event' in result, JSON.stringify(result));
      for (const [key, value] of Object.entries(expected)) assert.deepEqual((result.event as unknown as Record<string, unknown>)[key], value, key);
    });
  }

  const refused: [string, unknown, RegExp][] = [
    ['not an object', 'opt_in', /^: each event must be a JSON object$/],
    ['an array', [valid], /^: each event must be a JSON object$/],
    ['a missing event id', { ...valid, event_id: undefined }, /^event_id: is required$/],
    ['an event id with a slash', { ...valid, event_id: 'a/b' }, /^event_id: must be 1-200 characters/],
    ['a date without an offset', { ...valid, event_time: '2026-03-01T12:00:00' }, /^event_time: must be ISO-8601 with an offset/],
    ['an impossible date (February 30th)', { ...valid, event_time: '2026-02-30T12:00:00Z' }, /^event_time: must be ISO-8601 with an offset/],
    ['an impossible time (24:00)', { ...valid, event_time: '2026-03-01T24:00:00Z' }, /^event_time: must be ISO-8601 with an offset/],
    ['a date only', { ...valid, event_time: '2026-03-01' }, /^event_time: must be ISO-8601 with an offset/],
    ['epoch seconds (before 2000 as milliseconds)', { ...valid, event_time: 1_772_366_400 }, /^event_time: as a number must be epoch milliseconds/],
    ['an unknown type', { ...valid, type: 'subscribe' }, /^type: must be 'opt_in' or 'opt_out', got 'subscribe'$/],
    ['an invalid address', { ...valid, email: 'not-an-address' }, /^email: must be a valid email address$/],
    ['an unknown environment', { ...valid, environment: 'qa' }, /^environment: must be 'production' or 'staging'$/],
    ['a profile that is not an object', { ...valid, profile: ['x'] }, /^profile: must be an object$/],
    ['a profile value over 4000 characters', { ...valid, profile: { first_name: 'x'.repeat(4001) } }, /^profile\.first_name: must be at most 4000 characters$/],
  ];
  for (const [name, raw, expected] of refused) {
    it(`refuses ${name}`, () => {
      const problems = problemsOf(raw);
      assert.ok(problems.some((problem) => expected.test(problem)), problems.join('; '));
    });
  }

  it('never repeats a value that may be an address in a message', () => {
    const problems = problemsOf({ ...valid, type: 'x@example.com' });
    assert.ok(problems.every((problem) => !problem.includes('x@example.com')), problems.join('; '));
  });

  it('reports every problem of an event at once, with its index and readable event id', () => {
    const result = parseEvent({ event_id: 'e-9', type: 'maybe', email: 'nope' }, 3);
    assert.ok(!('event' in result));
    assert.deepEqual(result.problems.map((problem) => [problem.index, problem.event_id, problem.field]), [
      [3, 'e-9', 'event_time'],
      [3, 'e-9', 'type'],
      [3, 'e-9', 'email'],
    ]);
    assert.equal(result.eventId, 'e-9');
    assert.equal(result.email, undefined);
  });

  describe('profile attributes the configuration names (ParseOptions.attributes)', () => {
    const attributes = ['first_name', 'loyalty_tier', 'vip'];
    const parsed = (profile: unknown) => parseEvent({ ...valid, profile }, 0, { attributes });

    it('keeps a configured attribute, writes a number or true/false as text, and drops every attribute not configured', () => {
      const result = parsed({ first_name: 'Ann', loyalty_tier: 3, vip: false, last_name: 'Not mapped', shoe_size: '38' });
      assert.ok('event' in result, JSON.stringify(result));
      assert.deepEqual(result.event.profile, { first_name: 'Ann', loyalty_tier: '3', vip: 'false' });
    });

    it('without options, the documented attributes only (as before)', () => {
      const result = parseEvent({ ...valid, profile: { first_name: 'Ann', loyalty_tier: 'gold', funnel: true } }, 0);
      assert.ok('event' in result, JSON.stringify(result));
      assert.deepEqual(result.event.profile, { first_name: 'Ann', funnel: 'true' });
    });

    it('refuses an object or array as a configured value and one over 4000 characters; an unconfigured one is not even looked at', () => {
      const result = parsed({ loyalty_tier: { level: 'gold' }, vip: 'x'.repeat(4001), other: { deep: [1, 2] } });
      assert.ok(!('event' in result));
      assert.deepEqual(result.problems.map((problem) => `${problem.field}: ${problem.message}`), [
        'profile.loyalty_tier: must be text, a number or true/false',
        'profile.vip: must be at most 4000 characters',
      ]);
    });
  });
});

describe('parseEvents / parseEachEvent: a request of one or many events', () => {
  const event = (id: string, extra: Record<string, unknown> = {}) => ({ event_id: id, event_time: '2026-03-01T12:00:00Z', type: 'opt_out', email: `${id}@example.com`, ...extra });

  it('takes a single object as a one-event request', () => {
    const parsed = parseEvents(event('one'));
    assert.ok('events' in parsed);
    assert.deepEqual(parsed.events.map((entry) => entry.eventId), ['one']);
  });
  it('keeps the valid events of a mixed array and names the refused ones by index', () => {
    const parsed = parseEvents([event('a'), event('b', { type: 'nope' }), event('c')]);
    assert.ok('events' in parsed);
    assert.deepEqual(parsed.events.map((entry) => entry.eventId), ['a', 'c']);
    assert.deepEqual(parsed.rejected.map((entry) => [entry.index, entry.eventId, entry.email]), [[1, 'b', 'b@example.com']]);
  });
  it('answers problems when every event is refused', () => {
    const parsed = parseEvents([event('a', { email: 'x' }), 42]);
    assert.ok('problems' in parsed);
    assert.deepEqual(parsed.problems.map((problem) => problem.index), [0, 1]);
  });
  it('refuses an empty array', () => {
    assert.deepEqual(parseEvents([]), { problems: [{ index: 0, field: '', message: 'the array is empty' }], rejected: [] });
  });
  it(`refuses more than ${MAX_EVENTS_PER_REQUEST} events without reading them`, () => {
    const parsed = parseEvents(Array.from({ length: MAX_EVENTS_PER_REQUEST + 1 }, () => 'not even an object'));
    assert.ok('problems' in parsed);
    assert.match(parsed.problems[0]!.message, /at most 500 events per request, got 501/);
  });
  it('parseEachEvent has no size limit and splits events from problems', () => {
    const items = [...Array.from({ length: MAX_EVENTS_PER_REQUEST + 1 }, (_, index) => event(`e${index}`)), null];
    const { events, problems, rejected } = parseEachEvent(items);
    assert.equal(events.length, MAX_EVENTS_PER_REQUEST + 1);
    assert.deepEqual(rejected.map((entry) => entry.index), [MAX_EVENTS_PER_REQUEST + 1]);
    assert.equal(problems.length, 1);
  });
});

describe('nestingDepth: bracket depth without parsing', () => {
  const cases: [string, number][] = [
    ['', 0],
    ['"text"', 0],
    ['{}', 1],
    ['[{"a":[1,{"b":2}]}]', 4],
    ['{"a":"{[{[not counted]}]}"}', 1],
    ['{"a":"escaped \\" quote {[["}', 1],
    ['{"a":"backslash at the end \\\\"}', 1],
    ['{"a":{}}{"b":{"c":{}}}', 3],
    ['[[[[[[[[[[[[[[[[[[', 18],
  ];
  for (const [text, expected] of cases) {
    it(`${JSON.stringify(text)} → ${expected}`, () => assert.equal(nestingDepth(text), expected));
  }
});

describe('changeWorkflowId / parseChangeWorkflowId', () => {
  const keys: LedgerKey[] = [
    { environment: 'production', listId: 1001, emailHash: 'ab12' },
    { environment: 'staging', listId: 2002, emailHash: 'cd34' },
    { environment: 'production', listId: null, emailHash: 'ef56' },
  ];
  for (const key of keys) {
    it(`round-trips ${key.environment}/${key.listId ?? 'unconfigured'}`, () => {
      for (const eventId of ['e-1', '12345', 'a.b:c_d-e']) {
        assert.deepEqual(parseChangeWorkflowId(changeWorkflowId(key, eventId)), { eventId, ledgerWorkflowId: ledgerWorkflowId(key) });
      }
    });
  }
  const others: [string, ReturnType<typeof parseChangeWorkflowId>][] = [
    ['consent-change/e-1', { eventId: 'e-1' }],
    ['consent-ledger/production/1001/ab12', undefined],
    ['consent-change/', undefined],
    ['consent-change/e-1/qa/1001/ab12', undefined],
    ['consent-change/e-1/production//ab12', undefined],
    ['consent-change/e-1/production/1001', undefined],
    ['consent-change/e-1/production/1001/ab12/extra', undefined],
    ['something-else', undefined],
  ];
  for (const [id, expected] of others) {
    it(`parses ${id} as ${JSON.stringify(expected)}`, () => assert.deepEqual(parseChangeWorkflowId(id), expected));
  }
});

describe('loggablePath: no address in a logged path', () => {
  const cases: [string, unknown, string][] = [
    ['/consents/a@example.com', '/consents/:email', '/consents/[email]'],
    ['/consents/a@example.com?x=1', undefined, '/consents/[masked]'],
    ['/CONSENTS/person', undefined, '/CONSENTS/[masked]'],
    ['//consents/person/more', undefined, '//consents/[masked]/[masked]'],
    ['/consents;x/person', undefined, '/consents;x/[masked]'],
    ['/a%40b/status', undefined, '/[masked]/status'],
    ['/%63onsents/person', undefined, '/[masked]/person'],
    ['/changes/e-1/retry?token=secret', undefined, '/changes/e-1/retry'],
    ['/webhooks/extole#frag', undefined, '/webhooks/extole'],
    [`/${'x'.repeat(101)}`, undefined, '/[masked]'],
    ['/healthz', 42, '/healthz'],
  ];
  for (const [url, route, expected] of cases) {
    it(`${url} → ${expected}`, () => assert.equal(loggablePath(url, route), expected));
  }
  it('caps the length at 300 characters', () => assert.equal(loggablePath(`/${'a/'.repeat(400)}`).length, 300));
});

describe('outcomeOfResult: one translation from a change workflow result to an outcome', () => {
  const written = { writeStartedAtMs: T, writeFinishedAtMs: T + 1 };
  const cases: [string, ChangeResult, ResultOutcome][] = [
    ['applied', { outcome: 'applied', ...written, attempt: 2 }, { outcome: 'applied' }],
    ['applied, already done', { outcome: 'applied', ...written, alreadyDoneCode: 'ERROR_SUBSCRIBED_EMAIL_ADDRESS' }, { outcome: 'applied', listrakCode: 'ERROR_SUBSCRIBED_EMAIL_ADDRESS' }],
    [
      'applied, with every note',
      { outcome: 'applied', ...written, overrodeUnsubscribe: true, droppedFields: [{ segmentationFieldId: 101, code: 'ERROR_SEGMENTATION_MAX_LENGTH' }, { segmentationFieldId: 105, code: 'ERROR_SEGMENTATION_FIELD_DISABLED' }], eventsAlreadyRaised: true },
      {
        outcome: 'applied',
        detail: 'moved an unsubscribed contact back to subscribed; profile values dropped: 101 (ERROR_SEGMENTATION_MAX_LENGTH), 105 (ERROR_SEGMENTATION_FIELD_DISABLED); opt-in events were raised by an earlier attempt',
      },
    ],
    ['rejected', { outcome: 'rejected', code: 'ERROR_BANNED_EMAIL_ADDRESS', status: 400, message: 'banned' }, { outcome: 'rejected', listrakCode: 'ERROR_BANNED_EMAIL_ADDRESS', detail: 'banned' }],
    ['superseded before the write', { outcome: 'superseded_before_write', newerEventId: 'e-2' }, { outcome: 'superseded', detail: 'newer change e-2 arrived before the write; nothing was written' }],
    ['superseded in Listrak', { outcome: 'superseded_in_listrak', unsubscribeDate: '2026-03-01T12:00:00Z' }, { outcome: 'superseded', detail: 'Listrak holds an unsubscribe of 2026-03-01T12:00:00Z, not older than this opt-in' }],
    ['skipped', { outcome: 'skipped', reason: 'skipped by an operator while parked: x' }, { outcome: 'skipped', detail: 'skipped by an operator while parked: x' }],
  ];
  for (const [name, result, expected] of cases) {
    it(name, () => assert.deepEqual(outcomeOfResult(result), expected));
  }
});

describe('the client names workflows, signals and queries by their definitions, as the worker registers them', () => {
  it('the workflow functions carry the type names of the committed histories', () => {
    assert.equal(extractWorkflowType(consentLedgerWorkflow), 'consentLedgerWorkflow');
    assert.equal(extractWorkflowType(applyConsentChangeWorkflow), 'applyConsentChangeWorkflow');
    for (const workflow of [consentLedgerWorkflow, applyConsentChangeWorkflow]) assert.ok((WORKFLOW_TYPES as readonly string[]).includes(extractWorkflowType(workflow)));
  });

  it('the signal, query and update definitions carry the names of SIGNALS, QUERIES and UPDATES', () => {
    assert.deepEqual(
      [consentChangeSignal, retrySignal, skipSignal, retryChangeSignal, skipChangeSignal].map((definition) => definition.name),
      [SIGNALS.change, SIGNALS.retry, SIGNALS.skip, SIGNALS.retryChange, SIGNALS.skipChange],
    );
    assert.deepEqual([ledgerStateQuery.name, changeStatusQuery.name], [QUERIES.ledgerState, QUERIES.changeStatus]);
    assert.deepEqual([retryUpdate.name, skipUpdate.name, retryParkedChangeUpdate.name, skipParkedChangeUpdate.name], [UPDATES.retry, UPDATES.skip, UPDATES.retry, UPDATES.skip]);
  });

  it('an option left undefined is absent from the payload, as an option never set was', () => {
    const key: LedgerKey = { environment: 'production', listId: 1001, emailHash: 'h' };
    const encode = (value: unknown) => Buffer.from(defaultPayloadConverter.toPayload(value)?.data ?? []).toString();
    assert.equal(encode({ key, idleDays: 14, searchAttributes: undefined }), encode({ key, idleDays: 14 }));
  });
});

describe('layering: consent sits below http and cli', () => {
  it('nothing in src/consent/ imports from src/http/, src/cli/ or src/dev/', () => {
    const folder = path.join(__dirname, '../../src/consent');
    const climbing = readdirSync(folder)
      .filter((file) => file.endsWith('.ts'))
      .flatMap((file) =>
        [...readFileSync(path.join(folder, file), 'utf8').matchAll(/from '(\.\.\/(?:http|cli|dev)\/[^']*)'/g)].map((match) => `${file}: ${match[1]}`),
      );
    assert.deepEqual(climbing, []);
  });
});
