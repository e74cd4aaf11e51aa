// Where the time of one change goes, from its two workflows' histories and the sandbox's log.
import { temporal } from '@temporalio/proto';
import { changeWorkflowIdFor, ledgerKeyFor } from '../../src/consent/intake';
import { ledgerWorkflowId } from '../../src/shared';
import type { Cluster, ConsentEventSpec } from '../../src/dev/cluster';
import { percentile, writeDoneAt } from '../measure';

/**
 * Where the time of a change goes below capacity, from its two workflows' histories (medians, ms):
 * from the webhook's answer to the ledger's workflow task that starts the child, the child's start,
 * the child's first workflow task (which schedules the activity), the activity's dispatch
 * (schedule to start), and the activity itself up to the finished Listrak write. The activity is
 * split again by the sandbox's request log: until the contact read arrives, the read, from its
 * answer to the write's arrival (the ledger query), and the write.
 */
export async function latencyBreakdown(cluster: Cluster, events: ConsentEventSpec[], answeredAt: Map<string, number>): Promise<Record<string, number>> {
  const types = temporal.api.enums.v1.EventType;
  const at = (event: temporal.api.history.v1.IHistoryEvent | undefined) =>
    event ? Number(event.eventTime?.seconds ?? 0) * 1000 + (event.eventTime?.nanos ?? 0) / 1e6 : NaN;
  const steps: Record<string, number[]> = {
    ledgerTaskDispatch: [],
    ledgerTaskRun: [],
    childStart: [],
    childTaskDispatch: [],
    childTaskRun: [],
    activityDispatch: [],
    activity: [],
    activityBeforeRead: [],
    listrakRead: [],
    activityReadToWrite: [],
    listrakWrite: [],
  };
  for (const event of events) {
    const ledger = await cluster.client.workflow.getHandle(ledgerWorkflowId(ledgerKeyFor(cluster.config, 'production', event.email))).fetchHistory();
    const child = await cluster.client.workflow.getHandle(changeWorkflowIdFor(cluster.config, 'production', event.email, event.event_id)).fetchHistory();
    const first = (history: typeof child, type: temporal.api.enums.v1.EventType) => history.events?.find((entry) => entry.eventType === type);
    const initiated = first(ledger, types.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED);
    // The ledger's workflow task that issued the child start: the last one started before it.
    const ledgerTaskStarted = ledger.events
      ?.filter((entry) => entry.eventType === types.EVENT_TYPE_WORKFLOW_TASK_STARTED && Number(entry.eventId) < Number(initiated?.eventId))
      .at(-1);
    const times = [
      answeredAt.get(event.email)!,
      at(ledgerTaskStarted),
      at(initiated),
      at(first(child, types.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)),
      at(first(child, types.EVENT_TYPE_WORKFLOW_TASK_STARTED)),
      at(first(child, types.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)),
      at(first(child, types.EVENT_TYPE_ACTIVITY_TASK_STARTED)),
      writeDoneAt(cluster, event.email)!,
    ];
    const read = cluster.sandbox.requestsFor('getContact', event.email)[0];
    const write = cluster.sandbox.requestsFor('upsert', event.email).find((entry) => entry.status === 201);
    const readAt = read ? Date.parse(read.at) : NaN;
    // Inside the activity: from its start to the write's end, by the sandbox's request log.
    const inner = [times[6]!, readAt, readAt + (read?.durationMs ?? NaN), write ? Date.parse(write.at) : NaN, times[7]!];
    const gaps = (marks: number[]) => marks.slice(1).map((mark, index) => mark - marks[index]!);
    const intervals = [...gaps(times), ...gaps(inner)];
    Object.values(steps).forEach((list, index) => list.push(intervals[index]!));
  }
  return Object.fromEntries(Object.entries(steps).map(([step, values]) => [step, Math.round(percentile(values.filter(Number.isFinite), 0.5))]));
}
