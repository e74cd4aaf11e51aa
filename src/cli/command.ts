import { ConfigError } from '../config/config';

/** The words of a command line are off: exit 2, like a configuration error. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/**
 * Runs a command-line entry point: its exit code, or on an error its message on stderr and exit 2
 * for usage and configuration errors (scripts can tell them apart), 1 for everything else.
 */
export function runCommand(main: (argv: string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      const usage = error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
      process.stderr.write(`${(error as Error).message}\n`);
      process.exit(usage ? 2 : 1);
    },
  );
}
