import type { Client } from '@temporalio/client';
import type { Config } from '../config/config';
import { listLabel, routeEvent, routeLabel, type Route } from '../config/routing';
import { metrics } from '../observability/metrics';
import { hashEmail } from './email';
import { ensureEmailHashKeyFingerprint } from '../temporal/email-hash-key';
import { emailHashKey, environmentKey } from '../temporal/search-attributes';
import { changeWorkflowId, ledgerWorkflowId, type ConsentChange, type Environment, type ExtoleConsentEvent, type LedgerKey } from '../shared';
// The workflow module runs here only to be named: its top level defines signals and queries, nothing more.
import { consentChangeSignal, consentLedgerWorkflow, type LedgerInput } from '../../workflows/consent-ledger';

export interface RecordedChange {
  event_id: string;
  workflow_id: string;
  change_workflow_id: string;
}

/** Temporal could not confirm the change was recorded: the sender must retry. */
export class TemporalUnavailableError extends Error {
  override name = 'TemporalUnavailableError';
}

export interface IntakeOptions {
  client: Client;
  config: Readonly<Config>;
  /** How long one signal-with-start may take before the request answers 503. */
  deadlineMs?: number;
  /** Signals in flight at once for a batch. */
  concurrency?: number;
}

/**
 * The ledger of a person's changes to one list (the list id is part of it): `listId` names it;
 * without, the first list of the environment (the only one under the LISTRAK_* shorthand).
 */
export function ledgerKeyFor(config: Readonly<Config>, environment: Environment, email: string, listId?: number | null): LedgerKey {
  return {
    environment,
    listId: listId !== undefined ? listId : (config.listrak.routing.lists.find((list) => list.environment === environment)?.listId ?? null),
    emailHash: hashEmail(config.emailHashKey, email),
  };
}

/**
 * The list ids of an environment's ledgers a person may have: each list of the routing file and
 * the unconfigured ledger (null) where unrouted changes are recorded; under the shorthand, the one.
 */
export function ledgerListIds(config: Readonly<Config>, environment: Environment): (number | null)[] {
  const { routing } = config.listrak;
  const ids = routing.lists.filter((list) => list.environment === environment).map((list) => list.listId);
  return routing.file === undefined ? [ids[0] ?? null] : [...ids, null];
}

/** The change workflow of one person's change (ids are per ledger: event ids repeat across people). */
export function changeWorkflowIdFor(config: Readonly<Config>, environment: Environment, email: string, eventId: string, listId?: number | null): string {
  return changeWorkflowId(ledgerKeyFor(config, environment, email, listId), eventId);
}

/** One ledger an event is recorded in, the route that sent it there, and why the change is not sent to Listrak from there, if it is not. */
export interface RoutedChange {
  key: LedgerKey;
  /** The route's name; for an unrouted change, the route that matched (it has no list of the environment), absent when none did. */
  route?: string;
  notSentReason?: string;
}

/**
 * The ledgers an event goes to: one per list its route names in its environment (an opt-in to
 * two lists is two changes, each ordered and retried on its own), or, when no list takes it, the
 * environment's unconfigured ledger, where it is recorded as not sent.
 */
export function routeChanges(config: Readonly<Config>, event: ExtoleConsentEvent): RoutedChange[] {
  const routed = routeEvent(config.listrak.routing, event);
  const route = routed.route?.name;
  if (routed.lists.length === 0) {
    return [{ key: ledgerKeyFor(config, event.environment, event.email, null), route, notSentReason: unroutedReason(config, event, routed.route) }];
  }
  const reason = notSentReason(config, event);
  return routed.lists.map((list) => ({ key: ledgerKeyFor(config, event.environment, event.email, list.listId), route, notSentReason: reason }));
}

/** The metric labels of one routed change: the list and route by the routing's names only (bounded). */
export function changeLabels(config: Readonly<Config>, event: Pick<ExtoleConsentEvent, 'environment' | 'type'>, routed: RoutedChange) {
  const { routing } = config.listrak;
  return { environment: event.environment, type: event.type, list: listLabel(routing, routed.key.environment, routed.key.listId), route: routeLabel(routing, routed.route) };
}

/** Why a change is recorded but not sent to Listrak (configuration), if it is not. */
export function notSentReason(config: Readonly<Config>, event: ExtoleConsentEvent): string | undefined {
  const routed = routeEvent(config.listrak.routing, event);
  if (routed.lists.length === 0) return unroutedReason(config, event, routed.route);
  if (event.type === 'opt_in' && !config.listrak.sendOptIns) return 'opt-ins are not sent: SEND_OPT_INS=false';
  if (event.type === 'opt_out' && !config.listrak.sendOptOuts) return 'opt-outs are not sent: SEND_OPT_OUTS=false';
  return undefined;
}

/** The reason of an event no list takes: the shorthand's missing variables, or `no_route` and what matched. */
function unroutedReason(config: Readonly<Config>, event: ExtoleConsentEvent, route: Route | undefined): string {
  if (config.listrak.routing.file === undefined) {
    return event.environment === 'staging'
      ? 'staging events are not sent: no LISTRAK_STAGING_CLIENT_ID/SECRET/LIST_ID configured'
      : 'no Listrak credentials configured for production';
  }
  if (route) return `no_route: route '${route.name}' has no ${event.environment} list`;
  const program = event.programLabel === undefined ? 'no program' : `program '${event.programLabel}'`;
  const campaign = event.campaignId === undefined ? 'no campaign' : `campaign '${event.campaignId}'`;
  return `no_route: no route matches ${program}, ${campaign} in ${event.environment}, and the routing file has no default route`;
}

/**
 * How a ledger is started when a signal finds none running: intake, reconciliation and forget all
 * signal-with-start it the same way. Undefined keys are left out of the input: histories carry the
 * same JSON as before.
 */
export function ledgerStart(config: Readonly<Config>, key: LedgerKey) {
  const indexed = config.temporal.searchAttributes;
  const input: LedgerInput = { key, idleDays: config.ledgerIdleDays, searchAttributes: indexed ? undefined : false };
  return {
    workflowId: ledgerWorkflowId(key),
    taskQueue: config.temporal.taskQueue,
    args: [input] as [LedgerInput],
    typedSearchAttributes: indexed
      ? [
          { key: emailHashKey, value: key.emailHash },
          { key: environmentKey, value: key.environment },
        ]
      : [],
  };
}

/**
 * Records consent changes durably: each is signalled into its person's ledger workflow (started
 * if needed). Resolves only once Temporal has accepted every signal.
 */
export function createTemporalIntake({ client, config, deadlineMs = 5_000, concurrency = 32 }: IntakeOptions) {
  async function recordOne(event: ExtoleConsentEvent, { key, route, notSentReason }: RoutedChange, receivedAt: string): Promise<RecordedChange> {
    // Routing's fields stay out of the ledger's payload: the key says where the change goes, the
    // route's name which route sent it (for people and metrics).
    const { programLabel: _program, campaignId: _campaign, ...recorded } = event;
    const change: ConsentChange = { ...recorded, receivedAt, notSentReason, route };
    const start = ledgerStart(config, key);
    const { workflowId } = start;
    try {
      await client.connection.withDeadline(Date.now() + deadlineMs, () =>
        client.workflow.signalWithStart(consentLedgerWorkflow, { ...start, signal: consentChangeSignal, signalArgs: [change] }),
      );
    } catch (error) {
      throw new TemporalUnavailableError(
        `could not record event ${event.eventId} in Temporal: ${describeError(error)}`,
        { cause: error },
      );
    }
    return { event_id: event.eventId, workflow_id: workflowId, change_workflow_id: changeWorkflowId(key, event.eventId) };
  }

  /** Before the first write, the namespace's EMAIL_HASH_KEY is checked (then the answer is cached). */
  async function checkEmailHashKey(): Promise<void> {
    try {
      await client.connection.withDeadline(Date.now() + deadlineMs, () => ensureEmailHashKeyFingerprint(client, config));
    } catch (error) {
      throw new TemporalUnavailableError(`events not recorded: ${describeError(error)}`, { cause: error });
    }
  }

  return {
    /** Records each event in every ledger its route names: one entry per (event, list), in order. */
    async record(events: ExtoleConsentEvent[]): Promise<RecordedChange[]> {
      await checkEmailHashKey();
      const receivedAt = new Date().toISOString();
      const work = events.flatMap((event) => routeChanges(config, event).map((routed) => ({ event, routed })));
      const results = new Array<RecordedChange>(work.length);
      let next = 0;
      const lanes = Array.from({ length: Math.min(concurrency, work.length) }, async () => {
        while (next < work.length) {
          const index = next++;
          const { event, routed } = work[index]!;
          results[index] = await recordOne(event, routed, receivedAt);
        }
      });
      await Promise.all(lanes);
      for (const { event, routed } of work) {
        if (routed.key.listId !== null) continue;
        const { environment, list, route } = changeLabels(config, event, routed);
        metrics.changesUnrouted.inc({ environment, list, route });
      }
      return results;
    },
  };
}

export type ConsentIntake = ReturnType<typeof createTemporalIntake>;

function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
