import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { messageOf, OpsbookError } from '../errors.js';
import { redactSecrets } from '../env.js';
import type { RedisClient } from '../redis/index.js';
import { protectedKeys } from '../redis/protected-keys.js';
import { keptText, sweep } from '../redis/sweep.js';
import { auditAfter } from '../admin/audit.js';

export const schema = z.object({
  /** A Redis glob (`cache:words:*`) or one key (`cache:words:apple`). */
  pattern: z.string().min(1).max(200),
});
export type Params = z.output<typeof schema>;

/** Time one request spends scanning and deleting; the rest is left for a repeat. */
const BUDGET_MS = 25_000;

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

export function hasGlob(pattern: string): boolean {
  return /[*?[]/.test(pattern);
}

// ---------------------------------------------------------------------------------------------------

/**
 * `POST /api/admin/cache/delete` `{"pattern":"cache:words:*"}` — runbook 001's `DEL "cache:words:*"`,
 * which deletes nothing: DEL takes key names, not globs. Here a glob is walked with SCAN MATCH and
 * deleted with UNLINK in batches (lib/redis/sweep.ts). A pattern with a glob character needs the dry
 * run's confirm token; a plain key is one UNLINK. Works over TCP, Upstash REST and the in-memory fallback.
 *
 * Every key SCAN finds is judged on its own name (lib/redis/protected-keys.ts), whatever the pattern's
 * spelling: a BullMQ queue's keys and Opsbook's own are never deleted. This is an operate action, and
 * queue jobs belong to /api/admin/queues/clean (admin, confirm). A glob skips them and says so (count
 * per reason, sample keys); a single key that is protected is refused with 409. A pattern that starts
 * with a glob (`*`, `?ache:*`) could match every key, which is what the admin-only cache/flush is for: 400.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'cache.delete',
  method: 'POST',
  path: '/api/admin/cache/delete',
  role: 'operate',
  summary: 'Delete Redis keys by pattern (SCAN + UNLINK in batches); BullMQ queue and Opsbook keys are never deleted',
  schema,
  confirm: (p) => hasGlob(p.pattern),
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const redis = guardedRedis(ctx.deps.redis);
    const tokens = globTokens(params.pattern);
    if (tokens[0] && tokens[0].kind !== 'lit') {
      throw new OpsbookError(
        'BAD_REQUEST',
        'pattern: it starts with a glob, so it could match every key. Start it with the literal prefix of the keys you mean ("cache:words:*"); emptying the whole cache is /api/admin/cache/flush (admin).',
      );
    }
    const guard = protectedKeys(redis, { queuePrefix: ctx.config.checks.queues.prefix, keyPrefix: ctx.config.redisKeyPrefix });
    const where = redis.shared ? '' : ' (in-memory fallback: this instance only)';
    const audit = (count: number, status: string, extra: Record<string, unknown> = {}) =>
      auditAfter(ctx, { action: 'cache.delete', target: `redis:${params.pattern}`, params, after: { deleted: count, ...extra }, result: status });

    // One key: no SCAN.
    if (tokens.every((t) => t.kind === 'lit')) {
      const key = tokens.map((t) => (t as { c: string }).c).join('');
      const [reason] = await guard.reasons([key]);
      if (reason !== undefined) {
        throw new OpsbookError('CONFLICT', `key ${key} is not deleted: it belongs to ${reason === 'opsbook internal' ? "Opsbook itself (opsbook internal)" : `a BullMQ queue (${reason}); remove jobs with /api/admin/queues/clean`}.`);
      }
      if (dryRun) {
        const n = Number(await redis.command(['EXISTS', key]));
        return { status: n ? 'ok' : 'noop', dryRun, summary: n ? `Would delete key ${key}${where}.` : `No key ${key}${where}.`, count: n, sample: n ? [key] : [] };
      }
      const n = Number(await redis.command(['UNLINK', key]));
      const status = n ? 'ok' : 'noop';
      return { status, dryRun, summary: n ? `Deleted key ${key}${where}.` : `No key ${key}${where}.`, count: n, sample: n ? [key] : [], auditId: await audit(n, status) };
    }

    const r = await sweep(redis, guard, { match: params.pattern, dryRun, budgetMs: BUDGET_MS, onPartialFailure: (n) => audit(n, 'partial', { complete: false, error: 'redis failed' }) });
    const keptNote = r.kept.count ? `; ${keptText(r.kept, dryRun ? 'would be skipped' : 'skipped')}` : '';
    const data = { scanCalls: r.scanCalls, complete: r.complete, skipped: r.kept };
    if (dryRun) {
      return {
        status: r.count ? 'ok' : 'noop',
        dryRun,
        summary: r.count
          ? `Would delete ${r.approx ? 'at least ' : ''}${r.count} key(s) matching ${params.pattern}${where}${keptNote}${r.complete ? '' : ` (the scan stopped at the time limit after ${r.scanCalls} calls; the delete continues where a repeat left off)`}.`
          : `No deletable keys match ${params.pattern}${where}${keptNote}.`,
        count: r.count,
        sample: r.sample,
        data,
      };
    }
    const status = r.count === 0 ? 'noop' : r.complete ? 'ok' : 'partial';
    return {
      status,
      dryRun,
      summary: r.count
        ? `Deleted ${r.count} key(s) matching ${params.pattern}${where}${keptNote}${r.complete ? '' : '; stopped at the time limit with keys left (repeat to continue)'}.`
        : `No deletable keys match ${params.pattern}${where}${keptNote}.`,
      count: r.count,
      sample: r.sample,
      data,
      auditId: await audit(r.count, status, { complete: r.complete, skipped: r.kept.count, skippedByReason: r.kept.byReason }),
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
