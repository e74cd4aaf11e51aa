import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildWorkflowBundle } from '../scripts/build-workflows';
import { loadConfig } from '../src/config/config';
import { PROJECT_ROOT } from '../src/dev/paths';
import { readBundleMarker } from '../src/temporal/workflow-bundle';
import { createConsentWorker } from '../src/temporal/consent-worker';
import { createHarness, eventually, testEnv, type Harness } from '../src/dev/harness';

// A worker with TEMPORAL_PAYLOAD_KEY must load the bundle built with --encrypted (its failure
// converter puts failure messages into encrypted payloads), and a worker without a key the plain
// one. The bundles are the ones `npm run build:workflows` writes, in a temporary folder.

describe('a worker refuses a workflow bundle that does not match its payload key', { timeout: 180_000 }, () => {
  let harness: Harness;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'consent-bundles-'));
  const plain = path.join(dir, 'workflow-bundle.js');
  const encrypted = path.join(dir, 'workflow-bundle-encrypted.js');
  const unmarked = path.join(dir, 'unmarked.js');
  const key = `k1:${randomBytes(32).toString('base64')}`;

  before(async () => {
    await buildWorkflowBundle(plain, false);
    await buildWorkflowBundle(encrypted, true);
    // A bundle from elsewhere (an older build, bundleWorkflowCode by hand): the code without the marker.
    writeFileSync(unmarked, readFileSync(plain, 'utf8').replace(/^\/\*.*?\*\//, ''));
    harness = await createHarness();
  });
  after(async () => {
    await harness?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const configFor = (bundle: string, payloadKey?: string) =>
    loadConfig(
      Object.fromEntries(
        Object.entries(
          testEnv(harness.sandboxUrls, { TEMPORAL_ADDRESS: harness.env.address, TEMPORAL_WORKFLOW_BUNDLE: bundle, TEMPORAL_PAYLOAD_KEY: payloadKey }),
        ).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
    );

  it('marks each bundle with what it was built for', () => {
    assert.deepEqual(readBundleMarker(plain), { encrypted: false, traced: false });
    assert.deepEqual(readBundleMarker(encrypted), { encrypted: true, traced: false });
    assert.equal(readBundleMarker(unmarked), undefined);
  });

  for (const [name, bundle, payloadKey, refusal] of [
    ['a payload key with the unencrypted bundle', plain, key, /is the unencrypted bundle, but TEMPORAL_PAYLOAD_KEY is set.*use dist\/workflow-bundle-encrypted\.js/],
    ['no payload key with the encrypted bundle', encrypted, undefined, /is built for payload encryption, but TEMPORAL_PAYLOAD_KEY is not set: use dist\/workflow-bundle\.js/],
    ['a bundle without a build marker', unmarked, key, /carries no build marker.*rebuild it and use dist\/workflow-bundle-encrypted\.js/],
  ] as const) {
    it(`refuses ${name}`, async () => {
      await assert.rejects(createConsentWorker({ config: configFor(bundle, payloadKey), connection: harness.env.nativeConnection }), refusal);
    });
  }

  for (const [name, bundle, payloadKey] of [
    ['a payload key with the encrypted bundle', encrypted, key],
    ['no payload key with the unencrypted bundle', plain, undefined],
  ] as const) {
    it(`starts with ${name}`, async () => {
      const worker = await createConsentWorker({ config: configFor(bundle, payloadKey), connection: harness.env.nativeConnection });
      const running = worker.run();
      await eventually(() => worker.getState() === 'RUNNING', 10_000, 'the worker to run');
      worker.shutdown();
      await running;
    });
  }

  it('stops the worker process (src/worker.ts) with the message', () => {
    const env = { ...configEnv(plain, key), PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', WORKER_METRICS_PORT: '0', LOG_LEVEL: 'info' };
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/worker.ts'], { cwd: PROJECT_ROOT, env, encoding: 'utf8', timeout: 60_000 });
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout + result.stderr, /is the unencrypted bundle, but TEMPORAL_PAYLOAD_KEY is set.*worker failed/);
  });

  function configEnv(bundle: string, payloadKey: string): Record<string, string> {
    return Object.fromEntries(
      Object.entries(
        testEnv(harness.sandboxUrls, { TEMPORAL_ADDRESS: harness.env.address, TEMPORAL_WORKFLOW_BUNDLE: bundle, TEMPORAL_PAYLOAD_KEY: payloadKey, TEMPORAL_SEARCH_ATTRIBUTES: 'false' }),
      ).filter((entry): entry is [string, string] => entry[1] !== undefined),
    );
  }
});
