import type { Client } from '@temporalio/client';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SEARCH_ATTRIBUTES } from '../shared';
import type { ListrakObserver } from '../listrak/client';

/**
 * The service's Prometheus metrics (prom-client), one registry per process. The API process
 * counts intake; a worker process counts outcomes (reported by the workflows through a sink) and
 * Listrak requests. docs/operations.md lists them with example queries.
 */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

const registers = [registry];

/** A counter in this service's registry. */
function counter<Label extends string>(name: string, help: string, labelNames: readonly Label[]): Counter<Label> {
  return new Counter({ name, help, labelNames, registers });
}

export const metrics = {
  webhookRequests: counter(
    'consent_webhook_requests_total',
    'Webhook requests by answer: accepted, or the reason they were refused',
    ['outcome'],
  ),
  eventsRefused: counter(
    'consent_events_refused_total',
    'Problems of events refused at intake (one per problem), by documented field and reason: missing, invalid, not_an_object',
    ['field', 'reason'],
  ),
  // Changes are counted per (event, list): `list` and `route` are the routing's names (none: no
  // list, or no route; other: a name the routing no longer has), never values from events.
  changesReceived: counter(
    'consent_changes_received_total',
    'Consent changes in valid webhook requests (before recording), one per list an event is routed to',
    ['environment', 'type', 'list', 'route'],
  ),
  changesAccepted: counter(
    'consent_changes_accepted_total',
    'Consent changes durably recorded in Temporal (answered 200), one per list an event is routed to',
    ['environment', 'type', 'list', 'route'],
  ),
  changesUnrouted: counter(
    'consent_changes_unrouted_total',
    'Consent changes recorded as not sent because no route (or no list of their environment) takes them',
    ['environment', 'list', 'route'],
  ),
  changesDuplicate: counter(
    'consent_changes_duplicate_total',
    'Redelivered consent changes (same event id) that ledgers ignored',
    ['environment', 'list', 'route'],
  ),
  changeOutcomes: counter(
    'consent_change_outcomes_total',
    'Consent changes reaching an outcome: applied, awaiting_confirmation, superseded, parked, rejected, skipped, not_sent, failed',
    ['environment', 'outcome', 'list', 'route'],
  ),
  intakeDuration: new Histogram({
    name: 'consent_intake_duration_seconds',
    help: 'Time to record a webhook request in Temporal, by result',
    labelNames: ['result'] as const,
    buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers,
  }),
  listrakRequestDuration: new Histogram({
    name: 'listrak_request_duration_seconds',
    help: 'Listrak HTTP requests by operation and status (0: no answer: timeout, refused, reset)',
    labelNames: ['operation', 'status'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25],
    registers,
  }),
  listrakErrors: counter(
    'listrak_errors_total',
    "Listrak failures by operation and Listrak's error code",
    ['operation', 'code'],
  ),
  listrakTokenRequests: counter(
    'listrak_token_requests_total',
    'OAuth token requests (cache misses and renewals) by result',
    ['result'],
  ),
  /** Reconciliation (#15), by environment and sweep (unsubscribed, subscribed); see ReconcileFigures. */
  reconcileContactsRead: counter('reconcile_contacts_read_total', 'Contacts read from Listrak by reconciliation', ['environment', 'sweep']),
  reconcileExternalOptOuts: counter('reconcile_external_opt_outs_total', 'Unsubscribes made in Listrak recorded in ledgers as external opt-outs', ['environment']),
  reconcileDriftFound: counter('reconcile_drift_found_total', 'Contacts subscribed in Listrak whose ledger says opt-out', ['environment']),
  reconcileDriftRepaired: counter('reconcile_drift_repaired_total', 'Drifted contacts whose opt-out was written again (RECONCILE_MODE=repair)', ['environment']),
};

/** Feeds the Listrak client's observations into the metrics above. */
export const listrakMetrics: ListrakObserver = {
  request(operation, status, seconds) {
    metrics.listrakRequestDuration.observe({ operation, status: String(status) }, seconds);
  },
  error(operation, code) {
    metrics.listrakErrors.inc({ operation, code });
  },
  token(result) {
    metrics.listrakTokenRequests.inc({ result });
  },
};

/** The change workflow's type (workflows/apply-change.ts): ledgers carry ConsentOutcome too. */
const CHANGE_WORKFLOW_TYPE = 'applyConsentChangeWorkflow';

/** Visibility query for the changes that wait for a person now. */
export const PARKED_NOW_QUERY = `WorkflowType = '${CHANGE_WORKFLOW_TYPE}' AND ${SEARCH_ATTRIBUTES.outcome} = 'parked' AND ExecutionStatus = 'Running'`;

/**
 * `consent_changes_parked`: changes parked now, counted in Temporal's visibility at scrape time
 * (at most once per `refreshMs`; a failed count leaves the last value), so the figure survives
 * restarts and needs no worker. Counted by the API process: it runs whenever intake does, while
 * workers may be scaled to none. Every API replica reports the same figure: aggregate with max().
 */
export function observeParkedChanges(
  count: () => Promise<number>,
  { refreshMs = 30_000, onError }: { refreshMs?: number; onError?: (error: Error) => void } = {},
): Gauge {
  let countedAt = 0;
  let inFlight: Promise<void> | undefined;
  const existing = registry.getSingleMetric('consent_changes_parked');
  if (existing) registry.removeSingleMetric('consent_changes_parked');
  const gauge: Gauge = new Gauge({
    name: 'consent_changes_parked',
    help: "Consent changes parked now (waiting for a person's retry or skip), from Temporal visibility",
    registers,
    async collect() {
      if (Date.now() - countedAt < refreshMs) return;
      inFlight ??= count()
        .then((value) => {
          gauge.set(value);
          countedAt = Date.now();
        })
        .catch((error: unknown) => onError?.(error as Error))
        .finally(() => {
          inFlight = undefined;
        });
      await inFlight;
    },
  });
  return gauge;
}

/** The count observeParkedChanges needs, from a Temporal client. */
export function parkedChangesCounter(client: Client, deadlineMs = 2_000): () => Promise<number> {
  return () =>
    client.connection.withDeadline(Date.now() + deadlineMs, async () => (await client.workflow.count(PARKED_NOW_QUERY)).count);
}
