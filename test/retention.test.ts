import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { parse } from 'yaml';
import { loadConfig } from '../src/config/config';
import { freeLocalPort } from '../src/observability/local-port';
import { PROJECT_ROOT } from '../src/dev/paths';
import { temporalCliPath } from '../src/dev/temporal-binaries';
import { startDevServer } from '../src/dev/dev-server';
import { namespaceRetentionDays } from '../src/temporal/setup';

const run = promisify(execFile);

describe('retention of closed workflows', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'retention-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('TEMPORAL_RETENTION_DAYS defaults to 30 days and is parsed as a whole number of days', () => {
    assert.equal(loadConfig({}).temporal.retentionDays, 30);
    assert.equal(loadConfig({ TEMPORAL_RETENTION_DAYS: '400' }).temporal.retentionDays, 400);
    assert.throws(() => loadConfig({ TEMPORAL_RETENTION_DAYS: '0' }), /TEMPORAL_RETENTION_DAYS: must be an integer between 1 and 3650/);
    assert.throws(() => loadConfig({ TEMPORAL_RETENTION_DAYS: '30d' }), /TEMPORAL_RETENTION_DAYS/);
  });

  it('the embedded dev server sets its namespace to the configured retention, and a restart with another value changes it', async () => {
    const address = `127.0.0.1:${await freeLocalPort()}`;
    const retentionAfterStart = async (days: number, alsoWhileUp: (connection: Connection) => Promise<void> = () => Promise.resolve()) => {
      const server = await startDevServer({
        cliPath: temporalCliPath(),
        address,
        uiPort: await freeLocalPort(),
        dataDir: dir,
        namespace: 'consent-retention',
        retentionDays: loadConfig({ TEMPORAL_RETENTION_DAYS: String(days) }).temporal.retentionDays,
        quiet: true,
      });
      try {
        const connection = await Connection.connect({ address });
        try {
          await alsoWhileUp(connection);
          return await namespaceRetentionDays(connection, 'consent-retention');
        } finally {
          await connection.close();
        }
      } finally {
        await server.stop();
      }
    };
    // start-dev alone creates the namespace with one day; the same data directory keeps it.
    assert.equal(await retentionAfterStart(7), 7);
    // The second start also checks what compose relies on: its namespace job runs `temporal operator
    // namespace create --retention <TEMPORAL_RETENTION_DAYS>d`.
    let composeStyleDays: number | undefined;
    assert.equal(
      await retentionAfterStart(45, async (connection) => {
        await run(temporalCliPath(), ['operator', 'namespace', 'create', '--retention', '12d', '--address', address, '-n', 'compose-style']);
        composeStyleDays = await namespaceRetentionDays(connection, 'compose-style');
      }),
      45,
    );
    assert.equal(composeStyleDays, 12);
  });

  it('compose creates its namespace with the same setting (the namespace job: TEMPORAL_RETENTION_DAYS)', () => {
    const compose = parse(readFileSync(path.join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, { environment?: Record<string, string> }>;
    };
    const job = Object.values(compose.services).find((service) => service.environment?.TEMPORAL_RETENTION_DAYS !== undefined);
    assert.equal(job?.environment?.TEMPORAL_RETENTION_DAYS, '${TEMPORAL_RETENTION_DAYS:-30}');
    const script = readFileSync(path.join(PROJECT_ROOT, 'deploy', 'temporal', 'create-namespace.sh'), 'utf8');
    assert.match(script, /--retention "\$\{RETENTION_DAYS\}d"/, 'the job creates (or updates) the namespace with it, in the format the CLI takes (proven above)');
  });
});
