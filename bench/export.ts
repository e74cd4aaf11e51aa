// `npm run bench:export [-- --changes 100000]`: the audit export's memory and speed on a local dev
// server. Measures the history of a real closed change workflow (bytes, for retention costs),
// creates N closed change workflows cheaply (a stub workflow of the same type, input, memo and
// search attributes), then runs `consent export` as a person would, over a tenth of them, over
// all of them, and over all of them with a 64 MB old generation, and prints rows/s and the export
// process's peak RSS each time.
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { hashEmail } from '../src/consent/email';
import { emailHashKey, environmentKey, ALL_SEARCH_ATTRIBUTE_KEYS } from '../src/temporal/search-attributes';
import { changeWorkflowId, ledgerWorkflowId, type ApplyChangeInput, type LedgerKey } from '../src/shared';
import { PROJECT_ROOT } from '../src/dev/paths';
import { numberArgument } from './options';
import { temporalCliPath } from '../src/dev/temporal-binaries';
import { consentEvent, createHarness, uniqueEmail, waitForOutcome } from '../src/dev/harness';

const run = promisify(execFile);
const CHANGES = numberArgument(process.argv, '--changes', 100_000);
const EMAIL_HASH_KEY = 'bench-email-hash-key-0123456789';
const log = (line: string) => process.stdout.write(`${line}\n`);

/** Bytes of the history of real change workflows (the service, the Listrak sandbox), as the server stores them. */
async function realHistoryBytes(): Promise<{ changeBytes: number; changeEvents: number; ledgerBytes: number; ledgerEvents: number }> {
  const harness = await createHarness();
  try {
    const service = await harness.start();
    const email = uniqueEmail('bytes');
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000), { first_name: 'Jane', last_name: 'Doe' });
    await service.post(optIn);
    const outcome = await waitForOutcome(service, email, String(optIn.event_id));
    const bytes = async (workflowId: string) => {
      const history = await harness.env.client.workflow.getHandle(workflowId).fetchHistory();
      return { bytes: temporal.api.history.v1.History.encode(history).finish().length, events: history.events?.length ?? 0 };
    };
    const change = await bytes(String(outcome.changeWorkflowId));
    const ledger = await bytes(`consent-ledger/production/1001/${hashEmail(service.config.emailHashKey, email)}`);
    return { changeBytes: change.bytes, changeEvents: change.events, ledgerBytes: ledger.bytes, ledgerEvents: ledger.events };
  } finally {
    await harness.close();
  }
}

async function main(): Promise<void> {
  const real = await realHistoryBytes();
  log(`closed change workflow history: ${real.changeBytes} bytes, ${real.changeEvents} events (its ledger after one change: ${real.ledgerBytes} bytes, ${real.ledgerEvents} events)`);

  // On a database file, as `npm start` runs it: the in-memory server crashed (a Go runtime fault)
  // after about 70,000 workflows on 2026-12-01.
  const dbFilename = path.join(os.tmpdir(), `bench-export-${process.pid}.db`);
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path: temporalCliPath() },
      searchAttributes: ALL_SEARCH_ATTRIBUTE_KEYS,
      dbFilename,
      extraArgs: ['--log-level', 'error', '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'],
    },
  });
  try {
    const taskQueue = 'bench-export';
    const worker = await Worker.create({
      connection: env.nativeConnection,
      taskQueue,
      workflowsPath: require.resolve('./export-stub-workflow'),
      maxConcurrentWorkflowTaskExecutions: 64,
    });
    const running = worker.run();
    const began = Date.now();
    const startedAt = new Date(began - 1_000);
    let next = 0;
    let tenth: Date | undefined;
    const lanes = Array.from({ length: 32 }, async () => {
      while (next < CHANGES) {
        const index = next++;
        if (index === Math.floor(CHANGES / 10)) tenth = new Date();
        const email = `bench.${index}@example.com`;
        const key: LedgerKey = { environment: 'production', listId: 1001, emailHash: hashEmail(EMAIL_HASH_KEY, email) };
        const eventTime = new Date(began - 3_600_000 + index);
        const input: ApplyChangeInput = {
          change: {
            eventId: `bench-${index}`,
            eventTime: eventTime.toISOString(),
            eventTimeMs: eventTime.getTime(),
            type: index % 3 === 0 ? 'opt_out' : 'opt_in',
            environment: 'production',
            email,
            profile: { first_name: 'Jane', last_name: 'Doe' },
            receivedAt: new Date().toISOString(),
          },
          listId: 1001,
          ledgerWorkflowId: ledgerWorkflowId(key),
          ownUnsubscribes: [],
        };
        await env.client.workflow.start('applyConsentChangeWorkflow', {
          workflowId: changeWorkflowId(key, input.change.eventId),
          taskQueue,
          args: [input, { searchAttributes: true }],
          memo: { type: input.change.type, environment: 'production', eventTime: input.change.eventTime },
          typedSearchAttributes: [
            { key: emailHashKey, value: key.emailHash },
            { key: environmentKey, value: 'production' },
          ],
        });
        if ((index + 1) % 10_000 === 0) log(`  started ${index + 1} (${Math.round((index + 1) / ((Date.now() - began) / 1000))}/s)`);
      }
    });
    await Promise.all(lanes);
    const deadline = Date.now() + 30 * 60_000;
    for (;;) {
      const { count } = await env.client.workflow.count(`WorkflowType = 'applyConsentChangeWorkflow' AND ExecutionStatus = 'Completed'`);
      if (count >= CHANGES) break;
      if (Date.now() > deadline) throw new Error(`only ${count} of ${CHANGES} closed in time`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
    log(`created ${CHANGES} closed change workflows in ${((Date.now() - began) / 1000).toFixed(0)} s`);
    worker.shutdown();
    await running;

    const output = path.join(os.tmpdir(), `bench-export-${process.pid}.ndjson`);
    const exportOnce = async (until: Date | undefined, nodeOptions: string[] = []) => {
      const args = [...nodeOptions, '--import', 'tsx', 'src/cli/consent.ts', 'export', '--since', startedAt.toISOString(), '--output', output];
      if (until) args.push('--until', until.toISOString());
      const { stderr } = await run(process.execPath, args, {
        cwd: PROJECT_ROOT,
        env: { PATH: process.env.PATH ?? '', TEMPORAL_ADDRESS: env.address, EMAIL_HASH_KEY, LOG_LEVEL: 'warn', NODE_ENV: 'test' },
        timeout: 60 * 60_000,
        maxBuffer: 16 * 1024 * 1024,
      });
      rmSync(output, { force: true });
      return stderr.trim().split('\n').at(-1) ?? '';
    };
    log(`export of the first tenth: ${await exportOnce(tenth)}`);
    log(`export of all:             ${await exportOnce(undefined)}`);
    // With the old generation capped, a footprint that grew with the row count would run out of heap.
    log(`export of all, 64 MB heap: ${await exportOnce(undefined, ['--max-old-space-size=64'])}`);
  } finally {
    await env.teardown();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${dbFilename}${suffix}`, { force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
