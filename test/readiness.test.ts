import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../src/config/config';
import { createServiceApp } from '../src/http/server';
import { createHarness, eventually, testEnv, uniqueId, type Harness } from '../src/dev/harness';

// Two probes: `/readyz?scope=intake` (Temporal reachable: webhooks can be recorded; the API's
// readiness probe in Kubernetes and Compose) and `/readyz` (a worker polls too: changes are applied).
describe('GET /readyz: intake readiness needs Temporal, processing readiness needs a worker too', () => {
  let harness: Harness;
  const servers: http.Server[] = [];

  before(async () => {
    harness = await createHarness();
  });
  after(async () => {
    for (const server of servers) server.close();
    await harness?.close();
  });

  async function apiFor(overrides: Record<string, string>, client: Client): Promise<string> {
    const env = Object.fromEntries(
      Object.entries({ TEMPORAL_ADDRESS: harness.env.address, ...testEnv(harness.sandboxUrls, overrides) }).filter(
        (entry): entry is [string, string] => entry[1] !== undefined,
      ),
    );
    const server = http.createServer(createServiceApp(loadConfig(env), client));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it('with no worker polling: intake ready (200), processing not ready (503)', async () => {
    const url = await apiFor({ TEMPORAL_TASK_QUEUE: uniqueId('no-worker') }, harness.env.client);
    const intake = await fetch(`${url}/readyz?scope=intake`);
    assert.equal(intake.status, 200);
    const body = (await intake.json()) as { ready: boolean; intakeReady: boolean; temporal: string; workflowPollers: number };
    assert.deepEqual([body.intakeReady, body.ready, body.temporal, body.workflowPollers], [true, false, 'reachable', 0]);
    assert.equal((await fetch(`${url}/readyz`)).status, 503);
    assert.equal((await fetch(`${url}/readyz?scope=processing`)).status, 503, 'any other scope is the full check');
  });

  it('with a worker polling: both ready', async () => {
    const service = await harness.start();
    assert.equal((await fetch(`${service.url}/readyz?scope=intake`)).status, 200);
    // Temporal lists a worker's pollers once its first polls arrive.
    await eventually(async () => (await fetch(`${service.url}/readyz`)).status === 200, 20_000, 'the worker to poll');
  });

  it('with Temporal unreachable: neither', async () => {
    const client = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
    const url = await apiFor({ TEMPORAL_ADDRESS: '127.0.0.1:1' }, client);
    const intake = await fetch(`${url}/readyz?scope=intake`);
    assert.equal(intake.status, 503);
    assert.equal(((await intake.json()) as { temporal: string }).temporal, 'unreachable');
    assert.equal((await fetch(`${url}/readyz`)).status, 503);
  });
});
