import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../src/dev/paths';
import { Worker } from '@temporalio/worker';
import { consentEvent, createHarness, eventually, uniqueEmail, uniqueId, waitForOutcome, workflowBundle, type Harness, type Service } from '../src/dev/harness';

const run = promisify(execFile);

// Worker versioning on a real dev server (docs/upgrades.md, "Worker versioning"): two builds of
// the worker in one Worker Deployment on one task queue, rolled out and back with the npm scripts.
describe('worker versioning: roll-out and roll-back between two builds', { timeout: 120_000 }, () => {
  let harness: Harness;
  const deployment = uniqueId('consent-');
  const taskQueue = uniqueId('queue-');
  const build = (buildId: string) => ({ TEMPORAL_TASK_QUEUE: taskQueue, TEMPORAL_WORKER_DEPLOYMENT: deployment, TEMPORAL_WORKER_BUILD_ID: buildId });

  before(async () => {
    harness = await createHarness();
  });
  after(async () => {
    await harness?.close();
  });

  /** `npm run deploy:<command>` against the harness's server, with the service's own settings. */
  async function deploy(service: Service, command: string, ...args: string[]): Promise<Record<string, any>> {
    const { stdout } = await run('npm', ['run', '--silent', `deploy:${command}`, '--', ...args, '--json'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...service.env, LOG_LEVEL: 'warn' },
      timeout: 60_000,
    });
    return JSON.parse(stdout) as Record<string, any>;
  }

  /** The build that completed each workflow task of a workflow, in order (from its history). */
  async function taskBuilds(workflowId: string): Promise<string[]> {
    const history = await harness.env.client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? []).flatMap((event) => {
      const completed = event.workflowTaskCompletedEventAttributes;
      return completed ? [completed.deploymentVersion?.buildId ?? 'unversioned'] : [];
    });
  }

  async function ledgerAndChange(service: Service, email: string, eventId: string): Promise<{ ledger: string; change: string }> {
    const { body } = await service.request(`/consents/${encodeURIComponent(email)}`);
    const view = body.environments[0];
    const change = (view.changes as { eventId: string; changeWorkflowId: string }[]).find((entry) => entry.eventId === eventId);
    return { ledger: view.workflowId as string, change: change!.changeWorkflowId };
  }

  it('ledgers move to the promoted build, a pinned change finishes on its own, and roll-back returns new work to the old build', async () => {
    // An unversioned worker first (today's deployments): its ledger moves to the first current version.
    const unversioned = await harness.start({ TEMPORAL_TASK_QUEUE: taskQueue });
    const early = uniqueEmail('early');
    const earlyIn = consentEvent('opt_in', early, new Date(Date.now() - 60_000));
    await unversioned.post(earlyIn);
    assert.equal((await waitForOutcome(unversioned, early, String(earlyIn.event_id))).outcome, 'applied');
    await unversioned.close();

    const a = await harness.start(build('A'));
    const promotedA = await deploy(a, 'promote', '--build-id', 'A');
    assert.equal(promotedA.current, 'A');

    // A change that parks on build A (Listrak refuses it), so it is still open when B is promoted.
    const pinnedEmail = uniqueEmail('pinned');
    harness.sandbox.script({ route: 'upsert', email: pinnedEmail, status: 400, error: 'ERROR_INVALID_PARAMETER' });
    const pinnedEvent = consentEvent('opt_out', pinnedEmail, new Date());
    await a.post(pinnedEvent);
    assert.equal((await waitForOutcome(a, pinnedEmail, String(pinnedEvent.event_id))).outcome, 'parked');
    const pinned = await ledgerAndChange(a, pinnedEmail, String(pinnedEvent.event_id));

    // The unversioned ledger's next change runs on A.
    const earlyOut = consentEvent('opt_out', early, new Date());
    await a.post(earlyOut);
    assert.equal((await waitForOutcome(a, early, String(earlyOut.event_id))).outcome, 'applied');
    const earlyIds = await ledgerAndChange(a, early, String(earlyOut.event_id));
    const earlyLedger = await taskBuilds(earlyIds.ledger);
    assert.equal(earlyLedger[0], 'unversioned');
    assert.equal(earlyLedger.at(-1), 'A', `the unversioned ledger moved to A: ${earlyLedger.join(' ')}`);

    const b = await harness.start(build('B'));
    const promotedB = await deploy(b, 'promote', '--build-id', 'B');
    assert.equal(promotedB.current, 'B');
    const status = await deploy(b, 'status');
    assert.deepEqual(Object.fromEntries((status.versions as { buildId: string; status: string }[]).map((v) => [v.buildId, v.status])), { A: 'draining', B: 'current' });

    // A new person: ledger and change on B.
    const fresh = uniqueEmail('fresh');
    const freshEvent = consentEvent('opt_in', fresh, new Date());
    await b.post(freshEvent);
    assert.equal((await waitForOutcome(b, fresh, String(freshEvent.event_id))).outcome, 'applied');
    const freshIds = await ledgerAndChange(b, fresh, String(freshEvent.event_id));
    assert.deepEqual(new Set(await taskBuilds(freshIds.ledger)), new Set(['B']));
    assert.deepEqual(new Set(await taskBuilds(freshIds.change)), new Set(['B']));

    // The parked change, retried after the promotion: it finishes on A (PINNED), and its ledger,
    // started on A, takes the result on B (AUTO_UPGRADE).
    assert.equal((await b.request(`/changes/${String(pinnedEvent.event_id)}/retry`, { method: 'POST' })).status, 200);
    await eventually(async () => (await waitForOutcome(b, pinnedEmail, String(pinnedEvent.event_id))).outcome === 'applied', 20_000, 'the retried change to apply');
    const pinnedChange = await taskBuilds(pinned.change);
    assert.deepEqual(new Set(pinnedChange), new Set(['A']), `the pinned change ran only on A: ${pinnedChange.join(' ')}`);
    const pinnedLedger = await taskBuilds(pinned.ledger);
    assert.equal(pinnedLedger[0], 'A');
    assert.equal(pinnedLedger.at(-1), 'B', `the ledger moved to B: ${pinnedLedger.join(' ')}`);

    // Replay does not care about versions: the versioned histories replay against this code.
    for (const workflowId of [pinned.change, pinned.ledger]) {
      const history = await harness.env.client.workflow.getHandle(workflowId).fetchHistory();
      await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, workflowId);
    }

    // Roll-back: A is current again (the previous current, found by the script); new work goes to A.
    const rolledBack = await deploy(b, 'rollback');
    assert.equal(rolledBack.rolledBackTo, 'A');
    assert.equal(rolledBack.current, 'A');
    const later = uniqueEmail('later');
    const laterEvent = consentEvent('opt_in', later, new Date());
    await a.post(laterEvent);
    assert.equal((await waitForOutcome(a, later, String(laterEvent.event_id))).outcome, 'applied');
    const laterIds = await ledgerAndChange(a, later, String(laterEvent.event_id));
    assert.deepEqual(new Set(await taskBuilds(laterIds.ledger)), new Set(['A']));
    assert.deepEqual(new Set(await taskBuilds(laterIds.change)), new Set(['A']));
    // The fresh ledger (on B until now) follows the current version back to A at its next change.
    const freshOut = consentEvent('opt_out', fresh, new Date());
    await a.post(freshOut);
    assert.equal((await waitForOutcome(a, fresh, String(freshOut.event_id))).outcome, 'applied');
    assert.equal((await taskBuilds(freshIds.ledger)).at(-1), 'A');
  });
});
