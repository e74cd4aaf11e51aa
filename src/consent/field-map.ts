import type { FieldMap } from '../config/routing';
import { PROFILE_FIELDS } from '../shared';

/*
 * The routing file's field map, applied before the webhook's parser: an event object as the
 * Extole webhook is configured to send it becomes the documented shape (event_id, event_time,
 * type, email, environment, profile …), so the parser's validation and refusal reporting apply to
 * it unchanged. A field the map does not name is read as before (with the documented aliases);
 * so is a documented profile attribute (PROFILE_FIELDS) the map does not name.
 */

/** The value at a dotted path (`data.person.email`), or undefined. */
export function valueAt(source: unknown, path: string): unknown {
  let current = source;
  for (const part of path.split('.')) {
    if (!current || typeof current !== 'object' || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** The canonical value for a value the map translates (opt-in/opt-out, production/staging); others pass as sent. */
function translated(value: unknown, choices: Record<string, string[] | undefined>): unknown {
  if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') return value;
  const text = String(value);
  const found = Object.entries(choices).find(([, values]) => values?.includes(text));
  return found ? found[0] : value;
}

/** One event object in the documented shape; anything but an object passes unchanged (the parser refuses it). */
export function mapEvent(raw: unknown, map: FieldMap): unknown {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return raw;
  const mapped: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  const take = (canonical: string, path: string | undefined, translate: (value: unknown) => unknown = (value) => value) => {
    if (path !== undefined) mapped[canonical] = translate(valueAt(raw, path));
  };
  take('event_id', map.eventId);
  take('event_time', map.eventTime);
  take('email', map.email);
  take('type', map.type?.path, (value) => translated(value, { opt_in: map.type?.optIn, opt_out: map.type?.optOut }));
  take('environment', map.environment?.path, (value) =>
    translated(value, { production: map.environment?.production, staging: map.environment?.staging }),
  );
  take('program_label', map.programLabel);
  take('campaign_id', map.campaignId);
  take('cause_event_id', map.causeEventId);
  take('cause_event_sequence', map.causeEventSequence);
  if (map.profile !== undefined) {
    const paths = map.profile;
    const own = mapped.profile ?? mapped.person;
    const documented =
      own && typeof own === 'object' && !Array.isArray(own)
        ? PROFILE_FIELDS.filter((name) => !(name in paths) && name in own).map((name) => [name, (own as Record<string, unknown>)[name]])
        : [];
    mapped.profile = Object.fromEntries([...documented, ...Object.entries(paths).map(([name, path]) => [name, valueAt(raw, path)])]);
  }
  return mapped;
}

/** A request body (one event or an array of them) in the documented shape; unchanged without a map. */
export function applyFieldMap(body: unknown, map: FieldMap | undefined): unknown {
  if (map === undefined) return body;
  return Array.isArray(body) ? body.map((item) => mapEvent(item, map)) : mapEvent(body, map);
}
