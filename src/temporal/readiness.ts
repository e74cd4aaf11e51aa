import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

export interface Readiness {
  /** Processing: Temporal reachable and a worker polling (`GET /readyz`). */
  ready: boolean;
  /**
   * Intake: Temporal reachable, whether or not a worker polls (`GET /readyz?scope=intake`). A
   * webhook is recorded in Temporal and waits there for a worker, so the API's readiness probe
   * uses this: workers being down must not take webhook intake offline.
   */
  intakeReady: boolean;
  temporal: 'reachable' | 'unreachable';
  workflowPollers: number;
  activityPollers: number;
  detail?: string;
}

/**
 * Temporal reachable (intake) and a worker polling the task queue (processing). Temporal lists pollers seen in the
 * last few minutes, so a worker that just died still counts for a short while.
 */
export async function checkReadiness(client: Client, taskQueue: string, deadlineMs = 3_000): Promise<Readiness> {
  const service = client.connection.workflowService;
  const namespace = client.options.namespace;
  try {
    const [workflowQueue, activityQueue] = await client.connection.withDeadline(Date.now() + deadlineMs, () =>
      Promise.all([
        service.describeTaskQueue({
          namespace,
          taskQueue: { name: taskQueue },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        }),
        service.describeTaskQueue({
          namespace,
          taskQueue: { name: taskQueue },
          taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
        }),
      ]),
    );
    const workflowPollers = workflowQueue.pollers?.length ?? 0;
    const activityPollers = activityQueue.pollers?.length ?? 0;
    const ready = workflowPollers > 0 && activityPollers > 0;
    return {
      ready,
      intakeReady: true,
      temporal: 'reachable',
      workflowPollers,
      activityPollers,
      detail: ready ? undefined : `no worker is polling task queue '${taskQueue}'`,
    };
  } catch (error) {
    return {
      ready: false,
      intakeReady: false,
      temporal: 'unreachable',
      workflowPollers: 0,
      activityPollers: 0,
      detail: error instanceof Error ? error.message : String(error),
    };
  }
}
