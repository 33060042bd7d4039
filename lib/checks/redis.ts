import type { RedisThresholds } from '../config/index.js';
import { messageOf } from '../errors.js';
import { redactSecrets } from '../env.js';
import type { PipelineResult, RedisClient } from '../redis/index.js';
import { redisKeyPrefixOf } from '../redis/keys.js';
import { withTimeout } from '../timeout.js';
import { bytes, errored, fail, ok, skipped, warn } from './outcome.js';
import type { Check, CheckContext, CheckFamily, CheckOutcome, Severity } from './types.js';

/**
 * The Redis family: six checks over ONE pipeline (PING, INFO, DBSIZE, SLOWLOG GET 10, one SCAN page), the same over
 * TCP (ioredis) and Upstash REST. The pipeline is memoised per diagnostics run (keyed on the run's
 * CheckContext), so however many of the six are selected the run costs one round trip.
 */

// ---------------------------------------------------------------------------------------------------
// INFO parsing

export interface RedisInfo {
  /** Lower-case section name ("memory", "stats"…) → fields, in the order Redis printed them. */
  sections: Record<string, Record<string, string>>;
  /** Every field, whatever its section (the first occurrence wins; names are unique in practice). */
  fields: Record<string, string>;
}

/**
 * Parse INFO's text: `# Section` headers, `name:value` lines (the value may itself hold colons, e.g.
 * `executable:/usr/bin/redis-server` or `db0:keys=1,expires=0`), CRLF or LF line ends, blank lines,
 * and anything else (a provider's own banner) ignored. Never throws: a reply that is not text parses
 * as empty, and every check then says which field was missing.
 */
export function parseInfo(text: unknown): RedisInfo {
  const sections: RedisInfo['sections'] = {};
  const fields: RedisInfo['fields'] = {};
  if (typeof text !== 'string') return { sections, fields };
  let section = '';
  for (const raw of text.split(/\r\n|\r|\n/)) {
    const line = raw.trim();
    if (line === '') continue;
    if (line.startsWith('#')) {
      section = line.replace(/^#+/, '').trim().toLowerCase();
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    (sections[section] ??= {})[name] = value;
    if (!(name in fields)) fields[name] = value;
  }
  return { sections, fields };
}

/** A numeric INFO field, or undefined when absent or not a number (e.g. Upstash omits some). */
export function infoNumber(info: RedisInfo, name: string): number | undefined {
  const v = info.fields[name];
  if (v === undefined || v.trim() === '') return undefined;
  const n = Number(v);
  return Number.isFinite(n) ? n : undefined;
}

/** `keys=12,expires=3,avg_ttl=0` → { keys: 12, expires: 3, avg_ttl: 0 }. */
export function parseKeyspaceValue(value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of value.split(',')) {
    const [k, v] = part.split('=');
    if (k && v !== undefined && Number.isFinite(Number(v))) out[k.trim()] = Number(v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Grading, as pure functions of INFO (exported for table tests)

/**
 * Redis' own MEMORY DOCTOR only calls fragmentation a problem above 10 MB of excess: on a small
 * dataset RSS is dominated by the allocator's fixed overhead and the ratio is meaningless (a fresh
 * Redis holding 1 MB routinely reports 5).
 */
export const FRAGMENTATION_MIN_EXCESS_BYTES = 10 * 1024 * 1024;

export function gradeMemory(info: RedisInfo, t: Pick<RedisThresholds, 'memoryWarnPct' | 'fragmentationWarn'> & Partial<Pick<RedisThresholds, 'memoryFailPct'>>): CheckOutcome {
  const used = infoNumber(info, 'used_memory');
  if (used === undefined) {
    return skipped('INFO has no used_memory field: this Redis does not report memory', 'Look at memory in your provider’s console.');
  }
  const max = infoNumber(info, 'maxmemory');
  const policy = info.fields.maxmemory_policy;
  const ratio = infoNumber(info, 'mem_fragmentation_ratio');
  const rss = infoNumber(info, 'used_memory_rss');
  const fragBytes = infoNumber(info, 'mem_fragmentation_bytes') ?? (rss !== undefined ? rss - used : undefined);
  const evicted = infoNumber(info, 'evicted_keys');
  const pct = max ? Math.round((used / max) * 1000) / 10 : undefined;

  const problems: string[] = [];
  const fixes: string[] = [];
  const notes: string[] = [];
  const memoryFails = pct !== undefined && t.memoryFailPct !== undefined && pct > t.memoryFailPct;
  if (pct !== undefined && pct > t.memoryWarnPct) {
    problems.push(`memory at ${pct}% of maxmemory (${bytes(used)} of ${bytes(max!)}), above ${memoryFails ? `${t.memoryFailPct}% (fail)` : `${t.memoryWarnPct}%`}`);
    fixes.push('free memory (find big keys with `redis-cli --bigkeys`, give cache keys a TTL) or raise maxmemory / the plan');
  }
  if (ratio !== undefined && ratio > t.fragmentationWarn) {
    if (fragBytes !== undefined && fragBytes >= FRAGMENTATION_MIN_EXCESS_BYTES) {
      problems.push(`fragmentation ratio ${ratio} (${bytes(fragBytes)} held beyond the data), above ${t.fragmentationWarn}`);
      fixes.push('enable `activedefrag yes` (Redis ≥ 4 with jemalloc) or restart Redis at a quiet time');
    } else {
      notes.push(`fragmentation ratio ${ratio} ignored: under ${bytes(FRAGMENTATION_MIN_EXCESS_BYTES)} of excess, the ratio is allocator overhead`);
    }
  }
  if (evicted !== undefined && evicted > 0) {
    problems.push(`${evicted} key(s) evicted since Redis started (policy ${policy ?? 'unknown'})`);
    fixes.push('raise maxmemory or review maxmemory-policy; a Redis holding BullMQ queues must use noeviction, or jobs are lost');
  }
  const details = [
    {
      usedMemory: used,
      maxmemory: max ?? null,
      usedPct: pct ?? null,
      maxmemoryPolicy: policy ?? null,
      fragmentationRatio: ratio ?? null,
      fragmentationBytes: fragBytes ?? null,
      evictedKeys: evicted ?? null,
      ...(notes.length ? { notes } : {}),
    },
  ];
  const extra = { value: used, unit: 'bytes', details };
  if (problems.length) return (memoryFails ? fail : warn)(problems.join('; '), { ...extra, hint: { text: `To fix: ${fixes.join('; ')}.` } });
  const usage = max ? `${bytes(used)} used of ${bytes(max)} maxmemory (${pct}%)` : `${bytes(used)} used, no maxmemory limit (Redis grows until the host runs out)`;
  return ok(notes.length ? `${usage}; ${notes.join('; ')}` : usage, extra);
}

export function gradeClients(info: RedisInfo): CheckOutcome {
  const connected = infoNumber(info, 'connected_clients');
  if (connected === undefined) {
    return skipped('INFO has no connected_clients field: this Redis does not report clients', 'Look at connections in your provider’s console.');
  }
  const rejected = infoNumber(info, 'rejected_connections');
  // INFO clients carries maxclients since Redis 7; CONFIG GET is not available on Upstash, so we do without.
  const maxclients = infoNumber(info, 'maxclients');
  const blocked = infoNumber(info, 'blocked_clients');
  const details = [{ connectedClients: connected, maxclients: maxclients ?? null, blockedClients: blocked ?? null, rejectedConnections: rejected ?? null }];
  const of = maxclients ? ` of ${maxclients} allowed` : '';
  if (rejected !== undefined && rejected > 0) {
    return warn(`${rejected} connection(s) rejected since Redis started (maxclients reached); ${connected} connected${of}`, {
      value: connected,
      unit: 'clients',
      details,
      hint: {
        text: 'Redis refused connections at its limit. Look for leaked connections (every serverless instance opens its own; close clients, use one per instance), lower pool sizes, or raise maxclients / the plan.',
      },
    });
  }
  return ok(`${connected} client(s) connected${of}, none rejected`, { value: connected, unit: 'clients', details });
}

/** Fewer lookups than this since start and the hit rate says nothing. */
export const HIT_RATE_MIN_LOOKUPS = 1000;

/** Keys one SCAN call samples for the hit-rate check (SCAN 0 COUNT n, in the shared pipeline). */
export const KEY_SAMPLE = 200;

/**
 * What the current database holds, from one SCAN page: how many sampled keys are BullMQ's (under
 * `<queues.prefix>:`), how many are Opsbook's own rate-limit windows (under `redisKeyPrefix`), and so
 * how many are anything else. Only counts are kept: key names are the application's data.
 */
export interface KeySample {
  sampled: number;
  queueKeys: number;
  ownKeys: number;
  /** The queue prefix and Opsbook's, as shown to people ("bull:", "opsbook:"). */
  prefixes: [queue: string, own: string];
}

/** A SCAN reply ([cursor, [keys…]]) → the sample's counts, or undefined when it is not one. */
export function sampleKeys(reply: unknown, queuePrefix: string, ownPrefix: string): KeySample | undefined {
  if (!Array.isArray(reply) || reply.length < 2 || !Array.isArray(reply[1])) return undefined;
  const keys = (reply[1] as unknown[]).map(String);
  const queueKeys = keys.filter((k) => k.startsWith(queuePrefix)).length;
  const ownKeys = keys.filter((k) => !k.startsWith(queuePrefix) && k.startsWith(ownPrefix)).length;
  return { sampled: keys.length, queueKeys, ownKeys, prefixes: [queuePrefix, ownPrefix] };
}

/**
 * A Redis that only serves queues: the sample holds BullMQ keys and nothing else but Opsbook's own
 * rate-limit windows. BullMQ polls and checks keys that are not there by design (markers, locks,
 * delayed sets), so its hit rate is low on a healthy system. One other key in the sample (a cache
 * key, a session) and the Redis is graded as a cache; so is one holding no BullMQ key at all.
 */
export const isQueueOnly = (s: KeySample | undefined): s is KeySample => !!s && s.queueKeys > 0 && s.queueKeys + s.ownKeys === s.sampled;

export function gradeHitRate(info: RedisInfo, t: Pick<RedisThresholds, 'hitRateWarnPct'>, sample?: KeySample): CheckOutcome {
  const hits = infoNumber(info, 'keyspace_hits');
  const misses = infoNumber(info, 'keyspace_misses');
  if (hits === undefined || misses === undefined) {
    return skipped('INFO has no keyspace_hits/keyspace_misses fields: this Redis does not report its hit rate', 'Look at the hit rate in your provider’s console.');
  }
  const lookups = hits + misses;
  const details = [{ keyspaceHits: hits, keyspaceMisses: misses, lookups, ...(sample ? { sampledKeys: sample.sampled, queueKeys: sample.queueKeys, opsbookKeys: sample.ownKeys } : {}) }];
  if (lookups < HIT_RATE_MIN_LOOKUPS) {
    return ok(`only ${lookups} key lookup(s) since Redis started: too few to judge the hit rate`, { details });
  }
  const rate = Math.round((hits / lookups) * 1000) / 10;
  if (rate < t.hitRateWarnPct) {
    if (isQueueOnly(sample)) {
      return ok(
        `keyspace hit rate ${rate}% not graded: this Redis serves queues only (of ${sample.sampled} sampled keys, ${sample.queueKeys} are BullMQ's ${sample.prefixes[0]}*${sample.ownKeys ? ` and ${sample.ownKeys} Opsbook's own ${sample.prefixes[1]}*` : ''}), and queues miss by design`,
        { value: rate, unit: '%', details },
      );
    }
    return warn(`keyspace hit rate ${rate}% (${hits} hits, ${misses} misses), below ${t.hitRateWarnPct}%`, {
      value: rate,
      unit: '%',
      details,
      hint: {
        text: 'Most lookups miss. For a cache, check key names and TTLs (keys expiring before they are read). A Redis holding only BullMQ keys is not graded; one used for other non-cache data misses by design too: lower hitRateWarnPct for it.',
      },
    });
  }
  return ok(`keyspace hit rate ${rate}% over ${lookups} lookups`, { value: rate, unit: '%', details });
}

export interface SlowlogRow extends Record<string, unknown> {
  id: number;
  at: string;
  durationMs: number;
  command: string;
  /** Arguments after the command name (counted, never shown). */
  argCount: number;
}

/**
 * SLOWLOG GET entries (RESP2: [id, unix seconds, µs, [argv…], client addr, client name]) → rows.
 *
 * Only the command name and the NUMBER of its arguments are kept. The arguments are the keys and
 * values the application sent: session tokens, e-mail addresses, API keys, cached personal data,
 * EVALSHA script arguments. Redis itself only hides AUTH-like arguments, so a report that echoed the
 * slow log would leak whatever the slowest commands carried. The client address and name are dropped
 * for the same reason. Which arguments are keys cannot be told without COMMAND GETKEYS, which would
 * send the arguments back to the server: the count of arguments is what stays.
 */
export function parseSlowlog(value: unknown): SlowlogRow[] {
  if (!Array.isArray(value)) return [];
  const rows: SlowlogRow[] = [];
  for (const e of value) {
    if (!Array.isArray(e) || e.length < 4 || !Array.isArray(e[3])) continue;
    const argv = (e[3] as unknown[]).map(String);
    let argCount = Math.max(0, argv.length - 1);
    // Redis keeps at most 32 arguments and replaces the rest with "... (N more arguments)".
    const more = /^\.\.\. \((\d+) more arguments\)$/.exec(argv[argv.length - 1] ?? '');
    if (more && argv.length > 1) argCount = argv.length - 2 + Number(more[1]);
    const seconds = Number(e[1]);
    rows.push({
      id: Number(e[0]),
      at: Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : 'unknown',
      durationMs: Math.round(Number(e[2]) / 100) / 10,
      command: (argv[0] ?? '?').toUpperCase().slice(0, 40),
      argCount,
    });
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------------
// The shared round trip

const PIPELINE = [['PING'], ['INFO'], ['DBSIZE'], ['SLOWLOG', 'GET', 10], ['SCAN', '0', 'COUNT', KEY_SAMPLE]];

type Probe =
  | { kind: 'memory' }
  | { kind: 'down'; error: string }
  | { kind: 'answered'; driver: RedisClient['driver']; rttMs: number; ping: PipelineResult; info: PipelineResult; dbsize: PipelineResult; slowlog: PipelineResult; scan?: PipelineResult };

/** One probe per diagnostics run: the run's CheckContext is the key, so the six checks share it. */
const probes = new WeakMap<CheckContext, Promise<Probe>>();

function probe(ctx: CheckContext): Promise<Probe> {
  let p = probes.get(ctx);
  if (!p) {
    p = runProbe(ctx.deps.redis, ctx.timeoutMs);
    probes.set(ctx, p);
  }
  return p;
}

async function runProbe(redis: RedisClient, timeoutMs: number): Promise<Probe> {
  // The in-memory fallback is not a server: its numbers would describe this process, not Redis.
  if (redis.driver === 'memory') return { kind: 'memory' };
  const start = performance.now();
  try {
    // A little under the check's own limit, so the checks say "Redis did not answer", not "timed out".
    const res = await withTimeout(() => redis.pipeline(PIPELINE), Math.max(1, Math.floor(timeoutMs * 0.9)), 'redis diagnostics pipeline');
    const rttMs = Math.round((performance.now() - start) * 10) / 10;
    const [ping, info, dbsize, slowlog, scan] = res;
    if (!ping || !info || !dbsize || !slowlog) return { kind: 'down', error: `the pipeline answered ${res.length} of ${PIPELINE.length} replies` };
    return { kind: 'answered', driver: redis.driver, rttMs, ping, info, dbsize, slowlog, ...(scan ? { scan } : {}) };
  } catch (err) {
    return { kind: 'down', error: redactSecrets(messageOf(err)).slice(0, 300) };
  }
}

const MEMORY_REASON = 'in-memory fallback: set REDIS_URL or UPSTASH_REDIS_REST_URL';
const MEMORY_FIX =
  'No Redis is configured, so Opsbook uses a Map inside this process and there is no server to measure. Set REDIS_URL (TCP) or UPSTASH_REDIS_REST_URL and UPSTASH_REDIS_REST_TOKEN.';

/** What every check answers when there is no answer to read. */
function notAnswered(p: Probe): CheckOutcome | undefined {
  if (p.kind === 'memory') return skipped(MEMORY_REASON, MEMORY_FIX);
  if (p.kind === 'down') return errored(`Redis did not answer: ${p.error}`);
  return undefined;
}

function isUnsupported(error: string): boolean {
  return /not available|unknown command|not supported/i.test(error);
}

/** INFO's reply, or the outcome explaining why there is none. */
function infoOf(p: Extract<Probe, { kind: 'answered' }>): RedisInfo | CheckOutcome {
  if (!p.info.ok) {
    const error = redactSecrets(p.info.error).slice(0, 200);
    if (/NOPERM/i.test(error)) return skipped(`INFO is not permitted for this Redis user: ${error}`, 'Grant it: ACL SETUSER <user> +info.');
    if (isUnsupported(error)) return skipped(`INFO is not available on this Redis: ${error}`, 'Look at these figures in your provider’s console.');
    return errored(`INFO failed: ${error}`);
  }
  return parseInfo(p.info.value);
}

function withInfo(grade: (info: RedisInfo, ctx: CheckContext, p: Extract<Probe, { kind: 'answered' }>) => CheckOutcome) {
  return async (ctx: CheckContext): Promise<CheckOutcome> => {
    const p = await probe(ctx);
    const none = notAnswered(p);
    if (none || p.kind !== 'answered') return none!;
    const info = infoOf(p);
    return 'status' in info ? (info as CheckOutcome) : grade(info, ctx, p);
  };
}

/** The current database's key sample, counted against the BullMQ prefix and Opsbook's own. */
function keySampleOf(p: Extract<Probe, { kind: 'answered' }>, config: CheckContext['config']): KeySample | undefined {
  if (!p.scan?.ok) return undefined;
  return sampleKeys(p.scan.value, `${config.checks.queues.prefix}:`, redisKeyPrefixOf(config));
}

// ---------------------------------------------------------------------------------------------------
// The checks

async function runPing(ctx: CheckContext): Promise<CheckOutcome> {
  const p = await probe(ctx);
  const none = notAnswered(p);
  if (none || p.kind !== 'answered') return none!;
  if (!p.ping.ok) return errored(`PING answered an error: ${redactSecrets(p.ping.error).slice(0, 200)}`);
  if (p.ping.value !== 'PONG') return errored(`PING answered ${JSON.stringify(p.ping.value).slice(0, 50)} instead of PONG`);
  const limit = ctx.config.checks.redis.thresholds.pingWarnMs;
  // The figure is the whole pipeline's round trip (PING, INFO, DBSIZE, SLOWLOG): an upper bound on
  // PING's own, and what a request to this Redis costs from here.
  const summary = `PONG in ${p.rttMs} ms over ${p.driver === 'upstash' ? 'Upstash REST' : 'TCP'} (one round trip)`;
  if (p.rttMs > limit) {
    return warn(`${summary}, above ${limit} ms`, {
      value: p.rttMs,
      unit: 'ms',
      hint: { text: 'Redis is slow to answer from here: check the region (functions and Redis should be co-located), the provider’s status page, and the slow log.' },
    });
  }
  return ok(summary, { value: p.rttMs, unit: 'ms' });
}

async function runDbsize(ctx: CheckContext): Promise<CheckOutcome> {
  const p = await probe(ctx);
  const none = notAnswered(p);
  if (none || p.kind !== 'answered') return none!;
  if (!p.dbsize.ok) return errored(`DBSIZE failed: ${redactSecrets(p.dbsize.error).slice(0, 200)}`);
  const keys = Number(p.dbsize.value);
  if (!Number.isFinite(keys)) return errored(`DBSIZE answered ${JSON.stringify(p.dbsize.value).slice(0, 50)}`);
  // The keyspace section lists every database with keys; informational, and bounded (16 by default).
  const keyspace = p.info.ok ? parseInfo(p.info.value).sections.keyspace ?? {} : {};
  const details = Object.entries(keyspace)
    .slice(0, 16)
    .map(([db, v]) => {
      const k = parseKeyspaceValue(v);
      return { db, keys: k.keys ?? null, expires: k.expires ?? null };
    });
  return ok(`${keys} key(s) in the current database`, { value: keys, unit: 'keys', ...(details.length ? { details } : {}) });
}

async function runSlowlog(ctx: CheckContext): Promise<CheckOutcome> {
  const p = await probe(ctx);
  const none = notAnswered(p);
  if (none || p.kind !== 'answered') return none!;
  if (!p.slowlog.ok) {
    const error = redactSecrets(p.slowlog.error).slice(0, 200);
    if (isUnsupported(error)) {
      const where = p.driver === 'upstash' ? 'Upstash' : 'this Redis';
      return skipped(
        `SLOWLOG is not available on ${where}: ${error}`,
        p.driver === 'upstash' ? 'Upstash does not expose the slow log; look at latency in the Upstash console.' : 'Look at slow commands in your provider’s console.',
      );
    }
    if (/NOPERM/i.test(error)) return skipped(`SLOWLOG is not permitted for this Redis user: ${error}`, 'Grant it: ACL SETUSER <user> +slowlog|get.');
    return errored(`SLOWLOG GET failed: ${error}`);
  }
  const rows = parseSlowlog(p.slowlog.value).slice(0, 10);
  if (rows.length === 0) return ok('no slow commands logged', { value: 0, unit: 'ms' });
  const slowest = rows.reduce((a, b) => (b.durationMs > a.durationMs ? b : a));
  return ok(`${rows.length} recent slow command(s); slowest ${slowest.durationMs} ms (${slowest.command})`, {
    value: slowest.durationMs,
    unit: 'ms',
    details: rows,
  });
}

function check(id: string, title: string, severity: Severity, run: (ctx: CheckContext, now: Date) => Promise<CheckOutcome>): Check {
  return { id, title, family: 'redis', severity, needs: ['redis'], run };
}

export const family: CheckFamily = {
  family: 'redis',
  checks(config) {
    if (!config.checks.redis.enabled) return [];
    return [
      check('redis.ping', 'Redis round trip', 'P2', runPing),
      check('redis.memory', 'Redis memory', 'P2', withInfo((info, ctx) => gradeMemory(info, ctx.config.checks.redis.thresholds))),
      check('redis.clients', 'Redis clients', 'P3', withInfo((info) => gradeClients(info))),
      check('redis.hit-rate', 'Redis keyspace hit rate', 'P4', withInfo((info, ctx, p) => gradeHitRate(info, ctx.config.checks.redis.thresholds, keySampleOf(p, ctx.config)))),
      check('redis.dbsize', 'Redis keys', 'P4', runDbsize),
      check('redis.slowlog', 'Redis slow log', 'P3', runSlowlog),
    ];
  },
};
