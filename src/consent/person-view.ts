import { ENVIRONMENTS, legacyChangeWorkflowId, type ChangeRecord, type Environment, type LedgerState } from '../shared';
import type { TemporalReads } from './temporal-reads';

/** One change of a person's ledger as the status answer shows it: the ledger's record, and for a running change what Temporal says of it. */
export interface ChangeView extends Omit<ChangeRecord, 'eventTimeMs'> {
  /** For a change being applied: what Temporal reports of its Listrak activity. */
  attempt?: number;
  lastError?: string;
  parkedReason?: string;
  temporalUiUrl?: string;
}

/** A person's ledger in one environment, as the status answer shows it. */
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

/** The status of one person (an email) across environments, from their ledgers. */
export function createPersonView(reads: TemporalReads) {
  async function changeView({ eventTimeMs: _ignored, ...record }: ChangeRecord): Promise<ChangeView> {
    const view: ChangeView = { ...record };
    if (record.changeWorkflowId) view.temporalUiUrl = reads.uiLink(record.changeWorkflowId);
    if (record.outcome === 'parked' && record.detail) view.parkedReason = record.detail;
    if (record.outcome === 'applying') {
      const running = await reads.runningChange(record.changeWorkflowId ?? legacyChangeWorkflowId(record.eventId));
      view.outcome = running.outcome;
      if (running.parkedReason !== undefined) view.parkedReason = running.parkedReason;
      if (running.listrakCode !== undefined) view.listrakCode = running.listrakCode;
      if (running.attempt !== undefined) view.attempt = running.attempt;
      if (running.lastError !== undefined) view.lastError = running.lastError;
    }
    return view;
  }

  async function environmentView(email: string, environment: Environment): Promise<EnvironmentView | undefined> {
    const ledger = await reads.personLedger(environment, email);
    if (!ledger) return undefined;
    const { key, workflowId, state } = ledger;
    const view: EnvironmentView = {
      environment,
      listId: key.listId,
      workflowId,
      temporalUiUrl: reads.uiLink(workflowId),
      desired: state.desired ?? null,
      applied: state.applied ?? null,
      changes: await Promise.all([...state.changes].reverse().map(changeView)),
    };
    if (state.restoredFrom) view.restoredFrom = state.restoredFrom;
    if (state.restoreNote) view.restoreNote = state.restoreNote;
    return view;
  }

  return {
    /** The person's state per environment; environments with no ledger are left out. */
    async consentStatus(email: string): Promise<EnvironmentView[]> {
      const views = await Promise.all(ENVIRONMENTS.map((environment) => environmentView(email, environment)));
      return views.filter((view): view is EnvironmentView => view !== undefined);
    },
  };
}
