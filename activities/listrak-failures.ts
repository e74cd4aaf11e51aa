import { ApplicationFailure, log } from '@temporalio/activity';
import type { ListrakError } from '../src/listrak/errors';
import { POLICY_BY_FAILURE_TYPE, POLICY_BY_KIND, afterFailure, type ActivityFailureType, type AfterFailure } from '../src/listrak/retry-policy';
import type { ApplyResult, ConsentType } from '../src/shared';

/**
 * What a Listrak error makes of the change, as the retry policy's table says: the change's
 * `rejected` result when it is final, `awaiting_confirmation` when an opt-in's person is already
 * pending a double opt-in, else the ApplicationFailure Temporal retries or parks.
 */
export function outcomeOfListrakError(error: ListrakError, eventId: string, type: ConsentType = 'opt_in'): ApplyResult {
  const decided = afterFailure(error);
  // Waiting for a confirmation is an opt-in's outcome; an opt-out refused so keeps its kind's decision.
  const then = decided === 'awaiting_confirmation' && type !== 'opt_in' ? POLICY_BY_KIND[error.kind].then : decided;
  if (then === 'awaiting_confirmation') {
    log.info('the person is already pending a double opt-in in Listrak: waiting for their confirmation', { eventId });
    return { outcome: 'awaiting_confirmation', code: error.code };
  }
  if (then === 'final') {
    return { outcome: 'rejected', code: error.code, status: error.status, message: error.message };
  }
  // Parks, unless retried durably; so do "already done" and a refused profile value outside the
  // writes that expect them (one profile value's write; a subscribe without profile values).
  if (then !== 'durable_retry') log.error('Listrak refused a change: a person must act', { eventId, code: error.code });
  throw failureFor(then, error.message, POLICY_BY_KIND[error.kind].errorType, { status: error.status, code: error.code, kind: error.kind });
}

/** A failure of the activity that is not a Listrak answer, retryable or not as the table says. */
export function activityFailure(type: ActivityFailureType, message: string): ApplicationFailure {
  return failureFor(POLICY_BY_FAILURE_TYPE[type], message, type);
}

function failureFor(then: AfterFailure, message: string, type: string, ...details: unknown[]): ApplicationFailure {
  return then === 'durable_retry' ? ApplicationFailure.retryable(message, type, ...details) : ApplicationFailure.nonRetryable(message, type, ...details);
}
