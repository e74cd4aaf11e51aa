// Roll-out and roll-back of worker builds (Worker Deployments; docs/upgrades.md). The deployment is
// TEMPORAL_WORKER_DEPLOYMENT (or --deployment); address, namespace, TLS and API key are the
// service's own settings (src/config/config.ts), so the script talks to the Temporal the workers use.
//   npm run deploy:status                                   versions, current, ramping, draining
//   npm run deploy:promote -- --build-id B                  B becomes current (waits for its pollers)
//   npm run deploy:promote -- --build-id B --percent 10     B gets 10 % of new work, the current keeps the rest
//   npm run deploy:rollback                                 stops a ramp; else the previous current again
//   npm run deploy:rollback -- --build-id A                 A becomes current
import '../src/config/dotenv';
import { parseArgs } from 'node:util';
import type { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { loadConfig, type Config } from '../src/config/config';
import { connectClient } from '../src/temporal/connection';
import { runCommand, UsageError } from '../src/cli/command';

const { RoutingConfigUpdateState, WorkerDeploymentVersionStatus } = temporal.api.enums.v1;
/** gRPC's NOT_FOUND: the deployment, or the version, has not been seen polling. */
const NOT_FOUND = 5;
type DeploymentInfo = temporal.api.deployment.v1.IWorkerDeploymentInfo;

const USAGE = `usage: npm run deploy:<command> -- [options]
  status                      the deployment's versions, the current and the ramping one
  promote --build-id B        make B the current version (new ledger tasks and new changes go to B)
          [--percent N]       ramp instead: N % of new work to B, the rest stays on the current
  rollback [--build-id A]     stop a ramp; without a ramp, make A (default: the previous current) current
options:
  --deployment NAME           default TEMPORAL_WORKER_DEPLOYMENT
  --wait-seconds S            how long promote waits for B's workers to poll (default 60)
  --json                      status as JSON`;


/** The routing of one deployment, in the terms an operator uses. */
export interface DeploymentStatus {
  deployment: string;
  namespace: string;
  current?: string;
  ramping?: { buildId: string; percent: number };
  versions: { buildId: string; status: string; createdAt?: string; lastCurrentAt?: string }[];
}

export interface DeployContext {
  connection: Connection;
  namespace: string;
  deployment: string;
  /** Recorded by the server as who changed the routing. */
  identity?: string;
}

export async function describeDeployment(ctx: DeployContext): Promise<DeploymentStatus> {
  const info = await describe(ctx);
  const routing = info.routingConfig;
  const ramping = routing?.rampingDeploymentVersion?.buildId;
  return {
    deployment: ctx.deployment,
    namespace: ctx.namespace,
    ...(routing?.currentDeploymentVersion?.buildId ? { current: routing.currentDeploymentVersion.buildId } : {}),
    ...(ramping ? { ramping: { buildId: ramping, percent: routing?.rampingVersionPercentage ?? 0 } } : {}),
    versions: (info.versionSummaries ?? []).map((summary) => ({
      buildId: summary.deploymentVersion?.buildId ?? '',
      status: versionStatusName(summary.status),
      ...(summary.createTime ? { createdAt: isoTime(summary.createTime) } : {}),
      ...(summary.lastCurrentTime ? { lastCurrentAt: isoTime(summary.lastCurrentTime) } : {}),
    })),
  };
}

/**
 * Makes `buildId` the current version (or, with `percent`, the ramping one). Waits up to
 * `waitMs` for its workers to have polled (the server refuses a version it has not seen poll:
 * every task routed there would wait), then until the new routing has reached the task queues.
 */
export async function promote(ctx: DeployContext, buildId: string, { percent, waitMs = 60_000 }: { percent?: number; waitMs?: number } = {}): Promise<DeploymentStatus> {
  const service = ctx.connection.workflowService;
  const request = { namespace: ctx.namespace, deploymentName: ctx.deployment, buildId, identity: ctx.identity ?? 'npm run deploy' };
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      if (percent === undefined) await service.setWorkerDeploymentCurrentVersion(request);
      else await service.setWorkerDeploymentRampingVersion({ ...request, percentage: percent });
      break;
    } catch (error) {
      if ((error as { code?: number }).code !== NOT_FOUND || Date.now() > deadline) {
        throw new Error(
          `could not route to build ${buildId} of ${ctx.deployment}: ${(error as Error).message}` +
            ((error as { code?: number }).code === NOT_FOUND
              ? ` (no worker with TEMPORAL_WORKER_DEPLOYMENT=${ctx.deployment} TEMPORAL_WORKER_BUILD_ID=${buildId} polled within ${waitMs / 1000} s: is it running, on this namespace and task queue?)`
              : ''),
          { cause: error },
        );
      }
      await sleep(Math.min(2_000, 250 * 2 ** attempt));
    }
  }
  return settled(ctx, deadline);
}

/**
 * A ramp in progress: stops it (all new work to the current version). Otherwise makes `buildId`
 * current, by default the version that was current last before the present one.
 */
export async function rollback(ctx: DeployContext, buildId?: string): Promise<DeploymentStatus & { rolledBackTo: string; stoppedRamp: boolean }> {
  const before = await describeDeployment(ctx);
  const service = ctx.connection.workflowService;
  const request = { namespace: ctx.namespace, deploymentName: ctx.deployment, identity: ctx.identity ?? 'npm run deploy' };
  const stoppedRamp = before.ramping !== undefined;
  // An empty build id at 0 % removes the ramping version.
  if (stoppedRamp) await service.setWorkerDeploymentRampingVersion({ ...request, buildId: '', percentage: 0 });
  if (stoppedRamp && buildId === undefined) return { ...(await settled(ctx, Date.now() + 30_000)), rolledBackTo: before.current ?? '', stoppedRamp };
  const target = buildId ?? previousCurrent(before);
  if (target === undefined) throw new Error(`${ctx.deployment} has no earlier current version to roll back to; name one with --build-id`);
  await service.setWorkerDeploymentCurrentVersion({ ...request, buildId: target });
  return { ...(await settled(ctx, Date.now() + 30_000)), rolledBackTo: target, stoppedRamp };
}

/** The version current most recently before the present one. */
function previousCurrent(status: DeploymentStatus): string | undefined {
  return status.versions
    .filter((version) => version.buildId !== status.current && version.lastCurrentAt !== undefined)
    .sort((a, b) => (a.lastCurrentAt! < b.lastCurrentAt! ? 1 : -1))[0]?.buildId;
}

/** Waits until the server has propagated the routing to every task queue of the deployment. */
async function settled(ctx: DeployContext, deadline: number): Promise<DeploymentStatus> {
  for (;;) {
    const info = await describe(ctx);
    if (info.routingConfigUpdateState !== RoutingConfigUpdateState.ROUTING_CONFIG_UPDATE_STATE_IN_PROGRESS) return describeDeployment(ctx);
    if (Date.now() > deadline) throw new Error(`the new routing of ${ctx.deployment} has not reached all its task queues yet; check with npm run deploy:status`);
    await sleep(200);
  }
}

async function describe(ctx: DeployContext): Promise<DeploymentInfo> {
  try {
    const { workerDeploymentInfo } = await ctx.connection.workflowService.describeWorkerDeployment({ namespace: ctx.namespace, deploymentName: ctx.deployment });
    return workerDeploymentInfo ?? {};
  } catch (error) {
    if ((error as { code?: number }).code === NOT_FOUND) {
      throw new Error(`no Worker Deployment ${ctx.deployment} in namespace ${ctx.namespace}: has a worker with TEMPORAL_WORKER_DEPLOYMENT=${ctx.deployment} polled yet?`, { cause: error });
    }
    throw error;
  }
}

function versionStatusName(status: number | null | undefined): string {
  const name = WorkerDeploymentVersionStatus[status ?? 0] ?? 'UNSPECIFIED';
  return name.replace('WORKER_DEPLOYMENT_VERSION_STATUS_', '').toLowerCase();
}

function isoTime(timestamp: { seconds?: unknown; nanos?: number | null }): string {
  return new Date(Number(timestamp.seconds ?? 0) * 1000 + Math.floor((timestamp.nanos ?? 0) / 1e6)).toISOString();
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function printStatus(status: DeploymentStatus): string {
  const lines = [
    `deployment ${status.deployment} (namespace ${status.namespace})`,
    `current:  ${status.current ?? '(none: new work goes to unversioned workers)'}`,
    `ramping:  ${status.ramping ? `${status.ramping.buildId} at ${status.ramping.percent} %` : '(none)'}`,
    'versions:',
    ...status.versions.map((version) => `  ${version.buildId.padEnd(24)} ${version.status.padEnd(9)} created ${version.createdAt ?? '?'}`),
  ];
  return `${lines.join('\n')}\n`;
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'build-id': { type: 'string' },
      percent: { type: 'string' },
      deployment: { type: 'string' },
      'wait-seconds': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return command === undefined && !values.help ? 2 : 0;
  }
  if (!['status', 'promote', 'rollback'].includes(command)) throw new UsageError(`unknown command '${command}'\n${USAGE}`);
  const percent = values.percent === undefined ? undefined : Number(values.percent);
  if (percent !== undefined && !(percent >= 0 && percent <= 100)) throw new UsageError(`--percent must be a number from 0 to 100, got '${values.percent}'`);
  const waitSeconds = Number(values['wait-seconds'] ?? 60);
  if (!(waitSeconds >= 0)) throw new UsageError(`--wait-seconds must be a number of seconds, got '${values['wait-seconds']}'`);
  if (command === 'promote' && !values['build-id']) throw new UsageError('promote needs --build-id (the TEMPORAL_WORKER_BUILD_ID of the workers to promote)');

  const config: Readonly<Config> = loadConfig();
  const deployment = values.deployment ?? config.temporal.workerDeployment?.name;
  if (!deployment) throw new UsageError('no deployment: set TEMPORAL_WORKER_DEPLOYMENT (as the workers have it) or pass --deployment');
  const connection = await connectClient(config);
  try {
    const ctx: DeployContext = { connection, namespace: config.temporal.namespace, deployment };
    const result =
      command === 'status'
        ? await describeDeployment(ctx)
        : command === 'promote'
          ? await promote(ctx, values['build-id']!, { waitMs: waitSeconds * 1000, ...(percent === undefined ? {} : { percent }) })
          : await rollback(ctx, values['build-id']);
    process.stdout.write(values.json ? `${JSON.stringify(result)}\n` : printStatus(result));
    return 0;
  } finally {
    await connection.close();
  }
}

if (require.main === module) runCommand(main);
