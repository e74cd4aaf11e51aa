import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Config } from '../src/config/config';
import type { ListrakClient } from '../src/listrak/client';
import { metrics } from '../src/observability/metrics';
import type { DoubleOptInConfirmation, Environment, ListrakUnsubscribe } from '../src/shared';
import { activityFailure } from './listrak-failures';
import { parseListrakDate } from './listrak-activities';
import { listOf } from '../src/config/routing';

/** What reconciliation counts; added up page by page, carried over continue-as-new. */
export interface ReconcileFigures {
  contactsRead: number;
  /** Listrak-side unsubscribes newer than everything the person's ledger held: recorded there. */
  externalOptOutsRecorded: number;
  /** Unsubscribes the ledger knew already (recorded earlier, written by this service, or older than its newest change). */
  unsubscribesKnown: number;
  /** Contacts without a readable unsubscribe date (left alone). */
  unreadableDates: number;
  /** Contacts subscribed in Listrak whose ledger's newest change is an opt-out. */
  driftFound: number;
  /** Of those, written again as opt-outs (RECONCILE_MODE=repair). */
  driftRepaired: number;
}


export type ReconcileMode = 'report' | 'repair';
/** `unsubscribed`: Listrak-side unsubscribes since the watermark; `subscribed`: the full sweep for drift. */
export type ReconcileSweep = 'unsubscribed' | 'subscribed';

export interface ReconcilePageInput {
  environment: Environment;
  listId: number;
  sweep: ReconcileSweep;
  mode: ReconcileMode;
  /** Nothing recorded, signalled or written: counts only. */
  dryRun: boolean;
  startDate?: string | undefined;
  endDate?: string | undefined;
  cursor?: string | undefined;
  count: number;
}

export interface ReconcilePageResult {
  figures: ReconcileFigures;
  nextCursor: string | undefined;
  /** Email hashes (never addresses) of the contacts found drifted on this page. */
  drifted: string[];
}

/**
 * The ledgers as reconciliation sees them, given by the worker's caller (src/consent/reconcile.ts
 * implements it: the ledger key and email hash live there).
 */
/** The list whose ledgers a sweep talks to (a person has one ledger per environment and list). */
export interface LedgerList {
  environment: Environment;
  listId: number;
}

export interface ReconcileLedgers {
  /** Records the unsubscribe in the person's ledger (signal-with-start) unless it knows it; whether it did. */
  recordListrakUnsubscribe(list: LedgerList, unsubscribe: ListrakUnsubscribe, options: { dryRun: boolean }): Promise<'recorded' | 'known'>;
  /**
   * What the person's ledger says of a contact Listrak holds subscribed: `optedOut`, their email
   * hash, when its newest change is an opt-out (drift); `awaitingConfirmation`, that opt-in's event
   * id, when its newest change awaited their double opt-in confirmation; neither otherwise.
   */
  ofSubscribed(list: LedgerList, email: string): Promise<{ optedOut?: string; awaitingConfirmation?: string }>;
  /** Tells the person's ledger they confirmed its opt-in's double opt-in (signal-with-start). */
  confirmDoubleOptIn(list: LedgerList, email: string, confirmation: DoubleOptInConfirmation): Promise<void>;
  /** Asks the ledger to write its newest opt-out again (the normal change path); whether it was asked. */
  reapplyOptOut(list: LedgerList, email: string, reason: string): Promise<boolean>;
}

export interface ReconcileActivityDeps {
  client: ListrakClient;
  config: Readonly<Config>;
  ledgers?: ReconcileLedgers | undefined;
}

/** Reconciliation's one activity: a page of Listrak's contacts, each told to its ledger. */
export function createReconcileActivities({ client, config, ledgers }: ReconcileActivityDeps) {
  return {
    async reconcilePage(input: ReconcilePageInput): Promise<ReconcilePageResult> {
      const target = listOf(config.listrak.routing, input.environment, input.listId);
      if (!target) {
        throw activityFailure('ListrakNotConfigured', `no Listrak credentials for list ${input.listId} in ${input.environment}`);
      }
      if (!ledgers) throw ApplicationFailure.nonRetryable('this worker was started without the ledgers reconciliation talks to (createConsentWorker reconcileLedgers)', 'ReconcileNotConfigured');
      const list: LedgerList = { environment: input.environment, listId: input.listId };
      const context = Context.current();
      const progress = () => context.heartbeat();
      const page = await client.getContactPage(
        target,
        {
          subscriptionState: input.sweep === 'unsubscribed' ? 'Unsubscribed' : 'Subscribed',
          startDate: input.startDate,
          endDate: input.endDate,
          cursor: input.cursor,
          count: input.count,
        },
        { signal: context.cancellationSignal, progress },
      );
      const figures: ReconcileFigures = { contactsRead: page.contacts.length, externalOptOutsRecorded: 0, unsubscribesKnown: 0, unreadableDates: 0, driftFound: 0, driftRepaired: 0 };
      const drifted: string[] = [];
      for (const contact of page.contacts) {
        progress();
        if (input.sweep === 'unsubscribed') {
          const unsubscribedAtMs = parseListrakDate(contact.unsubscribeDate ?? '');
          if (unsubscribedAtMs === undefined) {
            figures.unreadableDates++;
            continue;
          }
          const unsubscribe: ListrakUnsubscribe = {
            email: contact.emailAddress,
            unsubscribeDate: contact.unsubscribeDate ?? '',
            unsubscribedAtMs,
            method: contact.unsubscribeMethod ?? 'unknown',
          };
          const outcome = await ledgers.recordListrakUnsubscribe(list, unsubscribe, { dryRun: input.dryRun });
          if (outcome === 'recorded') figures.externalOptOutsRecorded++;
          else figures.unsubscribesKnown++;
          continue;
        }
        const ledger = await ledgers.ofSubscribed(list, contact.emailAddress);
        if (ledger.awaitingConfirmation !== undefined) {
          // Subscribed now: the person confirmed the double opt-in their newest opt-in asked for.
          const confirmation = { eventId: ledger.awaitingConfirmation, subscribeDate: contact.resubscribeDate ?? contact.subscribeDate ?? 'unknown', method: contact.subscribeMethod ?? 'unknown' };
          if (!input.dryRun) await ledgers.confirmDoubleOptIn(list, contact.emailAddress, confirmation);
          continue;
        }
        const emailHash = ledger.optedOut;
        if (emailHash === undefined) continue;
        figures.driftFound++;
        drifted.push(emailHash);
        if (input.mode !== 'repair' || input.dryRun) continue;
        const reason = `subscribed in Listrak (method ${contact.subscribeMethod ?? 'unknown'}, since ${contact.resubscribeDate ?? contact.subscribeDate ?? 'unknown'}) although the newest change is an opt-out`;
        if (await ledgers.reapplyOptOut(list, contact.emailAddress, reason)) figures.driftRepaired++;
      }
      // Counted per attempt: a retried page counts again here (the workflow's figures do not).
      const { environment, dryRun } = input;
      if (!dryRun) {
        metrics.reconcileContactsRead.inc({ environment, sweep: input.sweep }, figures.contactsRead);
        metrics.reconcileExternalOptOuts.inc({ environment }, figures.externalOptOutsRecorded);
        metrics.reconcileDriftFound.inc({ environment }, figures.driftFound);
        metrics.reconcileDriftRepaired.inc({ environment }, figures.driftRepaired);
      }
      return { figures, nextCursor: page.nextCursor, drifted };
    },
  };
}

export type ReconcileActivities = ReturnType<typeof createReconcileActivities>;
