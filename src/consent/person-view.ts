import { listNameOf } from '../config/routing';
import { legacyChangeWorkflowId, type ChangeRecord, type LedgerKey, type LedgerState } from '../shared';
import type { PersonLedger, TemporalReads } from './temporal-reads';

/** One change of a person's ledger as the status answer shows it: the ledger's record, and for a running change what Temporal says of it. */
export interface ChangeView extends Omit<ChangeRecord, 'eventTimeMs'> {
  /** The list the change was recorded for (its ledger's): id, and name in the routing (null: none, or no longer in it). */
  listId: number | null;
  listName: string | null;
  /** For a change being applied: what Temporal reports of its Listrak activity. */
  attempt?: number;
  lastError?: string;
  parkedReason?: string;
  temporalUiUrl?: string;
}

/** A person's ledger of one list in one environment, as the status answer shows it. */
export interface EnvironmentView {
  environment: string;
  listId: number | null;
  /** The list's name in the routing; null for the unconfigured ledger or a list the routing no longer has. */
  listName: string | null;
  workflowId: string;
  temporalUiUrl: string;
  desired: LedgerState['desired'] | null;
  applied: LedgerState['applied'] | null;
  /** The closed run this ledger run started from (it had been idle for LEDGER_IDLE_DAYS). */
  restoredFrom?: LedgerState['restoredFrom'];
  /** Why this run could not start from the closed one before it. */
  restoreNote?: string;
  /** The person was forgotten: the tombstone this ledger keeps instead of the email. */
  forgotten?: { at: string; by: string; forgetWorkflowId: string };
  changes: ChangeView[];
}

/** The status of one person (an email) across environments, from their ledgers. */
export function createPersonView(reads: TemporalReads) {
  const listName = (key: LedgerKey) => listNameOf(reads.config.listrak.routing, key.environment, key.listId);

  async function changeView(key: LedgerKey, { eventTimeMs: _ignored, ...record }: ChangeRecord): Promise<ChangeView> {
    const view: ChangeView = { ...record, listId: key.listId, listName: listName(key) };
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

  async function environmentView({ key, workflowId, state }: PersonLedger): Promise<EnvironmentView> {
    const view: EnvironmentView = {
      environment: key.environment,
      listId: key.listId,
      listName: listName(key),
      workflowId,
      temporalUiUrl: reads.uiLink(workflowId),
      desired: state.desired ?? null,
      applied: state.applied ?? null,
      changes: await Promise.all([...state.changes].reverse().map((record) => changeView(key, record))),
    };
    if (state.restoredFrom) view.restoredFrom = state.restoredFrom;
    if (state.restoreNote) view.restoreNote = state.restoreNote;
    if (state.forgotten) view.forgotten = { at: state.forgotten.at, by: state.forgotten.by, forgetWorkflowId: state.forgotten.forgetWorkflowId };
    return view;
  }

  return {
    /** The person's state per environment and list; ledgers that do not exist are left out. */
    async consentStatus(email: string): Promise<EnvironmentView[]> {
      return Promise.all((await reads.personLedgers(email)).map(environmentView));
    },
  };
}
