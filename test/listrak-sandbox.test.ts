import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { ListrakContract, SWAGGER_FILE } from '../src/dev/listrak-sandbox/contract';
import { ConfigError } from '../src/config/config';
import { parseSandboxSettings, SANDBOX_FLAGS, SANDBOX_VARIABLES, type SandboxFlag, type SandboxSettings } from '../src/config/sandbox';
import { errorAnswer, ListrakAnswer, ListrakRules, type Answer, type SandboxRoute } from '../src/dev/listrak-sandbox/rules';
import { DEFAULT_SEED, ListrakSandbox, sandboxFromSettings, type SandboxSeed } from '../src/dev/listrak-sandbox/sandbox';
import { PROJECT_ROOT } from '../src/dev/paths';
import { ListrakClient } from '../src/listrak/client';

// The sandbox itself, against Listrak's published contract: requests built from the Swagger's
// parameters and schemas, valid and invalid, get the answers the contract describes.

const SEED: SandboxSeed = {
  clients: [
    { clientId: 'full', clientSecret: 'full-secret', betaRoutes: true },
    { clientId: 'paused', clientSecret: 'paused-secret', paused: true },
    { clientId: 'contact-only', clientSecret: 'contact-secret', scopes: ['Contact'] },
  ],
  lists: [
    {
      listId: 1001,
      listName: 'Main',
      segmentationFieldGroups: [
        {
          segmentationFieldGroupId: 10,
          segmentationFieldGroupName: 'Profile',
          fields: [
            { segmentationFieldId: 101, segmentationFieldName: 'First Name', maxLength: 10 },
            { segmentationFieldId: 102, segmentationFieldName: 'Old Field', maxLength: 10, disabled: true },
            { segmentationFieldId: 103, segmentationFieldName: 'Points', maxLength: 10, dataType: 'Numeric' },
            { segmentationFieldId: 104, segmentationFieldName: 'Member Since', maxLength: 30, dataType: 'Date' },
            { segmentationFieldId: 105, segmentationFieldName: 'Notes', maxLength: 200, dataType: 'CommentArea' },
          ],
        },
      ],
      events: [
        { eventId: 501, eventName: 'Welcome', status: 'Active' },
        { eventId: 502, eventName: 'Retired', status: 'Blocked' },
      ],
    },
    { listId: 3003, listName: 'Closed', active: false },
  ],
  bannedEmails: ['banned@example.com'],
  suppressedEmails: ['suppressed@example.com'],
  pendingEmails: ['pending@example.com'],
};

describe('Listrak sandbox follows the published contract', () => {
  const contract = ListrakContract.load();
  const sandbox = new ListrakSandbox(structuredClone(SEED), contract);
  let base = '';
  let token = '';

  before(async () => {
    base = (await sandbox.listen(0)).url;
    token = await getToken('full', 'full-secret');
  });
  after(async () => {
    await sandbox.close();
  });

  async function getToken(clientId: string, clientSecret: string): Promise<string> {
    const response = await fetch(`${base}/OAuth2/Token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }),
    });
    const body = (await response.json()) as { access_token: string };
    return body.access_token;
  }

  async function call(method: string, route: string, options: { body?: unknown; raw?: string; contentType?: string; bearer?: string } = {}) {
    const headers: Record<string, string> = { authorization: `Bearer ${options.bearer ?? token}` };
    const payload = options.raw ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
    if (payload !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
    const response = await fetch(`${base}/email${route}`, { method, headers, body: payload } satisfies RequestInit);
    return { status: response.status, body: (await response.json()) as any };
  }

  /** Validates a success body against the operation's response schema in the Swagger file. */
  function assertMatchesResponseSchema(template: string, method: string, status: number, body: unknown) {
    const swagger = contract.swagger as unknown as {
      paths: Record<string, Record<string, { responses: Record<string, { schema?: unknown }> }>>;
      definitions: unknown;
    };
    const schema = swagger.paths[template]?.[method]?.responses[String(status)]?.schema;
    assert.ok(schema, `${method} ${template} documents ${status}`);
    const ajv = new Ajv({ strict: false });
    addFormats(ajv);
    ajv.addFormat('int32', { type: 'number', validate: Number.isInteger });
    ajv.addFormat('int64', { type: 'number', validate: Number.isInteger });
    const validate = ajv.compile({ ...(schema), definitions: swagger.definitions });
    assert.ok(validate(body), JSON.stringify(validate.errors));
  }

  const errorOf = (answer: { status: number; body: any }) => `${answer.status} ${answer.body.error}`;

  it('keeps its copy of the Swagger file equal to the shared one', { skip: !existsSync(path.join(PROJECT_ROOT, '..', 'shared')) && 'no ../shared' }, () => {
    const shared = path.join(PROJECT_ROOT, '..', 'shared', 'listrak', 'email-api-swagger.json');
    assert.equal(readFileSync(SWAGGER_FILE, 'utf8'), readFileSync(shared, 'utf8'));
  });

  it('issues tokens for valid credentials and refuses wrong, unknown and paused ones', async () => {
    assert.ok(token.length > 10);
    for (const [id, secret] of [['full', 'wrong'], ['nobody', 'x'], ['paused', 'paused-secret']]) {
      const response = await fetch(`${base}/OAuth2/Token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: id!, client_secret: secret! }),
      });
      assert.equal(((await response.json()) as { error: string }).error, 'ERROR_INVALID_CREDENTIALS');
    }
    assert.equal(errorOf(await call('GET', '/v1/List/1001', { bearer: 'not-a-token' })), '401 ERROR_UNAUTHORIZED');
  });

  it('answers every served route in the documented response shape', async () => {
    const cases: [string, string, string, number][] = [
      ['GET', '/v1/List/1001', '/v1/List/{listId}', 200],
      ['GET', '/v1/List/1001/SegmentationFieldGroup', '/v1/List/{listId}/SegmentationFieldGroup', 200],
      ['GET', '/v1/List/1001/SegmentationFieldGroup/10/SegmentationField', '/v1/List/{listId}/SegmentationFieldGroup/{segmentationFieldGroupId}/SegmentationField', 200],
      ['GET', '/v1/List/1001/Event', '/v1/List/{listId}/Event', 200],
    ];
    for (const [method, route, template, status] of cases) {
      const answer = await call(method, route);
      assert.equal(answer.status, status, `${method} ${route}`);
      assertMatchesResponseSchema(template, method.toLowerCase(), status, answer.body);
    }
    const created = await call('POST', '/v1/List/1001/Contact?eventIds=501', {
      body: { emailAddress: 'shape@example.com', subscriptionState: 'Subscribed', segmentationFieldValues: [{ segmentationFieldId: 101, value: 'Ann' }] },
    });
    assert.equal(created.status, 201);
    assertMatchesResponseSchema('/v1/List/{listId}/Contact', 'post', 201, created.body);
    const read = await call('GET', '/v1/List/1001/Contact/shape@example.com');
    assert.equal(read.status, 200);
    assertMatchesResponseSchema('/v1/List/{listId}/Contact/{contactIdentifier}', 'get', 200, read.body);
    assert.equal(read.body.data.subscriptionState, 'Subscribed');
    assert.ok(read.body.data.subscribeDate);
  });

  it('rejects a wrong type for every path and query parameter of the served routes (from the Swagger)', async () => {
    const routes: [string, string, Record<string, string>][] = [
      ['POST', '/v1/List/{listId}/Contact', { listId: '1001' }],
      ['GET', '/v1/List/{listId}/Contact/{contactIdentifier}', { listId: '1001', contactIdentifier: 'shape@example.com' }],
      ['GET', '/v1/List/{listId}', { listId: '1001' }],
      ['GET', '/v1/List/{listId}/Event', { listId: '1001' }],
      ['GET', '/v1/List/{listId}/SegmentationFieldGroup', { listId: '1001' }],
      ['GET', '/v1/List/{listId}/Contact', { listId: '1001' }],
    ];
    let checked = 0;
    for (const [method, template, values] of routes) {
      const match = contract.match(method, template.replace(/\{(\w+)\}/g, (_m, name: string) => values[name]!));
      assert.ok('operation' in match);
      for (const parameter of match.operation.parameters) {
        if (parameter.type !== 'integer' && parameter.type !== 'boolean') continue;
        const bad = parameter.type === 'integer' ? 'not-a-number' : 'maybe';
        const pathValues = parameter.in === 'path' ? { ...values, [parameter.name]: bad } : values;
        const route = template.replace(/\{(\w+)\}/g, (_m, name: string) => encodeURIComponent(pathValues[name]!));
        const query = parameter.in === 'query' ? `?${parameter.name}=${bad}` : '';
        const body = method === 'POST' ? { emailAddress: 'types@example.com', segmentationFieldValues: [] } : undefined;
        const answer = await call(method, `${route}${query}`, body === undefined ? {} : { body });
        assert.equal(errorOf(answer), '400 ERROR_INVALID_PARAMETER', `${method} ${template} ${parameter.name}=${bad}`);
        checked++;
      }
    }
    assert.ok(checked >= 10, `checked ${checked} parameters`);
  });

  it('validates the Contact body against its schema: required fields and types', async () => {
    const valid = { emailAddress: 'body@example.com', subscriptionState: 'Subscribed', segmentationFieldValues: [] };
    const schema = (contract.swagger.definitions as Record<string, { required: string[] }>).Contact!;
    for (const required of schema.required) {
      const body: Record<string, unknown> = { ...valid };
      delete body[required];
      const answer = await call('POST', '/v1/List/1001/Contact', { body });
      assert.equal(errorOf(answer), '400 ERROR_INVALID_PARAMETER', `without ${required}`);
      assert.match(answer.body.message, new RegExp(required));
    }
    for (const body of [
      { ...valid, emailAddress: 42 },
      { ...valid, segmentationFieldValues: [{ segmentationFieldId: 'x', value: 'y' }] },
      { ...valid, segmentationFieldValues: [{ segmentationFieldId: 101 }] },
    ]) {
      assert.equal(errorOf(await call('POST', '/v1/List/1001/Contact', { body })), '400 ERROR_INVALID_PARAMETER', JSON.stringify(body));
    }
    assert.equal(errorOf(await call('POST', '/v1/List/1001/Contact', { raw: '{"emailAddress":' })), '400 ERROR_MALFORMED_REQUEST_BODY');
    assert.equal(errorOf(await call('POST', '/v1/List/1001/Contact', { raw: JSON.stringify(valid), contentType: 'text/plain' })), '415 ERROR_UNSUPPORTED_CONTENT_TYPE');
  });

  it('answers unknown routes, wrong methods, unknown and inactive lists as Listrak does', async () => {
    assert.equal(errorOf(await call('GET', '/v1/Nothing/Here')), '404 ERROR_UNKNOWN_ROUTE');
    assert.equal(errorOf(await call('PATCH', '/v1/List/1001/Contact')), '405 ERROR_UNSUPPORTED_METHOD');
    assert.equal(errorOf(await call('GET', '/v1/List/9999')), '404 ERROR_UNABLE_TO_LOCATE_RESOURCE');
    assert.equal(errorOf(await call('GET', '/v1/List/3003')), '400 ERROR_LIST_INACTIVE');
    assert.equal(errorOf(await call('GET', '/v1/List/1001/Contact/nobody@example.com')), '404 ERROR_UNABLE_TO_LOCATE_RESOURCE');
    const big = { emailAddress: 'big@example.com', segmentationFieldValues: [{ segmentationFieldId: 101, value: 'x'.repeat(1024 * 1024) }] };
    assert.equal(errorOf(await call('POST', '/v1/List/1001/Contact', { body: big })), '404 ERROR_UNABLE_TO_LOCATE_RESOURCE', 'oversized payloads answer 404');
  });

  it('enforces the subscription rules of the contact write', async () => {
    const post = (query: string, body: Record<string, unknown>) =>
      call('POST', `/v1/List/1001/Contact${query}`, { body: { segmentationFieldValues: [], ...body } });
    assert.equal(errorOf(await post('', { emailAddress: 'not-an-email', subscriptionState: 'Subscribed' })), '400 ERROR_INVALID_EMAIL_ADDRESS');
    assert.equal(errorOf(await post('', { emailAddress: 'banned@example.com' })), '400 ERROR_BANNED_EMAIL_ADDRESS');
    assert.equal(errorOf(await post('', { emailAddress: 'suppressed@example.com' })), '400 ERROR_SUPPRESSED_EMAIL');
    assert.equal(errorOf(await post('', { emailAddress: 'pending@example.com' })), '400 ERROR_PENDING_EMAIL_ADDRESS');
    assert.equal(errorOf(await post('?eventIds=999', { emailAddress: 'ev@example.com' })), '400 ERROR_INVALID_PARAMETER', 'unknown event id');
    assert.equal(errorOf(await post('?eventIds=502', { emailAddress: 'ev@example.com' })), '400 ERROR_INVALID_PARAMETER', 'blocked event');
    assert.equal(errorOf(await post('', { emailAddress: 'f@example.com', segmentationFieldValues: [{ segmentationFieldId: 999, value: 'a' }] })), '400 ERROR_INVALID_SEGMENTATION_FIELD_ID');
    assert.equal(errorOf(await post('', { emailAddress: 'f@example.com', segmentationFieldValues: [{ segmentationFieldId: 102, value: 'a' }] })), '400 ERROR_SEGMENTATION_FIELD_DISABLED');
    assert.equal(errorOf(await post('', { emailAddress: 'f@example.com', segmentationFieldValues: [{ segmentationFieldId: 101, value: 'far too long' }] })), '400 ERROR_SEGMENTATION_MAX_LENGTH');
    assert.equal(
      errorOf(await post('', { emailAddress: 'f@example.com', segmentationFieldValues: [{ segmentationFieldId: 101, value: 'a' }, { segmentationFieldId: 101, value: 'b' }] })),
      '400 ERROR_SEGMENTATION_FIELD_DEFINED_TWICE',
    );

    const email = 'rules@example.com';
    assert.equal(errorOf(await post('', { emailAddress: email, subscriptionState: 'Unsubscribed' })), '400 ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS');
    assert.equal((await post('?eventIds=501', { emailAddress: email, subscriptionState: 'Subscribed' })).status, 201);
    assert.deepEqual(sandbox.contact(1001, email)?.raisedEvents.map((event) => event.eventId), [501]);
    assert.equal(errorOf(await post('', { emailAddress: email, subscriptionState: 'Unsubscribed', segmentationFieldValues: [{ segmentationFieldId: 101, value: 'a' }] })), '400 ERROR_UNSUBSCRIBE_WITH_SEGMENTATION_DATA');
    assert.equal(errorOf(await post('?eventIds=501', { emailAddress: email, subscriptionState: 'Unsubscribed' })), '400 ERROR_UNSUBSCRIBE_WITH_EVENTS');
    assert.equal((await post('', { emailAddress: email, subscriptionState: 'Unsubscribed' })).status, 201);
    assert.equal(errorOf(await post('', { emailAddress: email, subscriptionState: 'Unsubscribed' })), '400 ERROR_UNSUBSCRIBED_EMAIL_ADDRESS');
    assert.equal(errorOf(await post('?eventIds=501', { emailAddress: email, subscriptionState: 'Subscribed' })), '400 ERROR_UPDATE_UNSUBSCRIBE_WITH_EVENTS');
    // Without overrideUnsubscribe an unsubscribed contact stays unsubscribed (its profile updates).
    assert.equal((await post('', { emailAddress: email, subscriptionState: 'Subscribed', segmentationFieldValues: [{ segmentationFieldId: 101, value: 'Bo' }] })).status, 201);
    assert.equal(sandbox.contact(1001, email)?.subscriptionState, 'Unsubscribed');
    assert.equal(sandbox.contact(1001, email)?.segmentationFieldValues[0]?.value, 'Bo');
    assert.equal((await post('?overrideUnsubscribe=true', { emailAddress: email, subscriptionState: 'Subscribed' })).status, 201);
    assert.equal(sandbox.contact(1001, email)?.subscriptionState, 'Subscribed');
    assert.ok(sandbox.contact(1001, email)?.resubscribeDate);

    assert.equal((await post('?sendDoubleOptIn=true', { emailAddress: 'doi@example.com' })).status, 201);
    assert.equal(sandbox.contact(1001, 'doi@example.com'), undefined, 'pending until confirmed');
    assert.equal(errorOf(await post('', { emailAddress: 'doi@example.com' })), '400 ERROR_PENDING_EMAIL_ADDRESS');
    assert.equal((await post('?subscribedByContact=true', { emailAddress: 'self@example.com' })).status, 201);
    assert.equal(sandbox.contact(1001, 'self@example.com')?.subscribeMethod, 'Contact');
  });

  it("checks a profile value against its field's dataType and serves the field listing with type and max length", async () => {
    const post = (segmentationFieldValues: { segmentationFieldId: number; value: string }[]) =>
      call('POST', '/v1/List/1001/Contact', { body: { emailAddress: 'types@example.com', subscriptionState: 'Subscribed', segmentationFieldValues } });
    assert.equal(errorOf(await post([{ segmentationFieldId: 103, value: 'gold' }])), '400 ERROR_INVALID_PARAMETER', 'text in a Numeric field');
    assert.equal(errorOf(await post([{ segmentationFieldId: 104, value: 'not a date' }])), '400 ERROR_INVALID_PARAMETER', 'text in a Date field');
    assert.equal(errorOf(await post([{ segmentationFieldId: 103, value: '12345678901' }])), '400 ERROR_SEGMENTATION_MAX_LENGTH', 'the length is checked first');
    assert.equal((await post([{ segmentationFieldId: 103, value: '1200' }, { segmentationFieldId: 104, value: '2026-11-10' }, { segmentationFieldId: 105, value: 'any text, at all' }])).status, 201);
    assert.deepEqual(sandbox.contact(1001, 'types@example.com')?.segmentationFieldValues.map((value) => value.value), ['1200', '2026-11-10', 'any text, at all']);
    const listing = await call('GET', '/v1/List/1001/SegmentationFieldGroup/10/SegmentationField');
    assert.deepEqual(
      listing.body.data.map((field: { segmentationFieldId: number; dataType: string; maxLength: number }) => [field.segmentationFieldId, field.dataType, field.maxLength]),
      [[101, 'Text', 10], [102, 'Text', 10], [103, 'Numeric', 10], [104, 'Date', 30], [105, 'CommentArea', 200]],
    );
  });

  it('records an unsubscribe made by the contact, as from an email footer', async () => {
    const email = 'footer@example.com';
    await call('POST', '/v1/List/1001/Contact', { body: { emailAddress: email, segmentationFieldValues: [] } });
    const response = await fetch(`${base}/_sandbox/unsubscribe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ listId: 1001, email }),
    });
    assert.equal(response.status, 200);
    const read = await call('GET', `/v1/List/1001/Contact/${email}`);
    assert.equal(read.body.data.subscriptionState, 'Unsubscribed');
    assert.equal(read.body.data.unsubscribeMethod, 'Contact');
  });

  it("models a pending double opt-in: no contact until confirmed over /_sandbox/confirm; an unsubscribe withdraws it for good", async () => {
    const post = (query: string, body: Record<string, unknown>) => call('POST', `/v1/List/1001/Contact${query}`, { body: { segmentationFieldValues: [], ...body } });
    const confirm = (email: string, listId = 1001) =>
      fetch(`${base}/_sandbox/confirm`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ listId, email, at: '2030-02-01T00:00:00Z' }) });
    const email = 'doi-confirms@example.com';
    assert.equal((await post('?sendDoubleOptIn=true&eventIds=501', { emailAddress: email, segmentationFieldValues: [{ segmentationFieldId: 101, value: 'Ada' }] })).status, 201);
    // Pending: not a contact (read 404, not in the collection), a subscribe answers pending.
    assert.equal(errorOf(await call('GET', `/v1/List/1001/Contact/${email}`)), '404 ERROR_UNABLE_TO_LOCATE_RESOURCE');
    const listed = await call('GET', '/v1/List/1001/Contact?subscriptionState=Subscribed&count=5000');
    assert.ok(!(listed.body.data as { emailAddress: string }[]).some((contact) => contact.emailAddress === email));
    assert.equal(errorOf(await post('', { emailAddress: email })), '400 ERROR_PENDING_EMAIL_ADDRESS');
    assert.equal(sandbox.pendingDoubleOptIn(1001, email)?.segmentationFieldValues[0]?.value, 'Ada');
    // Pending on the list it was asked for, not on another.
    assert.equal(sandbox.pendingDoubleOptIn(3003, email), undefined);
    assert.equal((await confirm(email, 3003)).status, 409);

    assert.equal((await confirm(email)).status, 200);
    const read = await call('GET', `/v1/List/1001/Contact/${email}`);
    assert.deepEqual([read.body.data.subscriptionState, read.body.data.subscribeMethod, read.body.data.subscribeDate], ['Subscribed', 'DoubleOptIn', '2030-02-01T00:00:00.000Z']);
    assert.equal(read.body.data.segmentationFieldValues[0]?.value, 'Ada', "the pending write's profile values");
    assert.deepEqual(sandbox.contact(1001, email)?.raisedEvents, [], 'no events raised for a pending address');
    assert.equal((await confirm(email)).status, 409, 'confirmed once');

    const withdrawn = 'doi-withdrawn@example.com';
    assert.equal((await post('?sendDoubleOptIn=true', { emailAddress: withdrawn })).status, 201);
    assert.equal((await post('', { emailAddress: withdrawn, subscriptionState: 'Unsubscribed' })).status, 201, 'an unsubscribe of a pending address is accepted');
    assert.equal(sandbox.pendingDoubleOptIn(1001, withdrawn), undefined);
    const late = await confirm(withdrawn);
    assert.equal(late.status, 409);
    assert.match(((await late.json()) as { error: string }).error, /the contact is Unsubscribed/);
    assert.equal(sandbox.contact(1001, withdrawn)?.subscriptionState, 'Unsubscribed', 'a confirmation after the unsubscribe subscribes nobody');

    // The seed's pending addresses are pending on every list until settled there.
    assert.ok(sandbox.pendingDoubleOptIn(3003, 'pending@example.com'));
    assert.ok(sandbox.state().lists.some((list) => list.pendingDoubleOptIns.length > 0));
  });

  it('pages the contact collection: state, date filters on the unsubscribe or subscribe date, fields, cursor and count', async () => {
    const list = 1001;
    const at = (minute: number) => new Date(Date.UTC(2030, 0, 1, 0, minute));
    const emails = Array.from({ length: 7 }, (_, index) => `collection-${index}@example.com`);
    for (const [index, email] of emails.entries()) {
      await call('POST', `/v1/List/${list}/Contact`, { body: { emailAddress: email, segmentationFieldValues: [{ segmentationFieldId: 101, value: `n${index}` }] } });
      if (index < 5) sandbox.unsubscribeInListrak(list, email, { at: at(10 + index), method: index === 0 ? 'Complaint' : 'Contact' });
    }
    const page = (query: string) => call('GET', `/v1/List/${list}/Contact?${query}`);
    const window = `subscriptionState=Unsubscribed&startDate=${at(11).toISOString()}&endDate=${at(13).toISOString()}`;

    const first = await page(`${window}&count=2`);
    assert.equal(first.status, 200);
    assertMatchesResponseSchema('/v1/List/{listId}/Contact', 'get', 200, first.body);
    assert.deepEqual(first.body.data.map((contact: { emailAddress: string }) => contact.emailAddress), [emails[1], emails[2]], 'oldest unsubscribe first; both bounds inclusive');
    assert.equal(first.body.data[0].unsubscribeMethod, 'Contact');
    assert.ok(first.body.nextPageCursor, 'a cursor to the next page');
    const second = await page(`${window}&count=2&cursor=${encodeURIComponent(first.body.nextPageCursor)}`);
    assertMatchesResponseSchema('/v1/List/{listId}/Contact', 'get', 200, second.body);
    assert.deepEqual(second.body.data.map((contact: { emailAddress: string }) => contact.emailAddress), [emails[3]]);
    assert.equal(second.body.nextPageCursor, undefined, 'the last page has no next cursor');

    const unsubscribed = await page('subscriptionState=Unsubscribed&cursor=Start');
    assert.ok(emails.slice(0, 5).every((email) => unsubscribed.body.data.some((contact: { emailAddress: string }) => contact.emailAddress === email)));
    assert.equal(unsubscribed.body.data.find((contact: { emailAddress: string }) => contact.emailAddress === emails[0]).unsubscribeMethod, 'Complaint');
    const subscribed = await page('segmentationFieldIds=');
    const fifth = subscribed.body.data.find((contact: { emailAddress: string }) => contact.emailAddress === emails[5]);
    assert.equal(fifth.subscriptionState, 'Subscribed', 'Subscribed is the default state');
    assert.deepEqual(fifth.segmentationFieldValues, [], 'no profile fields unless asked for');
    const withFields = await page('subscriptionState=Subscribed&segmentationFieldIds=101');
    assert.deepEqual(withFields.body.data.find((contact: { emailAddress: string }) => contact.emailAddress === emails[5]).segmentationFieldValues, [{ segmentationFieldId: 101, value: 'n5' }]);

    // An import re-subscribes a contact: it leaves the Unsubscribed pages and its resubscribe date
    // counts when useOriginalSubscribeDate=false (then endDate is exclusive).
    sandbox.subscribeInListrak(list, emails[4]!, { at: at(30) });
    assert.equal(sandbox.contact(list, emails[4]!)?.subscribeMethod, 'Import');
    const recent = await page(`subscriptionState=Subscribed&useOriginalSubscribeDate=false&startDate=${at(30).toISOString()}&endDate=${at(31).toISOString()}`);
    assert.deepEqual(recent.body.data.map((contact: { emailAddress: string }) => contact.emailAddress), [emails[4]]);
    const excluded = await page(`subscriptionState=Subscribed&useOriginalSubscribeDate=false&startDate=${at(29).toISOString()}&endDate=${at(30).toISOString()}`);
    assert.deepEqual(excluded.body.data, []);

    for (const bad of ['count=0', 'count=5001', 'count=ten', 'subscriptionState=Pending', 'startDate=yesterday', 'cursor=garbage', `segmentationFieldIds=${Array.from({ length: 31 }, (_, i) => i + 1).join(',')}`]) {
      assert.equal(errorOf(await page(bad)), '400 ERROR_INVALID_PARAMETER', bad);
    }
    assert.equal((await page('count=5000')).status, 200);
    assert.equal(errorOf(await call('GET', '/v1/List/4004/Contact')), '404 ERROR_UNABLE_TO_LOCATE_RESOURCE');
  });

  it('simulates changes made in Listrak itself over /_sandbox, with a date and a method', async () => {
    const email = 'listrak-side@example.com';
    const post = (route: string, body: unknown) => fetch(`${base}/_sandbox/${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    assert.equal((await post('unsubscribe', { listId: 1001, email, at: '2030-02-01T10:00:00.000Z', method: 'Complaint' })).status, 200);
    assert.deepEqual([sandbox.contact(1001, email)?.subscriptionState, sandbox.contact(1001, email)?.unsubscribeDate, sandbox.contact(1001, email)?.unsubscribeMethod], ['Unsubscribed', '2030-02-01T10:00:00.000Z', 'Complaint']);
    assert.equal((await post('subscribe', { listId: 1001, email, at: '2030-02-02T10:00:00.000Z' })).status, 200);
    assert.deepEqual([sandbox.contact(1001, email)?.subscriptionState, sandbox.contact(1001, email)?.subscribeMethod], ['Subscribed', 'Import']);
    assert.equal((await post('subscribe', { listId: 1001, email, at: 'not a date' })).status, 400);
    assert.equal((await post('unsubscribe', { listId: 999, email })).status, 400);
  });

  it("the project's client pages the whole collection one page at a time", async () => {
    const client = new ListrakClient({ authUrl: `${base}/OAuth2/Token`, apiUrl: `${base}/email/v1` });
    const target = { clientId: 'full', clientSecret: 'full-secret', listId: 1001 };
    for (let index = 0; index < 5; index++) sandbox.unsubscribeInListrak(1001, `client-page-${index}@example.com`, { at: new Date(Date.UTC(2031, 0, 1, 0, index)) });
    const sizes: number[] = [];
    const seen: string[] = [];
    for await (const page of client.contactPages(target, { subscriptionState: 'Unsubscribed', startDate: '2031-01-01T00:00:00Z', count: 2 })) {
      sizes.push(page.contacts.length);
      seen.push(...page.contacts.map((contact) => contact.emailAddress));
    }
    assert.deepEqual(sizes, [2, 2, 1]);
    assert.deepEqual(seen, Array.from({ length: 5 }, (_, index) => `client-page-${index}@example.com`));
  });

  it('checks integration scopes and Beta access, and applies the bulk profile update asynchronously', async () => {
    const limited = await getToken('contact-only', 'contact-secret');
    assert.equal(errorOf(await call('GET', '/v1/List/1001/Event', { bearer: limited })), '403 ERROR_UNAUTHORIZED');
    assert.equal(
      errorOf(await call('POST', '/v1/List/1001/Contact/SegmentationField', { bearer: limited, body: [] })),
      '403 ERROR_INTEGRATION_CANNOT_ACCESS_BETA_ROUTE',
    );
    const email = 'bulk@example.com';
    await call('POST', '/v1/List/1001/Contact', { body: { emailAddress: email, segmentationFieldValues: [] } });
    const answer = await call('POST', '/v1/List/1001/Contact/SegmentationField', {
      body: [{ emailAddress: email, segmentationFieldValues: [{ segmentationFieldId: 101, value: 'Later' }] }],
    });
    assert.equal(answer.status, 201);
    assert.equal(sandbox.contact(1001, email)?.segmentationFieldValues.length, 0, 'not applied yet: it is a list import');
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(sandbox.contact(1001, email)?.segmentationFieldValues[0]?.value, 'Later');
  });

  it('injects scripted and seeded random faults, and expires and revokes tokens', async () => {
    sandbox.script({ route: 'getList', status: 503 }, { route: 'getList', status: 429, error: 'HTTP_429' });
    assert.equal((await call('GET', '/v1/List/1001')).status, 503);
    assert.equal((await call('GET', '/v1/List/1001')).status, 429);
    assert.equal((await call('GET', '/v1/List/1001')).status, 200);

    sandbox.chaos.configure({ seed: 7, errors: [{ status: 500, rate: 0.5 }], routes: ['getList'] });
    const statuses = [];
    for (let index = 0; index < 40; index++) statuses.push((await call('GET', '/v1/List/1001')).status);
    const failures = statuses.filter((status) => status === 500).length;
    assert.ok(failures > 8 && failures < 32, `about half fail: ${failures}/40`);
    sandbox.chaos.configure({ seed: 7, errors: [{ status: 500, rate: 0.5 }], routes: ['getList'] });
    const replay = [];
    for (let index = 0; index < 40; index++) replay.push((await call('GET', '/v1/List/1001')).status);
    assert.deepEqual(replay, statuses, 'the same seed replays the same faults');

    sandbox.chaos.configure({ burst429: { every: 3, length: 2 }, routes: ['getList'] });
    const burst = [];
    for (let index = 0; index < 6; index++) burst.push((await call('GET', '/v1/List/1001')).status);
    assert.deepEqual(burst, [200, 200, 200, 429, 429, 200]);
    sandbox.chaos.configure({ resetRate: 1, routes: ['getList'] });
    await assert.rejects(call('GET', '/v1/List/1001'));
    sandbox.chaos.configure({});

    sandbox.tokenLifetimeSeconds = 1;
    const shortLived = await getToken('full', 'full-secret');
    assert.equal((await call('GET', '/v1/List/1001', { bearer: shortLived })).status, 200);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    assert.equal(errorOf(await call('GET', '/v1/List/1001', { bearer: shortLived })), '401 ERROR_UNAUTHORIZED');
    sandbox.tokenLifetimeSeconds = 3600;
    sandbox.revokeTokens();
    assert.equal(errorOf(await call('GET', '/v1/List/1001')), '401 ERROR_UNAUTHORIZED');
    token = await getToken('full', 'full-secret');
  });

  it('logs requests and dumps its state over the admin routes', async () => {
    const log = (await (await fetch(`${base}/_sandbox/requests`)).json()) as { route: string; status: number }[];
    assert.ok(log.some((entry) => entry.route === 'upsert' && entry.status === 201));
    assert.ok(log.some((entry) => entry.route === 'token'));
    const state = (await (await fetch(`${base}/_sandbox/state`)).json()) as { lists: { listId: number; contacts: unknown[] }[] };
    assert.ok((state.lists.find((list) => list.listId === 1001)?.contacts.length ?? 0) > 3);
  });

  it('starts with sensible defaults (no seed file) for npm start', () => {
    const defaults = new ListrakSandbox(DEFAULT_SEED, contract);
    assert.equal(defaults.list(1001)?.events?.[0]?.eventId, 501);
    assert.equal(defaults.field(1001, 105)?.segmentationFieldName, 'Funnel');
  });
});

describe('npm run sandbox: every flag and variable reaches the sandbox it starts', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sandbox-settings-'));
  const seedFile = path.join(dir, 'seed.json');
  writeFileSync(seedFile, JSON.stringify({ ...DEFAULT_SEED, clients: [{ clientId: 'seeded-client', clientSecret: 'seeded-secret' }] }));
  after(() => rmSync(dir, { recursive: true, force: true }));

  type Observe = (sandbox: ListrakSandbox, settings: SandboxSettings) => unknown;
  const profile = (sandbox: ListrakSandbox) => sandbox.chaos.describe().profile;
  const seeded: Observe = (sandbox) => sandbox.client('seeded-client')?.clientSecret;
  const listensOn: Observe = (_sandbox, settings) => settings.port;
  // A row per flag and per variable: with `value` set the sandbox shows `expected`, without it something else.
  const ROWS: Record<SandboxFlag | (typeof SANDBOX_VARIABLES)[keyof typeof SANDBOX_VARIABLES], { value: string; observe: Observe; expected: unknown }> = {
    port: { value: '4555', observe: listensOn, expected: 4555 },
    LISTRAK_SANDBOX_PORT: { value: '4556', observe: listensOn, expected: 4556 },
    seed: { value: seedFile, observe: seeded, expected: 'seeded-secret' },
    LISTRAK_SANDBOX_SEED: { value: seedFile, observe: seeded, expected: 'seeded-secret' },
    'token-lifetime': { value: '2', observe: (sandbox) => sandbox.tokenLifetimeSeconds, expected: 2 },
    'payload-limit': { value: '500000', observe: (sandbox) => sandbox.payloadLimitBytes, expected: 500_000 },
    errors: {
      value: '503:0.3,400:0.01:ERROR_INVALID_EMAIL_ADDRESS',
      observe: (sandbox) => profile(sandbox).errors,
      expected: [{ status: 503, rate: 0.3, error: undefined }, { status: 400, rate: 0.01, error: 'ERROR_INVALID_EMAIL_ADDRESS' }],
    },
    latency: { value: '20-80', observe: (sandbox) => profile(sandbox).latencyMs, expected: { min: 20, max: 80 } },
    'timeout-rate': { value: '0.05', observe: (sandbox) => profile(sandbox).timeoutRate, expected: 0.05 },
    'timeout-ms': { value: '1000', observe: (sandbox) => profile(sandbox).timeoutMs, expected: 1_000 },
    'reset-rate': { value: '0.02', observe: (sandbox) => profile(sandbox).resetRate, expected: 0.02 },
    'burst-429': { value: '100:10', observe: (sandbox) => profile(sandbox).burst429, expected: { every: 100, length: 10 } },
    'random-seed': { value: '7', observe: (sandbox) => profile(sandbox).seed, expected: 7 },
  };
  const variables: string[] = Object.values(SANDBOX_VARIABLES);

  it('has a row for every flag and variable, and none for one the settings do not read', () => {
    assert.deepEqual(Object.keys(ROWS).sort(), [...SANDBOX_FLAGS, ...variables].sort());
  });

  for (const [name, row] of Object.entries(ROWS)) {
    it(`${variables.includes(name) ? name : `--${name}`} ${row.value === seedFile ? 'FILE' : row.value} shows in the sandbox`, () => {
      const observe = (given: Record<string, string>) => {
        const settings = variables.includes(name) ? parseSandboxSettings(given) : parseSandboxSettings({}, given);
        return row.observe(sandboxFromSettings(settings), settings);
      };
      assert.deepEqual(observe({ [name]: row.value }), row.expected);
      assert.notDeepEqual(observe({}), row.expected, `unset, ${name} gives something else`);
    });
  }

  it('lays the flags over the variables: a flag wins, an empty variable counts as unset', () => {
    const env = { LISTRAK_SANDBOX_PORT: '4600', LISTRAK_SANDBOX_SEED: seedFile };
    assert.equal(parseSandboxSettings(env, { port: '4601' }).port, 4601);
    assert.equal(parseSandboxSettings(env, { seed: '/elsewhere.json' }).seedFile, '/elsewhere.json');
    assert.deepEqual(parseSandboxSettings(env), { ...parseSandboxSettings({}), port: 4600, seedFile });
    assert.deepEqual(parseSandboxSettings({ LISTRAK_SANDBOX_PORT: '', LISTRAK_SANDBOX_SEED: ' ' }), parseSandboxSettings({}));
    assert.equal(parseSandboxSettings({}).port, 4010);
  });

  it('refuses a malformed value, naming the flag or the variable it came from', () => {
    const refuses = (env: Record<string, string>, flags: Partial<Record<SandboxFlag, string>>, message: RegExp) =>
      assert.throws(() => parseSandboxSettings(env, flags), (error: unknown) => error instanceof ConfigError && message.test(error.message));
    refuses({ LISTRAK_SANDBOX_PORT: 'abc' }, {}, /LISTRAK_SANDBOX_PORT: must be a whole number/);
    refuses({ LISTRAK_SANDBOX_PORT: '4010' }, { port: '70000' }, /--port: must be at most 65535/);
    refuses({}, { errors: '503' }, /--errors: expects status:rate\[:ERROR_CODE\] pairs.*got '503'/);
    refuses({}, { 'reset-rate': '2' }, /--reset-rate: must be a share between 0 and 1/);
    refuses({}, { latency: '80-20' }, /--latency: expects MIN-MAX/);
    refuses({}, { 'burst-429': '0:5' }, /--burst-429: expects EVERY:LEN/);
  });

  it('reads no process.env itself: its settings come from src/config/', () => {
    const folder = path.join(PROJECT_ROOT, 'src', 'dev', 'listrak-sandbox');
    const readers = readdirSync(folder).filter((file) => file.endsWith('.ts') && readFileSync(path.join(folder, file), 'utf8').includes('process.env'));
    assert.deepEqual(readers, []);
  });
});

describe("Listrak's rules, without a server", () => {
  const contract = ListrakContract.load();
  const rules = new ListrakRules(structuredClone(SEED), contract, { tokenLifetimeSeconds: 60, payloadLimitBytes: 100 });

  /** Answers one contact write as the server would route it, or the refusal in Listrak's envelope. */
  function upsert(body: Record<string, unknown>, query: Record<string, string> = {}): Answer {
    const match = contract.match('POST', '/v1/List/1001/Contact');
    assert.ok('operation' in match);
    const route: SandboxRoute = 'upsert';
    try {
      return rules.answer({ route, ...match, query, rawQuery: query, listId: 1001, body: { segmentationFieldValues: [], ...body }, rawBytes: 1, isJson: true });
    } catch (error) {
      return errorAnswer(error);
    }
  }
  const codeOf = (answer: Answer) => `${answer.status} ${(answer.body as { error?: string }).error ?? ''}`.trim();

  it('subscribes, refuses a second unsubscribe, and keeps an unsubscribed contact unsubscribed without overrideUnsubscribe', () => {
    const emailAddress = 'rules@example.com';
    assert.equal(codeOf(upsert({ emailAddress, subscriptionState: 'Unsubscribed' })), '400 ERROR_NOT_SUBSCRIBED_EMAIL_ADDRESS');
    assert.equal(codeOf(upsert({ emailAddress })), '201');
    assert.equal(codeOf(upsert({ emailAddress, subscriptionState: 'Unsubscribed' })), '201');
    assert.equal(codeOf(upsert({ emailAddress, subscriptionState: 'Unsubscribed' })), '400 ERROR_UNSUBSCRIBED_EMAIL_ADDRESS');
    assert.equal(codeOf(upsert({ emailAddress })), '201');
    assert.equal(rules.contact(1001, emailAddress)?.subscriptionState, 'Unsubscribed');
    assert.equal(codeOf(upsert({ emailAddress }, { overrideUnsubscribe: 'true' })), '201');
    assert.equal(rules.contact(1001, emailAddress)?.subscriptionState, 'Subscribed');
  });

  it('refuses a banned address and an unknown profile field with their codes', () => {
    assert.equal(codeOf(upsert({ emailAddress: 'banned@example.com' })), '400 ERROR_BANNED_EMAIL_ADDRESS');
    assert.equal(codeOf(upsert({ emailAddress: 'fields@example.com', segmentationFieldValues: [{ segmentationFieldId: 999, value: 'x' }] })), '400 ERROR_INVALID_SEGMENTATION_FIELD_ID');
  });

  it('checks the token, the scopes and the payload size before any route rule', () => {
    assert.throws(() => rules.authenticate('Bearer nope', 'getList'), (error: unknown) => error instanceof ListrakAnswer && error.status === 401);
    const token = (rules.issueToken(new URLSearchParams({ grant_type: 'client_credentials', client_id: 'contact-only', client_secret: 'contact-secret' })).body as { access_token: string }).access_token;
    rules.authenticate(`Bearer ${token}`, 'upsert');
    assert.throws(() => rules.authenticate(`Bearer ${token}`, 'getList'), (error: unknown) => error instanceof ListrakAnswer && error.status === 403);
    assert.throws(() => rules.checkPayloadSize(101), (error: unknown) => error instanceof ListrakAnswer && error.status === 404);
    rules.checkPayloadSize(100);
  });

  it("answers anything unexpected as Listrak's 500 envelope", () => {
    assert.deepEqual(errorAnswer(new Error('boom')), { status: 500, body: { status: 500, error: 'ERROR_UNHANDLED_EXCEPTION', message: 'boom' } });
  });
});
