import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { messageOf, OpsbookError } from '../errors.js';
import { redactSecrets } from '../env.js';
import type { RedisClient } from '../redis/index.js';
import { auditAfter } from './queues-retry.js';

export const schema = z.object({
  /** A Redis glob (`cache:words:*`) or one key (`cache:words:apple`). */
  pattern: z.string().min(1).max(200),
});
export type Params = z.output<typeof schema>;

/** SCAN COUNT hint per call. */
const SCAN_COUNT = 1000;
/** Keys per UNLINK. */
const UNLINK_BATCH = 500;
/** Keys shown in an answer. */
const SAMPLE = 20;
/** Time one request spends scanning and deleting; the rest is left for a repeat. */
const BUDGET_MS = 25_000;
/** Distinct keys remembered for a dry run's exact count (SCAN may return a key twice); past that, counted. */
const MAX_TRACKED = 1_000_000;

/** Opsbook's own keys (rate limits): never matched by accident. */
export const OPSBOOK_PREFIX = 'opsbook:';

// ---------------------------------------------------------------------------------------------------
// Redis glob patterns (the rules of Redis' stringmatchlen: `*`, `?`, `[...]` with `^` and ranges, `\x`)

type Token = { kind: 'lit'; c: string } | { kind: 'any' } | { kind: 'star' } | { kind: 'class'; negate: boolean; items: Array<[string, string]> };

export function globTokens(pattern: string): Token[] {
  const out: Token[] = [];
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) out.push({ kind: 'lit', c: pattern[++i]! });
    else if (c === '*') {
      if (out.at(-1)?.kind !== 'star') out.push({ kind: 'star' });
    } else if (c === '?') out.push({ kind: 'any' });
    else if (c === '[') {
      let j = i + 1;
      const negate = pattern[j] === '^';
      if (negate) j++;
      const items: Array<[string, string]> = [];
      for (;;) {
        if (j >= pattern.length) throw new OpsbookError('BAD_REQUEST', `pattern: "[" at position ${i + 1} is never closed with "]" (write \\[ for a literal "[").`);
        const d = pattern[j]!;
        if (d === ']') break;
        if (d === '\\' && j + 1 < pattern.length) {
          items.push([pattern[j + 1]!, pattern[j + 1]!]);
          j += 2;
        } else if (pattern[j + 1] === '-' && j + 2 < pattern.length && pattern[j + 2] !== ']') {
          const [a, b] = [d, pattern[j + 2]!];
          items.push(a <= b ? [a, b] : [b, a]);
          j += 3;
        } else {
          items.push([d, d]);
          j++;
        }
      }
      out.push({ kind: 'class', negate, items });
      i = j;
    } else out.push({ kind: 'lit', c });
  }
  return out;
}

function tokenMatches(t: Token, c: string): boolean {
  if (t.kind === 'lit') return t.c === c;
  if (t.kind === 'any' || t.kind === 'star') return true;
  const hit = t.items.some(([a, b]) => c >= a && c <= b);
  return t.negate ? !hit : hit;
}

/** Whether some key starting with `prefix` matches the pattern (so the pattern reaches into that space). */
export function mayMatchPrefix(tokens: Token[], prefix: string): boolean {
  const memo = new Map<number, boolean>();
  const go = (ti: number, pi: number): boolean => {
    if (pi === prefix.length) return true; // the rest of the key is free: the remaining tokens can match something
    if (ti === tokens.length) return false;
    const k = ti * (prefix.length + 1) + pi;
    const known = memo.get(k);
    if (known !== undefined) return known;
    const t = tokens[ti]!;
    const r = t.kind === 'star' ? go(ti + 1, pi) || go(ti, pi + 1) : tokenMatches(t, prefix[pi]!) && go(ti + 1, pi + 1);
    memo.set(k, r);
    return r;
  };
  return go(0, 0);
}

/** The pattern names the prefix literally (`opsbook:…`, `bull:…`): deliberate, not an accident. */
function startsLiterally(tokens: Token[], prefix: string): boolean {
  if (tokens.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'lit' || t.c !== prefix[i]) return false;
  }
  return true;
}

export function hasGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

/**
 * Refuse a pattern that would reach Opsbook's or BullMQ's own keys without naming them: `*` or `*:meta`
 * would delete the rate limiter's state and every queue's jobs. Naming the prefix (`bull:email:*`)
 * is explicit and allowed; for queues, /api/admin/queues/clean is the right tool anyway.
 */
export function protectedProblem(tokens: Token[], queuePrefix: string): string | undefined {
  const guarded: Array<[string, string]> = [
    [OPSBOOK_PREFIX, "Opsbook's own keys (rate limits)"],
    [`${queuePrefix}:`, `BullMQ's queues (prefix "${queuePrefix}")`],
  ];
  for (const [prefix, what] of guarded) {
    if (mayMatchPrefix(tokens, prefix) && !startsLiterally(tokens, prefix)) {
      return `this pattern would also match ${what}. Make it more specific, or start it with "${prefix}" if you mean those keys${prefix === OPSBOOK_PREFIX ? '' : ' (for jobs, use /api/admin/queues/clean: it removes each job with its data)'}.`;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------

/**
 * `POST /api/admin/cache/delete` `{"pattern":"cache:words:*"}` — runbook 001's `DEL "cache:words:*"`,
 * which deletes nothing: DEL takes key names, not globs. Here a glob is walked with SCAN MATCH (COUNT 1000
 * per call; never KEYS, which blocks Redis for the whole keyspace) and deleted with UNLINK (memory freed
 * in the background) in batches of at most 500. A pattern with a glob character needs the dry run's
 * confirm token; a plain key is one UNLINK. Works over TCP, Upstash REST and the in-memory fallback.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'cache.delete',
  method: 'POST',
  path: '/api/admin/cache/delete',
  role: 'operate',
  summary: 'Delete Redis keys by pattern (SCAN + UNLINK in batches)',
  schema,
  confirm: (p) => hasGlob(p.pattern),
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const redis = guardedRedis(ctx.deps.redis);
    const tokens = globTokens(params.pattern);
    const problem = protectedProblem(tokens, ctx.config.checks.queues.prefix);
    if (problem) throw new OpsbookError('BAD_REQUEST', `pattern: ${problem}`);
    const where = redis.shared ? '' : ' (in-memory fallback: this instance only)';
    const audit = (count: number, status: string, extra: Record<string, unknown> = {}) =>
      auditAfter(ctx, { action: 'cache.delete', target: `redis:${params.pattern}`, params, after: { deleted: count, ...extra }, result: status });

    // One key: no SCAN.
    if (tokens.every((t) => t.kind === 'lit')) {
      const key = tokens.map((t) => (t as { c: string }).c).join('');
      if (dryRun) {
        const n = Number(await redis.command(['EXISTS', key]));
        return { status: n ? 'ok' : 'noop', dryRun, summary: n ? `Would delete key ${key}${where}.` : `No key ${key}${where}.`, count: n, sample: n ? [key] : [] };
      }
      const n = Number(await redis.command(['UNLINK', key]));
      const status = n ? 'ok' : 'noop';
      return { status, dryRun, summary: n ? `Deleted key ${key}${where}.` : `No key ${key}${where}.`, count: n, sample: n ? [key] : [], auditId: await audit(n, status) };
    }

    const started = performance.now();
    const overBudget = () => performance.now() - started > BUDGET_MS;
    const sample: string[] = [];
    let cursor = '0';
    let scanCalls = 0;
    let stoppedEarly = false;

    if (dryRun) {
      const seen = new Set<string>();
      let extra = 0;
      do {
        const [next, keys] = await scan(redis, cursor, params.pattern);
        cursor = next;
        scanCalls++;
        for (const k of keys) {
          if (seen.has(k)) continue;
          if (seen.size < MAX_TRACKED) seen.add(k);
          else extra++;
          if (sample.length < SAMPLE) sample.push(k);
        }
        if (cursor !== '0' && overBudget()) stoppedEarly = true;
      } while (cursor !== '0' && !stoppedEarly);
      const count = seen.size + extra;
      const approx = stoppedEarly || extra > 0;
      return {
        status: count ? 'ok' : 'noop',
        dryRun,
        summary: count
          ? `Would delete ${approx ? 'at least ' : ''}${count} key(s) matching ${params.pattern}${where}${stoppedEarly ? ` (the scan stopped at the time limit after ${scanCalls} calls; the delete continues where a repeat left off)` : ''}.`
          : `No keys match ${params.pattern}${where}.`,
        count,
        sample,
        data: { scanCalls, complete: !stoppedEarly },
      };
    }

    let deleted = 0;
    let pending: string[] = [];
    const flush = async (all: boolean) => {
      while (pending.length >= UNLINK_BATCH || (all && pending.length > 0)) {
        const batch = pending.slice(0, UNLINK_BATCH);
        pending = pending.slice(batch.length);
        const n = Number(await redis.command(['UNLINK', ...batch]));
        deleted += n;
      }
    };
    try {
      do {
        const [next, keys] = await scan(redis, cursor, params.pattern);
        cursor = next;
        scanCalls++;
        for (const k of keys) {
          if (sample.length < SAMPLE && !sample.includes(k)) sample.push(k);
          pending.push(k);
        }
        // The in-memory fallback's SCAN cursor is an offset into its sorted keys, so deleting while
        // scanning would skip keys: there, everything is deleted after the scan (its keyspace is small).
        // Redis' own SCAN returns every key present for the whole scan, deletions or not.
        if (redis.shared) await flush(false);
        if (cursor !== '0' && overBudget()) stoppedEarly = true;
      } while (cursor !== '0' && !stoppedEarly);
      await flush(true);
    } catch (err) {
      if (!(err instanceof OpsbookError) || err.code !== 'DEPENDENCY_UNAVAILABLE' || deleted === 0) throw err;
      // What was deleted before Redis failed is still audited, then the failure is reported.
      const auditId = await audit(deleted, 'partial', { complete: false, error: 'redis failed' }).catch(() => undefined);
      throw new OpsbookError('DEPENDENCY_UNAVAILABLE', `${err.message} (after ${deleted} key(s) were deleted${auditId ? `; audit row ${auditId}` : ''})`, { cause: err });
    }
    const status = deleted === 0 ? 'noop' : stoppedEarly ? 'partial' : 'ok';
    return {
      status,
      dryRun,
      summary: deleted
        ? `Deleted ${deleted} key(s) matching ${params.pattern}${where}${stoppedEarly ? '; stopped at the time limit with keys left (repeat to continue)' : ''}.`
        : `No keys match ${params.pattern}${where}.`,
      count: deleted,
      sample,
      data: { scanCalls, complete: !stoppedEarly },
      auditId: await audit(deleted, status, { complete: !stoppedEarly }),
    };
  },
};

/** Redis failures as 503 with a bounded, redacted message, instead of an anonymous 500. */
export function guardedRedis(redis: RedisClient): RedisClient {
  const fail = (what: string) => (err: unknown): never => {
    throw new OpsbookError('DEPENDENCY_UNAVAILABLE', `Redis ${what} failed: ${redactSecrets(messageOf(err)).slice(0, 200)}`, { cause: err });
  };
  return {
    driver: redis.driver,
    shared: redis.shared,
    command: <T>(args: Parameters<RedisClient['command']>[0]) => redis.command<T>(args).catch(fail(String(args[0]).toUpperCase())),
    pipeline: (commands) => redis.pipeline(commands).catch(fail('pipeline')),
    close: () => redis.close(),
  };
}

async function scan(redis: RedisClient, cursor: string, pattern: string): Promise<[string, string[]]> {
  const reply = await redis.command<[string | number, unknown[]]>(['SCAN', cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT]);
  if (!Array.isArray(reply) || !Array.isArray(reply[1])) throw new OpsbookError('DEPENDENCY_UNAVAILABLE', 'Redis answered SCAN with something other than [cursor, keys].');
  return [String(reply[0]), reply[1].map(String)];
}
