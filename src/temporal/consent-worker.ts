import { Client } from '@temporalio/client';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import type { WorkflowInfo } from '@temporalio/workflow';
import { NativeConnection, Worker, type InjectedSinks, type WorkerDeploymentOptions, type WorkerOptions } from '@temporalio/worker';
import { createForgetActivities, createLedgerActivities, createListrakActivities, createReconcileActivities, type ReconcileLedgers } from '../../activities';
import type { Config } from '../config/config';
import { ListrakClient, type ListrakClientOptions } from '../listrak/client';
import { privacyApiFor } from '../listrak/privacy-api';
import { logger } from '../observability/log';
import { listrakMetrics, metrics } from '../observability/metrics';
import { activeTracing } from '../observability/tracing';
import { QUERIES, ledgerKeyOfWorkflow, type ConsentSinks, type LedgerState } from '../shared';
import { OTHER_LABEL, listLabel, routeLabel, type Routing } from '../config/routing';
import { dataConverterFor } from './encryption';
import { checkWorkflowBundle } from './workflow-bundle';

/** Listrak requests one activity attempt makes without faults: an opt-in reads, then writes. */
export const REQUESTS_PER_ATTEMPT = 2;

/**
 * The most Listrak requests any one-second window can see under LISTRAK_MAX_REQUESTS_PER_SECOND:
 * the rate plus the burst of Temporal's task-queue limiter. The server splits the activities/s
 * rate over the task queue's read partitions (4 by default, matching.numTaskqueueReadPartitions),
 * each a token bucket holding ceil(its rate) tokens, so a queue that was idle dispatches up to
 * partitions × ceil(rate ÷ partitions) activities at once (see docs/operations.md).
 */
export function listrakRequestsAllowedPerSecond(maxRequestsPerSecond: number, partitions = 4): { burst: number; peak: number } {
  const activitiesPerSecond = maxRequestsPerSecond / REQUESTS_PER_ATTEMPT;
  const burstActivities = partitions * Math.ceil(activitiesPerSecond / partitions);
  const burst = burstActivities * REQUESTS_PER_ATTEMPT;
  return { burst, peak: maxRequestsPerSecond + burst };
}

export interface ConsentWorkerOptions {
  config: Readonly<Config>;
  connection: NativeConnection;
  /** Tests pass their own client (e.g. to read its counters). */
  listrakClient?: ListrakClient;
  taskQueue?: string;
  /**
   * Tests pass a pre-built bundle to save start-up time. Only that: every other worker option
   * comes from configuration (workerOptionsFor), so a test cannot drop the rate limit or cache size.
   */
  workerOptions?: Pick<WorkerOptions, 'workflowBundle'>;
  /**
   * The ledgers reconciliation tells what it finds in Listrak, built on this worker's client
   * (src/consent/reconcile.ts createReconcileLedgers; consent/ sits above this folder). Without it
   * a reconciliation page fails, saying so.
   */
  reconcileLedgers?: (temporal: Client) => ReconcileLedgers;
}

/** Creates the worker that runs the consent workflows and the Listrak activities. */
export async function createConsentWorker({
  config,
  connection,
  listrakClient,
  taskQueue,
  workerOptions,
  reconcileLedgers,
}: ConsentWorkerOptions): Promise<Worker> {
  if (!workerOptions?.workflowBundle) checkWorkflowBundle(config);
  // The activities ask ledgers a question before each subscribe (see ledgerWants).
  const temporal = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config.temporal.payloadKeys),
  });
  const client = listrakClient ?? new ListrakClient(listrakClientOptionsFor(config));
  if (activeTracing() && (workerOptions?.workflowBundle || config.temporal.workflowBundle)) {
    logger.warn('tracing is on with a prebuilt workflow bundle: workflow spans need a bundle built with `npm run build:workflows -- --tracing`');
  }
  const activities = {
    ...createListrakActivities({
      client,
      config,
      ledgerWants: async (ledgerWorkflowId) => {
        const state = await temporal.workflow.getHandle(ledgerWorkflowId).query<LedgerState>(QUERIES.ledgerState);
        return { desiredEventId: state.desired?.eventId, runningEventId: state.runningEventId, runningRunId: state.runningRunId };
      },
    }),
    // The ledger's own activity (a new run reads the run that closed idle before it).
    ...createLedgerActivities({ temporal }),
    // Reconciliation's pages, on this task queue: under the same Listrak rate limit.
    ...createReconcileActivities({ client, config, ledgers: reconcileLedgers?.(temporal) }),
    // Forgetting a person: the ledgers, the deletion of histories, Listrak's Privacy API.
    ...createForgetActivities({ temporal, config, privacy: privacyApiFor(config) }),
  };
  return Worker.create(
    workerOptionsFor(config, {
      connection,
      taskQueue,
      activities,
      workflowBundle: workerOptions?.workflowBundle,
    }),
  );
}

/** The Listrak client the activities use, from configuration (LISTRAK_*_URL, _TIMEOUT_MS, _QUICK_RETRIES). */
export function listrakClientOptionsFor(config: Readonly<Config>): ListrakClientOptions {
  return {
    authUrl: config.listrak.authUrl,
    apiUrl: config.listrak.apiUrl,
    timeoutMs: config.listrak.timeoutMs,
    quickRetries: config.listrak.quickRetries,
    observer: listrakMetrics,
  };
}

/** What a worker needs besides configuration. */
export interface WorkerParts {
  connection: NativeConnection;
  /** Default: TEMPORAL_TASK_QUEUE. */
  taskQueue?: string | undefined;
  activities: NonNullable<WorkerOptions['activities']>;
  /** A bundle built in this process (tests); else TEMPORAL_WORKFLOW_BUNDLE; else bundling at start. */
  workflowBundle?: WorkerOptions['workflowBundle'] | undefined;
}

/**
 * The options Worker.create gets, from configuration: a pure function, so the settings test can
 * assert on every value a setting leads to. Built as one literal checked against WorkerOptions
 * (a misplaced or misspelt key is a type error), then unset values are dropped: the SDK spreads
 * our options over its defaults, so an explicit undefined would erase a default.
 */
export function workerOptionsFor(config: Readonly<Config>, parts: WorkerParts): WorkerOptions {
  const tracing = activeTracing();
  const bundlePath = config.temporal.workflowBundle;
  const metricSinks = metricSinksFor(config.listrak.routing);
  const options = {
    connection: parts.connection,
    namespace: config.temporal.namespace,
    taskQueue: parts.taskQueue ?? config.temporal.taskQueue,
    workflowBundle: parts.workflowBundle ?? (bundlePath === undefined ? undefined : { codePath: bundlePath }),
    workflowsPath: parts.workflowBundle || bundlePath ? undefined : require.resolve('../../workflows'),
    activities: parts.activities,
    dataConverter: dataConverterFor(config.temporal.payloadKeys),
    sinks: tracing ? { ...metricSinks, exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) } : metricSinks,
    interceptors: tracing ? tracingInterceptors() : undefined,
    maxCachedWorkflows: config.temporal.maxCachedWorkflows,
    // Enforced by the Temporal server for the whole task queue, so it holds across worker
    // processes. An attempt makes at most two Listrak requests without faults (read, then write).
    // The SDK turns eager activity dispatch off under this limit (the server would not count
    // eagerly dispatched activities against it).
    maxTaskQueueActivitiesPerSecond:
      config.listrak.maxRequestsPerSecond === undefined ? undefined : config.listrak.maxRequestsPerSecond / REQUESTS_PER_ATTEMPT,
    // On shutdown (SIGTERM) running activities get this long to finish their Listrak call; then
    // they are cancelled and their attempt handed back for another worker to retry. Keep it below
    // the orchestrator's kill timeout (compose: stop_grace_period), or the kill comes first.
    shutdownGraceTime: config.shutdownGraceMs,
    shutdownForceTime: config.shutdownGraceMs + 15_000,
    workerDeploymentOptions: workerDeploymentOptionsFor(config),
  } satisfies WorkerOptions;
  return withoutUndefined(options);
}

/**
 * Worker versioning (TEMPORAL_WORKER_DEPLOYMENT): the worker polls as one version of the deployment
 * and gets only the tasks the server routes to that version (docs/upgrades.md). Each workflow type
 * declares its behaviour (setWorkflowOptions in workflows/): ledgers AUTO_UPGRADE, change workflows
 * PINNED. The default covers a type that declares none: it moves to new code, as unversioned did.
 */
export function workerDeploymentOptionsFor(config: Readonly<Config>): WorkerDeploymentOptions | undefined {
  const deployment = config.temporal.workerDeployment;
  if (!deployment) return undefined;
  return {
    useWorkerVersioning: true,
    version: { deploymentName: deployment.name, buildId: deployment.buildId },
    defaultVersioningBehavior: 'AUTO_UPGRADE',
  };
}

/** The same object without its undefined-valued keys (for SDKs that spread options over defaults). */
function withoutUndefined<T extends object>(options: T): T {
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined)) as T;
}

/** OpenTelemetry spans for workflows (in the bundle) and activities, continuing the API's trace. */
function tracingInterceptors(): WorkerOptions['interceptors'] {
  return {
    workflowModules: [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')],
    activity: [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
    ],
  };
}

/**
 * Outcomes reported by the workflows, counted in this process (never during replay), labelled
 * with the list of the workflow's ledger and the change's route by the routing's names.
 */
export function metricSinksFor(routing: Routing): InjectedSinks<ConsentSinks> {
  const listOfWorkflow = (info: WorkflowInfo) => {
    const key = ledgerKeyOfWorkflow(info);
    return key ? listLabel(routing, key.environment, key.listId) : OTHER_LABEL;
  };
  return {
    metrics: {
      changeOutcome: {
        fn: (info, environment, outcome, route) =>
          metrics.changeOutcomes.inc({ environment, outcome, list: listOfWorkflow(info), route: routeLabel(routing, route) }),
        callDuringReplay: false,
      },
      duplicate: {
        fn: (info, environment, route) => metrics.changesDuplicate.inc({ environment, list: listOfWorkflow(info), route: routeLabel(routing, route) }),
        callDuringReplay: false,
      },
    },
  };
}
