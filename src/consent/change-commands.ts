import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { TemporalUnavailableError } from './intake';
import type { ChangeListing, ParkedAt } from './change-listing';
import type { TemporalReads } from './temporal-reads';
import { changeStatusQuery, retrySignal, retryUpdate, skipSignal, skipUpdate } from '../../workflows/apply-change';
import { retryChangeSignal, retryParkedChangeUpdate, skipChangeSignal, skipParkedChangeUpdate } from '../../workflows/consent-ledger';
import { NOT_PARKED, parseChangeWorkflowId, type DecisionOutcome } from '../shared';

/** What retry or skip did: the change workflow acted on and the update's answer. */
export interface DecisionResult extends DecisionOutcome {
  workflowId: string;
}

/** The answer in words: "retried: now applying", "skipped". */
export function describeDecision({ decision, outcome }: DecisionOutcome): string {
  return decision === 'skipped' ? 'skipped' : `retried: now ${outcome}`;
}

/** What `retryParked` did with one parked change. */
export interface RetryParkedResult {
  eventId: string;
  workflowId: string;
  /** `would_retry`: a dry run found it parked and sent nothing. */
  result: 'retried' | 'would_retry' | 'not_parked' | 'error';
  detail?: string;
}

export class ChangeNotFoundError extends Error {
  override name = 'ChangeNotFoundError';
}
export class ChangeNotParkedError extends Error {
  override name = 'ChangeNotParkedError';
}
/** Several people's changes carry this event id and more than one is parked: name the workflow id. */
export class ChangeAmbiguousError extends Error {
  override name = 'ChangeAmbiguousError';
  constructor(
    message: string,
    readonly workflowIds: string[],
  ) {
    super(message);
  }
}

type Action = 'retry' | 'skip';

/** Retries or skips parked changes, by Temporal Update (refused, with the reason, unless the change is parked). */
export function createChangeCommands(reads: TemporalReads, listing: Pick<ChangeListing, 'changeWorkflowsOf' | 'parkedChanges'>) {
  const { client, withDeadline } = reads;

  /** Whether a change workflow's change is parked, and where; otherwise what it is doing. */
  async function parkedAt(workflowId: string): Promise<ParkedAt | { phase: string }> {
    const parsed = parseChangeWorkflowId(workflowId);
    if (!parsed) return { phase: 'unknown' };
    const handle = client.workflow.getHandle(workflowId);
    const description = await withDeadline(() => handle.describe());
    if (description.status.name === 'RUNNING') {
      // Not the lenient probe of the views: a change whose state cannot be read is not acted on.
      const status = await withDeadline(() => handle.query(changeStatusQuery));
      return status.phase === 'parked' ? { workflowId, eventId: parsed.eventId, in: 'change' } : { phase: status.phase };
    }
    // Closed: a change workflow that ended without an outcome leaves its change parked in the ledger.
    if (parsed.ledgerWorkflowId) {
      const ledger = await reads.ledgerStateOf(parsed.ledgerWorkflowId);
      if (ledger?.parked?.eventId === parsed.eventId) {
        return { workflowId, eventId: parsed.eventId, in: 'ledger', ledgerWorkflowId: parsed.ledgerWorkflowId };
      }
    }
    return { phase: description.status.name === 'COMPLETED' ? 'done' : description.status.name.toLowerCase() };
  }

  /**
   * Retries or skips a parked change with an update: its validator checks, in the workflow, that
   * the change is still parked (refused with the reason otherwise), and the answer says what the
   * change does now. A change workflow of a build before the updates is sent the signal instead.
   */
  async function sendDecision(target: ParkedAt, action: Action): Promise<DecisionOutcome> {
    try {
      if (target.in === 'change') {
        const update = action === 'retry' ? retryUpdate : skipUpdate;
        return await withDeadline(() => client.workflow.getHandle(target.workflowId).executeUpdate(update));
      }
      const update = action === 'retry' ? retryParkedChangeUpdate : skipParkedChangeUpdate;
      return await withDeadline(() => client.workflow.getHandle(target.ledgerWorkflowId).executeUpdate(update, { args: [target.eventId] }));
    } catch (error) {
      const cause = error instanceof WorkflowUpdateFailedError ? error.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === NOT_PARKED) throw new ChangeNotParkedError(`change ${target.eventId} is not parked: ${cause.message}`);
      if (!cause?.message.startsWith('No registered handler for update')) throw error;
      // Pinned to a build without the updates (worker versioning): the signal, unanswered.
      if (target.in === 'change') await withDeadline(() => client.workflow.getHandle(target.workflowId).signal(action === 'retry' ? retrySignal : skipSignal));
      else await withDeadline(() => client.workflow.getHandle(target.ledgerWorkflowId).signal(action === 'retry' ? retryChangeSignal : skipChangeSignal, target.eventId));
      return { decision: action === 'retry' ? 'retried' : 'skipped', eventId: target.eventId, outcome: action === 'retry' ? 'pending' : 'skipped' };
    }
  }

  /**
   * The parked change of an event id (what retry and skip act on); sends nothing. Event ids are
   * not unique across people: with several change workflows the parked one is taken; with several
   * parked ones the caller names the change workflow id (from the status answer).
   */
  async function findParked(eventId: string, workflowId?: string): Promise<ParkedAt> {
    let candidates: string[];
    try {
      if (workflowId !== undefined) {
        if (parseChangeWorkflowId(workflowId)?.eventId !== eventId) throw new ChangeNotFoundError(`${workflowId} is not a change workflow of event ${eventId}`);
        candidates = [workflowId];
      } else {
        candidates = await listing.changeWorkflowsOf(eventId);
      }
      if (candidates.length === 0) throw new ChangeNotFoundError(`no change workflow for event ${eventId}`);
      const states = await Promise.all(
        candidates.map((id) =>
          parkedAt(id).catch((error: unknown) => {
            if (error instanceof WorkflowNotFoundError) return { phase: 'not found' };
            throw error;
          }),
        ),
      );
      const parked = states.filter((state): state is ParkedAt => 'in' in state);
      if (parked.length === 0) {
        if (states.every((state) => 'phase' in state && state.phase === 'not found')) throw new ChangeNotFoundError(`no change workflow for event ${eventId}`);
        const phases = states.map((state) => ('phase' in state ? state.phase : 'parked')).join(', ');
        throw new ChangeNotParkedError(`change ${eventId} is not parked (it is ${phases})`);
      }
      if (parked.length > 1) {
        throw new ChangeAmbiguousError(
          `${parked.length} parked changes carry event id ${eventId}: name one with workflow_id (${parked.map((entry) => entry.workflowId).join(', ')})`,
          parked.map((entry) => entry.workflowId),
        );
      }
      return parked[0]!;
    } catch (error) {
      if (error instanceof ChangeNotFoundError || error instanceof ChangeNotParkedError || error instanceof ChangeAmbiguousError) throw error;
      throw new TemporalUnavailableError(`could not find the parked change of ${eventId}: ${(error as Error).message}`, { cause: error });
    }
  }

  async function decide(eventId: string, action: Action, workflowId?: string): Promise<DecisionResult> {
    const target = await findParked(eventId, workflowId);
    const outcome = await sendDecision(target, action).catch((error: unknown) => {
      if (error instanceof ChangeNotParkedError) throw error;
      throw new TemporalUnavailableError(`could not ${action} change ${eventId}: ${(error as Error).message}`, { cause: error });
    });
    return { workflowId: target.workflowId, ...outcome };
  }

  return {
    /** Retries a parked change; `workflowId` picks one where several people's changes share the event id. */
    retry: (eventId: string, workflowId?: string) => decide(eventId, 'retry', workflowId),
    skip: (eventId: string, workflowId?: string) => decide(eventId, 'skip', workflowId),
    /** The change workflow id retry/skip would act on (a dry run): read-only; the same errors. */
    findParked: async (eventId: string, workflowId?: string) => (await findParked(eventId, workflowId)).workflowId,
    /**
     * Sends `retry` to every parked change (optionally of one environment, started since a time).
     * With `dryRun`, only lists the changes it would retry (`would_retry`), checking each is still parked.
     */
    async retryParked({
      environment,
      since,
      limit = 10_000,
      dryRun = false,
    }: { environment?: string | undefined; since?: Date | undefined; limit?: number; dryRun?: boolean } = {}): Promise<RetryParkedResult[]> {
      const results: RetryParkedResult[] = [];
      for (const target of await listing.parkedChanges({ environment, since, limit })) {
        const { eventId, workflowId } = target;
        try {
          const state = target.in === 'change' ? await parkedAt(workflowId) : target;
          if (!('in' in state)) {
            results.push({ eventId, workflowId, result: 'not_parked', detail: `change ${eventId} is not parked (it is ${state.phase})` });
            continue;
          }
          if (!dryRun) await sendDecision(state, 'retry');
          results.push({ eventId, workflowId, result: dryRun ? 'would_retry' : 'retried' });
        } catch (error) {
          const result = error instanceof ChangeNotParkedError ? 'not_parked' : 'error';
          results.push({ eventId, workflowId, result, detail: (error as Error).message });
        }
      }
      return results;
    },
  };
}

export type ChangeCommands = ReturnType<typeof createChangeCommands>;
