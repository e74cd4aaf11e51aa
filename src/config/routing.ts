import { readFileSync } from 'node:fs';
import path from 'node:path';
import { LineCounter, isMap, isSeq, parseDocument, type Document } from 'yaml';
import { z } from 'zod';
import { ConfigError } from './config-error';
import { ATTRIBUTE_NAME, ATTRIBUTE_NAME_RULE, ENVIRONMENTS, PROFILE_FIELDS, type Environment } from '../shared';

/*
 * Where consent changes go (ROUTING_FILE, or the LISTRAK_* variables as the one-list shorthand):
 * the Listrak lists with their credentials, the routes from an Extole program, campaign and
 * environment to lists, and the field map that says where an event's fields are.
 */

/** Credentials and list for one Listrak list. */
export interface ListrakTarget {
  clientId: string;
  clientSecret: string;
  listId: number;
}

/** A Listrak list changes are written to: its credentials, its environment, its fields and events. */
export interface RoutedList extends ListrakTarget {
  /** The list's name in the routing file (`production`/`staging` for the variables' lists). */
  name: string;
  environment: Environment;
  /** Profile attribute name -> the Listrak profile (segmentation) field id its value is written to. */
  segmentationFields: Record<string, number>;
  optInEventIds: number[];
  /**
   * Double opt-in: an opt-in for a person the list does not hold yet is written with Listrak's
   * `sendDoubleOptIn`, and waits for the person to confirm (outcome `awaiting_confirmation`).
   */
  doubleOptIn: boolean;
}

/** What an event must carry for a route to take it; an absent key matches anything. */
export interface RouteMatch {
  programLabel?: string;
  campaignId?: string;
  environment?: Environment;
}

export interface Route {
  name: string;
  match: RouteMatch;
  /** Names of the lists, each in `Routing.lists`. */
  lists: string[];
}

/** Where an event's fields are found: dotted paths into the event object as it arrives. */
export interface FieldMap {
  eventId?: string;
  eventTime?: string;
  email?: string;
  /** The type's path, and (optionally) which values mean opt-in and opt-out. */
  type?: { path: string; optIn?: string[]; optOut?: string[] };
  /** The environment's path, and (optionally) which values mean production and staging. */
  environment?: { path: string; production?: string[]; staging?: string[] };
  programLabel?: string;
  campaignId?: string;
  causeEventId?: string;
  causeEventSequence?: string;
  /**
   * Profile attribute name -> its path (the file's `fields.attributes`, or `fields.profile` as
   * before). The documented attributes (PROFILE_FIELDS) it does not name are still read from the
   * event's `profile` object.
   */
  profile?: Record<string, string>;
}

export interface Routing {
  /** The routing file, or undefined for the LISTRAK_* variables' one list per environment. */
  file?: string;
  lists: RoutedList[];
  /** Tried in order; the first that matches an event takes it. */
  routes: Route[];
  /** Takes an event no route matches; without it such an event is recorded as not sent (no_route). */
  defaultRoute?: Route;
  /** Absent: events arrive in the documented shape (with its aliases). */
  fields?: FieldMap;
}

/** The shorthand: the variables' production and staging lists, and one default route to both. */
export function routingFromEnvironment(
  targets: Partial<Record<Environment, ListrakTarget>>,
  segmentationFields: Record<string, number>,
  optInEventIds: number[],
  doubleOptIn = false,
): Routing {
  const lists = ENVIRONMENTS.flatMap((environment): RoutedList[] => {
    const target = targets[environment];
    return target ? [{ ...target, name: environment, environment, segmentationFields, optInEventIds, doubleOptIn }] : [];
  });
  return { lists, routes: [], defaultRoute: { name: 'default', match: {}, lists: lists.map((list) => list.name) } };
}

/**
 * The lists an event goes to (possibly none), and the route that sent it there. An opt-out that
 * no route of its own claims with a list in its environment (no program or campaign, one the file
 * does not name, or only the default route) goes to every list of its environment: an opt-in from
 * another program, or through the default, may have subscribed the person anywhere, and a person
 * who said no is never left subscribed for want of a route. A matched opt-out goes to its route's
 * lists, the lists that program subscribes to.
 */
export function routeEvent(
  routing: Routing,
  event: { type?: 'opt_in' | 'opt_out'; environment: Environment; programLabel?: string | undefined; campaignId?: string | undefined },
): { route?: Route; lists: RoutedList[] } {
  const matched = routing.routes.find((candidate) => matches(candidate.match, event));
  const route = matched ?? routing.defaultRoute;
  const lists = (route?.lists ?? [])
    .map((name) => routing.lists.find((list) => list.name === name))
    .filter((list): list is RoutedList => list !== undefined && list.environment === event.environment);
  if (event.type === 'opt_out' && (!matched || lists.length === 0)) {
    return { route: EVERY_LIST_ROUTE, lists: routing.lists.filter((list) => list.environment === event.environment) };
  }
  return { route, lists };
}

/**
 * The route an opt-out takes when no route of its own names a list for it (routeEvent). Its name
 * is one no route of a file can have (route names are letters, digits, - and _).
 */
export const EVERY_LIST_ROUTE: Route = { name: '(every list)', match: {}, lists: [] };

function matches(match: RouteMatch, event: Parameters<typeof routeEvent>[1]): boolean {
  return (
    (match.programLabel === undefined || match.programLabel === event.programLabel) &&
    (match.campaignId === undefined || match.campaignId === event.campaignId) &&
    (match.environment === undefined || match.environment === event.environment)
  );
}

/** The list a change of a ledger is written to: its environment and list id name it. */
export function listOf(routing: Routing, environment: Environment, listId: number): RoutedList | undefined {
  return routing.lists.find((list) => list.environment === environment && list.listId === listId);
}

/** A list's name for people (status, export): the routing's name of the ledger's list; null for the unconfigured ledger or a list the routing no longer has. */
export function listNameOf(routing: Routing, environment: Environment, listId: number | null): string | null {
  return listId === null ? null : (listOf(routing, environment, listId)?.name ?? null);
}

/*
 * Metric labels name lists and routes by the routing's names only, never by event data: `none`
 * for no list (an unrouted change) or no route, `other` for a name the routing no longer has (a
 * change recorded under an earlier routing file), so the label values stay as few as the file's.
 */
export const NO_LABEL = 'none';
export const OTHER_LABEL = 'other';

/** The `list` label of a change recorded in the ledger of (environment, listId). */
export function listLabel(routing: Routing, environment: Environment, listId: number | null): string {
  if (listId === null) return NO_LABEL;
  return listOf(routing, environment, listId)?.name ?? OTHER_LABEL;
}

/** The `route` label of a change's route name. */
export function routeLabel(routing: Routing, route: string | undefined): string {
  if (route === undefined) return NO_LABEL;
  const known = route === EVERY_LIST_ROUTE.name || route === routing.defaultRoute?.name || routing.routes.some((candidate) => candidate.name === route);
  return known ? route : OTHER_LABEL;
}

/**
 * The profile attributes an event may bring in: the documented ones (kept as before routing
 * files) and every attribute a list maps to a Listrak field. The parser drops any other, a field
 * map entry no list uses included: personal data no list asked for is not stored.
 */
export function profileAttributes(routing: Routing): string[] {
  const names = new Set<string>(PROFILE_FIELDS);
  for (const list of routing.lists) for (const name of Object.keys(list.segmentationFields)) names.add(name);
  return [...names];
}

// ---------------------------------------------------------------------------------------------
// The file

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

const reference = z
  .string()
  .regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+)$/, "must be 'env:VARIABLE_NAME' or 'file:/absolute/path' (secrets stay out of this file)");

const dottedPath = z.string().regex(/^[A-Za-z_$][\w$-]*(\.[A-Za-z_$][\w$-]*)*$/, 'must be a dotted path such as data.person.email');

/** Values of a mapped field, compared as text (`true`, `1` and `'yes'` as written). */
const values = z.array(z.union([z.string(), z.number(), z.boolean()]).transform(String)).min(1, 'must list at least one value');

const attributeName = z.string().regex(ATTRIBUTE_NAME, ATTRIBUTE_NAME_RULE);

/** Attribute name -> Listrak profile field id. */
const profileFieldsSchema = z.record(attributeName, z.number().int('must be an integer field id').min(1, 'must be a Listrak field id (a positive integer)').max(2147483647));

const listSchema = z.strictObject({
  listId: z.number().int('must be an integer').min(1).max(2147483647),
  environment: z.enum(ENVIRONMENTS).default('production'),
  clientIdFrom: reference,
  clientSecretFrom: reference,
  profileFields: profileFieldsSchema.default({}),
  optInEventIds: z.array(z.number().int().positive()).default([]),
  doubleOptIn: z.boolean({ error: 'must be true or false' }).default(false),
});

const matchSchema = z
  .strictObject({
    programLabel: z.string().min(1).optional(),
    campaignId: z.union([z.string().min(1), z.number().int()]).transform(String).optional(),
    environment: z.enum(ENVIRONMENTS).optional(),
  })
  .refine((match) => Object.values(match).some((value) => value !== undefined), 'must name programLabel, campaignId or environment (use default: for the rest)');

const listNames = z.array(z.string().regex(NAME, 'must name a list under lists:')).min(1, 'must name at least one list');

const fieldMapSchema = z.strictObject({
  eventId: dottedPath.optional(),
  eventTime: dottedPath.optional(),
  email: dottedPath.optional(),
  type: z
    .union([dottedPath.transform((at) => ({ path: at })), z.strictObject({ path: dottedPath, optIn: values.optional(), optOut: values.optional() })])
    .optional(),
  environment: z
    .union([dottedPath.transform((at) => ({ path: at })), z.strictObject({ path: dottedPath, production: values.optional(), staging: values.optional() })])
    .optional(),
  programLabel: dottedPath.optional(),
  campaignId: dottedPath.optional(),
  causeEventId: dottedPath.optional(),
  causeEventSequence: dottedPath.optional(),
  /** Attribute name -> dotted path; `profile` is the older name of the same map. */
  attributes: z.record(attributeName, dottedPath).optional(),
  profile: z.record(attributeName, dottedPath).optional(),
});

const fileSchema = z
  .strictObject({
    lists: z.record(z.string().regex(NAME, 'list names are letters, digits, - and _'), listSchema),
    routes: z.array(z.strictObject({ name: z.string().regex(NAME, 'route names are letters, digits, - and _'), match: matchSchema, lists: listNames })).default([]),
    default: z.strictObject({ lists: listNames }).optional(),
    fields: fieldMapSchema.optional(),
  })
  .superRefine((file, ctx) => {
    const lists = Object.entries(file.lists);
    if (lists.length === 0) ctx.addIssue({ code: 'custom', path: ['lists'], message: 'must define at least one list' });
    const seen = new Map<string, string>();
    for (const [name, list] of lists) {
      const key = `${list.environment}/${list.listId}`;
      const other = seen.get(key);
      // One ledger per (environment, list, person): two names for one list would split it.
      if (other) ctx.addIssue({ code: 'custom', path: ['lists', name, 'listId'], message: `list ${list.listId} in ${list.environment} is already defined as '${other}'` });
      seen.set(key, name);
    }
    const routeNames = new Set<string>();
    file.routes.forEach((route, index) => {
      if (routeNames.has(route.name)) ctx.addIssue({ code: 'custom', path: ['routes', index, 'name'], message: `route '${route.name}' is defined twice` });
      routeNames.add(route.name);
      checkListNames(route.lists, ['routes', index, 'lists'], route.match.environment);
    });
    if (file.default) checkListNames(file.default.lists, ['default', 'lists'], undefined);

    if (file.fields?.attributes && file.fields.profile) {
      ctx.addIssue({ code: 'custom', path: ['fields', 'profile'], message: "give either fields.attributes or fields.profile (its older name), not both" });
    }
    const mapped = new Set(Object.keys(file.fields?.attributes ?? file.fields?.profile ?? {}));
    const where = file.fields?.attributes ? 'fields.attributes' : file.fields?.profile ? 'fields.profile' : 'fields.attributes';
    for (const [name, list] of lists) {
      const byFieldId = new Map<number, string>();
      for (const [attribute, fieldId] of Object.entries(list.profileFields)) {
        // Without a source the field would never get a value: a typo, or a map entry forgotten.
        if (!mapped.has(attribute) && !(PROFILE_FIELDS as readonly string[]).includes(attribute)) {
          ctx.addIssue({
            code: 'custom',
            path: ['lists', name, 'profileFields', attribute],
            message: `attribute '${attribute}' has no source: map it to its path in the event under ${where} (e.g. ${attribute}: data.person.${attribute}); without one only ${PROFILE_FIELDS.join(', ')} are read (from the event's profile)`,
          });
        }
        // Listrak refuses a write with two values for one field (ERROR_SEGMENTATION_FIELD_DEFINED_TWICE).
        const other = byFieldId.get(fieldId);
        if (other !== undefined) {
          ctx.addIssue({ code: 'custom', path: ['lists', name, 'profileFields', attribute], message: `field ${fieldId} is already mapped to '${other}': one attribute per Listrak field` });
        }
        byFieldId.set(fieldId, attribute);
      }
    }

    function checkListNames(names: string[], at: (string | number)[], environment: Environment | undefined): void {
      names.forEach((name, index) => {
        const list = file.lists[name];
        if (!list) ctx.addIssue({ code: 'custom', path: [...at, index], message: `no list '${name}' under lists: (defined: ${Object.keys(file.lists).join(', ')})` });
        else if (environment !== undefined && list.environment !== environment) {
          ctx.addIssue({ code: 'custom', path: [...at, index], message: `list '${name}' is a ${list.environment} list, the route matches ${environment} events only` });
        }
      });
    }
  });

/** Reads a credential by reference (`env:NAME` or `file:/path`); messages name the reference, never a value. */
function resolveReference(reference: string, env: NodeJS.ProcessEnv, where: string): string {
  const [kind, ...rest] = reference.split(':');
  const target = rest.join(':');
  if (kind === 'env') {
    const value = env[target]?.trim();
    if (!value) throw new ConfigError(`${where}: ${reference}: the variable ${target} is not set`);
    if (/[\s\p{Cc}]/u.test(value)) throw new ConfigError(`${where}: ${reference}: the value contains spaces or control characters (check how it was pasted)`);
    return value;
  }
  let value: string;
  try {
    value = readFileSync(target, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`${where}: cannot read ${target}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  if (!value || /[\s\p{Cc}]/u.test(value)) throw new ConfigError(`${where}: ${target} must hold one value on one line`);
  return value;
}

/** `file:line:column` of the node at a path, or of its deepest existing parent. */
function position(doc: Document, lines: LineCounter, at: readonly PropertyKey[]): string {
  for (let depth = at.length; depth >= 0; depth--) {
    const node = depth === 0 ? doc.contents : doc.getIn(at.slice(0, depth) as (string | number)[], true);
    const range = (node as { range?: [number, number, number] } | null | undefined)?.range;
    if (range) {
      const { line, col } = lines.linePos(range[0]);
      return `line ${line}, column ${col}`;
    }
  }
  return 'line 1';
}

function fieldName(at: readonly PropertyKey[]): string {
  return at.length === 0 ? '(top level)' : at.map(String).join('.');
}

/** Where an issue is: an unknown key at the key itself. */
function issuePath(issue: z.core.$ZodIssue): PropertyKey[] {
  return issue.code === 'unrecognized_keys' && issue.keys.length === 1 ? [...issue.path, issue.keys[0] ?? ''] : issue.path;
}

/** The message for one issue; an unknown key that looks like a secret says where secrets go. */
function issueMessage(issue: z.core.$ZodIssue, data: unknown): string {
  if (issue.code === 'unrecognized_keys') {
    const secretLike = issue.keys.find((key) => /secret|password|token|^clientId$/i.test(key));
    if (secretLike) return `'${secretLike}' is not allowed: credentials go by reference (clientIdFrom / clientSecretFrom: env:NAME or file:/path), never in the file`;
    return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((key) => `'${key}'`).join(', ')}`;
  }
  if (issue.code === 'invalid_type' && valueAtPath(data, issue.path) === undefined) return 'is required';
  if (issue.code === 'invalid_key') return `'${String(issue.path.at(-1))}' is not allowed: ${issue.issues[0]?.message ?? issue.message}`;
  return issue.message;
}

function valueAtPath(data: unknown, at: readonly PropertyKey[]): unknown {
  return at.reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined), data);
}

/**
 * Reads and validates a routing file (YAML, or JSON, which YAML reads too): every problem is
 * named by line and field. Credentials are read from the variables and files it references.
 */
export function loadRoutingFile(file: string, env: NodeJS.ProcessEnv): Routing {
  const absolute = path.resolve(file);
  let text: string;
  try {
    text = readFileSync(absolute, 'utf8');
  } catch (error) {
    throw new ConfigError(`ROUTING_FILE: cannot read ${absolute}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((error) => {
      const { line, col } = lines.linePos(error.pos[0]);
      return `  line ${line}, column ${col}: ${error.message.split('\n')[0]}`;
    });
    throw new ConfigError(`ROUTING_FILE ${absolute} is not valid YAML/JSON:\n${problems.join('\n')}`);
  }
  if (!isMap(doc.contents) && !isSeq(doc.contents) && doc.contents !== null) {
    throw new ConfigError(`ROUTING_FILE ${absolute}: line 1: expected a mapping with lists:, routes:, default: and fields:`);
  }
  const raw: unknown = doc.toJS() ?? {};
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const at = issuePath(issue);
      return `  ${position(doc, lines, at)}, ${fieldName(at)}: ${issueMessage(issue, raw)}`;
    });
    throw new ConfigError(`ROUTING_FILE ${absolute} is invalid:\n${problems.join('\n')}`);
  }
  const data = parsed.data;
  const lists = Object.entries(data.lists).map(([name, list]): RoutedList => {
    const where = (key: string) => `ROUTING_FILE ${absolute}, ${position(doc, lines, ['lists', name, key])}, lists.${name}.${key}`;
    return {
      name,
      environment: list.environment,
      listId: list.listId,
      clientId: resolveReference(list.clientIdFrom, env, where('clientIdFrom')),
      clientSecret: resolveReference(list.clientSecretFrom, env, where('clientSecretFrom')),
      segmentationFields: list.profileFields,
      optInEventIds: list.optInEventIds,
      doubleOptIn: list.doubleOptIn,
    };
  });
  return {
    file: absolute,
    lists,
    routes: data.routes.map((route): Route => ({ name: route.name, match: definedOnly(route.match), lists: route.lists })),
    defaultRoute: data.default ? { name: 'default', match: {}, lists: data.default.lists } : undefined,
    fields: data.fields && fieldMapOf(data.fields),
  };
}

/** The file's field map as the service reads it: `attributes` (or the older `profile`) as `profile`. */
function fieldMapOf(fields: z.infer<typeof fieldMapSchema>): FieldMap {
  const { attributes, profile, ...rest } = fields;
  const map: FieldMap = rest;
  const paths = attributes ?? profile;
  if (paths !== undefined) map.profile = paths;
  return map;
}

/** The match without its absent keys (a route's match prints as written). */
function definedOnly(match: RouteMatch): RouteMatch {
  const defined: RouteMatch = {};
  if (match.programLabel !== undefined) defined.programLabel = match.programLabel;
  if (match.campaignId !== undefined) defined.campaignId = match.campaignId;
  if (match.environment !== undefined) defined.environment = match.environment;
  return defined;
}
