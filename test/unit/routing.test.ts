import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../src/config/config';
import { EVERY_LIST_ROUTE, listLabel, listNameOf, loadRoutingFile, profileAttributes, routeEvent, routeLabel } from '../../src/config/routing';
import { parseConsentCsv } from '../../src/cli/backfill';
import { applyFieldMap } from '../../src/consent/field-map';
import { changeLabels, ledgerListIds, notSentReason, routeChanges } from '../../src/consent/intake';
import { listText } from '../../src/cli/consent';
import { parseEvent, parseEvents } from '../../src/http/extole-events';
import { changeWorkflowId, ledgerKeyOfWorkflow, ledgerWorkflowId, legacyChangeWorkflowId, parseLedgerWorkflowId, type ExtoleConsentEvent, type LedgerKey } from '../../src/shared';

// The routing file, routes and the field map: pure, no server.

const dir = mkdtempSync(path.join(os.tmpdir(), 'routing-test-'));
const EXAMPLE = path.join(__dirname, '../../deploy/routing.example.yaml');
const CREDENTIALS = {
  LISTRAK_ADVOCATES_CLIENT_ID: 'advocates-id',
  LISTRAK_FRIENDS_CLIENT_ID: 'friends-id',
  LISTRAK_FRIENDS_CLIENT_SECRET: 'friends-secret-value',
  LISTRAK_STAGING_CLIENT_ID: 'staging-id',
  LISTRAK_STAGING_CLIENT_SECRET: 'staging-secret-value',
};
const BASE = { NODE_ENV: 'test', EMAIL_HASH_KEY: 'routing-test-email-hash-key', ...CREDENTIALS };

let written = 0;
/** Writes a routing file into the test's directory; returns its path. */
function routingFile(text: string, extension = 'yaml'): string {
  const file = path.join(dir, `routing-${++written}.${extension}`);
  writeFileSync(file, text);
  return file;
}

/** The committed example, with its secret file in the test's directory instead of /run/secrets. */
function exampleFile(): string {
  writeFileSync(path.join(dir, 'listrak-advocates-secret'), 'advocates-secret-value\n');
  return routingFile(readFileSync(EXAMPLE, 'utf8').replaceAll('/run/secrets/', `${dir}/`));
}

function loadError(text: string, extension?: string, env: NodeJS.ProcessEnv = BASE): string {
  try {
    loadRoutingFile(routingFile(text, extension), env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail('the routing file was accepted');
}

const ONE_LIST = `lists:
  main:
    listId: 1001
    clientIdFrom: env:LISTRAK_FRIENDS_CLIENT_ID
    clientSecretFrom: env:LISTRAK_FRIENDS_CLIENT_SECRET
`;

const event = (extra: Partial<ExtoleConsentEvent> = {}): ExtoleConsentEvent => ({
  eventId: 'e1',
  eventTime: '2026-11-10T12:00:00Z',
  eventTimeMs: Date.parse('2026-11-10T12:00:00Z'),
  type: 'opt_in',
  environment: 'production',
  email: 'a@example.com',
  profile: {},
  ...extra,
});

describe('the routing file (ROUTING_FILE)', () => {
  it('the committed example loads: its lists with credentials by reference, routes, default route and field map', () => {
    const routing = loadRoutingFile(exampleFile(), BASE);
    assert.deepEqual(
      routing.lists.map((list) => [list.name, list.environment, list.listId, list.clientId, list.clientSecret]),
      [
        ['advocates', 'production', 1001, 'advocates-id', 'advocates-secret-value'],
        ['friends', 'production', 1002, 'friends-id', 'friends-secret-value'],
        ['newsletter', 'production', 1003, 'friends-id', 'friends-secret-value'],
        ['staging', 'staging', 2002, 'staging-id', 'staging-secret-value'],
      ],
    );
    assert.deepEqual(routing.lists[0]?.segmentationFields, { first_name: 101, last_name: 102, share_link: 104, loyalty_tier: 110 });
    assert.deepEqual(routing.fields?.profile?.loyalty_tier, 'data.person.loyalty_tier');
    assert.deepEqual(routing.lists[0]?.optInEventIds, [501]);
    assert.deepEqual(routing.routes.map((route) => route.name), ['advocate-program', 'friend-program', 'spring-campaign']);
    assert.deepEqual(routing.routes[2]?.match, { campaignId: '7012345', environment: 'production' });
    assert.deepEqual(routing.defaultRoute?.lists, ['newsletter', 'staging']);
    assert.deepEqual(routing.fields?.type, { path: 'data.consent_state', optIn: ['subscribed', 'true'], optOut: ['unsubscribed', 'false'] });
  });

  it('the README’s routing file example is valid too', () => {
    const readme = readFileSync(path.join(__dirname, '../../README.md'), 'utf8');
    const block = /### The routing file[\s\S]*?```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(block, 'README has a yaml block under "The routing file"');
    writeFileSync(path.join(dir, 'listrak-advocates-secret'), 'advocates-secret-value\n');
    const routing = loadRoutingFile(routingFile(block.replaceAll('/run/secrets/', `${dir}/`)), BASE);
    assert.deepEqual(routing.routes.map((route) => route.lists), [['advocates'], ['friends', 'advocates']]);
    assert.equal(routing.fields?.email, 'data.email');
  });

  it('names the line and field of each problem, every problem at once', () => {
    const message = loadError(`lists:
  main:
    listId: "abc"
    clientIdFrom: env:LISTRAK_FRIENDS_CLIENT_ID
    clientSecretFrom: LISTRAK_FRIENDS_CLIENT_SECRET
routes:
  - name: r1
    match: { programLabel: advocate }
    lists: [main, missing]
`);
    assert.match(message, /line 3, column 13, lists\.main\.listId: Invalid input: expected number, received string/);
    assert.match(message, /line 5, column 23, lists\.main\.clientSecretFrom: must be 'env:VARIABLE_NAME' or 'file:\/absolute\/path'/);
    assert.match(loadError(`${ONE_LIST}routes:\n  - name: r1\n    match: { programLabel: advocate }\n    lists: [main, missing]\n`), /line 9, column 19, routes\.0\.lists\.1: no list 'missing' under lists: \(defined: main\)/);
    assert.match(loadError(ONE_LIST.replace('    listId: 1001\n', '')), /line 3, column 5, lists\.main\.listId: is required/);
  });

  it('doubleOptIn per list: false unless set, true where set, anything but a boolean refused by line', () => {
    const routing = loadRoutingFile(routingFile(`${ONE_LIST}    doubleOptIn: true\n  other:\n    listId: 1002\n    clientIdFrom: env:LISTRAK_FRIENDS_CLIENT_ID\n    clientSecretFrom: env:LISTRAK_FRIENDS_CLIENT_SECRET\n`), BASE);
    assert.deepEqual(routing.lists.map((list) => [list.name, list.doubleOptIn]), [['main', true], ['other', false]]);
    assert.match(loadError(`${ONE_LIST}    doubleOptIn: 'yes'\n`), /line 6, column 18, lists\.main\.doubleOptIn: must be true or false/);
    assert.ok(loadRoutingFile(exampleFile(), BASE).lists.some((list) => list.doubleOptIn), 'the committed example shows it');
  });

  it('refuses a secret written into the file, without repeating it', () => {
    const message = loadError(`${ONE_LIST}    clientSecret: do-not-echo-this-secret\n`);
    assert.match(message, /line 6, column 19, lists\.main\.clientSecret: 'clientSecret' is not allowed: credentials go by reference/);
    assert.doesNotMatch(message, /do-not-echo-this-secret/);
  });

  it('names an unset variable or unreadable file it references, never a value', () => {
    assert.match(loadError(ONE_LIST, 'yaml', { LISTRAK_FRIENDS_CLIENT_ID: 'id' }), /line 5, column 23, lists\.main\.clientSecretFrom: env:LISTRAK_FRIENDS_CLIENT_SECRET: the variable LISTRAK_FRIENDS_CLIENT_SECRET is not set/);
    assert.match(loadError(ONE_LIST.replace('env:LISTRAK_FRIENDS_CLIENT_SECRET', `file:${dir}/absent`)), /lists\.main\.clientSecretFrom: cannot read .*absent: ENOENT/);
  });

  it('reports YAML syntax errors by line, and JSON files by line and field path', () => {
    assert.match(loadError('lists:\n  main: [1,\n'), /is not valid YAML\/JSON:\n {2}line \d+, column \d+: /);
    const json = JSON.stringify({ lists: { main: { listId: 5, clientIdFrom: 'env:A', clientSecretFrom: 'env:B', colour: 'red' } } }, null, 2);
    assert.match(loadError(json, 'json'), /line 7, column 17, lists\.main\.colour: unknown key 'colour'/);
  });

  it('refuses one list defined twice, a route to a list of another environment, and a match on nothing', () => {
    const message = loadError(`${ONE_LIST}  again:
    listId: 1001
    clientIdFrom: env:A
    clientSecretFrom: env:B
  stage:
    environment: staging
    listId: 7
    clientIdFrom: env:A
    clientSecretFrom: env:B
routes:
  - name: r1
    match: { environment: production }
    lists: [stage]
  - name: r2
    match: {}
    lists: [main]
`);
    assert.match(message, /lists\.again\.listId: list 1001 in production is already defined as 'main'/);
    assert.match(message, /routes\.0\.lists\.0: list 'stage' is a staging list, the route matches production events only/);
    assert.match(message, /line 20, column 12, routes\.1\.match: must name programLabel, campaignId or environment/);
  });

  it('with ROUTING_FILE, the one-list variables are refused rather than silently ignored', () => {
    assert.throws(
      () => loadConfig({ ...BASE, ROUTING_FILE: routingFile(ONE_LIST), LISTRAK_LIST_ID: '12', LISTRAK_OPT_IN_EVENT_IDS: '5' }),
      /ROUTING_FILE replaces LISTRAK_LIST_ID, LISTRAK_OPT_IN_EVENT_IDS: remove them/,
    );
    assert.throws(() => loadConfig({ ...BASE, ROUTING_FILE: routingFile(ONE_LIST), LISTRAK_DOUBLE_OPT_IN: 'true' }), /ROUTING_FILE replaces LISTRAK_DOUBLE_OPT_IN: remove them/);
  });

  it('LISTRAK_DOUBLE_OPT_IN is the shorthand lists’ doubleOptIn (false unless set, a boolean)', () => {
    const shorthand = { ...BASE, LISTRAK_STAGING_CLIENT_ID: undefined, LISTRAK_STAGING_CLIENT_SECRET: undefined, LISTRAK_CLIENT_ID: 'id', LISTRAK_CLIENT_SECRET: 'secret', LISTRAK_LIST_ID: '12' };
    assert.deepEqual(loadConfig(shorthand).listrak.routing.lists.map((list) => list.doubleOptIn), [false]);
    assert.deepEqual(loadConfig({ ...shorthand, LISTRAK_DOUBLE_OPT_IN: 'true' }).listrak.routing.lists.map((list) => list.doubleOptIn), [true]);
    assert.throws(() => loadConfig({ ...shorthand, LISTRAK_DOUBLE_OPT_IN: 'maybe' }), /LISTRAK_DOUBLE_OPT_IN/);
  });
});

describe('routes: which lists an event goes to', () => {
  const routing = loadRoutingFile(exampleFile(), BASE);
  const listsOf = (extra: Partial<ExtoleConsentEvent>) => routeEvent(routing, event(extra)).lists.map((list) => list.name);

  it('the first route matching the program (and the list of the event environment only)', () => {
    assert.deepEqual(listsOf({ programLabel: 'advocate' }), ['advocates']);
    assert.deepEqual(listsOf({ programLabel: 'advocate', environment: 'staging' }), ['staging']);
    assert.deepEqual(listsOf({ programLabel: 'friend', campaignId: '7012345' }), ['friends', 'newsletter']);
  });

  it('a campaign and environment, then the default route', () => {
    assert.deepEqual(listsOf({ campaignId: '7012345' }), ['newsletter']);
    assert.deepEqual(listsOf({ campaignId: '7012345', environment: 'staging' }), ['staging']);
    assert.deepEqual(listsOf({ programLabel: 'other' }), ['newsletter']);
  });

  it('an opt-in to two lists is two changes, one per (environment, list, person) ledger; an opt-out goes to the same lists', () => {
    const config = loadConfig({ ...BASE, ROUTING_FILE: exampleFile() });
    for (const type of ['opt_in', 'opt_out'] as const) {
      const changes = routeChanges(config, event({ type, programLabel: 'friend' }));
      assert.deepEqual(changes.map((change) => [change.key.environment, change.key.listId, change.notSentReason]), [
        ['production', 1002, undefined],
        ['production', 1003, undefined],
      ]);
      assert.equal(new Set(changes.map((change) => change.key.emailHash)).size, 1);
    }
    assert.deepEqual(ledgerListIds(config, 'production'), [1001, 1002, 1003, null]);
  });

  it('without a default route, an unmatched event is one not-sent change with reason no_route', () => {
    const config = loadConfig({ ...BASE, ROUTING_FILE: routingFile(`${ONE_LIST}routes:\n  - name: friends\n    match: { programLabel: friend }\n    lists: [main]\n`) });
    const unmatched = event({ programLabel: 'advocate', campaignId: '42' });
    assert.deepEqual(routeChanges(config, unmatched).map((change) => [change.key.listId, change.notSentReason]), [
      [null, "no_route: no route matches program 'advocate', campaign '42' in production, and the routing file has no default route"],
    ]);
    assert.equal(notSentReason(config, event({ programLabel: 'friend', environment: 'staging' })), "no_route: route 'friends' has no staging list");
    assert.equal(notSentReason(config, event({ programLabel: 'friend' })), undefined);
  });

  it('without ROUTING_FILE, the variables are one list per environment and one default route (as before)', () => {
    const config = loadConfig({ ...BASE, LISTRAK_STAGING_CLIENT_ID: undefined, LISTRAK_STAGING_CLIENT_SECRET: undefined, LISTRAK_CLIENT_ID: 'id', LISTRAK_CLIENT_SECRET: 'secret', LISTRAK_LIST_ID: '12', LISTRAK_SEGMENTATION_FIELDS: 'first_name:101', LISTRAK_OPT_IN_EVENT_IDS: '7' });
    assert.deepEqual(config.listrak.routing.lists, [
      { clientId: 'id', clientSecret: 'secret', listId: 12, name: 'production', environment: 'production', segmentationFields: { first_name: 101 }, optInEventIds: [7], doubleOptIn: false },
    ]);
    assert.deepEqual(routeChanges(config, event({ programLabel: 'anything' })).map((change) => change.key.listId), [12]);
    assert.deepEqual(routeChanges(config, event({ environment: 'staging' })).map((change) => [change.key.listId, change.notSentReason]), [
      [null, 'staging events are not sent: no LISTRAK_STAGING_CLIENT_ID/SECRET/LIST_ID configured'],
    ]);
    assert.deepEqual(ledgerListIds(config, 'production'), [12]);
    assert.deepEqual(ledgerListIds(config, 'staging'), [null]);
  });
});

describe('the route and list a change is shown and counted by', () => {
  const config = () => loadConfig({ ...BASE, ROUTING_FILE: exampleFile() });

  it('each change carries the name of the route that sent it: a matched route, the default, every list for an unclaimed opt-out', () => {
    const routesOf = (extra: Partial<ExtoleConsentEvent>) => routeChanges(config(), event(extra)).map((change) => [change.key.listId, change.route]);
    assert.deepEqual(routesOf({ programLabel: 'friend' }), [[1002, 'friend-program'], [1003, 'friend-program']]);
    assert.deepEqual(routesOf({ programLabel: 'other' }), [[1003, 'default']]);
    assert.deepEqual(routesOf({ type: 'opt_out', programLabel: 'other' }), [[1001, EVERY_LIST_ROUTE.name], [1002, EVERY_LIST_ROUTE.name], [1003, EVERY_LIST_ROUTE.name]]);
  });

  it('an unrouted change carries the route that matched (it has no list of the environment), or none when nothing matched', () => {
    const unrouted = loadConfig({ ...BASE, ROUTING_FILE: routingFile(`${ONE_LIST}routes:\n  - name: friends\n    match: { programLabel: friend }\n    lists: [main]\n`) });
    assert.deepEqual(routeChanges(unrouted, event({ programLabel: 'friend', environment: 'staging' })).map((change) => [change.key.listId, change.route]), [[null, 'friends']]);
    const [none] = routeChanges(unrouted, event({ programLabel: 'advocate' }));
    assert.equal(none?.key.listId, null);
    assert.equal(none?.route, undefined);
    assert.deepEqual(changeLabels(unrouted, event({ programLabel: 'advocate' }), none), { environment: 'production', type: 'opt_in', list: 'none', route: 'none' });
  });

  it('list and route labels are the routing’s names only: none for no list or route, other for a name the routing no longer has', () => {
    const { routing } = config().listrak;
    assert.equal(listLabel(routing, 'production', 1002), 'friends');
    assert.equal(listLabel(routing, 'staging', 2002), 'staging');
    assert.equal(listLabel(routing, 'production', null), 'none');
    assert.equal(listLabel(routing, 'production', 2002), 'other', 'a staging list id in production is not that list');
    assert.equal(listLabel(routing, 'production', 9999), 'other');
    assert.equal(routeLabel(routing, 'friend-program'), 'friend-program');
    assert.equal(routeLabel(routing, 'default'), 'default');
    assert.equal(routeLabel(routing, EVERY_LIST_ROUTE.name), EVERY_LIST_ROUTE.name);
    assert.equal(routeLabel(routing, undefined), 'none');
    assert.equal(routeLabel(routing, 'a-route-of-an-older-file'), 'other');
    const [routed] = routeChanges(config(), event({ type: 'opt_out', programLabel: 'friend' }));
    assert.deepEqual(changeLabels(config(), event({ type: 'opt_out', programLabel: 'friend' }), routed!), { environment: 'production', type: 'opt_out', list: 'friends', route: 'friend-program' });
  });

  it('list names for people: the routing’s name, null for no list or one the routing no longer has; the CLI writes id and name', () => {
    const { routing } = config().listrak;
    assert.equal(listNameOf(routing, 'production', 1001), 'advocates');
    assert.equal(listNameOf(routing, 'production', null), null);
    assert.equal(listNameOf(routing, 'production', 9999), null);
    assert.equal(listText({ listId: 1001, listName: 'advocates' }), '1001 (advocates)');
    assert.equal(listText({ listId: 9999, listName: null }), '9999');
    assert.equal(listText({ listId: null, listName: null }), 'not configured');
  });

  it('the ledger of a workflow (for its list label): a ledger id, a per-ledger change id, or a legacy change id’s parent', () => {
    const key: LedgerKey = { environment: 'staging', listId: 2002, emailHash: 'abc' };
    const unconfigured: LedgerKey = { environment: 'production', listId: null, emailHash: 'def' };
    assert.deepEqual(parseLedgerWorkflowId(ledgerWorkflowId(key)), key);
    assert.deepEqual(parseLedgerWorkflowId(ledgerWorkflowId(unconfigured)), unconfigured);
    assert.equal(parseLedgerWorkflowId('consent-ledger/production/12x/abc'), undefined);
    assert.equal(parseLedgerWorkflowId('consent-ledger/elsewhere/12/abc'), undefined);
    assert.deepEqual(ledgerKeyOfWorkflow({ workflowId: ledgerWorkflowId(key) }), key);
    assert.deepEqual(ledgerKeyOfWorkflow({ workflowId: changeWorkflowId(key, 'e1') }), key);
    assert.deepEqual(ledgerKeyOfWorkflow({ workflowId: legacyChangeWorkflowId('e1'), parent: { workflowId: ledgerWorkflowId(unconfigured) } }), unconfigured);
    assert.equal(ledgerKeyOfWorkflow({ workflowId: legacyChangeWorkflowId('e1') }), undefined);
  });
});

describe('the field map: Extole event objects into the documented shape', () => {
  const routing = loadRoutingFile(exampleFile(), BASE);
  const native = {
    eventId: 'ext-1',
    clientId: '1890234',
    eventTime: '2026-11-10T12:00:00Z',
    webhookId: 'w1',
    causeEventId: 'cause-9',
    rootEventId: 'root-9',
    causeEventSequence: 2,
    campaignId: '7012345',
    programLabel: 'advocate',
    sandbox: 'prod-prod',
    data: { email: ' Ada@Example.com ', consent_state: 'unsubscribed', first_name: 'Ada', funnel: 'share' },
  };

  it('reads Extole’s own names and the mapped paths, translating the type and environment values', () => {
    const parsed = parseEvent(applyFieldMap(native, routing.fields), 0);
    assert.ok('event' in parsed, JSON.stringify(parsed));
    assert.deepEqual(parsed.event, {
      eventId: 'ext-1',
      eventTime: '2026-11-10T12:00:00Z',
      eventTimeMs: Date.parse('2026-11-10T12:00:00Z'),
      type: 'opt_out',
      email: 'ada@example.com',
      environment: 'production',
      profile: { first_name: 'Ada', funnel: 'share' },
      programLabel: 'advocate',
      campaignId: '7012345',
      causeEventId: 'cause-9',
      causeEventSequence: 2,
    });
  });

  it('an unknown mapped value and a missing mapped field are refused by the parser as before', () => {
    const result = parseEvents(applyFieldMap([{ ...native, data: { ...native.data, consent_state: 'maybe' } }, { ...native, data: {} }], routing.fields));
    assert.ok('problems' in result);
    assert.deepEqual(
      result.problems.map((problem) => [problem.index, problem.field, problem.message]),
      [
        [0, 'type', "must be 'opt_in' or 'opt_out', got 'maybe'"],
        [1, 'type', 'is required'],
        [1, 'email', 'is required'],
      ],
    );
  });

  it('without a field map (today’s shape), Extole’s top-level names are accepted as they are', () => {
    const parsed = parseEvent({ eventId: 'e2', eventTime: '2026-11-10T12:00:00Z', type: 'opt_in', email: 'a@example.com', programLabel: 'friend', campaignId: 7012345, causeEventId: 'c1', causeEventSequence: '3', clientId: '1', rootEventId: 'r', sandbox: 'x', data: {} }, 0);
    assert.ok('event' in parsed, JSON.stringify(parsed));
    assert.equal(parsed.event.programLabel, 'friend');
    assert.equal(parsed.event.campaignId, '7012345');
    assert.equal(parsed.event.causeEventSequence, 3);
    assert.equal(applyFieldMap(native, undefined), native);
  });

  it('refuses a causeEventSequence that is not a non-negative integer', () => {
    const parsed = parseEvent({ event_id: 'e3', event_time: '2026-11-10T12:00:00Z', type: 'opt_in', email: 'a@example.com', causeEventSequence: -1 }, 0);
    assert.ok('problems' in parsed);
    assert.deepEqual(parsed.problems.map((problem) => problem.field), ['causeEventSequence']);
  });
});

describe('any profile attribute: a list maps attribute names to Listrak fields, the field map says where they are', () => {
  const CUSTOM = `lists:
  main:
    listId: 1001
    clientIdFrom: env:LISTRAK_FRIENDS_CLIENT_ID
    clientSecretFrom: env:LISTRAK_FRIENDS_CLIENT_SECRET
    profileFields: { first_name: 101, loyalty_tier: 201, points-balance: 202 }
fields:
  email: data.email
  attributes:
    loyalty_tier: data.person.tier
    points-balance: data.person.points
    nickname: data.person.nickname
`;
  const native = {
    event_id: 'e-custom',
    event_time: '2026-11-10T12:00:00Z',
    type: 'opt_in',
    profile: { first_name: 'Ada', shoe_size: '38' },
    data: { email: 'ada@example.com', person: { tier: 'gold', points: 1200, nickname: 'mapped, but by no list', secret_note: 'not asked for' } },
  };

  it('a custom attribute is read at its path, a number is kept as written, and attributes no list maps are dropped', () => {
    const routing = loadRoutingFile(routingFile(CUSTOM), BASE);
    assert.deepEqual(routing.lists[0]?.segmentationFields, { first_name: 101, loyalty_tier: 201, 'points-balance': 202 });
    assert.deepEqual(routing.fields?.profile, { loyalty_tier: 'data.person.tier', 'points-balance': 'data.person.points', nickname: 'data.person.nickname' });
    assert.deepEqual(profileAttributes(routing).sort(), ['first_name', 'funnel', 'last_name', 'loyalty_tier', 'phone_number', 'points-balance', 'share_link']);
    const parsed = parseEvent(applyFieldMap(native, routing.fields), 0, { attributes: profileAttributes(routing) });
    assert.ok('event' in parsed, JSON.stringify(parsed));
    // first_name is a documented attribute: still read from the event's profile beside the map.
    assert.deepEqual(parsed.event.profile, { first_name: 'Ada', loyalty_tier: 'gold', 'points-balance': '1200' });
  });

  it('fields.profile, the older name of fields.attributes, works as before', () => {
    const routing = loadRoutingFile(routingFile(CUSTOM.replace('  attributes:', '  profile:')), BASE);
    assert.deepEqual(routing.fields?.profile, { loyalty_tier: 'data.person.tier', 'points-balance': 'data.person.points', nickname: 'data.person.nickname' });
  });

  it('refuses a list attribute that no field map entry and no documented attribute provides, naming it and where to map it', () => {
    const message = loadError(CUSTOM.replace('    points-balance: data.person.points\n', ''));
    assert.match(message, /line 6, column \d+, lists\.main\.profileFields\.points-balance: attribute 'points-balance' has no source: map it to its path in the event under fields\.attributes/);
    assert.match(message, /only first_name, last_name, phone_number, share_link, funnel are read/);
    // Without any field map the documented attributes need none; a custom one still does.
    const bare = loadError(ONE_LIST + '    profileFields: { funnel: 105, loyalty_tier: 201 }\n');
    assert.match(bare, /lists\.main\.profileFields\.loyalty_tier: attribute 'loyalty_tier' has no source/);
    assert.doesNotMatch(bare, /profileFields\.funnel/);
  });

  it('refuses an attribute name outside the safe characters, saying which are allowed', () => {
    const message = loadError(CUSTOM.replace('points-balance: 202', '"points balance": 202'));
    assert.match(message, /lists\.main\.profileFields\.points balance: 'points balance' is not allowed: attribute names are 1-64 letters, digits, _ and -, starting with a letter/);
    assert.match(loadError(CUSTOM.replace('    loyalty_tier: data.person.tier', '    loyalty.tier: data.person.tier')), /fields\.attributes\.loyalty\.tier: 'loyalty\.tier' is not allowed: attribute names/);
  });

  it('refuses two attributes for one Listrak field, a field id that is not one, and both attributes: and profile:', () => {
    assert.match(loadError(CUSTOM.replace('points-balance: 202', 'points-balance: 201')), /lists\.main\.profileFields\.points-balance: field 201 is already mapped to 'loyalty_tier': one attribute per Listrak field/);
    assert.match(loadError(CUSTOM.replace('points-balance: 202', 'points-balance: abc')), /lists\.main\.profileFields\.points-balance: Invalid input: expected number/);
    assert.match(loadError(`${CUSTOM}  profile:\n    first_name: data.first\n`), /fields\.profile: give either fields\.attributes or fields\.profile \(its older name\), not both/);
  });

  it('consent import reads a CSV column per configured attribute (headers in any case), and no other', () => {
    const config = loadConfig({ ...BASE, ROUTING_FILE: routingFile(CUSTOM.replace('loyalty_tier', 'Loyalty_Tier').replace('loyalty_tier', 'Loyalty_Tier')) });
    const { events, problems } = parseConsentCsv('email,type,event_time,first_name,LOYALTY_TIER,shoe_size\nada@example.com,opt_in,2026-11-10T12:00:00Z,Ada,gold,38\n', config);
    assert.deepEqual(problems, []);
    assert.deepEqual(events[0]?.profile, { first_name: 'Ada', Loyalty_Tier: 'gold' });
  });

  it('LISTRAK_SEGMENTATION_FIELDS keeps its five names, and says where any other attribute goes', () => {
    const ONE = { ...BASE, LISTRAK_STAGING_CLIENT_ID: undefined, LISTRAK_STAGING_CLIENT_SECRET: undefined };
    const config = loadConfig({ ...ONE, LISTRAK_CLIENT_ID: 'id', LISTRAK_CLIENT_SECRET: 'secret', LISTRAK_LIST_ID: '12', LISTRAK_SEGMENTATION_FIELDS: 'funnel:105,first_name:101' });
    assert.deepEqual(config.listrak.routing.lists[0]?.segmentationFields, { funnel: 105, first_name: 101 });
    assert.throws(
      () => loadConfig({ ...ONE, LISTRAK_CLIENT_ID: 'id', LISTRAK_CLIENT_SECRET: 'secret', LISTRAK_LIST_ID: '12', LISTRAK_SEGMENTATION_FIELDS: 'loyalty_tier:201' }),
      /LISTRAK_SEGMENTATION_FIELDS.*got 'loyalty_tier:201' \(any other attribute needs a ROUTING_FILE with fields\.attributes\)/,
    );
  });
});
