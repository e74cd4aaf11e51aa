import { WorkflowIdReusePolicy, WorkflowNotFoundError, type Client, type WorkflowExecutionStatusName } from '@temporalio/client';
import { extractWorkflowType } from '@temporalio/common';
import type { Config } from '../config/config';
import { ListrakError } from '../listrak/errors';
import type { PrivacyApi } from '../listrak/privacy-api';
import { emailHashKey } from '../temporal/search-attributes';
import { ENVIRONMENTS, FORGET_WORKFLOW_PREFIX, forgetWorkflowId, ledgerWorkflowId, type ForgetInput, type ForgetProgress, type LedgerKey, type PrivacyRequest } from '../shared';
import { hashEmail, normalizeEmail } from './email';
import { ledgerListIds, TemporalUnavailableError } from './intake';
import { createTemporalReads } from './temporal-reads';
// Named only: the module's top level defines the query, nothing more.
import { forgetPersonWorkflow, forgetProgressQuery } from '../../workflows/forget-person';

/** What the API and the CLI record of a forget without a Privacy integration: never a claim that Listrak forgot. */
export const PRIVACY_NOT_ASKED = 'no Privacy integration configured: Listrak not asked';

/** Listrak's Privacy API's published limit would be exceeded: try again after `retryAfterMs`. */
export class ForgetRateLimitedError extends Error {
  override name = 'ForgetRateLimitedError';
  constructor(readonly retryAfterMs: number) {
    super(`Listrak's Privacy API allows 20 requests per 10 seconds and 60 per minute (this process keeps to half): try again in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

/** A forget of this person is still being carried out. */
export class ForgetInProgressError extends Error {
  override name = 'ForgetInProgressError';
}

/** Listrak's Privacy API refused or failed the forget request: nothing was erased here either. */
export class PrivacyRequestError extends Error {
  override name = 'PrivacyRequestError';
}

/** What a forget answers once it is under way (no email in it). */
export interface ForgetStarted {
  emailHash: string;
  workflowId: string;
  requestedAt: string;
  requestedBy: string;
  privacy: PrivacyRequest;
  ledgerWorkflowIds: string[];
}

/** One forget as support lists them (GET /forgets, `consent forgets`): no email in it. */
export interface ListedForget {
  workflowId: string;
  emailHash: string;
  /** How Temporal says the forget workflow stands: running, completed, failed, terminated, … */
  status: Lowercase<WorkflowExecutionStatusName>;
  startedAt: string;
  closedAt?: string;
  /** Its record: the query answer while it runs, its result once completed; absent when neither could be read. */
  erasure?: ForgetProgress;
  temporalUiUrl: string;
}

const FORGET_WORKFLOW_TYPE = extractWorkflowType(forgetPersonWorkflow);

export interface ForgetterOptions {
  client: Client;
  config: Readonly<Config>;
  /** Listrak's Privacy API (src/temporal/consent-worker.ts privacyApiFor), when configured. */
  privacy?: PrivacyApi | undefined;
  deadlineMs?: number;
}

/**
 * Forgetting a person (`consent forget`, POST /consents/{email}/forget). The email goes to Listrak
 * from here, never into Temporal: this sends the Privacy API's forget request itself, then starts
 * forgetPersonWorkflow with only the keyed hash and Listrak's request id.
 */
export function createForgetter({ client, config, privacy, deadlineMs = 5_000 }: ForgetterOptions) {
  const reads = createTemporalReads({ client, config, deadlineMs });
  const { withDeadline } = reads;

  /** Every ledger the person may have: each list of each environment, and the unconfigured ones. */
  const ledgersOf = (emailHash: string): LedgerKey[] =>
    ENVIRONMENTS.flatMap((environment) => ledgerListIds(config, environment).map((listId) => ({ environment, listId, emailHash })));

  return {
    async forget(email: string, requestedBy: string): Promise<ForgetStarted> {
      const address = normalizeEmail(email);
      const emailHash = hashEmail(config.emailHashKey, address);
      const workflowId = forgetWorkflowId(emailHash);
      const running = await withDeadline(() => client.workflow.getHandle(workflowId).describe()).then(
        (description) => description.status.name === 'RUNNING',
        (error: unknown) => {
          if (error instanceof WorkflowNotFoundError) return false;
          throw new TemporalUnavailableError(`could not check for a forget under way: ${(error as Error).message}`, { cause: error });
        },
      );
      if (running) throw new ForgetInProgressError(`a forget of this person is still under way (${workflowId})`);

      let request: PrivacyRequest = { asked: false, reason: PRIVACY_NOT_ASKED };
      if (privacy) {
        const admission = privacy.limiter.tryAcquire();
        if (!admission.admitted) throw new ForgetRateLimitedError(admission.retryAfterMs);
        try {
          const requestId = await privacy.client.requestForget(privacy.credentials, address);
          request = { asked: true, requestId, status: 'PROCESSING', polls: 0 };
        } catch (error) {
          // Listrak's own limit (another process used the integration too): the caller waits as for ours.
          if (error instanceof ListrakError && error.status === 429) throw new ForgetRateLimitedError(10_000);
          // The code and status only: an answer's message may quote the address.
          const detail = error instanceof ListrakError ? `${error.status} ${error.code}` : (error as Error).name;
          throw new PrivacyRequestError(`Listrak's Privacy API did not take the forget request (${detail}): nothing was forgotten; try again`, { cause: error });
        }
      }
      const requestedAtMs = Date.now();
      const input: ForgetInput = {
        emailHash,
        requestedBy,
        requestedAt: new Date(requestedAtMs).toISOString(),
        requestedAtMs,
        ledgers: ledgersOf(emailHash),
        privacy: request,
        pollIntervalMs: config.listrak.privacy?.pollIntervalMs ?? 300_000,
      };
      try {
        await withDeadline(() =>
          client.workflow.start(forgetPersonWorkflow, {
            workflowId,
            taskQueue: config.temporal.taskQueue,
            args: [input],
            // A person may be forgotten again (they opted in again since): a new run of the same id.
            workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
            memo: { requestedBy, requestedAt: input.requestedAt },
            typedSearchAttributes: config.temporal.searchAttributes ? [{ key: emailHashKey, value: emailHash }] : [],
          }),
        );
      } catch (error) {
        const sent = request.asked ? ` (Listrak's forget request ${request.requestId} was sent; forgetting again sends another)` : '';
        throw new TemporalUnavailableError(`could not start the forget in Temporal${sent}: ${(error as Error).message}`, { cause: error });
      }
      return {
        emailHash,
        workflowId,
        requestedAt: input.requestedAt,
        requestedBy,
        privacy: request,
        ledgerWorkflowIds: input.ledgers.map((key) => ledgerWorkflowId(key)),
      };
    },

    /**
     * The most recent forgets, newest first, with each one's record: what support looks at to see
     * that an erasure was carried out (or is stuck) without knowing the address.
     */
    async recentForgets(limit = 50): Promise<ListedForget[]> {
      const infos = await reads.listWorkflows(`WorkflowType = '${FORGET_WORKFLOW_TYPE}'`, limit).catch((error: unknown) => {
        throw new TemporalUnavailableError(`could not list the forgets: ${(error as Error).message}`, { cause: error });
      });
      return Promise.all(
        infos.map(async (info) => {
          const listed: ListedForget = {
            workflowId: info.workflowId,
            emailHash: info.workflowId.slice(FORGET_WORKFLOW_PREFIX.length),
            status: info.status.name.toLowerCase() as Lowercase<WorkflowExecutionStatusName>,
            startedAt: info.startTime.toISOString(),
            temporalUiUrl: reads.uiLink(info.workflowId),
          };
          if (info.closeTime) listed.closedAt = info.closeTime.toISOString();
          const handle = client.workflow.getHandle<typeof forgetPersonWorkflow>(info.workflowId, info.runId);
          const read =
            info.status.name === 'RUNNING' ? () => handle.query(forgetProgressQuery) : info.status.name === 'COMPLETED' ? () => handle.result() : undefined;
          const erasure = read ? await withDeadline(read).catch(() => undefined) : undefined;
          if (erasure) listed.erasure = erasure;
          return listed;
        }),
      );
    },

    /** The newest forget of this person (its progress or result), or undefined when there was none. */
    async forgetProgress(email: string): Promise<ForgetProgress | undefined> {
      const workflowId = forgetWorkflowId(hashEmail(config.emailHashKey, email));
      try {
        return await withDeadline(() => client.workflow.getHandle(workflowId).query(forgetProgressQuery));
      } catch (error) {
        if (error instanceof WorkflowNotFoundError) return undefined;
        throw new TemporalUnavailableError(`could not read the forget of this person: ${(error as Error).message}`, { cause: error });
      }
    },
  };
}

export type Forgetter = ReturnType<typeof createForgetter>;
