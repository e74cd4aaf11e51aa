import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config/config';
import { ListrakClient } from '../src/listrak/client';
import { checkListrak, formatReport } from '../src/listrak/check';
import { DEFAULT_SEED, ListrakSandbox, type SandboxSeed } from '../src/dev/listrak-sandbox/sandbox';
import { PROJECT_ROOT } from '../src/dev/paths';
import { testEnv } from '../src/dev/harness';

function seed(): SandboxSeed {
  const value = structuredClone(DEFAULT_SEED);
  value.clients.push({ clientId: 'paused-client', clientSecret: 'paused-secret', paused: true });
  value.clients.push({ clientId: 'no-events-client', clientSecret: 'no-events-secret', scopes: ['Contact', 'List', 'Segmentation'] });
  value.lists.push({ listId: 3003, listName: 'Inactive', active: false });
  value.lists.push({ ...structuredClone(value.lists[0]!), listId: 3004, listName: 'Confirmed', enableDoubleOptIn: true });
  const list = value.lists[0]!;
  list.segmentationFieldGroups![0]!.fields.push({ segmentationFieldId: 106, segmentationFieldName: 'Legacy', maxLength: 10, disabled: true });
  list.segmentationFieldGroups!.push({
    segmentationFieldGroupId: 20,
    segmentationFieldGroupName: 'Loyalty',
    fields: [
      { segmentationFieldId: 201, segmentationFieldName: 'Loyalty Tier', maxLength: 12, dataType: 'Text' },
      { segmentationFieldId: 202, segmentationFieldName: 'Points', maxLength: 10, dataType: 'Numeric' },
      { segmentationFieldId: 203, segmentationFieldName: 'Notes', maxLength: 500, dataType: 'CommentArea' },
    ],
  });
  list.events!.push({ eventId: 502, eventName: 'Retired series', status: 'Blocked' });
  return value;
}

describe('credential check (npm run check-listrak) against the sandbox', () => {
  const sandbox = new ListrakSandbox(seed());
  let urls: { authUrl: string; apiUrl: string };
  before(async () => {
    urls = await sandbox.listen(0);
  });
  after(async () => {
    await sandbox.close();
  });

  const env = (overrides: Record<string, string | undefined>) =>
    Object.fromEntries(Object.entries(testEnv(urls, overrides)).filter(([, value]) => value !== undefined)) as Record<string, string>;

  async function check(overrides: Record<string, string | undefined> = {}) {
    const config = loadConfig(env(overrides));
    const report = await checkListrak(new ListrakClient({ authUrl: config.listrak.authUrl, apiUrl: config.listrak.apiUrl }), config);
    return { report, text: formatReport(report, config.listrak.apiUrl) };
  }

  it('passes for a correct set-up, production and staging', async () => {
    const { report, text } = await check();
    assert.ok(report.ok, text);
    assert.match(text, /production:\n {2}ok {3}credentials accepted; list 1001 exists and is active/);
    assert.match(text, /ok {3}profile field 105 \(funnel\) "Funnel"/);
    assert.match(text, /ok {3}event 501 "Referral welcome series"/);
    assert.match(text, /staging:\n {2}ok {3}credentials accepted; list 2002/);
  });

  const failures: [string, Record<string, string | undefined>, RegExp][] = [
    ['a wrong client secret', { LISTRAK_CLIENT_SECRET: 'wrong' }, /FAIL list 1001: client id or secret rejected.*re-create the secret under Manage > Integrations/],
    ['a paused integration', { LISTRAK_CLIENT_ID: 'paused-client', LISTRAK_CLIENT_SECRET: 'paused-secret' }, /FAIL list 1001: .*unpause the integration/],
    ['an unknown list', { LISTRAK_LIST_ID: '4004' }, /FAIL list 4004: list 4004 not found: check the List ID under Contacts > List Manager/],
    ['an inactive list', { LISTRAK_LIST_ID: '3003' }, /FAIL list 3003: list 3003 is inactive/],
    ['a profile field id that does not exist', { LISTRAK_SEGMENTATION_FIELDS: 'first_name:101,funnel:999' }, /FAIL profile field 999 \(funnel\): no profile field 999 on list 1001: fix LISTRAK_SEGMENTATION_FIELDS/],
    ['a disabled profile field', { LISTRAK_SEGMENTATION_FIELDS: 'funnel:106' }, /FAIL profile field 106 \(funnel\): .*is disabled/],
    ['an event id that does not exist', { LISTRAK_OPT_IN_EVENT_IDS: '501,777' }, /FAIL event 777: no event 777 on list 1001: fix LISTRAK_OPT_IN_EVENT_IDS/],
    ['a blocked event', { LISTRAK_OPT_IN_EVENT_IDS: '502' }, /FAIL event 502: event 502 "Retired series" is blocked/],
    ['an integration without the Event scope', { LISTRAK_CLIENT_ID: 'no-events-client', LISTRAK_CLIENT_SECRET: 'no-events-secret' }, /FAIL events: the integration may not read events: give it the Contact, Event, List and Segmentation scopes/],
    ['double opt-in asked of a list that has it off in Listrak', { LISTRAK_DOUBLE_OPT_IN: 'true' }, /FAIL double opt-in: LISTRAK_DOUBLE_OPT_IN is true, but list 1001 has double opt-in off in Listrak/],
    ['a list with double opt-in on in Listrak that the service would subscribe directly', { LISTRAK_LIST_ID: '3004' }, /FAIL double opt-in: list 3004 has double opt-in on in Listrak, but the service subscribes new people directly: set LISTRAK_DOUBLE_OPT_IN to true/],
    ['a wrong staging secret', { LISTRAK_STAGING_CLIENT_SECRET: 'wrong' }, /staging:\n {2}FAIL list 2002: client id or secret rejected/],
  ];
  for (const [name, overrides, expected] of failures) {
    it(`reports ${name}, with the fix`, async () => {
      const { report, text } = await check(overrides);
      assert.equal(report.ok, false);
      assert.match(text, expected);
      assert.ok(!text.includes('wrong'), 'never prints a secret');
    });
  }

  it('passes a double opt-in list whose Listrak setting agrees, and says so', async () => {
    const { report, text } = await check({ LISTRAK_LIST_ID: '3004', LISTRAK_DOUBLE_OPT_IN: 'true', LISTRAK_STAGING_LIST_ID: undefined, LISTRAK_STAGING_CLIENT_ID: undefined, LISTRAK_STAGING_CLIENT_SECRET: undefined });
    assert.ok(report.ok, text);
    assert.match(text, /ok {3}double opt-in: on for list 3004 in Listrak and in LISTRAK_DOUBLE_OPT_IN/);
  });

  it('says staging is not configured without failing', async () => {
    const { report, text } = await check({ LISTRAK_STAGING_CLIENT_ID: undefined, LISTRAK_STAGING_CLIENT_SECRET: undefined, LISTRAK_STAGING_LIST_ID: undefined });
    assert.ok(report.ok, text);
    assert.match(text, /staging:\n {2}ok {3}not configured/);
  });

  it('with ROUTING_FILE, checks every list of every route with its own credentials, fields and events', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'check-routing-')), 'routing.yaml');
    writeFileSync(
      file,
      `lists:
  advocates:
    listId: 1001
    clientIdFrom: env:LISTRAK_CLIENT_ID
    clientSecretFrom: env:LISTRAK_CLIENT_SECRET
    profileFields: { first_name: 101, funnel: 999 }
    optInEventIds: [501]
    doubleOptIn: true
  friends:
    listId: 2002
    clientIdFrom: env:PAUSED_ID
    clientSecretFrom: env:PAUSED_SECRET
  staging:
    environment: staging
    listId: 2002
    clientIdFrom: env:LISTRAK_STAGING_CLIENT_ID
    clientSecretFrom: env:LISTRAK_STAGING_CLIENT_SECRET
default:
  lists: [advocates, friends, staging]
`,
    );
    const { report, text } = await check({
      ROUTING_FILE: file,
      PAUSED_ID: 'paused-client',
      PAUSED_SECRET: 'paused-secret',
      LISTRAK_LIST_ID: undefined,
      LISTRAK_STAGING_LIST_ID: undefined,
      LISTRAK_SEGMENTATION_FIELDS: undefined,
      LISTRAK_OPT_IN_EVENT_IDS: undefined,
    });
    assert.equal(report.ok, false);
    assert.deepEqual(report.environments.map((entry) => [entry.environment, entry.list]), [['production', 'advocates'], ['production', 'friends'], ['staging', 'staging']]);
    assert.match(text, /production list 'advocates':\n {2}ok {3}credentials accepted; list 1001/);
    assert.match(text, /FAIL profile field 999 \(funnel\): no profile field 999 on list 1001: fix profileFields of list 'advocates' in ROUTING_FILE/);
    assert.match(text, /FAIL double opt-in: doubleOptIn of list 'advocates' in ROUTING_FILE is true, but list 1001 has double opt-in off in Listrak/);
    assert.match(text, /ok {3}event 501/);
    assert.match(text, /production list 'friends':\n {2}FAIL list 2002: .*unpause the integration/);
    assert.match(text, /staging list 'staging':\n {2}ok {3}credentials accepted; list 2002/);
  });

  it('with ROUTING_FILE, reads the field of every mapped attribute, custom ones included: missing, a type that cannot take text, and the max length of the good ones', async () => {
    const file = path.join(mkdtempSync(path.join(os.tmpdir(), 'check-attributes-')), 'routing.yaml');
    writeFileSync(
      file,
      `lists:
  advocates:
    listId: 1001
    clientIdFrom: env:LISTRAK_CLIENT_ID
    clientSecretFrom: env:LISTRAK_CLIENT_SECRET
    profileFields: { first_name: 101, loyalty_tier: 201, points: 202, notes: 203, referral_code: 998 }
fields:
  attributes: { loyalty_tier: data.person.tier, points: data.person.points, notes: data.person.notes, referral_code: data.code }
`,
    );
    const { report, text } = await check({
      ROUTING_FILE: file,
      LISTRAK_LIST_ID: undefined,
      LISTRAK_STAGING_LIST_ID: undefined,
      LISTRAK_STAGING_CLIENT_ID: undefined,
      LISTRAK_STAGING_CLIENT_SECRET: undefined,
      LISTRAK_SEGMENTATION_FIELDS: undefined,
      LISTRAK_OPT_IN_EVENT_IDS: undefined,
    });
    assert.equal(report.ok, false);
    assert.match(text, /ok {3}profile field 101 \(first_name\) "First Name", up to 50 characters/);
    assert.match(text, /ok {3}profile field 201 \(loyalty_tier\) "Loyalty Tier", up to 12 characters/);
    assert.match(text, /ok {3}profile field 203 \(notes\) "Notes", up to 500 characters/);
    assert.match(text, /FAIL profile field 202 \(points\): profile field 202 "Points" is a Numeric field; attribute values are sent as text .*map 'points' to a Text field instead in profileFields of list 'advocates' in ROUTING_FILE/);
    assert.match(text, /FAIL profile field 998 \(referral_code\): no profile field 998 on list 1001: fix profileFields of list 'advocates' in ROUTING_FILE or create the field/);
    assert.equal(report.environments[0]?.lines.filter((line) => !line.ok).length, 2);
  });

  it('exits 0 when all is well and 1 with the report otherwise', async () => {
    // Asynchronous: the sandbox answering the child process runs in this process.
    const run = (overrides: Record<string, string | undefined>) =>
      new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          'npm',
          ['run', '--silent', 'check-listrak'],
          { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env(overrides) } },
          (error, stdout, stderr) => resolve({ status: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
        );
      });
    const good = await run({});
    assert.equal(good.status, 0, good.stdout + good.stderr);
    assert.match(good.stdout, /All good\./);
    const bad = await run({ LISTRAK_CLIENT_SECRET: 'wrong' });
    assert.equal(bad.status, 1);
    assert.match(bad.stdout, /Problems found/);
  });
});
