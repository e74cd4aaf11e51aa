import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { csvCells, exportKindOf, hashNameOf, parseExportedAt, readFirstLine } from '../../src/cli/import-optouts';
import { optOutExportEventId, retrying, ROW_RETRY_DELAYS_MS } from '../../src/consent/optout-export';
import { TemporalUnavailableError } from '../../src/consent/intake';
import { EVENT_ID } from '../../src/shared';
import type { Config } from '../../src/config/config';

const config = { emailHashKey: 'unit-email-hash-key-0123456789' } as Readonly<Config>;

describe("Extole's opt-out export: the rules that need no server", () => {
  it('tells the kind by Extole file name, and nothing else', () => {
    assert.equal(exportKindOf('/tmp/ADVOCATE-2026-03-01.csv'), 'advocate');
    assert.equal(exportKindOf('friend-2026-03-01.csv'), 'friend');
    assert.equal(exportKindOf('optouts.csv'), undefined);
  });

  it('recognises MD5, SHA-1 and SHA-256 digests, not addresses or other hex', () => {
    assert.equal(hashNameOf('5d41402abc4b2a76b9719d911017c592'), 'MD5');
    assert.equal(hashNameOf('AAF4C61DDCC5E8A2DABEDE0F3B482CD9AEA9434D'), 'SHA-1');
    assert.equal(hashNameOf('2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824'), 'SHA-256');
    assert.equal(hashNameOf('jane@example.com'), undefined);
    assert.equal(hashNameOf('abc123'), undefined);
  });

  it('finds the email column in a header, takes a headerless file of addresses, refuses a header without one', () => {
    assert.deepEqual(readFirstLine('\uFEFFprogram,"Email",opted_out_at'), { header: true, column: 1 });
    assert.deepEqual(readFirstLine('jane@example.com'), { header: false, column: 0 });
    assert.throws(() => readFirstLine('email_sha256'), /hashed export/);
    assert.throws(() => readFirstLine('hashed_email,program'), /hashed export \(hashed_email/);
    assert.throws(() => readFirstLine('natasha'), /neither a header/, 'a name with "sha" in it is not a hash column');
    assert.throws(() => readFirstLine('person,when'), /neither a header with an email column nor an address \(2 column\(s\)\)/);
    assert.throws(() => readFirstLine('jane.example.com'), (error: Error) => !error.message.includes('jane'), 'a line that may be an address is not repeated');
    assert.deepEqual(csvCells(' "Jane@Example.com" ,x'), ['Jane@Example.com', 'x']);
  });

  it('takes an export time with its offset only, and not one in the future', () => {
    const now = Date.parse('2026-03-01T12:00:00Z');
    assert.equal(parseExportedAt('2026-03-01T06:00:00+01:00', now).toISOString(), '2026-03-01T05:00:00.000Z');
    assert.throws(() => parseExportedAt('2026-03-01T06:00:00', now), /with Z or an offset/);
    assert.throws(() => parseExportedAt('yesterday', now), /ISO-8601/);
    assert.throws(() => parseExportedAt('2026-03-02T06:00:00Z', now), /in the future/);
    assert.throws(() => parseExportedAt(undefined, now), /needs --exported-at/);
  });

  it('derives one event id per export time, kind and person, without the address', () => {
    const row = { kind: 'advocate' as const, exportedAtMs: Date.parse('2026-03-01T06:00:00Z'), email: 'jane@example.com' };
    const id = optOutExportEventId(config, row);
    assert.match(id, EVENT_ID);
    assert.equal(optOutExportEventId(config, { ...row }), id, 'the same row gives the same id');
    assert.doesNotMatch(id, /jane|example/);
    assert.notEqual(optOutExportEventId(config, { ...row, kind: 'friend' }), id);
    assert.notEqual(optOutExportEventId(config, { ...row, exportedAtMs: row.exportedAtMs + 1 }), id);
    assert.notEqual(optOutExportEventId(config, { ...row, email: 'john@example.com' }), id);
  });
});

describe('an export row whose Temporal call fails is tried again', () => {
  const unavailable = () => new TemporalUnavailableError('deadline exceeded');

  it('tries again after each delay while Temporal is unavailable, and answers what the call answered', async () => {
    let calls = 0;
    const retried: string[] = [];
    const answer = await retrying(
      () => {
        calls++;
        return calls < 3 ? Promise.reject(unavailable()) : Promise.resolve('recorded');
      },
      [1, 1, 1],
      (error) => retried.push(error.message),
    );
    assert.deepEqual([answer, calls, retried], ['recorded', 3, ['deadline exceeded', 'deadline exceeded']]);
  });

  it('throws the last failure once the delays are used up', async () => {
    let calls = 0;
    await assert.rejects(
      retrying(() => {
        calls++;
        return Promise.reject(unavailable());
      }, [1, 1]),
      TemporalUnavailableError,
    );
    assert.equal(calls, 3, 'the first try and one per delay');
  });

  it('does not try again an error that is not Temporal being away (a bug, a refused row)', async () => {
    let calls = 0;
    await assert.rejects(
      retrying(() => {
        calls++;
        return Promise.reject(new TypeError('not a Temporal failure'));
      }, [1, 1]),
      TypeError,
    );
    assert.equal(calls, 1);
  });

  it('waits about half a minute in all by default', () => {
    const total = ROW_RETRY_DELAYS_MS.reduce((sum, delay) => sum + delay, 0);
    assert.ok(total >= 20_000 && total <= 60_000, `${total} ms`);
  });
});
