import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { changeWorkflowIdFor } from '../src/consent/intake';
import { createReconcileOverview, installReconcileSchedules, reconcileScheduleId } from '../src/consent/reconcile';
import { ADMIN_TOKEN, consentEvent, eventually, PRODUCTION_LIST, uniqueEmail, waitForOutcome } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

// The live view in a real browser: Debian's Chromium, driven by playwright-core (`.ci/run`
// installs the chromium package; CHROMIUM_PATH points elsewhere).
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('live view page (GET /) in headless Chromium', { skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (install Debian's chromium package)` }, () => {
  const { harness, service } = useHarness({ TEMPORAL_UI_URL: 'http://temporal-ui.example:8233' });
  let browser: Browser;
  const profile = mkdtempSync(path.join(os.tmpdir(), 'live-view-browser-'));

  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      // This machine has no network beyond loopback: keep Chromium from trying to phone home.
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    await browser?.close();
    rmSync(profile, { recursive: true, force: true });
  });

  it('shows recent changes with outcome, Listrak code, attempts and Temporal UI links, and events refused at intake; retries a parked change; looks a person up', async () => {
    const email = uniqueEmail('live');
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    await service().post(optIn);
    await waitForOutcome(service(), email, String(optIn.event_id));
    harness().sandbox.script({ route: 'upsert', email, status: 404, error: 'ERROR_UNABLE_TO_LOCATE_RESOURCE' });
    const optOut = consentEvent('opt_out', email, new Date());
    await service().post(optOut);
    assert.equal((await waitForOutcome(service(), email, String(optOut.event_id))).outcome, 'parked');

    const refused = consentEvent('opt_out', uniqueEmail('liverefused'), new Date(), { event_time: 'yesterday' });
    assert.equal((await service().post([consentEvent('opt_in', uniqueEmail('liveok'), new Date()), refused])).status, 200);

    const page = await browser.newPage();
    await page.goto(`${service().url}/`);
    await page.locator('#error', { hasText: 'ADMIN_TOKEN' }).waitFor({ timeout: 10_000 });
    assert.equal(await page.locator('#changes tr').count(), 0, 'nothing is shown without the token');

    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#token-form button');
    const appliedRow = page.locator(`#changes tr[data-event-id="${String(optIn.event_id)}"]`);
    const parkedRow = page.locator(`#changes tr[data-event-id="${String(optOut.event_id)}"]`);
    await parkedRow.waitFor({ timeout: 20_000 });
    await appliedRow.waitFor({ timeout: 20_000 });

    const cells = async (row: typeof appliedRow) => (await row.locator('td').allTextContents()).map((text) => text.trim());
    const applied = await cells(appliedRow);
    assert.deepEqual([applied[2], applied[3], applied[4], applied[5], applied[6], applied[8]], ['opt_in', 'production', 'default', '1001 (production)', 'applied', '1']);
    const parked = await cells(parkedRow);
    // An opt-out no route of its own claims goes to every list of its environment (the shorthand's default route is not its own).
    assert.deepEqual([parked[2], parked[4], parked[5], parked[6], parked[7]], ['opt_out', '(every list)', '1001 (production)', 'parked', 'ERROR_UNABLE_TO_LOCATE_RESOURCE']);
    assert.equal(
      await parkedRow.locator('a').getAttribute('href'),
      `http://temporal-ui.example:8233/namespaces/default/workflows/${encodeURIComponent(changeWorkflowIdFor(service().config, 'production', email, String(optOut.event_id)))}`,
    );
    const refusedRow = page.locator('#refusals tr', { hasText: String(refused.event_id) });
    await refusedRow.waitFor({ timeout: 10_000 });
    const refusedCells = await cells(refusedRow);
    assert.deepEqual([refusedCells[1], refusedCells[2], refusedCells[3]], ['200', '1', String(refused.event_id)]);
    assert.match(refusedCells[5] ?? '', /^event_time: must be ISO-8601/);
    assert.ok(!(await page.locator('#refused').textContent())?.includes('@'), 'no address in the refused section');
    await page.screenshot({ path: process.env.LIVE_VIEW_SCREENSHOT ?? path.join(profile, 'live-view.png'), fullPage: true });

    // The cause is fixed (the scripted answer is used up): retry from the page.
    await parkedRow.locator('button[data-action="retry"]').click();
    // The page says what the retry did (the update's answer), not merely that it was sent.
    await page.locator('#decision', { hasText: `${String(optOut.event_id)}: retried: now applying` }).waitFor({ timeout: 10_000 });
    await parkedRow.locator('.outcome', { hasText: /^applied$/ }).waitFor({ timeout: 20_000 });
    assert.equal(harness().sandbox.contact(1001, email)?.subscriptionState, 'Unsubscribed');

    await page.fill('#email', email);
    await page.click('#lookup-form button');
    await page.locator('#person', { hasText: String(optOut.event_id) }).waitFor({ timeout: 10_000 });
    assert.ok(!(await page.locator('#person').textContent())?.includes(email), 'the answer carries the email hash, not the address');
    await page.close();
  });

  it('shows each routed list\'s reconciliation sweeps: the last finished with its figures, the next run', async () => {
    const client = harness().env.client;
    const ids = await installReconcileSchedules(client, service().config);
    const unsubscribed = reconcileScheduleId('production', PRODUCTION_LIST, 'unsubscribed');
    harness().sandbox.unsubscribeInListrak(PRODUCTION_LIST, uniqueEmail('live-sweep'), { at: new Date(Date.now() - 60_000) });
    await client.schedule.getHandle(unsubscribed).trigger();
    const overview = createReconcileOverview({ client, config: service().config });
    const finished = await eventually(async () => (await overview('production')).find((row) => row.scheduleId === unsubscribed && row.last), 60_000, 'the triggered sweep finished');

    const page = await openWithToken();
    const row = page.locator(`#sweeps tr[data-schedule-id="${unsubscribed}"]`);
    await row.waitFor({ timeout: 20_000 });
    const cells = (await row.locator('td').allTextContents()).map((text) => text.trim());
    assert.deepEqual(cells.slice(0, 3), [`production (production, ${PRODUCTION_LIST})`, 'unsubscribed', service().config.reconcile.mode]);
    assert.notEqual(cells[3], 'never');
    assert.equal(cells[4], String(finished.last!.figures.contactsRead));
    assert.ok(Number(cells[5]) >= 1, `external opt-outs: ${cells[5]}`);
    assert.notEqual(cells[9], '', 'the next run');
    assert.equal(await page.locator('#sweeps tr').count(), 2 * service().config.listrak.routing.lists.length, 'a row per list and sweep');
    await page.close();
    for (const id of ids) await client.schedule.getHandle(id).delete();
  });

  it('shows the recent forgets by hash, and a forgotten person\'s erasure record on lookup', async () => {
    const email = uniqueEmail('live-forget');
    const optOut = consentEvent('opt_out', email, new Date(Date.now() - 60_000));
    await service().post(optOut);
    await waitForOutcome(service(), email, String(optOut.event_id));
    const started = await service().request(`/consents/${encodeURIComponent(email)}/forget`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ requestedBy: 'live view test' }),
    });
    assert.equal(started.status, 202);
    await eventually(async () => (await service().request(`/consents/${encodeURIComponent(email)}`)).body?.erasure?.phase === 'done', 120_000, 'the forget to finish', 500);

    const page = await openWithToken();
    const row = page.locator(`#forgets tr[data-workflow-id="${String(started.body.workflowId)}"]`);
    await row.waitFor({ timeout: 20_000 });
    const cells = (await row.locator('td').allTextContents()).map((text) => text.trim());
    assert.deepEqual(cells.slice(1, 7), [`${String(started.body.emailHash).slice(0, 12)}…`, 'live view test', 'done', '1 forgotten', String(await deletedOf(email)), 'not asked']);
    assert.ok(!(await page.locator('#forgotten').textContent())?.includes('@example.com'), 'no address in the forgets section');

    await page.fill('#email', email);
    await page.click('#lookup-form button');
    await page.locator('#person', { hasText: '"requestedBy": "live view test"' }).waitFor({ timeout: 10_000 });
    await page.close();
  });

  /** The page, with the admin token given as support gives it. */
  async function openWithToken() {
    const page = await browser.newPage();
    await page.goto(`${service().url}/`);
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#token-form button');
    return page;
  }

  /** The erasure record's count of deleted workflows, as the API answers it. */
  async function deletedOf(email: string): Promise<number> {
    return (await service().request(`/consents/${encodeURIComponent(email)}`)).body.erasure.deletedWorkflows as number;
  }
});
