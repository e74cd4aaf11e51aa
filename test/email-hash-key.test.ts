import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../src/config/config';
import { ledgerKeyFor } from '../src/consent/intake';
import { freeLocalPort } from '../src/observability/local-port';
import { ledgerWorkflowId } from '../src/shared';
import { PROJECT_ROOT } from '../src/dev/paths';
import { EMAIL_HASH_KEY_WORKFLOW_ID, EmailHashKeyMismatchError, emailHashKeyFingerprint, ensureEmailHashKeyFingerprint } from '../src/temporal/email-hash-key';
import { consentEvent, createHarness, uniqueEmail, waitForOutcome, type Harness, type Service } from '../src/dev/harness';

// Two keys in one namespace would give one person two ledgers. The first writer records its key's
// fingerprint in Temporal; a process with another key is refused, the first key keeps working.

const KEY_B = 'another-email-hash-key-0123456789';

describe('one EMAIL_HASH_KEY per namespace', { timeout: 180_000 }, () => {
  let harness: Harness;
  let serviceA: Service;
  let serviceB: Service;
  const email = uniqueEmail('one-key');

  before(async () => {
    harness = await createHarness();
    serviceA = await harness.start();
    serviceB = await harness.start({ EMAIL_HASH_KEY: KEY_B });
  });
  after(async () => {
    await harness?.close();
  });

  const processEnv = (service: Service, extra: Record<string, string> = {}) => ({
    ...service.env,
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LOG_LEVEL: 'info',
    ...extra,
  });
  /** Runs an entry point to its exit (asynchronously: the in-process workers must keep answering). */
  const run = (entry: string, args: string[], env: Record<string, string>) =>
    new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
      const output = { stdout: '', stderr: '' };
      child.stdout.on('data', (chunk: Buffer) => (output.stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output.stderr += chunk.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      child.once('exit', (status) => {
        clearTimeout(timer);
        resolve({ status, ...output });
      });
    });
  const fingerprintA = () => emailHashKeyFingerprint(serviceA.config.emailHashKey);
  const fingerprintB = emailHashKeyFingerprint(KEY_B);

  function assertNamesBothFingerprints(text: string): void {
    assert.match(text, /EMAIL_HASH_KEY does not match the Temporal namespace 'default'/);
    assert.ok(text.includes(fingerprintA()) && text.includes(fingerprintB), `both fingerprints in: ${text}`);
    assert.match(text, /Set EMAIL_HASH_KEY to the key the service runs with.*terminate consent-service\/email-hash-key/);
    assert.ok(!text.includes(KEY_B) && !text.includes(serviceA.config.emailHashKey), 'no key in the message');
  }

  it('records the fingerprint of the first writer in an open workflow, never the key', async () => {
    const optIn = consentEvent('opt_in', email, new Date(Date.now() - 60_000));
    assert.equal((await serviceA.post(optIn)).status, 200);
    assert.equal((await waitForOutcome(serviceA, email, String(optIn.event_id))).outcome, 'applied');
    const description = await harness.env.client.workflow.getHandle(EMAIL_HASH_KEY_WORKFLOW_ID).describe();
    assert.equal(description.status.name, 'RUNNING', 'open: retention never deletes it');
    assert.deepEqual(description.memo, { emailHashKeyFingerprint: fingerprintA() });
    const history = JSON.stringify(await harness.env.client.workflow.getHandle(EMAIL_HASH_KEY_WORKFLOW_ID).fetchHistory());
    assert.ok(!history.includes(serviceA.config.emailHashKey));
  });

  it('refuses webhooks of a service with another key, writing nothing', async () => {
    const optOut = consentEvent('opt_out', email, new Date());
    const answer = await serviceB.post(optOut);
    assert.equal(answer.status, 503, 'Extole retries until the key is fixed');
    await assert.rejects(
      harness.env.client.workflow.getHandle(ledgerWorkflowId(ledgerKeyFor(serviceB.config, 'production', email))).describe(),
      /not found/i,
      'no second ledger',
    );
  });

  it('refuses the CLI, the worker and the API with another key, naming both fingerprints', async () => {
    const cli = await run('src/cli/consent.ts', ['status', email], processEnv(serviceB));
    assert.equal(cli.status, 2, cli.stderr);
    assertNamesBothFingerprints(cli.stderr);

    const worker = await run('src/worker.ts', [], processEnv(serviceB, { WORKER_METRICS_PORT: '0', TEMPORAL_SEARCH_ATTRIBUTES: 'false' }));
    assert.equal(worker.status, 1, worker.stdout + worker.stderr);
    assertNamesBothFingerprints(worker.stdout);

    const api = await run('src/api.ts', [], processEnv(serviceB, { PORT: String(await freeLocalPort()) }));
    const output = api.stdout;
    assert.equal(api.status, 2, output);
    assert.match(output, /api refused to run/);
    assertNamesBothFingerprints(output);
  });

  it('refuses the development key before connecting when Listrak is real (the replay finding)', async () => {
    const { EMAIL_HASH_KEY: _key, LISTRAK_API_URL: _api, LISTRAK_AUTH_URL: _auth, ...real } = serviceA.env;
    const cli = await run('src/cli/consent.ts', ['status', email], { ...real, PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' });
    assert.equal(cli.status, 2, cli.stderr);
    assert.match(cli.stderr, /EMAIL_HASH_KEY is not set.*set EMAIL_HASH_KEY/);
  });

  it('keeps working with the recorded key', async () => {
    const optOut = consentEvent('opt_out', email, new Date());
    assert.equal((await serviceA.post(optOut)).status, 200);
    assert.equal((await waitForOutcome(serviceA, email, String(optOut.event_id))).outcome, 'applied');
    const cli = await run('src/cli/consent.ts', ['status', email, '--json'], processEnv(serviceA));
    assert.equal(cli.status, 0, cli.stderr);
  });

  it('records the next key once someone terminates the record', async () => {
    await harness.env.client.workflow.getHandle(EMAIL_HASH_KEY_WORKFLOW_ID).terminate('test: a namespace started by mistake');
    // Fresh connections: a running process keeps its own confirmed answer until it restarts.
    const fresh = async () => new Client({ connection: await Connection.connect({ address: harness.env.address }) });
    const [clientB, clientA] = [await fresh(), await fresh()];
    try {
      await ensureEmailHashKeyFingerprint(clientB, serviceB.config);
      await assert.rejects(ensureEmailHashKeyFingerprint(clientA, loadConfig(serviceA.env)), EmailHashKeyMismatchError);
      await ensureEmailHashKeyFingerprint(clientB, serviceB.config);
    } finally {
      await clientA.connection.close();
      await clientB.connection.close();
    }
  });
});
