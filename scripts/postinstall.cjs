// npm's postinstall: fetches the project's Temporal CLI and test server into .tools/ for
// development and tests (src/dev/temporal-binaries.ts, run with tsx). A production install
// (`npm ci --omit=dev`) has no tsx and needs neither binary: it skips, and says so.
const { spawnSync } = require('node:child_process');
const path = require('node:path');

try {
  require.resolve('tsx');
} catch {
  process.stdout.write('postinstall: tsx is not installed (a production install): the Temporal CLI for development is not fetched\n');
  process.exit(0);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, '..', 'src', 'dev', 'temporal-binaries.ts'), '--ensure'], { stdio: 'inherit' });
process.exit(result.status ?? 1);
