import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Cluster, compiledApp, randomChanges, sendLikeExtole, type SendReport } from '../../src/dev/cluster';
import { ensureTemporalServer, setupSchema, startPostgres, temporalOnPostgres, TEMPORAL_SERVER_VERSION, type Postgres } from './postgres-temporal';

// Opt-in (`npm run test:topology`): the docker-compose topology without Docker. PostgreSQL from
// Debian's packages, the Temporal server built from its Go module at the compose file's version,
// its schema applied by temporal-sql-tool, then the api and two workers as separate production
// processes, compiled as the Docker image runs them. A burst survives kill -9 of the Temporal
// server and of a worker; the state lives in PostgreSQL. (Not covered: the container images, the
// Temporal UI container, compose health checks.)

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe(`topology: Temporal ${TEMPORAL_SERVER_VERSION} on PostgreSQL, api + 2 workers`, { timeout: 3_600_000 }, () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'consent-topology-'));
  let postgres: Postgres | undefined;
  let cluster: Cluster;
  let app: Awaited<ReturnType<typeof compiledApp>> | undefined;

  before(async () => {
    const binaries = ensureTemporalServer();
    postgres = await startPostgres(dir);
    setupSchema(binaries, postgres.port);
    app = await compiledApp();
    cluster = new Cluster(
      { TEMPORAL_WORKFLOW_BUNDLE: path.join(app.dist, 'workflow-bundle-encrypted.js') },
      await temporalOnPostgres(binaries, postgres.port),
      app.dist,
    );
    await cluster.start({ workers: 2 });
  });
  after(async () => {
    await cluster?.close();
    cluster?.remove();
    app?.remove();
    postgres?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every change lands through kill -9 of the Temporal server and of a worker; state and visibility are in PostgreSQL', async () => {
    const events = randomChanges(300, 60);
    const report: SendReport = { accepted: new Map(), answers: {}, attempts: 0 };
    const sending = sendLikeExtole(() => cluster.apiUrl, events, { deadlineMs: 600_000, report });
    await cluster.waitFor(() => report.accepted.size >= 60, 120_000, 'a fifth of the burst');
    await cluster.killServer();
    await sleep(2_000);
    await cluster.startServer();
    await cluster.killWorker(cluster.workers[0]!);
    await cluster.startWorker();
    const sent = await sending;
    const figures = await cluster.verify(events, sent.accepted, 600_000);
    process.stdout.write(`topology figures: ${JSON.stringify({ ...figures, answers: sent.answers })}\n`);
    assert.equal(figures.changesAccepted, events.length);
    assert.equal(figures.changesLost, 0);
    assert.equal(figures.emailsInWrongFinalState, 0);

    const count = (database: string, sql: string) =>
      Number(execFileSync('psql', ['-h', '127.0.0.1', '-p', String(postgres!.port), '-U', 'temporal', '-d', database, '-tAc', sql], { encoding: 'utf8', env: { ...process.env, PGPASSWORD: 'temporal' } }).trim());
    assert.ok(count('temporal', 'SELECT count(*) FROM executions') >= figures.emails, 'workflow state is stored in PostgreSQL');
    assert.ok(count('temporal_visibility', "SELECT count(*) FROM executions_visibility WHERE workflow_type_name = 'applyConsentChangeWorkflow'") > 0, 'visibility too');
    const byHash = await cluster.client.workflow.count(`ConsentEnvironment = 'production' AND WorkflowType = 'consentLedgerWorkflow'`);
    assert.equal(byHash.count, figures.emails, 'custom search attributes work on SQL visibility');
    const ready = (await (await fetch(`${cluster.apiUrl}/readyz`)).json()) as { ready: boolean };
    assert.equal(ready.ready, true);
  });
});
