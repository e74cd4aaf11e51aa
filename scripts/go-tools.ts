import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/dev/paths';

/**
 * The operations tools the deploy tests use, built from their Go modules through the Go module
 * proxy (the registries this project reaches; their download sites are not), pinned, once, into
 * .tools/go/<name>-<version>/. Cold build times on this 2-core machine are in docs/operations.md.
 *
 *   npm run tools            builds all of them (skips the ones already built)
 *   npm run tools -- helm    builds one
 */
interface GoTool {
  module: string;
  version: string;
  /** The name `go install` gives the binary, when not the tool's. */
  binary?: string;
}

export const GO_TOOLS = {
  helm: { module: 'helm.sh/helm/v3/cmd/helm', version: 'v3.22.0' },
  kubeconform: { module: 'github.com/yannh/kubeconform/cmd/kubeconform', version: 'v0.8.0' },
  // Prometheus 3.16 (its Go module is versioned v0.316.x).
  promtool: { module: 'github.com/prometheus/prometheus/cmd/promtool', version: 'v0.316.0' },
} as const satisfies Record<string, GoTool>;

export type GoToolName = keyof typeof GO_TOOLS;

export function goToolPath(name: GoToolName): string {
  return path.join(PROJECT_ROOT, '.tools', 'go', `${name}-${GO_TOOLS[name].version}`, name);
}

export type GoToolResult = { path: string; builtSeconds?: number } | { path?: undefined; reason: string };

/** The tool's path, building it first when missing; a reason instead when it cannot be built here. */
export function ensureGoTool(name: GoToolName, { quiet = false }: { quiet?: boolean } = {}): GoToolResult {
  const binary = goToolPath(name);
  if (existsSync(binary)) return { path: binary };
  if (spawnSync('go', ['version'], { stdio: 'ignore' }).status !== 0) return { reason: 'Go is not installed' };
  const { module, version } = GO_TOOLS[name];
  // Build into a scratch folder of this process and move it into place, so an interrupted build
  // never looks finished and two test files building the same tool at once do not collide.
  const staging = `${path.dirname(binary)}.partial-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  if (!quiet) process.stderr.write(`building ${name} ${version} (go install ${module}, once, into ${path.relative(PROJECT_ROOT, path.dirname(binary))})\n`);
  const started = Date.now();
  try {
    execFileSync('go', ['install', `${module}@${version}`], {
      env: { ...process.env, GOBIN: staging, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
      stdio: ['ignore', quiet ? 'ignore' : 'inherit', 'pipe'],
      timeout: 40 * 60_000,
    });
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim().split('\n').slice(-3).join(' | ') ?? '';
    return { reason: `go install ${module}@${version} failed: ${stderr || String(error)}` };
  }
  const tool: GoTool = GO_TOOLS[name];
  if (tool.binary) renameSync(path.join(staging, tool.binary), path.join(staging, name));
  if (existsSync(binary)) {
    rmSync(staging, { recursive: true, force: true }); // another process finished first
  } else {
    rmSync(path.dirname(binary), { recursive: true, force: true });
    renameSync(staging, path.dirname(binary));
  }
  const builtSeconds = Math.round((Date.now() - started) / 1000);
  if (!quiet) process.stderr.write(`built ${name} ${version} in ${builtSeconds} s\n`);
  return { path: binary, builtSeconds };
}

/**
 * scripts/compose-config (this repository's Go program on compose-go, pinned in its go.mod): loads
 * a Compose file as `docker compose config` does. Built once into .tools/go/compose-config-<hash>/.
 */
export function ensureComposeConfig(): GoToolResult {
  const source = path.join(PROJECT_ROOT, 'scripts', 'compose-config');
  const stamp = createHash('sha256')
    .update(['main.go', 'go.mod', 'go.sum'].map((file) => readFileSync(path.join(source, file), 'utf8')).join('\0'))
    .digest('hex')
    .slice(0, 12);
  const binary = path.join(PROJECT_ROOT, '.tools', 'go', `compose-config-${stamp}`, 'compose-config');
  if (existsSync(binary)) return { path: binary };
  if (spawnSync('go', ['version'], { stdio: 'ignore' }).status !== 0) return { reason: 'Go is not installed' };
  const staging = `${binary}.partial-${process.pid}`;
  mkdirSync(path.dirname(binary), { recursive: true });
  const started = Date.now();
  const result = spawnSync('go', ['build', '-o', staging, '.'], {
    cwd: source,
    env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-mod=readonly -buildvcs=false' },
    encoding: 'utf8',
    timeout: 20 * 60_000,
  });
  if (result.status !== 0) {
    rmSync(staging, { force: true });
    return { reason: `go build scripts/compose-config failed: ${result.stderr.trim().split('\n').slice(-3).join(' | ')}` };
  }
  renameSync(staging, binary);
  return { path: binary, builtSeconds: Math.round((Date.now() - started) / 1000) };
}

if (require.main === module) {
  const wanted = process.argv.slice(2);
  const names = (wanted.length ? wanted : Object.keys(GO_TOOLS)) as GoToolName[];
  let failed = false;
  for (const name of names) {
    if (!(name in GO_TOOLS)) throw new Error(`unknown tool ${name}: one of ${Object.keys(GO_TOOLS).join(', ')}`);
    const result = ensureGoTool(name);
    if (result.path === undefined) {
      failed = true;
      process.stderr.write(`${name}: ${result.reason}\n`);
    } else {
      process.stdout.write(`${name} ${GO_TOOLS[name].version}: ${result.path}${result.builtSeconds === undefined ? '' : ` (built in ${result.builtSeconds} s)`}\n`);
    }
  }
  process.exit(failed ? 1 : 0);
}
