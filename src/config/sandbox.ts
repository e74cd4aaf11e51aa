import { z } from 'zod';
import { ConfigError } from './config-error';

/**
 * Settings of `npm run sandbox` (src/dev/listrak-sandbox/main.ts): its variables, with its
 * command-line flags laid over them (a flag wins over its variable), parsed once with zod. A
 * malformed value stops it with a message naming the flag or variable and what it expects.
 */

/** The sandbox's random fault profile, as flags give it (ChaosProfile in src/dev/listrak-sandbox/chaos.ts adds the routes). */
export interface SandboxChaosSettings {
  /** Seed of the random choices, so a run can be replayed. */
  seed?: number;
  /** Independent error rates, e.g. [{ status: 503, rate: 0.3 }, { status: 429, rate: 0.1 }]. */
  errors?: { status: number; error?: string; rate: number }[];
  /** Uniform extra latency per answer. */
  latencyMs?: { min: number; max: number };
  /** Share of requests that hang for timeoutMs (default 30 s), then lose their connection. */
  timeoutRate?: number;
  timeoutMs?: number;
  /** Share of requests whose connection is reset at once. */
  resetRate?: number;
  /** After every `every` requests, the next `length` requests answer 429. */
  burst429?: { every: number; length: number };
}

export interface SandboxSettings {
  port: number;
  /** JSON seed file (clients, lists, banned/suppressed/pending addresses); the built-in seed without one. */
  seedFile?: string;
  /** Unset: the sandbox's own defaults (3600 s, 1 MiB). */
  tokenLifetimeSeconds?: number;
  payloadLimitBytes?: number;
  chaos: SandboxChaosSettings;
}

/** Every flag of `npm run sandbox` (besides --help). */
export const SANDBOX_FLAGS = ['port', 'seed', 'token-lifetime', 'errors', 'latency', 'timeout-rate', 'timeout-ms', 'reset-rate', 'burst-429', 'payload-limit', 'random-seed'] as const;
export type SandboxFlag = (typeof SANDBOX_FLAGS)[number];

/** The variable each flag falls back to, where it has one. */
export const SANDBOX_VARIABLES = { port: 'LISTRAK_SANDBOX_PORT', seed: 'LISTRAK_SANDBOX_SEED' } as const satisfies Partial<Record<SandboxFlag, string>>;

export const DEFAULT_SANDBOX_PORT = 4010;

const wholeNumber = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const share = z
  .string()
  .regex(/^\d*\.?\d+$/, 'must be a share between 0 and 1, e.g. 0.05')
  .transform(Number)
  .pipe(z.number().max(1, 'must be a share between 0 and 1, e.g. 0.05'));

/** `503:0.3,429:0.1,400:0.01:ERROR_CODE`: independent error rates by status. */
const errorRates = z.string().transform((value, ctx) =>
  value.split(',').map((part) => {
    const match = /^(\d{3}):(\d*\.?\d+)(?::([A-Z0-9_]+))?$/.exec(part.trim());
    if (!match || Number(match[2]) > 1) {
      ctx.addIssue({ code: 'custom', message: `expects status:rate[:ERROR_CODE] pairs with a rate between 0 and 1, e.g. 503:0.3,429:0.1, got '${part}'` });
      return z.NEVER;
    }
    return { status: Number(match[1]), rate: Number(match[2]), error: match[3] };
  }),
);

/** `MIN-MAX` or one number, in ms. */
const latencyRange = z.string().transform((value, ctx) => {
  const match = /^(\d+)(?:-(\d+))?$/.exec(value);
  const min = Number(match?.[1]);
  const max = match?.[2] === undefined ? min : Number(match[2]);
  if (!match || max < min) {
    ctx.addIssue({ code: 'custom', message: `expects MIN-MAX in ms with MIN <= MAX, e.g. 20-80, got '${value}'` });
    return z.NEVER;
  }
  return { min, max };
});

/** `EVERY[:LEN]`: after every EVERY requests, LEN (default 10) answers of 429. */
const burst = z.string().transform((value, ctx) => {
  const match = /^(\d+)(?::(\d+))?$/.exec(value);
  if (!match || Number(match[1]) < 1) {
    ctx.addIssue({ code: 'custom', message: `expects EVERY:LEN with EVERY at least 1, e.g. 100:10, got '${value}'` });
    return z.NEVER;
  }
  return { every: Number(match[1]), length: Number(match[2] ?? 10) };
});

const schema = z.object({
  port: wholeNumber(0, 65535).default(DEFAULT_SANDBOX_PORT),
  seed: z.string().optional(),
  'token-lifetime': wholeNumber(1).optional(),
  errors: errorRates.optional(),
  latency: latencyRange.optional(),
  'timeout-rate': share.optional(),
  'timeout-ms': wholeNumber(0).optional(),
  'reset-rate': share.optional(),
  'burst-429': burst.optional(),
  'payload-limit': wholeNumber(0).optional(),
  'random-seed': wholeNumber(0).optional(),
} satisfies Record<SandboxFlag, z.ZodType>);

/**
 * The sandbox's settings from an environment (its LISTRAK_SANDBOX_* variables) and the flags it
 * was started with, which win over the variables. Empty values count as unset.
 */
export function parseSandboxSettings(env: Record<string, string | undefined>, flags: Partial<Record<SandboxFlag, string>> = {}): Readonly<SandboxSettings> {
  const given = (value: string | undefined) => (value === undefined || value.trim() === '' ? undefined : value.trim());
  const source = new Map<string, string>();
  const input: Partial<Record<SandboxFlag, string>> = {};
  for (const name of SANDBOX_FLAGS) {
    const variable: string | undefined = SANDBOX_VARIABLES[name as keyof typeof SANDBOX_VARIABLES];
    const flag = given(flags[name]);
    const value = flag ?? (variable === undefined ? undefined : given(env[variable]));
    if (value === undefined) continue;
    input[name] = value;
    source.set(name, flag !== undefined || variable === undefined ? `--${name}` : variable);
  }
  const parsed = schema.safeParse(input);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      return `  ${source.get(name) ?? name}: ${issue.message}`;
    });
    throw new ConfigError(`Invalid sandbox settings:\n${lines.join('\n')}`);
  }
  const s = parsed.data;
  return Object.freeze({
    port: s.port,
    seedFile: s.seed,
    tokenLifetimeSeconds: s['token-lifetime'],
    payloadLimitBytes: s['payload-limit'],
    chaos: {
      seed: s['random-seed'],
      errors: s.errors,
      latencyMs: s.latency,
      timeoutRate: s['timeout-rate'],
      timeoutMs: s['timeout-ms'],
      resetRate: s['reset-rate'],
      burst429: s['burst-429'],
    },
  } satisfies SandboxSettings);
}
