// `npm run bench:import-optouts [-- --rows 100000]`: Extole's opt-out export import, its speed and
// memory, on a local dev server. Generates an ADVOCATE export of N addresses, then runs
// `consent import-optouts` as a person would: a dry run (reading and validation alone), then the
// import (each row: a ledger query, answered "not found", and a signal-with-start of a new
// ledger). No worker runs, so the ledgers wait for one and the machine's cores go to the import
// and the server. Prints rows/s and the import process's peak RSS, and writes them to
// bench/results/<date>-import-optouts.json.
import { execFile } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { ImportSummary } from '../src/cli/import-optouts';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../src/temporal/search-attributes';
import { PROJECT_ROOT } from '../src/dev/paths';
import { numberArgument } from './options';
import { temporalCliPath } from '../src/dev/temporal-binaries';

const run = promisify(execFile);
const ROWS = numberArgument(process.argv, '--rows', 100_000);
const EMAIL_HASH_KEY = 'bench-email-hash-key-0123456789';
const log = (line: string) => process.stdout.write(`${line}\n`);

/** Writes the export line by line (the bench holds no more of it in memory than the import does). */
async function writeExport(file: string, rows: number): Promise<void> {
  const out = createWriteStream(file);
  out.write('email\r\n');
  for (let index = 0; index < rows; index++) {
    if (!out.write(`bench.optout.${index}@example.com\r\n`)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function main(): Promise<void> {
  if (!Number.isInteger(ROWS) || ROWS < 1 || ROWS > 1_000_000) throw new Error('--rows must be an integer from 1 to 1,000,000');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-import-optouts-'));
  const file = path.join(dir, 'ADVOCATE-bench.csv');
  const env = await TestWorkflowEnvironment.createLocal({
    server: { executable: { type: 'existing-path', path: temporalCliPath() }, searchAttributes: ALL_SEARCH_ATTRIBUTE_KEYS, extraArgs: ['--log-level', 'error'] },
  });
  try {
    await writeExport(file, ROWS);
    const exportedAt = new Date(Date.now() - 60_000).toISOString();
    const importOnce = async (extra: string[]): Promise<ImportSummary> => {
      const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/consent.ts', 'import-optouts', file, '--exported-at', exportedAt, '--json', ...extra], {
        cwd: PROJECT_ROOT,
        env: { PATH: process.env.PATH ?? '', TEMPORAL_ADDRESS: env.address, EMAIL_HASH_KEY, LOG_LEVEL: 'warn', NODE_ENV: 'test' },
        timeout: 2 * 60 * 60_000,
        maxBuffer: 16 * 1024 * 1024,
      });
      // The import's own progress lines (every 10,000 rows, with its RSS then).
      for (const line of stderr.split('\n').filter((entry) => entry.startsWith('import-optouts …'))) log(`  ${line}`);
      return JSON.parse(stdout) as ImportSummary;
    };
    const describe = (summary: ImportSummary) =>
      `${summary.rows} rows in ${summary.elapsed_s} s: ${summary.rows_per_s} rows/s, peak RSS ${summary.peak_rss_mb} MB ` +
      `(recorded ${summary.recorded}, duplicates ${summary.duplicates}, invalid ${summary.invalid.count})`;
    const dryRun = await importOnce(['--dry-run']);
    log(`dry run: ${describe(dryRun)}`);
    const imported = await importOnce([]);
    log(`import:  ${describe(imported)}`);
    const results = path.join(PROJECT_ROOT, 'bench', 'results');
    mkdirSync(results, { recursive: true });
    const written = path.join(results, `${new Date().toISOString().replace(/[:.]/g, '-')}-import-optouts.json`);
    writeFileSync(written, `${JSON.stringify({ rows: ROWS, cpus: os.cpus().length, dryRun, imported }, null, 2)}\n`);
    log(`figures written to ${path.relative(PROJECT_ROOT, written)}`);
  } finally {
    await env.teardown();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
