import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import type { LedgerSummary, PreviousLedgerRun } from '../src/shared';

/** Ledger ids are `consent-ledger/<environment>/<listId|unconfigured>/<hex hash>`: safe inside a query. */
const LEDGER_ID = /^consent-ledger\/[a-z]+\/[0-9a-z]+\/[0-9a-f]+$/;

export interface LedgerActivityDeps {
  /** A client of the namespace the ledgers run in (visibility and results). */
  temporal: Client;
}

/** Activities the ledger workflow runs about itself (no Listrak request). */
export function createLedgerActivities({ temporal }: LedgerActivityDeps) {
  return {
    /**
     * The result of the newest run of this ledger that closed idle (completed), found through
     * visibility. None for a person's first ledger, or once retention removed the run.
     */
    async previousLedgerRun(workflowId: string): Promise<PreviousLedgerRun> {
      if (!LEDGER_ID.test(workflowId)) throw new Error(`not a ledger workflow id: ${workflowId}`);
      let newest: WorkflowExecutionInfo | undefined;
      const query = `WorkflowId = '${workflowId}' AND ExecutionStatus = 'Completed'`;
      for await (const info of temporal.workflow.list({ query, pageSize: 100 })) {
        if (!newest || (info.closeTime?.getTime() ?? 0) > (newest.closeTime?.getTime() ?? 0)) newest = info;
      }
      if (!newest) return {};
      const result = (await temporal.workflow.getHandle(workflowId, newest.runId).result()) as LedgerSummary | undefined;
      return result && typeof result === 'object' && 'state' in result ? { summary: result, runId: newest.runId } : {};
    },
  };
}

export type LedgerActivities = ReturnType<typeof createLedgerActivities>;
