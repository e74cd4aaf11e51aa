// .env first: real environment variables win over the file.
import '../config/dotenv';
import { ConfigError, loadConfig, type Config } from '../config/config';
import { configureLogging, logger } from '../observability/log';
import { startTracing } from '../observability/tracing';

/** What a starting process gets from runService. */
export interface ServiceContext {
  config: Readonly<Config>;
  /** Adds a step to the stop: steps run one after another, the last added first. */
  onStop: (step: () => Promise<unknown>) => void;
  /** Stops the process as a signal would (a part of it died, say), exiting with `exitCode`. */
  stop: (reason: string, exitCode?: number) => void;
}

/**
 * The one way this service's processes (`npm start`, the API, the worker) start and stop:
 * 1. configuration is loaded, .env included; a ConfigError prints its message and exits 2;
 * 2. logging is configured and tracing started from it, before `start` loads express and http
 *    (entry points import those inside `start`, so the HTTP instrumentation patches them);
 * 3. `start` runs and registers its stop steps; if it throws, the steps registered so far run
 *    and the process exits 1;
 * 4. SIGINT or SIGTERM (once; a second one is ignored while stopping) or `stop()` run the steps,
 *    flush traces, and exit.
 */
export function runService(name: string, start: (context: ServiceContext) => Promise<void>): void {
  const config = configOrExit();
  const tracing = startTracing(config.tracing);
  const steps: (() => Promise<unknown>)[] = [];
  /** The one stop: a second signal, or a start-up that fails while stopping, joins it. */
  let stopped: Promise<void> | undefined;

  const stopAll = async (exitCode: number) => {
    for (const step of [...steps].reverse()) {
      await step().catch((error: unknown) => logger.warn({ error: (error as Error).message }, `${name}: a stop step failed`));
    }
    await tracing?.shutdown().catch(() => undefined);
    logger.info(`${name} stopped`);
    process.exit(exitCode);
  };
  const stop = (reason: string, exitCode = 0) => {
    if (stopped) return;
    logger.info({ reason, graceMs: config.shutdownGraceMs }, `${name} stopping: requests in flight and running activities finish first`);
    stopped = stopAll(exitCode);
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));

  start({ config, onStop: (step) => void steps.push(step), stop }).catch((error: unknown) => {
    // Stopping already (a signal during start-up): that stop runs the steps, once.
    if (stopped) return;
    logger.error({ error: (error as Error).message }, `${name} failed to start`);
    stopped = stopAll(1);
  });
}

/**
 * Configuration, or the process ends with a message that names what is wrong; logging is
 * configured from it before its warnings are logged.
 */
export function configOrExit(load: () => Readonly<Config> = () => loadConfig()): Readonly<Config> {
  try {
    const config = load();
    configureLogging(config.log);
    for (const warning of config.warnings) logger.warn(warning);
    return config;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\nSee .env.example for every setting.\n`);
      process.exit(2);
    }
    throw error;
  }
}
