// `npm run consent -- <command>`: support tasks from a terminal or a script, against the
// configured Temporal (the same environment variables as the service). Tables for people,
// --json for scripts (use `npm run --silent consent -- … --json` to keep npm's banner out).
import '../config/dotenv';
import { createWriteStream, readFileSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { createAuditTrail, writeExport, type AuditFormat } from '../consent/export';
import { loadConfig, type Config } from '../config/config';
import { profileAttributes } from '../config/routing';
import { configureLogging } from '../observability/log';
import { normalizeEmail } from '../consent/email';
import { applyFieldMap } from '../consent/field-map';
import { parseEachEvent, type FieldProblem } from '../http/extole-events';
import { createTemporalIntake } from '../consent/intake';
import { createForgetter, ForgetInProgressError, ForgetRateLimitedError, PrivacyRequestError, type Forgetter } from '../consent/forget';
import { privacyApiFor } from '../listrak/privacy-api';
import { ENVIRONMENTS, parseChangeWorkflowId, type ExtoleConsentEvent } from '../shared';
import { ChangeAmbiguousError, ChangeNotFoundError, ChangeNotParkedError, createOperations, describeDecision } from '../consent/status';
import { connectClient, temporalClient } from '../temporal/connection';
import { ensureEmailHashKeyFingerprint } from '../temporal/email-hash-key';
import { REQUESTS_PER_ATTEMPT } from '../temporal/consent-worker';
import { parseConsentCsv, progressBar, recordPaced } from './backfill';
import { runCommand, UsageError } from './command';
import { runImportOptOuts } from './import-optouts';
import { reconcile } from './reconcile';
import { table } from './table';

const USAGE = `Usage: npm run consent -- <command> [options]

Commands:
  status <email>            what happened to a person's consent changes, per environment
                            [--environment E]
  forget <email>            forget a person: Listrak's Privacy API is asked (when
                            LISTRAK_PRIVACY_CLIENT_ID/SECRET are set) and this service erases
                            the email and profile, keeping a tombstone so stale opt-ins stay
                            refused --by WHO (who asked: kept in the erasure record)
  forgets                   the most recent forgets, newest first: who asked, how far each got,
                            Listrak's Privacy request (no email) [--limit 50]
  retry <event_id>          retry a parked change (after fixing its cause) [--dry-run]; where
                            several people's changes share the event id, pass the change
                            workflow id (consent-change/…, shown by status) instead
  skip <event_id>           give up on a parked change (same argument as retry) [--dry-run]
  retry-parked              retry every parked change [--environment E] [--since 24h|ISO time]
                            [--dry-run]
  recent                    the most recent changes [--limit 50] [--environment E]
  export                    every change workflow Temporal holds, as the consent record:
                            [--since S] [--until S] [--environment E] [--format ndjson|csv]
                            [--output FILE]; holds email addresses (personal data)
  replay <file>             re-send saved Extole events (JSON object, array, or one per line)
                            [--rate N/s] [--skip-invalid] [--dry-run]
  import <file.csv>         backfill historic consents: columns email,type,event_time and
                            optionally event_id,environment,first_name,last_name,phone_number,
                            share_link,funnel [--rate N/s] [--with-events] [--skip-invalid]
                            [--dry-run]
  reconcile                 the reconciliation sweeps with Listrak: each Schedule's next run and
                            last sweep (installing the Schedules first) [--environment E]; with
                            --now, sweep every list at once with progress [--dry-run]
  import-optouts <file.csv> Extole's plain-email opt-out export (ADVOCATE-….csv or FRIEND-….csv):
                            each row an opt-out dated at the export time; hashed exports are
                            refused --exported-at TIME [--environment E] [--dry-run]

Options:
  --json                    machine-readable output (every command)
  --by WHO                  forget: who asked for the erasure (a person or a ticket)
  --environment E           production or staging
  --since S                 24h, 7d, 30m or an ISO-8601 time
  --until S                 export: changes started before this (24h, 7d, ISO time; default now)
  --format F                export: ndjson (default) or csv
  --output FILE             export: write to FILE (created 0600) instead of stdout
  --limit N                 rows to list (recent, forgets)
  --rate N                  changes per second to record (default: the Listrak limit, else 50)
  --now                     reconcile: sweep now instead of showing the Schedules
  --exported-at TIME        import-optouts: when Extole produced the export (ISO-8601 with Z or an
                            offset); an opt-in after it still stands, one before it does not
  --with-events             import: raise the configured Listrak opt-in events (off: a backfill
                            must not start welcome series for historic opt-ins)
  --skip-invalid            replay/import: record the valid rows even if some are invalid
  --dry-run                 import/import-optouts/replay: validate and count, record nothing; retry/skip/
                            retry-parked: list the parked change(s) it would signal, send nothing

Each command takes only the options shown for it; any other is refused (exit 2).

Exit codes: 0 done, 1 failed or partly failed, 2 usage or configuration, 3 not found, 4 not parked,
5 ambiguous (several parked changes share the event id: pass the workflow id).`;


const OPTIONS = {
  json: { type: 'boolean' },
  environment: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  format: { type: 'string' },
  output: { type: 'string' },
  limit: { type: 'string' },
  rate: { type: 'string' },
  'exported-at': { type: 'string' },
  now: { type: 'boolean' },
  'with-events': { type: 'boolean' },
  'skip-invalid': { type: 'boolean' },
  'dry-run': { type: 'boolean' },
  by: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];
type OptionName = keyof typeof OPTIONS;

/**
 * What each command takes. An option a command would not honour is refused (exit 2), not ignored:
 * `retry-parked --dry-run` once retried every parked change. Every command that changes state
 * takes --dry-run.
 */
const COMMANDS = {
  status: { argument: 'email', options: ['json', 'environment'] },
  forget: { argument: 'email', options: ['json', 'by'] },
  forgets: { options: ['json', 'limit'] },
  retry: { argument: 'event_id', options: ['json', 'dry-run'] },
  skip: { argument: 'event_id', options: ['json', 'dry-run'] },
  'retry-parked': { options: ['json', 'environment', 'since', 'dry-run'] },
  recent: { options: ['json', 'limit', 'environment'] },
  export: { options: ['since', 'until', 'environment', 'format', 'output'] },
  replay: { argument: 'file', options: ['json', 'rate', 'skip-invalid', 'dry-run'] },
  import: { argument: 'file.csv', options: ['json', 'rate', 'with-events', 'skip-invalid', 'dry-run'] },
  'import-optouts': { argument: 'file.csv', options: ['json', 'exported-at', 'environment', 'dry-run'] },
  reconcile: { options: ['json', 'environment', 'now', 'dry-run'] },
} as const satisfies Record<string, { argument?: string; options: readonly Exclude<OptionName, 'help'>[] }>;
type Command = keyof typeof COMMANDS;

interface Options {
  json: boolean;
  environment?: string | undefined;
  since?: string | undefined;
  until?: string | undefined;
  format?: string | undefined;
  output?: string | undefined;
  limit?: string | undefined;
  rate?: string | undefined;
  exportedAt?: string | undefined;
  now: boolean;
  withEvents: boolean;
  skipInvalid: boolean;
  dryRun: boolean;
  by?: string | undefined;
}

/** The command, its argument and options, checked against COMMANDS; throws UsageError. Needs no Temporal. */
export function parseCommandLine(argv: string[]): { help: true } | { help?: false; command: Command; argument: string | undefined; options: Options } {
  // No defaults: `values` holds exactly the options given, so each can be checked against the command.
  const { values, positionals } = parseArgs({ args: argv, allowPositionals: true, strict: true, options: OPTIONS });
  const [name, argument, ...extra] = positionals;
  if (values.help) return { help: true };
  if (name === undefined) throw new UsageError(`a command is needed\n\n${USAGE}`);
  if (!Object.hasOwn(COMMANDS, name)) throw new UsageError(`unknown command '${name}'; commands: ${Object.keys(COMMANDS).join(', ')}`);
  const command = name as Command;
  const spec: { argument?: string; options: readonly OptionName[] } = COMMANDS[command];
  const given = Object.keys(values) as OptionName[];
  const refused = given.filter((option) => !spec.options.includes(option));
  if (refused.length > 0) {
    const allowed = spec.options.length > 0 ? `it takes ${spec.options.map((option) => `--${option}`).join(', ')}` : 'it takes no options';
    throw new UsageError(`${command} does not take ${refused.map((option) => `--${option}`).join(', ')} (${allowed}); see --help`);
  }
  if (values.environment !== undefined && !(ENVIRONMENTS as readonly string[]).includes(values.environment)) {
    throw new UsageError(`--environment must be one of ${ENVIRONMENTS.join(', ')}, got '${values.environment}'`);
  }
  if (command === 'reconcile' && values['dry-run'] && !values.now) {
    throw new UsageError('reconcile --dry-run goes with --now (without --now, reconcile only shows the Schedules)');
  }
  if (command === 'forget' && !values.by?.trim()) throw new UsageError('forget needs --by WHO: who asked for the erasure (kept in its record)');
  if (spec.argument !== undefined && argument === undefined) throw new UsageError(`${command} needs <${spec.argument}>; see --help`);
  const unexpected = spec.argument === undefined ? [argument, ...extra] : extra;
  if (unexpected.some((value) => value !== undefined)) {
    throw new UsageError(`${command} takes ${spec.argument === undefined ? 'no argument' : `one argument, <${spec.argument}>`}; got '${unexpected.filter(Boolean).join(' ')}' too`);
  }
  return {
    command,
    argument,
    options: {
      json: values.json ?? false,
      environment: values.environment,
      since: values.since,
      until: values.until,
      format: values.format,
      output: values.output,
      limit: values.limit,
      rate: values.rate,
      exportedAt: values['exported-at'],
      now: values.now ?? false,
      withEvents: values['with-events'] ?? false,
      skipInvalid: values['skip-invalid'] ?? false,
      dryRun: values['dry-run'] ?? false,
      by: values.by,
    },
  };
}

async function main(argv: string[]): Promise<number> {
  // Usage first, before the configuration and long before a connection attempt (12 s to fail).
  const parsed = parseCommandLine(argv);
  if (parsed.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const { command, argument, options } = parsed;
  const since = options.since === undefined ? undefined : parseSince(options.since);
  const config = loadConfig();
  configureLogging(config.log);
  if (command === 'import-optouts') {
    // Its own connection, after the file's first line is checked (a hashed export is refused at once).
    const environment = options.environment === 'staging' ? 'staging' : 'production';
    return runImportOptOuts({ file: argument!, exportedAt: options.exportedAt, environment, dryRun: options.dryRun, json: options.json }, config);
  }

  // Validation before connecting: a dry run needs no Temporal.
  if ((command === 'import' || command === 'replay') && options.dryRun) {
    const { events, problems } = readEvents(command, argument!, config);
    return report(options, { dryRun: true, valid: events.length, invalid: problems }, problems.length > 0 ? 1 : 0);
  }

  const connection = await connectClient(config);
  try {
    const client = temporalClient(config, connection);
    await ensureEmailHashKeyFingerprint(client, config);
    const operations = createOperations({ client, config, deadlineMs: 15_000 });
    switch (command) {
      case 'status':
        return await status(operations, normalizeEmail(argument!), options);
      case 'forget':
        return await forget(createForgetter({ client, config, privacy: privacyApiFor(config), deadlineMs: 15_000 }), operations, argument!, options);
      case 'forgets':
        return await forgets(createForgetter({ client, config, deadlineMs: 15_000 }), options);
      case 'retry':
      case 'skip':
        return await signal(operations, command, argument!, options);
      case 'retry-parked':
        return await retryParked(operations, options, since);
      case 'recent':
        return await recent(operations, options);
      case 'reconcile':
        return await reconcile(client, config, { json: options.json, environment: options.environment, dryRun: options.dryRun, now: options.now });
      case 'export':
        return await exportChanges(createAuditTrail({ client, config, operations }), options);
      case 'replay':
      case 'import':
        return await record(command, argument!, config, createTemporalIntake({ client, config, deadlineMs: 15_000 }), options);
    }
  } finally {
    await connection.close();
  }
}

type Operations = ReturnType<typeof createOperations>;

async function status(operations: Operations, email: string, options: Options): Promise<number> {
  const environments = (await operations.consentStatus(email)).filter(
    (view) => options.environment === undefined || view.environment === options.environment,
  );
  if (options.json) return print(environments, environments.length === 0 ? 3 : 0);
  if (environments.length === 0) {
    process.stderr.write('no consent change has been recorded for this email\n');
    return 3;
  }
  for (const view of environments) {
    const desired = view.desired ? `${view.desired.type} ${view.desired.eventId} (${view.desired.eventTime})` : '–';
    const applied = view.applied ? `${view.applied.type} ${view.applied.eventId} at ${view.applied.appliedAt}` : '–';
    const forgotten = view.forgotten ? `  forgotten at ${view.forgotten.at}, asked by ${view.forgotten.by} (${view.forgotten.forgetWorkflowId})\n` : '';
    process.stdout.write(`${view.environment} · list ${listText(view)}\n${forgotten}  wanted:  ${desired}\n  applied: ${applied}\n  ${view.temporalUiUrl}\n\n`);
    process.stdout.write(
      `${table(
        ['EVENT ID', 'TYPE', 'EVENT TIME', 'ROUTE', 'LIST', 'OUTCOME', 'CODE', 'ATTEMPT', 'DETAIL'],
        view.changes.map((change) => [
          change.eventId,
          change.type,
          change.eventTime,
          change.route,
          listText(change),
          change.outcome + (change.duplicatesSeen > 0 ? ` (+${change.duplicatesSeen} dup)` : ''),
          change.listrakCode,
          change.attempt,
          change.parkedReason ?? change.lastError ?? change.detail,
        ]),
      )}\n\n`,
    );
  }
  return 0;
}

/** A list for people: `1001 (advocates)`, the id alone when the routing no longer names it, `not configured` for none. */
export function listText({ listId, listName }: { listId: number | null; listName: string | null }): string {
  if (listId === null) return 'not configured';
  return listName === null ? String(listId) : `${listId} (${listName})`;
}

async function forget(forgetter: Forgetter, operations: Operations, email: string, options: Options): Promise<number> {
  const address = normalizeEmail(email);
  if (!address.includes('@')) throw new UsageError(`forget needs an email address, got '${email}'`);
  try {
    const started = await forgetter.forget(address, options.by!.trim());
    const answer = { ...started, temporalUiUrl: operations.uiLink(started.workflowId) };
    if (options.json) return print(answer, 0);
    const listrak = started.privacy.asked ? `Listrak's Privacy API took forget request ${started.privacy.requestId} (followed until COMPLETE)` : started.privacy.reason;
    process.stdout.write(
      `forgetting ${started.emailHash} (asked by ${started.requestedBy} at ${started.requestedAt})
  ${listrak}
  follow it: npm run consent -- status <email>, or ${answer.temporalUiUrl}
`,
    );
    return 0;
  } catch (error) {
    if (!(error instanceof ForgetRateLimitedError || error instanceof ForgetInProgressError || error instanceof PrivacyRequestError)) throw error;
    if (options.json) return print({ error: error.message }, 1);
    process.stderr.write(`${error.message}
`);
    return 1;
  }
}

async function signal(operations: Operations, action: 'retry' | 'skip', argument: string, options: Options): Promise<number> {
  // An event id, or a change workflow id (`consent-change/…`, from `status`) where several people share the event id.
  const named = parseChangeWorkflowId(argument);
  const eventId = named?.eventId ?? argument;
  try {
    // A dry run finds the parked change as the signal would, and sends nothing.
    const chosen = named ? argument : undefined;
    const decided = options.dryRun ? undefined : await operations[action](eventId, chosen);
    const workflowId = decided?.workflowId ?? (await operations.findParked(eventId, chosen));
    const answer: { event_id: string; workflow_id: string; signal: string; dry_run: boolean; temporalUiUrl: string; result?: string; outcome?: string } = {
      event_id: eventId,
      workflow_id: workflowId,
      signal: action,
      dry_run: options.dryRun,
      temporalUiUrl: operations.uiLink(workflowId),
    };
    if (decided) {
      answer.result = describeDecision(decided);
      answer.outcome = decided.outcome;
    }
    if (options.json) return print(answer, 0);
    process.stdout.write(`${decided ? `${describeDecision(decided)}: ${workflowId}` : `dry run: would send ${action} to ${workflowId}`}\n  ${answer.temporalUiUrl}\n`);
    return 0;
  } catch (error) {
    const code =
      error instanceof ChangeNotFoundError ? 3 : error instanceof ChangeNotParkedError ? 4 : error instanceof ChangeAmbiguousError ? 5 : undefined;
    if (code === undefined) throw error;
    if (options.json) return print({ event_id: eventId, error: (error as Error).message }, code);
    process.stderr.write(`${(error as Error).message}\n`);
    return code;
  }
}

async function retryParked(operations: Operations, options: Options, since: Date | undefined): Promise<number> {
  const results = await operations.retryParked({
    environment: options.environment || undefined,
    since,
    dryRun: options.dryRun,
  });
  const failed = results.filter((entry) => entry.result === 'error').length;
  const count = (result: string) => results.filter((entry) => entry.result === result).length;
  if (options.json) {
    const summary = options.dryRun ? { dry_run: true, would_retry: count('would_retry'), results } : { retried: count('retried'), results };
    return print(summary, failed > 0 ? 1 : 0);
  }
  if (options.dryRun) process.stdout.write(`dry run: ${count('would_retry')} parked change(s) would be retried, nothing was sent\n`);
  if (results.length === 0) process.stdout.write('no parked changes found\n');
  else process.stdout.write(`${table(['EVENT ID', 'RESULT', 'DETAIL'], results.map((entry) => [entry.eventId, entry.result, entry.detail]))}\n`);
  return failed > 0 ? 1 : 0;
}

/** --limit: an integer from 1 to `max`, 50 when absent. */
function limitOf(options: Options, max: number): number {
  const limit = options.limit === undefined ? 50 : Number(options.limit);
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw new UsageError(`--limit must be an integer from 1 to ${max}`);
  return limit;
}

async function forgets(forgetter: Forgetter, options: Options): Promise<number> {
  const listed = await forgetter.recentForgets(limitOf(options, 100));
  if (options.json) return print(listed, 0);
  process.stdout.write(
    `${table(
      ['ASKED AT', 'EMAIL HASH', 'ASKED BY', 'STATE', 'LEDGERS', 'DELETED', 'LISTRAK'],
      listed.map(({ erasure, ...forget }) => [
        erasure?.requestedAt ?? forget.startedAt,
        forget.emailHash,
        erasure?.requestedBy,
        forget.status === 'running' && erasure ? erasure.phase : forget.status === 'completed' ? 'done' : forget.status,
        erasure ? `${erasure.ledgers.filter((ledger) => ledger.result === 'forgotten').length} forgotten` : undefined,
        erasure?.deletedWorkflows,
        !erasure ? undefined : erasure.privacy.asked ? `${erasure.privacy.status} (${erasure.privacy.requestId})` : 'not asked',
      ]),
    )}\n`,
  );
  return 0;
}

async function recent(operations: Operations, options: Options): Promise<number> {
  const limit = limitOf(options, 1000);
  const changes = await operations.recentChanges({ limit, environment: options.environment || undefined });
  if (options.json) return print(changes, 0);
  process.stdout.write(
    `${table(
      ['STARTED', 'EVENT ID', 'TYPE', 'ENV', 'ROUTE', 'LIST', 'OUTCOME', 'CODE', 'ATTEMPTS', 'DETAIL'],
      changes.map((change) => [
        change.startedAt,
        change.eventId,
        change.type,
        change.environment,
        change.route,
        change.listId === undefined ? undefined : listText({ listId: change.listId, listName: change.listName ?? null }),
        change.outcome,
        change.listrakCode,
        change.attempts,
        change.detail,
      ]),
    )}\n`,
  );
  return 0;
}

async function exportChanges(audit: ReturnType<typeof createAuditTrail>, options: Options): Promise<number> {
  const format = (options.format ?? 'ndjson') as AuditFormat;
  if (format !== 'ndjson' && format !== 'csv') throw new UsageError(`--format must be ndjson or csv, got '${options.format}'`);
  if (options.environment !== undefined && !['production', 'staging'].includes(options.environment)) {
    throw new UsageError("--environment must be 'production' or 'staging'");
  }
  const rows = audit.exportChanges({
    since: options.since === undefined ? undefined : parseSince(options.since),
    until: options.until === undefined ? undefined : parseSince(options.until, '--until'),
    environment: options.environment,
  });
  // The file holds email addresses: readable by its owner only.
  const out = options.output === undefined ? process.stdout : createWriteStream(options.output, { mode: 0o600 });
  const megabytes = (bytes: number) => Math.round(bytes / 1_048_576);
  await writeExport(rows, out, {
    format,
    onProgress: ({ rows: done, elapsedMs, done: finishedAll }) => {
      const rate = Math.round(done / Math.max(elapsedMs / 1000, 0.001));
      process.stderr.write(
        finishedAll
          ? `exported ${done} changes in ${(elapsedMs / 1000).toFixed(1)} s (${rate} rows/s, peak RSS ${megabytes(process.resourceUsage().maxRSS * 1024)} MB)\n`
          : `… ${done} changes (${rate} rows/s, RSS ${megabytes(process.memoryUsage.rss())} MB)\n`,
      );
    },
  });
  if (out !== process.stdout) {
    out.end();
    await finished(out);
  }
  return 0;
}

function readEvents(command: string, file: string, config: Readonly<Config>): { events: ExtoleConsentEvent[]; problems: FieldProblem[] } {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  if (command === 'import') return parseConsentCsv(text, config);
  let items: unknown[];
  try {
    const parsed: unknown = JSON.parse(text);
    items = Array.isArray(parsed) ? parsed : [parsed];
  } catch {
    // Not one JSON document: one event per line (NDJSON), as a log of deliveries would hold.
    try {
      items = text.split('\n').filter((line) => line.trim() !== '').map((line) => JSON.parse(line) as unknown);
    } catch (error) {
      throw new UsageError(`${file} is neither JSON nor one JSON event per line: ${(error as Error).message}`);
    }
  }
  // Saved deliveries are in the shape Extole sends: read through the routing file's field map, as the webhook reads them.
  return parseEachEvent(applyFieldMap(items, config.listrak.routing.fields) as unknown[], { attributes: profileAttributes(config.listrak.routing) });
}

async function record(
  command: 'replay' | 'import',
  file: string,
  config: Readonly<Config>,
  intake: ReturnType<typeof createTemporalIntake>,
  options: Options,
): Promise<number> {
  const { events, problems } = readEvents(command, file, config);
  if (problems.length > 0 && !options.skipInvalid) {
    return report(options, { recorded: 0, invalid: problems, message: 'nothing was recorded: fix the rows or pass --skip-invalid' }, 1);
  }
  const limit = config.listrak.maxRequestsPerSecond;
  const ratePerSecond = options.rate !== undefined ? Number(options.rate) : limit ? limit / REQUESTS_PER_ATTEMPT : 50;
  if (!(ratePerSecond > 0)) throw new UsageError('--rate must be a positive number of changes per second');
  const recorded = await recordPaced(intake, events, {
    ratePerSecond,
    suppressEvents: command === 'import' && !options.withEvents,
    onProgress: options.json ? undefined : progressBar(process.stderr, command),
  });
  return report(options, { recorded: recorded.length, invalid: problems, ratePerSecond }, problems.length > 0 ? 1 : 0);
}

function report(options: Options, summary: { invalid: FieldProblem[]; [key: string]: unknown }, code: number): number {
  if (options.json) return print(summary, code);
  const { invalid, ...rest } = summary;
  process.stdout.write(`${Object.entries(rest).map(([key, value]) => `${key}: ${String(value)}`).join('\n')}\n`);
  if (invalid.length > 0) {
    process.stdout.write(`invalid: ${invalid.length}\n${table(['ROW', 'FIELD', 'PROBLEM'], invalid.map((problem) => [problem.index, problem.field, problem.message]))}\n`);
  }
  return code;
}

function print(value: unknown, code: number): number {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
  return code;
}

/** `24h`, `7d`, `30m` ago, or an ISO-8601 time. */
export function parseSince(value: string, option = '--since'): Date {
  const relative = /^(\d+)\s*([mhd])$/.exec(value.trim());
  if (relative) {
    const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[relative[2] as 'm' | 'h' | 'd'];
    return new Date(Date.now() - Number(relative[1]) * unit);
  }
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new UsageError(`${option} must look like 24h, 7d, 30m or an ISO-8601 time, got '${value}'`);
  return new Date(ms);
}

if (require.main === module) runCommand(main);
