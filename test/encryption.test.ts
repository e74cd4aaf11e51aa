import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config/config';
import { listen, type RunningServer } from '../src/http/server';
import { createCodecServer, type CodecAccess } from '../src/http/codec-server';
import { freeLocalPort } from '../src/observability/local-port';
import { PROJECT_ROOT } from '../src/dev/paths';
import { parsePayloadKeys } from '../src/config/payload-keys';
import { changeWorkflowIdFor, ledgerKeyFor } from '../src/consent/intake';
import { ledgerWorkflowId } from '../src/shared';
import { consentEvent, eventually, uniqueEmail, waitForOutcome, waitForRetrying } from '../src/dev/harness';
import { useHarness } from './helpers/use-harness';

describe('payload encryption (TEMPORAL_PAYLOAD_KEY)', () => {
  const key = `k1:${randomBytes(32).toString('base64')}`;
  const { harness, service } = useHarness({ TEMPORAL_PAYLOAD_KEY: key });

  it('keeps emails, profile data and failure messages out of the history the server stores', async () => {
    const email = uniqueEmail('secret-person');
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000), { profile: { first_name: 'Zebulon', last_name: 'Quixote' } });
    await service().post(optIn);
    assert.equal((await waitForOutcome(service(), email, String(optIn.event_id))).outcome, 'applied', 'the service reads its own encrypted state');

    harness().sandbox.script({ route: 'upsert', email, status: 400, error: 'ERROR_INVALID_PARAMETER' });
    const optOut = consentEvent('opt_out', email, new Date());
    await service().post(optOut);
    const parked = await waitForOutcome(service(), email, String(optOut.event_id));
    assert.equal(parked.outcome, 'parked');

    // Read the raw history with a client that has no key: what the Temporal server holds.
    const histories = await Promise.all(
      [
        ledgerWorkflowId(ledgerKeyFor(service().config, 'production', email)),
        changeWorkflowIdFor(service().config, 'production', email, String(optIn.event_id)),
        changeWorkflowIdFor(service().config, 'production', email, String(optOut.event_id)),
      ].map(async (id) =>
        JSON.stringify(await harness().env.client.workflow.getHandle(id).fetchHistory()),
      ),
    );
    const raw = histories.join('\n');
    for (const secret of [email, 'Zebulon', 'Quixote', 'ERROR_INVALID_PARAMETER', 'LISTRAK_SEGMENTATION_FIELDS']) {
      assert.ok(!raw.includes(secret), `${secret} is not in clear in the stored history`);
      assert.ok(!raw.includes(Buffer.from(secret).toString('base64')), `${secret} is not in the stored history as base64`);
    }
    assert.ok(raw.includes(Buffer.from('binary/encrypted').toString('base64')));
  });

  it('shows support the last error of a retrying change in clear, through the status endpoint', async () => {
    const email = uniqueEmail('retrying-encrypted');
    harness().sandbox.script({ route: 'getContact', email, status: 503, times: 10_000 });
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    await service().post(optIn);
    try {
      const retrying = await waitForRetrying(service(), email);
      assert.match(retrying.lastError, /503/);
    } finally {
      harness().sandbox.clearFaults();
    }
    assert.equal((await waitForOutcome(service(), email, String(optIn.event_id))).outcome, 'applied');
  });

  describe('codec server for the Temporal UI (CODEC_SERVER_TOKEN)', () => {
    const token = randomBytes(24).toString('hex');
    const uiOrigin = 'http://localhost:8233';
    const servers: RunningServer[] = [];
    after(async () => {
      for (const server of servers) await server.close(0);
    });
    const start = async (access: CodecAccess) => {
      const server = await listen(createCodecServer(service().config, access), 0, '127.0.0.1');
      servers.push(server);
      return `http://127.0.0.1:${(server.server.address() as { port: number }).port}`;
    };
    /** The raw (encrypted) input of a change, as the UI gets it from the server and sends on. */
    const storedInput = async () => {
      const email = uniqueEmail('codec');
      const optIn = consentEvent('opt_in', email, new Date(), { profile: { first_name: 'Philippa' } });
      await service().post(optIn);
      await waitForOutcome(service(), email, String(optIn.event_id));
      const history = await harness().env.client.workflow.getHandle(changeWorkflowIdFor(service().config, 'production', email, String(optIn.event_id))).fetchHistory();
      const input = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads ?? [];
      const payloads = input.map((payload) => ({
        metadata: Object.fromEntries(Object.entries(payload.metadata ?? {}).map(([name, value]) => [name, Buffer.from(value).toString('base64')])),
        data: Buffer.from(payload.data ?? []).toString('base64'),
      }));
      assert.ok(!JSON.stringify(payloads).includes(Buffer.from(email).toString('base64')), 'the stored input is encrypted');
      return { email, body: JSON.stringify({ payloads }) };
    };
    const decodedText = async (response: Response) =>
      ((await response.json()) as { payloads: { data: string }[] }).payloads.map((payload) => Buffer.from(payload.data, 'base64').toString()).join('');

    it('decodes only with the token, for this namespace, and from the UI origin when called by a browser', async () => {
      const url = await start({ token });
      const { email, body } = await storedInput();
      const post = (headers: Record<string, string>, path = '/decode') =>
        fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      const rightNamespace = { 'x-namespace': 'default' };
      const bearer = { authorization: `Bearer ${token}` };

      // What the Temporal CLI sends (--codec-auth "Bearer …"; it sets X-Namespace itself): no Origin.
      const cli = await post({ ...bearer, ...rightNamespace });
      assert.equal(cli.status, 200);
      const text = await decodedText(cli);
      assert.ok(text.includes(email) && text.includes('Philippa'), 'decoded payload shows the change');
      // What an SSO proxy in front of it forwards for the UI: the UI's origin, and the token.
      const ui = await post({ ...bearer, ...rightNamespace, origin: uiOrigin, 'authorization-extras': 'x' });
      assert.equal(ui.status, 200);
      assert.equal(ui.headers.get('access-control-allow-origin'), uiOrigin);

      const refusals: [string, Record<string, string>, number][] = [
        ['no credentials, no Origin (the finding: this answered in clear)', rightNamespace, 401],
        ['no credentials, from the UI origin', { ...rightNamespace, origin: uiOrigin }, 401],
        ['a wrong token', { ...rightNamespace, authorization: `Bearer ${token.slice(1)}x` }, 401],
        ['the token with junk after it', { ...rightNamespace, authorization: `Bearer ${token} junk` }, 401],
        ['the token as Basic', { ...rightNamespace, authorization: `Basic ${Buffer.from(`:${token}`).toString('base64')}` }, 401],
        ['another namespace', { ...bearer, 'x-namespace': 'other' }, 403],
        ['no namespace', bearer, 403],
        ['another origin, even with the token', { ...bearer, ...rightNamespace, origin: 'https://evil.example' }, 403],
      ];
      for (const [label, headers, status] of refusals) {
        const response = await post(headers);
        assert.equal(response.status, status, label);
        const answer = await response.text();
        assert.ok(!answer.includes(email) && !answer.includes(Buffer.from(email).toString('base64')), `${label}: nothing decoded`);
        assert.ok(!answer.includes(token), `${label}: the token is not echoed`);
      }
      assert.equal((await post({ ...bearer, ...rightNamespace })).status, 200, 'still answers the right caller');
      assert.equal((await post({ ...bearer, ...rightNamespace }, '/encode')).status, 404, 'there is no /encode, even with the token');
      assert.equal((await post({ ...bearer, ...rightNamespace }, '/decode?preserveStorageRefs=true')).status, 200, 'the query string the UI adds');

      const preflight = (origin: string) =>
        fetch(`${url}/decode`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization,x-namespace' } });
      const allowed = await preflight(uiOrigin);
      assert.equal(allowed.status, 204);
      assert.match(allowed.headers.get('access-control-allow-headers') ?? '', /authorization.*x-namespace|x-namespace.*authorization/);
      const foreign = await preflight('https://evil.example');
      assert.equal(foreign.status, 403);
      assert.equal(foreign.headers.get('access-control-allow-origin'), null);
    });

    it("npm start's mode for its own dev UI (no token to send): the UI's exact origin and the namespace, nothing else", async () => {
      const url = await start({ trustUiOrigin: true });
      const { email, body } = await storedInput();
      const post = (headers: Record<string, string>) =>
        fetch(`${url}/decode`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
      const fromUi = await post({ origin: uiOrigin, 'x-namespace': 'default' });
      assert.equal(fromUi.status, 200);
      assert.ok((await decodedText(fromUi)).includes(email));
      assert.equal((await post({ 'x-namespace': 'default' })).status, 401, 'no Origin: not a browser on the UI page');
      assert.equal((await post({ origin: 'http://127.0.0.1:8233', 'x-namespace': 'default' })).status, 403, 'the exact origin only');
      assert.equal((await post({ origin: uiOrigin, 'x-namespace': 'other' })).status, 403);
      assert.throws(() => createCodecServer(service().config, {}), /CODEC_SERVER_TOKEN/);
    });

    it("npm run api's codec server: refused without CODEC_SERVER_TOKEN, and answers only with it", async () => {
      const api = (env: Record<string, string>) =>
        spawn(process.execPath, ['--import', 'tsx', 'src/api.ts'], {
          cwd: PROJECT_ROOT,
          // The namespace's recorded email-hash key: another one would stop the api at start.
          env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn', TEMPORAL_ADDRESS: harness().env.address, TEMPORAL_PAYLOAD_KEY: key, EMAIL_HASH_KEY: String(service().env.EMAIL_HASH_KEY), ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
      const codecPort = await freeLocalPort();
      // Nothing holds codecPort until the api binds it: the API's own port must not be the same one.
      const apiPort = async () => {
        for (;;) {
          const port = await freeLocalPort();
          if (port !== codecPort) return String(port);
        }
      };
      const refused = api({ PORT: await apiPort(), CODEC_SERVER_PORT: String(codecPort) });
      let output = '';
      refused.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      refused.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => refused.once('exit', resolve));
      assert.equal(code, 1, output);
      assert.match(output, /CODEC_SERVER_PORT is set without CODEC_SERVER_TOKEN/);

      const running = api({ PORT: await apiPort(), CODEC_SERVER_PORT: String(codecPort), CODEC_SERVER_TOKEN: token });
      let runningOutput = '';
      running.stdout.on('data', (chunk: Buffer) => (runningOutput += chunk.toString()));
      running.stderr.on('data', (chunk: Buffer) => (runningOutput += chunk.toString()));
      try {
        const { body } = await storedInput();
        const post = (headers: Record<string, string>) =>
          fetch(`http://127.0.0.1:${codecPort}/decode`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers }, body });
        const answered = await eventually(() => post({ authorization: `Bearer ${token}` }).catch(() => undefined), 30_000, 'the api codec server to listen').catch((error: Error) => {
          throw new Error(`${error.message}; the api's output:\n${runningOutput}`);
        });
        assert.equal(answered.status, 200);
        assert.equal((await post({})).status, 401);
      } finally {
        running.kill('SIGKILL');
      }
    });

    it('CODEC_SERVER_TOKEN: required with CODEC_SERVER_PORT in production, at least 32 characters, and only with a port', () => {
      const production = {
        NODE_ENV: 'production',
        EXTOLE_WEBHOOK_SECRET: randomBytes(24).toString('hex'),
        ADMIN_TOKEN: randomBytes(24).toString('hex'),
        METRICS_TOKEN: randomBytes(24).toString('hex'),
        EMAIL_HASH_KEY: randomBytes(24).toString('hex'),
        LISTRAK_CLIENT_ID: 'id',
        LISTRAK_CLIENT_SECRET: 'secret',
        LISTRAK_LIST_ID: '12',
        TEMPORAL_PAYLOAD_KEY: key,
        CODEC_SERVER_PORT: '8888',
      };
      assert.throws(() => loadConfig(production), (error: Error) => error instanceof ConfigError && /requires CODEC_SERVER_TOKEN/.test(error.message));
      assert.equal(loadConfig({ ...production, CODEC_SERVER_TOKEN: token }).codecServer?.token, token);
      assert.throws(() => loadConfig({ ...production, CODEC_SERVER_TOKEN: 'short' }), /CODEC_SERVER_TOKEN: must be at least 32 characters/);
      assert.throws(() => loadConfig({ TEMPORAL_PAYLOAD_KEY: key, CODEC_SERVER_TOKEN: token }), /set CODEC_SERVER_PORT too/);
      assert.equal(loadConfig({ TEMPORAL_PAYLOAD_KEY: key, CODEC_SERVER_PORT: '8888' }).codecServer?.token, undefined, 'development: npm start may run without one');
    });
  });

  it('rejects malformed keys with a message naming the format', () => {
    assert.throws(() => parsePayloadKeys('k1:short'), /keyId:<32 bytes in base64>/);
    assert.equal(parsePayloadKeys(`${key},k0:${randomBytes(32).toString('base64')}`).length, 2);
  });
});
