/**
 * The process environment, for the few programs that read a variable outside the service's
 * configuration: the development tools (where the Temporal binaries are) and child processes
 * that inherit it. The service's own settings are parsed in ./config.ts.
 */

/** The variables that point at Temporal binaries instead of PATH or the project-local copy. */
export type TemporalBinaryVariable = 'TEMPORAL_CLI_PATH' | 'TEMPORAL_TEST_SERVER_PATH';

/** The path a variable gives for a Temporal binary, if set and not blank. */
export function temporalBinaryPath(variable: TemporalBinaryVariable, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[variable]?.trim();
  return value ? value : undefined;
}

/** This process's environment, for a program that parses its own settings from it (the sandbox). */
export function processEnvironment(): NodeJS.ProcessEnv {
  return process.env;
}

/** This process's environment with some variables added or replaced (for a child process, or an overlay). */
export function environmentWith(overlay: Record<string, string>): NodeJS.ProcessEnv {
  return { ...process.env, ...overlay };
}

/** Only these variables of this process's environment (for a child that must not inherit the rest). */
export function inheritedVariables(names: readonly string[]): Record<string, string> {
  return Object.fromEntries(names.map((name) => [name, process.env[name] ?? '']));
}

/** RELIABILITY_SCALE: `full` for the long crash and property suites, else the quick ones CI runs. */
export function reliabilityScale(env: NodeJS.ProcessEnv = process.env): 'full' | 'quick' {
  return env.RELIABILITY_SCALE === 'full' ? 'full' : 'quick';
}
