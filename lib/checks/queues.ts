import type { OpsbookConfig, QueueLimits, QueuesConfig } from '../config/index.js';
import { messageOf } from '../errors.js';
import { redactSecrets } from '../env.js';
import type { PipelineResult, RedisArg, RedisClient } from '../redis/index.js';
import { queueOfMetaKey } from '../redis/protected-keys.js';
import { withTimeout } from '../timeout.js';
import { actionHint, duration, errored, fail, ok, skipped, topN, warn, worst } from './outcome.js';
import { parseInfo } from './redis.js';
import type { Check, CheckContext, CheckFamily, CheckOutcome, Severity } from './types.js';

/**
 * BullMQ queues, read-only, over TCP or Upstash REST (SCAN, LLEN, ZCARD, LRANGE, ZRANGE, HMGET only).
 *
 * Key layout of BullMQ 6 (classes/queue-keys.js and the Lua scripts in commands/), for prefix P and
 * queue Q (a queue name cannot contain ":"):
 *   P:Q:meta              hash    written when a Queue is constructed (opts.maxLenEvents, version);
 *                                 `paused` field set while the queue is paused
 *   P:Q:wait              list    new jobs are LPUSHed (RPUSH for lifo), workers RPOPLPUSH from the
 *                                 right into `active`: the tail is the next job to run
 *   P:Q:active            list
 *   P:Q:paused            list    legacy: since v5 a paused queue keeps its jobs in `wait`
 *   P:Q:prioritized       zset    score priority·2^32 + counter: the first member runs next
 *   P:Q:delayed           zset    score due-time(ms)·4096 + counter; only a running worker promotes
 *                                 due jobs, so with no worker they stay here past their time
 *   P:Q:waiting-children  zset
 *   P:Q:completed, :failed zset   score = finish time
 *   P:Q:id (string counter), :events (stream), :marker (zset), :pc, :stalled-check, :limiter, :de…
 *   P:Q:<jobId>           hash    name, data, opts (JSON), timestamp (ms, when added), delay,
 *                                 priority, processedOn, finishedOn, failedReason…
 * BullMQ's own relay keys live under `P::relay:…` and never end in `:meta`, so discovery by
 * `P:*:meta` finds queues only.
 *
 * Three checks with ids that do not depend on which queues exist: `queues.backlog` (counts per queue),
 * `queues.stuck` (ready jobs nobody takes) and `queues.failed` (failed jobs, growth since the previous
 * snapshot). They share one collection per run: SCAN for discovery (bounded), then ONE pipeline for
 * every queue's counts; `queues.stuck` adds one more pipeline (bounded) for the ages of the next jobs.
 */

export interface QueueCounts {
  waiting: number;
  active: number;
  /** The legacy `paused` list (BullMQ < 5); a paused queue now keeps its jobs in `waiting`. */
  paused: number;
  prioritized: number;
  delayed: number;
  waitingChildren: number;
  failed: number;
  completed: number;
}

export interface QueueState {
  name: string;
  /** False when a queue named in config has no meta hash (never created, or obliterated). */
  found: boolean;
  /** A key of this queue is not of BullMQ's type (the queue cannot be read). */
  error?: string;
  counts: QueueCounts;
  /** `paused` is set in the meta hash. */
  isPaused: boolean;
  /** The job at the tail of `wait` (next to run), when there is one. */
  nextWaitId?: string;
  /** The first member of `prioritized` (next to run among prioritized jobs). */
  nextPrioritizedId?: string;
  /** Due time (ms since epoch) of the earliest delayed job. */
  earliestDelayedDue?: number;
}

export interface Discovery {
  names: string[];
  source: 'scan' | 'config';
  scanCalls: number;
  /** Why discovery stopped before the end of the keyspace, when it did. */
  truncated?: string;
}

/** At most this many queues are read per run (one pipeline of 12 commands each). */
export const MAX_QUEUES = 1000;
/** At most this many queues get the ages of their next jobs looked up (second pipeline). */
export const MAX_AGE_LOOKUPS = 100;
/** Rows per finding. */
const DETAILS = 20;

/** Escape Redis glob specials, so a prefix like `app[1]` matches itself. */
export function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

/**
 * Find queues by their meta hash with SCAN (never KEYS: it blocks Redis for the whole keyspace),
 * `COUNT scanCount` per call, at most `maxScanCalls` calls and, when given, until `deadline`
 * (a performance.now() reading). A stop before the end is reported as `truncated`.
 */
export async function discoverQueues(
  redis: RedisClient,
  opts: Pick<QueuesConfig, 'prefix' | 'scanCount' | 'maxScanCalls'>,
  deadline?: number,
): Promise<Discovery> {
  const match = `${escapeGlob(opts.prefix)}:*:meta`;
  const names = new Set<string>();
  let cursor = '0';
  let scanCalls = 0;
  let truncated: string | undefined;
  do {
    if (scanCalls >= opts.maxScanCalls) {
      truncated = `stopped after ${scanCalls} SCAN calls (maxScanCalls)`;
      break;
    }
    if (deadline !== undefined && scanCalls > 0 && performance.now() > deadline) {
      truncated = `stopped after ${scanCalls} SCAN calls to stay within the check's time limit`;
      break;
    }
    const reply = await redis.command<[string | number, string[]]>(['SCAN', cursor, 'MATCH', match, 'COUNT', opts.scanCount]);
    scanCalls++;
    if (!Array.isArray(reply) || !Array.isArray(reply[1])) throw new Error('SCAN answered something other than [cursor, keys]');
    cursor = String(reply[0]);
    for (const key of reply[1]) {
      // The same rule decides which keys the cache actions must leave alone (lib/redis/protected-keys.ts).
      const name = queueOfMetaKey(String(key), opts.prefix);
      if (name !== undefined) names.add(name);
    }
  } while (cursor !== '0');
  let sorted = [...names].sort();
  if (sorted.length > MAX_QUEUES) {
    truncated = `${sorted.length} queues found; only the first ${MAX_QUEUES} (by name) are read`;
    sorted = sorted.slice(0, MAX_QUEUES);
  }
  return { names: sorted, source: 'scan', scanCalls, ...(truncated ? { truncated } : {}) };
}

const PER_QUEUE = 12;

/** The commands reading one queue, in the order `readQueue` expects them. */
function queueCommands(prefix: string, name: string): RedisArg[][] {
  const k = (s: string) => `${prefix}:${name}:${s}`;
  return [
    ['LLEN', k('wait')],
    ['LLEN', k('active')],
    ['LLEN', k('paused')],
    ['ZCARD', k('prioritized')],
    ['ZCARD', k('delayed')],
    ['ZCARD', k('waiting-children')],
    ['ZCARD', k('failed')],
    ['ZCARD', k('completed')],
    ['HMGET', k('meta'), 'paused', 'opts.maxLenEvents', 'version'],
    ['LRANGE', k('wait'), -2, -1],
    ['ZRANGE', k('prioritized'), 0, 0],
    ['ZRANGE', k('delayed'), 0, 0, 'WITHSCORES'],
  ];
}

function readQueue(name: string, slots: PipelineResult[]): QueueState {
  const counts: QueueCounts = { waiting: 0, active: 0, paused: 0, prioritized: 0, delayed: 0, waitingChildren: 0, failed: 0, completed: 0 };
  const bad = slots.find((s): s is { ok: false; error: string } => !s.ok);
  if (bad) return { name, found: true, error: redactSecrets(bad.error).slice(0, 200), counts, isPaused: false };
  const v = slots.map((s) => (s as { ok: true; value: unknown }).value);
  const n = (x: unknown) => (Number.isFinite(Number(x)) ? Number(x) : 0);
  [counts.waiting, counts.active, counts.paused, counts.prioritized, counts.delayed, counts.waitingChildren, counts.failed, counts.completed] = v
    .slice(0, 8)
    .map(n) as [number, number, number, number, number, number, number, number];
  const meta = Array.isArray(v[8]) ? (v[8] as unknown[]) : [];
  const found = meta.some((x) => x !== null && x !== undefined);
  const tail = (Array.isArray(v[9]) ? (v[9] as unknown[]) : []).map(String);
  // A "0:…" entry is a wait-list marker of BullMQ ≤ 4, not a job (BullMQ's getCounts discounts it too).
  if (tail.length && tail[tail.length - 1]!.startsWith('0:')) {
    counts.waiting = Math.max(0, counts.waiting - 1);
    tail.pop();
  }
  const nextWaitId = tail.length ? tail[tail.length - 1] : undefined;
  const prio = Array.isArray(v[10]) ? (v[10] as unknown[]) : [];
  const delayed = Array.isArray(v[11]) ? (v[11] as unknown[]) : [];
  const delayedScore = delayed.length >= 2 ? Number(delayed[1]) : NaN;
  return {
    name,
    found,
    counts,
    isPaused: meta[0] !== null && meta[0] !== undefined,
    ...(nextWaitId !== undefined ? { nextWaitId } : {}),
    ...(prio.length ? { nextPrioritizedId: String(prio[0]) } : {}),
    ...(Number.isFinite(delayedScore) ? { earliestDelayedDue: Math.floor(delayedScore / 0x1000) } : {}),
  };
}

type Collected =
  | { kind: 'none'; reason: string; fix: string }
  | { kind: 'down'; error: string }
  | { kind: 'ok'; redis: RedisClient; prefix: string; discovery: Discovery; queues: QueueState[]; evictionPolicy?: string };

const collections = new WeakMap<CheckContext, Promise<Collected>>();

/** One collection per diagnostics run (keyed on the run's context), shared by the three checks. */
function collect(ctx: CheckContext): Promise<Collected> {
  let p = collections.get(ctx);
  if (!p) {
    p = runCollect(ctx);
    collections.set(ctx, p);
  }
  return p;
}

async function runCollect(ctx: CheckContext): Promise<Collected> {
  const redis = ctx.queueRedis;
  const cfg = ctx.config.checks.queues;
  if (!redis || redis.driver === 'memory') {
    return {
      kind: 'none',
      reason: 'no queue Redis configured: the in-memory fallback holds no BullMQ queues',
      fix: `Set REDIS_URL (or the variable named by checks.queues.redisUrlEnv) to the Redis your BullMQ workers use.`,
    };
  }
  const start = performance.now();
  const limit = Math.max(1, Math.floor(ctx.timeoutMs * 0.9));
  try {
    return await withTimeout(
      async (): Promise<Collected> => {
        // Discovery gets half the time; whatever it found by then is still read and reported.
        const discovery: Discovery = cfg.names
          ? { names: [...new Set(cfg.names)], source: 'config', scanCalls: 0 }
          : await discoverQueues(redis, cfg, start + ctx.timeoutMs * 0.5);
        const commands: RedisArg[][] = [['INFO', 'memory'], ...discovery.names.flatMap((q) => queueCommands(cfg.prefix, q))];
        const res = await redis.pipeline(commands);
        const info = res[0];
        const evictionPolicy = info?.ok ? parseInfo(info.value).fields.maxmemory_policy : undefined;
        const queues = discovery.names
          .map((q, i) => readQueue(q, res.slice(1 + i * PER_QUEUE, 1 + (i + 1) * PER_QUEUE)))
          // A discovered queue obliterated between SCAN and the pipeline is gone; a named one is reported missing.
          .filter((q) => q.found || discovery.source === 'config' || q.error);
        const counts: Record<string, QueueCounts> = {};
        for (const q of queues) if (q.found && !q.error) counts[q.name] = q.counts;
        ctx.snapshot.set('queue_counts', counts);
        return { kind: 'ok', redis, prefix: cfg.prefix, discovery, queues, ...(evictionPolicy ? { evictionPolicy } : {}) };
      },
      limit,
      'queue collection',
    );
  } catch (err) {
    return { kind: 'down', error: redactSecrets(messageOf(err)).slice(0, 300) };
  }
}

function notCollected(c: Collected): CheckOutcome | undefined {
  if (c.kind === 'none') return skipped(c.reason, c.fix);
  if (c.kind === 'down') return errored(`queue Redis did not answer: ${c.error}`);
  return undefined;
}

/** " (discovery truncated: …)" when SCAN stopped early, so a clean result is never over-read. */
function truncation(d: Discovery): string {
  return d.truncated ? ` (discovery truncated: ${d.truncated}; queues beyond are not counted)` : '';
}

const TRUNCATION_FIX = 'List your queues in checks.queues.names (no SCAN needed), or raise checks.queues.maxScanCalls / scanCount.';

const readable = (c: Extract<Collected, { kind: 'ok' }>) => c.queues.filter((q) => q.found && !q.error);

// ---------------------------------------------------------------------------------------------------
// Absolute limits (checks.queues.limits): graded on every run, the first included

/** One queue's limits: those under `"*"`, with the queue's own keys over them. */
export function limitsFor(config: OpsbookConfig, queue: string): QueueLimits {
  const all = config.checks.queues.limits;
  return { ...all['*'], ...all[queue] } as QueueLimits;
}

interface Breach {
  queue: string;
  status: 'warn' | 'fail';
  text: string;
}

/** Queues at or past a warn/fail pair of limits. */
function breaches(
  config: OpsbookConfig,
  values: Array<{ queue: string; value: number | undefined }>,
  keys: [warn: keyof QueueLimits, fail: keyof QueueLimits],
  describe: (value: number, limit: number, level: 'warn' | 'fail') => string,
): Breach[] {
  const out: Breach[] = [];
  for (const { queue, value } of values) {
    if (value === undefined) continue;
    const l = limitsFor(config, queue);
    const [w, f] = [l[keys[0]], l[keys[1]]];
    if (f !== undefined && value >= f) out.push({ queue, status: 'fail', text: `${queue}: ${describe(value, f, 'fail')}` });
    else if (w !== undefined && value >= w) out.push({ queue, status: 'warn', text: `${queue}: ${describe(value, w, 'warn')}` });
  }
  return out;
}

/** An outcome with the limits it breaches: the worse status, the breaches named first (failures first). */
function withBreaches(base: CheckOutcome, breached: Breach[], hint?: CheckOutcome['hint']): CheckOutcome {
  if (breached.length === 0) return base;
  const found = [...breached].sort((a, b) => (a.status === b.status ? 0 : a.status === 'fail' ? -1 : 1));
  const status = worst([base.status, ...found.map((b) => b.status)]);
  const named = `${found.slice(0, 3).map((b) => b.text).join('; ')}${found.length > 3 ? `; ${found.length - 3} more` : ''}`;
  return { ...base, status, summary: `${named}; ${base.summary}`, hint: base.status === 'ok' || !base.hint ? (hint ?? base.hint) : base.hint };
}

const anyAgeLimit = (config: OpsbookConfig) =>
  Object.values(config.checks.queues.limits).some((l) => l.oldestWaitingWarnSeconds !== undefined || l.oldestWaitingFailSeconds !== undefined);

// ---------------------------------------------------------------------------------------------------
// queues.backlog

async function runBacklog(ctx: CheckContext, now: Date): Promise<CheckOutcome> {
  const base = await backlogBase(ctx);
  const c = await collect(ctx);
  if (c.kind !== 'ok') return base;
  const qs = readable(c);
  const found = breaches(ctx.config, qs.map((q) => ({ queue: q.name, value: readyCount(q) })), ['waitingWarn', 'waitingFail'], (n, limit, level) => `${n} jobs waiting (${level} at ${limit})`);
  if (anyAgeLimit(ctx.config)) {
    const times = await readyTimes(ctx, c);
    if (!('error' in times)) {
      const ages = qs.map((q) => {
        const since = times.get(q.name);
        return { queue: q.name, value: readyCount(q) > 0 && since !== undefined ? Math.max(0, Math.round((now.getTime() - since) / 1000)) : undefined };
      });
      found.push(...breaches(ctx.config, ages, ['oldestWaitingWarnSeconds', 'oldestWaitingFailSeconds'], (s, limit, level) => `the oldest waiting job ready for ${duration(s)} (${level} at ${duration(limit)})`));
    }
  }
  return withBreaches(base, found, {
    text: 'Jobs arrive faster than workers finish them: add worker concurrency or instances, or look for a slow dependency in the job handler (its logs, its p99).',
  });
}

async function backlogBase(ctx: CheckContext): Promise<CheckOutcome> {
  const c = await collect(ctx);
  const none = notCollected(c);
  if (none || c.kind !== 'ok') return none!;
  const qs = readable(c);
  const missing = c.queues.filter((q) => !q.found && !q.error).map((q) => q.name);
  const broken = c.queues.filter((q) => q.error);
  const backlogOf = (q: QueueState) => q.counts.waiting + q.counts.paused + q.counts.prioritized + q.counts.delayed;
  const sum = (f: (k: QueueCounts) => number) => qs.reduce((s, q) => s + f(q.counts), 0);
  const rows = [...qs]
    .sort((a, b) => backlogOf(b) - backlogOf(a) || a.name.localeCompare(b.name))
    .map((q) => ({ queue: q.name, ...q.counts, isPaused: q.isPaused }));
  const bounded = topN<Record<string, unknown>>([...rows, ...broken.map((q) => ({ queue: q.name, error: q.error }))], DETAILS);
  const total = qs.reduce((s, q) => s + backlogOf(q), 0);
  const extra = { value: total, unit: 'jobs', ...bounded };
  const tail = truncation(c.discovery) + (broken.length ? `; ${broken.length} unreadable` : '');

  if (qs.length === 0 && missing.length === 0) {
    return ok(`no BullMQ queues under prefix "${c.prefix}"${tail}`, {
      ...extra,
      hint: { text: c.discovery.truncated ? TRUNCATION_FIX : `If you use BullMQ, check checks.queues.prefix: it must be the prefix your queues use ("bull" unless set).` },
    });
  }
  const summary =
    `${qs.length} queue(s): ${sum((k) => k.waiting + k.paused)} waiting, ${sum((k) => k.active)} active, ` +
    `${sum((k) => k.prioritized)} prioritized, ${sum((k) => k.delayed)} delayed, ${sum((k) => k.failed)} failed${tail}`;
  if (missing.length) {
    return warn(`queue(s) not found under prefix "${c.prefix}": ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? '…' : ''}; ${summary}`, {
      ...extra,
      hint: { text: 'A queue listed in checks.queues.names has no meta hash: check its name and the prefix, or whether it was obliterated.' },
    });
  }
  // BullMQ requires noeviction: with any other policy Redis may delete job hashes and lists under memory pressure.
  if (c.evictionPolicy && c.evictionPolicy !== 'noeviction') {
    return warn(`maxmemory-policy is ${c.evictionPolicy}, BullMQ needs noeviction; ${summary}`, {
      ...extra,
      hint: { text: 'Set maxmemory-policy noeviction on the queue Redis (or use a separate Redis for caching): under memory pressure Redis would evict jobs.' },
    });
  }
  return ok(summary, { ...extra, ...(c.discovery.truncated ? { hint: { text: TRUNCATION_FIX } } : {}) });
}

// ---------------------------------------------------------------------------------------------------
// queues.stuck

/**
 * When a job became ready to run, from its hash: added at `timestamp`, due `opts.delay` later (BullMQ
 * zeroes the `delay` field when it promotes a delayed job, but keeps the original in `opts`), and no
 * earlier than its last attempt (`processedOn`) for a retried job.
 */
export function readySince(fields: unknown): number | undefined {
  if (!Array.isArray(fields)) return undefined;
  const [timestamp, processedOn, opts] = fields as unknown[];
  const ts = Number(timestamp);
  if (timestamp === null || timestamp === undefined || !Number.isFinite(ts)) return undefined;
  let delay = 0;
  if (typeof opts === 'string') {
    try {
      const d = Number((JSON.parse(opts) as { delay?: unknown }).delay);
      if (Number.isFinite(d) && d > 0) delay = d;
    } catch {
      // Unparseable opts: the add time is the best we know.
    }
  }
  const processed = Number(processedOn);
  return Math.max(ts + delay, processedOn !== null && Number.isFinite(processed) ? processed : 0);
}

const ages = new WeakMap<CheckContext, Promise<Map<string, number> | { error: string }>>();

/** Queues whose ready work nobody may be taking: jobs ready, nothing active. */
function candidates(qs: QueueState[]): QueueState[] {
  return qs.filter((q) => q.counts.active === 0 && (readyCount(q) > 0 || q.earliestDelayedDue !== undefined));
}

const readyCount = (q: QueueState) => q.counts.waiting + q.counts.paused + q.counts.prioritized;

/** Candidates whose next jobs need their hashes read (the delayed ones are aged by their score). */
const needLookup = (qs: QueueState[]) => candidates(qs).filter((q) => readyCount(q) > 0);

/** Since when the next job of each candidate queue has been ready (ms): ONE more pipeline, bounded. */
function readyTimes(ctx: CheckContext, c: Extract<Collected, { kind: 'ok' }>): Promise<Map<string, number> | { error: string }> {
  let p = ages.get(ctx);
  if (!p) {
    p = (async () => {
      const lookups: Array<{ queue: string; cmd: RedisArg[] }> = [];
      // Stuck candidates first; then, when age limits are set, every other queue with jobs waiting.
      const extra = anyAgeLimit(ctx.config) ? readable(c).filter((q) => readyCount(q) > 0 && !needLookup(readable(c)).includes(q)) : [];
      for (const q of [...needLookup(readable(c)), ...extra].slice(0, MAX_AGE_LOOKUPS)) {
        for (const id of [q.nextWaitId, q.nextPrioritizedId]) {
          if (id !== undefined) lookups.push({ queue: q.name, cmd: ['HMGET', `${c.prefix}:${q.name}:${id}`, 'timestamp', 'processedOn', 'opts'] });
        }
      }
      const out = new Map<string, number>();
      if (lookups.length === 0) return out;
      try {
        const res = await withTimeout(() => c.redis.pipeline(lookups.map((l) => l.cmd)), Math.max(1, Math.floor(ctx.timeoutMs * 0.4)), 'queue job ages');
        lookups.forEach((l, i) => {
          const slot = res[i];
          const since = slot?.ok ? readySince(slot.value) : undefined;
          if (since !== undefined) out.set(l.queue, Math.min(out.get(l.queue) ?? Infinity, since));
        });
        return out;
      } catch (err) {
        return { error: redactSecrets(messageOf(err)).slice(0, 300) };
      }
    })();
    ages.set(ctx, p);
  }
  return p;
}

async function runStuck(ctx: CheckContext, now: Date): Promise<CheckOutcome> {
  const c = await collect(ctx);
  const none = notCollected(c);
  if (none || c.kind !== 'ok') return none!;
  const limitS = ctx.config.checks.queues.stuckAfterSeconds;
  const times = await readyTimes(ctx, c);
  if ('error' in times) return errored(`queue Redis did not answer the job lookups: ${times.error}`);
  const nowMs = now.getTime();
  const cands = candidates(readable(c));

  const rows = cands
    .map((q) => {
      // The earliest of: the next waiting/prioritized job's ready time, an overdue delayed job's due time.
      const due = q.earliestDelayedDue !== undefined && q.earliestDelayedDue <= nowMs ? q.earliestDelayedDue : undefined;
      const since = Math.min(times.get(q.name) ?? Infinity, due ?? Infinity);
      const ageS = Number.isFinite(since) ? Math.max(0, Math.round((nowMs - since) / 1000)) : undefined;
      const old = ageS !== undefined && ageS > limitS;
      return {
        queue: q.name,
        state: old ? (q.isPaused ? 'paused' : 'stuck') : 'ok',
        ready: readyCount(q),
        overdueDelayed: due !== undefined,
        active: q.counts.active,
        oldestReadySeconds: ageS ?? null,
      };
    })
    .filter((r) => r.ready > 0 || r.overdueDelayed)
    .sort((a, b) => (b.oldestReadySeconds ?? -1) - (a.oldestReadySeconds ?? -1));
  const stuck = rows.filter((r) => r.state === 'stuck');
  const paused = rows.filter((r) => r.state === 'paused');
  const bounded = topN<Record<string, unknown>>(rows, DETAILS);
  const unchecked = Math.max(0, needLookup(readable(c)).length - MAX_AGE_LOOKUPS);
  const tail = truncation(c.discovery) + (unchecked ? `; ${unchecked} idle queue(s) beyond the first ${MAX_AGE_LOOKUPS} not checked` : '');
  const describe = (r: (typeof rows)[number]) =>
    `${r.queue}: ${r.ready ? `${r.ready} job(s) ready` : 'delayed jobs overdue'}, the oldest for ${duration(r.oldestReadySeconds ?? 0)}, nothing active`;

  if (stuck.length) {
    const names = stuck.map((r) => r.queue);
    return fail(`${stuck.length} stuck queue(s): ${stuck.slice(0, 3).map(describe).join('; ')}${stuck.length > 3 ? '; …' : ''}${tail}`, {
      value: stuck.length,
      unit: 'queues',
      ...bounded,
      hint: {
        text:
          `No worker is taking jobs from ${names.slice(0, 5).join(', ')}${names.length > 5 ? '…' : ''}. Check the worker: is it deployed and running, ` +
          `connected to this Redis with prefix "${c.prefix}", and not crashing at startup (its logs)? Retrying does not help: these jobs have not failed, nothing is processing them.`,
      },
    });
  }
  if (paused.length) {
    return warn(`${paused.length} paused queue(s) with jobs waiting: ${paused.slice(0, 3).map(describe).join('; ')}${tail}`, {
      value: 0,
      unit: 'queues',
      ...bounded,
      hint: { text: `Resume ${paused.map((r) => r.queue).slice(0, 5).join(', ')} (queue.resume()) unless the pause is intended: a paused queue looks like a dead worker to its users.` },
    });
  }
  const qs = readable(c);
  return ok(`no stuck queue among ${qs.length} (stuck: jobs ready for over ${duration(limitS)} with nothing active)${tail}`, {
    value: 0,
    unit: 'queues',
    ...(rows.length ? bounded : {}),
    ...(c.discovery.truncated ? { hint: { text: TRUNCATION_FIX } } : {}),
  });
}

// ---------------------------------------------------------------------------------------------------
// queues.failed

type Baseline = { takenAt: string; failed: Map<string, number> } | { missing: string };

/** The previous snapshot's failed counts. Postgres being down is an expected outcome: no baseline. */
async function previousFailed(ctx: CheckContext): Promise<Baseline> {
  try {
    // caps() is shared with the Postgres checks (one round trip per run); bounded so a Postgres that
    // never answers still leaves time to report the counts.
    const caps = await withTimeout(() => ctx.pg.caps(), Math.max(1, Math.floor(ctx.timeoutMs * 0.5)), 'previous snapshot');
    const prev = caps.previous['queue_counts'];
    if (!prev) return { missing: 'no previous snapshot to compare with' };
    const failed = new Map<string, number>();
    if (prev.data && typeof prev.data === 'object') {
      for (const [q, counts] of Object.entries(prev.data as Record<string, unknown>)) {
        const f = Number((counts as { failed?: unknown } | null)?.failed);
        if (Number.isFinite(f)) failed.set(q, f);
      }
    }
    return { takenAt: prev.takenAt, failed };
  } catch (err) {
    return { missing: `no previous snapshot available (Postgres: ${redactSecrets(messageOf(err)).slice(0, 150)})` };
  }
}

async function runFailed(ctx: CheckContext, now: Date): Promise<CheckOutcome> {
  const [c, baseline] = await Promise.all([collect(ctx), previousFailed(ctx)]);
  const none = notCollected(c);
  if (none || c.kind !== 'ok') return none!;
  const qs = readable(c);
  const total = qs.reduce((s, q) => s + q.counts.failed, 0);
  const tail = truncation(c.discovery);
  const threshold = ctx.config.checks.queues.failedGrowthWarn;
  const found = breaches(ctx.config, qs.map((q) => ({ queue: q.name, value: q.counts.failed })), ['failedWarn', 'failedFail'], (n, limit, level) => `${n} failed (${level} at ${limit})`);
  const retryHint = (queue: string) =>
    actionHint(`Read a failed job's failedReason in ${queue} and fix the cause first; then retry its failed jobs (try the dry run).`, '/api/admin/queues/retry', { queue });
  return withBreaches(failedGrowth(now, qs, baseline, total, tail, threshold), found, found[0] && retryHint(found[0].queue));
}

function failedGrowth(now: Date, qs: QueueState[], baseline: Baseline, total: number, tail: string, threshold: number): CheckOutcome {
  if ('missing' in baseline) {
    const rows = qs.filter((q) => q.counts.failed > 0).sort((a, b) => b.counts.failed - a.counts.failed).map((q) => ({ queue: q.name, failed: q.counts.failed }));
    return ok(`${total} failed job(s) in ${qs.length} queue(s); ${baseline.missing}, so growth is unknown${tail}`, {
      value: total,
      unit: 'jobs',
      ...(rows.length ? topN<Record<string, unknown>>(rows, DETAILS) : {}),
      hint: { text: 'Failed-job growth is measured between snapshots: run diagnostics with snapshots on (and Postgres reachable) to track it.' },
    });
  }

  // A queue absent from the previous snapshot has no baseline: it is listed, never counted as growth.
  const rows = qs
    .map((q) => {
      const prev = baseline.failed.get(q.name);
      return { queue: q.name, failed: q.counts.failed, previous: prev ?? null, growth: prev === undefined ? null : q.counts.failed - prev };
    })
    .filter((r) => r.failed > 0 || (r.growth ?? 0) !== 0)
    .sort((a, b) => (b.growth ?? -Infinity) - (a.growth ?? -Infinity) || b.failed - a.failed);
  const grown = rows.filter((r) => r.growth !== null && r.growth >= threshold);
  const since = duration(Math.max(0, (now.getTime() - Date.parse(baseline.takenAt)) / 1000));
  const bounded = rows.length ? topN<Record<string, unknown>>(rows, DETAILS) : {};
  if (grown.length) {
    const top = grown[0]!;
    return warn(
      `failed jobs grew since the previous snapshot (${since} ago): ${grown
        .slice(0, 3)
        .map((r) => `${r.queue} +${r.growth}`)
        .join(', ')}${grown.length > 3 ? ', …' : ''}; ${total} failed in total${tail}`,
      {
        value: total,
        unit: 'jobs',
        ...bounded,
        hint: actionHint(
          `Read a failed job's failedReason in ${top.queue} and fix the cause first; then retry its failed jobs (try the dry run).`,
          '/api/admin/queues/retry',
          { queue: top.queue },
        ),
      },
    );
  }
  return ok(`${total} failed job(s), no growth of ${threshold} or more since the previous snapshot (${since} ago)${tail}`, { value: total, unit: 'jobs', ...bounded });
}

function check(id: string, title: string, severity: Severity, run: (ctx: CheckContext, now: Date) => Promise<CheckOutcome>): Check {
  return { id, title, family: 'queues', severity, needs: ['queue-redis'], run };
}

export const family: CheckFamily = {
  family: 'queues',
  checks(config) {
    if (!config.checks.queues.enabled) return [];
    return [
      check('queues.backlog', 'Queue backlog', 'P3', runBacklog),
      check('queues.stuck', 'Stuck queues', 'P2', runStuck),
      check('queues.failed', 'Failed jobs', 'P3', runFailed),
    ];
  },
};
