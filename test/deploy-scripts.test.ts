import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Connection } from '@temporalio/client';
import { freeLocalPort } from '../src/observability/local-port';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../src/temporal/search-attributes';
import { PROJECT_ROOT } from '../src/dev/paths';
import { temporalCliPath } from '../src/dev/temporal-binaries';
import { startDevServer, type DevServer } from '../src/dev/dev-server';

// The setup jobs of docker-compose.yml (temporalio/admin-tools runs them with its `temporal` CLI),
// run here with the project's own CLI against a real dev server.
const scripts = path.join(PROJECT_ROOT, 'deploy', 'temporal');

describe('the Temporal setup jobs (deploy/temporal/*.sh)', () => {
  let server: DevServer;
  let address: string;
  let connection: Connection;
  let dataDir: string;
  const cliDir = path.dirname(temporalCliPath());

  before(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'deploy-scripts-'));
    address = `127.0.0.1:${await freeLocalPort()}`;
    server = await startDevServer({ cliPath: temporalCliPath(), address, uiPort: await freeLocalPort(), dataDir, namespace: 'default', retentionDays: 2, quiet: true });
    connection = await Connection.connect({ address });
  });
  after(async () => {
    await connection?.close();
    await server?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  function run(script: string, env: Record<string, string>) {
    const result = spawnSync('sh', [path.join(scripts, script)], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { PATH: `${cliDir}:${process.env.PATH ?? ''}`, HOME: process.env.HOME ?? '', TEMPORAL_ADDRESS: address, ...env },
    });
    assert.equal(result.status, 0, `${script}: ${result.stderr}${result.stdout}`);
    return result.stdout;
  }

  async function retentionDays(namespace: string): Promise<number> {
    const described = await connection.workflowService.describeNamespace({ namespace });
    return Number(described.config?.workflowExecutionRetentionTtl?.seconds ?? 0) / 86_400;
  }

  it('creates the namespace with TEMPORAL_RETENTION_DAYS (30 by default) and sets it again on a second run', async () => {
    const output = run('create-namespace.sh', { TEMPORAL_NAMESPACE: 'consent-setup' });
    assert.match(output, /created consent-setup with a retention of 30 days/);
    assert.equal(await retentionDays('consent-setup'), 30);
    // An existing namespace (the dev server's own, started here with 2 days) gets the retention asked for.
    assert.equal(await retentionDays('default'), 2);
    assert.match(run('create-namespace.sh', { TEMPORAL_NAMESPACE: 'default', TEMPORAL_RETENTION_DAYS: '7' }), /default exists; retention set to 7 days/);
    assert.equal(await retentionDays('default'), 7);
    run('create-namespace.sh', { TEMPORAL_NAMESPACE: 'consent-setup', TEMPORAL_RETENTION_DAYS: '45' });
    assert.equal(await retentionDays('consent-setup'), 45);
  });

  it('registers every search attribute of src/temporal/search-attributes.ts as Keyword, and keeps them on a second run', async () => {
    run('create-namespace.sh', { TEMPORAL_NAMESPACE: 'consent-attributes' });
    const first = run('create-search-attributes.sh', { TEMPORAL_NAMESPACE: 'consent-attributes' });
    const listed = await connection.operatorService.listSearchAttributes({ namespace: 'consent-attributes' });
    for (const key of ALL_SEARCH_ATTRIBUTE_KEYS) {
      assert.match(first, new RegExp(`registered ${key.name} \\(Keyword\\)`));
      assert.ok(key.name in (listed.customAttributes ?? {}), `${key.name} is registered`);
      assert.equal(key.type, 'KEYWORD');
    }
    const second = run('create-search-attributes.sh', { TEMPORAL_NAMESPACE: 'consent-attributes' });
    for (const key of ALL_SEARCH_ATTRIBUTE_KEYS) assert.match(second, new RegExp(`${key.name} is registered`));
    // The script names exactly the attributes the code defines.
    const named = /for name in ([^;]+);/.exec(readFileSync(path.join(scripts, 'create-search-attributes.sh'), 'utf8'))?.[1]?.trim().split(/\s+/);
    assert.deepEqual(named?.sort(), ALL_SEARCH_ATTRIBUTE_KEYS.map((key) => key.name).sort());
  });
});
