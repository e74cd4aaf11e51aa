import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freeLocalPort } from '../src/observability/local-port';
import { PROJECT_ROOT } from '../src/dev/paths';
import { EncryptionCodec } from '../src/temporal/encryption';
import { parsePayloadKeys } from '../src/config/payload-keys';
import { consentEvent, eventually, uniqueEmail } from '../src/dev/harness';

const freePort = freeLocalPort;

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('the README start command (npm start), as a newcomer runs it', () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'consent-sync-smoke-'));
  const children: ChildProcess[] = [];
  after(() => {
    for (const child of children) if (child.pid && groupAlive(child.pid)) process.kill(-child.pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  async function start(ports: Record<string, number>, extra: Record<string, string> = {}) {
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...extra };
    for (const [name, port] of Object.entries(ports)) env[name] = name === 'TEMPORAL_ADDRESS' ? `127.0.0.1:${port}` : String(port);
    let output = '';
    // Its own process group, so the test can press Ctrl-C on the whole tree as a terminal does.
    const child = spawn('npm', ['start'], { cwd: PROJECT_ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(signal ?? `exit ${code}`)));
    const api = `http://127.0.0.1:${ports.PORT}`;
    await eventually(async () => (await fetch(`${api}/readyz`)).status === 200, 90_000, `/readyz (output so far:\n${output})`);
    return {
      api,
      output: () => output,
      async stop() {
        process.kill(-child.pid!, 'SIGINT');
        const code = await exited;
        await eventually(() => !groupAlive(child.pid!), 15_000, 'every process of the tree to exit');
        return code;
      },
    };
  }

  it('serves the whole flow with the sandbox, stops cleanly on Ctrl-C, and keeps state across restarts', { timeout: 240_000 }, async () => {
    const ports = {
      PORT: await freePort(),
      TEMPORAL_ADDRESS: await freePort(),
      TEMPORAL_UI_PORT: await freePort(),
      LISTRAK_SANDBOX_PORT: await freePort(),
    };
    const first = await start(ports);
    assert.match(first.output(), /Temporal UI: http:\/\/localhost:\d+/);
    assert.match(first.output(), /Listrak: +the local Listrak sandbox/);
    const email = uniqueEmail('smoke');
    const event = consentEvent('opt_in', email, new Date());
    const answer = await fetch(`${first.api}/webhooks/extole`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
    assert.equal(answer.status, 200);
    const sandboxState = `http://127.0.0.1:${ports.LISTRAK_SANDBOX_PORT}/_sandbox/state`;
    await eventually(async () => {
      const state = (await (await fetch(sandboxState)).json()) as { lists: { contacts: { emailAddress: string; subscriptionState: string }[] }[] };
      return state.lists[0]?.contacts.some((contact) => contact.emailAddress === email && contact.subscriptionState === 'Subscribed');
    }, 30_000, 'the sandbox to hold the subscribed contact');
    assert.match(await first.stop(), /^(exit 0|SIGINT)$/, 'npm itself ends on the SIGINT; the service exits 0');

    // Restarted with payload encryption on: earlier plain payloads still read, and the Web UI
    // gets a codec server.
    const codecPort = await freePort();
    const payloadKey = `k1:${Buffer.alloc(32, 7).toString('base64')}`;
    const second = await start(ports, { TEMPORAL_PAYLOAD_KEY: payloadKey, CODEC_SERVER_PORT: String(codecPort) });
    assert.match(second.output(), new RegExp(`decodes encrypted payloads through http://localhost:${codecPort}`));
    // Its dev UI sends no token: the codec server answers that UI's origin (a browser there) only.
    const [encrypted] = await new EncryptionCodec(parsePayloadKeys(payloadKey)).encode([{ metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"smoke"') }]);
    const decode = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${codecPort}/decode`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
        body: JSON.stringify({
          payloads: [{ metadata: Object.fromEntries(Object.entries(encrypted!.metadata!).map(([name, value]) => [name, Buffer.from(value).toString('base64')])), data: Buffer.from(encrypted!.data!).toString('base64') }],
        }),
      });
    const fromUi = await decode({ origin: `http://localhost:${ports.TEMPORAL_UI_PORT}` });
    assert.equal(fromUi.status, 200);
    assert.equal(Buffer.from(((await fromUi.json()) as { payloads: { data: string }[] }).payloads[0]!.data, 'base64').toString(), '"smoke"');
    assert.equal((await decode({})).status, 401, 'not from the dev UI: refused');
    const metricsText = await (await fetch(`${second.api}/metrics`)).text();
    assert.match(metricsText, /^# TYPE consent_webhook_requests_total counter/m);
    assert.match(metricsText, /^temporal_/m, 'npm start serves the SDK metrics on the same /metrics');
    assert.match(await (await fetch(`${second.api}/`)).text(), /Consent sync · recent changes/);
    // The ledger survived the restart (DATA_DIR); it may still be finishing work left at Ctrl-C.
    const applied = await eventually(async () => {
      const status = await fetch(`${second.api}/consents/${email}`);
      const body = (await status.json()) as { environments?: { applied: { eventId: string } | null }[] };
      return body.environments?.[0]?.applied ?? undefined;
    }, 30_000, 'the applied change to show after the restart');
    assert.equal(applied.eventId, event.event_id);
    assert.match(await second.stop(), /^(exit 0|SIGINT)$/);
  });
});
