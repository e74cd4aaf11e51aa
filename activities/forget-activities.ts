import { ApplicationFailure, Context, log } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../src/config/config';
import type { ForgetRequestStatus } from '../src/listrak/client';
import type { PrivacyApi } from '../src/listrak/privacy-api';
import { ledgerStart } from '../src/consent/intake';
import { emailHashKey } from '../src/temporal/search-attributes';
import { ledgerWorkflowId, type ForgetInput, type ForgottenLedger, type LedgerState } from '../src/shared';
// Named only: the module's top level defines the ledger's signals and queries, nothing more.
import { consentLedgerWorkflow, forgetSignal, ledgerStateQuery } from '../workflows/consent-ledger';

/** Hex email hashes only: safe inside a visibility query. */
const EMAIL_HASH = /^[0-9a-f]{16,128}$/;
/** gRPC's NOT_FOUND. */
const NOT_FOUND = 5;

export interface ForgetActivityDeps {
  temporal: Client;
  config: Readonly<Config>;
  /** Listrak's Privacy API, when an integration of type Privacy is configured. */
  privacy?: PrivacyApi | undefined;
}

/** The activities of forgetPersonWorkflow: the ledgers, the deletion of histories, Listrak's Privacy API. */
export function createForgetActivities({ temporal, config, privacy }: ForgetActivityDeps) {
  const heartbeat = (details?: unknown) => Context.current().heartbeat(details);
  const sleep = (ms: number) => Context.current().sleep(ms);

  /** Every execution (all runs) a visibility query lists. */
  async function executions(query: string): Promise<{ workflowId: string; runId: string }[]> {
    const found: { workflowId: string; runId: string }[] = [];
    for await (const info of temporal.workflow.list({ query, pageSize: 500 })) found.push({ workflowId: info.workflowId, runId: info.runId });
    return found;
  }

  /** The change workflow ids a ledger's records name (where search attributes are off, the only way to find them). */
  async function recordedChangeIds(workflowId: string): Promise<string[]> {
    const state = await temporal.workflow
      .getHandle(workflowId)
      .query(ledgerStateQuery)
      .catch(() => undefined);
    return (state?.changes ?? []).map((record) => record.changeWorkflowId).filter((id): id is string => id !== undefined);
  }

  return {
    /**
     * Tells each of the person's ledgers to forget (started, to restore its closed run and then
     * forget, where it had closed idle), and waits until each runs on without the email.
     */
    async forgetLedgers(input: ForgetInput): Promise<ForgottenLedger[]> {
      if (!EMAIL_HASH.test(input.emailHash)) throw ApplicationFailure.nonRetryable('not an email hash', 'InvalidInput');
      const forgetWorkflowId = Context.current().info.workflowExecution?.workflowId ?? '';
      const request = { at: input.requestedAt, atMs: input.requestedAtMs, by: input.requestedBy, forgetWorkflowId };
      const results: ForgottenLedger[] = [];
      for (const key of input.ledgers) {
        if (key.emailHash !== input.emailHash) throw ApplicationFailure.nonRetryable('a ledger of another person', 'InvalidInput');
        const workflowId = ledgerWorkflowId(key);
        heartbeat(workflowId);
        if ((await executions(`WorkflowId = '${workflowId}'`)).length === 0) {
          results.push({ workflowId, result: 'none' });
          continue;
        }
        const changeWorkflowIds = await recordedChangeIds(workflowId);
        await temporal.workflow.signalWithStart(consentLedgerWorkflow, { ...ledgerStart(config, key), signal: forgetSignal, signalArgs: [request] });
        // Forgotten once the run answering carries this forget and has continued as new.
        for (;;) {
          const state: LedgerState | undefined = await temporal.workflow
            .getHandle(workflowId)
            .query(ledgerStateQuery)
            .catch(() => undefined);
          if (state?.forgotten?.forgetWorkflowId === forgetWorkflowId && state.forgotten.atMs === input.requestedAtMs && !state.forgetting) break;
          heartbeat(workflowId);
          await sleep(250);
        }
        const { runId } = await temporal.workflow.getHandle(workflowId).describe();
        results.push({ workflowId, result: 'forgotten', runId, changeWorkflowIds });
      }
      return results;
    },

    /**
     * Deletes what carried the email: every earlier run of each forgotten ledger (the run that
     * carries no email stays), and the person's change workflows started before the forget, open
     * or closed (an open one is terminated by the deletion).
     */
    async deletePersonWorkflows({ emailHash, requestedAt, ledgers }: { emailHash: string; requestedAt: string; ledgers: ForgottenLedger[] }): Promise<number> {
      if (!EMAIL_HASH.test(emailHash)) throw ApplicationFailure.nonRetryable('not an email hash', 'InvalidInput');
      const targets = new Map<string, { workflowId: string; runId?: string }>();
      for (const ledger of ledgers) {
        if (ledger.result !== 'forgotten') continue;
        for (const run of await executions(`WorkflowId = '${ledger.workflowId}'`)) {
          if (run.runId !== ledger.runId) targets.set(`${run.workflowId}/${run.runId}`, run);
        }
        for (const changeId of ledger.changeWorkflowIds ?? []) {
          for (const run of await executions(`WorkflowId = '${changeId.replace(/'/g, '')}'`)) targets.set(`${run.workflowId}/${run.runId}`, run);
        }
        heartbeat(ledger.workflowId);
      }
      if (config.temporal.searchAttributes) {
        const since = new Date(requestedAt).toISOString();
        for (const run of await executions(`${emailHashKey.name} = '${emailHash}' AND WorkflowType = 'applyConsentChangeWorkflow' AND StartTime < '${since}'`)) {
          targets.set(`${run.workflowId}/${run.runId}`, run);
        }
      }
      let deleted = 0;
      for (const target of targets.values()) {
        heartbeat(target.workflowId);
        try {
          await temporal.workflowService.deleteWorkflowExecution({
            namespace: config.temporal.namespace,
            workflowExecution: { workflowId: target.workflowId, runId: target.runId },
          });
          deleted++;
        } catch (error) {
          // Deleted already (an earlier attempt), or gone with retention.
          if ((error as { code?: number }).code === NOT_FOUND || error instanceof WorkflowNotFoundError) continue;
          throw error;
        }
      }
      // The server deletes asynchronously (about half a minute on a dev server): the erasure is done
      // once none of them can be read any more. A retry of this activity deletes what is left again.
      for (;;) {
        const left: string[] = [];
        for (const target of targets.values()) {
          const readable = await temporal.workflow
            .getHandle(target.workflowId, target.runId)
            .describe()
            .then(
              () => true,
              (error: unknown) => !(error instanceof WorkflowNotFoundError || (error as { code?: number }).code === NOT_FOUND),
            );
          if (readable) left.push(target.workflowId);
        }
        if (left.length === 0) break;
        heartbeat({ waitingForDeletion: left.length });
        await sleep(2_000);
      }
      log.info('person forgotten: workflows deleted', { deleted });
      return deleted;
    },

    /** One status request to Listrak's Privacy API, waiting its turn under the published rate limit. */
    async privacyForgetStatus(requestId: string): Promise<ForgetRequestStatus> {
      if (!privacy) {
        throw ApplicationFailure.retryable('no Privacy integration is configured in this worker (LISTRAK_PRIVACY_CLIENT_ID/SECRET)', 'PrivacyNotConfigured');
      }
      const { cancellationSignal } = Context.current();
      await privacy.limiter.acquire({ onWait: (waitMs) => heartbeat({ waitingMs: waitMs }), signal: cancellationSignal });
      return privacy.client.forgetStatus(privacy.credentials, requestId, { signal: cancellationSignal, progress: () => heartbeat() });
    },
  };
}

export type ForgetActivities = ReturnType<typeof createForgetActivities>;
