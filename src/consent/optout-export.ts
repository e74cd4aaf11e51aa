import { createHash } from 'node:crypto';
import type { Config } from '../config/config';
import { hashEmail } from './email';
import { createTemporalIntake, routeChanges, TemporalUnavailableError, type IntakeOptions } from './intake';
import { createTemporalReads } from './temporal-reads';
import type { Environment, ExtoleConsentEvent } from '../shared';

/** Extole exports one opt-out list per program side, named `ADVOCATE-….csv` or `FRIEND-….csv`. */
export const EXPORT_KINDS = ['advocate', 'friend'] as const;
export type ExportKind = (typeof EXPORT_KINDS)[number];

/**
 * The event id of one row of an opt-out export: the same export time, kind and person give the
 * same id, so importing a file again is a duplicate in the ledger. The email enters only as its
 * keyed hash.
 */
export function optOutExportEventId(config: Readonly<Config>, row: { kind: ExportKind; exportedAtMs: number; email: string }): string {
  const content = ['extole-optout-export', row.kind, row.exportedAtMs, hashEmail(config.emailHashKey, row.email)].join('|');
  return `optout-export-${row.kind}-${createHash('sha256').update(content).digest('hex').slice(0, 32)}`;
}

/** What became of one row: a new opt-out in its ledger, or one the ledger already holds. */
export type ExportRowOutcome = 'recorded' | 'duplicate' | 'unchecked';

/**
 * Records opt-outs of an export through the webhook's intake (the ledger's signal-with-start), so
 * the ledger's ordering rule decides against newer opt-ins. Before each signal the person's ledger
 * is asked whether it holds the row's event id already: then nothing is sent and the row counts
 * as a duplicate. Where the ledgers cannot be asked (no worker answering queries), the rows are
 * signalled unchecked from then on: the ledgers still drop a duplicate, it is only not counted.
 */
export function createOptOutExportRecorder({
  client,
  config,
  deadlineMs = 15_000,
  retryDelaysMs = ROW_RETRY_DELAYS_MS,
}: Pick<IntakeOptions, 'client' | 'config' | 'deadlineMs'> & { retryDelaysMs?: readonly number[] }) {
  const intake = createTemporalIntake({ client, config, deadlineMs });
  const reads = createTemporalReads({ client, config, deadlineMs: Math.min(deadlineMs, 5_000) });
  let checkFailure: string | undefined;
  let retries = 0;
  const onRetry = () => void retries++;

  async function alreadyRecorded(event: ExtoleConsentEvent): Promise<boolean | undefined> {
    if (checkFailure !== undefined) return undefined;
    try {
      // Every ledger the opt-out goes to must hold it: a run stopped between two lists sends the rest.
      const ledgers = await retrying(
        () => Promise.all(routeChanges(config, event).map(({ key }) => reads.personLedger(key.environment, event.email, key.listId))),
        retryDelaysMs,
        onRetry,
      );
      return ledgers.every((ledger) => ledger?.state.changes.some((change) => change.eventId === event.eventId) ?? false);
    } catch (error) {
      checkFailure = (error as Error).message;
      return undefined;
    }
  }

  return {
    async record(event: ExtoleConsentEvent): Promise<ExportRowOutcome> {
      const known = await alreadyRecorded(event);
      if (known === true) return 'duplicate';
      // The row's event id is derived from the row: a signal sent twice is a duplicate in the ledger.
      await retrying(() => intake.record([event]), retryDelaysMs, onRetry);
      return known === undefined ? 'unchecked' : 'recorded';
    },
    /** Why the duplicate check stopped, if it did (the first ledger that could not be asked, after its retries). */
    checkFailure: () => checkFailure,
    /** Temporal calls that failed and were tried again (a busy or restarting server). */
    retries: () => retries,
  };
}

/**
 * Waits before each new try of a row whose Temporal call did not go through: about half a minute
 * in all, so a server that is busy or restarting does not stop an import of 100,000 rows.
 */
export const ROW_RETRY_DELAYS_MS: readonly number[] = [500, 1_000, 2_000, 4_000, 8_000, 15_000];

/**
 * Runs `call`, and again after each delay while it fails with TemporalUnavailableError (Temporal
 * out of reach or past the deadline); any other error, or the last failure, is thrown.
 */
export async function retrying<T>(call: () => Promise<T>, delaysMs: readonly number[], onRetry: (error: Error) => void = () => undefined): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const delay = delaysMs[attempt];
      if (!(error instanceof TemporalUnavailableError) || delay === undefined) throw error;
      onRetry(error);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

export type OptOutExportRecorder = ReturnType<typeof createOptOutExportRecorder>;

/** The opt-out an export row stands for, before validation: dated at the export time. */
export function exportOptOut(row: { email: string; exportedAt: Date; environment: Environment }) {
  return { event_id: 'pending', event_time: row.exportedAt.toISOString(), type: 'opt_out', email: row.email, environment: row.environment };
}
