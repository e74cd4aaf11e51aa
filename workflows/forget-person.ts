import { defineQuery, proxyActivities, setHandler, sleep } from '@temporalio/workflow';
import { QUERIES, type ForgetInput, type ForgetProgress } from '../src/shared';
import type { ForgetActivities } from '../activities';

export const forgetProgressQuery = defineQuery<ForgetProgress>(QUERIES.forgetProgress);

// Each ledger is told, then awaited until its run carries no email: minutes at most.
const { forgetLedgers, deletePersonWorkflows } = proxyActivities<ForgetActivities>({
  startToCloseTimeout: '5 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
// Listrak's Privacy API: one status request per attempt, under its published rate limit (the activity waits its turn).
const { privacyForgetStatus } = proxyActivities<ForgetActivities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '10 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes' },
});

const DEFAULT_MAX_POLLS = 2_000;

/**
 * Forgets a person (`consent forget`, POST /consents/{email}/forget). Its input and history carry
 * only the keyed hash of the email: the API sent Listrak's forget request itself before starting
 * it. It (1) tells each of the person's ledgers to forget (each keeps a tombstone and continues as
 * new without the email), (2) deletes the person's earlier ledger runs and change workflows, whose
 * histories hold the email, and (3) follows Listrak's request until COMPLETE.
 */
export async function forgetPersonWorkflow(input: ForgetInput): Promise<ForgetProgress> {
  const progress: ForgetProgress = {
    emailHash: input.emailHash,
    requestedBy: input.requestedBy,
    requestedAt: input.requestedAt,
    phase: 'forgetting_ledgers',
    ledgers: [],
    privacy: input.privacy,
  };
  setHandler(forgetProgressQuery, () => progress);

  progress.ledgers = await forgetLedgers(input);
  progress.phase = 'deleting_workflows';
  progress.deletedWorkflows = await deletePersonWorkflows({
    emailHash: input.emailHash,
    requestedAt: input.requestedAt,
    ledgers: progress.ledgers,
  });

  if (input.privacy.asked) {
    progress.phase = 'following_listrak';
    const maxPolls = input.maxPolls ?? DEFAULT_MAX_POLLS;
    let privacy = input.privacy;
    while (privacy.status !== 'COMPLETE' && privacy.polls < maxPolls) {
      await sleep(input.pollIntervalMs);
      const answer = await privacyForgetStatus(privacy.requestId);
      privacy = { ...privacy, ...answer, polls: privacy.polls + 1 };
      progress.privacy = privacy;
    }
  }
  progress.phase = 'done';
  progress.completedAt = new Date().toISOString();
  return progress;
}
