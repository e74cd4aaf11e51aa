import { execFileSync, spawn } from 'node:child_process';
import { chownSync, createWriteStream, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Long from 'long';
import { freeLocalPort } from '../../src/observability/local-port';
import { PROJECT_ROOT } from '../../src/dev/paths';
import { untilServing, type DevServer } from '../../src/dev/dev-server';

/**
 * The production topology without Docker: PostgreSQL from Debian's packages and a real Temporal
 * server (not the dev server) on it, built from the server's Go module at the version that
 * docker-compose.yml runs (temporalio/server). Used by the opt-in `npm run test:topology`.
 */
export const TEMPORAL_SERVER_VERSION = 'v1.32.0';

export interface TemporalServerBinaries {
  server: string;
  sqlTool: string;
  schemaDir: string;
}

/** Builds (once, into .tools/) the Temporal server and its SQL schema tool through the Go module proxy. */
export function ensureTemporalServer(): TemporalServerBinaries {
  const bin = path.join(PROJECT_ROOT, '.tools', 'temporal-server', TEMPORAL_SERVER_VERSION);
  const server = path.join(bin, 'server');
  const sqlTool = path.join(bin, 'sql');
  if (!existsSync(server) || !existsSync(sqlTool)) {
    process.stderr.write(`building the Temporal server ${TEMPORAL_SERVER_VERSION} with go install (a few minutes, once)\n`);
    execFileSync('go', ['install', `go.temporal.io/server/cmd/server@${TEMPORAL_SERVER_VERSION}`, `go.temporal.io/server/cmd/tools/sql@${TEMPORAL_SERVER_VERSION}`], {
      env: { ...process.env, GOBIN: bin, GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'inherit', 'inherit'],
      timeout: 30 * 60_000,
    });
  }
  const modCache = execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
  let schemaDir = path.join(modCache, `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`, 'schema', 'postgresql', 'v12');
  if (!existsSync(schemaDir)) {
    // The binaries are built but the module's source (its schema files) is not in the module
    // cache, e.g. after the cache was cleaned: download that module alone.
    const module = JSON.parse(
      execFileSync('go', ['mod', 'download', '-json', `go.temporal.io/server@${TEMPORAL_SERVER_VERSION}`], { encoding: 'utf8', timeout: 10 * 60_000 }),
    ) as { Dir?: string };
    schemaDir = path.join(module.Dir ?? modCache, 'schema', 'postgresql', 'v12');
  }
  if (!existsSync(schemaDir)) throw new Error(`no schema at ${schemaDir}: is the Go module cache intact?`);
  return { server, sqlTool, schemaDir };
}

/** The directory of PostgreSQL's server programs (Debian: /usr/lib/postgresql/<version>/bin). */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const version = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a))[0] : undefined;
  if (!version) throw new Error('PostgreSQL is not installed (Debian: apt-get install postgresql)');
  return path.join(root, version, 'bin');
}

export interface Postgres {
  port: number;
  stop(): void;
}

/** A throw-away PostgreSQL cluster on 127.0.0.1 with a `temporal` role, as the compose file has. */
export async function startPostgres(dir: string): Promise<Postgres> {
  const bin = postgresBin();
  const data = path.join(dir, 'pgdata');
  mkdirSync(data, { recursive: true });
  // PostgreSQL refuses to run as root: run it as the postgres account when we are root.
  const asPostgres = (command: string, args: string[]) => {
    const root = process.getuid?.() === 0;
    execFileSync(root ? 'runuser' : path.join(bin, command), root ? ['-u', 'postgres', '--', path.join(bin, command), ...args] : args, { stdio: 'ignore', timeout: 120_000 });
  };
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, uid, gid);
    chownSync(data, uid, gid);
  }
  const port = await freeLocalPort();
  asPostgres('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync']);
  asPostgres('pg_ctl', ['-D', data, '-l', path.join(dir, 'postgres.log'), '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200`, 'start']);
  execFileSync('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-c', "CREATE ROLE temporal WITH LOGIN PASSWORD 'temporal' CREATEDB"], { stdio: 'ignore' });
  return { port, stop: () => asPostgres('pg_ctl', ['-D', data, '-m', 'fast', '-w', 'stop']) };
}

/** Creates the two databases and applies every schema version, as the schema job of docker-compose.yml does (deploy/temporal/setup-schema.sh). */
export function setupSchema(binaries: TemporalServerBinaries, postgresPort: number): void {
  for (const [database, schema] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    const sql = (...args: string[]) =>
      execFileSync(binaries.sqlTool, ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(postgresPort), '-u', 'temporal', '--pw', 'temporal', '--db', database, ...args], { stdio: 'ignore', timeout: 120_000 });
    sql('create-database');
    sql('setup-schema', '-v', '0.0');
    sql('update-schema', '-d', path.join(binaries.schemaDir, schema, 'versioned'));
  }
}

/** A free port on 127.0.0.1 between 20000 and 32767. */
async function lowFreePort(): Promise<number> {
  for (let tries = 0; tries < 100; tries++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const free = await new Promise<boolean>((resolve) => {
      const server = net.createServer().once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port below 32768');
}

/**
 * A server factory for the reliability Cluster: writes the server's configuration (PostgreSQL
 * for history and visibility, every service on 127.0.0.1) and starts it; the same ports are used
 * again after a kill, so a restart finds its state in PostgreSQL.
 */
export async function temporalOnPostgres(binaries: TemporalServerBinaries, postgresPort: number) {
  const ports = { history: await freeLocalPort(), matching: await freeLocalPort(), worker: await freeLocalPort(), http: await freeLocalPort(), metrics: await freeLocalPort() };
  // Temporal stores membership ports as PostgreSQL smallint: they must be below 32768.
  const membership = { frontend: await lowFreePort(), history: await lowFreePort(), matching: await lowFreePort(), worker: await lowFreePort() };
  let starts = 0;
  return async (address: string, dir: string): Promise<DevServer> => {
    const frontendPort = Number(address.split(':')[1]);
    const root = path.join(dir, 'temporal-server');
    mkdirSync(path.join(root, 'config', 'dynamicconfig'), { recursive: true });
    const store = (database: string, maxConns: number) => `
      sql:
        pluginName: postgres12
        databaseName: ${database}
        connectAddr: "127.0.0.1:${postgresPort}"
        connectProtocol: tcp
        user: temporal
        password: temporal
        maxConns: ${maxConns}
        maxIdleConns: ${maxConns}
        maxConnLifetime: 1h`;
    const service = (grpc: number, member: number, extra = '') => `
    rpc:
      grpcPort: ${grpc}
      membershipPort: ${member}
      bindOnLocalHost: true${extra}`;
    writeFileSync(
      path.join(root, 'config', 'development.yaml'),
      `log:
  stdout: true
  level: warn
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
    default:${store('temporal', 20)}
    visibility:${store('temporal_visibility', 10)}
global:
  membership:
    maxJoinDuration: 30s
    broadcastAddress: "127.0.0.1"
  metrics:
    prometheus:
      framework: tally
      timerType: histogram
      listenAddress: "127.0.0.1:${ports.metrics}"
services:
  frontend:${service(frontendPort, membership.frontend, `\n      httpPort: ${ports.http}`)}
  history:${service(ports.history, membership.history)}
  matching:${service(ports.matching, membership.matching)}
  worker:${service(ports.worker, membership.worker)}
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active:
      enabled: true
      initialFailoverVersion: 1
      rpcName: frontend
      rpcAddress: "127.0.0.1:${frontendPort}"
dcRedirectionPolicy:
  policy: noop
dynamicConfigClient:
  filepath: "${path.join(root, 'config', 'dynamicconfig', 'development.yaml')}"
  pollInterval: 10s
`,
    );
    writeFileSync(
      path.join(root, 'config', 'dynamicconfig', 'development.yaml'),
      // Namespace and search-attribute changes visible at once instead of after a cache refresh.
      'system.forceSearchAttributesCacheRefreshOnRead:\n  - value: true\nfrontend.enableExecuteMultiOperation:\n  - value: true\n' +
        // What docker-compose.yml gives its Temporal server.
        readFileSync(path.join(PROJECT_ROOT, 'deploy', 'temporal-dynamic-config.yaml'), 'utf8'),
    );
    const log = createWriteStream(path.join(dir, `temporal-server-${starts++}.log`));
    const child = spawn(binaries.server, ['--root', root, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const stop = async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(killer);
    };
    await untilServing({
      address,
      timeoutMs: 120_000,
      pauseMs: 500,
      exited: () => (child.exitCode === null ? undefined : `the Temporal server exited with ${child.exitCode}; see ${log.path as string}`),
      ready: async (connection) => {
        await connection.workflowService
          .registerNamespace({ namespace: 'default', workflowExecutionRetentionPeriod: { seconds: Long.fromNumber(86_400) } })
          .catch((error: unknown) => {
            if (!/already exists/i.test((error as Error).message)) throw error;
          });
        // The namespace is usable once a namespace-scoped call succeeds.
        await connection.workflowService.listWorkflowExecutions({ namespace: 'default', pageSize: 1 });
      },
      onTimeout: stop,
      what: 'the Temporal server on PostgreSQL did not become ready',
    });
    return { process: child, stop };
  };
}
