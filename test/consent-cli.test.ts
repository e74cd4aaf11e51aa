import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { ledgerKeyFor } from '../src/consent/intake';
import { ledgerWorkflowId, type LedgerState } from '../src/shared';
import { parseCommandLine } from '../src/cli/consent';
import { consentEvent, eventually, PRODUCTION_LIST, uniqueEmail, uniqueId, waitForOutcome } from '../src/dev/harness';
import { runConsent } from './helpers/run-consent';
import { useHarness } from './helpers/use-harness';

describe('consent CLI command line: each command takes only its own options', () => {
  it('refuses an unknown command, an option the command does not take, or a stray argument, naming them', () => {
    const cases: [string[], RegExp][] = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['retry-parked', '--limit', '5'], /retry-parked does not take --limit/],
      [['status', 'a@example.com', '--dry-run'], /status does not take --dry-run/],
      [['recent', '--rate', '3'], /recent does not take --rate/],
      [['import', 'x.csv', '--since', '1h'], /import does not take --since/],
      [['replay', 'x.json', '--with-events'], /replay does not take --with-events/],
      [['retry', 'e1', '--environment', 'production'], /retry does not take --environment/],
      [['recent', 'extra'], /recent takes no argument/],
      [['skip', 'e1', 'e2'], /skip takes one argument/],
      [['retry'], /retry needs <event_id>/],
      [['recent', '--colour'], /--colour/],
      [['recent', '--environment', 'prod'], /--environment must be one of production, staging/],
    ];
    for (const [args, message] of cases) assert.throws(() => parseCommandLine(args), message, args.join(' '));
  });

  it('takes --dry-run on every command that changes state', () => {
    for (const args of [['retry', 'e1'], ['skip', 'e1'], ['retry-parked'], ['replay', 'x.json'], ['import', 'x.csv']]) {
      const parsed = parseCommandLine([...args, '--dry-run']);
      assert.ok(!parsed.help && parsed.options.dryRun, args.join(' '));
    }
  });

  it('refuses them in its own process with exit 2, before trying Temporal (which would take 12 s)', async () => {
    // Nobody listens on this port: a command that tried to connect would wait ~12 s and exit 1.
    const nowhere = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    for (const args of [['frobnicate'], ['retry-parked', '--limit', '5'], ['status', 'a@example.com', '--dry-run']]) {
      const started = Date.now();
      const result = await runConsent({ TEMPORAL_ADDRESS: `127.0.0.1:${nowhere}` }, ...args);
      const elapsed = Date.now() - started;
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.doesNotMatch(result.stderr, /connect|deadline/i, `${args.join(' ')} did not try Temporal`);
      // Starting node and tsx takes 1-2 s (up to 5 on a busy shared machine); the connection
      // attempt of the old code alone took 12 s, and then it exited 1.
      assert.ok(elapsed < 9_000, `${args.join(' ')} answered in ${elapsed} ms`);
    }
  });
});

describe('consent CLI (npm run consent)', () => {
  const { harness, service } = useHarness();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'consent-cli-'));

  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the CLI as a person would, in its own process, against the same Temporal. */
  const consent = (...args: string[]) => runConsent(service().env, ...args);

  const ledger = (email: string) =>
    harness().env.client.workflow.getHandle(ledgerWorkflowId(ledgerKeyFor(service().config, 'production', email))).query<LedgerState>('ledgerState');

  it('status prints a table for people and JSON for scripts', async () => {
    const email = uniqueEmail('cli-status');
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    await service().post(optIn);
    await waitForOutcome(service(), email, String(optIn.event_id));

    const human = await consent('status', email.toUpperCase());
    assert.equal(human.code, 0, human.stderr);
    assert.match(human.stdout, /production · list 1001 \(production\)/);
    assert.match(human.stdout, new RegExp(`${String(optIn.event_id)}\\s+opt_in\\s+\\S+\\s+default\\s+1001 \\(production\\)\\s+applied`));
    assert.match(human.stdout, /EVENT ID\s+TYPE\s+EVENT TIME\s+ROUTE\s+LIST\s+OUTCOME/);

    const machine = await consent('status', email, '--json');
    assert.equal(machine.code, 0);
    const [production] = JSON.parse(machine.stdout) as { environment: string; applied: { eventId: string } }[];
    assert.equal(production?.environment, 'production');
    assert.equal(production?.applied.eventId, optIn.event_id);

    const unknown = await consent('status', uniqueEmail('nobody'));
    assert.equal(unknown.code, 3);
  });

  it('retry, skip and retry-parked act on parked changes only, with exit codes for scripts', async () => {
    const first = uniqueEmail('cli-parked-a');
    const second = uniqueEmail('cli-parked-b');
    const changes = [consentEvent('opt_out', first, new Date()), consentEvent('opt_out', second, new Date())];
    for (const [index, email] of [first, second].entries()) {
      harness().sandbox.script({ route: 'upsert', email, status: 404, error: 'ERROR_UNABLE_TO_LOCATE_RESOURCE' });
      await service().post(changes[index]);
      assert.equal((await waitForOutcome(service(), email, String(changes[index]!.event_id))).outcome, 'parked');
    }
    assert.equal((await consent('retry', 'no-such-event')).code, 3);
    assert.equal((await consent('retry', 'no-such-event', '--dry-run')).code, 3, 'a dry run finds the change as retry would');

    // Dry runs list what would be signalled and send nothing: both changes stay parked.
    const single = await consent('retry', String(changes[0]!.event_id), '--dry-run', '--json');
    assert.equal(single.code, 0, single.stderr);
    assert.deepEqual(
      (({ event_id, signal, dry_run }) => ({ event_id, signal, dry_run }))(JSON.parse(single.stdout) as Record<string, unknown>),
      { event_id: changes[0]!.event_id, signal: 'retry', dry_run: true },
    );
    const skipHuman = await consent('skip', String(changes[1]!.event_id), '--dry-run');
    assert.equal(skipHuman.code, 0, skipHuman.stderr);
    assert.match(skipHuman.stdout, /dry run: would send skip to \S+/);
    const listed = await eventually(async () => {
      const result = await consent('retry-parked', '--environment', 'production', '--since', '1h', '--dry-run', '--json');
      const answer = JSON.parse(result.stdout || '{}') as { dry_run?: boolean; results?: { eventId: string; result: string }[] };
      const found = (answer.results ?? []).filter((entry) => changes.some((change) => change.event_id === entry.eventId));
      return found.length >= 2 ? { answer, found } : undefined;
    }, 20_000, 'the parked changes to be listed by a dry run');
    assert.equal(listed.answer.dry_run, true);
    assert.deepEqual(listed.found.map((entry) => entry.result), ['would_retry', 'would_retry']);
    const humanDry = await consent('retry-parked', '--since', '1h', '--dry-run');
    assert.match(humanDry.stdout, /dry run: \d+ parked change\(s\) would be retried, nothing was sent/);
    assert.match(humanDry.stdout, /would_retry/);
    for (const [index, email] of [first, second].entries()) {
      assert.equal((await waitForOutcome(service(), email, String(changes[index]!.event_id))).outcome, 'parked', 'still parked after the dry runs');
    }

    // The cause is fixed (the scripted answers are used up): retry every parked change at once.
    const retried = await eventually(async () => {
      const result = await consent('retry-parked', '--environment', 'production', '--since', '1h', '--json');
      const ids = (JSON.parse(result.stdout || '{}') as { results?: { eventId: string; result: string }[] }).results ?? [];
      return ids.filter((entry) => entry.result === 'retried').length >= 2 ? ids : undefined;
    }, 20_000, 'the parked changes to be listed by visibility');
    for (const change of changes) assert.ok(retried.some((entry) => entry.eventId === change.event_id && entry.result === 'retried'));
    for (const [index, email] of [first, second].entries()) {
      await eventually(async () => (await waitForOutcome(service(), email, String(changes[index]!.event_id))).outcome === 'applied', 20_000, 'applied after retry');
    }
    assert.equal((await consent('skip', String(changes[0]!.event_id))).code, 4, 'no longer parked');
    assert.equal((await consent('frobnicate')).code, 2);
  });

  it('import backfills a CSV through the same workflows: paced, without raising events, harmless to re-run', async () => {
    const alice = uniqueEmail('import-alice');
    const bob = uniqueEmail('import-bob');
    const carol = uniqueEmail('import-carol');
    const csv = path.join(dir, 'consents.csv');
    const rows = [
      'email,type,event_time,first_name,environment',
      `${alice},opt_in,2025-01-10T10:00:00Z,Alice,production`,
      `${bob},opt_in,2025-01-10T10:00:00Z,Bob,`,
      `${bob},opt_out,2025-03-01T08:00:00Z,,`,
      `${carol},opt_in,2025-02-30T10:00:00Z,Carol,`,
    ];
    writeFileSync(csv, `${rows.join('\n')}\n`);

    const refused = await consent('import', csv, '--json');
    assert.equal(refused.code, 1);
    const refusal = JSON.parse(refused.stdout) as { recorded: number; invalid: { index: number; field: string }[] };
    assert.equal(refusal.recorded, 0);
    assert.deepEqual(refusal.invalid.map((problem) => [problem.index, problem.field]), [[5, 'event_time']], 'CSV line 5 names the impossible date');

    const dryRun = await consent('import', csv, '--dry-run', '--json');
    assert.deepEqual(JSON.parse(dryRun.stdout).valid, 3);

    const imported = await consent('import', csv, '--skip-invalid', '--rate', '20');
    assert.equal(imported.code, 1, 'exit 1: some rows were invalid');
    assert.match(imported.stdout, /recorded: 3/);
    assert.match(imported.stderr, /import \[#+\] 100% 3\/3/);

    await eventually(async () => (await ledger(alice)).applied !== undefined && (await ledger(bob)).applied?.type === 'opt_out', 30_000, 'the backfill to apply');
    const aliceContact = harness().sandbox.contact(PRODUCTION_LIST, alice);
    assert.equal(aliceContact?.subscriptionState, 'Subscribed');
    assert.deepEqual(aliceContact?.raisedEvents, [], 'a backfilled opt-in starts no email series');
    assert.ok(aliceContact?.segmentationFieldValues.some((field) => field.value === 'Alice'));
    assert.notEqual(harness().sandbox.contact(PRODUCTION_LIST, bob)?.subscriptionState, 'Subscribed', "bob's later opt-out wins");
    const writes = harness().sandbox.requestsFor('upsert', alice).length + harness().sandbox.requestsFor('upsert', bob).length;

    const again = await consent('import', csv, '--skip-invalid', '--json');
    assert.equal(JSON.parse(again.stdout).recorded, 3);
    await eventually(async () => (await ledger(alice)).changes[0]!.duplicatesSeen === 1, 15_000, 'the re-run to be seen as duplicates');
    assert.equal(harness().sandbox.requestsFor('upsert', alice).length + harness().sandbox.requestsFor('upsert', bob).length, writes, 'no second write');
  });

  it('replay re-sends saved events (NDJSON); recent lists them', async () => {
    const email = uniqueEmail('replay');
    const saved = [consentEvent('opt_in', email, new Date(Date.now() - 120_000)), consentEvent('opt_out', email, new Date(Date.now() - 60_000))];
    const file = path.join(dir, `${uniqueId('saved-')}.ndjson`);
    writeFileSync(file, saved.map((event) => JSON.stringify(event)).join('\n'));
    const replayed = await consent('replay', file, '--json');
    assert.equal(replayed.code, 0, replayed.stderr);
    assert.equal(JSON.parse(replayed.stdout).recorded, 2);
    await waitForOutcome(service(), email, String(saved[1]!.event_id));
    assert.notEqual(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');

    const recent = await eventually(async () => {
      const result = await consent('recent', '--limit', '200', '--json');
      const list = JSON.parse(result.stdout || '[]') as { eventId: string; outcome: string }[];
      return list.some((change) => change.eventId === saved[1]!.event_id) ? list : undefined;
    }, 15_000, 'the replayed change in recent');
    assert.ok(recent.length > 0);
    const table = await consent('recent', '--limit', '5');
    assert.match(table.stdout, /STARTED\s+EVENT ID\s+TYPE\s+ENV\s+ROUTE\s+LIST\s+OUTCOME/);
  });
});
