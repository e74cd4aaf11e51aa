import { createHash } from 'node:crypto';
import { parse } from 'csv-parse/sync';
import type { Config } from '../config/config';
import { hashEmail } from '../consent/email';
import { parseEvent, type ExtoleConsentEvent, type FieldProblem } from '../http/extole-events';
import type { ConsentIntake, RecordedChange } from '../consent/intake';
import { profileAttributes } from '../config/routing';
import { PROFILE_FIELDS } from '../shared';

export const REQUIRED_COLUMNS = ['email', 'type', 'event_time'] as const;
/** The documented optional columns; a column per other profile attribute the configuration names is read too. */
export const OPTIONAL_COLUMNS = ['event_id', 'environment', ...PROFILE_FIELDS] as const;

export interface ParsedRows {
  events: ExtoleConsentEvent[];
  /** Problems by row: `index` is the CSV line number (the header is line 1). */
  problems: FieldProblem[];
}

/**
 * Reads a consent CSV (header row: email,type,event_time and optionally event_id, environment and
 * a column per profile attribute the configuration names, matched case-insensitively as every
 * header is). A row without event_id gets one derived from its content, so importing the
 * same file again is answered as duplicates by the ledgers instead of writing twice.
 */
export function parseConsentCsv(text: string, config: Readonly<Config>): ParsedRows {
  const records = parse(text, { columns: (header: string[]) => header.map((name) => name.trim().toLowerCase()), bom: true, skip_empty_lines: true, trim: true, relax_column_count: true }) as Record<string, string>[];
  const problems: FieldProblem[] = [];
  const header = records.length > 0 ? Object.keys(records[0]!) : [];
  const missing = REQUIRED_COLUMNS.filter((column) => !header.includes(column));
  if (records.length > 0 && missing.length > 0) {
    return { events: [], problems: [{ index: 1, field: missing.join(', '), message: `missing column(s); the header needs ${REQUIRED_COLUMNS.join(', ')}` }] };
  }
  const events: ExtoleConsentEvent[] = [];
  const attributes = profileAttributes(config.listrak.routing);
  records.forEach((row, index) => {
    const line = index + 2;
    const profile = Object.fromEntries(attributes.filter((name) => row[name.toLowerCase()]).map((name) => [name, row[name.toLowerCase()]]));
    const raw = {
      event_id: row.event_id || 'pending',
      event_time: /^\d+$/.test(row.event_time ?? '') ? Number(row.event_time) : row.event_time,
      type: row.type,
      email: row.email,
      environment: row.environment || undefined,
      profile,
    };
    const result = parseEvent(raw, line, { attributes });
    if ('problems' in result) {
      problems.push(...result.problems);
      return;
    }
    const event = result.event;
    if (!row.event_id) event.eventId = derivedEventId(config, event);
    events.push(event);
  });
  return { events, problems };
}

/** `import-<hash>` of the row's content; the email enters only as its keyed hash. */
export function derivedEventId(config: Readonly<Config>, event: ExtoleConsentEvent): string {
  const content = [hashEmail(config.emailHashKey, event.email), event.environment, event.type, event.eventTimeMs].join('|');
  return `import-${createHash('sha256').update(content).digest('hex').slice(0, 32)}`;
}

export interface PacedProgress {
  done: number;
  total: number;
  ratePerSecond: number;
}

/**
 * Records events through the same intake as the webhook, paced at `ratePerSecond` so a large
 * backfill queues no faster than the Listrak limit drains. Calls `onProgress` after each batch.
 */
export async function recordPaced(
  intake: ConsentIntake,
  events: ExtoleConsentEvent[],
  { ratePerSecond, onProgress, suppressEvents = false }: { ratePerSecond: number; onProgress?: (progress: PacedProgress) => void; suppressEvents?: boolean },
): Promise<RecordedChange[]> {
  const recorded: RecordedChange[] = [];
  const started = Date.now();
  const tickMs = 200;
  let next = 0;
  while (next < events.length) {
    const elapsed = Date.now() - started;
    const due = Math.min(events.length, Math.max(next + 1, Math.floor(((elapsed + tickMs) / 1000) * ratePerSecond)));
    const batch = events.slice(next, due).map((event) => (suppressEvents ? { ...event, suppressEvents: true } : event));
    recorded.push(...(await intake.record(batch)));
    next = due;
    onProgress?.({ done: next, total: events.length, ratePerSecond: next / Math.max(0.001, (Date.now() - started) / 1000) });
    const wait = started + (next / ratePerSecond) * 1000 - Date.now();
    if (next < events.length && wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  }
  return recorded;
}

/** A one-line progress bar, redrawn in place on a terminal, every 10 % otherwise. */
export function progressBar(stream: NodeJS.WriteStream, label: string) {
  let lastDecile = -1;
  return (progress: PacedProgress) => {
    const fraction = progress.total === 0 ? 1 : progress.done / progress.total;
    const width = 30;
    const filled = Math.round(fraction * width);
    const remaining = progress.ratePerSecond > 0 ? Math.ceil((progress.total - progress.done) / progress.ratePerSecond) : 0;
    const line = `${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${Math.floor(fraction * 100)}% ${progress.done}/${progress.total} · ${progress.ratePerSecond.toFixed(1)}/s · ${remaining}s left`;
    if (stream.isTTY) {
      stream.write(`\r${line}${progress.done === progress.total ? '\n' : ''}`);
      return;
    }
    const decile = Math.floor(fraction * 10);
    if (decile !== lastDecile) {
      lastDecile = decile;
      stream.write(`${line}\n`);
    }
  };
}
