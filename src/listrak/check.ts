import type { Config } from '../config/config';
import type { RoutedList } from '../config/routing';
import { ENVIRONMENTS, type Environment } from '../shared';
import type { ListrakClient, ListrakField } from './client';
import { ListrakError } from './errors';

/**
 * The pre-flight check a brand runs before switching the integration on (`npm run check-listrak`,
 * and at `npm start`): credentials, list, profile fields and events, per environment.
 */

export interface CheckLine {
  ok: boolean;
  what: string;
  /** What to do about a problem. */
  fix?: string;
}

export interface EnvironmentReport {
  environment: Environment;
  /** The list's name in ROUTING_FILE (absent under the LISTRAK_* shorthand: one list per environment). */
  list?: string;
  configured: boolean;
  lines: CheckLine[];
}

export interface CheckReport {
  ok: boolean;
  environments: EnvironmentReport[];
}

function fixFor(error: unknown, subject: string): string {
  if (!(error instanceof ListrakError)) return `${subject}: ${(error as Error).message}`;
  switch (error.code) {
    case 'ERROR_INVALID_CREDENTIALS':
      return 'client id or secret rejected, or the integration is paused: re-create the secret under Manage > Integrations, or unpause the integration';
    case 'ERROR_UNAUTHORIZED':
      return `the integration may not read ${subject}: give it the Contact, Event, List and Segmentation scopes under Manage > Integrations`;
    case 'ERROR_UNABLE_TO_LOCATE_RESOURCE':
    case 'ERROR_INVALID_LIST_ID':
      return `${subject} not found: check the List ID under Contacts > List Manager > Help and Support > API ID Information`;
    case 'ERROR_LIST_INACTIVE':
      return `${subject} is inactive: reactivate it in Listrak or configure another list`;
    default:
      return error.kind === 'transient'
        ? `Listrak did not answer (${error.code}): try again; check LISTRAK_AUTH_URL/LISTRAK_API_URL if it persists`
        : `${subject}: Listrak answered ${error.status} ${error.code}`;
  }
}

/** The routing file's key of each shorthand variable. */
const ROUTING_KEYS = { LISTRAK_SEGMENTATION_FIELDS: 'profileFields', LISTRAK_OPT_IN_EVENT_IDS: 'optInEventIds', LISTRAK_DOUBLE_OPT_IN: 'doubleOptIn' } as const;

/** Where a list's fields, events and double opt-in are configured, for the fix of a problem with them. */
function settingOf(config: Readonly<Config>, target: RoutedList, variable: keyof typeof ROUTING_KEYS): string {
  if (config.listrak.routing.file === undefined) return variable;
  return `${ROUTING_KEYS[variable]} of list '${target.name}' in ROUTING_FILE`;
}

/**
 * The list's own double opt-in setting against the route's. A list that asks for confirmation
 * while the service subscribes people directly would have Listrak mail people nobody confirmed;
 * the other way round, the service waits for a confirmation Listrak may never ask for. Unknown
 * (the answer carries no setting): no line.
 */
function doubleOptInLine(config: Readonly<Config>, target: RoutedList, enabled: boolean | undefined): CheckLine | undefined {
  if (enabled === undefined || (!enabled && !target.doubleOptIn)) return undefined;
  const setting = settingOf(config, target, 'LISTRAK_DOUBLE_OPT_IN');
  if (enabled && target.doubleOptIn) return { ok: true, what: `double opt-in: on for list ${target.listId} in Listrak and in ${setting}` };
  if (enabled) {
    return {
      ok: false,
      what: 'double opt-in',
      fix: `list ${target.listId} has double opt-in on in Listrak, but the service subscribes new people directly: set ${setting} to true (or turn it off in Listrak if the list does not need confirmation)`,
    };
  }
  return {
    ok: false,
    what: 'double opt-in',
    fix: `${setting} is true, but list ${target.listId} has double opt-in off in Listrak: turn it on in the list's settings, or set ${setting} to false`,
  };
}

/**
 * Listrak's field types that take any text up to maxLength. The others hold a number, a date, one
 * of set choices or a content block; the service sends values as the event carries them, which
 * such a field may refuse (the sandbox does) or store as something else.
 */
const TEXT_TYPES = ['Text', 'CommentArea'];

function takesText(field: ListrakField): boolean {
  return field.dataType === undefined || TEXT_TYPES.includes(field.dataType);
}

async function checkTarget(client: ListrakClient, config: Readonly<Config>, target: RoutedList): Promise<CheckLine[]> {
  const lines: CheckLine[] = [];
  try {
    const list = await client.getList(target);
    lines.push({ ok: true, what: `credentials accepted; list ${target.listId} exists and is active` });
    const doubleOptIn = doubleOptInLine(config, target, list?.enableDoubleOptIn);
    if (doubleOptIn) lines.push(doubleOptIn);
  } catch (error) {
    lines.push({ ok: false, what: `list ${target.listId}`, fix: fixFor(error, `list ${target.listId}`) });
    return lines; // nothing else can be read without a working token and list
  }

  const wantedFields = Object.entries(target.segmentationFields).map(([name, id]) => ({ name, id }));
  if (wantedFields.length > 0) {
    try {
      const fields = await client.getSegmentationFields(target);
      for (const { name, id } of wantedFields) {
        const field = fields.find((candidate) => candidate.segmentationFieldId === id);
        if (!field) {
          lines.push({ ok: false, what: `profile field ${id} (${name})`, fix: `no profile field ${id} on list ${target.listId}: fix ${settingOf(config, target, 'LISTRAK_SEGMENTATION_FIELDS')} or create the field` });
        } else if (field.disabled) {
          lines.push({ ok: false, what: `profile field ${id} (${name})`, fix: `profile field ${id} "${field.segmentationFieldName}" is disabled: enable it in Listrak or remove it from ${settingOf(config, target, 'LISTRAK_SEGMENTATION_FIELDS')}` });
        } else if (!takesText(field)) {
          lines.push({
            ok: false,
            what: `profile field ${id} (${name})`,
            fix: `profile field ${id} "${field.segmentationFieldName}" is a ${field.dataType} field; attribute values are sent as text as the event carries them: map '${name}' to a Text field instead in ${settingOf(config, target, 'LISTRAK_SEGMENTATION_FIELDS')}`,
          });
        } else {
          lines.push({ ok: true, what: `profile field ${id} (${name}) "${field.segmentationFieldName}", up to ${field.maxLength} characters` });
        }
      }
    } catch (error) {
      lines.push({ ok: false, what: 'profile fields', fix: fixFor(error, 'profile fields') });
    }
  }

  if (target.optInEventIds.length > 0) {
    try {
      const events = await client.getEvents(target);
      for (const id of target.optInEventIds) {
        const event = events.find((candidate) => candidate.eventId === id);
        if (!event) {
          lines.push({ ok: false, what: `event ${id}`, fix: `no event ${id} on list ${target.listId}: fix ${settingOf(config, target, 'LISTRAK_OPT_IN_EVENT_IDS')}` });
        } else if (event.status === 'Blocked') {
          lines.push({ ok: false, what: `event ${id}`, fix: `event ${id} "${event.eventName}" is blocked in Listrak: unblock it or remove it from ${settingOf(config, target, 'LISTRAK_OPT_IN_EVENT_IDS')}` });
        } else {
          lines.push({ ok: true, what: `event ${id} "${event.eventName}"` });
        }
      }
    } catch (error) {
      lines.push({ ok: false, what: 'events', fix: fixFor(error, 'events') });
    }
  }
  return lines;
}

/**
 * Runs the check for every list of production and staging, each with its own credentials (an
 * unconfigured staging is reported, not an error).
 */
export async function checkListrak(client: ListrakClient, config: Readonly<Config>): Promise<CheckReport> {
  const environments: EnvironmentReport[] = [];
  const { routing } = config.listrak;
  for (const environment of ENVIRONMENTS) {
    const lists = routing.lists.filter((list) => list.environment === environment);
    if (lists.length === 0) {
      environments.push({
        environment,
        configured: false,
        lines:
          environment === 'production'
            ? [{ ok: false, what: 'credentials', fix: routing.file === undefined ? 'set LISTRAK_CLIENT_ID, LISTRAK_CLIENT_SECRET and LISTRAK_LIST_ID' : 'add a production list to ROUTING_FILE' }]
            : [{ ok: true, what: 'not configured: staging events are recorded but not sent' }],
      });
      continue;
    }
    for (const list of lists) {
      const report: EnvironmentReport = { environment, configured: true, lines: await checkTarget(client, config, list) };
      if (routing.file !== undefined) report.list = list.name;
      environments.push(report);
    }
  }
  return { ok: environments.every((report) => report.lines.every((line) => line.ok)), environments };
}

/** A short plain report for people. */
export function formatReport(report: CheckReport, apiUrl: string): string {
  const out = [`Listrak check against ${apiUrl}`];
  for (const environment of report.environments) {
    out.push(environment.list === undefined ? `${environment.environment}:` : `${environment.environment} list '${environment.list}':`);
    for (const line of environment.lines) out.push(`  ${line.ok ? 'ok  ' : 'FAIL'} ${line.what}${line.fix ? `: ${line.fix}` : ''}`);
  }
  out.push(report.ok ? 'All good.' : 'Problems found: fix them before switching the integration on.');
  return out.join('\n');
}
