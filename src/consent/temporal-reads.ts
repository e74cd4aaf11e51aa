import { WorkflowNotFoundError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import type { ProtoFailure } from '@temporalio/common';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { Config } from '../config/config';
import { ledgerKeyFor, ledgerListIds, TemporalUnavailableError } from './intake';
import { changeStatusQuery } from '../../workflows/apply-change';
import { ledgerStateQuery } from '../../workflows/consent-ledger';
import { ENVIRONMENTS, ledgerWorkflowId, type Environment, type LedgerKey, type LedgerState } from '../shared';

export interface TemporalReadsOptions {
  client: Client;
  config: Readonly<Config>;
  /** How long one call to Temporal may take. */
  deadlineMs?: number;
}

/** What Temporal says of a running change workflow: the one probe the person's view and the listing share. */
export interface RunningChange {
  /** `applying` also when the workflow could not be asked: its ledger says it is applying. */
  outcome: 'applying' | 'parked';
  parkedReason?: string;
  listrakCode?: string;
  /** The Listrak activity's current attempt. */
  attempt?: number;
  /** The message of its last failed attempt. */
  lastError?: string;
}

/** A person's ledger in one environment, as its query answers. */
export interface PersonLedger {
  key: LedgerKey;
  workflowId: string;
  state: LedgerState;
}

/** The reads of consent state from Temporal that the person's view, the change listing and the commands share. */
export function createTemporalReads({ client, config, deadlineMs = 5_000 }: TemporalReadsOptions) {
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

  /** What a running change workflow is doing; what cannot be read is left out. */
  async function runningChange(workflowId: string, runId?: string): Promise<RunningChange> {
    const handle = client.workflow.getHandle(workflowId, runId);
    const [description, status] = await Promise.all([
      withDeadline(() => handle.describe()).catch(() => undefined),
      withDeadline(() => handle.query(changeStatusQuery)).catch(() => undefined),
    ]);
    const activity = description?.raw.pendingActivities?.[0];
    const running: RunningChange = { outcome: status?.phase === 'parked' ? 'parked' : 'applying' };
    if (status?.phase === 'parked' && status.parkedReason) running.parkedReason = status.parkedReason;
    if (status?.listrakCode) running.listrakCode = status.listrakCode;
    if (activity?.attempt) running.attempt = activity.attempt;
    const lastError = await failureMessage(activity?.lastFailure);
    if (lastError) running.lastError = lastError;
    return running;
  }

  /** A person's ledger of one list (by default the environment's first) in one environment; undefined when there is none. */
  async function personLedger(environment: Environment, email: string, listId?: number | null): Promise<PersonLedger | undefined> {
    const key = ledgerKeyFor(config, environment, email, listId);
    const workflowId = ledgerWorkflowId(key);
    try {
      const state = await withDeadline(() => client.workflow.getHandle(workflowId).query(ledgerStateQuery));
      return { key, workflowId, state };
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) return undefined;
      throw new TemporalUnavailableError(`could not query ${workflowId}: ${(error as Error).message}`, { cause: error });
    }
  }

  /** A ledger's state, or undefined where it cannot be asked (gone, or Temporal away): for lookups that can do without. */
  const ledgerStateOf = (workflowId: string) =>
    withDeadline(() => client.workflow.getHandle(workflowId).query(ledgerStateQuery)).catch(() => undefined);

  /** The first `limit` workflows a visibility query lists. */
  async function listWorkflows(query: string, limit: number): Promise<WorkflowExecutionInfo[]> {
    const found: WorkflowExecutionInfo[] = [];
    for await (const info of client.workflow.list({ query, pageSize: Math.min(limit, 1000) })) {
      found.push(info);
      if (found.length >= limit) break;
    }
    return found;
  }

  /** Every ledger of a person: each list of each environment (see ledgerListIds). */
  async function personLedgers(email: string): Promise<PersonLedger[]> {
    const keys = ENVIRONMENTS.flatMap((environment) => ledgerListIds(config, environment).map((listId) => ({ environment, listId })));
    const ledgers = await Promise.all(keys.map(({ environment, listId }) => personLedger(environment, email, listId)));
    return ledgers.filter((ledger): ledger is PersonLedger => ledger !== undefined);
  }

  return { client, config, uiLink, withDeadline, runningChange, personLedger, personLedgers, ledgerStateOf, listWorkflows };
}

export type TemporalReads = ReturnType<typeof createTemporalReads>;
