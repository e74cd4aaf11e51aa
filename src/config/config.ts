import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './config-error';
import { environmentWith } from './environment';
import { DEFAULT_SANDBOX_PORT } from './sandbox';
import { parsePayloadKeys, type PayloadKey } from './payload-keys';
import { loadRoutingFile, routingFromEnvironment, type ListrakTarget, type Routing } from './routing';
import { PROFILE_FIELDS, type Environment, type ProfileField, DEFAULT_TASK_QUEUE, DEFAULT_LEDGER_IDLE_DAYS } from '../shared';

export type { ListrakTarget } from './routing';

export interface Config {
  nodeEnv: 'development' | 'production' | 'test';
  port: number;
  dataDir: string;
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
    uiPort: number;
    /** AES-GCM payload keys (TEMPORAL_PAYLOAD_KEY); the first encrypts. */
    payloadKeys?: PayloadKey[];
    /** A workflow bundle built by `npm run build:workflows`, loaded instead of bundling at start. */
    workflowBundle?: string;
    /** Workflows a worker keeps in memory between tasks (the rest are replayed when needed). */
    maxCachedWorkflows?: number;
    /** Whether workflows set the custom search attributes (they must exist in the namespace). */
    searchAttributes: boolean;
    /** Base URL of the Temporal Web UI for links (default http://localhost:<uiPort>). */
    uiUrl?: string;
    cliPath?: string;
    /** `npm start`: `start` its own dev server (default), or use the `external` one already running at `address`. */
    devServer: 'start' | 'external';
    /** How long the embedded dev server keeps closed workflows (TEMPORAL_RETENTION_DAYS). */
    retentionDays: number;
    /** Temporal Cloud API key (TEMPORAL_API_KEY); implies TLS. */
    apiKey?: string;
    /**
     * Worker versioning (TEMPORAL_WORKER_DEPLOYMENT, TEMPORAL_WORKER_BUILD_ID): the Worker Deployment
     * this worker belongs to and the build of the code it runs. Unset: an unversioned worker.
     */
    workerDeployment?: { name: string; buildId: string };
    /** TLS towards the frontend: server CA, client certificate pair for mTLS, server name. */
    tls?: { serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer }; serverNameOverride?: string };
  };
  /** How long a stopping process lets in-flight requests and activities finish (SIGTERM). */
  shutdownGraceMs: number;
  /** Days without a change after which a person's ledger closes (0: never); given to new ledgers. */
  ledgerIdleDays: number;
  metrics: {
    /** Bearer token that /metrics requires, if set. */
    token?: string;
    /** Port of a worker process's /metrics (service metrics and the Temporal SDK's). */
    workerPort: number;
  };
  /**
   * Port of the Temporal UI codec server (decodes encrypted payloads for the UI), if enabled, and
   * the bearer token it requires (CODEC_SERVER_TOKEN; required in production).
   */
  codecServer?: { port: number; host: string; token?: string };
  /** Log level and format (LOG_LEVEL, LOG_PRETTY). */
  log: { level: LogLevel; pretty: boolean };
  /**
   * OpenTelemetry tracing, when OTEL_EXPORTER_OTLP_ENDPOINT or …_TRACES_ENDPOINT is set: where
   * spans go and the service name they carry (OTEL_SERVICE_NAME).
   */
  tracing?: { tracesUrl: string; serviceName: string };
  extoleWebhookSecret?: string;
  adminToken?: string;
  emailHashKey: string;
  listrak: {
    authUrl: string;
    apiUrl: string;
    /** Per-request timeout towards Listrak. */
    timeoutMs: number;
    /** In-process retries of a transient failure before the activity's durable retry. */
    quickRetries: number;
    /** Listrak requests per second for the whole task queue (all workers together), if limited. */
    maxRequestsPerSecond?: number;
    targets: Partial<Record<Environment, ListrakTarget>>;
    segmentationFields: Record<string, number>;
    optInEventIds: number[];
    sendOptIns: boolean;
    sendOptOuts: boolean;
    /** Lists, routes and field map: ROUTING_FILE, or the variables above as one list per environment. */
    routing: Routing;
    /**
     * Listrak's Privacy API (`consent forget`): its own integration of type Privacy
     * (LISTRAK_PRIVACY_CLIENT_ID/SECRET), its base URL, and how often a forget request's status is
     * asked. Unset: a forget erases what this service keeps and records that Listrak was not asked.
     */
    privacy?: { clientId: string; clientSecret: string; apiUrl: string; pollIntervalMs: number };
  };
  /** Reconciliation with Listrak (#15): how often each sweep runs, and what a drift does. */
  reconcile: {
    /** Unsubscribes made in Listrak since the last sweep (RECONCILE_INTERVAL). */
    intervalMs: number;
    /** The full sweep of subscribed contacts that finds drift (RECONCILE_FULL_INTERVAL). */
    fullIntervalMs: number;
    /** `report` counts and lists drift; `repair` also writes the opt-out again (RECONCILE_MODE). */
    mode: 'report' | 'repair';
  };
  sandboxPort: number;
  /** Start-up warnings for people (never containing secrets). */
  warnings: string[];
}

const DEV_EMAIL_HASH_KEY = 'development-only-email-hash-key';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * Variables that hold secrets: never echoed in an error message (loadConfig also scrubs their
 * values from every ConfigError, as a last line). A variable named like a secret must be listed.
 */
export const SECRET_VARIABLES = [
  'TEMPORAL_PAYLOAD_KEY',
  'TEMPORAL_API_KEY',
  'EXTOLE_WEBHOOK_SECRET',
  'ADMIN_TOKEN',
  'METRICS_TOKEN',
  'EMAIL_HASH_KEY',
  'LISTRAK_CLIENT_SECRET',
  'LISTRAK_STAGING_CLIENT_SECRET',
  'LISTRAK_PRIVACY_CLIENT_SECRET',
  'CODEC_SERVER_TOKEN',
] as const;

/** Production's minimum for the secrets this service checks itself (webhook, admin, metrics). */
export const MIN_SECRET_LENGTH = 32;

const optional = z
  .string()
  .transform((value) => value.trim())
  .optional()
  .transform((value) => (value === '' ? undefined : value));

/** A secret sent in a header or form: whitespace or control characters inside mean a bad paste. Never echoed. */
const secret = optional.refine((value) => value === undefined || !/[\s\p{Cc}]/u.test(value), {
  message: 'must not contain spaces, line breaks or control characters (check how the value was pasted)',
});

/** true/false, or undefined when unset (the caller decides the default from other settings). */
const optionalBoolean = optional.transform((value, ctx) => {
  if (value === undefined) return undefined;
  if (/^(true|1|yes)$/i.test(value)) return true;
  if (/^(false|0|no)$/i.test(value)) return false;
  ctx.addIssue({ code: 'custom', message: `must be true or false, got '${value}'` });
  return z.NEVER;
});

const boolean = (fallback: boolean) => optionalBoolean.transform((value) => value ?? fallback);

/** An integer variable; with a fallback its parsed type is `number`, without one `number | undefined`. */
function integer(fallback: number, bounds?: { min?: number; max?: number }): z.ZodType<number, string | undefined>;
function integer(fallback: undefined, bounds?: { min?: number; max?: number }): z.ZodType<number | undefined, string | undefined>;
function integer(fallback: number | undefined, { min = 0, max = Number.MAX_SAFE_INTEGER }: { min?: number; max?: number } = {}): z.ZodType<number | undefined, string | undefined> {
  return optional.transform((value, ctx) => {
    if (value === undefined) return fallback;
    if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
      ctx.addIssue({ code: 'custom', message: `must be an integer between ${min} and ${max}, got '${value}'` });
      return z.NEVER;
    }
    return Number(value);
  });
}

const url = (fallback: string) =>
  optional.transform((value, ctx) => {
    const candidate = value ?? fallback;
    if (!URL.canParse(candidate)) {
      ctx.addIssue({ code: 'custom', message: `must be an absolute URL, got '${candidate}'` });
      return z.NEVER;
    }
    return candidate.replace(/\/+$/, '');
  });

const decimal = (fallback: number, { min = 0, max = Number.MAX_SAFE_INTEGER } = {}) =>
  optional.transform((value, ctx) => {
    if (value === undefined) return fallback;
    if (!/^\d+(\.\d+)?$/.test(value) || Number(value) < min || Number(value) > max) {
      ctx.addIssue({ code: 'custom', message: `must be a number between ${min} and ${max}, got '${value}'` });
      return z.NEVER;
    }
    return Number(value);
  });

/** A deployment name or build id: Temporal joins them as `<name>.<buildId>`, so a name has no dot. */
const deploymentPart = (expected: string, pattern: RegExp) =>
  z.string().max(255, 'must be at most 255 characters').regex(pattern, `must be ${expected}: letters, digits, - and _${pattern.source.includes('.') ? ', . and +' : ''}`);

const DURATION_UNITS_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A duration such as 90s, 30m, 1h or 1d, in milliseconds; at least a minute. */
const duration = (fallback: string) =>
  optional.transform((value, ctx) => {
    const match = /^(\d+)([smhd])$/.exec(value ?? fallback);
    const ms = match ? Number(match[1]) * DURATION_UNITS_MS[match[2] as keyof typeof DURATION_UNITS_MS] : Number.NaN;
    if (!(ms >= 60_000)) {
      ctx.addIssue({ code: 'custom', message: `must be a duration of at least a minute such as 15m, 1h or 1d, got '${value}'` });
      return z.NEVER;
    }
    return ms;
  });

const segmentationFields = optional.transform((value, ctx) => {
  const fields: Record<string, number> = {};
  if (value === undefined) return fields;
  for (const pair of value.split(',').map((part) => part.trim()).filter(Boolean)) {
    const match = /^([a-z_]+):(\d+)$/.exec(pair);
    const name = match?.[1] as ProfileField | undefined;
    if (!match || !name || !PROFILE_FIELDS.includes(name)) {
      ctx.addIssue({
        code: 'custom',
        // Without a routing file no field map says where another attribute is in the event.
        message: `expects 'attribute:fieldId' pairs with attribute one of ${PROFILE_FIELDS.join(', ')}, got '${pair}' (any other attribute needs a ROUTING_FILE with fields.attributes)`,
      });
      return z.NEVER;
    }
    if (fields[name] !== undefined) {
      ctx.addIssue({ code: 'custom', message: `maps '${name}' twice` });
      return z.NEVER;
    }
    fields[name] = Number(match[2]);
  }
  return fields;
});

const idList = optional.transform((value, ctx) => {
  if (value === undefined) return [];
  const ids = value.split(',').map((part) => part.trim()).filter(Boolean);
  const bad = ids.find((id) => !/^\d+$/.test(id));
  if (bad !== undefined) {
    ctx.addIssue({ code: 'custom', message: `expects comma-separated integer event ids, got '${bad}'` });
    return z.NEVER;
  }
  return ids.map(Number);
});

const schema = z.object({
  NODE_ENV: optional.pipe(z.enum(['development', 'production', 'test']).default('development')),
  PORT: integer(3000, { max: 65535 }),
  DATA_DIR: optional,
  TEMPORAL_ADDRESS: optional.pipe(z.string().regex(/^[^:\s]+:\d+$/, 'must be host:port').default('127.0.0.1:7233')),
  TEMPORAL_NAMESPACE: optional.pipe(z.string().default('default')),
  TEMPORAL_TASK_QUEUE: optional.pipe(z.string().default(DEFAULT_TASK_QUEUE)),
  TEMPORAL_UI_PORT: integer(8233, { max: 65535 }),
  TEMPORAL_UI_URL: optional,
  TEMPORAL_SEARCH_ATTRIBUTES: boolean(true),
  TEMPORAL_MAX_CACHED_WORKFLOWS: integer(undefined, { min: 0, max: 100_000 }),
  TEMPORAL_WORKFLOW_BUNDLE: optional,
  TEMPORAL_PAYLOAD_ENCRYPTION: optional.transform((value, ctx) => {
    if (value === undefined || value === 'off') return value;
    ctx.addIssue({ code: 'custom', message: `the only value is 'off' (leave it unset to encrypt with TEMPORAL_PAYLOAD_KEY), got '${value}'` });
    return z.NEVER;
  }),
  TEMPORAL_PAYLOAD_KEY: optional.transform((value, ctx) => {
    if (value === undefined) return undefined;
    try {
      return parsePayloadKeys(value);
    } catch (error) {
      ctx.addIssue({ code: 'custom', message: (error as Error).message });
      return z.NEVER;
    }
  }),
  TEMPORAL_CLI_PATH: optional,
  TEMPORAL_DEV_SERVER: optional.pipe(z.enum(['start', 'external']).default('start')),
  // The dev server's own default is one day: too short for support to look at a change.
  TEMPORAL_RETENTION_DAYS: integer(30, { min: 1, max: 3650 }),
  TEMPORAL_API_KEY: secret,
  TEMPORAL_TLS: optional,
  TEMPORAL_WORKER_DEPLOYMENT: optional.pipe(deploymentPart('a deployment name such as listrak-consent-sync', /^[A-Za-z0-9_-]+$/).optional()),
  TEMPORAL_WORKER_BUILD_ID: optional.pipe(deploymentPart('a build id such as 0.1.0-3f9c2ab (the git sha of the build)', /^[A-Za-z0-9_.+-]+$/).optional()),
  TEMPORAL_TLS_CA_PATH: optional,
  TEMPORAL_TLS_CERT_PATH: optional,
  TEMPORAL_TLS_KEY_PATH: optional,
  TEMPORAL_TLS_SERVER_NAME: optional,
  SHUTDOWN_GRACE_SECONDS: integer(30, { max: 3600 }),
  // Longer than Extole's redelivery horizon (retries over ~28 h, then a 7-day dead-letter queue).
  LEDGER_IDLE_DAYS: decimal(DEFAULT_LEDGER_IDLE_DAYS, { max: 3650 }),
  METRICS_TOKEN: secret,
  WORKER_METRICS_PORT: integer(9464, { max: 65535 }),
  CODEC_SERVER_PORT: integer(undefined, { max: 65535 }),
  CODEC_SERVER_HOST: optional.pipe(z.string().default('127.0.0.1')),
  CODEC_SERVER_TOKEN: secret.pipe(z.string().min(MIN_SECRET_LENGTH, `must be at least ${MIN_SECRET_LENGTH} characters (openssl rand -hex 32)`).optional()),
  OTEL_EXPORTER_OTLP_ENDPOINT: optional,
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optional,
  OTEL_SERVICE_NAME: optional.pipe(z.string().default('listrak-consent-sync')),
  LOG_LEVEL: optional.pipe(z.enum(LOG_LEVELS).default('info')),
  LOG_PRETTY: optionalBoolean,
  EXTOLE_WEBHOOK_SECRET: secret,
  ADMIN_TOKEN: secret,
  EMAIL_HASH_KEY: optional.pipe(z.string().min(16, 'must be at least 16 characters').optional()),
  LISTRAK_AUTH_URL: url('https://auth.listrak.com/OAuth2/Token'),
  LISTRAK_API_URL: url('https://api.listrak.com/email/v1'),
  // At most 25 s: the activity heartbeats between requests and its heartbeat timeout is 30 s.
  LISTRAK_TIMEOUT_MS: integer(15_000, { min: 100, max: 25_000 }),
  LISTRAK_QUICK_RETRIES: integer(2, { max: 5 }),
  LISTRAK_MAX_REQUESTS_PER_SECOND: integer(undefined, { min: 2, max: 100_000 }),
  LISTRAK_CLIENT_ID: optional,
  LISTRAK_CLIENT_SECRET: secret,
  LISTRAK_LIST_ID: integer(undefined, { min: 1, max: 2147483647 }),
  LISTRAK_STAGING_CLIENT_ID: optional,
  LISTRAK_STAGING_CLIENT_SECRET: secret,
  LISTRAK_STAGING_LIST_ID: integer(undefined, { min: 1, max: 2147483647 }),
  LISTRAK_SEGMENTATION_FIELDS: segmentationFields,
  LISTRAK_OPT_IN_EVENT_IDS: idList,
  LISTRAK_DOUBLE_OPT_IN: boolean(false),
  LISTRAK_PRIVACY_CLIENT_ID: optional,
  LISTRAK_PRIVACY_CLIENT_SECRET: secret,
  LISTRAK_PRIVACY_API_URL: url('https://api.listrak.com/privacy'),
  LISTRAK_PRIVACY_POLL_SECONDS: integer(300, { min: 1, max: 86_400 }),
  ROUTING_FILE: optional,
  SEND_OPT_INS: boolean(true),
  SEND_OPT_OUTS: boolean(true),
  LISTRAK_SANDBOX_PORT: integer(DEFAULT_SANDBOX_PORT, { max: 65535 }),
  RECONCILE_INTERVAL: duration('1h'),
  RECONCILE_FULL_INTERVAL: duration('1d'),
  RECONCILE_MODE: optional.pipe(z.enum(['report', 'repair']).default('report')),
});

/** Every variable loadConfig reads (the docs test keeps .env.example and the README in step). */
export const CONFIG_VARIABLES = Object.keys(schema.shape);

export { ConfigError };

function target(
  prefix: string,
  clientId: string | undefined,
  clientSecret: string | undefined,
  listId: number | undefined,
): ListrakTarget | undefined {
  const given = [clientId, clientSecret, listId].filter((value) => value !== undefined).length;
  if (given === 0) return undefined;
  if (clientId === undefined || clientSecret === undefined || listId === undefined) {
    throw new ConfigError(
      `${prefix}CLIENT_ID, ${prefix}CLIENT_SECRET and ${prefix}LIST_ID must be set together (only some are set)`,
    );
  }
  return { clientId, clientSecret, listId };
}

/**
 * Parses the environment once into a frozen config; throws ConfigError naming every bad variable
 * (and never a secret's value).
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Readonly<Config> {
  try {
    return parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(redactSecrets(error.message, env));
    throw error;
  }
}

/**
 * LOG_LEVEL and LOG_PRETTY alone, for a program that logs before (or without) a whole
 * configuration: the test launchers, the CLI before its command is known.
 */
export function logSettingsFrom(env: NodeJS.ProcessEnv = process.env): Config['log'] {
  const parsed = schema.pick({ NODE_ENV: true, LOG_LEVEL: true, LOG_PRETTY: true }).safeParse(env);
  if (!parsed.success) throw new ConfigError(`Invalid configuration:\n${parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`).join('\n')}`);
  return logSettingsOf(parsed.data);
}

function logSettingsOf(e: { NODE_ENV: Config['nodeEnv']; LOG_LEVEL: LogLevel; LOG_PRETTY: boolean | undefined }): Config['log'] {
  return { level: e.LOG_LEVEL, pretty: e.LOG_PRETTY ?? (e.NODE_ENV === 'development' && process.stdout.isTTY === true) };
}

/** The configuration with some variables given by the program itself (`npm start`'s sandbox). */
export function loadConfigWith(overlay: Record<string, string>): Readonly<Config> {
  return loadConfig(environmentWith(overlay));
}

/** The last line of defence: a secret's value, or a part of it between separators, becomes [redacted]. */
function redactSecrets(message: string, env: NodeJS.ProcessEnv): string {
  const fragments = SECRET_VARIABLES.flatMap((name) => {
    const value = env[name]?.trim() ?? '';
    return [value, ...value.split(/[\s,:]+/)];
  })
    .filter((fragment) => fragment.length >= 6)
    .sort((a, b) => b.length - a.length);
  return fragments.reduce((text, fragment) => text.split(fragment).join('[redacted]'), message);
}

/** localhost, 127.0.0.0/8 or ::1: a sandbox or dev server on this machine. */
export function isLoopbackHost(host: string): boolean {
  const name = host.replace(/^\[|\]$/g, '').toLowerCase();
  return name === 'localhost' || name.endsWith('.localhost') || name === '::1' || /^127(\.\d{1,3}){3}$/.test(name);
}

/** Production's rules for the secrets the service checks itself; problems, never values. */
function secretsPolicy(e: z.infer<typeof schema>): string[] {
  const problems: string[] = [];
  for (const [name, value] of [
    ['EXTOLE_WEBHOOK_SECRET', e.EXTOLE_WEBHOOK_SECRET],
    ['ADMIN_TOKEN', e.ADMIN_TOKEN],
    ['METRICS_TOKEN', e.METRICS_TOKEN],
  ] as const) {
    if (value !== undefined && value.length < MIN_SECRET_LENGTH) {
      problems.push(`${name} must be at least ${MIN_SECRET_LENGTH} characters (generate one: openssl rand -base64 32)`);
    }
  }
  if (e.ADMIN_TOKEN !== undefined && e.ADMIN_TOKEN === e.EXTOLE_WEBHOOK_SECRET) {
    problems.push('ADMIN_TOKEN must differ from EXTOLE_WEBHOOK_SECRET (whoever holds the webhook key would read and retry consents)');
  }
  return problems;
}

function parseConfig(env: NodeJS.ProcessEnv): Readonly<Config> {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  const warnings: string[] = [];
  const targets: Partial<Record<Environment, ListrakTarget>> = {};
  // With a routing file the variables are only what its references read (env:LISTRAK_CLIENT_ID …).
  const shorthand = e.ROUTING_FILE === undefined;
  const productionTarget = shorthand ? target('LISTRAK_', e.LISTRAK_CLIENT_ID, e.LISTRAK_CLIENT_SECRET, e.LISTRAK_LIST_ID) : undefined;
  const stagingTarget = shorthand
    ? target('LISTRAK_STAGING_', e.LISTRAK_STAGING_CLIENT_ID, e.LISTRAK_STAGING_CLIENT_SECRET, e.LISTRAK_STAGING_LIST_ID)
    : undefined;
  if (productionTarget) targets.production = productionTarget;
  if (stagingTarget) targets.staging = stagingTarget;
  const routing = routingOf(e, env, targets);

  if (production) {
    const missing = [
      !e.EXTOLE_WEBHOOK_SECRET && 'EXTOLE_WEBHOOK_SECRET',
      !routing.lists.some((list) => list.environment === 'production') &&
        (e.ROUTING_FILE ? 'a production list in ROUTING_FILE' : 'LISTRAK_CLIENT_ID/LISTRAK_CLIENT_SECRET/LISTRAK_LIST_ID'),
      !e.ADMIN_TOKEN && 'ADMIN_TOKEN',
      !e.EMAIL_HASH_KEY && 'EMAIL_HASH_KEY',
      !e.TEMPORAL_PAYLOAD_KEY &&
        e.TEMPORAL_PAYLOAD_ENCRYPTION !== 'off' &&
        'TEMPORAL_PAYLOAD_KEY (or TEMPORAL_PAYLOAD_ENCRYPTION=off to store emails and profiles in clear in Temporal, on purpose)',
    ].filter((name): name is string => typeof name === 'string');
    if (missing.length > 0) {
      throw new ConfigError(`NODE_ENV=production requires ${missing.join(', ')}`);
    }
    const problems = secretsPolicy(e);
    if (problems.length > 0) throw new ConfigError(`NODE_ENV=production: ${problems.join('; ')}`);
  } else {
    for (const problem of secretsPolicy(e)) warnings.push(`${problem}: refused in production`);
    if (!e.EXTOLE_WEBHOOK_SECRET) {
      warnings.push('EXTOLE_WEBHOOK_SECRET is not set: webhooks are accepted WITHOUT authentication (development only)');
    }
    if (!e.ADMIN_TOKEN) {
      warnings.push('ADMIN_TOKEN is not set: admin routes are open to anyone who can reach the port (development only)');
    }
    if (!e.EMAIL_HASH_KEY) {
      warnings.push('EMAIL_HASH_KEY is not set: using a development key for email hashes (development only)');
    }
  }

  if (e.TEMPORAL_PAYLOAD_ENCRYPTION === 'off' && e.TEMPORAL_PAYLOAD_KEY) {
    throw new ConfigError('TEMPORAL_PAYLOAD_ENCRYPTION=off contradicts TEMPORAL_PAYLOAD_KEY: unset one of them');
  }
  if (!e.EMAIL_HASH_KEY) {
    // The development key would key a second ledger for every person a real deployment knows.
    const realListrak = routing.lists.length > 0 && ![e.LISTRAK_API_URL, e.LISTRAK_AUTH_URL].every((value) => isLoopbackHost(new URL(value).hostname));
    const temporalHost = e.TEMPORAL_ADDRESS.split(':')[0] ?? '';
    const against = [
      realListrak && `Listrak at ${e.LISTRAK_API_URL} (not this machine)`,
      !isLoopbackHost(temporalHost) && `Temporal at ${e.TEMPORAL_ADDRESS} (not this machine)`,
    ].filter((text): text is string => typeof text === 'string');
    if (against.length > 0) {
      throw new ConfigError(
        `EMAIL_HASH_KEY is not set, and the development key is refused against ${against.join(' and ')}: set EMAIL_HASH_KEY to the key the service uses there (another key splits each person into a second ledger)`,
      );
    }
  }

  const tls = temporalTls(e);
  const workerDeployment = workerDeploymentOf(e);
  if (e.CODEC_SERVER_PORT !== undefined && !e.TEMPORAL_PAYLOAD_KEY) {
    throw new ConfigError('CODEC_SERVER_PORT needs TEMPORAL_PAYLOAD_KEY (there is nothing to decode without it)');
  }
  if (e.CODEC_SERVER_TOKEN !== undefined && e.CODEC_SERVER_PORT === undefined) {
    throw new ConfigError('CODEC_SERVER_TOKEN is the codec server\'s credential: set CODEC_SERVER_PORT too, or remove it');
  }
  if (production && e.CODEC_SERVER_PORT !== undefined && e.CODEC_SERVER_TOKEN === undefined) {
    throw new ConfigError('NODE_ENV=production requires CODEC_SERVER_TOKEN with CODEC_SERVER_PORT: the codec server decrypts personal data for whoever calls it');
  }

  const config: Config = {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    dataDir: path.resolve(e.DATA_DIR ?? 'data'),
    temporal: {
      address: e.TEMPORAL_ADDRESS,
      namespace: e.TEMPORAL_NAMESPACE,
      taskQueue: e.TEMPORAL_TASK_QUEUE,
      uiPort: e.TEMPORAL_UI_PORT,
      searchAttributes: e.TEMPORAL_SEARCH_ATTRIBUTES,
      devServer: e.TEMPORAL_DEV_SERVER,
      retentionDays: e.TEMPORAL_RETENTION_DAYS,
      workflowBundle: e.TEMPORAL_WORKFLOW_BUNDLE ? path.resolve(e.TEMPORAL_WORKFLOW_BUNDLE) : undefined,
      maxCachedWorkflows: e.TEMPORAL_MAX_CACHED_WORKFLOWS,
      payloadKeys: e.TEMPORAL_PAYLOAD_KEY,
      uiUrl: e.TEMPORAL_UI_URL,
      cliPath: e.TEMPORAL_CLI_PATH,
      apiKey: e.TEMPORAL_API_KEY,
      tls,
      workerDeployment,
    },
    shutdownGraceMs: e.SHUTDOWN_GRACE_SECONDS * 1000,
    ledgerIdleDays: e.LEDGER_IDLE_DAYS,
    metrics: {
      token: e.METRICS_TOKEN,
      workerPort: e.WORKER_METRICS_PORT,
    },
    codecServer: e.CODEC_SERVER_PORT === undefined ? undefined : { port: e.CODEC_SERVER_PORT, host: e.CODEC_SERVER_HOST, token: e.CODEC_SERVER_TOKEN },
    log: logSettingsOf(e),
    tracing: tracingOf(e),
    extoleWebhookSecret: e.EXTOLE_WEBHOOK_SECRET,
    adminToken: e.ADMIN_TOKEN,
    emailHashKey: e.EMAIL_HASH_KEY ?? DEV_EMAIL_HASH_KEY,
    listrak: {
      authUrl: e.LISTRAK_AUTH_URL,
      apiUrl: e.LISTRAK_API_URL,
      timeoutMs: e.LISTRAK_TIMEOUT_MS,
      quickRetries: e.LISTRAK_QUICK_RETRIES,
      maxRequestsPerSecond: e.LISTRAK_MAX_REQUESTS_PER_SECOND,
      targets,
      segmentationFields: e.LISTRAK_SEGMENTATION_FIELDS,
      optInEventIds: e.LISTRAK_OPT_IN_EVENT_IDS,
      sendOptIns: e.SEND_OPT_INS,
      sendOptOuts: e.SEND_OPT_OUTS,
      routing,
      privacy: privacyOf(e),
    },
    reconcile: { intervalMs: e.RECONCILE_INTERVAL, fullIntervalMs: e.RECONCILE_FULL_INTERVAL, mode: e.RECONCILE_MODE },
    sandboxPort: e.LISTRAK_SANDBOX_PORT,
    warnings,
  };
  return deepFreeze(config);
}

/**
 * The routing file, or the one-list shorthand of the variables. With a file, the shorthand's
 * list variables are refused (two sources would disagree); the file may reference credentials.
 */
function routingOf(e: z.infer<typeof schema>, env: NodeJS.ProcessEnv, targets: Partial<Record<Environment, ListrakTarget>>): Routing {
  if (e.ROUTING_FILE === undefined) return routingFromEnvironment(targets, e.LISTRAK_SEGMENTATION_FIELDS, e.LISTRAK_OPT_IN_EVENT_IDS, e.LISTRAK_DOUBLE_OPT_IN);
  const shorthand = (['LISTRAK_LIST_ID', 'LISTRAK_STAGING_LIST_ID', 'LISTRAK_SEGMENTATION_FIELDS', 'LISTRAK_OPT_IN_EVENT_IDS', 'LISTRAK_DOUBLE_OPT_IN'] as const).filter(
    (name) => env[name] !== undefined && env[name]?.trim() !== '',
  );
  if (shorthand.length > 0) {
    throw new ConfigError(
      `ROUTING_FILE replaces ${shorthand.join(', ')}: remove them and define the lists in the file (credentials can stay in variables, referenced as clientIdFrom: env:LISTRAK_CLIENT_ID)`,
    );
  }
  return loadRoutingFile(e.ROUTING_FILE, env);
}

/** The Privacy integration, when both of its credentials are set (one alone is refused). */
function privacyOf(e: z.infer<typeof schema>): Config['listrak']['privacy'] {
  const { LISTRAK_PRIVACY_CLIENT_ID: clientId, LISTRAK_PRIVACY_CLIENT_SECRET: clientSecret } = e;
  if (clientId === undefined && clientSecret === undefined) return undefined;
  if (clientId === undefined || clientSecret === undefined) {
    throw new ConfigError('LISTRAK_PRIVACY_CLIENT_ID and LISTRAK_PRIVACY_CLIENT_SECRET must be set together (an integration of type Privacy in Listrak)');
  }
  return { clientId, clientSecret, apiUrl: e.LISTRAK_PRIVACY_API_URL, pollIntervalMs: e.LISTRAK_PRIVACY_POLL_SECONDS * 1000 };
}

/** OTLP over HTTP: the traces endpoint as given, or the base endpoint's /v1/traces (as the OTel spec says). */
function tracingOf(e: z.infer<typeof schema>): Config['tracing'] {
  const base = e.OTEL_EXPORTER_OTLP_ENDPOINT?.replace(/\/+$/, '');
  const tracesUrl = e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base === undefined ? undefined : `${base}/v1/traces`);
  return tracesUrl === undefined ? undefined : { tracesUrl, serviceName: e.OTEL_SERVICE_NAME };
}

/**
 * The worker's Worker Deployment version. The build id is required with the deployment and has no
 * default: it must change whenever the workflow code does and be the same on every replica of one
 * build, which only the deploy pipeline knows (an image tag, the git sha).
 */
function workerDeploymentOf(e: z.infer<typeof schema>): Config['temporal']['workerDeployment'] | undefined {
  if (e.TEMPORAL_WORKER_DEPLOYMENT === undefined) {
    if (e.TEMPORAL_WORKER_BUILD_ID !== undefined) {
      throw new ConfigError('TEMPORAL_WORKER_BUILD_ID needs TEMPORAL_WORKER_DEPLOYMENT (without it the worker is unversioned and the build id would be ignored)');
    }
    return undefined;
  }
  if (e.TEMPORAL_WORKER_BUILD_ID === undefined) {
    throw new ConfigError(
      `TEMPORAL_WORKER_DEPLOYMENT=${e.TEMPORAL_WORKER_DEPLOYMENT} needs TEMPORAL_WORKER_BUILD_ID, unique to the code this worker runs (e.g. the git sha of the build; see docs/upgrades.md)`,
    );
  }
  return { name: e.TEMPORAL_WORKER_DEPLOYMENT, buildId: e.TEMPORAL_WORKER_BUILD_ID };
}

/**
 * TLS towards Temporal: on with an API key (Temporal Cloud), with client certificates (mTLS) or
 * with TEMPORAL_TLS=true; off with TEMPORAL_TLS=false. Certificate files are read once, here.
 */
function temporalTls(e: z.infer<typeof schema>): Config['temporal']['tls'] | undefined {
  const read = (name: string, file: string) => {
    try {
      return readFileSync(file);
    } catch (error) {
      throw new ConfigError(`${name}: cannot read '${file}': ${(error as Error).message}`);
    }
  };
  if (Boolean(e.TEMPORAL_TLS_CERT_PATH) !== Boolean(e.TEMPORAL_TLS_KEY_PATH)) {
    throw new ConfigError('TEMPORAL_TLS_CERT_PATH and TEMPORAL_TLS_KEY_PATH must be set together (mTLS client certificate and its key)');
  }
  const wanted = e.TEMPORAL_TLS === undefined ? undefined : /^(true|1|yes)$/i.test(e.TEMPORAL_TLS);
  if (e.TEMPORAL_TLS !== undefined && !/^(true|false|1|0|yes|no)$/i.test(e.TEMPORAL_TLS)) {
    throw new ConfigError(`TEMPORAL_TLS must be true or false, got '${e.TEMPORAL_TLS}'`);
  }
  const implied = Boolean(e.TEMPORAL_API_KEY || e.TEMPORAL_TLS_CERT_PATH || e.TEMPORAL_TLS_CA_PATH || e.TEMPORAL_TLS_SERVER_NAME);
  if (wanted === false) {
    if (e.TEMPORAL_TLS_CERT_PATH || e.TEMPORAL_TLS_CA_PATH) throw new ConfigError('TEMPORAL_TLS=false contradicts the TEMPORAL_TLS_* certificate settings');
    return undefined;
  }
  if (!wanted && !implied) return undefined;
  // Only the settings given: the connection options carry no undefined keys.
  const tls: NonNullable<Config['temporal']['tls']> = {};
  if (e.TEMPORAL_TLS_CA_PATH) tls.serverRootCACertificate = read('TEMPORAL_TLS_CA_PATH', e.TEMPORAL_TLS_CA_PATH);
  if (e.TEMPORAL_TLS_CERT_PATH && e.TEMPORAL_TLS_KEY_PATH) {
    tls.clientCertPair = { crt: read('TEMPORAL_TLS_CERT_PATH', e.TEMPORAL_TLS_CERT_PATH), key: read('TEMPORAL_TLS_KEY_PATH', e.TEMPORAL_TLS_KEY_PATH) };
  }
  if (e.TEMPORAL_TLS_SERVER_NAME) tls.serverNameOverride = e.TEMPORAL_TLS_SERVER_NAME;
  return tls;
}

function deepFreeze<T>(value: T): Readonly<T> {
  if (value && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
