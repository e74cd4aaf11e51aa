import { z } from 'zod';
import { normalizeEmail } from '../consent/email';
import { EVENT_ID, PROFILE_FIELDS, type ExtoleConsentEvent, type Profile } from '../shared';

export const MAX_EVENTS_PER_REQUEST = 500;

/** A consent event as accepted at the webhook, after aliases are resolved. */
export type { ExtoleConsentEvent };

export interface FieldProblem {
  /** Index in the request's array; 0 for a single object. */
  index: number;
  /** The event's id, when it could be read (a valid id); an invalid one is not repeated. */
  event_id?: string;
  field: string;
  message: string;
}

/** An event refused on its own; its problems, and what could be read of it. */
export interface RejectedEvent {
  index: number;
  eventId?: string;
  /** The normalized address when it was valid: to hash for logs, never to show or log. */
  email?: string;
  problems: FieldProblem[];
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
  // Extole's own names (ConsumerWebhookEvent); a routing file's field map can point elsewhere.
  program_label: ['program_label', 'programLabel'],
  campaign_id: ['campaign_id', 'campaignId'],
  cause_event_id: ['cause_event_id', 'causeEventId'],
  cause_event_sequence: ['cause_event_sequence', 'causeEventSequence'],
} as const;

/** An invalid value, quoted in a message: shortened, and not at all when it may be an address. */
function quoted(value: string): string {
  return value.includes('@') ? "a value with an '@' (not repeated here)" : `'${value.slice(0, 40)}'`;
}

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/i;

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
    ctx.addIssue({ code: 'custom', message: `must be ISO-8601 with an offset (e.g. 2026-01-31T12:00:00Z), got ${quoted(value)}` });
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
  ctx.addIssue({ code: 'custom', message: `must be 'opt_in' or 'opt_out', got ${quoted(value)}` });
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

const labelSchema = z
  .union([z.string(), z.number().int()])
  .transform((value) => String(value).trim())
  .pipe(z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters'))
  .optional();

const sequenceSchema = z
  .union([z.number(), z.string().regex(/^\d+$/, 'must be a non-negative integer').transform(Number)])
  .pipe(z.number().int('must be a non-negative integer').nonnegative('must be a non-negative integer').max(Number.MAX_SAFE_INTEGER))
  .optional();

/** A profile value: text, or a number or true/false written as text (`42`, `true`). */
const profileValue = z
  .union([z.string(), z.number(), z.boolean()], 'must be text, a number or true/false')
  .transform((value) => String(value).trim())
  .pipe(z.string().max(4000, 'must be at most 4000 characters'))
  .nullish();

/** The profile object for a set of attribute names; other members are stripped (never stored). */
function profileSchemaFor(attributes: readonly string[]) {
  const key = attributes.join('\n');
  let schema = profileSchemas.get(key);
  if (!schema) {
    schema = z.object(Object.fromEntries(attributes.map((name) => [name, profileValue])));
    // One per configuration in practice; bounded all the same.
    if (profileSchemas.size >= 16) profileSchemas.clear();
    profileSchemas.set(key, schema);
  }
  return schema;
}
const profileSchemas = new Map<string, z.ZodObject>();

const profileSchema = profileSchemaFor(PROFILE_FIELDS);

export interface ParseOptions {
  /**
   * The profile attributes to keep (profileAttributes of the routing); the documented ones when
   * not given. Any other member of an event's profile is dropped.
   */
  attributes?: readonly string[];
}

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

/** Validates one event object; returns the event, or every problem found in it and what could be read. */
export function parseEvent(raw: unknown, index: number, options: ParseOptions = {}): { event: ExtoleConsentEvent } | Omit<RejectedEvent, 'index'> {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    return { problems: [{ index, field: '', message: 'each event must be a JSON object' }] };
  }
  const source = raw as Record<string, unknown>;
  const problems: FieldProblem[] = [];
  const field = <T>(key: keyof typeof ALIASES, schema: z.ZodType<T>): T | undefined => {
    const { name, value } = firstPresent(source, ALIASES[key]);
    const result = schema.safeParse(value);
    if (!result.success && value === undefined) {
      problems.push({ index, field: name, message: 'is required' });
      return undefined;
    }
    if (result.success) return result.data;
    problems.push(...problemsFrom(index, name, result.error));
    return undefined;
  };
  const eventId = field('event_id', eventIdSchema);
  const time = field('event_time', eventTimeSchema);
  const type = field('type', typeSchema);
  const email = field('email', emailSchema);
  const environment = field('environment', environmentSchema);
  const programLabel = field('program_label', labelSchema);
  const campaignId = field('campaign_id', labelSchema);
  const causeEventId = field('cause_event_id', eventIdSchema.optional());
  const causeEventSequence = field('cause_event_sequence', sequenceSchema);

  const profileSource = source.profile ?? source.person ?? {};
  let profile: Profile = {};
  if (typeof profileSource !== 'object' || Array.isArray(profileSource)) {
    problems.push({ index, field: 'profile', message: 'must be an object' });
  } else {
    const parsed = (options.attributes ? profileSchemaFor(options.attributes) : profileSchema).safeParse(profileSource);
    if (parsed.success) {
      profile = Object.fromEntries(
        Object.entries(parsed.data).filter((entry): entry is [string, string] => typeof entry[1] === 'string' && entry[1] !== ''),
      );
    } else {
      problems.push(...problemsFrom(index, source.profile === undefined ? 'person' : 'profile', parsed.error));
    }
  }

  if (problems.length > 0 || !eventId || !time || !type || !email || !environment) {
    if (eventId) for (const problem of problems) problem.event_id = eventId;
    const rejected: Omit<RejectedEvent, 'index'> = { problems };
    if (eventId) rejected.eventId = eventId;
    if (email) rejected.email = email;
    return rejected;
  }
  const event: ExtoleConsentEvent = { eventId, ...time, type, email, environment, profile };
  // Set only when sent: an event without them records the same payload as before.
  if (programLabel !== undefined) event.programLabel = programLabel;
  if (campaignId !== undefined) event.campaignId = campaignId;
  if (causeEventId !== undefined) event.causeEventId = causeEventId;
  if (causeEventSequence !== undefined) event.causeEventSequence = causeEventSequence;
  return { event };
}

/**
 * Validates a request body: one event or an array of up to MAX_EVENTS_PER_REQUEST. The valid
 * events are returned with the refused ones beside them; `problems` means nothing in the request
 * can be recorded (the whole request is wrong, or every event in it is).
 */
export function parseEvents(
  body: unknown,
  options: ParseOptions = {},
): { events: ExtoleConsentEvent[]; rejected: RejectedEvent[] } | { problems: FieldProblem[]; rejected: RejectedEvent[] } {
  const items = Array.isArray(body) ? body : [body];
  if (items.length === 0) return { problems: [{ index: 0, field: '', message: 'the array is empty' }], rejected: [] };
  if (items.length > MAX_EVENTS_PER_REQUEST) {
    return {
      problems: [{ index: MAX_EVENTS_PER_REQUEST, field: '', message: `at most ${MAX_EVENTS_PER_REQUEST} events per request, got ${items.length}` }],
      rejected: [],
    };
  }
  const { events, problems, rejected } = parseEachEvent(items, options);
  return events.length > 0 ? { events, rejected } : { problems, rejected };
}

/** Validates every item; returns the valid events and the problems of the others (no size limit). */
export function parseEachEvent(items: unknown[], options: ParseOptions = {}): { events: ExtoleConsentEvent[]; problems: FieldProblem[]; rejected: RejectedEvent[] } {
  const events: ExtoleConsentEvent[] = [];
  const rejected: RejectedEvent[] = [];
  items.forEach((item, index) => {
    const result = parseEvent(item, index, options);
    if ('event' in result) events.push(result.event);
    else rejected.push({ index, ...result });
  });
  return { events, problems: rejected.flatMap((entry) => entry.problems), rejected };
}

const CANONICAL_FIELD = new Map<string, string>(
  Object.entries(ALIASES).flatMap(([canonical, names]) => names.map((name): [string, string] => [name, canonical])),
);

/**
 * A problem as metric labels: the documented field it concerns (aliases resolved, `profile` for
 * any profile value, `event` for the event as a whole) and whether the field was missing or invalid.
 */
export function problemLabels(problem: FieldProblem): { field: string; reason: 'missing' | 'invalid' | 'not_an_object' } {
  if (problem.field === '') return { field: 'event', reason: 'not_an_object' };
  const field =
    CANONICAL_FIELD.get(problem.field) ?? (/^(profile|person)(\.|$)/.test(problem.field) ? 'profile' : 'other');
  return { field, reason: problem.message === 'is required' ? 'missing' : 'invalid' };
}

/** Deepest bracket nesting outside strings, counted without parsing (the webhook refuses deep bodies before JSON.parse). */
export function nestingDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const char = text.charCodeAt(index);
    if (inString) {
      if (char === 92) index++; // backslash: skip the escaped character
      else if (char === 34) inString = false;
    } else if (char === 34) inString = true;
    else if (char === 123 || char === 91) deepest = Math.max(deepest, ++depth);
    else if (char === 125 || char === 93) depth--;
  }
  return deepest;
}

/**
 * One event in the documented shape, for the API contract: the field schemas `parseEvent` applies.
 * The aliases (ALIASES, `person` for `profile`) are accepted too, so other members are allowed.
 */
export const documentedEventSchema = z.looseObject({
  event_id: eventIdSchema,
  event_time: eventTimeSchema,
  type: typeSchema,
  email: emailSchema,
  environment: environmentSchema,
  profile: profileSchema
    .loose()
    .describe(
      'profile attributes as text (a number or true/false is kept as written): the documented ones, and any other that a list of ROUTING_FILE maps to a Listrak field; other members are dropped, not stored',
    )
    .optional(),
});
