import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { WorkflowNotFoundError } from '@temporalio/client';
import { parseCommandLine } from '../src/cli/consent';
import { PROGRESS_EVERY_ROWS, type ImportSummary } from '../src/cli/import-optouts';
import { ledgerKeyFor } from '../src/consent/intake';
import { optOutExportEventId, type ExportKind } from '../src/consent/optout-export';
import { consentEvent, PRODUCTION_LIST, uniqueEmail, uniqueId, waitForOutcome } from '../src/dev/harness';
import { ledgerWorkflowId, type LedgerState } from '../src/shared';
import { runConsent } from './helpers/run-consent';
import { useHarness } from './helpers/use-harness';

describe('consent import-optouts: command line', () => {
  it('takes --exported-at, --environment, --dry-run and --json, and nothing the other imports take', () => {
    const parsed = parseCommandLine(['import-optouts', 'ADVOCATE-1.csv', '--exported-at', '2026-03-01T06:00:00Z', '--environment', 'staging', '--dry-run']);
    assert.ok(!parsed.help && parsed.command === 'import-optouts');
    assert.equal(parsed.options.exportedAt, '2026-03-01T06:00:00Z');
    assert.throws(() => parseCommandLine(['import-optouts', 'ADVOCATE-1.csv', '--rate', '5']), /import-optouts does not take --rate/);
    assert.throws(() => parseCommandLine(['import', 'x.csv', '--exported-at', '2026-03-01T06:00:00Z']), /import does not take --exported-at/);
  });
});

describe("consent import-optouts: Extole's opt-out export through the ledgers", () => {
  const { harness, service } = useHarness();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'import-optouts-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const consent = (...args: string[]) => runConsent(service().env, ...args);
  const exportFile = (kind: ExportKind, lines: string[]) => {
    const file = path.join(dir, `${kind.toUpperCase()}-${uniqueId('export-')}.csv`);
    writeFileSync(file, `${lines.join('\r\n')}\r\n`);
    return file;
  };
  const ledger = (email: string) =>
    harness().env.client.workflow.getHandle(ledgerWorkflowId(ledgerKeyFor(service().config, 'production', email))).query<LedgerState>('ledgerState');
  const rowEventId = (kind: ExportKind, exportedAt: Date, email: string) =>
    optOutExportEventId(service().config, { kind, exportedAtMs: exportedAt.getTime(), email });
  const summaryOf = (stdout: string) => JSON.parse(stdout) as ImportSummary;

  it('an opt-in made after the export time stands, one made before it is overridden, whichever reaches the service first', async () => {
    const exportedAt = new Date(Date.now() - 10 * 60_000);
    const before = new Date(exportedAt.getTime() - 60_000);
    const later = new Date(exportedAt.getTime() + 60_000);
    // Opted in before the import ran: after the export (stands) and before it (overridden).
    const keptEarly = uniqueEmail('optout-kept-early');
    const lostEarly = uniqueEmail('optout-lost-early');
    // Opt-ins delivered after the import, with the same two event times.
    const keptLate = uniqueEmail('optout-kept-late');
    const lostLate = uniqueEmail('optout-lost-late');
    const early = [consentEvent('opt_in', keptEarly, later), consentEvent('opt_in', lostEarly, before)];
    for (const [index, email] of [keptEarly, lostEarly].entries()) {
      await service().post(early[index]);
      assert.equal((await waitForOutcome(service(), email, String(early[index]!.event_id))).outcome, 'applied');
    }
    const writesBefore = harness().sandbox.requestsFor('upsert', keptEarly).length;

    const file = exportFile('advocate', ['email', ` ${keptEarly.toUpperCase()} `, lostEarly, keptLate, lostLate]);
    const imported = await consent('import-optouts', file, '--exported-at', exportedAt.toISOString(), '--json');
    assert.equal(imported.code, 0, imported.stderr);
    const summary = summaryOf(imported.stdout);
    assert.deepEqual({ rows: summary.rows, recorded: summary.recorded, duplicates: summary.duplicates, invalid: summary.invalid.count }, { rows: 4, recorded: 4, duplicates: 0, invalid: 0 });

    const late = [consentEvent('opt_in', keptLate, later), consentEvent('opt_in', lostLate, before)];
    for (const [index, email] of [keptLate, lostLate].entries()) {
      assert.equal((await waitForOutcome(service(), email, rowEventId('advocate', exportedAt, email))).outcome, 'applied', 'the export opt-out is applied');
      await service().post(late[index]);
      await waitForOutcome(service(), email, String(late[index]!.event_id));
    }

    const outcome = async (email: string, eventId: string) => (await waitForOutcome(service(), email, eventId)).outcome as string;
    assert.equal(await outcome(keptEarly, rowEventId('advocate', exportedAt, keptEarly)), 'superseded', 'the export is older than the opt-in');
    assert.equal(await outcome(lostEarly, rowEventId('advocate', exportedAt, lostEarly)), 'applied');
    assert.equal(await outcome(keptLate, String(late[0]!.event_id)), 'applied', 'an opt-in after the export time is applied after it');
    assert.equal(await outcome(lostLate, String(late[1]!.event_id)), 'superseded', 'an opt-in before the export time loses to it');

    const state = (email: string) => harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState;
    assert.equal(state(keptEarly), 'Subscribed');
    assert.equal(harness().sandbox.requestsFor('upsert', keptEarly).length, writesBefore, 'no write for the superseded opt-out');
    assert.equal(state(keptLate), 'Subscribed');
    assert.notEqual(state(lostEarly), 'Subscribed');
    assert.notEqual(state(lostLate), 'Subscribed');
  });

  it('importing the same file twice records nothing new: every row is a duplicate and nothing is written again', async () => {
    const exportedAt = new Date(Date.now() - 60_000);
    const people = [uniqueEmail('optout-twice-a'), uniqueEmail('optout-twice-b'), uniqueEmail('optout-twice-c')];
    const file = exportFile('friend', ['email', ...people]);
    const first = await consent('import-optouts', file, '--exported-at', exportedAt.toISOString());
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /friend export of .*, production\nrows read: 3\nopt-outs recorded: 3\nduplicates \(already recorded\): 0/);
    for (const email of people) await waitForOutcome(service(), email, rowEventId('friend', exportedAt, email));
    const writes = () => people.reduce((sum, email) => sum + harness().sandbox.requestsFor('upsert', email).length, 0);
    const written = writes();

    const again = await consent('import-optouts', file, '--exported-at', exportedAt.toISOString(), '--json');
    assert.equal(again.code, 0, again.stderr);
    const summary = summaryOf(again.stdout);
    assert.deepEqual({ recorded: summary.recorded, duplicates: summary.duplicates, unchecked: summary.unchecked }, { recorded: 0, duplicates: 3, unchecked: 0 });
    for (const email of people) assert.equal((await ledger(email)).changes.length, 1, 'one change in the ledger');
    assert.equal(writes(), written, 'no second write');
  });

  it('refuses a hashed export, saying why, before recording anything', async () => {
    const md5 = exportFile('advocate', ['email', '5d41402abc4b2a76b9719d911017c592', '7d793037a0760186574b0282f2f435e7']);
    const sha = exportFile('friend', ['email_sha256', '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824']);
    for (const [file, hash] of [[md5, 'MD5'], [sha, 'email_sha256']] as const) {
      const refused = await consent('import-optouts', file, '--exported-at', new Date().toISOString());
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, new RegExp(`hashed export \\(${hash}`));
      assert.match(refused.stderr, /cannot be turned back into the address Listrak needs to unsubscribe/);
      assert.match(refused.stderr, /Ask Extole for the plain-email export/);
      assert.equal(refused.stdout, '');
    }
  });

  it('counts rows that are not an address and reports them by line, without any address; records the others', async () => {
    const exportedAt = new Date(Date.now() - 60_000);
    const good = uniqueEmail('optout-good');
    const file = exportFile('advocate', ['email', good, 'not-an-email', '', 'someone@', 'aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d']);
    const result = await consent('import-optouts', file, '--exported-at', exportedAt.toISOString());
    assert.equal(result.code, 1, 'exit 1: some rows were not recorded');
    assert.match(result.stdout, /rows read: 4\nopt-outs recorded: 1\n/);
    assert.match(result.stdout, /invalid \(not an email address\): 2 \(lines 3, 5\)/);
    assert.match(result.stdout, /refused \(hashed, not an address\): 1 \(line 6\)/);
    for (const output of [result.stdout, result.stderr]) {
      assert.doesNotMatch(output, /not-an-email|someone@|aaf4c61d/);
      assert.ok(!output.includes(good), 'no address in the output');
    }
    assert.equal((await waitForOutcome(service(), good, rowEventId('advocate', exportedAt, good))).outcome, 'applied');
  });

  it('a dry run validates and counts, and writes nothing', async () => {
    const email = uniqueEmail('optout-dry');
    const file = exportFile('friend', ['email', email, 'nope']);
    const dry = await consent('import-optouts', file, '--exported-at', new Date(Date.now() - 60_000).toISOString(), '--dry-run', '--json');
    assert.equal(dry.code, 1, dry.stderr);
    const summary = summaryOf(dry.stdout);
    assert.deepEqual({ dry_run: summary.dry_run, rows: summary.rows, recorded: summary.recorded, invalid: summary.invalid }, { dry_run: true, rows: 2, recorded: 1, invalid: { count: 1, lines: [3] } });
    await assert.rejects(ledger(email), WorkflowNotFoundError, 'no ledger was started');
    assert.equal(harness().sandbox.requestsFor('upsert', email).length, 0);
  });

  it('writes a progress line every PROGRESS_EVERY_ROWS rows on stderr, and the rate and peak RSS at the end', async () => {
    const rows = Array.from({ length: PROGRESS_EVERY_ROWS * 2 + 5 }, (_, index) => `progress.${index}@example.com`);
    const file = exportFile('advocate', rows);
    const dry = await consent('import-optouts', file, '--exported-at', new Date(Date.now() - 60_000).toISOString(), '--dry-run');
    assert.equal(dry.code, 0, dry.stderr);
    const progress = dry.stderr.split('\n').filter((line) => line.startsWith('import-optouts …'));
    assert.deepEqual(progress.map((line) => /… (\d+) rows/.exec(line)?.[1]), [String(PROGRESS_EVERY_ROWS), String(PROGRESS_EVERY_ROWS * 2)]);
    assert.match(dry.stderr, new RegExp(`import-optouts: ${rows.length} rows in [\\d.]+ s \\(\\d+ rows/s, peak RSS \\d+ MB\\)`));
    assert.match(dry.stdout, new RegExp(`rows read: ${rows.length}\nopt-outs to record: ${rows.length}`), 'a headerless file: every line is a row');
  });

  it('refuses a file not named as Extole names it, and a missing export time, with exit 2', async () => {
    const renamed = path.join(dir, 'optouts.csv');
    writeFileSync(renamed, 'email\njane@example.com\n');
    const unnamed = await consent('import-optouts', renamed, '--exported-at', new Date().toISOString());
    assert.equal(unnamed.code, 2);
    assert.match(unnamed.stderr, /ADVOCATE-….csv or FRIEND-….csv/);
    const untimed = await consent('import-optouts', exportFile('friend', ['email']));
    assert.equal(untimed.code, 2);
    assert.match(untimed.stderr, /needs --exported-at/);
  });
});
