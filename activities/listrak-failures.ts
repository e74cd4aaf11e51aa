import { ApplicationFailure, log } from '@temporalio/activity';
import type { ListrakError } from '../src/listrak/errors';
import { POLICY_BY_KIND } from '../src/listrak/retry-policy';
import type { ApplyResult } from '../src/shared';

/**
 * What a Listrak error makes of the change, as the retry policy's table says: the change's
 * `rejected` result when it is final, else the ApplicationFailure Temporal retries or parks.
 */
export function outcomeOfListrakError(error: ListrakError, eventId: string): ApplyResult {
  const policy = POLICY_BY_KIND[error.kind];
  if (policy.then === 'final') {
    return { outcome: 'rejected', code: error.code, status: error.status, message: error.message };
  }
  const details = [{ status: error.status, code: error.code, kind: error.kind }];
  if (policy.then === 'durable_retry') throw ApplicationFailure.retryable(error.message, policy.errorType, ...details);
  // Parks; so does an "already done" answer outside a tolerant write (one profile value's write).
  log.error('Listrak refused a change: a person must act', { eventId, code: error.code });
  throw ApplicationFailure.nonRetryable(error.message, policy.errorType, ...details);
}
