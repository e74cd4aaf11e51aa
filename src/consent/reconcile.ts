import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowNotFoundError, type Client, type ScheduleOptions } from '@temporalio/client';
import type { LedgerList, ReconcileFigures, ReconcileLedgers, ReconcileSweep } from '../../activities';
import type { Config } from '../config/config';
import type { RoutedList } from '../config/routing';
import { ledgerWorkflowId, listrakUnsubscribeDecision, type Environment, type LedgerState } from '../shared';
import { ledgerKeyFor, ledgerStart, TemporalUnavailableError } from './intake';
// The workflow modules run here only to be named (signals, queries, the workflow type).
import { consentLedgerWorkflow, doubleOptInConfirmedSignal, ledgerStateQuery, listrakUnsubscribeSignal, reapplyOptOutSignal } from '../../workflows/consent-ledger';
import { reconcileProgressQuery, reconcileWorkflow, type ReconcileInput, type ReconcileResult } from '../../workflows/reconcile';

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

  return {
    async recordListrakUnsubscribe(list, unsubscribe, { dryRun }) {
      const { key, state } = await ledgerOf(list, unsubscribe.email);
      // Asked first, so that figures count what is new to the ledger (its handler decides the same way).
      if (state && listrakUnsubscribeDecision(state, unsubscribe.unsubscribedAtMs) !== 'record') return 'known';
      if (dryRun) return 'recorded';
      // Signal-with-start: a person with no ledger yet gets one that holds this opt-out.
      await client.workflow.signalWithStart(consentLedgerWorkflow, { ...ledgerStart(config, key), signal: listrakUnsubscribeSignal, signalArgs: [unsubscribe] });
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
      // With start: a ledger that closed idle starts again from its last state, then records it.
      await client.workflow.signalWithStart(consentLedgerWorkflow, { ...ledgerStart(config, key), signal: doubleOptInConfirmedSignal, signalArgs: [confirmation] });
    },

    async reapplyOptOut(list, email, reason) {
      const { key } = await ledgerOf(list, email);
      // With start: a ledger that closed idle starts again from its last state, then writes.
      await client.workflow.signalWithStart(consentLedgerWorkflow, { ...ledgerStart(config, key), signal: reapplyOptOutSignal, signalArgs: [{ reason }] });
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

/** A sweep's run as the overview shows it. */
export interface SweepRun {
  workflowId: string;
  startedAt: string;
}

/** One Schedule's sweeps as support sees them (`consent reconcile`, GET /reconcile, the live view). */
export interface SweepOverview {
  scheduleId: string;
  environment: Environment;
  listId: number;
  /** The list's name in the routing file (`production`/`staging` under the variables). */
  listName: string;
  sweep: ReconcileSweep;
  mode: ReconcileInput['mode'];
  /** False when the Schedule does not exist (the worker installs it at start). */
  installed: boolean;
  paused: boolean;
  nextRunAt?: string | undefined;
  /** A run of the Schedule under way, with how far it is. */
  running?: (SweepRun & { pages: number; figures: ReconcileFigures }) | undefined;
  /** The newest run that finished, with its figures. */
  last?: (SweepRun & Omit<ReconcileResult, 'environment' | 'listId' | 'sweep' | 'mode'>) | undefined;
  /** The newest run that failed, timed out, was terminated or cannot be read, when it is newer than `last`. */
  lastFailed?: (SweepRun & { status: string }) | undefined;
}

/** What the Schedules of the sweeps did last and do next: `consent reconcile`, GET /reconcile and the live view. */
export interface ReconcileOverview {
  /** Every routed list's sweeps (of one environment, or all), in the order of the routing file. */
  (environment?: Environment): Promise<SweepOverview[]>;
}

const ZERO_FIGURES: ReconcileFigures = { contactsRead: 0, externalOptOutsRecorded: 0, unsubscribesKnown: 0, unreadableDates: 0, driftFound: 0, driftRepaired: 0 };

/** Reads each Schedule and its recent runs (the newest ten Temporal keeps); Temporal out of reach is TemporalUnavailableError. */
export function createReconcileOverview({ client, config, deadlineMs = 5_000 }: { client: Client; config: Readonly<Config>; deadlineMs?: number }): ReconcileOverview {
  const withDeadline = <T>(fn: () => Promise<T>) => client.connection.withDeadline(Date.now() + deadlineMs, fn);

  async function overviewOf(list: RoutedList, sweep: ReconcileSweep): Promise<SweepOverview> {
    const scheduleId = reconcileScheduleId(list.environment, list.listId, sweep);
    const row: SweepOverview = {
      scheduleId,
      environment: list.environment,
      listId: list.listId,
      listName: list.name,
      sweep,
      mode: reconcileInputFor(config, list, sweep).mode,
      installed: false,
      paused: false,
    };
    const description = await withDeadline(() => client.schedule.getHandle(scheduleId).describe()).catch((error: unknown) => {
      if (error instanceof ScheduleNotFoundError) return undefined;
      throw new TemporalUnavailableError(`could not read the Schedule ${scheduleId}: ${(error as Error).message}`, { cause: error });
    });
    if (!description) return row;
    row.installed = true;
    row.paused = description.state.paused;
    row.nextRunAt = description.info.nextActionTimes[0]?.toISOString();
    // Newest first: the first finished run is `last`; a failure newer than it is `lastFailed`.
    for (const action of [...description.info.recentActions].reverse()) {
      const workflowId = action.action.workflow.workflowId;
      const handle = client.workflow.getHandle<typeof reconcileWorkflow>(workflowId);
      const run = { workflowId, startedAt: action.takenAt.toISOString() };
      const status = await withDeadline(() => handle.describe()).then(
        (described) => described.status.name,
        // Past retention a run is gone: older runs are no better known.
        (error: unknown) => (error instanceof WorkflowNotFoundError ? 'NOT_FOUND' : 'UNREADABLE'),
      );
      if (status === 'NOT_FOUND') break;
      if (status === 'RUNNING') {
        const progress = await withDeadline(() => handle.query(reconcileProgressQuery)).catch(() => undefined);
        row.running ??= { ...run, pages: progress?.pages ?? 0, figures: progress?.figures ?? ZERO_FIGURES };
      } else if (status === 'COMPLETED') {
        const { environment: _environment, listId: _listId, sweep: _sweep, mode: _mode, ...result } = await withDeadline(() => handle.result());
        row.last = { ...run, ...result };
        break;
      } else row.lastFailed ??= { ...run, status: status.toLowerCase() };
    }
    return row;
  }

  return (environment) => {
    const lists = config.listrak.routing.lists.filter((list) => environment === undefined || list.environment === environment);
    return Promise.all(lists.flatMap((list) => RECONCILE_SWEEPS.map((sweep) => overviewOf(list, sweep))));
  };
}
