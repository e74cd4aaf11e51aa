import { createHash } from 'node:crypto';
import type { Config } from '../config/config';
import { hashEmail } from './email';
import { createTemporalIntake, routeChanges, type IntakeOptions } from './intake';
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
export function createOptOutExportRecorder({ client, config, deadlineMs = 15_000 }: Pick<IntakeOptions, 'client' | 'config' | 'deadlineMs'>) {
  const intake = createTemporalIntake({ client, config, deadlineMs });
  const reads = createTemporalReads({ client, config, deadlineMs: Math.min(deadlineMs, 5_000) });
  let checkFailure: string | undefined;

  async function alreadyRecorded(event: ExtoleConsentEvent): Promise<boolean | undefined> {
    if (checkFailure !== undefined) return undefined;
    try {
      // Every ledger the opt-out goes to must hold it: a run stopped between two lists sends the rest.
      const ledgers = await Promise.all(routeChanges(config, event).map(({ key }) => reads.personLedger(key.environment, event.email, key.listId)));
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
      await intake.record([event]);
      return known === undefined ? 'unchecked' : 'recorded';
    },
    /** Why the duplicate check stopped, if it did (the first ledger that could not be asked). */
    checkFailure: () => checkFailure,
  };
}

export type OptOutExportRecorder = ReturnType<typeof createOptOutExportRecorder>;

/** The opt-out an export row stands for, before validation: dated at the export time. */
export function exportOptOut(row: { email: string; exportedAt: Date; environment: Environment }) {
  return { event_id: 'pending', event_time: row.exportedAt.toISOString(), type: 'opt_out', email: row.email, environment: row.environment };
}
