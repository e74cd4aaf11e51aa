import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { hashEmail } from '../src/consent/email';
import { PRIVACY_NOT_ASKED } from '../src/consent/forget';
import { ledgerKeyFor } from '../src/consent/intake';
import { consentEvent, eventually, PRODUCTION_LIST, uniqueEmail, waitForOutcome, type Service } from '../src/dev/harness';
import { ledgerWorkflowId } from '../src/shared';
import { useHarness } from './helpers/use-harness';
import { runConsent } from './helpers/run-consent';

const PRIVACY_CLIENT = 'sandbox-privacy-client';

/**
 * Forgetting a person (`POST /consents/{email}/forget`, `consent forget`): Listrak's Privacy API
 * is asked and followed to COMPLETE, this service drops the email and profile and deletes the
 * histories that held them, and the tombstone keeps stale opt-ins refused.
 */
describe('forgetting a person', () => {
  // The default service has no Privacy integration.
  const { harness, service } = useHarness({ LISTRAK_PRIVACY_POLL_SECONDS: '1' });
  let privacy: Service;
  before(async () => {
    privacy = await harness().start({
      LISTRAK_PRIVACY_CLIENT_ID: PRIVACY_CLIENT,
      LISTRAK_PRIVACY_CLIENT_SECRET: 'sandbox-privacy-secret',
      LISTRAK_PRIVACY_API_URL: harness().sandboxUrls.privacyUrl,
      LISTRAK_PRIVACY_POLL_SECONDS: '1',
    });
  });

  const status = async (on: Service, email: string) => (await on.request(`/consents/${encodeURIComponent(email)}`)).body;
  const forget = (on: Service, email: string, requestedBy = 'dpo@example.org (ticket 42)') =>
    on.request(`/consents/${encodeURIComponent(email)}/forget`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ requestedBy }),
    });
  const erased = (on: Service, email: string) =>
    eventually(async () => {
      const body = await status(on, email);
      return body?.erasure?.phase === 'done' ? body : undefined;
    }, 120_000, 'the forget to finish (the server deletes histories asynchronously)', 500);

  /** Every history of the person's workflows Temporal still holds, as text (payloads decoded: encryption is off here). */
  async function histories(on: Service, email: string): Promise<{ workflowId: string; text: string }[]> {
    const client = harness().env.client;
    const hash = hashEmail(on.config.emailHashKey, email);
    const ledger = ledgerWorkflowId(ledgerKeyFor(on.config, 'production', email));
    const found: { workflowId: string; text: string }[] = [];
    for (const query of [`ConsentEmailHash = '${hash}'`, `WorkflowId = '${ledger}'`]) {
      for await (const info of client.workflow.list({ query })) {
        // Visibility may still list a deleted run for a moment: its history is gone.
        const history = await client.workflow.getHandle(info.workflowId, info.runId).fetchHistory().catch(() => undefined);
        if (!history) continue;
        // Payload bytes come out as base64: decode each, so an address inside a JSON payload is found.
        const raw = JSON.stringify(history);
        const decoded = [...raw.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)].map((match) => Buffer.from(match[1]!, 'base64').toString('utf8'));
        const text = [raw, ...decoded].join('\n');
        found.push({ workflowId: `${info.workflowId}@${info.runId}`, text });
      }
    }
    return found;
  }

  it('asks Listrak and follows it to COMPLETE, erases the email from every history, refuses a stale opt-in and applies a newer one', async () => {
    const email = uniqueEmail('forget');
    const optIn = consentEvent('opt_in', email, '2026-11-19T10:00:00Z', { first_name: 'Ada' });
    const optOut = consentEvent('opt_out', email, '2026-11-20T10:00:00Z');
    await privacy.post(optIn);
    assert.equal((await waitForOutcome(privacy, email, String(optIn.event_id))).outcome, 'applied');
    await privacy.post(optOut);
    assert.equal((await waitForOutcome(privacy, email, String(optOut.event_id))).outcome, 'applied');
    // The scan below finds the address where it is: before the forget, in the ledger and the changes.
    await eventually(async () => (await histories(privacy, email)).some((history) => history.text.includes(email)), 20_000, 'the scan to find the email before the forget', 250);

    const answer = await forget(privacy, email);
    assert.equal(answer.status, 202);
    assert.equal(answer.body.privacy.asked, true);
    assert.equal(answer.body.requestedBy, 'dpo@example.org (ticket 42)');
    assert.ok(!JSON.stringify(answer.body).includes(email), 'the answer holds no email');
    const requestId = String(answer.body.privacy.requestId);
    assert.equal(harness().sandbox.privacy.requests.get(requestId)?.email, email, 'Listrak was asked to forget this address');

    const body = await erased(privacy, email);
    assert.equal(body.erasure.privacy.status, 'COMPLETE', 'followed to COMPLETE');
    assert.ok(body.erasure.privacy.polls >= 2);
    assert.ok(body.erasure.deletedWorkflows >= 3, `the earlier ledger run and the two change workflows were deleted (${body.erasure.deletedWorkflows})`);
    assert.equal(harness().sandbox.privacy.requests.get(requestId)?.status, 'COMPLETE');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email), undefined, 'Listrak forgot the contact');
    const production = (body.environments as any[]).find((view) => view.environment === 'production');
    assert.equal(production.forgotten.by, 'dpo@example.org (ticket 42)');
    assert.deepEqual(production.changes, [], 'the change records are gone');
    assert.match(production.desired.eventId, /^forget:/, 'the tombstone: an opt-out at the time of the forget');
    assert.ok(!JSON.stringify(body).includes(email), 'the status holds no email');
    const history = await privacy.request(`/consents/${encodeURIComponent(email)}/history`);
    assert.deepEqual([history.status, history.body.changes, history.body.erasure?.requestedBy], [200, [], 'dpo@example.org (ticket 42)'], 'the history: the erasure record only');

    // Once the forget is done, no history the client can read holds the address any more.
    const left = await histories(privacy, email);
    assert.deepEqual(left.filter((history) => history.text.includes(email)).map((history) => history.workflowId), [], 'histories still holding the email');
    assert.ok(left.length > 0, 'the ledger run without the email (and the forget) are still there');

    // A stale opt-in (the original one, delivered again): refused, nothing written to Listrak.
    const listrakBefore = harness().sandbox.requests.filter((entry) => entry.email === email && entry.route !== 'privacyForget' && entry.route !== 'privacyStatus').length;
    assert.equal((await privacy.post(optIn)).status, 200);
    const refused = await waitForOutcome(privacy, email, String(optIn.event_id));
    assert.equal(refused.outcome, 'superseded');
    assert.match(refused.detail, /erasure/);
    assert.equal(
      harness().sandbox.requests.filter((entry) => entry.email === email && entry.route !== 'privacyForget' && entry.route !== 'privacyStatus').length,
      listrakBefore,
      'no Listrak request for the stale opt-in',
    );
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email), undefined);

    // A new opt-in, after the forget: the person chose again.
    const again = consentEvent('opt_in', email, new Date(Date.now() + 1_000));
    await privacy.post(again);
    assert.equal((await waitForOutcome(privacy, email, String(again.event_id))).outcome, 'applied');
    assert.equal(harness().sandbox.contact(PRODUCTION_LIST, email)?.subscriptionState, 'Subscribed');
    assert.equal((await status(privacy, email)).environments.find((view: any) => view.environment === 'production').forgotten.by, 'dpo@example.org (ticket 42)', 'the erasure record stays');
  });

  it('without a Privacy integration, erases what the service keeps and records that Listrak was not asked', async () => {
    const email = uniqueEmail('forget-unasked');
    const optOut = consentEvent('opt_out', email, '2026-11-20T10:00:00Z');
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'applied');
    const requestsBefore = harness().sandbox.privacy.requests.size;

    const answer = await forget(service(), email, 'support');
    assert.equal(answer.status, 202);
    assert.deepEqual(answer.body.privacy, { asked: false, reason: PRIVACY_NOT_ASKED });
    const body = await erased(service(), email);
    assert.deepEqual(body.erasure.privacy, { asked: false, reason: PRIVACY_NOT_ASKED }, 'never a claim that Listrak forgot');
    assert.equal(harness().sandbox.privacy.requests.size, requestsBefore, 'no Privacy API request');
    assert.ok((body.environments as any[]).every((view) => view.changes.length === 0));

    // A stale opt-out-older opt-in stays refused here too.
    const stale = consentEvent('opt_in', email, '2026-11-20T09:00:00Z');
    await service().post(stale);
    assert.equal((await waitForOutcome(service(), email, String(stale.event_id))).outcome, 'superseded');
  });

  it('`consent forget` does the same from a terminal, and needs --by', async () => {
    const email = uniqueEmail('forget-cli');
    const optOut = consentEvent('opt_out', email, '2026-11-20T10:00:00Z');
    await privacy.post(optOut);
    assert.equal((await waitForOutcome(privacy, email, String(optOut.event_id))).outcome, 'applied');
    assert.equal((await runConsent(privacy.env, 'forget', email)).code, 2, 'no --by: a usage error');
    const run = await runConsent(privacy.env, 'forget', email, '--by', 'cli test', '--json');
    assert.equal(run.code, 0, run.stderr);
    const answer = JSON.parse(run.stdout) as { privacy: { asked: boolean; requestId: string }; requestedBy: string };
    assert.deepEqual([answer.privacy.asked, answer.requestedBy], [true, 'cli test']);
    assert.ok(!run.stdout.includes(email), 'the answer holds no email');
    const body = await erased(privacy, email);
    assert.equal(body.erasure.privacy.requestId, answer.privacy.requestId);
    assert.equal(body.erasure.requestedBy, 'cli test');
  });

  it('lists the recent forgets with their record, and no email (GET /forgets, `consent forgets`)', async () => {
    const email = uniqueEmail('forget-listed');
    const optOut = consentEvent('opt_out', email, '2026-11-21T10:00:00Z');
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'applied');
    assert.equal((await forget(service(), email, 'listing test')).status, 202);
    await erased(service(), email);
    const hash = hashEmail(service().config.emailHashKey, email);

    const answer = await service().request('/forgets?limit=100');
    assert.equal(answer.status, 200);
    const listed = (answer.body.forgets as any[]).find((entry) => entry.emailHash === hash);
    assert.ok(listed, 'the forget is listed by its hash');
    assert.deepEqual(
      [listed.workflowId, listed.status, listed.erasure.phase, listed.erasure.requestedBy, listed.erasure.privacy.asked],
      [`consent-forget/${hash}`, 'completed', 'done', 'listing test', false],
    );
    assert.ok(listed.erasure.ledgers.some((ledger: { result: string }) => ledger.result === 'forgotten'));
    assert.ok(!JSON.stringify(answer.body).includes(email), 'no address in the listing');
    const newest = answer.body.forgets as { startedAt: string }[];
    assert.deepEqual(newest.map((entry) => entry.startedAt), newest.map((entry) => entry.startedAt).sort().reverse(), 'newest first');
    assert.equal((await service().request('/forgets?limit=0')).status, 400);

    const run = await runConsent(service().env, 'forgets', '--json', '--limit', '100');
    assert.equal(run.code, 0, run.stderr);
    assert.equal((JSON.parse(run.stdout) as { emailHash: string; erasure?: { requestedBy: string } }[]).find((entry) => entry.emailHash === hash)?.erasure?.requestedBy, 'listing test');
    const text = await runConsent(service().env, 'forgets', '--limit', '100');
    assert.match(text.stdout, new RegExp(`${hash}\\s+listing test\\s+done\\s+1 forgotten`));
    assert.equal((await runConsent(service().env, 'forgets', '--limit', '101')).code, 2);
  });

  it('refuses a body without requestedBy', async () => {
    const answer = await service().request(`/consents/${encodeURIComponent(uniqueEmail('forget-bad'))}/forget`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({}),
    });
    assert.deepEqual([answer.status, answer.body.error], [400, 'invalid_body']);
  });

  it('keeps to the Privacy API’s rate limit: beyond its share the API answers 429 with Retry-After, and Listrak never has to refuse', async () => {
    harness().sandbox.privacyPollsUntilComplete = 1;
    const answers: { status: number; retryAfter: string | null }[] = [];
    for (let index = 0; index < 12; index++) {
      const email = uniqueEmail('forget-burst');
      const response = await fetch(`${privacy.url}/consents/${encodeURIComponent(email)}/forget`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer test-admin-token' },
        body: JSON.stringify({ requestedBy: 'burst' }),
      });
      answers.push({ status: response.status, retryAfter: response.headers.get('retry-after') });
      await response.text();
      if (response.status === 429) break;
    }
    const last = answers.at(-1)!;
    assert.equal(last.status, 429, `the burst was refused once over the share: ${JSON.stringify(answers)}`);
    assert.ok(Number(last.retryAfter) >= 1 && Number(last.retryAfter) <= 11, `Retry-After ${last.retryAfter}`);
    assert.ok(answers.filter((entry) => entry.status === 202).length <= 10, 'at most half of 20 per 10 s from the API');
    // The forgets' status requests (the worker's share) complete them without a 429 from Listrak.
    await eventually(
      () => [...harness().sandbox.privacy.requests.values()].every((request) => request.status === 'COMPLETE'),
      60_000,
      'every forget request to be COMPLETE',
      500,
    );
    assert.equal(harness().sandbox.privacy.rateLimited.get(PRIVACY_CLIENT) ?? 0, 0, 'Listrak never answered 429');
    harness().sandbox.privacyPollsUntilComplete = 2;
  });
});
