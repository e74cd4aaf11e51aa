import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { changeWorkflowIdFor } from '../src/consent/intake';
import { ListrakClient } from '../src/listrak/client';
import { ListrakOperatorError } from '../src/listrak/errors';
import { NON_RETRYABLE_ERROR_TYPES } from '../src/listrak/retry-policy';
import { temporalCliPath } from '../src/dev/temporal-binaries';
import { consentEvent, eventually, PRODUCTION_LIST, uniqueEmail, waitForOutcome } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

describe('Listrak failures: each class handled as the error table says (counted calls)', () => {
  const { harness, service } = useHarness();

  const upserts = (email: string) => harness().sandbox.requestsFor('upsert', email);

  async function historyJson(workflowId: string): Promise<string> {
    const history = await harness().env.client.workflow.getHandle(workflowId).fetchHistory();
    return JSON.stringify(history);
  }

  it('retries transient failures (503, 429, a reset connection) durably, then applies', async () => {
    const email = uniqueEmail('transient');
    harness().sandbox.script(
      { route: 'upsert', email, status: 503 },
      { route: 'upsert', email, status: 429, error: 'HTTP_429' },
      { route: 'upsert', email, reset: true },
    );
    const event = consentEvent('opt_in', email, new Date());
    await service().post(event);
    const change = await waitForOutcome(service(), email, String(event.event_id), { timeoutMs: 30_000 });
    assert.equal(change.outcome, 'applied');
    assert.deepEqual(upserts(email).map((entry) => entry.status), [503, 429, 0, 201]);
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
  });

  it('does not retry a 400 (our request is wrong): parks it, then applies after a retry signal', async () => {
    const email = uniqueEmail('badrequest');
    harness().sandbox.script({ route: 'upsert', email, status: 400, error: 'ERROR_INVALID_PARAMETER' });
    const event = consentEvent('opt_out', email, new Date());
    await service().post(event);
    const parked = await waitForOutcome(service(), email, String(event.event_id));
    assert.equal(parked.outcome, 'parked');
    assert.equal(parked.listrakCode, 'ERROR_INVALID_PARAMETER');
    assert.match(parked.parkedReason, /LISTRAK_SEGMENTATION_FIELDS/);
    assert.equal(upserts(email).length, 1, 'a 400 is not retried');

    // Temporal's record of the failure: ActivityTaskFailed carrying a non-retryable ApplicationFailure.
    const history = JSON.parse(await historyJson(changeWorkflowIdFor(service().config, 'production', email, String(event.event_id)))) as {
      events: {
        activityTaskScheduledEventAttributes?: { retryPolicy?: { nonRetryableErrorTypes?: string[] } };
        activityTaskFailedEventAttributes?: { failure?: { applicationFailureInfo?: { type?: string; nonRetryable?: boolean } } };
      }[];
    };
    const failed = history.events.find((entry) => entry.activityTaskFailedEventAttributes);
    assert.equal(failed?.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.type, 'ListrakRequestError');
    assert.equal(failed?.activityTaskFailedEventAttributes?.failure?.applicationFailureInfo?.nonRetryable, true);
    // The workflow schedules its activity with what the retry policy's table parks.
    const scheduled = history.events.find((entry) => entry.activityTaskScheduledEventAttributes);
    assert.deepEqual(scheduled?.activityTaskScheduledEventAttributes?.retryPolicy?.nonRetryableErrorTypes, [...NON_RETRYABLE_ERROR_TYPES]);

    // Support finds everything waiting for a person through the search attribute.
    const listed = await eventually(async () => {
      const ids: string[] = [];
      for await (const execution of harness().env.client.workflow.list({ query: 'ConsentOutcome = "parked"' })) ids.push(execution.workflowId);
      return ids.includes(changeWorkflowIdFor(service().config, 'production', email, String(event.event_id))) ? ids : undefined;
    }, 20_000, 'the parked change to be listed');
    assert.ok(listed.length >= 1);

    const retried = await service().request(`/changes/${String(event.event_id)}/retry`, { method: 'POST' });
    assert.equal(retried.status, 200);
    assert.equal(retried.body.result, 'retried: now applying', 'the caller learns what the retry did');
    const applied = await eventually(async () => {
      const change = await waitForOutcome(service(), email, String(event.event_id));
      return change.outcome === 'applied' ? change : undefined;
    });
    assert.equal(applied.outcome, 'applied');
    assert.equal(upserts(email).length, 2);
    const again = await service().request(`/changes/${String(event.event_id)}/retry`, { method: 'POST' });
    assert.equal(again.status, 409, 'only a parked change can be retried');
    assert.match(again.body.detail, /is not parked/);
    assert.equal((await service().request('/changes/no-such-event/retry', { method: 'POST' })).status, 404);
  });

  it('parks on refused credentials; a retry from the Temporal CLI applies it once fixed', async () => {
    const client = harness().sandbox.client('sandbox-client')!;
    client.paused = true;
    const fresh = await harness().start(); // its own token cache, so the paused integration shows
    const email = uniqueEmail('paused');
    const event = consentEvent('opt_in', email, new Date());
    await fresh.post(event);
    const parked = await waitForOutcome(fresh, email, String(event.event_id));
    assert.equal(parked.outcome, 'parked');
    assert.equal(parked.listrakCode, 'ERROR_INVALID_CREDENTIALS');
    assert.equal(upserts(email).length, 0);

    client.paused = false;
    const cli = spawnSync(
      temporalCliPath(),
      ['workflow', 'signal', '--address', harness().env.address, '--workflow-id', changeWorkflowIdFor(fresh.config, 'production', email, String(event.event_id)), '--name', 'retry'],
      { encoding: 'utf8' },
    );
    assert.equal(cli.status, 0, cli.stderr);
    const applied = await eventually(async () => {
      const change = await waitForOutcome(fresh, email, String(event.event_id));
      return change.outcome === 'applied' ? change : undefined;
    });
    assert.equal(applied.outcome, 'applied');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
  });

  it('lets an operator skip a parked change', async () => {
    const email = uniqueEmail('skip');
    harness().sandbox.script({ route: 'upsert', email, status: 403, error: 'HTTP_403' });
    const event = consentEvent('opt_out', email, new Date());
    await service().post(event);
    assert.equal((await waitForOutcome(service(), email, String(event.event_id))).outcome, 'parked');
    assert.equal((await service().request(`/changes/${String(event.event_id)}/skip`, { method: 'POST', admin: false })).status, 401);
    const skippedAnswer = await service().request(`/changes/${String(event.event_id)}/skip`, { method: 'POST' });
    assert.equal(skippedAnswer.status, 200);
    assert.equal(skippedAnswer.body.result, 'skipped');
    const skipped = await eventually(async () => {
      const change = await waitForOutcome(service(), email, String(event.event_id));
      return change.outcome === 'skipped' ? change : undefined;
    });
    assert.match(skipped.detail, /skipped by an operator/);
    assert.equal(upserts(email).length, 1);
  });

  it('renews an expired token and, after a 401, fetches a fresh one once; tokens stay out of history', async () => {
    harness().sandbox.tokenLifetimeSeconds = 1;
    const tokenService = await harness().start();
    const email = uniqueEmail('token');
    const first = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    await tokenService.post(first);
    await waitForOutcome(tokenService, email, String(first.event_id));
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const second = consentEvent('opt_out', email, new Date(Date.now() - 30_000));
    await tokenService.post(second);
    assert.equal((await waitForOutcome(tokenService, email, String(second.event_id))).outcome, 'applied');
    assert.equal(tokenService.listrakClient.stats.tokenRequests, 2, 'the expired token was renewed before use');

    harness().sandbox.tokenLifetimeSeconds = 3600;
    harness().sandbox.revokeTokens();
    const third = consentEvent('opt_in', email, new Date());
    const before401 = tokenService.listrakClient.stats.tokenRequests;
    await tokenService.post(third);
    assert.equal((await waitForOutcome(tokenService, email, String(third.event_id))).outcome, 'applied');
    // The revoked token got a 401 on its first use: one fresh token, then the same call again.
    const rejected = harness().sandbox.requests.filter((entry) => entry.status === 401);
    assert.ok(rejected.length >= 1);
    assert.equal(tokenService.listrakClient.stats.tokenRequests, before401 + 1);
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');

    for (const event of [first, second, third]) {
      const history = await historyJson(changeWorkflowIdFor(service().config, 'production', email, String(event.event_id)));
      for (const token of harness().sandbox.issuedTokens) assert.ok(!history.includes(token), 'no access token in history');
      assert.ok(!history.includes('sandbox-secret'), 'no client secret in history');
    }
  });

  it('shares one token request between concurrent callers', async () => {
    const client = new ListrakClient({ authUrl: harness().sandboxUrls.authUrl, apiUrl: harness().sandboxUrls.apiUrl });
    const target = { clientId: 'sandbox-client', clientSecret: 'sandbox-secret', listId: PRODUCTION_LIST };
    await Promise.all(Array.from({ length: 10 }, () => client.getContact(target, uniqueEmail('nobody'))));
    assert.equal(client.stats.tokenRequests, 1);
    assert.equal(client.stats.apiRequests, 10);
    const wrong = new ListrakClient({ authUrl: harness().sandboxUrls.authUrl, apiUrl: harness().sandboxUrls.apiUrl });
    await assert.rejects(wrong.getList({ ...target, clientSecret: 'not-the-secret' }), (error: unknown) => {
      assert.ok(error instanceof ListrakOperatorError);
      assert.equal(error.code, 'ERROR_INVALID_CREDENTIALS');
      assert.ok(!error.message.includes('not-the-secret'));
      return true;
    });
  });
});
