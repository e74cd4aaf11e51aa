import type { Client } from '@temporalio/client';
import type { Config } from '../config/config';
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

/** Derives the ledger a person's changes go to, from configuration (the list id is part of it). */
export function ledgerKeyFor(config: Readonly<Config>, environment: Environment, email: string): LedgerKey {
  return {
    environment,
    listId: config.listrak.targets[environment]?.listId ?? null,
    emailHash: hashEmail(config.emailHashKey, email),
  };
}

/** The change workflow of one person's change (ids are per ledger: event ids repeat across people). */
export function changeWorkflowIdFor(config: Readonly<Config>, environment: Environment, email: string, eventId: string): string {
  return changeWorkflowId(ledgerKeyFor(config, environment, email), eventId);
}

/** Why a change is recorded but not sent to Listrak (configuration), if it is not. */
export function notSentReason(config: Readonly<Config>, event: ExtoleConsentEvent): string | undefined {
  if (!config.listrak.targets[event.environment]) {
    return event.environment === 'staging'
      ? 'staging events are not sent: no LISTRAK_STAGING_CLIENT_ID/SECRET/LIST_ID configured'
      : 'no Listrak credentials configured for production';
  }
  if (event.type === 'opt_in' && !config.listrak.sendOptIns) return 'opt-ins are not sent: SEND_OPT_INS=false';
  if (event.type === 'opt_out' && !config.listrak.sendOptOuts) return 'opt-outs are not sent: SEND_OPT_OUTS=false';
  return undefined;
}

/**
 * Records consent changes durably: each is signalled into its person's ledger workflow (started
 * if needed). Resolves only once Temporal has accepted every signal.
 */
export function createTemporalIntake({ client, config, deadlineMs = 5_000, concurrency = 32 }: IntakeOptions) {
  async function recordOne(event: ExtoleConsentEvent, receivedAt: string): Promise<RecordedChange> {
    const key = ledgerKeyFor(config, event.environment, event.email);
    const change: ConsentChange = { ...event, receivedAt, notSentReason: notSentReason(config, event) };
    const workflowId = ledgerWorkflowId(key);
    const indexed = config.temporal.searchAttributes;
    // Undefined keys are left out of the payload: histories carry the same JSON as before.
    const input: LedgerInput = { key, idleDays: config.ledgerIdleDays, searchAttributes: indexed ? undefined : false };
    try {
      await client.connection.withDeadline(Date.now() + deadlineMs, () =>
        client.workflow.signalWithStart(consentLedgerWorkflow, {
          workflowId,
          taskQueue: config.temporal.taskQueue,
          args: [input],
          signal: consentChangeSignal,
          signalArgs: [change],
          typedSearchAttributes: indexed
            ? [
                { key: emailHashKey, value: key.emailHash },
                { key: environmentKey, value: key.environment },
              ]
            : [],
        }),
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
    async record(events: ExtoleConsentEvent[]): Promise<RecordedChange[]> {
      await checkEmailHashKey();
      const receivedAt = new Date().toISOString();
      const results = new Array<RecordedChange>(events.length);
      let next = 0;
      const lanes = Array.from({ length: Math.min(concurrency, events.length) }, async () => {
        while (next < events.length) {
          const index = next++;
          results[index] = await recordOne(events[index]!, receivedAt);
        }
      });
      await Promise.all(lanes);
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
