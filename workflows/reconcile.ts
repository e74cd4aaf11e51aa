import { continueAsNew, defineQuery, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { ReconcileActivities, ReconcileFigures, ReconcileMode, ReconcileSweep } from '../activities';
import type { Environment } from '../src/shared';

/** Contacts per Listrak page (Listrak allows up to 5000). */
export const DEFAULT_RECONCILE_PAGE_SIZE = 1000;
/** Pages per run before continue-as-new: the history stays short on a list of millions. */
export const DEFAULT_PAGES_PER_RUN = 100;
/**
 * Each sweep starts this long before the previous one ended: an unsubscribe Listrak dates a little
 * before it shows in the collection is still found. The ledger knows the ones read twice.
 */
export const WATERMARK_OVERLAP_MS = 5 * 60_000;

/** Drifted email hashes a result keeps (the count has them all). */
const DRIFT_SAMPLE = 100;

// One page per activity, on the consent task queue: the queue's Listrak rate limit covers it.
const { reconcilePage } = proxyActivities<ReconcileActivities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', nonRetryableErrorTypes: ['ReconcileNotConfigured', 'ListrakNotConfigured'] },
});

export interface ReconcileInput {
  environment: Environment;
  listId: number;
  sweep: ReconcileSweep;
  mode: ReconcileMode;
  dryRun?: boolean;
  pageSize?: number;
  pagesPerRun?: number;
  /** Unsubscribes since this date; default the watermark of the schedule's previous run (none: every unsubscribe). */
  since?: string;
  /** A sweep under way, carried over continue-as-new. */
  resume?: ReconcileProgress;
}

/** Where a sweep is: everything it needs to go on after continue-as-new or a lost worker. */
export interface ReconcileProgress {
  since: string | undefined;
  until: string;
  cursor: string;
  pages: number;
  figures: ReconcileFigures;
  drifted: string[];
}

/** How far a running sweep is (`npm run consent -- reconcile --now` shows it as it goes). */
export interface ReconcileProgressView {
  since: string | undefined;
  until: string;
  pages: number;
  figures: ReconcileFigures;
}

export const reconcileProgressQuery = defineQuery<ReconcileProgressView>('reconcileProgress');

export interface ReconcileResult {
  environment: Environment;
  listId: number;
  sweep: ReconcileSweep;
  mode: ReconcileMode;
  dryRun: boolean;
  since: string | undefined;
  /** The next sweep of unsubscribes starts here (less WATERMARK_OVERLAP_MS). */
  watermark: string;
  pages: number;
  figures: ReconcileFigures;
  /** Email hashes of drifted contacts (at most DRIFT_SAMPLE). */
  drifted: string[];
  finishedAt: string;
}

/**
 * One sweep of a list's contacts in Listrak, one page at a time: `unsubscribed` reads the
 * unsubscribes made since the last sweep and tells each person's ledger; `subscribed` reads every
 * subscribed contact and finds the ones whose ledger says opt-out (drift). Run by a Schedule per
 * environment and list (src/consent/reconcile.ts); the watermark is the previous run's result.
 */
export async function reconcileWorkflow(input: ReconcileInput): Promise<ReconcileResult> {
  const previous = workflowInfo().lastResult as ReconcileResult | undefined;
  const resume = input.resume;
  const dryRun = input.dryRun ?? false;
  const watermark = input.since ?? (previous?.sweep === input.sweep && !previous.dryRun ? previous.watermark : undefined);
  const since = resume ? resume.since : watermark === undefined ? undefined : new Date(Date.parse(watermark) - WATERMARK_OVERLAP_MS).toISOString();
  const until = resume?.until ?? new Date().toISOString();
  const figures: ReconcileFigures = { ...(resume?.figures ?? ZERO) };
  const drifted = [...(resume?.drifted ?? [])];
  const pagesPerRun = input.pagesPerRun ?? DEFAULT_PAGES_PER_RUN;
  let cursor = resume?.cursor;
  let pages = resume?.pages ?? 0;
  setHandler(reconcileProgressQuery, () => ({ since, until, pages, figures: { ...figures } }));
  for (let pagesThisRun = 0; ; ) {
    const page = await reconcilePage({
      environment: input.environment,
      listId: input.listId,
      sweep: input.sweep,
      mode: input.mode,
      dryRun,
      startDate: input.sweep === 'unsubscribed' ? since : undefined,
      endDate: input.sweep === 'unsubscribed' ? until : undefined,
      cursor,
      count: input.pageSize ?? DEFAULT_RECONCILE_PAGE_SIZE,
    });
    for (const key of Object.keys(figures) as (keyof ReconcileFigures)[]) figures[key] += page.figures[key];
    drifted.push(...page.drifted.slice(0, Math.max(0, DRIFT_SAMPLE - drifted.length)));
    pages++;
    pagesThisRun++;
    cursor = page.nextCursor;
    if (cursor === undefined) break;
    if (pagesThisRun >= pagesPerRun || workflowInfo().continueAsNewSuggested) {
      await continueAsNew<typeof reconcileWorkflow>({ ...input, resume: { since, until, cursor, pages, figures, drifted } });
    }
  }
  log.info('reconciliation sweep finished', { environment: input.environment, sweep: input.sweep, pages, ...figures });
  return { environment: input.environment, listId: input.listId, sweep: input.sweep, mode: input.mode, dryRun, since, watermark: until, pages, figures, drifted, finishedAt: new Date().toISOString() };
}

const ZERO: ReconcileFigures = { contactsRead: 0, externalOptOutsRecorded: 0, unsubscribesKnown: 0, unreadableDates: 0, driftFound: 0, driftRepaired: 0 };
