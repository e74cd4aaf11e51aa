// Loaded into every test file's process (`--import` in package.json's test scripts). With
// --test-force-exit, Node's test runner ends a test file's process with process.exit() while the
// last results may still sit in the stdout pipe to the runner, which then counts fewer tests than
// ran (nodejs/node#64833; a failure still fails the file through its exit code). A blocking pipe
// has nothing left to lose: each result is written before the next line of the test runs.
if (process.env.NODE_TEST_CONTEXT?.startsWith('child')) process.stdout._handle?.setBlocking?.(true);
