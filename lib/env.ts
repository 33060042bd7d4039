import * as z from 'zod';
import { OpsbookError } from './errors.js';

/** Comma-separated list → trimmed, non-empty entries. */
const csv = z
  .string()
  .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));

const positiveMs = (fallback: number) => z.coerce.number().int().positive().max(600_000).default(fallback);

const postgresUrl = z
  .string()
  .refine((s) => /^postgres(ql)?:\/\/[^\s]+$/.test(s), 'must be a postgres:// or postgresql:// URL');
const redisUrl = z.string().refine((s) => /^rediss?:\/\/[^\s]+$/.test(s), 'must be a redis:// or rediss:// URL');
const httpUrl = z.string().refine((s) => /^https?:\/\/[^\s]+$/.test(s), 'must be an http:// or https:// URL');
const secret = (min: number) => z.string().min(min, `must be at least ${min} characters`);

/**
 * Every environment variable Opsbook reads. Empty strings count as unset, because that is what a
 * blank line in a .env file or an empty Vercel variable means.
 */
export const envSchema = z.object({
  /** Postgres URL. Unset → embedded PGlite under OPSBOOK_DATA_DIR. */
  DATABASE_URL: postgresUrl.optional(),
  /** Force a driver instead of choosing from the URL. */
  DATABASE_DRIVER: z.enum(['neon', 'pg', 'pglite']).optional(),
  /** Where the Neon HTTP driver sends queries (a proxy or the local test peer). Default: Neon's own endpoint. */
  NEON_FETCH_ENDPOINT: httpUrl.optional(),
  UPSTASH_REDIS_REST_URL: httpUrl.optional(),
  UPSTASH_REDIS_REST_TOKEN: z.string().optional(),
  KV_REST_API_URL: httpUrl.optional(),
  KV_REST_API_TOKEN: z.string().optional(),
  REDIS_URL: redisUrl.optional(),
  RESEND_API_KEY: z.string().optional(),
  RESEND_BASE_URL: httpUrl.optional(),
  OPSBOOK_EMAIL_FROM: z.string().default('Opsbook <opsbook@localhost>'),
  OPSBOOK_EMAIL_TO: csv.default([]),
  SENTRY_DSN: httpUrl.optional(),
  SENTRY_ENVIRONMENT: z.string().optional(),
  CRON_SECRET: secret(16).optional(),
  OPSBOOK_ADMIN_TOKEN: secret(16).optional(),
  /** Signs dry-run confirm tokens. Defaults to a key derived from the admin token or cron secret. */
  OPSBOOK_CONFIRM_SECRET: secret(16).optional(),
  VERCEL_ENV: z.enum(['production', 'preview', 'development']).optional(),
  OPSBOOK_DATA_DIR: z.string().default('.opsbook'),
  /** Total time /api/health may take. */
  HEALTH_BUDGET_MS: positiveMs(2000),
  /** Dependencies whose failure makes /api/health unhealthy (503); the rest only degrade it. */
  HEALTH_CRITICAL: csv.pipe(z.array(z.enum(['database', 'redis']))).default(['database']),
  /** Server-side limits on every statement Opsbook sends. */
  OPSBOOK_STATEMENT_TIMEOUT_MS: positiveMs(5000),
  OPSBOOK_LOCK_TIMEOUT_MS: positiveMs(2000),
  /** Client-side limit on one dependency call (connect + query), whatever the server does. */
  OPSBOOK_DEPENDENCY_TIMEOUT_MS: positiveMs(5000),
});

export type Env = z.infer<typeof envSchema>;

/** The variables whose values are secrets: never printed, logged or returned. */
export const SECRET_VARIABLES = [
  'DATABASE_URL',
  'UPSTASH_REDIS_REST_TOKEN',
  'KV_REST_API_TOKEN',
  'REDIS_URL',
  'RESEND_API_KEY',
  'SENTRY_DSN',
  'CRON_SECRET',
  'OPSBOOK_ADMIN_TOKEN',
  'OPSBOOK_CONFIRM_SECRET',
] as const;

/**
 * Validate an environment. Throws one MISCONFIGURED error that names every missing or invalid variable;
 * the message never contains a value, only names and rules.
 */
export function parseEnv(source: Record<string, string | undefined>): Env {
  const cleaned: Record<string, string> = {};
  for (const key of Object.keys(envSchema.shape)) {
    const value = source[key];
    if (value !== undefined && value.trim() !== '') cleaned[key] = value.trim();
  }
  const parsed = envSchema.safeParse(cleaned);
  const problems: string[] = [];
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.') || '(root)'}: ${safeIssueMessage(issue)}`);
  }
  // Rules across variables look only at which variables are set, so they are reported together with
  // the invalid ones: one error names every problem, not the first half of them.
  const pairs: Array<[string, string]> = [
    ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'],
    ['KV_REST_API_URL', 'KV_REST_API_TOKEN'],
  ];
  for (const [url, token] of pairs) {
    if (cleaned[url] && !cleaned[token]) problems.push(`${token}: required when ${url} is set`);
    if (cleaned[token] && !cleaned[url]) problems.push(`${url}: required when ${token} is set`);
  }
  const driver = cleaned.DATABASE_DRIVER;
  if ((driver === 'neon' || driver === 'pg') && !cleaned.DATABASE_URL) {
    problems.push(`DATABASE_URL: required when DATABASE_DRIVER is ${driver}`);
  }
  if (parsed.success && problems.length === 0) return parsed.data;
  throw new OpsbookError('MISCONFIGURED', `Invalid environment:\n  - ${problems.join('\n  - ')}`, {
    details: problems,
  });
}

/** zod's messages for a few issue kinds can quote the input; ours never do. */
function safeIssueMessage(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
    case 'too_big':
    case 'custom':
      return issue.message;
    default:
      return 'invalid value';
  }
}

/**
 * What production needs that the local defaults stand in for. With VERCEL_ENV=production the embedded
 * PGlite would write its files into the deployment directory (read-only, or lost with the instance) and
 * the outbox would write reports nobody reads: production refuses them instead. Checked where the
 * defaults would be created (createDeps), so a test or tool that brings its own clients is not refused.
 * @example productionProblems(parseEnv({ VERCEL_ENV: 'production' })) // DATABASE_URL and RESEND_API_KEY
 */
export function productionProblems(env: Pick<Env, 'VERCEL_ENV' | 'DATABASE_URL' | 'DATABASE_DRIVER' | 'RESEND_API_KEY'>, uses: { db?: boolean; email?: boolean } = { db: true, email: true }): string[] {
  if (env.VERCEL_ENV !== 'production') return [];
  const problems: string[] = [];
  if (uses.db !== false && (!env.DATABASE_URL || env.DATABASE_DRIVER === 'pglite')) {
    problems.push('DATABASE_URL: required in production (VERCEL_ENV=production); the embedded PGlite is for local runs only and would write into the deployment directory');
  }
  if (uses.email !== false && !env.RESEND_API_KEY) {
    problems.push('RESEND_API_KEY: required in production (VERCEL_ENV=production); the outbox folder is for local runs only and nobody would read its reports');
  }
  return problems;
}

let cached: Env | undefined;

/** The process environment, validated once per instance. */
export function getEnv(): Env {
  cached ??= parseEnv(process.env);
  return cached;
}

/** For tests and the local runner, which change process.env between runs. */
export function resetEnvCache(): void {
  cached = undefined;
}

/** The REST credentials for Upstash, from either naming (Upstash's own or Vercel KV's). */
export function upstashCredentials(env: Env): { url: string; token: string } | undefined {
  if (env.UPSTASH_REDIS_REST_URL && env.UPSTASH_REDIS_REST_TOKEN) {
    return { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
  }
  if (env.KV_REST_API_URL && env.KV_REST_API_TOKEN) return { url: env.KV_REST_API_URL, token: env.KV_REST_API_TOKEN };
  return undefined;
}

/** Variables the config names as holding secrets (e.g. `checks.postgres.databaseUrlEnv`). */
const configuredSecrets = new Set<string>();

/** Treat the variable `name` as a secret from now on: its value is redacted like DATABASE_URL's. */
export function registerSecretVariable(name: string): void {
  configuredSecrets.add(name);
}

/** Replace every secret value that occurs in `text` with its variable name, for logs. */
export function redactSecrets(text: string, env: Partial<Record<string, unknown>> = process.env): string {
  let out = text;
  for (const name of [...SECRET_VARIABLES, ...configuredSecrets]) {
    const value = env[name];
    if (typeof value === 'string' && value.length >= 4) out = out.split(value).join(`[${name}]`);
  }
  // Credentials embedded in any URL, even ones we did not configure (a driver echoing its target).
  // The user part may be empty: `redis://:password@host` is the usual form of a Redis URL.
  return out.replace(/(\b[a-z][a-z0-9+.-]*:\/\/)([^/\s:@]*)(:[^@\s/]*)?@/gi, '$1[redacted]@');
}
