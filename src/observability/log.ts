import pino, { type Logger } from 'pino';
import type { LogLevel } from '../config/config';

/**
 * The service's structured logger (pino): one JSON object per line, or human-readable lines in
 * development on a terminal. Callers log hashes and ids, never an email address, a secret or a
 * token; the redaction below is a second line of defence for fields with those names.
 */
/** pino-pretty is a development dependency: production images (npm ci --omit=dev) have none. */
function prettyAvailable(): boolean {
  try {
    require.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

export const REDACTED_FIELDS = [
  'email',
  '*.email',
  'emailAddress',
  '*.emailAddress',
  'authorization',
  '*.authorization',
  'req.headers.authorization',
  'req.headers["x-extole-signature"]',
  'clientSecret',
  'client_secret',
  'accessToken',
  'access_token',
  'token',
  // Activity log metadata from the Temporal SDK: a task token can complete the activity.
  'taskToken',
];

/** How the logger writes (config.log): the entry points pass what LOG_LEVEL and LOG_PRETTY say. */
export interface LogSettings {
  level: LogLevel;
  pretty: boolean;
}

/** Until an entry point configures logging (and in tests that never do): info, as JSON. */
const DEFAULT_LOG_SETTINGS: LogSettings = { level: 'info', pretty: false };

/** pino's options for these settings (pretty printing only where pino-pretty is installed). */
export function loggerOptionsFor(settings: LogSettings): pino.LoggerOptions {
  return {
    level: settings.level,
    base: { service: 'listrak-consent-sync', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACTED_FIELDS, censor: '[redacted]' },
    transport: settings.pretty && prettyAvailable() ? { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } : undefined,
  };
}

/** A logger; tests pass a destination (and settings) to read what it writes. */
export function createLogger(destination?: pino.DestinationStream, settings: LogSettings = DEFAULT_LOG_SETTINGS): Logger {
  const options = loggerOptionsFor(settings);
  return destination ? pino({ ...options, transport: undefined }, destination) : pino(options);
}

/**
 * The service's logger. Modules log through this binding (read at each call), so the entry
 * point's `configureLogging(config.log)` reaches every one of them.
 */
export let logger: Logger = createLogger();

export function configureLogging(settings: LogSettings): void {
  logger = createLogger(undefined, settings);
}

const MASK = '[masked]';

/**
 * A request path fit for logs and trace spans. Given the matched route (`req.route.path`), the
 * route with its parameters named (`/consents/[email]`); otherwise the path with every segment
 * that could spell an address masked: one holding `@` or a percent escape (`%40`, `%63onsents`),
 * and everything after a `consents` segment in any case (Express matches routes
 * case-insensitively and decodes them, so `/CONSENTS/…` and `//consents/…` reach the handler).
 * The query string is dropped.
 */
export function loggablePath(url: string, route?: unknown): string {
  if (typeof route === 'string') return route.replace(/:(\w+)/g, '[$1]');
  const path = url.split(/[?#]/, 1)[0] ?? '';
  let afterConsents = false;
  return path
    .split('/')
    .map((segment) => {
      if (segment === '') return segment;
      if (afterConsents || /[@%]/.test(segment) || segment.length > 100) return MASK;
      if (/^consents$/i.test(segment.split(';', 1)[0] ?? '')) afterConsents = true;
      return segment;
    })
    .join('/')
    .slice(0, 300);
}
