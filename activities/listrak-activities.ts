import { Context, log } from '@temporalio/activity';
import type { Config, ListrakTarget } from '../src/config/config';
import { listOf, type RoutedList } from '../src/config/routing';
import { ListrakError } from '../src/listrak/errors';
import { afterFailure } from '../src/listrak/retry-policy';
import type { ListrakClient, ListrakContact, UpsertOptions } from '../src/listrak/client';
import { activityFailure, outcomeOfListrakError } from './listrak-failures';
import type { ApplyChangeInput, ApplyResult, OwnUnsubscribe, Profile } from '../src/shared';
import { OWN_WRITE_CLOCK_TOLERANCE_MS, ownUnsubscribeAt, parseListrakDate } from '../src/shared';

export { OWN_WRITE_CLOCK_TOLERANCE_MS, parseListrakDate } from '../src/shared';

/** What a ledger says, just before a subscribe, about the change it wants and the one it runs. */
export interface LedgerWants {
  desiredEventId?: string | undefined;
  runningEventId?: string | undefined;
  runningRunId?: string | undefined;
}

export interface ListrakActivityDeps {
  client: ListrakClient;
  config: Readonly<Config>;
  /**
   * Asks a ledger which change it wants applied (its `desired` event id) and which change workflow
   * run it is applying. Used right before a subscribe: a cancellation reaches an activity only with
   * its next heartbeat, and a terminated run's attempt is never told, so the activity asks.
   */
  ledgerWants?: (ledgerWorkflowId: string) => Promise<LedgerWants | undefined>;
}

/** Builds the activities that talk to Listrak; tests pass a client pointed at the sandbox. */
export function createListrakActivities({ client, config, ledgerWants }: ListrakActivityDeps) {
  return {
    /**
     * Writes one consent change to Listrak. Opt-out always wins: an opt-in never moves a contact
     * back to subscribed when Listrak holds an unsubscribe newer than the opt-in's event time.
     */
    async applyConsentChange(input: ApplyChangeInput): Promise<ApplyResult> {
      const result = await apply(input);
      return { ...result, attempt: Context.current().info.attempt };
    },
  };

  async function apply(input: ApplyChangeInput): Promise<ApplyResult> {
    const { change } = input;
    // The change's own list: its credentials, profile fields and opt-in events.
    const list = listOf(config.listrak.routing, change.environment, input.listId);
    if (!list) {
      throw activityFailure('ListrakNotConfigured', `no Listrak credentials for list ${input.listId} in ${change.environment}: set them and retry the change`);
    }
    const attempt = startAttempt(list, change.email);
    try {
      return change.type === 'opt_out' ? await optOut(attempt) : await optIn(input, attempt, list);
    } catch (error) {
      if (!(error instanceof ListrakError)) throw error;
      return outcomeOfListrakError(error, change.eventId, change.type);
    }
  }

  function startAttempt(target: ListrakTarget, email: string): Attempt {
    const context = Context.current();
    const attempt: Attempt = {
      context,
      target,
      signal: context.cancellationSignal,
      progressDetails: context.info.heartbeatDetails as OptInProgress | undefined,
      // Heartbeat before every Listrak request: a crashed worker's attempt is retried within the
      // heartbeat timeout, and a cancellation (a newer change arrived) reaches us between requests.
      progress: () => context.heartbeat(attempt.progressDetails),
      upsert: (subscriptionState, segmentationFieldValues, options = {}) =>
        client.upsertContact(target, { emailAddress: email, subscriptionState, segmentationFieldValues }, { ...options, progress: attempt.progress }),
    };
    return attempt;
  }

  async function optOut(attempt: Attempt): Promise<ApplyResult> {
    if (attempt.signal.aborted) throw attempt.signal.reason;
    const writeStartedAtMs = Date.now();
    // Listrak rejects an unsubscribe that carries profile data or events.
    const alreadyDoneCode = await upsertTolerant(() => attempt.upsert('Unsubscribed', []));
    return applied(writeStartedAtMs, { alreadyDoneCode });
  }

  async function optIn(input: ApplyChangeInput, attempt: Attempt, list: RoutedList): Promise<ApplyResult> {
    const { change } = input;
    const { signal, progress } = attempt;
    const contact = await client.getContact(attempt.target, change.email, { signal, progress });
    const blockingUnsubscribe = unsubscribeNewerThan(contact, change.eventTimeMs, input.ownUnsubscribes, { sequenced: change.causeEventSequence !== undefined });
    if (blockingUnsubscribe !== undefined) {
      log.info('opt-in is older than the unsubscribe Listrak holds; not applied', { eventId: change.eventId });
      return { outcome: 'superseded_in_listrak', unsubscribeDate: blockingUnsubscribe };
    }
    const overrideUnsubscribe = contact?.subscriptionState === 'Unsubscribed';
    // A retry after a lost answer: if the earlier attempt's subscribe landed, do not raise the
    // opt-in events (the email series) a second time. Listrak has no idempotency key.
    const earlier = attempt.progressDetails;
    const eventsAlreadyRaised = earlier?.subscribeWriteStartedAtMs !== undefined && subscribedSince(contact, earlier.subscribeWriteStartedAtMs);
    // Last point at which a cancellation (a newer change arrived) stops us. The write itself
    // is not aborted mid-flight: Listrak could still apply it while the next write starts.
    progress();
    if (signal.aborted) throw signal.reason;
    const newer = await newerChangeInLedger(input, attempt);
    if (newer !== undefined) return newer;
    const writeStartedAtMs = Date.now();
    attempt.progressDetails = { subscribeWriteStartedAtMs: earlier?.subscribeWriteStartedAtMs ?? writeStartedAtMs };
    const values = segmentationValues(change.profile, list.segmentationFields);
    // A double opt-in list asks a person it does not hold yet to confirm (a pending address reads
    // as no contact: docs/architecture.md, "Double opt-in"); one it holds is updated as on any list.
    if (list.doubleOptIn && contact === undefined) return writeDoubleOptIn(attempt, values, writeStartedAtMs);
    const eventIds = eventsAlreadyRaised || change.suppressEvents ? [] : list.optInEventIds;
    const { alreadyDoneCode, droppedFields } = await subscribeDroppingRefusedValues(attempt, values, { eventIds, overrideUnsubscribe });
    if (droppedFields) log.warn('profile values refused by Listrak were dropped', { eventId: change.eventId, droppedFields });
    return applied(writeStartedAtMs, {
      alreadyDoneCode,
      overrodeUnsubscribe: overrideUnsubscribe || undefined,
      droppedFields: droppedFields?.length ? droppedFields : undefined,
      eventsAlreadyRaised: eventsAlreadyRaised || undefined,
    });
  }

  /**
   * Asks the ledger, right before a subscribe, whether it still wants this change: the opt-in's
   * result when a newer change arrived, undefined when the subscribe may go out.
   */
  async function newerChangeInLedger(input: ApplyChangeInput, attempt: Attempt): Promise<ApplyResult | undefined> {
    if (!ledgerWants || !input.ledgerWorkflowId) return undefined;
    const { change } = input;
    let ledger: LedgerWants | undefined;
    try {
      ledger = await ledgerWants(input.ledgerWorkflowId);
    } catch (error) {
      // Without the ledger's answer no subscribe goes out; the attempt is retried.
      throw activityFailure('LedgerUnavailable', `could not ask the ledger before subscribing: ${(error as Error).message}`);
    }
    const wanted = ledger?.desiredEventId;
    if (wanted !== undefined && wanted !== change.eventId) {
      log.info('a newer change arrived before the subscribe; not written', { eventId: change.eventId, newerEventId: wanted });
      return { outcome: 'superseded_before_write', newerEventId: wanted };
    }
    // An attempt that outlived its change workflow (terminated in the Temporal UI, then
    // perhaps retried as a new run): the ledger no longer runs it, so it writes nothing.
    const ownRun = attempt.context.info.workflowExecution?.runId;
    const otherRun = ledger?.runningRunId !== undefined && ownRun !== undefined && ledger.runningRunId !== ownRun;
    if (ledger && (ledger.runningEventId !== change.eventId || otherRun)) {
      log.warn('the ledger no longer runs this change workflow; the subscribe is not sent', { eventId: change.eventId });
      throw activityFailure('ChangeNoLongerRunning', 'the ledger no longer runs this change workflow run: nothing was written');
    }
    return undefined;
  }
}

export type ListrakActivities = ReturnType<typeof createListrakActivities>;

interface OptInProgress {
  /** When an attempt started its subscribe write (kept in heartbeat details across retries). */
  subscribeWriteStartedAtMs?: number;
}

type SegmentationValue = ListrakContact['segmentationFieldValues'][number];
type DroppedField = NonNullable<Applied['droppedFields']>[number];

/** One activity attempt at one change: its target, its heartbeat and its writes of the contact. */
interface Attempt {
  context: Context;
  target: ListrakTarget;
  signal: AbortSignal;
  /** Heartbeat details: the earlier attempt's until this one starts its subscribe. */
  progressDetails: OptInProgress | undefined;
  progress: () => void;
  /** Writes the change's contact (never aborted mid-flight, see optIn). */
  upsert(
    subscriptionState: 'Subscribed' | 'Unsubscribed',
    segmentationFieldValues: SegmentationValue[],
    options?: Pick<UpsertOptions, 'eventIds' | 'overrideUnsubscribe' | 'sendDoubleOptIn'>,
  ): Promise<string>;
}

/**
 * Subscribes with the profile values. A value Listrak refuses must not cost the person their
 * subscription: then it subscribes without profile data, sends the values one at a time and
 * drops the refused ones (`droppedFields`, set only then).
 */
async function subscribeDroppingRefusedValues(
  attempt: Attempt,
  values: SegmentationValue[],
  options: Pick<UpsertOptions, 'eventIds' | 'overrideUnsubscribe'>,
): Promise<{ alreadyDoneCode: string | undefined; droppedFields?: DroppedField[] }> {
  const subscribe = (segmentationFieldValues: SegmentationValue[]) => upsertTolerant(() => attempt.upsert('Subscribed', segmentationFieldValues, options));
  try {
    return { alreadyDoneCode: await subscribe(values) };
  } catch (error) {
    if (refusedValueCode(error) === undefined || values.length === 0) throw error;
  }
  const alreadyDoneCode = await subscribe([]);
  const droppedFields: DroppedField[] = [];
  for (const value of values) {
    const code = await writeValueUnlessRefused(attempt, value);
    if (code !== undefined) droppedFields.push({ segmentationFieldId: value.segmentationFieldId, code });
  }
  return { alreadyDoneCode, droppedFields };
}

/**
 * The subscribe of a double opt-in: written with `sendDoubleOptIn`, so Listrak mails the person a
 * confirmation and holds the subscribe until they confirm. It raises no opt-in events: the series
 * would mail a person who has not confirmed (Listrak's own confirmation starts what follows it).
 * A refused profile value: written without values (a pending contact takes none on its own).
 */
async function writeDoubleOptIn(attempt: Attempt, values: SegmentationValue[], writeStartedAtMs: number): Promise<ApplyResult> {
  const write = (segmentationFieldValues: SegmentationValue[]) => upsertTolerant(() => attempt.upsert('Subscribed', segmentationFieldValues, { sendDoubleOptIn: true }));
  let alreadyDoneCode: string | undefined;
  let droppedFields: DroppedField[] | undefined;
  try {
    alreadyDoneCode = await write(values);
  } catch (error) {
    const code = refusedValueCode(error);
    if (code === undefined || values.length === 0) throw error;
    alreadyDoneCode = await write([]);
    droppedFields = values.map((value) => ({ segmentationFieldId: value.segmentationFieldId, code }));
  }
  // Subscribed already (they confirmed, or were subscribed, between our read and this write).
  if (alreadyDoneCode !== undefined) return applied(writeStartedAtMs, { alreadyDoneCode, droppedFields });
  const awaiting: Extract<ApplyResult, { outcome: 'awaiting_confirmation' }> = { outcome: 'awaiting_confirmation' };
  if (droppedFields) awaiting.droppedFields = droppedFields;
  return awaiting;
}

/** Writes one profile value; Listrak's code when it refuses the value (the value is dropped). */
async function writeValueUnlessRefused(attempt: Attempt, value: SegmentationValue): Promise<string | undefined> {
  try {
    await attempt.upsert('Subscribed', [value]);
    return undefined;
  } catch (error) {
    const code = refusedValueCode(error);
    if (code === undefined) throw error;
    return code;
  }
}

/** The code of an answer that refuses one profile value rather than the contact. */
function refusedValueCode(error: unknown): string | undefined {
  return error instanceof ListrakError && afterFailure(error) === 'drop_value' ? error.code : undefined;
}

/** Whether the contact became subscribed at or after `sinceMs` (allowing for clock skew). */
function subscribedSince(contact: ListrakContact | undefined, sinceMs: number): boolean {
  if (contact?.subscriptionState !== 'Subscribed') return false;
  const date = parseListrakDate(contact.resubscribeDate ?? contact.subscribeDate ?? '');
  return date !== undefined && date >= sinceMs - OWN_WRITE_CLOCK_TOLERANCE_MS;
}

type Applied = Extract<ApplyResult, { outcome: 'applied' }>;

function applied(writeStartedAtMs: number, details: Omit<Applied, 'outcome' | 'writeStartedAtMs' | 'writeFinishedAtMs' | 'attempt'>): ApplyResult {
  return { outcome: 'applied', writeStartedAtMs, writeFinishedAtMs: Date.now(), ...details } satisfies Applied;
}

/** Runs a write; an "already done" answer means the wanted state holds, so it counts as success. */
async function upsertTolerant(write: () => Promise<string>): Promise<string | undefined> {
  try {
    await write();
    return undefined;
  } catch (error) {
    if (error instanceof ListrakError && afterFailure(error) === 'already_done') return error.code;
    throw error;
  }
}

/**
 * Returns Listrak's unsubscribe date when it forbids applying an opt-in made at `eventTimeMs`.
 * An unsubscribe this service wrote carries Listrak's write time, later than the opt-out event it
 * applied; such a date is compared by that opt-out's event time instead.
 */
export function unsubscribeNewerThan(
  contact: ListrakContact | undefined,
  eventTimeMs: number,
  ownUnsubscribes: OwnUnsubscribe[],
  /**
   * The opt-in carries a causeEventSequence: at its own opt-out's event time the ledger has
   * already ordered the two by sequence (it sends an opt-in tying with an opt-out only then), so
   * our own unsubscribe of that time does not block it. Listrak's own unsubscribes still win ties.
   */
  { sequenced = false }: { sequenced?: boolean } = {},
): string | undefined {
  if (contact?.subscriptionState !== 'Unsubscribed') return undefined;
  const date = contact.unsubscribeDate ?? '';
  const unsubscribedAtMs = parseListrakDate(date);
  // Unsubscribed with no readable date: we cannot prove the opt-in is newer, so opt-out wins.
  if (unsubscribedAtMs === undefined) return date || 'unknown';
  const own = ownUnsubscribeAt(unsubscribedAtMs, ownUnsubscribes);
  const effectiveMs = own ? own.eventTimeMs : unsubscribedAtMs;
  // An opt-out wins a tie, unless the ledger ordered this opt-in after our own opt-out by sequence.
  if (own && sequenced) return effectiveMs > eventTimeMs ? date : undefined;
  return effectiveMs >= eventTimeMs ? date : undefined;
}

/**
 * The change's profile values for the list's fields, in the order the list maps them. Listrak's
 * limits (a field's maxLength, whether it exists or is enabled) are not checked here: knowing
 * them would cost reads per change; a refused value is dropped on Listrak's answer instead
 * (subscribeDroppingRefusedValues), and `npm run check-listrak` reports them beforehand.
 */
function segmentationValues(profile: Profile, fields: RoutedList['segmentationFields']) {
  const values: { segmentationFieldId: number; value: string }[] = [];
  for (const [name, fieldId] of Object.entries(fields)) {
    const value = Object.hasOwn(profile, name) ? profile[name] : undefined;
    if (value !== undefined && value !== '') values.push({ segmentationFieldId: fieldId, value });
  }
  return values;
}
