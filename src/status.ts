import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from './config';
import { ledgerKeyFor, TemporalUnavailableError } from './intake';
import {
  ENVIRONMENTS,
  QUERIES,
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

  async function describeRunning(record: ChangeRecord): Promise<Partial<ChangeView>> {
    const handle = client.workflow.getHandle(changeWorkflowId(record.eventId));
    const [description, status] = await Promise.all([
      withDeadline(() => handle.describe()),
      withDeadline(() => handle.query<ChangeStatus>(QUERIES.changeStatus)).catch(() => undefined),
    ]);
    const activity = description.raw.pendingActivities?.[0];
    return {
      ...(activity?.attempt ? { attempt: activity.attempt } : {}),
      ...(activity?.lastFailure?.message ? { lastError: activity.lastFailure.message } : {}),
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

  async function signalChange(eventId: string, signal: typeof SIGNALS.retry | typeof SIGNALS.skip): Promise<string> {
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
    await withDeadline(() => handle.signal(signal));
    return workflowId;
  }

  return {
    /** The person's state per environment; environments with no ledger are left out. */
    async consentStatus(email: string): Promise<EnvironmentView[]> {
      const views = await Promise.all(ENVIRONMENTS.map((environment) => environmentView(email, environment)));
      return views.filter((view): view is EnvironmentView => view !== undefined);
    },
    retry: (eventId: string) => signalChange(eventId, SIGNALS.retry),
    skip: (eventId: string) => signalChange(eventId, SIGNALS.skip),
    uiLink,
  };
}

export type Operations = ReturnType<typeof createOperations>;
