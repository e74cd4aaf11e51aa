import { WorkflowNotFoundError, type WorkflowExecutionInfo, type WorkflowExecutionStatusName } from '@temporalio/client';
import { extractWorkflowType } from '@temporalio/common';
import { listNameOf } from '../config/routing';
import { TemporalUnavailableError } from './intake';
import type { TemporalReads } from './temporal-reads';
import { applyConsentChangeWorkflow } from '../../workflows/apply-change';
import { consentLedgerWorkflow } from '../../workflows/consent-ledger';
import {
  CHANGE_WORKFLOW_PREFIX,
  ENVIRONMENTS,
  EVENT_ID,
  SEARCH_ATTRIBUTES,
  legacyChangeWorkflowId,
  outcomeOfResult,
  parseChangeWorkflowId,
  parseLedgerWorkflowId,
  type ChangeMemo,
  type ChangeOutcome,
  type ChangeResult,
} from '../shared';

/** The workflow types as visibility lists them: the names the client starts them by. */
export const CHANGE_WORKFLOW_TYPE = extractWorkflowType(applyConsentChangeWorkflow);
const LEDGER_WORKFLOW_TYPE = extractWorkflowType(consentLedgerWorkflow);

/**
 * What the listing says became of a change: an outcome, or, for a change workflow that closed
 * without one and that no ledger recorded, how Temporal says it closed (terminated, timed_out, …).
 */
export type ListedOutcome = ChangeOutcome | Lowercase<WorkflowExecutionStatusName>;

/** One change workflow as the live view and `consent` CLI list it. */
export interface RecentChange {
  eventId: string;
  workflowId: string;
  type?: string;
  environment?: string;
  eventTime?: string;
  /** The route that sent the change (changes recorded before routes were named have none). */
  route?: string;
  /** Its list: id (null: the unconfigured ledger) and name in the routing; absent for a change workflow of the legacy id, which does not name its ledger. */
  listId?: number | null;
  listName?: string | null;
  startedAt: string;
  closedAt?: string;
  /** When Listrak confirmed the write of an applied change. */
  appliedAt?: string;
  outcome: ListedOutcome;
  listrakCode?: string;
  /** Listrak activity attempts so far (or that the final one was). */
  attempts?: number;
  detail?: string;
  temporalUiUrl: string;
}

/** Where a parked change waits: in its change workflow (a Listrak problem) or in its ledger. */
export type ParkedAt = { workflowId: string; eventId: string } & ({ in: 'change' } | { in: 'ledger'; ledgerWorkflowId: string });

/** The change workflows to list: of one environment, started in a window, parked only. */
export interface ChangeQuery {
  environment?: string | undefined;
  since?: Date | undefined;
  /** Exclusive: consecutive windows neither overlap nor leave gaps. */
  until?: Date | undefined;
  parkedOnly?: boolean;
  workflowType?: string;
}

/** The visibility query of change workflows (or, with `workflowType`, ledgers). */
export function changeQuery({ environment, since, until, parkedOnly, workflowType = CHANGE_WORKFLOW_TYPE }: ChangeQuery): string {
  const clauses = [`WorkflowType = '${workflowType}'`];
  if (parkedOnly) clauses.push(`ExecutionStatus = 'Running'`, `${SEARCH_ATTRIBUTES.outcome} = 'parked'`);
  if (environment !== undefined) clauses.push(`${SEARCH_ATTRIBUTES.environment} = '${checkedEnvironment(environment)}'`);
  if (since !== undefined) clauses.push(`StartTime >= '${since.toISOString()}'`);
  if (until !== undefined) clauses.push(`StartTime < '${until.toISOString()}'`);
  return clauses.join(' AND ');
}

/** The environment, if it is one (it goes into a visibility query). */
export function checkedEnvironment(environment: string): string {
  if (!(ENVIRONMENTS as readonly string[]).includes(environment)) throw new Error(`environment must be one of ${ENVIRONMENTS.join(', ')}`);
  return environment;
}

/** Lists change workflows: recent ones with what became of them, parked ones, those of one event id. */
export function createChangeListing(reads: TemporalReads) {
  const { client, config, withDeadline } = reads;

  /** One change workflow as `recentChanges` lists it (outcome from its result or its ledger); the audit export reads the same. */
  async function describeChange(info: WorkflowExecutionInfo): Promise<RecentChange> {
    const memo = (info.memo ?? {}) as Partial<ChangeMemo>;
    const parsed = parseChangeWorkflowId(info.workflowId);
    const key = parsed?.ledgerWorkflowId === undefined ? undefined : parseLedgerWorkflowId(parsed.ledgerWorkflowId);
    const view: RecentChange = {
      eventId: parsed?.eventId ?? info.workflowId,
      workflowId: info.workflowId,
      type: memo.type || undefined,
      environment: memo.environment || undefined,
      eventTime: memo.eventTime || undefined,
      route: memo.route || undefined,
      listId: key?.listId,
      listName: key ? listNameOf(config.listrak.routing, key.environment, key.listId) : undefined,
      startedAt: info.startTime.toISOString(),
      closedAt: info.closeTime?.toISOString(),
      outcome: info.status.name.toLowerCase() as Lowercase<WorkflowExecutionStatusName>,
      temporalUiUrl: reads.uiLink(info.workflowId),
    };
    if (info.status.name === 'RUNNING') {
      const running = await reads.runningChange(info.workflowId, info.runId);
      view.outcome = running.outcome;
      if (running.listrakCode) view.listrakCode = running.listrakCode;
      if (running.outcome === 'parked' && running.parkedReason) view.detail = running.parkedReason;
      else if (running.lastError) view.detail = running.lastError;
      if (running.attempt) view.attempts = running.attempt;
    } else if (info.status.name === 'COMPLETED') {
      const handle = client.workflow.getHandle<typeof applyConsentChangeWorkflow>(info.workflowId, info.runId);
      const result: ChangeResult | undefined = await withDeadline(() => handle.result()).catch(() => undefined);
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
      const ledger = ledgerId ? await reads.ledgerStateOf(ledgerId) : undefined;
      const record = ledger?.changes.find((entry) => entry.changeWorkflowId === info.workflowId);
      if (record && record.outcome !== 'applying') {
        view.outcome = record.outcome;
        if (record.detail) view.detail = record.detail;
      }
    }
    return view;
  }

  /** The most recent change workflows (newest first), with outcome, Listrak code and attempts. */
  async function recentChanges({ limit = 50, environment }: { limit?: number; environment?: string | undefined } = {}): Promise<RecentChange[]> {
    const indexed = config.temporal.searchAttributes;
    const infos = await reads.listWorkflows(changeQuery({ environment: indexed ? environment : undefined }), limit).catch((error: unknown) => {
      throw new TemporalUnavailableError(`could not list change workflows: ${(error as Error).message}`, { cause: error });
    });
    const views = await Promise.all(infos.map(describeChange));
    return indexed || environment === undefined ? views : views.filter((view) => view.environment === environment);
  }

  /**
   * The parked changes (optionally of one environment, started or received since a time), found
   * through Temporal's visibility (the ConsentOutcome search attribute): those parked in their
   * change workflow, then those parked in their ledger (their change workflow ended without an outcome).
   */
  async function parkedChanges({ environment, since, limit }: { environment?: string | undefined; since?: Date | undefined; limit: number }): Promise<ParkedAt[]> {
    if (!config.temporal.searchAttributes) {
      throw new Error('retry-parked finds parked changes by the ConsentOutcome search attribute: it needs TEMPORAL_SEARCH_ATTRIBUTES=true');
    }
    const inChanges = await reads.listWorkflows(changeQuery({ environment, since, parkedOnly: true }), limit);
    const ledgers = await reads.listWorkflows(changeQuery({ environment, parkedOnly: true, workflowType: LEDGER_WORKFLOW_TYPE }), limit);
    const targets: ParkedAt[] = inChanges.map((info) => ({ workflowId: info.workflowId, eventId: parseChangeWorkflowId(info.workflowId)?.eventId ?? '', in: 'change' }));
    for (const info of ledgers) {
      const state = await reads.ledgerStateOf(info.workflowId);
      const parked = state?.parked;
      if (!parked || (since !== undefined && Date.parse(parked.receivedAt) < since.getTime())) continue;
      const record = state.changes.find((entry) => entry.eventId === parked.eventId);
      targets.push({ workflowId: record?.changeWorkflowId ?? info.workflowId, eventId: parked.eventId, in: 'ledger', ledgerWorkflowId: info.workflowId });
    }
    return targets.slice(0, limit);
  }

  /** Every change workflow carrying this event id: per-ledger ones (visibility) and a legacy one. */
  async function changeWorkflowsOf(eventId: string): Promise<string[]> {
    if (!EVENT_ID.test(eventId)) return [];
    const ids = new Set<string>();
    const query = `WorkflowType = '${CHANGE_WORKFLOW_TYPE}' AND WorkflowId STARTS_WITH '${CHANGE_WORKFLOW_PREFIX}${eventId}/'`;
    for (const info of await reads.listWorkflows(query, 100)) ids.add(info.workflowId);
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

  return { describeChange, recentChanges, parkedChanges, changeWorkflowsOf };
}

export type ChangeListing = ReturnType<typeof createChangeListing>;
