// `consent import-optouts FILE --exported-at TIME`: Extole's plain-email opt-out export (advocate or
// friend), each row recorded as an opt-out dated at the export time through the webhook's intake.
// Streams the file line by line with a bounded number of Temporal calls in flight, so a file of
// any length is read in the same memory.
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Config } from '../config/config';
import { parseEvent } from '../http/extole-events';
import { createOptOutExportRecorder, exportOptOut, optOutExportEventId, type ExportKind, type ExportRowOutcome, type OptOutExportRecorder } from '../consent/optout-export';
import { connectClient, temporalClient } from '../temporal/connection';
import { ensureEmailHashKeyFingerprint } from '../temporal/email-hash-key';
import type { Environment } from '../shared';
import { UsageError } from './command';

/** Temporal calls in flight at once (each row: one ledger query, then at most one signal-with-start). */
export const IMPORT_CONCURRENCY = 16;
/** A progress line on stderr after this many rows. */
export const PROGRESS_EVERY_ROWS = 10_000;
/** Line numbers listed per kind of problem; the counts go on. */
const MAX_LINES_LISTED = 1_000;
/** How far ahead of this machine's clock an export time may be (clock skew), not more. */
const MAX_FUTURE_SKEW_MS = 5 * 60_000;

const EMAIL_COLUMNS = ['email', 'email_address', 'emailaddress', 'e-mail'];
const HASHES = [
  { name: 'MD5', hexLength: 32 },
  { name: 'SHA-1', hexLength: 40 },
  { name: 'SHA-256', hexLength: 64 },
] as const;
type HashName = (typeof HASHES)[number]['name'];
/** A header naming a digest column (`email_sha256`, `MD5`, `hashed_email`). */
const HASH_COLUMN = /^[a-z_ -]{0,20}(md5|sha-?1|sha-?256|hash(ed)?)[a-z_ -]{0,20}$/i;

export interface ImportOptOutsOptions {
  file: string;
  exportedAt: string | undefined;
  environment: Environment;
  dryRun: boolean;
  json: boolean;
}

export interface ImportSummary {
  file_kind: ExportKind;
  exported_at: string;
  environment: Environment;
  dry_run: boolean;
  rows: number;
  /** Dry run: rows that would be recorded. Otherwise new opt-outs signalled to their ledgers. */
  recorded: number;
  duplicates: number;
  /** Signalled without the duplicate check (the ledgers could not be asked); the ledgers still drop duplicates. */
  unchecked: number;
  /** Temporal calls that failed (busy or restarting server) and went through when tried again. */
  retried: number;
  invalid: { count: number; lines: number[] };
  refused: { count: number; lines: number[] };
  elapsed_s: number;
  rows_per_s: number;
  peak_rss_mb: number;
}

/** The export's kind from Extole's file name (`ADVOCATE-….csv`, `FRIEND-….csv`). */
export function exportKindOf(file: string): ExportKind | undefined {
  const name = path.basename(file).toUpperCase();
  if (name.startsWith('ADVOCATE-')) return 'advocate';
  if (name.startsWith('FRIEND-')) return 'friend';
  return undefined;
}

/** Which hash a value is, if it is a hex digest rather than an address. */
export function hashNameOf(value: string): HashName | undefined {
  if (!/^[0-9a-f]+$/i.test(value)) return undefined;
  return HASHES.find((hash) => hash.hexLength === value.length)?.name;
}

/** One CSV line's cells, trimmed and unquoted (an address holds no comma or line break). */
export function csvCells(line: string): string[] {
  return line.split(',').map((cell) => cell.trim().replace(/^"(.*)"$/, '$1').replace(/""/g, '"').trim());
}

/**
 * What the first line says: a header naming the email column, or (no header) an address or
 * digest in the first column. A header with no email column is refused.
 */
export function readFirstLine(line: string): { header: true; column: number } | { header: false; column: 0 } {
  const cells = csvCells(line.replace(/^\uFEFF/, ''));
  const column = cells.findIndex((cell) => EMAIL_COLUMNS.includes(cell.toLowerCase()));
  if (column >= 0) return { header: true, column };
  const first = cells[0] ?? '';
  if (first.includes('@') || hashNameOf(first) !== undefined) return { header: false, column: 0 };
  const hashColumn = cells.find((cell) => HASH_COLUMN.test(cell));
  if (hashColumn !== undefined) throw hashedExport(hashColumn);
  // Its cells are not repeated: a line that is no header may be a mistyped address.
  throw new UsageError(`the first line is neither a header with an email column nor an address (${cells.length} column(s)); Extole's plain export has one named email`);
}

function hashedExport(what: string): UsageError {
  return new UsageError(
    `this is a hashed export (${what} instead of email addresses): refused, nothing was recorded. ` +
      'A hash cannot be turned back into the address Listrak needs to unsubscribe, and the service keys people by its own ' +
      'keyed hash, not by Extole\'s. Ask Extole for the plain-email export of the opt-out list (emails lowercased and trimmed).',
  );
}

/** --exported-at: an ISO-8601 instant with its offset (a time without one would be read in this machine's zone), not in the future. */
export function parseExportedAt(value: string | undefined, now = Date.now()): Date {
  if (value === undefined) throw new UsageError('import-optouts needs --exported-at TIME: when Extole produced the export (ISO-8601 with Z or an offset)');
  const ms = Date.parse(value);
  if (!/T\d{2}:\d{2}/.test(value) || !/(Z|[+-]\d{2}:?\d{2})$/i.test(value.trim()) || Number.isNaN(ms)) {
    throw new UsageError(`--exported-at must be an ISO-8601 time with Z or an offset (e.g. 2026-03-01T06:00:00Z), got '${value}'`);
  }
  if (ms > now + MAX_FUTURE_SKEW_MS) {
    throw new UsageError(`--exported-at ${value} is in the future: an export time later than the export would override opt-ins made after it`);
  }
  return new Date(ms);
}

/** The first `count` non-empty lines of the file with their numbers; reads no further. */
async function leadingLines(file: string, count: number): Promise<{ line: string; number: number }[]> {
  const handle = await open(file).catch((error: unknown) => {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  });
  const lines = createInterface({ input: handle.createReadStream(), crlfDelay: Infinity });
  try {
    const found: { line: string; number: number }[] = [];
    let number = 0;
    for await (const line of lines) {
      number++;
      if (line.trim() !== '') found.push({ line, number });
      if (found.length >= count) break;
    }
    return found;
  } finally {
    lines.close();
    await handle.close();
  }
}

/**
 * Imports one export: checks the command line and the file's first line before connecting (a
 * hashed export or a wrong name is refused at once, exit 2), then streams it. Exit 0 when every row
 * was recorded or a duplicate, 1 when some rows were invalid or refused.
 */
export async function runImportOptOuts(options: ImportOptOutsOptions, config: Readonly<Config>): Promise<number> {
  const kind = exportKindOf(options.file);
  if (kind === undefined) {
    throw new UsageError(
      `cannot tell an advocate export from a friend one by the name '${path.basename(options.file)}': keep Extole's file name (ADVOCATE-….csv or FRIEND-….csv)`,
    );
  }
  const exportedAt = parseExportedAt(options.exportedAt);
  const [first, second] = await leadingLines(options.file, 2);
  if (first === undefined) throw new UsageError(`${options.file} is empty`);
  const layout = readFirstLine(first.line);
  // Extole hashes a whole export or none of it: a digest in the first row refuses the file.
  const firstRow = layout.header ? second : first;
  const hash = firstRow === undefined ? undefined : hashNameOf(csvCells(firstRow.line)[layout.column] ?? '');
  if (hash !== undefined) throw hashedExport(`${hash} digests`);
  const input: ExportFile = { ...options, kind, exportedAt, column: layout.column, dataFrom: first.number + (layout.header ? 1 : 0) };
  if (options.dryRun) return finish(options, await importRows(input, config, undefined));

  const connection = await connectClient(config);
  try {
    const client = temporalClient(config, connection);
    await ensureEmailHashKeyFingerprint(client, config);
    const recorder = createOptOutExportRecorder({ client, config });
    const summary = await importRows(input, config, recorder);
    const stopped = recorder.checkFailure();
    if (stopped !== undefined) process.stderr.write(`the duplicate check stopped (${stopped}): later rows were recorded unchecked; the ledgers still drop duplicates\n`);
    return finish(options, summary);
  } finally {
    await connection.close();
  }
}

/** The file as the first line described it: where the email column is and from which line data starts. */
interface ExportFile extends Omit<ImportOptOutsOptions, 'exportedAt'> {
  kind: ExportKind;
  exportedAt: Date;
  column: number;
  dataFrom: number;
}

async function importRows(
  input: ExportFile,
  config: Readonly<Config>,
  recorder: OptOutExportRecorder | undefined,
): Promise<ImportSummary> {
  const started = Date.now();
  const counts: Record<ExportRowOutcome, number> = { recorded: 0, duplicate: 0, unchecked: 0 };
  const invalid = { count: 0, lines: [] as number[] };
  const refused = { count: 0, lines: [] as number[] };
  const note = (list: { count: number; lines: number[] }, line: number) => {
    list.count++;
    if (list.lines.length < MAX_LINES_LISTED) list.lines.push(line);
  };
  let rows = 0;
  const inFlight = new Set<Promise<void>>();
  let failure: Error | undefined;

  const lines = createInterface({ input: createReadStream(input.file), crlfDelay: Infinity });
  let number = 0;
  for await (const line of lines) {
    number++;
    if (number < input.dataFrom || line.trim() === '') continue;
    if (failure !== undefined) break;
    // For the rows before this one, all of them counted (the calls in flight not yet).
    if (rows > 0 && rows % PROGRESS_EVERY_ROWS === 0) progress(rows, started, counts);
    rows++;
    const value = csvCells(line)[input.column] ?? '';
    if (hashNameOf(value) !== undefined) {
      note(refused, number);
      continue;
    }
    const parsed = parseEvent(exportOptOut({ email: value, exportedAt: input.exportedAt, environment: input.environment }), number);
    if ('problems' in parsed) {
      note(invalid, number);
      continue;
    }
    const event = parsed.event;
    event.eventId = optOutExportEventId(config, { kind: input.kind, exportedAtMs: event.eventTimeMs, email: event.email });
    if (recorder === undefined) {
      counts.recorded++;
      continue;
    }
    // Bounded: reading waits while IMPORT_CONCURRENCY calls are in flight, so the stream is paused too.
    if (inFlight.size >= IMPORT_CONCURRENCY) await Promise.race(inFlight);
    const call: Promise<void> = recorder.record(event).then(
      (outcome) => void counts[outcome]++,
      (error: unknown) => void (failure ??= error instanceof Error ? error : new Error(String(error))),
    );
    const tracked = call.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  }
  lines.close();
  await Promise.all(inFlight);
  // A row Temporal did not confirm after its retries (about half a minute) stops the import: the
  // ones after it are not read. Running it again is safe (the rows recorded are duplicates then).
  if (failure !== undefined) throw failure;
  const elapsed = (Date.now() - started) / 1000;
  return {
    file_kind: input.kind,
    exported_at: input.exportedAt.toISOString(),
    environment: input.environment,
    dry_run: input.dryRun,
    rows,
    recorded: counts.recorded,
    duplicates: counts.duplicate,
    unchecked: counts.unchecked,
    retried: recorder?.retries() ?? 0,
    invalid,
    refused,
    elapsed_s: Number(elapsed.toFixed(1)),
    rows_per_s: Math.round(rows / Math.max(elapsed, 0.001)),
    peak_rss_mb: megabytes(process.resourceUsage().maxRSS * 1024),
  };
}

const megabytes = (bytes: number) => Math.round(bytes / 1_048_576);

function progress(rows: number, started: number, counts: Record<ExportRowOutcome, number>): void {
  const rate = Math.round(rows / Math.max((Date.now() - started) / 1000, 0.001));
  process.stderr.write(
    `import-optouts … ${rows} rows (${rate} rows/s, ${counts.recorded} recorded, ${counts.duplicate} duplicates, RSS ${megabytes(process.memoryUsage.rss())} MB)\n`,
  );
}

function finish(options: ImportOptOutsOptions, summary: ImportSummary): number {
  const code = summary.invalid.count + summary.refused.count > 0 ? 1 : 0;
  process.stderr.write(
    `import-optouts: ${summary.rows} rows in ${summary.elapsed_s} s (${summary.rows_per_s} rows/s, peak RSS ${summary.peak_rss_mb} MB)\n`,
  );
  if (options.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return code;
  }
  const listed = (list: { count: number; lines: number[] }) =>
    list.count === 0 ? '0' : `${list.count} (line${list.count > 1 ? 's' : ''} ${list.lines.join(', ')}${list.count > list.lines.length ? ', …' : ''})`;
  const lines = [
    `${summary.file_kind} export of ${summary.exported_at}, ${summary.environment}${summary.dry_run ? ' (dry run: nothing was recorded)' : ''}`,
    `rows read: ${summary.rows}`,
    `${summary.dry_run ? 'opt-outs to record' : 'opt-outs recorded'}: ${summary.recorded}`,
    `duplicates (already recorded): ${summary.duplicates}`,
    ...(summary.unchecked > 0 ? [`recorded without the duplicate check: ${summary.unchecked}`] : []),
    ...(summary.retried > 0 ? [`Temporal calls tried again (busy or restarting server): ${summary.retried}`] : []),
    `invalid (not an email address): ${listed(summary.invalid)}`,
    `refused (hashed, not an address): ${listed(summary.refused)}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  return code;
}
