import { Client } from '@temporalio/client';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  makeWorkflowExporter,
} from '@temporalio/interceptors-opentelemetry';
import { NativeConnection, Worker, type InjectedSinks, type WorkerOptions } from '@temporalio/worker';
import { createLedgerActivities, createListrakActivities } from '../../activities';
import type { Config } from '../config';
import { ListrakClient } from '../listrak/client';
import { logger } from '../log';
import { listrakMetrics, metrics } from '../metrics';
import { tracing } from '../tracing';
import { QUERIES, type ConsentSinks, type LedgerState } from '../shared';
import { dataConverterFor } from './encryption';
import { checkWorkflowBundle } from './workflow-bundle';

/** Listrak requests one activity attempt makes without faults: an opt-in reads, then writes. */
export const REQUESTS_PER_ATTEMPT = 2;

export interface ConsentWorkerOptions {
  config: Readonly<Config>;
  connection: NativeConnection;
  /** Tests pass their own client (e.g. to read its counters). */
  listrakClient?: ListrakClient;
  taskQueue?: string;
  /** Extra worker options (tests use a pre-built bundle to save start-up time). */
  workerOptions?: Partial<WorkerOptions>;
}

/** Creates the worker that runs the consent workflows and the Listrak activities. */
export async function createConsentWorker({
  config,
  connection,
  listrakClient,
  taskQueue,
  workerOptions,
}: ConsentWorkerOptions): Promise<Worker> {
  if (!workerOptions?.workflowBundle) checkWorkflowBundle(config);
  // The activities ask ledgers a question before each subscribe (see desiredEventId).
  const temporal = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: dataConverterFor(config.temporal.payloadKeys),
    ...(config.temporal.maxCachedWorkflows !== undefined ? { maxCachedWorkflows: config.temporal.maxCachedWorkflows } : {}),
    // Enforced by the Temporal server for the task queue, so it holds across worker processes.
    // An attempt makes at most two Listrak requests without faults (read, then write).
    ...(config.listrak.maxRequestsPerSecond
      ? { maxTaskQueueActivitiesPerSecond: config.listrak.maxRequestsPerSecond / REQUESTS_PER_ATTEMPT }
      : {}),
  });
  const client =
    listrakClient ??
    new ListrakClient({
      authUrl: config.listrak.authUrl,
      apiUrl: config.listrak.apiUrl,
      timeoutMs: config.listrak.timeoutMs,
      quickRetries: config.listrak.quickRetries,
      observer: listrakMetrics,
    });
  if (tracing && (workerOptions?.workflowBundle || config.temporal.workflowBundle)) {
    logger.warn('tracing is on with a prebuilt workflow bundle: workflow spans need a bundle built with `npm run build:workflows -- --tracing`');
  }
  return Worker.create({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: taskQueue ?? config.temporal.taskQueue,
    ...(workerOptions?.workflowBundle
      ? {}
      : config.temporal.workflowBundle
        ? { workflowBundle: { codePath: config.temporal.workflowBundle } }
        : { workflowsPath: require.resolve('../../workflows') }),
    activities: {
      ...createListrakActivities({
        client,
        config,
        desiredEventId: async (ledgerWorkflowId) => {
          const state = await temporal.workflow.getHandle(ledgerWorkflowId).query<LedgerState>(QUERIES.ledgerState);
          return state.desired?.eventId;
        },
      }),
      ...createLedgerActivities({ temporal }),
    },
    dataConverter: dataConverterFor(config.temporal.payloadKeys),
    sinks: tracing ? { ...metricSinks, exporter: makeWorkflowExporter(tracing.spanProcessor, tracing.resource) } : metricSinks,
    ...(tracing ? { interceptors: tracingInterceptors() } : {}),
    // On shutdown (SIGTERM) running activities get this long to finish their Listrak call; then
    // they are cancelled and their attempt handed back for another worker to retry. Keep it below
    // the orchestrator's kill timeout (compose: stop_grace_period), or the kill comes first.
    shutdownGraceTime: config.shutdownGraceMs,
    shutdownForceTime: config.shutdownGraceMs + 15_000,
    ...workerOptions,
  });
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

/** Outcomes reported by the workflows, counted in this process (never during replay). */
const metricSinks: InjectedSinks<ConsentSinks> = {
  metrics: {
    changeOutcome: { fn: (_info, environment, outcome) => metrics.changeOutcomes.inc({ environment, outcome }), callDuringReplay: false },
    duplicate: { fn: (_info, environment) => metrics.changesDuplicate.inc({ environment }), callDuringReplay: false },
  },
};
