import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, WorkflowNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';
import type { LedgerList, ReconcileLedgers, ReconcileSweep } from '../../activities';
import type { Config } from '../config/config';
import type { RoutedList } from '../config/routing';
import { emailHashKey, environmentKey } from '../temporal/search-attributes';
import { ledgerWorkflowId, listrakUnsubscribeDecision, type Environment, type LedgerKey, type LedgerState } from '../shared';
import { ledgerKeyFor } from './intake';
// The workflow modules run here only to be named (signals, queries, the workflow type).
import { consentLedgerWorkflow, doubleOptInConfirmedSignal, ledgerStateQuery, listrakUnsubscribeSignal, reapplyOptOutSignal, type LedgerInput } from '../../workflows/consent-ledger';
import { reconcileWorkflow, type ReconcileInput } from '../../workflows/reconcile';

/**
 * Reconciliation with Listrak (#15): the ledgers' side of what a sweep finds (the worker's
 * reconciliation activity calls it), and the Temporal Schedules that run the sweeps per
 * environment and list.
 */

export const RECONCILE_SWEEPS: readonly ReconcileSweep[] = ['unsubscribed', 'subscribed'];

/** One Schedule per environment, list and sweep; its runs carry the id (no email in it). */
export function reconcileScheduleId(environment: Environment, listId: number, sweep: ReconcileSweep): string {
  return `reconcile/${environment}/${listId}/${sweep}`;
}

/** The ledgers as reconciliation needs them, over a Temporal client. */
export function createReconcileLedgers({ client, config }: { client: Client; config: Readonly<Config> }): ReconcileLedgers {
  /** The person's ledger state, or undefined when they have none. */
  async function ledgerOf(list: LedgerList, email: string) {
    const key = ledgerKeyFor(config, list.environment, email, list.listId);
    const workflowId = ledgerWorkflowId(key);
    try {
      return { key, workflowId, state: await client.workflow.getHandle(workflowId).query(ledgerStateQuery) };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return { key, workflowId, state: undefined as LedgerState | undefined };
      throw error;
    }
  }

  /** How a ledger is started when a signal finds none running (as intake starts it). */
  function ledgerStart(key: LedgerKey, workflowId: string) {
    const indexed = config.temporal.searchAttributes;
    const input: LedgerInput = { key, idleDays: config.ledgerIdleDays, searchAttributes: indexed ? undefined : false };
    return {
      workflowId,
      taskQueue: config.temporal.taskQueue,
      args: [input] as [LedgerInput],
      typedSearchAttributes: indexed ? [{ key: emailHashKey, value: key.emailHash }, { key: environmentKey, value: key.environment }] : [],
    };
  }

  return {
    async recordListrakUnsubscribe(list, unsubscribe, { dryRun }) {
      const { key, workflowId, state } = await ledgerOf(list, unsubscribe.email);
      // Asked first, so that figures count what is new to the ledger (its handler decides the same way).
      if (state && listrakUnsubscribeDecision(state, unsubscribe.unsubscribedAtMs) !== 'record') return 'known';
      if (dryRun) return 'recorded';
      // Signal-with-start: a person with no ledger yet gets one that holds this opt-out.
      await client.workflow.signalWithStart(consentLedgerWorkflow, { ...ledgerStart(key, workflowId), signal: listrakUnsubscribeSignal, signalArgs: [unsubscribe] });
      return 'recorded';
    },

    async ofSubscribed(list, email) {
      const { key, state } = await ledgerOf(list, email);
      const desired = state?.desired;
      // A change on its way is not drift, nor a confirmation: Listrak may not show it yet.
      if (!desired || state.pendingEventId !== undefined || state.runningEventId !== undefined) return {};
      if (desired.type === 'opt_out') return { optedOut: key.emailHash };
      const record = state.changes.find((change) => change.eventId === desired.eventId);
      return record?.outcome === 'awaiting_confirmation' ? { awaitingConfirmation: desired.eventId } : {};
    },

    async confirmDoubleOptIn(list, email, confirmation) {
      const key = ledgerKeyFor(config, list.environment, email, list.listId);
      const workflowId = ledgerWorkflowId(key);
      // With start: a ledger that closed idle starts again from its last state, then records it.
      await client.workflow.signalWithStart(consentLedgerWorkflow, { ...ledgerStart(key, workflowId), signal: doubleOptInConfirmedSignal, signalArgs: [confirmation] });
    },

    async reapplyOptOut(list, email, reason) {
      const { key, workflowId } = await ledgerOf(list, email);
      // With start: a ledger that closed idle starts again from its last state, then writes.
      await client.workflow.signalWithStart(consentLedgerWorkflow, { ...ledgerStart(key, workflowId), signal: reapplyOptOutSignal, signalArgs: [{ reason }] });
      return true;
    },
  };
}

/** The sweep a Schedule runs for one list (mode from RECONCILE_MODE). */
export function reconcileInputFor(config: Readonly<Config>, list: Pick<RoutedList, 'environment' | 'listId'>, sweep: ReconcileSweep): ReconcileInput {
  return { environment: list.environment, listId: list.listId, sweep, mode: config.reconcile.mode };
}

/** The Schedule of one sweep: RECONCILE_INTERVAL for unsubscribes, RECONCILE_FULL_INTERVAL for drift; one run at a time. */
export function reconcileScheduleFor(config: Readonly<Config>, input: ReconcileInput): ScheduleOptions {
  const every = input.sweep === 'unsubscribed' ? config.reconcile.intervalMs : config.reconcile.fullIntervalMs;
  const scheduleId = reconcileScheduleId(input.environment, input.listId, input.sweep);
  return {
    scheduleId,
    spec: { intervals: [{ every }] },
    action: { type: 'startWorkflow', workflowType: reconcileWorkflow, args: [input], taskQueue: config.temporal.taskQueue, workflowId: scheduleId },
    // A sweep still running when the next is due: the next is skipped, not queued or run beside it.
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: every },
  } satisfies ScheduleOptions;
}

/**
 * Creates the reconciliation Schedules of every configured environment, or brings existing ones
 * to the configured interval and mode (idempotent: run at every worker start and by `consent
 * reconcile`). Returns their ids.
 */
export async function installReconcileSchedules(client: Client, config: Readonly<Config>): Promise<string[]> {
  const installed: string[] = [];
  // Every list a route sends to (ROUTING_FILE, or one per environment from the variables).
  for (const list of config.listrak.routing.lists) {
    for (const sweep of RECONCILE_SWEEPS) {
      const input = reconcileInputFor(config, list, sweep);
      const options = reconcileScheduleFor(config, input);
      try {
        await client.schedule.create(options);
      } catch (error) {
        if (!(error instanceof ScheduleAlreadyRunning)) throw error;
        await client.schedule.getHandle(options.scheduleId).update((previous) => ({ ...previous, spec: options.spec, action: options.action, policies: options.policies }));
      }
      installed.push(options.scheduleId);
    }
  }
  return installed;
}
