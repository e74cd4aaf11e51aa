import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { signExtolePayload } from '../src/http/webhook-auth';
import { PROJECT_ROOT } from '../src/dev/paths';
import { Cluster, WEBHOOK_SECRET, compiledApp } from '../src/dev/cluster';

// The Docker image runs the service compiled to JavaScript (`npm run build`), not through tsx. No
// image is built here (no Docker engine), so this runs the same compiled output as processes: the
// API and a worker on the prebuilt encrypted workflow bundle, and the support CLI.

const uniqueEmail = (label: string) => `${label}.${Math.random().toString(36).slice(2, 10)}@example.com`;

describe('the compiled build (what the Docker image runs)', { timeout: 300_000 }, () => {
  let app: Awaited<ReturnType<typeof compiledApp>>;
  let cluster: Cluster;
  const optIn = uniqueEmail('compiled-in');

  before(async () => {
    app = await compiledApp();
    cluster = new Cluster({ TEMPORAL_WORKFLOW_BUNDLE: path.join(app.dist, 'workflow-bundle-encrypted.js') }, undefined, app.dist);
    await cluster.start();
  });
  after(async () => {
    await cluster?.close();
    cluster?.remove();
    app?.remove();
  });

  it('holds every entry point the Dockerfile and docker-compose.yml run', () => {
    const compose = parse(readFileSync(path.join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { command?: string[] }> };
    const dockerfile = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(dockerfile)?.[1] ?? '[]') as string[];
    const bundle = /^ENV TEMPORAL_WORKFLOW_BUNDLE=\/app\/(\S+)$/m.exec(dockerfile)?.[1];
    const entries = [cmd.at(-1), compose.services.api?.command?.at(-1), compose.services.worker?.command?.at(-1), bundle];
    for (const entry of entries) {
      assert.match(entry ?? '', /^dist\//, `${entry} is compiled output`);
      assert.ok(existsSync(path.join(app.dist, entry!.slice('dist/'.length))), `the build produces ${entry}`);
    }
  });

  it('applies an opt-in and an opt-out through the compiled API and worker, and serves the live view', async () => {
    const optOut = uniqueEmail('compiled-out');
    const events = [
      { event_id: `compiled-${Date.now()}-1`, event_time: new Date().toISOString(), type: 'opt_in', email: optIn, first_name: 'Ada' },
      { event_id: `compiled-${Date.now()}-2`, event_time: new Date().toISOString(), type: 'opt_out', email: optOut },
    ];
    const body = JSON.stringify(events);
    const response = await fetch(`${cluster.apiUrl}/webhooks/extole`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-extole-signature': signExtolePayload(WEBHOOK_SECRET, body) },
      body,
    });
    assert.equal(response.status, 200);
    await cluster.waitFor(() => cluster.sandbox.contact(1001, optIn)?.subscriptionState === 'Subscribed', 30_000, 'the opt-in in Listrak');
    await cluster.waitFor(() => cluster.sandbox.requestsFor('upsert', optOut).some((entry) => entry.status === 201 || entry.status === 400), 30_000, 'the opt-out sent');
    assert.equal(cluster.sandbox.requestsFor('upsert', optIn).length, 1, 'one write');

    const page = await fetch(`${cluster.apiUrl}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i, 'the live view page (a file the compiled code reads at run time)');
  });

  it('runs the support CLI compiled', () => {
    const result = spawnSync(process.execPath, [path.join(app.dist, 'src/cli/consent.js'), 'status', optIn, '--json'], {
      cwd: PROJECT_ROOT,
      env: cluster.env,
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(result.status, 0, result.stderr);
    const [production] = JSON.parse(result.stdout) as { environment: string; applied?: { type: string } }[];
    assert.equal(production?.environment, 'production');
    assert.equal(production?.applied?.type, 'opt_in');
  });
});
