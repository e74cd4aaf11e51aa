import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { DefaultLogger, Runtime, Worker, type InjectedSinks, type ReplayResult } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import type { ConsentSinks } from '../src/shared';
import { dataConverterFor } from '../src/temporal/encryption';
import { parsePayloadKeys } from '../src/config/payload-keys';
import * as workflows from '../workflows';
import { ADMIN_TOKEN, WEBHOOK_SECRET, testEnv, workflowBundle } from '../src/dev/harness';
import { FIXTURE_DIR, INDEX_FILE, REPLAY_PAYLOAD_KEY, privacyProblems, readIndex, type FixtureEntry } from './replay/fixtures';
import { historyFromJSON } from './replay/history-json';

// No Temporal server: the replayer feeds each committed history to the current workflow code and
// compares the commands it issues with the ones recorded. Open ledgers meet new code this way on
// every deploy; a mismatch there is a non-determinism error that blocks the person's ledger.

Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });

const index = readIndex();
const noSinks: InjectedSinks<ConsentSinks> = {
  metrics: { changeOutcome: { fn: () => undefined }, duplicate: { fn: () => undefined } },
};

const readHistory = (entry: FixtureEntry) => historyFromJSON(JSON.parse(readFileSync(path.join(FIXTURE_DIR, entry.file), 'utf8')));

/** Replays every fixture once (one replay worker per data converter); results by file name. */
let replayed: Promise<Map<string, ReplayResult>> | undefined;
function replayAll(): Promise<Map<string, ReplayResult>> {
  replayed ??= (async () => {
    const results = new Map<string, ReplayResult>();
    for (const encrypted of [false, true]) {
      const entries = index.filter((entry) => entry.encrypted === encrypted);
      if (entries.length === 0) continue;
      const replay = Worker.runReplayHistories(
        {
          workflowBundle: await workflowBundle(encrypted),
          dataConverter: dataConverterFor(encrypted ? parsePayloadKeys(REPLAY_PAYLOAD_KEY) : undefined),
          sinks: noSinks,
        },
        entries.map((entry) => ({ workflowId: entry.workflowId, history: readHistory(entry) })),
      );
      // One result per history, in order (a ledger's runs share a workflow id).
      let position = 0;
      for await (const result of replay) results.set(entries[position++]!.file, result);
    }
    return results;
  })();
  return replayed;
}

describe('replay: the committed histories of shipped workflow code replay on the current code', () => {
  it('has an index entry for every fixture file and a file for every entry', () => {
    const files = readdirSync(FIXTURE_DIR).filter((file) => file.endsWith('.json') && path.join(FIXTURE_DIR, file) !== INDEX_FILE);
    assert.deepEqual(files.sort(), index.map((entry) => entry.file).sort());
  });

  it('has histories of every workflow type the worker runs', () => {
    const types = Object.entries(workflows).filter(([, value]) => typeof value === 'function').map(([name]) => name);
    assert.ok(types.length >= 2, `found workflow types ${types.join(', ')}`);
    for (const type of types) assert.ok(index.some((entry) => entry.workflowType === type), `no fixture of ${type}: add a scenario to scripts/capture-replay-fixtures.ts`);
    for (const entry of index) {
      const started = readHistory(entry).events?.[0]?.workflowExecutionStartedEventAttributes;
      assert.equal(started?.workflowType?.name, entry.workflowType, `${entry.file} is a history of ${started?.workflowType?.name}`);
    }
  });

  it('holds no secrets and no email address outside example.com', () => {
    const env = testEnv({ authUrl: '', apiUrl: '' });
    const secrets = {
      'the Listrak client secret': env.LISTRAK_CLIENT_SECRET ?? '',
      'the Listrak staging client secret': env.LISTRAK_STAGING_CLIENT_SECRET ?? '',
      'the email hash key': env.EMAIL_HASH_KEY ?? '',
      'the webhook secret': WEBHOOK_SECRET,
      'the admin token': ADMIN_TOKEN,
    };
    for (const entry of index) {
      assert.deepEqual(privacyProblems(JSON.parse(readFileSync(path.join(FIXTURE_DIR, entry.file), 'utf8')), secrets), [], entry.file);
    }
  });

  for (const entry of index) {
    it(`replays ${entry.file}: ${entry.description}`, async () => {
      const result = (await replayAll()).get(entry.file);
      assert.ok(result, `no replay result for ${entry.file}`);
      if (result.error instanceof DeterminismViolationError) {
        assert.fail(
          `workflow code change is not replay-safe for fixture ${entry.file} (${entry.description}): wrap the change in ` +
            `patched('…') (see docs/upgrades.md) — never re-capture fixtures to make this pass.\n${result.error.message}`,
        );
      }
      if (result.error) {
        assert.fail(
          `replaying fixture ${entry.file} (${entry.description}) failed: the workflow task threw on the current code. ` +
            `Fix the code (see docs/upgrades.md) — never re-capture fixtures to make this pass.\n${result.error.message}`,
        );
      }
    });
  }
});
