import pino, { type Logger } from 'pino';

/**
 * The service's structured logger (pino): one JSON object per line, or human-readable lines in
 * development on a terminal. Callers log hashes and ids, never an email address, a secret or a
 * token; the redaction below is a second line of defence for fields with those names.
 */
const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']);

/** LOG_LEVEL, or info. */
export function logLevel(env: NodeJS.ProcessEnv = process.env): string {
  const wanted = env.LOG_LEVEL?.trim().toLowerCase();
  return wanted && LEVELS.has(wanted) ? wanted : 'info';
}

/** LOG_PRETTY, or on in development when writing to a terminal. */
export function prettyLogs(env: NodeJS.ProcessEnv = process.env, terminal = process.stdout.isTTY === true): boolean {
  const wanted = env.LOG_PRETTY?.trim();
  if (wanted) return /^(true|1|yes)$/i.test(wanted);
  return (env.NODE_ENV ?? 'development') === 'development' && terminal;
}

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

export function createLogger(destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: logLevel(),
    base: { service: 'listrak-consent-sync', pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    redact: { paths: REDACTED_FIELDS, censor: '[redacted]' },
  };
  if (destination) return pino(options, destination);
  if (prettyLogs() && prettyAvailable()) return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l' } } });
  return pino(options);
}

export const logger = createLogger();

/** A path with its email segment replaced, for request logs (`/consents/{email}`). */
export function loggablePath(url: string): string {
  const path = url.split('?')[0] ?? '';
  return path.replace(/^\/consents\/[^/]+/, '/consents/[email]');
}
