import { randomBytes, randomUUID } from 'node:crypto';
import type { FaultRoute } from './chaos';
import type { ContractOperation, ListrakContract } from './contract';
import { seededClient, seededField, seededList, type SandboxClient, type SandboxList, type SandboxSeed } from './seed';

/**
 * Listrak's behaviour, without HTTP: the token endpoint, integration scopes, the contract's
 * checks of a request, the subscription rules of the contact write (../shared/listrak/README.md)
 * and the answers of the routes the sandbox serves, each as Listrak's envelope. The state it
 * keeps (contacts per list, tokens, list imports) lives here; the seed is read on every request.
 */

export interface SandboxContact {
  emailAddress: string;
  emailKey: string;
  subscriptionState: 'Subscribed' | 'Unsubscribed';
  subscribeDate?: string;
  resubscribeDate?: string;
  subscribeMethod?: string;
  unsubscribeDate?: string;
  unsubscribeMethod?: string;
  externalContactID?: string;
  segmentationFieldValues: { segmentationFieldId: number; value: string }[];
  /** Sandbox only: events raised for this contact. */
  raisedEvents: { eventId: number; at: string }[];
}

/**
 * An address pending a double opt-in on a list. The sandbox's model (Listrak publishes no more
 * than the Swagger's words, see docs/architecture.md "Double opt-in"): a pending address is not a
 * contact of the list (its read answers 404, the collection leaves it out) until the person
 * confirms; a subscribe answers ERROR_PENDING_EMAIL_ADDRESS; an unsubscribe withdraws it (the
 * contact is recorded unsubscribed, so a later confirmation subscribes nobody).
 */
export interface PendingContact {
  emailAddress: string;
  /** When the double opt-in write asked for confirmation (absent for the seed's pendingEmails). */
  since?: string;
  /** The profile values of that write, the contact's once confirmed. */
  segmentationFieldValues: { segmentationFieldId: number; value: string }[];
}

/** A route the sandbox knows, or `unknown` (a Listrak route it does not serve, or none). */
export type SandboxRoute = FaultRoute | 'unknown';

/** One answer: the HTTP status and the JSON body. */
export interface Answer {
  status: number;
  body: unknown;
}

/** What a request to a served route says, once routed. */
export interface ApiRequest {
  route: SandboxRoute;
  operation: ContractOperation;
  pathParams: Record<string, string>;
  /** Query parameters as strings (a repeated one as its JSON array). */
  query: Record<string, string>;
  /** Query parameters as Express parsed them, for the contract's check. */
  rawQuery: Record<string, unknown>;
  listId?: number;
  email?: string;
  /** The parsed JSON body (undefined when empty or not JSON). */
  body: unknown;
  /** Size of the raw body, and whether it was sent as application/json. */
  rawBytes: number;
  isJson: boolean;
}

/** A refusal in Listrak's error envelope (`{ status, error, message }`). */
export class ListrakAnswer extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The answer Listrak gives for an error: its envelope, or 500 for anything unexpected. */
export function errorAnswer(error: unknown): Answer {
  if (error instanceof ListrakAnswer) return { status: error.status, body: { status: error.status, error: error.code, message: error.message } };
  return { status: 500, body: { status: 500, error: 'ERROR_UNHANDLED_EXCEPTION', message: (error as Error).message } };
}

export const unknownRoute = () => new ListrakAnswer(404, 'ERROR_UNKNOWN_ROUTE', 'Invalid route was supplied.');
export const unsupportedMethod = () => new ListrakAnswer(405, 'ERROR_UNSUPPORTED_METHOD', 'Valid route supplied with an invalid HTTP method.');

/** Scope an integration needs for each route. */
const SCOPE: Partial<Record<FaultRoute, string>> = {
  upsert: 'Contact',
  getContact: 'Contact',
  getContacts: 'Contact',
  bulkProfile: 'Contact',
  getList: 'List',
  getFieldGroups: 'Segmentation',
  getFields: 'Segmentation',
  getEvents: 'Event',
};

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Whether a value as text fits a field's dataType: a Numeric field holds a number, a Date field a date; the rest hold text. */
export function fitsDataType(dataType: string, value: string): boolean {
  if (dataType === 'Numeric') return /^-?\d+(\.\d+)?$/.test(value.trim());
  if (dataType === 'Date') return !Number.isNaN(Date.parse(value));
  return true;
}

type FieldValue = { segmentationFieldId: number; value: string };
interface UpsertBody {
  emailAddress: string;
  subscriptionState?: string;
  externalContactID?: string;
  segmentationFieldValues: FieldValue[];
}
/** Settings tests change while the sandbox runs (ListrakSandbox holds them). */
export interface RuleKnobs {
  readonly tokenLifetimeSeconds: number;
  /** Bodies larger than this answer 404, as Listrak does for its undisclosed size limit. */
  readonly payloadLimitBytes: number;
}

/** When and how a change made in Listrak itself (not through the API) happened. */
export interface ListrakSideChange {
  at?: Date;
  method?: string;
}

type BulkProfileBody = { emailAddress: string; segmentationFieldValues: FieldValue[] }[];

export class ListrakRules {
  readonly contacts = new Map<number, Map<string, SandboxContact>>();
  /** Every access token handed out so far (for tests that prove tokens stay out of history). */
  readonly issuedTokens: string[] = [];
  readonly imports: { importId: string; listId: number; at: string; count: number }[] = [];
  /** Addresses pending a double opt-in, per list (the seed's pendingEmails are pending on every list too). */
  readonly pending = new Map<number, Map<string, PendingContact>>();
  /** Seeded pending addresses a confirmation or an unsubscribe settled, per list. */
  private readonly settledSeedPending = new Map<number, Set<string>>();
  private readonly tokens = new Map<string, { clientId: string; expiresAtMs: number }>();

  constructor(
    readonly seed: SandboxSeed,
    private readonly contract: ListrakContract,
    private readonly knobs: RuleKnobs,
  ) {
    for (const list of seed.lists) this.contacts.set(list.listId, new Map());
  }

  /** Access tokens that are still valid (until they expire or are revoked). */
  get tokenCount(): number {
    return this.tokens.size;
  }

  /** Invalidates every access token handed out so far. */
  revokeTokens(): void {
    this.tokens.clear();
  }

  contact(listId: number, email: string): SandboxContact | undefined {
    return this.contacts.get(listId)?.get(email.toLowerCase());
  }

  /**
   * An unsubscribe made in Listrak itself (an email footer: method `Contact`; a complaint, a person
   * in the Listrak UI…), dated `at`. A contact the list does not hold yet is created unsubscribed.
   */
  unsubscribeInListrak(listId: number, email: string, { at = new Date(), method = 'Contact' }: ListrakSideChange = {}): SandboxContact {
    const { contacts, key, contact } = this.listContact(listId, email, 'Unsubscribed');
    Object.assign(contact, { subscriptionState: 'Unsubscribed', unsubscribeDate: at.toISOString(), unsubscribeMethod: method });
    contacts.set(key, contact);
    return contact;
  }

  /** A list import in Listrak that (re-)subscribes the contact, dated `at` (method `Import` unless told). */
  subscribeInListrak(listId: number, email: string, { at = new Date(), method = 'Import' }: ListrakSideChange = {}): SandboxContact {
    const { contacts, key, contact } = this.listContact(listId, email, 'Subscribed');
    const wasKnown = contacts.has(key);
    Object.assign(contact, { subscriptionState: 'Subscribed', subscribeMethod: method });
    if (wasKnown && contact.subscribeDate !== undefined) contact.resubscribeDate = at.toISOString();
    else contact.subscribeDate = at.toISOString();
    contacts.set(key, contact);
    return contact;
  }

  /** The address's pending double opt-in on the list, if any. */
  pendingOn(listId: number, email: string): PendingContact | undefined {
    const key = email.toLowerCase();
    const own = this.pending.get(listId)?.get(key);
    if (own) return own;
    const seeded = this.seed.pendingEmails?.includes(key) && !this.settledSeedPending.get(listId)?.has(key);
    return seeded ? { emailAddress: key, segmentationFieldValues: [] } : undefined;
  }

  /** Ends the address's pending double opt-in on the list (confirmed or withdrawn). */
  private settlePending(listId: number, email: string): void {
    const key = email.toLowerCase();
    this.pending.get(listId)?.delete(key);
    if (this.seed.pendingEmails?.includes(key)) {
      let settled = this.settledSeedPending.get(listId);
      if (!settled) this.settledSeedPending.set(listId, (settled = new Set()));
      settled.add(key);
    }
  }

  /**
   * The person clicks the link of Listrak's double opt-in email (sandbox only, `at` default now):
   * the pending address becomes a subscribed contact (method `DoubleOptIn`) with the write's
   * profile values. Throws when nothing is pending: never confirmed, already confirmed, or
   * withdrawn by an unsubscribe (the contact stays as it is).
   */
  confirmDoubleOptIn(listId: number, email: string, { at = new Date() }: Pick<ListrakSideChange, 'at'> = {}): SandboxContact {
    const pending = this.pendingOn(listId, email);
    const { contacts, key, contact } = this.listContact(listId, email, 'Subscribed');
    if (!pending) {
      const now = contacts.get(key);
      throw new Error(`no double opt-in is pending for this address on list ${listId} (${now ? `the contact is ${now.subscriptionState}` : 'no contact'})`);
    }
    this.settlePending(listId, email);
    Object.assign(contact, { subscriptionState: 'Subscribed', subscribeDate: at.toISOString(), subscribeMethod: 'DoubleOptIn' });
    applyValues(contact, pending.segmentationFieldValues, 'update');
    contacts.set(key, contact);
    return contact;
  }

  private listContact(listId: number, email: string, state: SandboxContact['subscriptionState']) {
    const contacts = this.contacts.get(listId);
    if (!contacts) throw new Error(`sandbox has no list ${listId}`);
    const key = email.toLowerCase();
    return { contacts, key, contact: contacts.get(key) ?? newContact(key, state) };
  }

  /** POST /OAuth2/Token with a form body: client credentials in, a Bearer token out. */
  issueToken(form: URLSearchParams): Answer {
    if (form.get('grant_type') !== 'client_credentials') {
      throw new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', 'grant_type must be client_credentials.');
    }
    const client = seededClient(this.seed, form.get('client_id') ?? '');
    if (!client || client.clientSecret !== form.get('client_secret') || client.paused) {
      throw new ListrakAnswer(400, 'ERROR_INVALID_CREDENTIALS', 'Invalid client credentials, inactive integration, unauthorized IP address.');
    }
    const accessToken = randomBytes(24).toString('base64url');
    this.issuedTokens.push(accessToken);
    this.tokens.set(accessToken, { clientId: client.clientId, expiresAtMs: Date.now() + this.knobs.tokenLifetimeSeconds * 1000 });
    return { status: 200, body: { access_token: accessToken, token_type: 'Bearer', expires_in: this.knobs.tokenLifetimeSeconds } };
  }

  /** Listrak answers an oversized payload with 404, not 413. */
  checkPayloadSize(bytes: number): void {
    if (bytes > this.knobs.payloadLimitBytes) {
      throw new ListrakAnswer(404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Valid route was supplied with invalid resource IDs.');
    }
  }

  /** The integration a Bearer token (from the Authorization header) belongs to; 401 when there is none. */
  clientOf(authorization: string | undefined): SandboxClient {
    const match = /^Bearer (.+)$/.exec(authorization ?? '');
    const token = match?.[1] ? this.tokens.get(match[1]) : undefined;
    const client = token ? seededClient(this.seed, token.clientId) : undefined;
    if (!token || token.expiresAtMs <= Date.now() || !client || client.paused) {
      throw new ListrakAnswer(401, 'ERROR_UNAUTHORIZED', 'Invalid access token, inactive integration, insufficient access level, unauthorized IP address.');
    }
    return client;
  }

  /** Checks the Bearer token (from the Authorization header), the integration's type and scopes, and Beta access. */
  authenticate(authorization: string | undefined, route: SandboxRoute): void {
    const client = this.clientOf(authorization);
    if (client.integrationType === 'Privacy') {
      throw new ListrakAnswer(401, 'ERROR_UNAUTHORIZED', 'Invalid access token, inactive integration, insufficient access level, unauthorized IP address.');
    }
    const scope = route === 'unknown' ? undefined : SCOPE[route];
    if (scope && client.scopes && !client.scopes.includes(scope)) {
      throw new ListrakAnswer(403, 'ERROR_UNAUTHORIZED', `The integration has no ${scope} access (Manage > Integrations).`);
    }
    if (route === 'bulkProfile' && !client.betaRoutes) {
      throw new ListrakAnswer(403, 'ERROR_INTEGRATION_CANNOT_ACCESS_BETA_ROUTE', 'This route is in Beta and not yet generally available for all integrations.');
    }
  }

  /** Answers an authenticated request: contract checks, the list, then the route's own rules. */
  answer(request: ApiRequest): Answer {
    const { operation, route, body } = request;
    if (route === 'unknown') {
      throw new ListrakAnswer(404, 'ERROR_UNKNOWN_ROUTE', `${operation.operationId} is part of Listrak's API but not served by the sandbox.`);
    }
    if (operation.validateBody && request.rawBytes > 0) {
      if (!request.isJson) {
        throw new ListrakAnswer(415, 'ERROR_UNSUPPORTED_CONTENT_TYPE', 'Invalid Content-Type header was supplied (must be application/json).');
      }
      if (body === undefined) throw new ListrakAnswer(400, 'ERROR_MALFORMED_REQUEST_BODY', 'Invalid JSON body was supplied.');
    }
    const problems = this.contract.validate(operation, request.pathParams, request.rawQuery, body);
    if (problems.length > 0) throw new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', problems.map((problem) => problem.message).join(' '));
    const list = this.requireList(request.listId);
    switch (route) {
      case 'getList':
        return { status: 200, body: { status: 200, data: { listId: list.listId, listName: list.listName, bounceHandling: 'Standard', bounceUnsubscribeCount: 3, enableDoubleOptIn: list.enableDoubleOptIn ?? false } } };
      case 'getFieldGroups':
        return {
          status: 200,
          body: {
            status: 200,
            data: (list.segmentationFieldGroups ?? []).map((group, position) => ({
              segmentationFieldGroupId: group.segmentationFieldGroupId,
              segmentationFieldGroupName: group.segmentationFieldGroupName,
              position,
            })),
          },
        };
      case 'getFields': {
        const group = (list.segmentationFieldGroups ?? []).find((candidate) => candidate.segmentationFieldGroupId === Number(request.pathParams.segmentationFieldGroupId));
        if (!group) throw new ListrakAnswer(404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Unable to locate the profile field group.');
        return {
          status: 200,
          body: {
            status: 200,
            data: group.fields.map((field, position) => ({
              segmentationFieldId: field.segmentationFieldId,
              segmentationFieldName: field.segmentationFieldName,
              segmentationFieldGroupId: group.segmentationFieldGroupId,
              dataType: field.dataType ?? 'Text',
              maxLength: field.maxLength,
              position,
              // Sandbox extension (not in the contract): lets a credential check see a disabled field.
              // Undefined for an enabled field, which the JSON answer leaves out.
              disabled: field.disabled ? true : undefined,
            })),
          },
        };
      }
      case 'getEvents':
        return { status: 200, body: { status: 200, data: (list.events ?? []).map((event) => ({ eventGroupId: 0, status: 'Active', ...event })) } };
      case 'getContact': {
        const contact = this.contact(list.listId, request.email ?? '');
        if (!contact) throw new ListrakAnswer(404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Unable to locate a contact associated with the identifier supplied.');
        const { raisedEvents: _events, ...data } = contact;
        return { status: 200, body: { status: 200, data } };
      }
      case 'getContacts':
        return { status: 200, body: contactPage(this.contacts.get(list.listId)!, collectionQuery(request.query)) };
      case 'upsert':
        return created(this.upsert(list, request.query, body as UpsertBody));
      case 'bulkProfile':
        return created(this.bulkProfile(list, body as BulkProfileBody));
      default:
        throw unknownRoute();
    }
  }

  private requireList(listId: number | undefined): SandboxList {
    const list = listId === undefined ? undefined : seededList(this.seed, listId);
    if (!list) throw new ListrakAnswer(404, 'ERROR_UNABLE_TO_LOCATE_RESOURCE', 'Unable to locate a resource associated with the listId supplied.');
    if (list.active === false) throw new ListrakAnswer(400, 'ERROR_LIST_INACTIVE', 'The list is inactive.');
    return list;
  }

  /** Checks profile values against the list's fields; throws Listrak's code for the first bad one. */
  private checkValues(list: SandboxList, values: FieldValue[]): void {
    const seen = new Set<number>();
    for (const { segmentationFieldId, value } of values) {
      const field = seededField(this.seed, list.listId, segmentationFieldId);
      if (!field) throw new ListrakAnswer(400, 'ERROR_INVALID_SEGMENTATION_FIELD_ID', `Profile field ${segmentationFieldId} does not exist on the list.`);
      if (field.disabled) throw new ListrakAnswer(400, 'ERROR_SEGMENTATION_FIELD_DISABLED', `Profile field ${segmentationFieldId} is disabled.`);
      if (value.length > field.maxLength) {
        throw new ListrakAnswer(400, 'ERROR_SEGMENTATION_MAX_LENGTH', `Value for profile field ${segmentationFieldId} exceeds ${field.maxLength} characters.`);
      }
      if (!fitsDataType(field.dataType ?? 'Text', value)) {
        // Listrak publishes no code for a value its field's type cannot hold: the sandbox answers
        // with its generic invalid-value code (an assumption; check-listrak flags such fields).
        throw new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', `An invalid value was supplied for profile field ${segmentationFieldId} (${field.dataType}).`);
      }
      if (seen.has(segmentationFieldId)) {
        throw new ListrakAnswer(400, 'ERROR_SEGMENTATION_FIELD_DEFINED_TWICE', 'Two or more values were supplied for the same segmentationFieldId.');
      }
      seen.add(segmentationFieldId);
    }
  }

  /** The contact write; returns the resource id of the 201. */
  private upsert(list: SandboxList, query: Record<string, string>, body: UpsertBody): string {
    const flag = (name: string) => Object.entries(query).some(([key, value]) => key.toLowerCase() === name.toLowerCase() && /^true$/i.test(value));
    const rawEventIds = Object.entries(query).find(([key]) => key.toLowerCase() === 'eventids')?.[1] ?? '';
    const eventIds = rawEventIds.split(',').map((part) => part.trim()).filter(Boolean);
    if (eventIds.some((id) => !/^\d+$/.test(id) || !(list.events ?? []).some((event) => event.eventId === Number(id) && event.status !== 'Blocked'))) {
      throw new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', 'An invalid value was supplied for eventIds.');
    }
    const wanted = body.subscriptionState ?? 'Subscribed';
    if (wanted !== 'Subscribed' && wanted !== 'Unsubscribed') {
      throw new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', 'An invalid value was supplied for subscriptionState.');
    }
    const email = body.emailAddress.trim().toLowerCase();
    if (!EMAIL.test(email)) throw new ListrakAnswer(400, 'ERROR_INVALID_EMAIL_ADDRESS', 'The email address is invalid.');
    const contacts = this.contacts.get(list.listId)!;
    const contact = contacts.get(email);
    const values = body.segmentationFieldValues;

    if (wanted === 'Unsubscribed') {
      if (values.length > 0) throw new ListrakAnswer(400, 'ERROR_UNSUBSCRIBE_WITH_SEGMENTATION_DATA', 'Unsubscribing a contact with profile data.');
      if (eventIds.length > 0) throw new ListrakAnswer(400, 'ERROR_UNSUBSCRIBE_WITH_EVENTS', 'Unsubscribing a contact with a list of events.');
      if (!contact && this.pendingOn(list.listId, email)) {
        // The sandbox's model: an unsubscribe withdraws a pending double opt-in and records the
        // address unsubscribed, so that a confirmation afterwards subscribes nobody.
        this.settlePending(list.listId, email);
        const withdrawn = newContact(email, 'Unsubscribed');
        contacts.set(email, withdrawn);
        return withdrawn.emailKey;
      }
      if (!contact) throw new ListrakAnswer(400, 'ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS', 'Unsubscribing a contact that is not a subscriber for the list.');
      if (contact.subscriptionState === 'Unsubscribed') {
        throw new ListrakAnswer(400, 'ERROR_UNSUBSCRIBED_EMAIL_ADDRESS', 'Unsubscribing a contact that has already been unsubscribed from the list.');
      }
      Object.assign(contact, { subscriptionState: 'Unsubscribed', unsubscribeDate: new Date().toISOString(), unsubscribeMethod: 'API' });
      return contact.emailKey;
    }

    if (this.seed.bannedEmails?.includes(email)) throw new ListrakAnswer(400, 'ERROR_BANNED_EMAIL_ADDRESS', 'Subscribing a contact that has been banned.');
    if (this.seed.suppressedEmails?.includes(email)) throw new ListrakAnswer(400, 'ERROR_SUPPRESSED_EMAIL', 'Subscribing an emailAddress that has already been suppressed.');
    if (!contact && this.pendingOn(list.listId, email)) throw new ListrakAnswer(400, 'ERROR_PENDING_EMAIL_ADDRESS', 'Already pending subscription through double opt-in.');
    this.checkValues(list, values);
    const override = flag('overrideUnsubscribe');
    if (contact?.subscriptionState === 'Unsubscribed' && !override && eventIds.length > 0) {
      throw new ListrakAnswer(400, 'ERROR_UPDATE_UNSUBSCRIBE_WITH_EVENTS', 'Updating a contact that is unsubscribed with a list of events.');
    }
    const now = new Date().toISOString();
    let target = contact;
    if (!target) {
      if (flag('sendDoubleOptIn')) {
        // A double opt-in confirmation goes out; the address stays pending (no contact, no
        // events raised) until the person confirms (POST /_sandbox/confirm).
        let pending = this.pending.get(list.listId);
        if (!pending) this.pending.set(list.listId, (pending = new Map<string, PendingContact>()));
        pending.set(email, { emailAddress: email, since: now, segmentationFieldValues: values.map((value) => ({ ...value })) });
        return randomUUID();
      }
      target = newContact(email, 'Subscribed');
      Object.assign(target, { subscribeDate: now, subscribeMethod: flag('subscribedByContact') ? 'Contact' : 'API' });
      contacts.set(email, target);
    } else if (target.subscriptionState === 'Unsubscribed' && override) {
      Object.assign(target, { subscriptionState: 'Subscribed', resubscribeDate: now, subscribeMethod: 'API' });
    }
    // Without overrideUnsubscribe an unsubscribed contact stays unsubscribed; its profile updates.
    applyValues(target, values, (query.updateType ?? 'Update').toLowerCase());
    if (body.externalContactID !== undefined) target.externalContactID = body.externalContactID;
    if (target.subscriptionState === 'Subscribed') {
      for (const id of eventIds) target.raisedEvents.push({ eventId: Number(id), at: now });
    }
    return target.emailKey;
  }

  /** Beta bulk profile update: accepted at once, applied by a list import a moment later; returns the import id. */
  private bulkProfile(list: SandboxList, items: BulkProfileBody): string {
    for (const item of items) this.checkValues(list, item.segmentationFieldValues);
    const importId = randomUUID();
    this.imports.push({ importId, listId: list.listId, at: new Date().toISOString(), count: items.length });
    setTimeout(() => {
      for (const item of items) {
        const contact = this.contact(list.listId, item.emailAddress);
        if (contact) applyValues(contact, item.segmentationFieldValues, 'update');
      }
    }, 50).unref();
    return importId;
  }
}

function created(resourceId: string): Answer {
  return { status: 201, body: { status: 201, resourceId } };
}

function newContact(email: string, state: 'Subscribed' | 'Unsubscribed'): SandboxContact {
  const contact: SandboxContact = {
    emailAddress: email,
    emailKey: randomBytes(8).toString('hex'),
    subscriptionState: state,
    segmentationFieldValues: [],
    raisedEvents: [],
  };
  if (state === 'Unsubscribed') Object.assign(contact, { unsubscribeDate: new Date().toISOString(), unsubscribeMethod: 'API' });
  return contact;
}

function applyValues(contact: SandboxContact, values: FieldValue[], updateType: string): void {
  if (updateType === 'overwrite') contact.segmentationFieldValues = [];
  for (const value of values) {
    const existing = contact.segmentationFieldValues.find((entry) => entry.segmentationFieldId === value.segmentationFieldId);
    if (existing) existing.value = updateType === 'append' ? `${existing.value}${value.value}` : value.value;
    else contact.segmentationFieldValues.push({ ...value });
  }
}

/** The most contacts one collection page may carry, and how many it carries when not told (Swagger). */
export const CONTACT_PAGE_MAX = 5000;
export const CONTACT_PAGE_DEFAULT = 1000;
const MAX_SEGMENTATION_FIELD_IDS = 30;

/** Contact_GetContactCollection's query, checked beyond the contract's types. */
export interface CollectionQuery {
  subscriptionState: SandboxContact['subscriptionState'];
  startMs?: number;
  endMs?: number;
  /** Whether endDate is inclusive: exclusive only for Subscribed with useOriginalSubscribeDate=false. */
  endInclusive: boolean;
  useOriginalSubscribeDate: boolean;
  externalContactId?: string;
  segmentationFieldIds?: number[];
  /** The sort key of the last contact of the previous page; undefined on the first page. */
  after?: PageKey;
  count: number;
}

/** Contacts are paged in (filter date, email) order; a cursor carries the last key of its page. */
type PageKey = [number, string];

const invalid = (parameter: string) => new ListrakAnswer(400, 'ERROR_INVALID_PARAMETER', `An invalid value was supplied for ${parameter}.`);

/** Reads the collection's query parameters (names case-insensitive, as Listrak reads them). */
export function collectionQuery(query: Record<string, string>): CollectionQuery {
  const value = (name: string) => Object.entries(query).find(([key]) => key.toLowerCase() === name.toLowerCase())?.[1];
  const state = value('subscriptionState') ?? 'Subscribed';
  if (state !== 'Subscribed' && state !== 'Unsubscribed') throw invalid('subscriptionState');
  const date = (name: string) => {
    const raw = value(name);
    if (raw === undefined || raw === '') return undefined;
    const ms = parseSandboxDate(raw);
    if (ms === undefined) throw invalid(name);
    return ms;
  };
  const rawCount = value('count') ?? String(CONTACT_PAGE_DEFAULT);
  const count = Number(rawCount);
  if (!/^\d+$/.test(rawCount) || count < 1 || count > CONTACT_PAGE_MAX) throw invalid('count');
  const rawFields = value('segmentationFieldIds');
  const segmentationFieldIds = rawFields === undefined ? undefined : rawFields.split(',').map((part) => part.trim()).filter(Boolean);
  if (segmentationFieldIds && (segmentationFieldIds.length > MAX_SEGMENTATION_FIELD_IDS || segmentationFieldIds.some((id) => !/^\d+$/.test(id)))) {
    throw invalid('segmentationFieldIds');
  }
  const useOriginalSubscribeDate = !/^false$/i.test(value('useOriginalSubscribeDate') ?? 'true');
  return {
    subscriptionState: state,
    startMs: date('startDate'),
    endMs: date('endDate'),
    endInclusive: state === 'Unsubscribed' || useOriginalSubscribeDate,
    useOriginalSubscribeDate,
    externalContactId: value('externalContactId'),
    segmentationFieldIds: segmentationFieldIds?.map(Number),
    after: readCursor(value('cursor') ?? 'Start'),
    count,
  };
}

/** One page of a list's contacts, in Listrak's paged envelope; `nextPageCursor` is left out on the last page. */
export function contactPage(contacts: Map<string, SandboxContact>, query: CollectionQuery) {
  const keyed: { key: PageKey; contact: SandboxContact }[] = [];
  for (const contact of contacts.values()) {
    if (contact.subscriptionState !== query.subscriptionState) continue;
    if (query.externalContactId !== undefined && contact.externalContactID !== query.externalContactId) continue;
    const dateMs = parseSandboxDate(filterDate(contact, query) ?? '') ?? 0;
    if (query.startMs !== undefined && dateMs < query.startMs) continue;
    if (query.endMs !== undefined && (query.endInclusive ? dateMs > query.endMs : dateMs >= query.endMs)) continue;
    const key: PageKey = [dateMs, contact.emailAddress];
    if (query.after && comparePageKeys(key, query.after) <= 0) continue;
    keyed.push({ key, contact });
  }
  keyed.sort((a, b) => comparePageKeys(a.key, b.key));
  const page = keyed.slice(0, query.count);
  const last = page.at(-1);
  const fields = query.segmentationFieldIds;
  return {
    status: 200,
    nextPageCursor: keyed.length > page.length && last ? writeCursor(last.key) : undefined,
    data: page.map(({ contact }) => {
      const { raisedEvents: _events, ...data } = contact;
      return { ...data, segmentationFieldValues: fields ? data.segmentationFieldValues.filter((value) => fields.includes(value.segmentationFieldId)) : data.segmentationFieldValues };
    }),
  };
}

/** The date startDate and endDate filter on (see the Swagger's parameter descriptions). */
function filterDate(contact: SandboxContact, query: CollectionQuery): string | undefined {
  if (query.subscriptionState === 'Unsubscribed') return contact.unsubscribeDate;
  return query.useOriginalSubscribeDate ? contact.subscribeDate : (contact.resubscribeDate ?? contact.subscribeDate);
}

function comparePageKeys(a: PageKey, b: PageKey): number {
  return a[0] - b[0] || (a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0);
}

function writeCursor(key: PageKey): string {
  return Buffer.from(JSON.stringify(key)).toString('base64url');
}

function readCursor(cursor: string): PageKey | undefined {
  if (cursor.toLowerCase() === 'start') return undefined;
  try {
    const key = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(key) && key.length === 2 && typeof key[0] === 'number' && typeof key[1] === 'string') return [key[0], key[1]];
  } catch {
    // fall through: Listrak answers an unreadable cursor as an invalid parameter
  }
  throw invalid('cursor');
}

/** Dates as Listrak accepts them in a query: ISO 8601, read as UTC without an offset. */
function parseSandboxDate(value: string): number | undefined {
  if (value === '') return undefined;
  const withZone = /([zZ]|[+-]\d\d:?\d\d)$/.test(value) || !/T/.test(value) ? value : `${value}Z`;
  const ms = Date.parse(withZone);
  return Number.isNaN(ms) ? undefined : ms;
}
