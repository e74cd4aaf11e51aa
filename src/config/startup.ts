import { ConfigError, type Config } from './config';
import { logger } from '../observability/log';

/** Loads configuration or stops the process with a message naming what is wrong. */
export function exitOnConfigError(load: () => Readonly<Config>): Readonly<Config> {
  try {
    const config = load();
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
