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

/** The service's logger; tests pass a destination (and a level) to read what it writes. */
export function createLogger(destination?: pino.DestinationStream, levelName: string = logLevel()): Logger {
  const options: pino.LoggerOptions = {
    level: levelName,
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
