import { z } from 'zod';
import { normalizeEmail } from '../email';
import { PROFILE_FIELDS, type ConsentChange, type Profile } from '../shared';

export const MAX_EVENTS_PER_REQUEST = 500;

/** A consent event as accepted at the webhook, after aliases are resolved. */
export type ExtoleConsentEvent = Omit<ConsentChange, 'receivedAt' | 'notSentReason'>;

export interface FieldProblem {
  /** Index in the request's array; 0 for a single object. */
  index: number;
  field: string;
  message: string;
}

/**
 * Aliases for Extole's raw objects, which differ from the documented shape by configuration:
 * the first key present wins. See "Pointing Extole at the service" in the README.
 */
const ALIASES = {
  event_id: ['event_id', 'eventId', 'id'],
  event_time: ['event_time', 'eventTime', 'event_date', 'created_date'],
  type: ['type', 'event_type', 'eventType'],
  email: ['email', 'email_address', 'emailAddress', 'person.email'],
  environment: ['environment', 'program_environment'],
} as const;

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;
const EVENT_ID = /^[A-Za-z0-9._:-]{1,200}$/;

const eventIdSchema = z
  .union([z.string(), z.number().int().nonnegative()])
  .transform((value) => String(value).trim())
  .pipe(z.string().regex(EVENT_ID, 'must be 1-200 characters of letters, digits and . _ : -'));

const eventTimeSchema = z.union([z.string(), z.number()]).transform((value, ctx) => {
  // Epoch milliseconds (Extole's raw timestamps) or ISO-8601 with an explicit offset.
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 946684800000 || value > 4102444800000) {
      ctx.addIssue({ code: 'custom', message: 'as a number must be epoch milliseconds between 2000 and 2100' });
      return z.NEVER;
    }
    return { eventTime: new Date(value).toISOString(), eventTimeMs: value };
  }
  const ms = Date.parse(value);
  if (!ISO_WITH_OFFSET.test(value) || Number.isNaN(ms) || !isRealCalendarTime(value)) {
    ctx.addIssue({ code: 'custom', message: `must be ISO-8601 with an offset (e.g. 2026-01-31T12:00:00Z), got '${value.slice(0, 40)}'` });
    return z.NEVER;
  }
  return { eventTime: value, eventTimeMs: ms };
});

/** Date.parse rolls 2026-02-30 over to March 2nd; a real event time names a real day and time. */
function isRealCalendarTime(value: string): boolean {
  const [, year, month, day, hour, minute, second = '0'] = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?/.exec(value) ?? [];
  const daysInMonth = new Date(Date.UTC(Number(year), Number(month), 0)).getUTCDate();
  return (
    Number(month) >= 1 && Number(month) <= 12 &&
    Number(day) >= 1 && Number(day) <= daysInMonth &&
    Number(hour) <= 23 && Number(minute) <= 59 && Number(second) <= 59
  );
}

const typeSchema = z.string().transform((value, ctx) => {
  const normalized = value.trim().toLowerCase().replace(/[-\s]/g, '_');
  if (normalized === 'opt_in' || normalized === 'optin') return 'opt_in' as const;
  if (normalized === 'opt_out' || normalized === 'optout') return 'opt_out' as const;
  ctx.addIssue({ code: 'custom', message: `must be 'opt_in' or 'opt_out', got '${value.slice(0, 40)}'` });
  return z.NEVER;
});

const emailSchema = z
  .string()
  .transform((value) => normalizeEmail(value))
  .pipe(z.email('must be a valid email address').max(254, 'must be at most 254 characters'));

const environmentSchema = z
  .string()
  .transform((value) => value.trim().toLowerCase())
  .pipe(z.enum(['production', 'staging'], "must be 'production' or 'staging'"))
  .optional()
  .default('production');

const profileValue = z
  .union([z.string(), z.number()])
  .transform((value) => String(value).trim())
  .pipe(z.string().max(4000, 'must be at most 4000 characters'))
  .nullish();

const profileSchema = z.object(Object.fromEntries(PROFILE_FIELDS.map((name) => [name, profileValue])));

function lookup(source: Record<string, unknown>, path: string): unknown {
  let current: unknown = source;
  for (const part of path.split('.')) {
    if (!current || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function firstPresent(source: Record<string, unknown>, names: readonly string[]): { name: string; value: unknown } {
  for (const name of names) {
    const value = lookup(source, name);
    if (value !== undefined && value !== null) return { name, value };
  }
  return { name: names[0] ?? '', value: undefined };
}

function problemsFrom(index: number, field: string, error: z.ZodError): FieldProblem[] {
  return error.issues.map((issue) => ({
    index,
    field: [field, ...issue.path.map(String)].join('.'),
    message: issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message,
  }));
}

/** Validates one event object; returns the event or every problem found in it. */
export function parseEvent(raw: unknown, index: number): { event: ExtoleConsentEvent } | { problems: FieldProblem[] } {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return { problems: [{ index, field: '', message: 'each event must be a JSON object' }] };
  }
  const source = raw as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const field = <T>(key: keyof typeof ALIASES, schema: z.ZodType<T>): T | undefined => {
    const { name, value } = firstPresent(source, ALIASES[key]);
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    problems.push(...problemsFrom(index, name, result.error));
    return undefined;
  };
  const eventId = field('event_id', eventIdSchema);
  const time = field('event_time', eventTimeSchema);
  const type = field('type', typeSchema);
  const email = field('email', emailSchema);
  const environment = field('environment', environmentSchema);

  const profileSource = source.profile ?? source.person ?? {};
  let profile: Profile = {};
  if (typeof profileSource !== 'object' || Array.isArray(profileSource)) {
    problems.push({ index, field: 'profile', message: 'must be an object' });
  } else {
    const parsed = profileSchema.safeParse(profileSource);
    if (parsed.success) {
      profile = Object.fromEntries(
        Object.entries(parsed.data).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1] !== ''),
      );
    } else {
      problems.push(...problemsFrom(index, source.profile === undefined ? 'person' : 'profile', parsed.error));
    }
  }

  if (problems.length > 0 || !eventId || !time || !type || !email || !environment) return { problems };
  return { event: { eventId, ...time, type, email, environment, profile } };
}

/** Validates a request body: one event or an array of up to MAX_EVENTS_PER_REQUEST. */
export function parseEvents(body: unknown): { events: ExtoleConsentEvent[] } | { problems: FieldProblem[] } {
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return { problems: [{ index: 0, field: '', message: 'the array is empty' }] };
  if (items.length > MAX_EVENTS_PER_REQUEST) {
    return {
      problems: [{ index: MAX_EVENTS_PER_REQUEST, field: '', message: `at most ${MAX_EVENTS_PER_REQUEST} events per request, got ${items.length}` }],
    };
  }
  const { events, problems } = parseEachEvent(items);
  return problems.length > 0 ? { problems } : { events };
}

/** Validates every item; returns the valid events and the problems of the others (no size limit). */
export function parseEachEvent(items: unknown[]): { events: ExtoleConsentEvent[]; problems: FieldProblem[] } {
  const events: ExtoleConsentEvent[] = [];
  const problems: FieldProblem[] = [];
  items.forEach((item, index) => {
    const result = parseEvent(item, index);
    if ('event' in result) events.push(result.event);
    else problems.push(...result.problems);
  });
  return { events, problems };
}
