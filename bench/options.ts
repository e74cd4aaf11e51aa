// The bench's command line: `npm run bench [-- --quick] [--tsx|--compiled] [--only <stage>] [--changes N]`.

export type Runtime = 'compiled' | 'tsx';

export interface BenchOptions {
  quick: boolean;
  /** `--only burst`: one stage alone, for profiling (prints its figures, writes nothing). */
  only: string | undefined;
  /**
   * How the API and worker processes run: compiled, as the Docker image runs them (the full run), or
   * from TypeScript through tsx (`--tsx`; also the default of `--quick`, whose minute has no room
   * for the 13 s compile; `--compiled` overrides). Only runs in their default mode update the docs.
   */
  runtime: Runtime;
  defaultRuntime: Runtime;
  /** `--changes N`: the burst's size with `--only burst`. */
  changes: number | undefined;
}

export function parseBenchArgs(argv: readonly string[]): BenchOptions {
  const valueOf = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const quick = argv.includes('--quick');
  const defaultRuntime: Runtime = quick ? 'tsx' : 'compiled';
  const changes = valueOf('--changes');
  return {
    quick,
    only: valueOf('--only'),
    runtime: argv.includes('--tsx') ? 'tsx' : argv.includes('--compiled') ? 'compiled' : defaultRuntime,
    defaultRuntime,
    changes: changes === undefined ? undefined : Number(changes),
  };
}

/** `--name N` of a single-purpose bench script (`bench:export`, `bench:import-optouts`), or the fallback. */
export function numberArgument(argv: readonly string[], name: string, fallback: number): number {
  const index = argv.indexOf(name);
  return index >= 0 ? Number(argv[index + 1]) : fallback;
}
