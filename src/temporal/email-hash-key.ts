import { createHmac } from 'node:crypto';
import { Client, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { ConfigError, type Config } from '../config/config';
import type { emailHashKeyWorkflow } from '../../workflows/email-hash-key';

/**
 * One EMAIL_HASH_KEY per namespace. Ledgers are keyed by a keyed hash of the email: a process
 * with another key (the development key in a CLI, a typo in one deployment) would open a second
 * ledger for the same person and split ordering and de-duplication. The first process to connect
 * records the key's fingerprint in the memo of an open workflow with a fixed id; every process
 * compares its own before it writes, and refuses to run on a mismatch.
 *
 * The record is a workflow that waits forever (workflows/email-hash-key.ts): open workflows are
 * never deleted, a closed one would be after the namespace's retention. Started with the default
 * policies, the first start wins (a second gets "already started" and reads the memo back), and a
 * terminated record is replaced by the next start, with that process's key.
 */
export const EMAIL_HASH_KEY_WORKFLOW_ID = 'consent-service/email-hash-key';
const MEMO_FIELD = 'emailHashKeyFingerprint';
const FINGERPRINT_LABEL = 'listrak-consent-sync/email-hash-key-fingerprint/v1';

/** An HMAC of a fixed label under the key, truncated: tells keys apart, reveals nothing of them. */
export function emailHashKeyFingerprint(key: string): string {
  return createHmac('sha256', key).update(FINGERPRINT_LABEL).digest('hex').slice(0, 16);
}

export class EmailHashKeyMismatchError extends ConfigError {
  override name = 'EmailHashKeyMismatchError';
}

/** Positive answers per connection, namespace and fingerprint: one Temporal round trip per process. */
const confirmed = new WeakMap<object, Map<string, Promise<void>>>();

/**
 * Records this process's EMAIL_HASH_KEY fingerprint in the namespace if none is recorded, or
 * checks it against the recorded one; throws EmailHashKeyMismatchError on a mismatch, and the
 * client's error when Temporal cannot be reached (then the next call asks again).
 */
export function ensureEmailHashKeyFingerprint(client: Client, config: Readonly<Config>): Promise<void> {
  const fingerprint = emailHashKeyFingerprint(config.emailHashKey);
  const cacheKey = `${config.temporal.namespace}/${fingerprint}`;
  let byNamespace = confirmed.get(client.connection);
  if (!byNamespace) {
    byNamespace = new Map();
    confirmed.set(client.connection, byNamespace);
  }
  const known = byNamespace.get(cacheKey);
  if (known) return known;
  const check = recordOrCompare(client, config, fingerprint);
  byNamespace.set(cacheKey, check);
  check.catch(() => byNamespace.delete(cacheKey));
  return check;
}

async function recordOrCompare(client: Client, config: Readonly<Config>, fingerprint: string): Promise<void> {
  // Without the payload codec: the fingerprint is no secret, and in clear it reads the same with
  // every payload key (rotation included) and in the Temporal UI.
  const plain = new Client({ connection: client.connection, namespace: config.temporal.namespace });
  const handle = plain.workflow.getHandle(EMAIL_HASH_KEY_WORKFLOW_ID);
  // Twice at most: a record terminated between our start and our read is recorded again.
  for (let attempt = 1; ; attempt++) {
    try {
      // The default policies: refused while one runs (first writer wins), allowed once it closed.
      await plain.workflow.start<typeof emailHashKeyWorkflow>('emailHashKeyWorkflow', {
        workflowId: EMAIL_HASH_KEY_WORKFLOW_ID,
        taskQueue: config.temporal.taskQueue,
        memo: { [MEMO_FIELD]: fingerprint },
      });
      return;
    } catch (error) {
      if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
    }
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING' && attempt < 2) continue;
    const recorded = description.memo?.[MEMO_FIELD];
    if (recorded === fingerprint) return;
    throw new EmailHashKeyMismatchError(
      `EMAIL_HASH_KEY does not match the Temporal namespace '${config.temporal.namespace}': its ledgers are keyed by the key of fingerprint ` +
        `${typeof recorded === 'string' ? recorded : 'unknown'} (recorded in workflow ${EMAIL_HASH_KEY_WORKFLOW_ID}), this process has fingerprint ${fingerprint}. ` +
        'Another key would open a second ledger for every person. Set EMAIL_HASH_KEY to the key the service runs with; only if no ledger was ever ' +
        `written with the recorded key (a namespace started by mistake), terminate ${EMAIL_HASH_KEY_WORKFLOW_ID} and the next start records this key.`,
    );
  }
}
