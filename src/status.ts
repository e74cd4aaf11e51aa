import { WorkflowNotFoundError, type Client, type WorkflowExecutionInfo, type WorkflowHandle } from '@temporalio/client';
import type { ProtoFailure } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { Config } from './config';
import { ledgerKeyFor, TemporalUnavailableError } from './intake';
import type { ChangeResult } from '../workflows/apply-change';
import {
  ENVIRONMENTS,
  QUERIES,
  SEARCH_ATTRIBUTES,
  SIGNALS,
  changeWorkflowId,
  ledgerWorkflowId,
  type ChangeRecord,
  type ChangeStatus,
  type LedgerState,
} from './shared';

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
  /** applying, parked, applied, superseded, rejected, skipped, failed, terminated, timed_out */
  outcome: string;
  listrakCode?: string;
  /** Listrak activity attempts so far (or that the final one was). */
  attempts?: number;
  detail?: string;
  temporalUiUrl: string;
}

export interface RetryParkedResult {
  eventId: string;
  /** `would_retry`: a dry run found it parked and sent nothing. */
  result: 'retried' | 'would_retry' | 'not_parked' | 'error';
  detail?: string;
}

const CHANGE_WORKFLOW_TYPE = 'applyConsentChangeWorkflow';
const CHANGE_PREFIX = changeWorkflowId('');

export class ChangeNotFoundError extends Error {
  override name = 'ChangeNotFoundError';
}
export class ChangeNotParkedError extends Error {
  override name = 'ChangeNotParkedError';
}

/** Reads consent state from Temporal for the status endpoint, and sends retry/skip signals. */
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
    const handle = client.workflow.getHandle(changeWorkflowId(record.eventId));
    const [description, status] = await Promise.all([
      withDeadline(() => handle.describe()),
      withDeadline(() => handle.query<ChangeStatus>(QUERIES.changeStatus)).catch(() => undefined),
    ]);
    const activity = description.raw.pendingActivities?.[0];
    const lastError = await failureMessage(activity?.lastFailure);
    return {
      ...(activity?.attempt ? { attempt: activity.attempt } : {}),
      ...(lastError ? { lastError } : {}),
      ...(status?.phase === 'parked' ? { outcome: 'parked' as ChangeRecord['outcome'], parkedReason: status.parkedReason } : {}),
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
      changes,
    };
  }

  /**
   * The event's change workflow if it is parked (what retry/skip would signal); sends nothing.
   * Throws ChangeNotFoundError or ChangeNotParkedError.
   */
  async function findParked(eventId: string): Promise<{ workflowId: string; handle: WorkflowHandle }> {
    const workflowId = changeWorkflowId(eventId);
    const handle = client.workflow.getHandle(workflowId);
    let status: ChangeStatus;
    try {
      status = await withDeadline(() => handle.query<ChangeStatus>(QUERIES.changeStatus));
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new ChangeNotFoundError(`no change workflow for event ${eventId}`);
      throw new TemporalUnavailableError(`could not query ${workflowId}: ${(error as Error).message}`, { cause: error });
    }
    if (status.phase !== 'parked') throw new ChangeNotParkedError(`change ${eventId} is not parked (it is ${status.phase})`);
    return { workflowId, handle };
  }

  async function signalChange(eventId: string, signal: typeof SIGNALS.retry | typeof SIGNALS.skip): Promise<string> {
    const { workflowId, handle } = await findParked(eventId);
    await withDeadline(() => handle.signal(signal));
    return workflowId;
  }

  async function describeChange(info: WorkflowExecutionInfo): Promise<RecentChange> {
    const memo = (info.memo ?? {}) as { type?: string; environment?: string; eventTime?: string };
    const view: RecentChange = {
      eventId: info.workflowId.slice(CHANGE_PREFIX.length),
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
        view.outcome = result.outcome.startsWith('superseded') ? 'superseded' : result.outcome;
        if ('attempt' in result && result.attempt !== undefined) view.attempts = result.attempt;
        if (result.outcome === 'rejected') Object.assign(view, { listrakCode: result.code, detail: result.message });
        if (result.outcome === 'applied' && result.alreadyDoneCode) view.listrakCode = result.alreadyDoneCode;
        if (result.outcome === 'skipped') view.detail = result.reason;
      }
    } else if (info.status.name === 'CANCELLED') {
      view.outcome = 'superseded';
      view.detail = 'cancelled: a newer change for the same person arrived';
    }
    return view;
  }

  function changeQuery({ environment, since, parkedOnly }: { environment?: string | undefined; since?: Date | undefined; parkedOnly?: boolean }): string {
    const clauses = [`WorkflowType = '${CHANGE_WORKFLOW_TYPE}'`];
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
      const infos = await listChanges(changeQuery({ environment, since, parkedOnly: true }), limit);
      const results: RetryParkedResult[] = [];
      for (const info of infos) {
        const eventId = info.workflowId.slice(CHANGE_PREFIX.length);
        try {
          if (dryRun) await findParked(eventId);
          else await signalChange(eventId, SIGNALS.retry);
          results.push({ eventId, result: dryRun ? 'would_retry' : 'retried' });
        } catch (error) {
          if (error instanceof ChangeNotParkedError) results.push({ eventId, result: 'not_parked', detail: error.message });
          else results.push({ eventId, result: 'error', detail: (error as Error).message });
        }
      }
      return results;
    },
    /** The person's state per environment; environments with no ledger are left out. */
    async consentStatus(email: string): Promise<EnvironmentView[]> {
      const views = await Promise.all(ENVIRONMENTS.map((environment) => environmentView(email, environment)));
      return views.filter((view): view is EnvironmentView => view !== undefined);
    },
    retry: (eventId: string) => signalChange(eventId, SIGNALS.retry),
    skip: (eventId: string) => signalChange(eventId, SIGNALS.skip),
    /** The workflow id retry/skip would signal for this event (a dry run): read-only; same errors. */
    findParked: async (eventId: string) => (await findParked(eventId)).workflowId,
    uiLink,
  };
}

export type Operations = ReturnType<typeof createOperations>;
