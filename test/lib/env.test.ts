import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDeps } from '../../lib/deps.js';
import { parseEnv, productionProblems, redactSecrets, upstashCredentials } from '../../lib/env.js';
import { OpsbookError } from '../../lib/errors.js';

/** parseEnv's failure, or a test failure when it did not throw. */
function failureOf(source: Record<string, string | undefined>): OpsbookError {
  try {
    parseEnv(source);
  } catch (err) {
    expect(err).toBeInstanceOf(OpsbookError);
    return err as OpsbookError;
  }
  throw new Error('parseEnv accepted an invalid environment');
}

/** Everything a failure exposes: the message and the details, as one string to search. */
const exposed = (err: OpsbookError) => `${err.message}\n${JSON.stringify(err.details)}`;

describe('parseEnv defaults', () => {
  it('empty environment → embedded defaults, nothing configured', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      HEALTH_BUDGET_MS: 2000,
      HEALTH_CRITICAL: ['database'],
      OPSBOOK_DATA_DIR: '.opsbook',
      OPSBOOK_EMAIL_FROM: 'Opsbook <opsbook@localhost>',
      OPSBOOK_EMAIL_TO: [],
      OPSBOOK_STATEMENT_TIMEOUT_MS: 5000,
      OPSBOOK_LOCK_TIMEOUT_MS: 2000,
      OPSBOOK_DEPENDENCY_TIMEOUT_MS: 5000,
    });
    for (const name of ['DATABASE_URL', 'REDIS_URL', 'UPSTASH_REDIS_REST_URL', 'RESEND_API_KEY', 'SENTRY_DSN', 'CRON_SECRET'] as const) {
      expect(env[name]).toBeUndefined();
    }
  });

  it('empty and blank strings count as unset → the same defaults, no error', () => {
    const env = parseEnv({
      DATABASE_URL: '',
      REDIS_URL: '   ',
      UPSTASH_REDIS_REST_URL: '',
      UPSTASH_REDIS_REST_TOKEN: '',
      CRON_SECRET: '',
      HEALTH_BUDGET_MS: '',
      HEALTH_CRITICAL: ' ',
      OPSBOOK_DATA_DIR: '',
      VERCEL_ENV: '',
    });
    expect(env.DATABASE_URL).toBeUndefined();
    expect(env.REDIS_URL).toBeUndefined();
    expect(env.CRON_SECRET).toBeUndefined();
    expect(env.VERCEL_ENV).toBeUndefined();
    expect(env.HEALTH_BUDGET_MS).toBe(2000);
    expect(env.HEALTH_CRITICAL).toEqual(['database']);
    expect(env.OPSBOOK_DATA_DIR).toBe('.opsbook');
  });

  it('valid values → parsed: numbers coerced, lists split and trimmed, surrounding whitespace dropped', () => {
    const env = parseEnv({
      DATABASE_URL: ' postgresql://app@db.example:5432/app ',
      REDIS_URL: 'rediss://cache.example:6380',
      HEALTH_BUDGET_MS: '1500',
      HEALTH_CRITICAL: 'database, redis',
      OPSBOOK_EMAIL_TO: 'a@example.test, b@example.test,',
      CRON_SECRET: 'a-cron-secret-of-24-chars',
      VERCEL_ENV: 'production',
    });
    expect(env).toMatchObject({
      DATABASE_URL: 'postgresql://app@db.example:5432/app',
      REDIS_URL: 'rediss://cache.example:6380',
      HEALTH_BUDGET_MS: 1500,
      HEALTH_CRITICAL: ['database', 'redis'],
      OPSBOOK_EMAIL_TO: ['a@example.test', 'b@example.test'],
      VERCEL_ENV: 'production',
    });
  });

  it('variables Opsbook does not read are ignored', () => {
    expect(() => parseEnv({ PATH: '/usr/bin', SOMETHING_ELSE: 'x' })).not.toThrow();
  });
});

describe('parseEnv on an invalid environment', () => {
  // Values shaped like secrets, so a leak into the message is unmistakable.
  const bad: Record<string, string> = {
    DATABASE_URL: 'mysql://app:sekrit-VALUE-123@db.example/app',
    REDIS_URL: 'http://default:sekrit-REDIS-456@cache.example:6379',
    UPSTASH_REDIS_REST_URL: 'https://sekrit-UPSTASH-789.upstash.io',
    CRON_SECRET: 'sekrit-CRON-1',
    OPSBOOK_ADMIN_TOKEN: 'sekrit-ADMIN-2',
    SENTRY_DSN: 'sekrit-DSN-abcdef@sentry.example/1',
    HEALTH_BUDGET_MS: 'abc-sekrit-BUDGET',
    HEALTH_CRITICAL: 'database,nonsense-sekrit-CRIT',
    DATABASE_DRIVER: 'sekrit-DRIVER-x',
    VERCEL_ENV: 'sekrit-STAGE-y',
  };

  it('throws one OpsbookError with code MISCONFIGURED', () => {
    const err = failureOf(bad);
    expect(err.code).toBe('MISCONFIGURED');
    expect(err.status).toBe(500);
    expect(Array.isArray(err.details)).toBe(true);
  });

  it('the message names every bad variable, each in the message and in details', () => {
    const err = failureOf(bad);
    const details = err.details as string[];
    const expected = [
      'DATABASE_URL',
      'REDIS_URL',
      'UPSTASH_REDIS_REST_TOKEN',
      'CRON_SECRET',
      'OPSBOOK_ADMIN_TOKEN',
      'SENTRY_DSN',
      'HEALTH_BUDGET_MS',
      'HEALTH_CRITICAL',
      'DATABASE_DRIVER',
      'VERCEL_ENV',
    ];
    for (const name of expected) {
      expect(err.message).toContain(name);
      expect(details.some((d) => d.startsWith(name))).toBe(true);
    }
  });

  it('the message and details never contain a provided value', () => {
    const err = failureOf(bad);
    const text = exposed(err);
    expect(text).not.toMatch(/sekrit/i);
    for (const value of Object.values(bad)) expect(text).not.toContain(value);
  });

  it.each([
    ['DATABASE_URL not postgres', { DATABASE_URL: 'mysql://u:sekrit-VALUE-123@h/db' }, ['DATABASE_URL'], /postgres/],
    ['REDIS_URL not redis', { REDIS_URL: 'memcached://sekrit-VALUE-123@h' }, ['REDIS_URL'], /redis:\/\//],
    ['UPSTASH URL without its token', { UPSTASH_REDIS_REST_URL: 'https://sekrit-VALUE-123.upstash.io' }, ['UPSTASH_REDIS_REST_TOKEN', 'UPSTASH_REDIS_REST_URL'], /required/],
    ['UPSTASH token without its URL', { UPSTASH_REDIS_REST_TOKEN: 'sekrit-VALUE-123' }, ['UPSTASH_REDIS_REST_URL', 'UPSTASH_REDIS_REST_TOKEN'], /required/],
    ['KV URL without its token', { KV_REST_API_URL: 'https://sekrit-VALUE-123.kv.example' }, ['KV_REST_API_TOKEN', 'KV_REST_API_URL'], /required/],
    ['CRON_SECRET shorter than 16', { CRON_SECRET: 'sekrit-VALUE-12' }, ['CRON_SECRET'], /at least 16/],
    ['OPSBOOK_ADMIN_TOKEN shorter than 16', { OPSBOOK_ADMIN_TOKEN: 'sekrit-VALUE' }, ['OPSBOOK_ADMIN_TOKEN'], /at least 16/],
    ['HEALTH_BUDGET_MS not a number', { HEALTH_BUDGET_MS: 'abc' }, ['HEALTH_BUDGET_MS'], /number/],
    ['HEALTH_BUDGET_MS negative', { HEALTH_BUDGET_MS: '-5' }, ['HEALTH_BUDGET_MS'], /./],
    ['HEALTH_BUDGET_MS above ten minutes', { HEALTH_BUDGET_MS: '600001' }, ['HEALTH_BUDGET_MS'], /./],
    ['HEALTH_CRITICAL with an unknown dependency', { HEALTH_CRITICAL: 'database,nonsense' }, ['HEALTH_CRITICAL'], /database, redis/],
    ['DATABASE_DRIVER=pg without DATABASE_URL', { DATABASE_DRIVER: 'pg' }, ['DATABASE_URL'], /DATABASE_DRIVER/],
    ['SENTRY_DSN not http(s)', { SENTRY_DSN: 'sentry://sekrit-VALUE-123@o1.ingest/1' }, ['SENTRY_DSN'], /http/],
  ])('%s → MISCONFIGURED naming %j, without the value', (_label, source, names, rule) => {
    const err = failureOf(source);
    expect(err.code).toBe('MISCONFIGURED');
    for (const name of names) expect(err.message).toContain(name);
    expect(err.message).toMatch(rule);
    const text = exposed(err);
    for (const value of Object.values(source)) if (value.length > 3) expect(text).not.toContain(value);
    expect(text).not.toContain('sekrit');
  });

  it('missing token for a set URL plus an unrelated invalid variable → names both problems at once', () => {
    const err = failureOf({ UPSTASH_REDIS_REST_URL: 'https://eu1.upstash.io', HEALTH_BUDGET_MS: 'abc' });
    expect(err.message).toContain('HEALTH_BUDGET_MS');
    expect(err.message).toContain('UPSTASH_REDIS_REST_TOKEN');
  });
});

describe('upstashCredentials', () => {
  it.each([
    ['Upstash naming', { UPSTASH_REDIS_REST_URL: 'https://eu1.upstash.io', UPSTASH_REDIS_REST_TOKEN: 'tok-upstash' }, { url: 'https://eu1.upstash.io', token: 'tok-upstash' }],
    ['Vercel KV naming (KV_REST_API_*)', { KV_REST_API_URL: 'https://kv.vercel-storage.example', KV_REST_API_TOKEN: 'tok-kv' }, { url: 'https://kv.vercel-storage.example', token: 'tok-kv' }],
    [
      'both namings → Upstash naming wins',
      {
        UPSTASH_REDIS_REST_URL: 'https://eu1.upstash.io',
        UPSTASH_REDIS_REST_TOKEN: 'tok-upstash',
        KV_REST_API_URL: 'https://kv.vercel-storage.example',
        KV_REST_API_TOKEN: 'tok-kv',
      },
      { url: 'https://eu1.upstash.io', token: 'tok-upstash' },
    ],
    ['neither → undefined', {}, undefined],
    ['only REDIS_URL → undefined', { REDIS_URL: 'redis://127.0.0.1:6379' }, undefined],
  ])('%s', (_label, source, expected) => {
    expect(upstashCredentials(parseEnv(source))).toEqual(expected);
  });
});

describe('redactSecrets', () => {
  const env = {
    DATABASE_URL: 'postgres://app:db-PASSWORD-77@db.example:5432/app',
    CRON_SECRET: 'cron-SECRET-0123456789',
    OPSBOOK_ADMIN_TOKEN: 'admin-TOKEN-0123456789',
    RESEND_API_KEY: 're_live_KEY_abcdef',
    UPSTASH_REDIS_REST_TOKEN: 'upstash-TOKEN-xyz',
    OPSBOOK_EMAIL_FROM: 'Opsbook <ops@example.test>',
  };

  it.each([
    ['a configured secret value → its variable name', 'cron called with cron-SECRET-0123456789', 'cron called with [CRON_SECRET]'],
    ['every occurrence is replaced', 'admin-TOKEN-0123456789 / admin-TOKEN-0123456789', '[OPSBOOK_ADMIN_TOKEN] / [OPSBOOK_ADMIN_TOKEN]'],
    ['several secrets in one text', 'key re_live_KEY_abcdef token upstash-TOKEN-xyz', 'key [RESEND_API_KEY] token [UPSTASH_REDIS_REST_TOKEN]'],
    ['the configured DATABASE_URL as a whole', 'connect postgres://app:db-PASSWORD-77@db.example:5432/app failed', 'connect [DATABASE_URL] failed'],
    [
      'credentials in a URL nobody configured → stripped, host kept',
      'connect redis://default:hunter2-pass@cache.example:6379 refused',
      'connect redis://[redacted]@cache.example:6379 refused',
    ],
    ['a Redis URL with only a password (redis://:pw@host) → stripped', 'dial rediss://:pw-only-99@cache.example:6380', 'dial rediss://[redacted]@cache.example:6380'],
    ['a username-only credential in a URL → stripped', 'GET https://tok3n@api.example/x', 'GET https://[redacted]@api.example/x'],
    ['a URL without credentials → unchanged', 'GET https://api.example/x?y=1', 'GET https://api.example/x?y=1'],
    ['a non-secret variable → unchanged', 'from Opsbook <ops@example.test>', 'from Opsbook <ops@example.test>'],
  ])('%s', (_label, text, expected) => {
    expect(redactSecrets(text, env)).toBe(expected);
  });

  it('the password of an unconfigured URL never survives', () => {
    const out = redactSecrets('postgresql://svc:p4ss-w0rd@10.0.0.5/db and rediss://:only-pass@h:6380', {});
    expect(out).not.toContain('p4ss-w0rd');
    expect(out).not.toContain('only-pass');
    expect(out).not.toContain('svc');
  });

  it('values shorter than 4 characters are not treated as secrets (they would shred ordinary text)', () => {
    expect(redactSecrets('abc abc', { CRON_SECRET: 'abc' })).toBe('abc abc');
  });

  it('reads process.env when no environment is passed', () => {
    const previous = process.env.RESEND_API_KEY;
    process.env.RESEND_API_KEY = 're_from_PROCESS_env_42';
    try {
      expect(redactSecrets('sent with re_from_PROCESS_env_42')).toBe('sent with [RESEND_API_KEY]');
    } finally {
      if (previous === undefined) delete process.env.RESEND_API_KEY;
      else process.env.RESEND_API_KEY = previous;
    }
  });
});

describe('production without the embedded defaults', () => {
  const DB = 'postgres://app@db.example:5432/app';
  it.each([
    ['production, nothing set', { VERCEL_ENV: 'production' }, ['DATABASE_URL', 'RESEND_API_KEY']],
    ['production, DATABASE_URL only', { VERCEL_ENV: 'production', DATABASE_URL: DB }, ['RESEND_API_KEY']],
    ['production, PGlite forced', { VERCEL_ENV: 'production', DATABASE_URL: DB, DATABASE_DRIVER: 'pglite', RESEND_API_KEY: 're_x' }, ['DATABASE_URL']],
    ['production, both set', { VERCEL_ENV: 'production', DATABASE_URL: DB, RESEND_API_KEY: 're_x' }, []],
    ['preview, nothing set', { VERCEL_ENV: 'preview' }, []],
    ['local, nothing set', {}, []],
  ])('%s → problems name %j', (_name, vars, names) => {
    expect(productionProblems(parseEnv(vars)).map((p) => p.split(':')[0])).toEqual(names);
  });

  it('VERCEL_ENV=production and no DATABASE_URL or RESEND_API_KEY → createDeps refuses, naming both, and writes no PGlite or outbox file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'opsbook-prod-'));
    try {
      const err = await createDeps(parseEnv({ VERCEL_ENV: 'production', OPSBOOK_DATA_DIR: join(dir, 'data') })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(OpsbookError);
      expect((err as OpsbookError).code).toBe('MISCONFIGURED');
      expect((err as OpsbookError).message).toMatch(/DATABASE_URL: required in production[\s\S]*RESEND_API_KEY: required in production/);
      expect(existsSync(join(dir, 'data'))).toBe(false);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
