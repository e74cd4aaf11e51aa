import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freeLocalPort } from '../src/observability/local-port';
import { PROJECT_ROOT } from '../src/dev/paths';
import { consentEvent, createHarness, eventually, uniqueEmail, uniqueId, type Harness } from '../src/dev/harness';

/** `npm start`'s entry point in its own process group (so the whole tree can be stopped). */
function startMain(env: Record<string, string>) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'start-dev-server-'));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', DATA_DIR: dataDir, LOG_LEVEL: 'warn', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | string>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  const kill = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  return {
    output: () => output,
    /** The exit code, or fails after `timeoutMs` (and kills the tree). */
    async exit(timeoutMs: number): Promise<number | string> {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`npm start did not exit within ${timeoutMs} ms; output:\n${output}`)), timeoutMs);
      });
      try {
        return await Promise.race([exited, timeout]);
      } finally {
        clearTimeout(timer);
        kill('SIGKILL');
        rmSync(dataDir, { recursive: true, force: true });
      }
    },
    kill,
  };
}

async function ports() {
  return {
    PORT: String(await freeLocalPort()),
    TEMPORAL_UI_PORT: String(await freeLocalPort()),
    LISTRAK_SANDBOX_PORT: String(await freeLocalPort()),
  };
}

/** A plain TCP listener: what `npm start` finds on a port someone else uses. */
async function occupy(): Promise<{ port: number; close: () => Promise<void> }> {
  const server = net.createServer((socket) => socket.destroy()).listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('npm start never joins a Temporal server it did not start without saying so', () => {
  let harness: Harness | undefined;
  after(async () => {
    await harness?.close();
  });

  it("stops, naming the port and the ways on, when TEMPORAL_ADDRESS's port is taken", async () => {
    const taken = await occupy();
    try {
      const started = Date.now();
      const main = startMain({ ...(await ports()), TEMPORAL_ADDRESS: `127.0.0.1:${taken.port}` });
      const code = await main.exit(30_000);
      assert.notEqual(code, 0, main.output());
      assert.match(main.output(), new RegExp(`port ${taken.port} on 127\\.0\\.0\\.1 \\(TEMPORAL_ADDRESS\\) is already in use`));
      assert.match(main.output(), /TEMPORAL_DEV_SERVER=external/);
      assert.doesNotMatch(main.output(), /is running/);
      assert.ok(Date.now() - started < 30_000);
    } finally {
      await taken.close();
    }
  });

  it('stops, naming it, when the UI port is taken', async () => {
    const taken = await occupy();
    try {
      const main = startMain({ ...(await ports()), TEMPORAL_ADDRESS: `127.0.0.1:${await freeLocalPort()}`, TEMPORAL_UI_PORT: String(taken.port) });
      assert.notEqual(await main.exit(30_000), 0, main.output());
      assert.match(main.output(), new RegExp(`port ${taken.port} on 127\\.0\\.0\\.1 \\(TEMPORAL_UI_PORT\\) is already in use`));
    } finally {
      await taken.close();
    }
  });

  it('refuses a running Temporal server by default, and uses it with TEMPORAL_DEV_SERVER=external', { timeout: 180_000 }, async () => {
    harness = await createHarness();
    const address = harness.env.address;

    // The case from the issue: a developer's own `temporal server start-dev` on the address.
    const refused = startMain({ ...(await ports()), TEMPORAL_ADDRESS: address });
    assert.notEqual(await refused.exit(30_000), 0, refused.output());
    assert.match(refused.output(), new RegExp(`port ${address.split(':')[1]} .*already in use`));

    const env = { ...(await ports()), TEMPORAL_ADDRESS: address, TEMPORAL_DEV_SERVER: 'external', TEMPORAL_TASK_QUEUE: uniqueId('queue-') };
    const main = startMain(env);
    try {
      const api = `http://127.0.0.1:${env.PORT}`;
      await eventually(async () => (await fetch(`${api}/readyz`).catch(() => undefined))?.status === 200, 90_000, `/readyz (output so far:\n${main.output()})`);
      assert.match(main.output(), new RegExp(`the server already running at ${address} \\(TEMPORAL_DEV_SERVER=external`));
      const event = consentEvent('opt_in', uniqueEmail('external'), new Date());
      const answer = await fetch(`${api}/webhooks/extole`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(event) });
      assert.equal(answer.status, 200);
      const changeId = ((await answer.json()) as { recorded: { changeWorkflowId: string }[] }).recorded[0]!.changeWorkflowId;
      // The change ran on the running server (the harness's), not on a server of npm start's own.
      const result = await eventually(
        async () => harness!.env.client.workflow.getHandle(changeId).result().catch(() => undefined) as Promise<{ outcome: string } | undefined>,
        30_000,
        'the change on the running server',
      );
      assert.equal(result.outcome, 'applied');
    } finally {
      main.kill('SIGINT');
      await main.exit(30_000).catch(() => undefined);
    }
  });
});
