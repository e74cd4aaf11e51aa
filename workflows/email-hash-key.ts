import { condition } from '@temporalio/workflow';

/**
 * Holds, in its memo, the fingerprint of the EMAIL_HASH_KEY a namespace's ledgers are keyed by
 * (src/temporal/email-hash-key.ts starts it). It waits forever on purpose: an open workflow is
 * never deleted, while a closed one would vanish after the namespace's retention, and with it
 * the record. It needs no signal, timer or activity, so it costs nothing while it waits.
 */
export async function emailHashKeyWorkflow(): Promise<void> {
  await condition(() => false);
}
