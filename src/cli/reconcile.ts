// `npm run consent -- reconcile`: the reconciliation sweeps with Listrak. Without --now, what the
// Schedules did last and will do next; with --now, a sweep of each list at once, with progress.
import type { Client } from '@temporalio/client';
import type { Config } from '../config/config';
import { installReconcileSchedules, RECONCILE_SWEEPS, reconcileInputFor, createReconcileOverview, reconcileScheduleId } from '../consent/reconcile';
import type { Environment } from '../shared';
import type { RoutedList } from '../config/routing';
import { reconcileProgressQuery, reconcileWorkflow, type ReconcileResult } from '../../workflows/reconcile';
import { table } from './table';

export interface ReconcileOptions {
  json: boolean;
  environment?: string | undefined;
  dryRun: boolean;
  now: boolean;
}

/** The lists routes send to, of the environment asked for (all without --environment). */
function listsOf(config: Readonly<Config>, wanted: string | undefined): RoutedList[] {
  return config.listrak.routing.lists.filter((list) => wanted === undefined || list.environment === wanted);
}

const figuresRow = (result: Pick<ReconcileResult, 'figures' | 'pages'>) => [
  result.pages,
  result.figures.contactsRead,
  result.figures.externalOptOutsRecorded,
  result.figures.driftFound,
  result.figures.driftRepaired,
];
const FIGURE_HEADINGS = ['PAGES', 'CONTACTS READ', 'EXTERNAL OPT-OUTS', 'DRIFT FOUND', 'DRIFT REPAIRED'];

/**
 * Without `now`: the Schedules (installed or brought to the configured interval first) with their
 * next run and their last sweep's figures. With `now`: one sweep per list and kind, unsubscribes
 * first (from the Schedule's watermark), progress on stderr every 2 s, the figures at the end.
 * Exit 0, or 1 when a sweep failed; 3 when no environment has a list.
 */
export async function reconcile(client: Client, config: Readonly<Config>, options: ReconcileOptions, write = (text: string) => process.stdout.write(text)): Promise<number> {
  const lists = listsOf(config, options.environment);
  const overview = createReconcileOverview({ client, config, deadlineMs: 15_000 });
  if (lists.length === 0) {
    process.stderr.write(`no Listrak list is configured${options.environment ? ` for ${options.environment}` : ''}: nothing to reconcile\n`);
    return 3;
  }
  if (!options.now) {
    await installReconcileSchedules(client, config);
    const rows = await overview(options.environment as Environment | undefined);
    if (options.json) {
      write(`${JSON.stringify(rows, null, 2)}\n`);
      return 0;
    }
    write(
      `${table(
        ['SCHEDULE', 'LIST', 'MODE', 'NEXT RUN', 'LAST SWEEP FINISHED', ...FIGURE_HEADINGS, 'NOW'],
        rows.map((row) => [
          row.scheduleId,
          row.listName,
          row.mode,
          row.paused ? 'paused' : (row.nextRunAt ?? '–'),
          row.last?.finishedAt ?? 'never',
          ...(row.last ? figuresRow(row.last) : ['', '', '', '', '']),
          [row.running && `running since ${row.running.startedAt} (${row.running.pages} pages)`, row.lastFailed && `last run ${row.lastFailed.status}`]
            .filter(Boolean)
            .join('; '),
        ]),
      )}\n`,
    );
    return 0;
  }

  const results: ReconcileResult[] = [];
  let failed = false;
  for (const list of lists) {
    const { environment } = list;
    for (const sweep of RECONCILE_SWEEPS) {
      const input = reconcileInputFor(config, list, sweep);
      const [scheduled] = (await overview(environment)).filter((row) => row.listId === input.listId && row.sweep === sweep);
      // Unsubscribes since the Schedule's last sweep (none yet: every unsubscribe the list has).
      const since = sweep === 'unsubscribed' ? scheduled?.last?.watermark : undefined;
      const workflowId = `${reconcileScheduleId(environment, input.listId, sweep)}/now-${Date.now()}`;
      const handle = await client.workflow.start(reconcileWorkflow, {
        workflowId,
        taskQueue: config.temporal.taskQueue,
        args: [{ ...input, dryRun: options.dryRun, since }],
      });
      process.stderr.write(`${environment} list ${input.listId}: sweeping ${sweep} contacts${options.dryRun ? ' (dry run: nothing recorded or repaired)' : ''}: ${workflowId}\n`);
      const progress = setInterval(() => {
        void handle
          .query(reconcileProgressQuery)
          .then((view) => process.stderr.write(`  ${view.pages} pages, ${view.figures.contactsRead} contacts read, ${view.figures.externalOptOutsRecorded} external opt-outs, ${view.figures.driftFound} drifted\n`))
          .catch(() => undefined);
      }, 2_000);
      try {
        results.push(await handle.result());
      } catch (error) {
        failed = true;
        process.stderr.write(`  the sweep failed: ${(error as Error).message}\n`);
      } finally {
        clearInterval(progress);
      }
    }
  }
  if (options.json) write(`${JSON.stringify(results, null, 2)}\n`);
  else {
    write(
      `${table(
        ['ENVIRONMENT', 'LIST', 'SWEEP', 'MODE', ...FIGURE_HEADINGS],
        results.map((result) => [result.environment, result.listId, `${result.sweep}${result.dryRun ? ' (dry run)' : ''}`, result.mode, ...figuresRow(result)]),
      )}\n`,
    );
  }
  return failed ? 1 : 0;
}
