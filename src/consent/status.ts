import { WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { ApplicationFailure, type ProtoFailure } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { Config } from '../config/config';
import { ledgerKeyFor, TemporalUnavailableError } from './intake';
import { retryUpdate, skipUpdate } from '../../workflows/apply-change';
import { retryParkedChangeUpdate, skipParkedChangeUpdate } from '../../workflows/consent-ledger';
import {
  CHANGE_WORKFLOW_PREFIX,
  EVENT_ID,
  ENVIRONMENTS,
  NOT_PARKED,
  QUERIES,
  SEARCH_ATTRIBUTES,
  SIGNALS,
  legacyChangeWorkflowId,
  ledgerWorkflowId,
  outcomeOfResult,
  parseChangeWorkflowId,
  type ChangeRecord,
  type ChangeResult,
  type ChangeStatus,
  type DecisionOutcome,
  type LedgerState,
} from '../shared';

export interface ChangeView extends Omit<ChangeRecord, 'eventTimeMs'> {
  /** For a change being applied: what Temporal reports of its Listrak activity. */
  attempt?: number;
  lastError?: string;
  parkedReason?: string;
  temporalUiUrl?: string;
}

export interface EnvironmentView {
  environment: string;
  listId: number | null;
  workflowId: string;
  temporalUiUrl: string;
  desired: LedgerState['desired'] | null;
  applied: LedgerState['applied'] | null;
  /** The closed run this ledger run started from (it had been idle for LEDGER_IDLE_DAYS). */
  restoredFrom?: LedgerState['restoredFrom'];
  /** Why this run could not start from the closed one before it. */
  restoreNote?: string;
  changes: ChangeView[];
}

/** One change workflow as the live view and `consent` CLI list it. */
export interface RecentChange {
  eventId: string;
  workflowId: string;
  type?: string;
  environment?: string;
  eventTime?: string;
  startedAt: string;
  closedAt?: string;
  /** When Listrak confirmed the write of an applied change. */
  appliedAt?: string;
  /** applying, parked, applied, superseded, rejected, skipped, failed, terminated, timed_out */
  outcome: string;
  listrakCode?: string;
  /** Listrak activity attempts so far (or that the final one was). */
  attempts?: number;
  detail?: string;
  temporalUiUrl: string;
}

/** What retry or skip did: the change workflow acted on and the update's answer. */
export interface DecisionResult extends DecisionOutcome {
  workflowId: string;
}

/** The answer in words: "retried: now applying", "skipped". */
export function describeDecision({ decision, outcome }: DecisionOutcome): string {
  return decision === 'skipped' ? 'skipped' : `retried: now ${outcome}`;
}

export interface RetryParkedResult {
  eventId: string;
  workflowId: string;
  /** `would_retry`: a dry run found it parked and sent nothing. */
  result: 'retried' | 'would_retry' | 'not_parked' | 'error';
  detail?: string;
}

const CHANGE_WORKFLOW_TYPE = 'applyConsentChangeWorkflow';
const LEDGER_WORKFLOW_TYPE = 'consentLedgerWorkflow';

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

/** Where a parked change waits: in its change workflow (a Listrak problem) or in its ledger. */
type ParkedAt = { workflowId: string; eventId: string } & ({ in: 'change' } | { in: 'ledger'; ledgerWorkflowId: string });

/** Reads consent state from Temporal for the status endpoint, and retries or skips parked changes (updates). */
export function createOperations({ client, config, deadlineMs = 5_000 }: { client: Client; config: Readonly<Config>; deadlineMs?: number }) {
  const uiBase = (config.temporal.uiUrl ?? `http://localhost:${config.temporal.uiPort}`).replace(/\/+$/, '');
  const uiLink = (workflowId: string) =>
    `${uiBase}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  const withDeadline = <T>(fn: () => Promise<T>) => client.connection.withDeadline(Date.now() + deadlineMs, fn);
  /**
   * The message of a running change's last failed attempt. `describe()` returns it as the server
   * stores it: with TEMPORAL_PAYLOAD_KEY that is "Encoded failure" and the text is in an encrypted
   * payload, which the client's codec opens.
   */
  const failureMessage = async (failure: ProtoFailure | null | undefined) => {
    if (!failure) return undefined;
    const error = await decodeOptionalFailureToOptionalError(client.options.loadedDataConverter, failure).catch(() => undefined);
    return (error?.message ?? failure.message) || undefined;
  };

  async function describeRunning(record: ChangeRecord): Promise<Partial<ChangeView>> {
    const handle = client.workflow.getHandle(record.changeWorkflowId ?? legacyChangeWorkflowId(record.eventId));
    const [description, status] = await Promise.all([
      withDeadline(() => handle.describe()),
      withDeadline(() => handle.query<ChangeStatus>(QUERIES.changeStatus)).catch(() => undefined),
    ]);
    const activity = description.raw.pendingActivities?.[0];
    const lastError = await failureMessage(activity?.lastFailure);
    return {
      ...(activity?.attempt ? { attempt: activity.attempt } : {}),
      ...(lastError ? { lastError } : {}),
      ...(status?.phase === 'parked' ? { outcome: 'parked' as const, parkedReason: status.parkedReason } : {}),
      ...(status?.listrakCode ? { listrakCode: status.listrakCode } : {}),
    };
  }

  async function environmentView(email: string, environment: (typeof ENVIRONMENTS)[number]): Promise<EnvironmentView | undefined> {
    const key = ledgerKeyFor(config, environment, email);
    const workflowId = ledgerWorkflowId(key);
    let state: LedgerState;
    try {
      state = await withDeadline(() => client.workflow.getHandle(workflowId).query<LedgerState>(QUERIES.ledgerState));
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw new TemporalUnavailableError(`could not query ${workflowId}: ${(error as Error).message}`, { cause: error });
    }
    const changes = await Promise.all(
      [...state.changes].reverse().map(async ({ eventTimeMs: _ignored, ...record }): Promise<ChangeView> => {
        const view: ChangeView = { ...record };
        if (record.changeWorkflowId) view.temporalUiUrl = uiLink(record.changeWorkflowId);
        if (record.outcome === 'applying') Object.assign(view, await describeRunning({ ...record, eventTimeMs: 0 }).catch(() => ({})));
        if (record.outcome === 'parked' && record.detail) view.parkedReason = record.detail;
        return view;
      }),
    );
    return {
      environment,
      listId: key.listId,
      workflowId,
      temporalUiUrl: uiLink(workflowId),
      desired: state.desired ?? null,
      applied: state.applied ?? null,
      ...(state.restoredFrom ? { restoredFrom: state.restoredFrom } : {}),
      ...(state.restoreNote ? { restoreNote: state.restoreNote } : {}),
      changes,
    };
  }

  /** A ledger's state, or undefined where it cannot be asked (gone, or Temporal away): for lookups that can do without. */
  const ledgerStateOf = (workflowId: string) =>
    withDeadline(() => client.workflow.getHandle(workflowId).query<LedgerState>(QUERIES.ledgerState)).catch(() => undefined);

  /** Every change workflow carrying this event id: per-ledger ones (visibility) and a legacy one. */
  async function changeWorkflowsOf(eventId: string): Promise<string[]> {
    if (!EVENT_ID.test(eventId)) return [];
    const ids = new Set<string>();
    const query = `WorkflowType = '${CHANGE_WORKFLOW_TYPE}' AND WorkflowId STARTS_WITH '${CHANGE_WORKFLOW_PREFIX}${eventId}/'`;
    for (const info of await listChanges(query, 100)) ids.add(info.workflowId);
    const legacy = legacyChangeWorkflowId(eventId);
    const found = await withDeadline(() => client.workflow.getHandle(legacy).describe()).then(
      () => true,
      (error: unknown) => {
        if (error instanceof WorkflowNotFoundError) return false;
        throw error;
      },
    );
    if (found) ids.add(legacy);
    return [...ids];
  }

  /** Whether a change workflow's change is parked, and where; otherwise what it is doing. */
  async function parkedAt(workflowId: string): Promise<ParkedAt | { phase: string }> {
    const parsed = parseChangeWorkflowId(workflowId);
    if (!parsed) return { phase: 'unknown' };
    const handle = client.workflow.getHandle(workflowId);
    const description = await withDeadline(() => handle.describe());
    if (description.status.name === 'RUNNING') {
      const status = await withDeadline(() => handle.query<ChangeStatus>(QUERIES.changeStatus));
      return status.phase === 'parked' ? { workflowId, eventId: parsed.eventId, in: 'change' } : { phase: status.phase };
    }
    // Closed: a change workflow that ended without an outcome leaves its change parked in the ledger.
    if (parsed.ledgerWorkflowId) {
      const ledger = await ledgerStateOf(parsed.ledgerWorkflowId);
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
  async function sendDecision(target: ParkedAt, action: 'retry' | 'skip'): Promise<DecisionOutcome> {
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
      if (target.in === 'change') await withDeadline(() => client.workflow.getHandle(target.workflowId).signal(action === 'retry' ? SIGNALS.retry : SIGNALS.skip));
      else await withDeadline(() => client.workflow.getHandle(target.ledgerWorkflowId).signal(action === 'retry' ? SIGNALS.retryChange : SIGNALS.skipChange, target.eventId));
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
        candidates = await changeWorkflowsOf(eventId);
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

  async function decide(eventId: string, action: 'retry' | 'skip', workflowId?: string): Promise<DecisionResult> {
    const target = await findParked(eventId, workflowId);
    const outcome = await sendDecision(target, action).catch((error: unknown) => {
      if (error instanceof ChangeNotParkedError) throw error;
      throw new TemporalUnavailableError(`could not ${action} change ${eventId}: ${(error as Error).message}`, { cause: error });
    });
    return { workflowId: target.workflowId, ...outcome };
  }

  async function describeChange(info: WorkflowExecutionInfo): Promise<RecentChange> {
    const memo = (info.memo ?? {}) as { type?: string; environment?: string; eventTime?: string };
    const view: RecentChange = {
      eventId: parseChangeWorkflowId(info.workflowId)?.eventId ?? info.workflowId,
      workflowId: info.workflowId,
      ...(memo.type ? { type: memo.type } : {}),
      ...(memo.environment ? { environment: memo.environment } : {}),
      ...(memo.eventTime ? { eventTime: memo.eventTime } : {}),
      startedAt: info.startTime.toISOString(),
      ...(info.closeTime ? { closedAt: info.closeTime.toISOString() } : {}),
      outcome: info.status.name.toLowerCase(),
      temporalUiUrl: uiLink(info.workflowId),
    };
    const handle = client.workflow.getHandle(info.workflowId, info.runId);
    if (info.status.name === 'RUNNING') {
      const [status, description] = await Promise.all([
        withDeadline(() => handle.query<ChangeStatus>(QUERIES.changeStatus)).catch(() => undefined),
        withDeadline(() => handle.describe()).catch(() => undefined),
      ]);
      const activity = description?.raw.pendingActivities?.[0];
      const lastError = await failureMessage(activity?.lastFailure);
      view.outcome = status?.phase === 'parked' ? 'parked' : 'applying';
      if (status?.listrakCode) view.listrakCode = status.listrakCode;
      if (status?.phase === 'parked' && status.parkedReason) view.detail = status.parkedReason;
      else if (lastError) view.detail = lastError;
      if (activity?.attempt) view.attempts = activity.attempt;
    } else if (info.status.name === 'COMPLETED') {
      const result = await withDeadline(() => handle.result() as Promise<ChangeResult>).catch(() => undefined);
      if (result) {
        const { outcome, detail, listrakCode } = outcomeOfResult(result);
        view.outcome = outcome;
        if (detail !== undefined) view.detail = detail;
        if (listrakCode !== undefined) view.listrakCode = listrakCode;
        if ('attempt' in result && result.attempt !== undefined) view.attempts = result.attempt;
        if (result.outcome === 'applied') view.appliedAt = new Date(result.writeFinishedAtMs).toISOString();
      }
    } else if (info.status.name === 'CANCELLED') {
      view.outcome = 'superseded';
      view.detail = 'cancelled: a newer change for the same person arrived';
    } else {
      // Terminated, failed or timed out: the ledger decided what became of the change (parked
      // until a person acts, or retried, skipped, superseded since).
      const ledgerId = parseChangeWorkflowId(info.workflowId)?.ledgerWorkflowId;
      const ledger = ledgerId
        ? await ledgerStateOf(ledgerId)
        : undefined;
      const record = ledger?.changes.find((entry) => entry.changeWorkflowId === info.workflowId);
      if (record && record.outcome !== 'applying') {
        view.outcome = record.outcome;
        if (record.detail) view.detail = record.detail;
      }
    }
    return view;
  }

  function changeQuery({
    environment,
    since,
    parkedOnly,
    workflowType = CHANGE_WORKFLOW_TYPE,
  }: {
    environment?: string | undefined;
    since?: Date | undefined;
    parkedOnly?: boolean;
    workflowType?: string;
  }): string {
    const clauses = [`WorkflowType = '${workflowType}'`];
    if (parkedOnly) clauses.push(`ExecutionStatus = 'Running'`, `${SEARCH_ATTRIBUTES.outcome} = 'parked'`);
    if (environment !== undefined) {
      if (!(ENVIRONMENTS as readonly string[]).includes(environment)) throw new Error(`environment must be one of ${ENVIRONMENTS.join(', ')}`);
      clauses.push(`${SEARCH_ATTRIBUTES.environment} = '${environment}'`);
    }
    if (since !== undefined) clauses.push(`StartTime >= '${since.toISOString()}'`);
    return clauses.join(' AND ');
  }

  async function listChanges(query: string, limit: number): Promise<WorkflowExecutionInfo[]> {
    const found: WorkflowExecutionInfo[] = [];
    for await (const info of client.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
      found.push(info);
      if (found.length >= limit) break;
    }
    return found;
  }

  return {
    /** The most recent change workflows (newest first), with outcome, Listrak code and attempts. */
    async recentChanges({ limit = 50, environment }: { limit?: number; environment?: string } = {}): Promise<RecentChange[]> {
      const indexed = config.temporal.searchAttributes;
      const infos = await listChanges(changeQuery({ environment: indexed ? environment : undefined }), limit).catch((error: unknown) => {
        throw new TemporalUnavailableError(`could not list change workflows: ${(error as Error).message}`, { cause: error });
      });
      const views = await Promise.all(infos.map(describeChange));
      return indexed || environment === undefined ? views : views.filter((view) => view.environment === environment);
    },
    /**
     * Sends `retry` to every parked change (optionally of one environment, started since a time),
     * found through Temporal's visibility (the ConsentOutcome search attribute). With `dryRun`, only
     * lists the changes it would retry (`would_retry`), checking each is still parked.
     */
    async retryParked({
      environment,
      since,
      limit = 10_000,
      dryRun = false,
    }: { environment?: string; since?: Date; limit?: number; dryRun?: boolean } = {}): Promise<RetryParkedResult[]> {
      if (!config.temporal.searchAttributes) {
        throw new Error('retry-parked finds parked changes by the ConsentOutcome search attribute: it needs TEMPORAL_SEARCH_ATTRIBUTES=true');
      }
      const inChanges = await listChanges(changeQuery({ environment, since, parkedOnly: true }), limit);
      // Changes parked in their ledger (their change workflow ended without an outcome).
      const ledgers = await listChanges(changeQuery({ environment, parkedOnly: true, workflowType: LEDGER_WORKFLOW_TYPE }), limit);
      const targets: ParkedAt[] = inChanges.map((info) => ({ workflowId: info.workflowId, eventId: parseChangeWorkflowId(info.workflowId)?.eventId ?? '', in: 'change' }));
      for (const info of ledgers) {
        const state = await ledgerStateOf(info.workflowId);
        const parked = state?.parked;
        if (!parked || (since !== undefined && Date.parse(parked.receivedAt) < since.getTime())) continue;
        const record = state.changes.find((entry) => entry.eventId === parked.eventId);
        targets.push({ workflowId: record?.changeWorkflowId ?? info.workflowId, eventId: parked.eventId, in: 'ledger', ledgerWorkflowId: info.workflowId });
      }
      const results: RetryParkedResult[] = [];
      for (const target of targets.slice(0, limit)) {
        try {
          const state = target.in === 'change' ? await parkedAt(target.workflowId) : target;
          if (!('in' in state)) {
            results.push({ eventId: target.eventId, workflowId: target.workflowId, result: 'not_parked', detail: `change ${target.eventId} is not parked (it is ${state.phase})` });
            continue;
          }
          if (!dryRun) await sendDecision(state, 'retry');
          results.push({ eventId: target.eventId, workflowId: target.workflowId, result: dryRun ? 'would_retry' : 'retried' });
        } catch (error) {
          if (error instanceof ChangeNotParkedError) {
            results.push({ eventId: target.eventId, workflowId: target.workflowId, result: 'not_parked', detail: error.message });
            continue;
          }
          results.push({ eventId: target.eventId, workflowId: target.workflowId, result: 'error', detail: (error as Error).message });
        }
      }
      return results;
    },
    /** The person's state per environment; environments with no ledger are left out. */
    async consentStatus(email: string): Promise<EnvironmentView[]> {
      const views = await Promise.all(ENVIRONMENTS.map((environment) => environmentView(email, environment)));
      return views.filter((view): view is EnvironmentView => view !== undefined);
    },
    /** Retries a parked change; `workflowId` picks one where several people's changes share the event id. */
    retry: (eventId: string, workflowId?: string) => decide(eventId, 'retry', workflowId),
    /** One change workflow as `recentChanges` lists it (outcome from its result or its ledger); the audit export reads the same. */
    describeChange,
    skip: (eventId: string, workflowId?: string) => decide(eventId, 'skip', workflowId),
    /** The change workflow id retry/skip would act on (a dry run): read-only; the same errors. */
    findParked: async (eventId: string, workflowId?: string) => (await findParked(eventId, workflowId)).workflowId,
    uiLink,
  };
}

export type Operations = ReturnType<typeof createOperations>;
