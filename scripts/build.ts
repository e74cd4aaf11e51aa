// `npm run build [-- --out-dir DIR]`: the service compiled to JavaScript, as production runs it
// (the Dockerfile, the benchmark). It compiles src/, workflows/, activities/ and scripts/ with
// tsconfig.build.json, copies the files the code reads at run time beside the compiled code, and
// bundles the workflows (plain and for payload encryption) so workers start without webpack:
//   node dist/src/api.js                                                  the webhook API
//   TEMPORAL_WORKFLOW_BUNDLE=dist/workflow-bundle.js node dist/src/worker.js   a worker
//   node dist/src/cli/consent.js status <email>                           the support CLI
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../src/dev/paths';
import { buildWorkflowBundle } from './build-workflows';

/** Read with fs at run time (not imported), so the compiler does not copy them. */
const RUNTIME_FILES = ['src/http/live-view.html', 'src/dev/listrak-sandbox/email-api-swagger.json'];

/** The compiled folders, emptied first so no file of a deleted source lingers. */
const COMPILED = ['src', 'workflows', 'activities', 'scripts'];

export async function build(outDir = path.join(PROJECT_ROOT, 'dist')): Promise<string> {
  // Only the compiled folders: dist/ may also hold bundles from `npm run build:workflows --tracing`.
  for (const folder of COMPILED) rmSync(path.join(outDir, folder), { recursive: true, force: true });
  execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(PROJECT_ROOT, 'tsconfig.build.json'), '--outDir', outDir], {
    stdio: 'inherit',
  });
  for (const file of RUNTIME_FILES) cpSync(path.join(PROJECT_ROOT, file), path.join(outDir, file));
  await buildWorkflowBundle(path.join(outDir, 'workflow-bundle.js'), false);
  await buildWorkflowBundle(path.join(outDir, 'workflow-bundle-encrypted.js'), true);
  return outDir;
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const outDir = args.includes('--out-dir') ? path.resolve(args[args.indexOf('--out-dir') + 1] ?? '') : undefined;
  build(outDir).then(
    (dir) => process.stdout.write(`compiled service and workflow bundles written to ${dir}\n`),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
}
