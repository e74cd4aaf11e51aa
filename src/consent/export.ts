import type { Writable } from 'node:stream';
import { WorkflowNotFoundError, type Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { decodeArrayFromPayloads } from '@temporalio/common/lib/internal-non-workflow';
import type { Config } from '../config/config';
import { hashEmail, normalizeEmail } from './email';
import { CHANGE_WORKFLOW_TYPE, changeQuery, checkedEnvironment, type ChangeListing, type ListedOutcome } from './change-listing';
import { createTemporalReads, type PersonLedger } from './temporal-reads';
import { emailHashKey } from '../temporal/search-attributes';
import { listNameOf } from '../config/routing';
import { SEARCH_ATTRIBUTES, parseChangeWorkflowId, type ApplyChangeInput, type ChangeRecord, type Environment } from '../shared';

/**
 * One consent change as the audit trail keeps it: what was received, what became of it, what
 * Listrak answered and when it was written. Field names are the status answer's where they overlap.
 * It holds the email address: an export is personal data (docs/operations.md).
 */
export interface AuditRow {
  eventId: string;
  eventTime?: string | undefined;
  /** When the service first received the change (a redelivery counts in duplicatesSeen). */
  receivedAt?: string | undefined;
  type?: string | undefined;
  outcome: ListedOutcome;
  detail?: string | undefined;
  /** Listrak's answer code: its error code for a rejected change, its "already so" code for an applied one. */
  listrakCode?: string | undefined;
  /** When Listrak confirmed the write (applied changes). */
  appliedAt?: string | undefined;
  /** When the change workflow closed. */
  closedAt?: string | undefined;
  environment?: string | undefined;
  /** The route that sent the change to its list (absent for changes recorded before routes were named). */
  route?: string | undefined;
  listId?: number | null | undefined;
  /** The list's name in the routing (null: the unconfigured ledger, or a list the routing no longer has). */
  listName?: string | null | undefined;
  emailHash?: string | undefined;
  email?: string | undefined;
  changeWorkflowId?: string | undefined;
  ledgerWorkflowId?: string | undefined;
  duplicatesSeen?: number | undefined;
  /** Listrak activity attempts of the change workflow. */
  attempts?: number | undefined;
}

/** The columns of a CSV export, in order: every field of AuditRow. */
export const AUDIT_FIELDS = [
  'eventId',
  'eventTime',
  'receivedAt',
  'type',
  'outcome',
  'detail',
  'listrakCode',
  'appliedAt',
  'closedAt',
  'environment',
  'route',
  'listId',
  'listName',
  'emailHash',
  'email',
  'changeWorkflowId',
  'ledgerWorkflowId',
  'duplicatesSeen',
  'attempts',
] as const satisfies readonly (keyof AuditRow)[];
// A field added to AuditRow but not to the columns is a compile error here.
const everyFieldIsAColumn: Exclude<keyof AuditRow, (typeof AUDIT_FIELDS)[number]> extends never ? true : never = true;
void everyFieldIsAColumn;

export type AuditFormat = 'ndjson' | 'csv';

export interface ExportWindow {
  /** Change workflows started at or after this instant. */
  since?: Date | undefined;
  /** … and before this one (half-open, so consecutive windows neither overlap nor leave gaps). */
  until?: Date | undefined;
  environment?: string | undefined;
}

/** Change workflows of one person read for its history, at most. */
const HISTORY_LIMIT = 10_000;

/**
 * The audit trail: every change Temporal still holds, read from the ledgers (their last records)
 * and from the change workflows (through visibility, with their inputs and results).
 */
export function createAuditTrail({
  client,
  config,
  operations,
  concurrency = 16,
  deadlineMs = 15_000,
}: {
  client: Client;
  config: Readonly<Config>;
  operations: Pick<ChangeListing, 'describeChange'>;
  /** Change workflows read at once (each costs two history reads). */
  concurrency?: number;
  deadlineMs?: number;
}) {
  const reads = createTemporalReads({ client, config, deadlineMs });
  const { withDeadline } = reads;

  /** The change workflow's input: the change as received (its email is only in the payload, encrypted with TEMPORAL_PAYLOAD_KEY). */
  async function changeInput(info: WorkflowExecutionInfo): Promise<ApplyChangeInput | undefined> {
    const response = await withDeadline(() =>
      client.workflowService.getWorkflowExecutionHistory({
        namespace: config.temporal.namespace,
        execution: { workflowId: info.workflowId, runId: info.runId },
        maximumPageSize: 1,
      }),
    );
    const started = response.history?.events?.[0]?.workflowExecutionStartedEventAttributes;
    const [input] = await decodeArrayFromPayloads(client.options.loadedDataConverter, started?.input?.payloads);
    return input as ApplyChangeInput | undefined;
  }

  async function changeRow(info: WorkflowExecutionInfo): Promise<AuditRow> {
    const [view, input] = await Promise.all([operations.describeChange(info), changeInput(info)]);
    const change = input?.change;
    const email = change?.email;
    const environment = change?.environment ?? view.environment;
    const listId = input?.listId ?? view.listId;
    return {
      eventId: change?.eventId ?? view.eventId,
      eventTime: change?.eventTime ?? view.eventTime,
      receivedAt: change?.receivedAt,
      type: change?.type ?? view.type,
      outcome: view.outcome,
      detail: view.detail,
      listrakCode: view.listrakCode,
      appliedAt: view.appliedAt,
      closedAt: view.closedAt,
      environment,
      route: change?.route ?? view.route,
      listId,
      listName: listId === undefined ? view.listName : listNameOf(config.listrak.routing, environment as Environment, listId),
      emailHash: info.typedSearchAttributes.get(emailHashKey) ?? (email ? hashEmail(config.emailHashKey, email) : undefined),
      email,
      changeWorkflowId: info.workflowId,
      ledgerWorkflowId: input?.ledgerWorkflowId ?? parseChangeWorkflowId(info.workflowId)?.ledgerWorkflowId,
      attempts: view.attempts,
    };
  }

  /** Rows of the infos in their order, at most `concurrency` being read at once. */
  async function* rowsInOrder(infos: AsyncIterable<WorkflowExecutionInfo>): AsyncGenerator<AuditRow> {
    const reading: Promise<AuditRow>[] = [];
    const read = (info: WorkflowExecutionInfo) => {
      const row = changeRow(info);
      row.catch(() => undefined); // awaited in order below; a failure must not go unhandled meanwhile
      reading.push(row);
    };
    for await (const info of infos) {
      read(info);
      if (reading.length >= concurrency) yield await reading.shift()!;
    }
    while (reading.length > 0) yield await reading.shift()!;
  }

  function exportQuery({ since, until, environment }: ExportWindow): string {
    if (environment !== undefined) checkedEnvironment(environment);
    return changeQuery({ environment: config.temporal.searchAttributes ? environment : undefined, since, until });
  }

  async function mapLimited<T, R>(items: T[], fn: (item: T) => Promise<R>): Promise<R[]> {
    const results: R[] = [];
    for (let start = 0; start < items.length; start += concurrency) {
      results.push(...(await Promise.all(items.slice(start, start + concurrency).map(fn))));
    }
    return results;
  }

  return {
    /**
     * Every change workflow started in the window (newest first, as visibility lists them), as
     * rows, read a page at a time: memory stays flat however many there are.
     */
    exportChanges(window: ExportWindow = {}): AsyncGenerator<AuditRow> {
      const query = exportQuery(window);
      const wanted = window.environment;
      const indexed = config.temporal.searchAttributes;
      async function* infos() {
        for await (const info of client.workflow.list({ query, pageSize: 500 })) {
          // Without the ConsentEnvironment attribute the memo says the environment.
          if (!indexed && wanted !== undefined && (info.memo as { environment?: string } | undefined)?.environment !== wanted) continue;
          yield info;
        }
      }
      return rowsInOrder(infos());
    },

    /**
     * Every change received for a person, newest first: the ledgers' records (changes that never
     * needed a change workflow too: duplicates, not sent, superseded while waiting) merged with
     * the person's change workflows, which outlive the ledgers' last 100 records.
     */
    async history(address: string): Promise<{ emailHash: string; changes: AuditRow[]; truncated: boolean }> {
      const email = normalizeEmail(address);
      const emailHash = hashEmail(config.emailHashKey, email);
      const ledgers = await reads.personLedgers(email);

      const infos: WorkflowExecutionInfo[] = [];
      let truncated = false;
      if (config.temporal.searchAttributes) {
        const query = `WorkflowType = '${CHANGE_WORKFLOW_TYPE}' AND ${SEARCH_ATTRIBUTES.emailHash} = '${emailHash}'`;
        for await (const info of client.workflow.list({ query, pageSize: 500 })) {
          if (infos.length >= HISTORY_LIMIT) {
            truncated = true;
            break;
          }
          infos.push(info);
        }
      }
      // Visibility lags a moment behind (and is not searchable without the attributes): the
      // ledgers name their recent change workflows.
      const listed = new Set(infos.map((info) => info.workflowId));
      const named = [...new Set(ledgers.flatMap((ledger) => ledger.state.changes.map((record) => record.changeWorkflowId)))].filter(
        (id): id is string => id !== undefined && !listed.has(id),
      );
      const described = await mapLimited(named, (id) =>
        withDeadline(() => client.workflow.getHandle(id).describe()).then(
          (description): WorkflowExecutionInfo => ({ ...description, raw: description.raw.workflowExecutionInfo ?? {} }),
          (error: unknown) => {
            if (error instanceof WorkflowNotFoundError) return undefined; // past retention
            throw error;
          },
        ),
      );
      infos.push(...described.filter((info) => info !== undefined));

      const rows = await mapLimited(infos, changeRow);
      // Several runs of one change workflow (terminated, then retried): the ledger's record is the newest run's.
      const newestRun = new Map<string, AuditRow>();
      for (const row of [...rows].sort((a, b) => (b.closedAt ?? '9').localeCompare(a.closedAt ?? '9'))) {
        if (row.changeWorkflowId && !newestRun.has(row.changeWorkflowId)) newestRun.set(row.changeWorkflowId, row);
      }
      for (const { key, workflowId, state } of ledgers) {
        for (const record of state.changes) {
          const row = record.outcome !== 'duplicate' && record.changeWorkflowId ? newestRun.get(record.changeWorkflowId) : undefined;
          if (row) mergeRecord(row, record);
          else rows.push(ledgerRow({ key, workflowId, state }, record, email, listNameOf(config.listrak.routing, key.environment, key.listId)));
        }
      }
      rows.sort((a, b) => (b.receivedAt ?? '').localeCompare(a.receivedAt ?? '') || (b.eventTime ?? '').localeCompare(a.eventTime ?? ''));
      return { emailHash, changes: rows, truncated };
    },
  };
}

export type AuditTrail = ReturnType<typeof createAuditTrail>;

/** The ledger decides a change's outcome (as the status answer shows it) once it is past applying. */
function mergeRecord(row: AuditRow, record: ChangeRecord): void {
  if (record.outcome !== 'applying') {
    row.outcome = record.outcome;
    row.detail = record.detail ?? row.detail;
  }
  row.listrakCode = record.listrakCode ?? row.listrakCode;
  row.receivedAt = record.receivedAt;
  row.duplicatesSeen = record.duplicatesSeen;
  row.route = record.route ?? row.route;
}

function ledgerRow(
  { key, workflowId, state }: PersonLedger,
  record: ChangeRecord,
  email: string,
  listName: string | null,
): AuditRow {
  return {
    eventId: record.eventId,
    eventTime: record.eventTime,
    receivedAt: record.receivedAt,
    type: record.type,
    outcome: record.outcome,
    detail: record.detail,
    listrakCode: record.listrakCode,
    appliedAt: record.outcome === 'applied' && state.applied?.eventId === record.eventId ? state.applied.appliedAt : undefined,
    environment: key.environment,
    route: record.route,
    listId: key.listId,
    listName,
    emailHash: key.emailHash,
    email: state.email || email,
    changeWorkflowId: record.changeWorkflowId,
    ledgerWorkflowId: workflowId,
    duplicatesSeen: record.duplicatesSeen,
  };
}

/** One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break. */
function csvField(value: string | number | null | undefined): string {
  if (value === undefined || value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** A row as one line of the format, with its line break. */
export function formatRow(row: AuditRow, format: AuditFormat): string {
  if (format === 'ndjson') return `${JSON.stringify(row)}\n`;
  return `${AUDIT_FIELDS.map((field) => csvField(row[field])).join(',')}\r\n`;
}

export interface ExportProgress {
  rows: number;
  elapsedMs: number;
  done: boolean;
}

/**
 * Writes rows to `out` as they come (waiting when `out` is full), reporting progress every
 * `progressEveryRows` rows or `progressEveryMs`, whichever comes first, and once at the end.
 */
export async function writeExport(
  rows: AsyncIterable<AuditRow>,
  out: Writable,
  {
    format,
    onProgress,
    progressEveryRows = 10_000,
    progressEveryMs = 5_000,
  }: { format: AuditFormat; onProgress?: (progress: ExportProgress) => void; progressEveryRows?: number; progressEveryMs?: number },
): Promise<number> {
  const started = Date.now();
  let lastReport = started;
  let count = 0;
  const write = async (text: string) => {
    if (!out.write(text)) {
      await new Promise<void>((resolve, reject) => {
        const onError = (error: Error) => reject(error);
        out.once('error', onError);
        out.once('drain', () => {
          out.off('error', onError);
          resolve();
        });
      });
    }
  };
  if (format === 'csv') await write(`${AUDIT_FIELDS.join(',')}\r\n`);
  for await (const row of rows) {
    await write(formatRow(row, format));
    count++;
    const now = Date.now();
    if (onProgress && (count % progressEveryRows === 0 || now - lastReport >= progressEveryMs)) {
      lastReport = now;
      onProgress({ rows: count, elapsedMs: now - started, done: false });
    }
  }
  onProgress?.({ rows: count, elapsedMs: Date.now() - started, done: true });
  return count;
}
