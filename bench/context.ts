// What every stage shares: the run's options, and clusters of the service run as the options say.
import os from 'node:os';
import path from 'node:path';
import { buildWorkflowBundle } from '../scripts/build-workflows';
import { Cluster, compiledApp } from '../src/dev/cluster';
import type { BenchOptions } from './options';

export interface BenchContext {
  readonly options: BenchOptions;
  /** A cluster with the stage's settings (and BENCH_ENV's); not started. */
  newCluster: (stageEnv: Record<string, string>) => Promise<Cluster>;
  /** Workers in the benchmark load a prebuilt bundle, as in production (the clusters encrypt payloads). */
  encryptedBundle: () => Promise<string>;
  /** Removes the compiled app, if one was built. */
  dispose: () => Promise<void>;
}

export function benchContext(options: BenchOptions): BenchContext {
  let app: ReturnType<typeof compiledApp> | undefined;
  let bundle: Promise<string> | undefined;
  return {
    options,
    // The API and worker processes run as the Docker image runs them: compiled once per bench run.
    async newCluster(stageEnv) {
      const env = { ...stageEnv, ...benchEnv() };
      if (options.runtime === 'tsx') return new Cluster(env);
      app ??= compiledApp();
      return new Cluster(env, undefined, (await app).dist);
    },
    encryptedBundle() {
      if (options.runtime === 'compiled') {
        app ??= compiledApp();
        bundle ??= app.then(({ dist }) => path.join(dist, 'workflow-bundle-encrypted.js'));
      }
      bundle ??= buildWorkflowBundle(path.join(os.tmpdir(), `consent-bench-bundle-${process.pid}.js`), true);
      return bundle;
    },
    async dispose() {
      (await app?.catch(() => undefined))?.remove();
    },
  };
}

/** BENCH_ENV='NAME=value,…' passes settings to the service processes (for experiments). */
function benchEnv(): Record<string, string> {
  return Object.fromEntries(
    (process.env.BENCH_ENV ?? '')
      .split(',')
      .filter(Boolean)
      .map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)] as [string, string]),
  );
}
