// `npm run replay:capture [-- --only <scenario>[,<scenario>…]] [--list]`: records the histories
// that test/replay.test.ts replays. It starts a Temporal dev server and the Listrak sandbox (the
// test harness), runs the service's real worker and webhook intake, drives each scenario below
// through the webhook and the admin API, and writes every workflow's history as JSON to
// test/replay/fixtures/, listed in index.json.
//
// It never replaces a fixture that exists: a history records what the code that produced it did,
// and open ledgers of that code will still be replayed by the next worker. Add a scenario for a
// new path and capture only it (`--only`). See "Replay tests" in docs/upgrades.md.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { changeWorkflowIdFor, ledgerKeyFor } from '../src/consent/intake';
import { emailHashKey, environmentKey } from '../src/temporal/search-attributes';
import { forgetWorkflowId, ledgerWorkflowId, type Environment, type ForgetRequest } from '../src/shared';
import { hashEmail } from '../src/consent/email';
import { PROJECT_ROOT } from '../src/dev/paths';
import { EMAIL_HASH_KEY_WORKFLOW_ID } from '../src/temporal/email-hash-key';
import {
  ADMIN_TOKEN,
  PRODUCTION_LIST,
  WEBHOOK_SECRET,
  consentEvent,
  createHarness,
  eventually,
  waitForOutcome,
  waitForRetrying,
  type Harness,
  type Service,
} from '../src/dev/harness';
import {
  FIXTURE_DIR,
  INDEX_FILE,
  REPLAY_PAYLOAD_KEY,
  fixtureFileName,
  privacyProblems,
  readIndex,
  type FixtureEntry,
  type WorkflowType,
} from '../test/replay/fixtures';
import { historyToJSON } from '../test/replay/history-json';
import { consentLedgerWorkflow, reconcileWorkflow } from '../workflows';
import { forgetSignal } from '../workflows/consent-ledger';

const EventType = temporal.api.enums.v1.EventType;
const CLOSED = new Set<number>([
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT,
  EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW,
]);

/** One history a scenario asks to keep. */
interface Capture {
  workflowType: WorkflowType;
  workflowId: string;
  /** A particular run (continue-as-new); the latest run when absent. */
  runId?: string;
  /** Tells two histories of one type in a scenario apart (`opt-in`, `run-1`). */
  part?: string;
  description: string;
}

interface Context {
  harness: Harness;
  /** The service as tests run it: production and staging configured, payloads in clear. */
  service: Service;
  /** Started on first use. */
  stagingUnconfigured: () => Promise<Service>;
  encrypted: () => Promise<Service>;
  /** With the sandbox's Privacy integration (forgets ask Listrak, status every second). */
  privacy: () => Promise<Service>;
}

interface Scenario {
  name: string;
  encrypted?: boolean;
  run(context: Context): Promise<Capture[]>;
}

// Fixed addresses, event ids and event times, so that a re-capture differs only in timestamps.
const emailFor = (scenario: string, who = 'person') => `replay.${scenario}.${who}@example.com`;
const event = (type: 'opt_in' | 'opt_out', email: string, eventTime: string, eventId: string, extra: Record<string, unknown> = {}) =>
  consentEvent(type, email, eventTime, { event_id: eventId, ...extra });
const PROFILE = { first_name: 'Ada', last_name: 'Example', funnel: 'referral' };

const ledgerOf = (service: Service, email: string, environment: Environment = 'production') =>
  ledgerWorkflowId(ledgerKeyFor(service.config, environment, email));
/**
 * A change workflow's id as the current code names it. Fixtures captured before per-ledger ids
 * (7d619cb) hold `consent-change/<event id>`; their scenarios are never captured again.
 */
const changeOf = (service: Service, email: string, eventId: string, environment: Environment = 'production') =>
  changeWorkflowIdFor(service.config, environment, email, eventId);

async function accepted(service: Service, body: unknown): Promise<void> {
  const response = await service.post(body);
  if (response.status !== 200) throw new Error(`the webhook answered ${response.status}: ${JSON.stringify(response.body)}`);
}

async function outcome(service: Service, email: string, eventId: string, wanted: string, environment = 'production'): Promise<void> {
  await eventually(
    async () => (await waitForOutcome(service, email, eventId, { environment })).outcome === wanted,
    30_000,
    `${eventId} to be ${wanted}`,
  );
}

/** Retry or skip through the admin API: since the updates, a retryParked/skipParked update (before: a signal). */
/** An opt-in whose change workflow is terminated mid-retry: the ledger parks it (park-unfinished-changes). */
async function parkInLedger(harness: Harness, service: Service, email: string, id: string): Promise<void> {
  harness.sandbox.script({ route: 'upsert', email, status: 503, times: 10_000 });
  await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', id));
  await waitForRetrying(service, email);
  await harness.env.client.workflow.getHandle(changeOf(service, email, id)).terminate('replay capture: ended by a person');
  await outcome(service, email, id, 'parked');
  // The terminated run's attempt may still be in its quick retries: let it end before Listrak recovers.
  await new Promise((resolve) => setTimeout(resolve, 1_500));
  harness.sandbox.clearFaults();
}

async function operatorAction(service: Service, eventId: string, action: 'retry' | 'skip'): Promise<void> {
  const response = await service.request(`/changes/${eventId}/${action}`, { method: 'POST' });
  if (response.status !== 200) throw new Error(`${action} of ${eventId} answered ${response.status}`);
}

const SCENARIOS: Scenario[] = [
  {
    name: 'applied-opt-in',
    async run({ service }) {
      const email = emailFor('applied-opt-in');
      const id = 'replay-applied-opt-in';
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', id, { profile: PROFILE }));
      await outcome(service, email, id, 'applied');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'one opt-in with profile values, applied' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, id), description: 'an opt-in with profile values, applied at the first attempt' },
      ];
    },
  },
  {
    name: 'applied-opt-out',
    async run({ service }) {
      const email = emailFor('applied-opt-out');
      const id = 'replay-applied-opt-out';
      await accepted(service, event('opt_out', email, '2026-11-01T10:00:00Z', id));
      await outcome(service, email, id, 'applied');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'one opt-out, applied (Listrak: not subscribed)' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, id), description: 'an opt-out, applied' },
      ];
    },
  },
  {
    name: 'parked-retried',
    async run({ harness, service }) {
      const email = emailFor('parked-retried');
      const id = 'replay-parked-retried';
      // An operator-class answer (refused credentials) parks the change; the fault is then used up.
      harness.sandbox.script({ route: 'upsert', email, status: 401, error: 'ERROR_INVALID_CREDENTIALS' });
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', id, { profile: PROFILE }));
      await outcome(service, email, id, 'parked');
      await operatorAction(service, id, 'retry');
      await outcome(service, email, id, 'applied');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'an opt-in whose change parked, was retried and applied' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, id), description: 'parked on 401 ERROR_INVALID_CREDENTIALS, a retry signal, applied' },
      ];
    },
  },
  {
    name: 'parked-skipped',
    async run({ harness, service }) {
      const email = emailFor('parked-skipped');
      const id = 'replay-parked-skipped';
      harness.sandbox.script({ route: 'upsert', email, status: 403, error: 'HTTP_403' });
      await accepted(service, event('opt_out', email, '2026-11-01T10:00:00Z', id));
      await outcome(service, email, id, 'parked');
      await operatorAction(service, id, 'skip');
      await outcome(service, email, id, 'skipped');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'an opt-out whose change parked and was skipped' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, id), description: 'parked on 403, a skip signal, skipped' },
      ];
    },
  },
  {
    name: 'cancelled-by-newer',
    async run({ harness, service }) {
      const email = emailFor('cancelled-by-newer');
      const optIn = 'replay-cancelled-by-newer-opt-in';
      const optOut = 'replay-cancelled-by-newer-opt-out';
      // The opt-in's read fails until the newer opt-out has cancelled it.
      harness.sandbox.script({ route: 'getContact', email, status: 503, times: 10_000 });
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', optIn));
      await waitForRetrying(service, email);
      await accepted(service, event('opt_out', email, '2026-11-01T11:00:00Z', optOut));
      await outcome(service, email, optOut, 'applied');
      await outcome(service, email, optIn, 'superseded');
      harness.sandbox.clearFaults();
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'a retrying opt-in cancelled by a newer opt-out, which is applied' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, optIn), part: 'opt-in', description: 'an opt-in retrying a 503, cancelled' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, optOut), part: 'opt-out', description: 'the newer opt-out, applied' },
      ];
    },
  },
  {
    name: 'continue-as-new',
    async run({ harness, service }) {
      const email = emailFor('continue-as-new');
      const key = ledgerKeyFor(service.config, 'production', email);
      const workflowId = ledgerWorkflowId(key);
      // Started as intake starts it, with a history limit low enough that the first run continues
      // as new after two changes and the second run (one change) stays open.
      const handle = await harness.env.client.workflow.start(consentLedgerWorkflow, {
        workflowId,
        taskQueue: service.config.temporal.taskQueue,
        args: [{ key, continueAsNewAfterEvents: 24 }],
        typedSearchAttributes: [
          { key: emailHashKey, value: key.emailHash },
          { key: environmentKey, value: key.environment },
        ],
      });
      const firstRun = handle.firstExecutionRunId;
      const optIn = 'replay-continue-as-new-opt-in';
      const optOut = 'replay-continue-as-new-opt-out';
      const later = 'replay-continue-as-new-later-opt-in';
      // The opt-in's write is on the wire when the opt-out arrives: one change running, one pending.
      harness.sandbox.script({ route: 'upsert', email, delayMs: 1_500 });
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', optIn));
      await eventually(() => harness.sandbox.writesInFlight(email) > 0, 20_000, 'the opt-in write to be in flight');
      await accepted(service, event('opt_out', email, '2026-11-01T11:00:00Z', optOut));
      await outcome(service, email, optOut, 'applied');
      const secondRun = await eventually(
        async () => {
          const { runId } = await harness.env.client.workflow.getHandle(workflowId).describe();
          return runId !== firstRun ? runId : undefined;
        },
        20_000,
        'the ledger to continue as new',
      );
      await accepted(service, event('opt_in', email, '2026-11-01T12:00:00Z', later));
      await outcome(service, email, later, 'applied');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId, runId: firstRun, part: 'run-1', description: 'an opt-in running while an opt-out waits, both applied, then continue-as-new' },
        { workflowType: 'consentLedgerWorkflow', workflowId, runId: secondRun, part: 'run-2', description: 'the run after continue-as-new (state carried over): a newer opt-in, applied' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, optIn), part: 'opt-in', description: 'an opt-in cancelled while its write was on the wire: the write completes' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, optOut), part: 'opt-out', description: 'the pending opt-out, applied after the opt-in closed' },
      ];
    },
  },
  {
    name: 'superseded',
    async run({ service }) {
      const email = emailFor('superseded');
      const optOut = 'replay-superseded-opt-out';
      const stale = 'replay-superseded-stale-opt-in';
      await accepted(service, event('opt_out', email, '2026-11-01T11:00:00Z', optOut));
      await outcome(service, email, optOut, 'applied');
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', stale));
      await outcome(service, email, stale, 'superseded');
      return [{ workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'an opt-out applied, then an older opt-in superseded without a child' }];
    },
  },
  {
    name: 'duplicate',
    async run({ service }) {
      const email = emailFor('duplicate');
      const id = 'replay-duplicate';
      const delivery = event('opt_in', email, '2026-11-01T10:00:00Z', id);
      await accepted(service, delivery);
      await outcome(service, email, id, 'applied');
      await accepted(service, delivery);
      await accepted(service, [delivery]);
      await eventually(
        async () => (await waitForOutcome(service, email, id)).duplicatesSeen === 2,
        20_000,
        'both redeliveries to be counted',
      );
      return [{ workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'an opt-in applied, then delivered twice more: duplicates, no second child' }];
    },
  },
  {
    name: 'not-sent',
    async run({ stagingUnconfigured }) {
      const service = await stagingUnconfigured();
      const email = emailFor('not-sent');
      const id = 'replay-not-sent';
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', id, { environment: 'staging' }));
      await outcome(service, email, id, 'not_sent', 'staging');
      return [{ workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email, 'staging'), description: 'a staging opt-in without staging credentials: not_sent, no child' }];
    },
  },
  {
    name: 'rejected',
    async run({ harness, service }) {
      const email = emailFor('rejected');
      const id = 'replay-rejected';
      harness.sandbox.script({ route: 'upsert', email, status: 400, error: 'ERROR_BANNED_EMAIL_ADDRESS' });
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', id));
      await outcome(service, email, id, 'rejected');
      return [{ workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: "an opt-in Listrak rejects for good (banned address): the ledger's rejected outcome" }];
    },
  },
  {
    name: 'failed-child-start',
    async run({ service }) {
      // Shipped code only (7d619cb): two people's changes with one event id, the second ledger
      // cannot start its child (consent-change/<event id> exists, REJECT_DUPLICATE) and records
      // the change as failed. Since per-ledger ids both apply (scenario shared-event-id).
      const id = 'replay-failed-shared-event-id';
      const first = emailFor('failed-child-start', 'first');
      const second = emailFor('failed-child-start', 'second');
      await accepted(service, event('opt_in', first, '2026-11-01T10:00:00Z', id));
      await outcome(service, first, id, 'applied');
      await accepted(service, event('opt_in', second, '2026-11-01T10:00:00Z', id));
      await outcome(service, second, id, 'failed');
      return [{ workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, second), description: "a change whose child could not start (its id was taken): the ledger's failed outcome" }];
    },
  },
  {
    name: 'shared-event-id',
    async run({ service }) {
      // Per-ledger change ids (patch per-ledger-change-ids): two people's changes with one event id both apply.
      const id = 'replay-shared-event-id';
      const first = emailFor('shared-event-id', 'first');
      const second = emailFor('shared-event-id', 'second');
      await accepted(service, event('opt_in', first, '2026-11-01T10:00:00Z', id));
      await accepted(service, event('opt_out', second, '2026-11-01T10:00:00Z', id));
      await outcome(service, first, id, 'applied');
      await outcome(service, second, id, 'applied');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, second), description: 'an opt-out whose event id another person also used: applied under a per-ledger change id' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, second, id), description: 'that opt-out, under consent-change/<event id>/<env>/<list>/<hash>' },
      ];
    },
  },
  {
    name: 'parked-in-ledger-retried',
    async run({ harness, service }) {
      // Patch park-unfinished-changes: a terminated change workflow parks its change in the ledger;
      // retryChange runs it again under the same id.
      const email = emailFor('parked-in-ledger-retried');
      const id = 'replay-parked-in-ledger-retried';
      await parkInLedger(harness, service, email, id);
      await operatorAction(service, id, 'retry');
      await outcome(service, email, id, 'applied');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'a change workflow terminated mid-retry: parked in the ledger, retried (retryChange), applied' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, id), description: 'the second run of that change workflow id, applied' },
      ];
    },
  },
  {
    name: 'listrak-unsubscribe-reconciled',
    async run({ harness, service }) {
      // An opt-in applied, an unsubscribe made in Listrak after it, found by a reconciliation sweep
      // (the ledger's listrakUnsubscribe signal), then a stale opt-in refused without a read.
      const email = emailFor('listrak-unsubscribe-reconciled');
      const id = 'replay-listrak-unsubscribe-first';
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', id));
      await outcome(service, email, id, 'applied');
      harness.sandbox.unsubscribeInListrak(PRODUCTION_LIST, email, { at: new Date('2026-11-01T11:00:00Z'), method: 'Contact' });
      const workflowId = 'replay-reconcile-unsubscribed';
      await harness.env.client.workflow.execute(reconcileWorkflow, {
        workflowId,
        taskQueue: service.config.temporal.taskQueue,
        args: [{ environment: 'production', listId: PRODUCTION_LIST, sweep: 'unsubscribed', mode: 'report', since: '2026-11-01T00:00:00Z', pageSize: 1, pagesPerRun: 1 }],
      });
      const stale = 'replay-listrak-unsubscribe-stale';
      await accepted(service, event('opt_in', email, '2026-11-01T10:30:00Z', stale));
      await outcome(service, email, stale, 'superseded');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'an opt-in applied, an unsubscribe made in Listrak recorded by reconciliation (listrakUnsubscribe), a stale opt-in refused' },
        { workflowType: 'reconcileWorkflow', workflowId, description: 'a sweep of Listrak-side unsubscribes, one page' },
      ];
    },
  },
  {
    name: 'drift-repaired',
    async run({ harness, service }) {
      // Patch repair-id-after-highest: an opt-out applied, the contact re-subscribed in Listrak
      // (an import), the full sweep in repair mode tells the ledger (reapplyOptOut), which writes
      // the opt-out again as `<id>.repair-1`.
      const email = emailFor('drift-repaired');
      const id = 'replay-drift-opt-out';
      await accepted(service, event('opt_out', email, '2026-11-01T10:00:00Z', id));
      await outcome(service, email, id, 'applied');
      harness.sandbox.subscribeInListrak(PRODUCTION_LIST, email, { at: new Date('2026-11-01T12:00:00Z') });
      await harness.env.client.workflow.execute(reconcileWorkflow, {
        workflowId: 'replay-reconcile-drift-repair',
        taskQueue: service.config.temporal.taskQueue,
        args: [{ environment: 'production', listId: PRODUCTION_LIST, sweep: 'subscribed', mode: 'repair' }],
      });
      await outcome(service, email, `${id}.repair-1`, 'applied');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'an opt-out applied, the contact re-subscribed in Listrak, the full sweep in repair mode: the opt-out written again (reapplyOptOut, repair-1)' },
        { workflowType: 'reconcileWorkflow', workflowId: 'replay-reconcile-drift-repair', description: 'a full sweep of subscribed contacts in repair mode, one drifted contact repaired' },
      ];
    },
  },
  {
    name: 'double-opt-in-confirmed',
    async run({ harness, service }) {
      // Patch double-opt-in: an opt-in Listrak answers "already pending a double opt-in"
      // (awaiting_confirmation), then the person confirms and the full sweep tells the ledger
      // (doubleOptInConfirmed), which records it applied.
      const email = emailFor('double-opt-in-confirmed');
      const id = 'replay-double-opt-in';
      harness.sandbox.script({ route: 'upsert', email, status: 400, error: 'ERROR_PENDING_EMAIL_ADDRESS' });
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', id));
      await outcome(service, email, id, 'awaiting_confirmation');
      harness.sandbox.subscribeInListrak(PRODUCTION_LIST, email, { at: new Date('2026-11-01T12:00:00Z'), method: 'DoubleOptIn' });
      await harness.env.client.workflow.execute(reconcileWorkflow, {
        workflowId: 'replay-reconcile-double-opt-in',
        taskQueue: service.config.temporal.taskQueue,
        args: [{ environment: 'production', listId: PRODUCTION_LIST, sweep: 'subscribed', mode: 'report' }],
      });
      await outcome(service, email, id, 'applied');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'an opt-in already pending a double opt-in (awaiting_confirmation), confirmed: the full sweep records it applied (doubleOptInConfirmed)' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, id), description: 'an opt-in answered ERROR_PENDING_EMAIL_ADDRESS: awaiting_confirmation' },
      ];
    },
  },
  {
    name: 'parked-in-ledger-skipped',
    async run({ harness, service }) {
      const email = emailFor('parked-in-ledger-skipped');
      const id = 'replay-parked-in-ledger-skipped';
      await parkInLedger(harness, service, email, id);
      await operatorAction(service, id, 'skip');
      await outcome(service, email, id, 'skipped');
      return [{ workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'a change workflow terminated: parked in the ledger, then skipped (skipChange)' }];
    },
  },
  {
    name: 'retried-by-update',
    async run({ harness, service }) {
      const email = emailFor('retried-by-update');
      const id = 'replay-retried-by-update';
      harness.sandbox.script({ route: 'upsert', email, status: 401, error: 'ERROR_INVALID_CREDENTIALS' });
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', id));
      await outcome(service, email, id, 'parked');
      await operatorAction(service, id, 'retry');
      await outcome(service, email, id, 'applied');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'an opt-in whose change parked, was retried by update and applied' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, id), description: 'parked on 401 ERROR_INVALID_CREDENTIALS, a retryParked update (accepted, answered), applied' },
      ];
    },
  },
  {
    name: 'skipped-by-update',
    async run({ harness, service }) {
      const email = emailFor('skipped-by-update');
      const id = 'replay-skipped-by-update';
      harness.sandbox.script({ route: 'upsert', email, status: 403, error: 'HTTP_403' });
      await accepted(service, event('opt_out', email, '2026-11-01T10:00:00Z', id));
      await outcome(service, email, id, 'parked');
      await operatorAction(service, id, 'skip');
      await outcome(service, email, id, 'skipped');
      return [{ workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, id), description: 'parked on 403, a skipParked update (accepted, answered), skipped' }];
    },
  },
  {
    name: 'parked-in-ledger-retried-by-update',
    async run({ harness, service }) {
      const email = emailFor('parked-in-ledger-retried-by-update');
      const id = 'replay-parked-in-ledger-retried-by-update';
      await parkInLedger(harness, service, email, id);
      await operatorAction(service, id, 'retry');
      await outcome(service, email, id, 'applied');
      return [{ workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'a change workflow terminated: parked in the ledger, a retryParked update to the ledger (answered once applying), applied' }];
    },
  },
  {
    name: 'parked-in-ledger-skipped-by-update',
    async run({ harness, service }) {
      const email = emailFor('parked-in-ledger-skipped-by-update');
      const id = 'replay-parked-in-ledger-skipped-by-update';
      await parkInLedger(harness, service, email, id);
      await operatorAction(service, id, 'skip');
      await outcome(service, email, id, 'skipped');
      return [{ workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'a change workflow terminated: parked in the ledger, then a skipParked update to the ledger' }];
    },
  },
  {
    name: 'duplicate-after-ledger-restart',
    async run({ harness, service }) {
      // A redelivery that a new ledger run no longer remembers: the completed change workflow id refuses it.
      const email = emailFor('duplicate-after-ledger-restart');
      const id = 'replay-duplicate-after-ledger-restart';
      const delivery = event('opt_in', email, '2026-11-01T10:00:00Z', id);
      await accepted(service, delivery);
      await outcome(service, email, id, 'applied');
      await harness.env.client.workflow.getHandle(ledgerOf(service, email)).terminate('replay capture: records lost');
      await accepted(service, delivery);
      await outcome(service, email, id, 'duplicate');
      return [{ workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'a new ledger run gets a redelivery of a completed change: duplicate, nothing written' }];
    },
  },
  {
    name: 'email-hash-key-record',
    async run({ service }) {
      // The first write of a namespace records the key's fingerprint in an open workflow.
      const email = emailFor('email-hash-key-record');
      const id = 'replay-email-hash-key-record';
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', id));
      await outcome(service, email, id, 'applied');
      return [{ workflowType: 'emailHashKeyWorkflow', workflowId: EMAIL_HASH_KEY_WORKFLOW_ID, description: "the namespace's email-hash key record, waiting forever" }];
    },
  },
  {
    name: 'forgotten',
    async run({ harness, service, privacy }) {
      // One person's ledger told to forget directly (its forgetting run is kept here: a real forget deletes it).
      const email = emailFor('forgotten');
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', 'replay-forgotten-opt-in', { profile: PROFILE }));
      await outcome(service, email, 'replay-forgotten-opt-in', 'applied');
      await accepted(service, event('opt_out', email, '2026-11-02T10:00:00Z', 'replay-forgotten-opt-out'));
      await outcome(service, email, 'replay-forgotten-opt-out', 'applied');
      const ledger = harness.env.client.workflow.getHandle(ledgerOf(service, email));
      const firstRun = (await ledger.describe()).runId;
      const at = '2026-11-03T10:00:00.000Z';
      const request: ForgetRequest = { at, atMs: Date.parse(at), by: 'replay capture', forgetWorkflowId: forgetWorkflowId(hashEmail(service.config.emailHashKey, email)) };
      await ledger.signal(forgetSignal, request);
      await eventually(async () => (await ledger.describe()).runId !== firstRun, 20_000, 'the ledger to continue as new without the email');
      await accepted(service, event('opt_in', email, '2026-11-02T09:00:00Z', 'replay-forgotten-stale'));
      await outcome(service, email, 'replay-forgotten-stale', 'superseded');
      await accepted(service, event('opt_in', email, '2026-11-04T10:00:00Z', 'replay-forgotten-again'));
      await outcome(service, email, 'replay-forgotten-again', 'applied');

      // Another person forgotten through the API: the forget workflow, Listrak's request followed to COMPLETE.
      const withPrivacy = await privacy();
      const other = emailFor('forgotten', 'other');
      await accepted(withPrivacy, event('opt_out', other, '2026-11-02T10:00:00Z', 'replay-forgotten-other'));
      await outcome(withPrivacy, other, 'replay-forgotten-other', 'applied');
      const started = await withPrivacy.request(`/consents/${encodeURIComponent(other)}/forget`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ requestedBy: 'replay capture' }),
      });
      if (started.status !== 202) throw new Error(`the forget answered ${started.status}: ${JSON.stringify(started.body)}`);
      await eventually(
        async () => ((await withPrivacy.request(`/consents/${encodeURIComponent(other)}`)).body as { erasure?: { phase?: string } } | undefined)?.erasure?.phase === 'done',
        120_000,
        'the forget to finish',
        500,
      );
      return [
        {
          workflowType: 'consentLedgerWorkflow',
          workflowId: ledgerOf(service, email),
          runId: firstRun,
          part: 'run-1',
          description: 'an opt-in and an opt-out applied, then the forget signal: email and records dropped, tombstone kept, continued as new',
        },
        {
          workflowType: 'consentLedgerWorkflow',
          workflowId: ledgerOf(service, email),
          part: 'run-2',
          description: 'the run after the forget: a stale opt-in refused by the tombstone, a newer opt-in applied',
        },
        {
          workflowType: 'forgetPersonWorkflow',
          workflowId: String((started.body as { workflowId: string }).workflowId),
          description: 'a forget: one ledger forgotten, one absent, its earlier runs and changes deleted, Listrak followed to COMPLETE after 2 polls',
        },
      ];
    },
  },
  {
    name: 'parked-retried-encrypted',
    encrypted: true,
    async run({ harness, encrypted }) {
      const service = await encrypted();
      const email = emailFor('parked-retried-encrypted');
      const id = 'replay-parked-retried-encrypted';
      harness.sandbox.script({ route: 'upsert', email, status: 401, error: 'ERROR_INVALID_CREDENTIALS' });
      await accepted(service, event('opt_in', email, '2026-11-01T10:00:00Z', id, { profile: PROFILE }));
      await outcome(service, email, id, 'parked');
      await operatorAction(service, id, 'retry');
      await outcome(service, email, id, 'applied');
      return [
        { workflowType: 'consentLedgerWorkflow', workflowId: ledgerOf(service, email), description: 'as parked-retried, with TEMPORAL_PAYLOAD_KEY (the replay test key)' },
        { workflowType: 'applyConsentChangeWorkflow', workflowId: changeOf(service, email, id), description: 'as parked-retried, payloads and failure messages encrypted' },
      ];
    },
  },
];

/** Waits until the run has no workflow task in progress: the history no longer grows. */
async function settledHistory(harness: Harness, capture: Capture) {
  const handle = harness.env.client.workflow.getHandle(capture.workflowId, capture.runId);
  let previous = -1;
  return eventually(
    async () => {
      const history = await handle.fetchHistory();
      const events = history.events ?? [];
      const last = events.at(-1)?.eventType ?? undefined;
      // Quiet: closed, or the last workflow task completed (its commands may follow it).
      const types = events.map((entry) => entry.eventType);
      const lastScheduled = types.lastIndexOf(EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
      const lastCompleted = types.lastIndexOf(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
      const quiet = (last !== undefined && CLOSED.has(last)) || (lastCompleted > lastScheduled && lastScheduled >= 0);
      const stable = quiet && events.length === previous;
      previous = events.length;
      return stable ? history : undefined;
    },
    20_000,
    `the history of ${capture.workflowId} to settle`,
    500,
  );
}

/** Fields that name the capturing machine (worker identity `pid@host`, stack traces with paths). The replayer reads neither. */
function withoutMachineDetails(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutMachineDetails);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, field]) => {
      if (key === 'identity' && typeof field === 'string') return [key, 'replay-capture'];
      if (key === 'stackTrace' && typeof field === 'string') return [key, ''];
      return [key, withoutMachineDetails(field)];
    }),
  );
}

function capturedFrom(): string {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: PROJECT_ROOT, encoding: 'utf8' }).trim();
  const dirty = git('status', '--porcelain', '--', 'workflows', 'src/shared.ts', 'src/temporal/search-attributes.ts') !== '';
  return `${git('rev-parse', '--short', 'HEAD')}${dirty ? '-dirty' : ''}`;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--list')) {
    for (const scenario of SCENARIOS) process.stdout.write(`${scenario.name}\n`);
    return;
  }
  const onlyArg = args.includes('--only') ? args[args.indexOf('--only') + 1] : undefined;
  const only = onlyArg?.split(',').map((name) => name.trim());
  const unknown = only?.filter((name) => !SCENARIOS.some((scenario) => scenario.name === name)) ?? [];
  if (unknown.length > 0) throw new Error(`no scenario named ${unknown.join(', ')} (see --list)`);
  const index = readIndex();
  const chosen = SCENARIOS.filter((scenario) => (only ? only.includes(scenario.name) : true));
  const existing = chosen.filter((scenario) => index.some((entry) => entry.scenario === scenario.name));
  if (existing.length > 0 && only) {
    throw new Error(
      `fixtures of ${existing.map((scenario) => scenario.name).join(', ')} exist. A fixture is never re-captured ` +
        '(open workflows of the code that wrote it still replay it); capture a new path under a new scenario name.',
    );
  }
  const todo = chosen.filter((scenario) => !existing.includes(scenario));
  if (todo.length === 0) {
    process.stdout.write('every scenario has its fixtures already; nothing to capture\n');
    return;
  }
  const commit = capturedFrom();
  if (commit.endsWith('-dirty')) process.stderr.write('warning: workflows/ has uncommitted changes; the fixtures record them\n');

  const harness = await createHarness();
  try {
    const service = await harness.start();
    const lazy = (overrides: Record<string, string | undefined>) => {
      let started: Promise<Service> | undefined;
      return () => (started ??= harness.start(overrides));
    };
    const context: Context = {
      harness,
      service,
      stagingUnconfigured: lazy({ LISTRAK_STAGING_CLIENT_ID: undefined, LISTRAK_STAGING_CLIENT_SECRET: undefined, LISTRAK_STAGING_LIST_ID: undefined }),
      encrypted: lazy({ TEMPORAL_PAYLOAD_KEY: REPLAY_PAYLOAD_KEY }),
      privacy: lazy({
        LISTRAK_PRIVACY_CLIENT_ID: 'sandbox-privacy-client',
        LISTRAK_PRIVACY_CLIENT_SECRET: 'sandbox-privacy-secret',
        LISTRAK_PRIVACY_API_URL: harness.sandboxUrls.privacyUrl,
        LISTRAK_PRIVACY_POLL_SECONDS: '1',
      }),
    };
    const forbidden = (): Record<string, string> => ({
      'the Listrak client id': String(service.env.LISTRAK_CLIENT_ID),
      'the Listrak client secret': String(service.env.LISTRAK_CLIENT_SECRET),
      'the Listrak staging client id': String(service.env.LISTRAK_STAGING_CLIENT_ID),
      'the Listrak staging client secret': String(service.env.LISTRAK_STAGING_CLIENT_SECRET),
      'the webhook secret': WEBHOOK_SECRET,
      'the admin token': ADMIN_TOKEN,
      'the Listrak Privacy client secret': 'sandbox-privacy-secret',
      'the email hash key': String(service.env.EMAIL_HASH_KEY),
      ...Object.fromEntries(harness.sandbox.issuedTokens.map((token, position) => [`Listrak access token #${position + 1}`, token])),
    });
    mkdirSync(FIXTURE_DIR, { recursive: true });
    for (const scenario of todo) {
      const started = Date.now();
      const captures = await scenario.run(context);
      for (const capture of captures) {
        const file = fixtureFileName(scenario.name, capture.workflowType, capture.part);
        if (existsSync(path.join(FIXTURE_DIR, file))) throw new Error(`${file} exists and is not in index.json: remove it or add its entry`);
        const history = withoutMachineDetails(historyToJSON(await settledHistory(harness, capture)));
        const problems = privacyProblems(history, forbidden());
        if (problems.length > 0) throw new Error(`${file} ${problems.join('; ')}: not written`);
        writeFileSync(path.join(FIXTURE_DIR, file), `${JSON.stringify(history, null, 1)}\n`);
        index.push({
          file,
          scenario: scenario.name,
          workflowType: capture.workflowType,
          workflowId: capture.workflowId,
          description: capture.description,
          encrypted: scenario.encrypted ?? false,
          capturedFrom: commit,
        } satisfies FixtureEntry);
      }
      index.sort((a, b) => a.file.localeCompare(b.file));
      writeFileSync(INDEX_FILE, `${JSON.stringify(index, null, 2)}\n`);
      process.stdout.write(`${scenario.name}: ${captures.length} histories in ${Date.now() - started} ms\n`);
    }
  } finally {
    await harness.close();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
