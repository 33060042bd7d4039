import { OpsbookError } from '../errors.js';
import type { RedisClient } from './index.js';
import type { ProtectedKeys } from './protected-keys.js';

/** SCAN COUNT hint per call. */
const SCAN_COUNT = 1000;
/** Keys per UNLINK. */
const UNLINK_BATCH = 500;
/** Keys shown in an answer, deleted and kept alike. */
const SAMPLE = 20;
/** Distinct keys remembered for exact counts (SCAN may return a key twice); past that, counted. */
const MAX_TRACKED = 1_000_000;

/** The keys a sweep left alone, and why. */
export interface Kept {
  count: number;
  /** `{"bullmq queue email": 50, "opsbook internal": 3}` */
  byReason: Record<string, number>;
  sample: Array<{ key: string; reason: string }>;
}

export interface SweepResult {
  /** Keys deleted (or, in a dry run, that would be). */
  count: number;
  /** The count is a lower bound (the scan stopped early, or more keys than could be remembered). */
  approx: boolean;
  sample: string[];
  kept: Kept;
  scanCalls: number;
  /** False when the time budget ran out before the end of the keyspace. */
  complete: boolean;
}

/** "50 kept (bullmq queue email: 50)" for a summary, or '' when nothing was kept. */
export function keptText(kept: Kept, verb = 'kept'): string {
  if (!kept.count) return '';
  const reasons = Object.entries(kept.byReason)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([r, n]) => `${r}: ${n}`)
    .join(', ');
  return `${kept.count} key(s) ${verb} (${reasons}${Object.keys(kept.byReason).length > 5 ? ', …' : ''})`;
}

/**
 * SCAN (MATCH `match` when given; never KEYS, which blocks Redis for the whole keyspace), judge every key
 * found with `guard`, and UNLINK the rest in batches of at most 500 (memory freed in the background).
 * Protected keys are never in an UNLINK, whatever the pattern; they are counted by reason. A dry run
 * deletes nothing and counts. Stops at `budgetMs`, leaving the rest for a repeat.
 *
 * `onPartialFailure` is told how many keys were deleted before Redis failed mid-way (for the audit row);
 * the failure is then rethrown with that count in its message.
 */
export async function sweep(
  redis: RedisClient,
  guard: ProtectedKeys,
  opts: { match?: string; dryRun: boolean; budgetMs: number; onPartialFailure?: (deleted: number) => Promise<number | undefined> },
): Promise<SweepResult> {
  const started = performance.now();
  const overBudget = () => performance.now() - started > opts.budgetMs;
  const sample: string[] = [];
  const kept: Kept = { count: 0, byReason: {}, sample: [] };
  const seen = new Set<string>();
  let untracked = 0;
  let cursor = '0';
  let scanCalls = 0;
  let stoppedEarly = false;
  let counted = 0;
  let deleted = 0;
  let pending: string[] = [];

  /** Only keys not seen before (SCAN may repeat one); past MAX_TRACKED, every key counts as new. */
  const fresh = (keys: string[]) =>
    keys.filter((k) => {
      if (seen.has(k)) return false;
      if (seen.size < MAX_TRACKED) seen.add(k);
      else untracked++;
      return true;
    });
  const unlink = async (all: boolean) => {
    while (pending.length >= UNLINK_BATCH || (all && pending.length > 0)) {
      const batch = pending.slice(0, UNLINK_BATCH);
      pending = pending.slice(batch.length);
      deleted += Number(await redis.command(['UNLINK', ...batch]));
    }
  };

  try {
    do {
      const [next, found] = await scan(redis, cursor, opts.match);
      cursor = next;
      scanCalls++;
      const keys = fresh(found);
      const reasons = keys.length ? await guard.reasons(keys) : [];
      keys.forEach((k, i) => {
        const reason = reasons[i];
        if (reason !== undefined) {
          kept.count++;
          kept.byReason[reason] = (kept.byReason[reason] ?? 0) + 1;
          if (kept.sample.length < SAMPLE) kept.sample.push({ key: k, reason });
          return;
        }
        counted++;
        if (sample.length < SAMPLE) sample.push(k);
        if (!opts.dryRun) pending.push(k);
      });
      // The in-memory fallback's SCAN cursor is an offset into its sorted keys, so deleting while
      // scanning would skip keys: there, everything is deleted after the scan (its keyspace is small).
      // Redis' own SCAN returns every key present for the whole scan, deletions or not.
      if (!opts.dryRun && redis.shared) await unlink(false);
      if (cursor !== '0' && overBudget()) stoppedEarly = true;
    } while (cursor !== '0' && !stoppedEarly);
    if (!opts.dryRun) await unlink(true);
  } catch (err) {
    if (!(err instanceof OpsbookError) || err.code !== 'DEPENDENCY_UNAVAILABLE' || deleted === 0) throw err;
    // What was deleted before Redis failed is still audited, then the failure is reported.
    const auditId = await opts.onPartialFailure?.(deleted).catch(() => undefined);
    throw new OpsbookError('DEPENDENCY_UNAVAILABLE', `${err.message} (after ${deleted} key(s) were deleted${auditId ? `; audit row ${auditId}` : ''})`, { cause: err });
  }
  return {
    count: opts.dryRun ? counted : deleted,
    approx: opts.dryRun && (stoppedEarly || untracked > 0),
    sample,
    kept,
    scanCalls,
    complete: !stoppedEarly,
  };
}

async function scan(redis: RedisClient, cursor: string, match: string | undefined): Promise<[string, string[]]> {
  const reply = await redis.command<[string | number, unknown[]]>(['SCAN', cursor, ...(match === undefined ? [] : ['MATCH', match]), 'COUNT', SCAN_COUNT]);
  if (!Array.isArray(reply) || !Array.isArray(reply[1])) throw new OpsbookError('DEPENDENCY_UNAVAILABLE', 'Redis answered SCAN with something other than [cursor, keys].');
  return [String(reply[0]), reply[1].map(String)];
}
