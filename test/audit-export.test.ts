import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { parse as parseCsv } from 'csv-parse/sync';
import { AUDIT_FIELDS, createAuditTrail, type AuditRow } from '../src/consent/export';
import { EVERY_LIST_ROUTE } from '../src/config/routing';
import { hashEmail } from '../src/consent/email';
import { changeWorkflowIdFor, ledgerKeyFor } from '../src/consent/intake';
import { ledgerWorkflowId, type Environment, type LedgerState } from '../src/shared';
import { createOperations } from '../src/consent/status';
import { PROJECT_ROOT } from '../src/dev/paths';
import { PRODUCTION_LIST, STAGING_LIST, consentEvent, eventually, uniqueEmail, waitForOutcome } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

const run = promisify(execFile);

interface Sent {
  email: string;
  eventId: string;
  eventTime: string;
  type: 'opt_in' | 'opt_out';
  environment: Environment;
}

describe('audit export and history (npm run consent -- export, GET /consents/{email}/history)', () => {
  const { harness, service } = useHarness();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'audit-export-'));
  const sent: Sent[] = [];
  let start: Date;
  let middle: Date;
  let end: Date;

  const audit = () => {
    const operations = createOperations({ client: harness().env.client, config: service().config, deadlineMs: 15_000 });
    return createAuditTrail({ client: harness().env.client, config: service().config, operations });
  };
  const collect = async (rows: AsyncIterable<AuditRow>) => {
    const all: AuditRow[] = [];
    for await (const row of rows) all.push(row);
    return all;
  };
  const closedChangesSince = (since: Date) =>
    harness().env.client.workflow.count(`WorkflowType = 'applyConsentChangeWorkflow' AND ExecutionStatus = 'Completed' AND StartTime >= '${since.toISOString()}'`);

  /** Posts one change per new person, in batches as Extole sends them. */
  async function sendPeople(count: number, environment: Environment) {
    const batch: Sent[] = Array.from({ length: count }, (_, index) => ({
      email: uniqueEmail(`audit${index}`),
      eventId: '',
      eventTime: new Date(Date.now() - 60_000 + index).toISOString(),
      type: index % 3 === 0 ? 'opt_out' : 'opt_in',
      environment,
    }));
    for (let offset = 0; offset < batch.length; offset += 50) {
      const events = batch.slice(offset, offset + 50).map((entry) => {
        const event = consentEvent(entry.type, entry.email, entry.eventTime, environment === 'staging' ? { environment: 'staging' } : {});
        entry.eventId = String(event.event_id);
        return event;
      });
      const answer = await service().post(events);
      assert.equal(answer.status, 200, JSON.stringify(answer.body));
    }
    sent.push(...batch);
  }

  before(async () => {
    start = new Date();
    await sendPeople(40, 'production');
    await eventually(async () => (await closedChangesSince(start)).count >= 40, 60_000, 'the first 40 changes to complete', 250);
    middle = new Date();
    await sendPeople(200, 'production');
    await sendPeople(20, 'staging');
    await eventually(async () => (await closedChangesSince(start)).count >= 260, 120_000, 'all 260 changes to complete', 250);
    end = new Date(Date.now() + 1_000);
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  /** What the row of a change must say: the request, the ids, and what its ledger recorded. */
  async function assertRow(row: AuditRow, expected: Sent) {
    const config = service().config;
    const key = ledgerKeyFor(config, expected.environment, expected.email);
    const state = await harness().env.client.workflow.getHandle(ledgerWorkflowId(key)).query<LedgerState>('ledgerState');
    const record = state.changes.find((entry) => entry.eventId === expected.eventId)!;
    assert.equal(record.outcome, 'applied');
    const { appliedAt, closedAt, ...rest } = row;
    assert.deepEqual(rest, {
      eventId: expected.eventId,
      eventTime: expected.eventTime,
      receivedAt: record.receivedAt,
      type: expected.type,
      outcome: 'applied',
      detail: record.detail,
      listrakCode: record.listrakCode,
      environment: expected.environment,
      // The LISTRAK_* variables' one default route (an opt-out: every list of its environment), to the list named after its environment.
      route: expected.type === 'opt_in' ? 'default' : EVERY_LIST_ROUTE.name,
      listId: expected.environment === 'staging' ? STAGING_LIST : PRODUCTION_LIST,
      listName: expected.environment,
      emailHash: hashEmail(config.emailHashKey, expected.email),
      email: expected.email,
      changeWorkflowId: changeWorkflowIdFor(config, expected.environment, expected.email, expected.eventId),
      ledgerWorkflowId: ledgerWorkflowId(key),
      attempts: 1,
    });
    assert.equal(appliedAt, state.applied?.appliedAt, 'written when the ledger says');
    assert.ok(closedAt && appliedAt && closedAt >= appliedAt && appliedAt >= record.receivedAt, `${record.receivedAt} ≤ ${appliedAt} ≤ ${closedAt}`);
  }

  it('exports every change workflow of the window, each row with every field, and nothing outside the window', async () => {
    const rows = await collect(audit().exportChanges({ since: start, until: end }));
    assert.equal(rows.length, 260);
    const byEventId = new Map(sent.map((entry) => [entry.eventId, entry]));
    assert.equal(new Set(rows.map((row) => row.eventId)).size, 260);
    for (const row of rows) await assertRow(row, byEventId.get(row.eventId)!);

    const early = await collect(audit().exportChanges({ since: start, until: middle }));
    assert.deepEqual(new Set(early.map((row) => row.eventId)), new Set(sent.slice(0, 40).map((entry) => entry.eventId)));
    const staging = await collect(audit().exportChanges({ since: start, environment: 'staging' }));
    assert.deepEqual(new Set(staging.map((row) => row.eventId)), new Set(sent.filter((entry) => entry.environment === 'staging').map((entry) => entry.eventId)));
  });

  it('the CLI writes the same rows as CSV to a file only its owner reads, with progress on stderr', async () => {
    const file = path.join(dir, 'consents.csv');
    const args = ['export', '--since', start.toISOString(), '--until', end.toISOString(), '--format', 'csv', '--output', file];
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/consent.ts', ...args], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', ...service().env, LOG_LEVEL: 'warn' },
      timeout: 120_000,
    });
    assert.equal(stdout, '');
    assert.match(stderr, /^exported 260 changes in [\d.]+ s \(\d+ rows\/s, peak RSS \d+ MB\)$/m);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const records = parseCsv(readFileSync(file, 'utf8'), { columns: true }) as Record<string, string>[];
    assert.equal(records.length, 260);
    assert.deepEqual(Object.keys(records[0]!), [...AUDIT_FIELDS]);
    const inProcess = await collect(audit().exportChanges({ since: start, until: end }));
    const asCsv = (row: AuditRow) => Object.fromEntries(AUDIT_FIELDS.map((field) => [field, row[field] === undefined ? '' : String(row[field])]));
    assert.deepEqual(
      records.sort((a, b) => a.eventId!.localeCompare(b.eventId!)),
      inProcess.map(asCsv).sort((a, b) => a.eventId!.localeCompare(b.eventId!)),
    );

    const ndjson = await run(process.execPath, ['--import', 'tsx', 'src/cli/consent.ts', 'export', '--since', middle.toISOString(), '--environment', 'staging'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', ...service().env, LOG_LEVEL: 'warn' },
      timeout: 120_000,
    });
    const lines = ndjson.stdout.trim().split('\n').map((line) => JSON.parse(line) as AuditRow);
    assert.equal(lines.length, 20);
    assert.ok(lines.every((line) => line.environment === 'staging' && line.listId === STAGING_LIST && line.email?.endsWith('@example.com')));
  });

  it('GET /consents/{email}/history: every change received for the person, in both environments, with duplicates, stale and skipped changes', async () => {
    const email = uniqueEmail('history');
    const now = Date.now();
    const applied = consentEvent('opt_in', email, new Date(now - 180_000));
    assert.equal((await service().post(applied)).status, 200);
    assert.equal((await waitForOutcome(service(), email, String(applied.event_id))).outcome, 'applied');
    assert.equal((await service().post(applied)).status, 200, 'a redelivery');
    const stale = consentEvent('opt_in', email, new Date(now - 600_000));
    await service().post(stale);
    assert.equal((await waitForOutcome(service(), email, String(stale.event_id))).outcome, 'superseded');
    harness().sandbox.script({ route: 'upsert', email, status: 400, error: 'ERROR_INVALID_PARAMETER' });
    const skipped = consentEvent('opt_out', email, new Date(now - 60_000));
    await service().post(skipped);
    assert.equal((await waitForOutcome(service(), email, String(skipped.event_id))).outcome, 'parked');
    assert.equal((await service().request(`/changes/${String(skipped.event_id)}/skip`, { method: 'POST' })).status, 200);
    assert.equal((await waitForOutcome(service(), email, String(skipped.event_id))).outcome, 'skipped');
    const staging = consentEvent('opt_in', email, new Date(now - 30_000), { environment: 'staging' });
    await service().post(staging);
    assert.equal((await waitForOutcome(service(), email, String(staging.event_id), { environment: 'staging' })).outcome, 'applied');

    assert.equal((await service().request(`/consents/${encodeURIComponent(email)}/history`, { admin: false })).status, 401);
    assert.equal((await service().request(`/consents/${encodeURIComponent(uniqueEmail('nobody'))}/history`)).status, 404);
    const { status, body } = await eventually(async () => {
      const answer = await service().request(`/consents/${encodeURIComponent(email.toUpperCase())}/history`);
      // The skipped change's workflow closes a moment after the ledger records it.
      return (answer.body?.changes as AuditRow[] | undefined)?.find((row) => row.eventId === skipped.event_id)?.closedAt ? answer : undefined;
    });
    assert.equal(status, 200);
    const config = service().config;
    const production = ledgerWorkflowId(ledgerKeyFor(config, 'production', email));
    assert.equal(body.emailHash, hashEmail(config.emailHashKey, email));
    assert.equal(body.truncated, false);
    const rows = body.changes as AuditRow[];
    assert.deepEqual(
      rows.map((row) => [row.eventId, row.environment, row.outcome]),
      [
        [staging.event_id, 'staging', 'applied'],
        [skipped.event_id, 'production', 'skipped'],
        [stale.event_id, 'production', 'superseded'],
        [applied.event_id, 'production', 'applied'],
      ],
      'newest received first',
    );
    const [stagingRow, skippedRow, staleRow, appliedRow] = rows as [AuditRow, AuditRow, AuditRow, AuditRow];
    assert.equal(appliedRow.duplicatesSeen, 1);
    assert.equal(appliedRow.changeWorkflowId, changeWorkflowIdFor(config, 'production', email, String(applied.event_id)));
    assert.equal(appliedRow.ledgerWorkflowId, production);
    assert.equal(appliedRow.email, email);
    assert.equal(appliedRow.listId, PRODUCTION_LIST);
    assert.ok(appliedRow.appliedAt && appliedRow.closedAt && appliedRow.receivedAt);
    // Superseded in the ledger before it ever needed a change workflow: only the ledger knows it.
    assert.equal(staleRow.changeWorkflowId, undefined);
    assert.match(staleRow.detail ?? '', /./);
    assert.equal(staleRow.eventTime, stale.event_time);
    assert.equal(staleRow.appliedAt, undefined);
    assert.deepEqual([staleRow.route, staleRow.listId, staleRow.listName], ['default', PRODUCTION_LIST, 'production'], 'a ledger-only row names its route and list too');
    // A skipped change's result keeps Listrak's answer only in its reason (the code is not in it).
    assert.match(skippedRow.detail ?? '', /^skipped by an operator while parked: .+/);
    assert.equal(skippedRow.appliedAt, undefined);
    assert.ok(skippedRow.closedAt);
    assert.equal(stagingRow.listId, STAGING_LIST);
    assert.equal(stagingRow.ledgerWorkflowId, ledgerWorkflowId(ledgerKeyFor(config, 'staging', email)));
    for (const row of rows) assert.equal(row.emailHash, body.emailHash);
  });
});
