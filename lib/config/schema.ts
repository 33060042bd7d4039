import * as z from 'zod';
import { readOnlyProblem } from './sql-guard.js';
import { scheduleSchema } from '../checklists/schedule.js';
import { TASK_PARAMS } from '../tasks/params.js';
import { cronProblem } from '../heartbeats.js';

/**
 * Opsbook's configuration, as code (`opsbook.config.ts`). Everything has a default, so an empty config
 * is valid and gives the general-purpose checks. Unknown keys are rejected: a typo in a threshold must
 * not silently fall back to the default.
 */

const id = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, _ or -, at most 63 characters');
const positive = z.number().positive();
const percent = z.number().min(0).max(100);

/** A header value: a literal, or `{ env: "NAME" }`, read from the environment and never printed. */
export const secretValue = z.union([
  z.string().max(4096),
  z.strictObject({
    /** The environment variable holding the value. @example "API_HEALTH_TOKEN" */
    env: z.string().regex(/^[A-Z_][A-Z0-9_]*$/),
  }),
]);

export const severity = z.enum(['P1', 'P2', 'P3', 'P4']);
export type Severity = z.output<typeof severity>;

export const postgresThresholds = z.strictObject({
  /** Warn when connections in use exceed this share of max_connections. @default 80 */
  connectionsWarnPct: percent.default(80),
  /** Fail at this share. @default 95 */
  connectionsFailPct: percent.default(95),
  /** A transaction idle longer than this is reported. @default 60 */
  idleInTransactionSeconds: positive.default(60),
  /** A query running longer than this is long-running. @default 60 */
  longRunningSeconds: positive.default(60),
  /** Slow query: mean time at or above this… @default 20 */
  slowQueryMeanMs: positive.default(20),
  /** …and at least this many calls. @default 100 */
  slowQueryMinCalls: z.number().int().min(1).default(100),
  /** Warn below this cache hit rate. @default 99 */
  cacheHitWarnPct: percent.default(99),
  /** Fail below this cache hit rate: most reads go to disk. @default 90 */
  cacheHitFailPct: percent.default(90),
  /** Warn when fewer transaction IDs than this remain before wraparound. @default 1500000000 */
  wraparoundWarnRemaining: positive.default(1_500_000_000),
  /** Warn when a sequence has used this share of its type's range. @default 90 */
  sequenceWarnPct: percent.default(90),
  /** An index with 0 scans and at least this size is unused. @default 10485760 (10 MB) */
  unusedIndexMinBytes: z.number().int().min(0).default(10 * 1024 * 1024),
  /** Dead tuples: warn above this share of live tuples… @default 20 */
  deadTuplesWarnPct: percent.default(20),
  /** …for tables with at least this many dead tuples. @default 10000 */
  deadTuplesMinRows: z.number().int().min(0).default(10_000),
  /** Warn when a table with changes has not been (auto)vacuumed or analyzed for this many days. @default 7 */
  vacuumStaleDays: positive.default(7),
  /**
   * Missing index (PgHero's): a table with at least missingIndexMinRows rows whose scans use an index
   * less than this share of the time. @default 95
   */
  missingIndexWarnPct: percent.default(95),
  /** Tables smaller than this many rows are not judged for missing indexes (a sequential scan is fine there). @default 10000 */
  missingIndexMinRows: z.number().int().min(0).default(10_000),
  /** Tables smaller than this are not estimated for bloat (the estimate is noise on small tables). @default 104857600 (100 MB) */
  bloatMinBytes: z.number().int().min(0).default(100 * 1024 * 1024),
  /** Warn when a table's estimated bloat (space beyond what its live rows need) reaches this share of it. @default 50 */
  bloatWarnPct: percent.default(50),
  /** Warn when the database reaches sizeLimitBytes within this many days at its measured growth. @default 30 */
  growthWarnDays: positive.default(30),
  /** Fail within this many days (or at the limit). @default 7 */
  growthFailDays: positive.default(7),
  /** Replica lag warn threshold. @default 5 */
  replicationLagWarnSeconds: positive.default(5),
  /** Replica lag fail threshold: reads from the replica are badly stale. @default 60 */
  replicationLagFailSeconds: positive.default(60),
  /** Rows shown per finding; the rest are counted. @default 10 */
  topN: z.number().int().min(1).max(100).default(10),
});

export const redisThresholds = z.strictObject({
  /** Warn above this share of maxmemory. @default 80 */
  memoryWarnPct: percent.default(80),
  /** Fail above this share of maxmemory: writes are refused or keys evicted soon. @default 95 */
  memoryFailPct: percent.default(95),
  /** Warn above this fragmentation ratio. @default 1.5 */
  fragmentationWarn: positive.default(1.5),
  /** Warn below this keyspace hit rate (when there were enough lookups). @default 80 */
  hitRateWarnPct: percent.default(80),
  /** Warn when PING takes longer. @default 100 */
  pingWarnMs: positive.default(100),
});

/**
 * The same keys as `thresholds`, none required and none defaulted: a target's thresholds override only
 * what they name and inherit the rest from the main target's.
 */
function overridesOf<T extends z.core.$ZodShape>(thresholds: z.ZodObject<T>) {
  const shape = Object.fromEntries(
    Object.entries(thresholds.shape).map(([key, field]) => [key, (field instanceof z.ZodDefault ? (field.unwrap() as z.ZodType) : (field as z.ZodType)).optional()]),
  );
  return z.strictObject(shape);
}

/** A target's name, as check ids carry it after `@` (`postgres.vacuum@staging`). `main` is the default target's. */
export const targetName = z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'a target name starts with a letter: lower-case letters, digits or -, at most 31 characters');

/** Targets by name; `main` is taken (a record key's own refinement would only say "Invalid key"). */
function targetsOf<T extends z.ZodType>(target: T) {
  return z
    .record(targetName, target)
    .refine((r) => !Object.hasOwn(r, 'main'), { message: '"main" names the default target (DATABASE_URL or databaseUrlEnv; REDIS_URL or Upstash); pick another name', path: ['main'] })
    .default({});
}

const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'must be an environment variable name (A-Z, 0-9, _)');

/** A check selector within one target's families: `postgres.vacuum`, `postgres.activity` or `redis.memory`. */
const targetCheckSelector = z.string().min(1).max(100).regex(/^[a-z0-9._-]+$/, 'a check id or family, without @target');

/**
 * Another Postgres database to diagnose beside the main one: staging, a replica, the restore-test
 * database. Its checks carry `@name` in their ids (`postgres.vacuum@staging`) and `target: name` in
 * results; while it is down, `postgres.reachable@name` is the one root cause, and only its own checks are
 * suppressed. Opsbook's own state stays in DATABASE_URL.
 */
export const postgresTarget = z.strictObject({
  /** Environment variable holding the target's postgres:// URL (a Neon host selects the HTTP driver). It is treated as a secret. @example "STAGING_DATABASE_URL" */
  urlEnv: envName,
  /**
   * The Postgres checks to run there, by id or family; `postgres.reachable` always runs. All when omitted.
   * @example ["postgres.activity", "postgres.replication"]
   */
  checks: z.array(targetCheckSelector).min(1).max(100).optional(),
  /** Thresholds for this target; a key left out inherits `checks.postgres.thresholds`. @example { "connectionsWarnPct": 90 } */
  thresholds: overridesOf(postgresThresholds).default({}),
  /** This database's size limit in bytes (postgres.growth@name); the main target's when omitted. */
  sizeLimitBytes: z.number().int().positive().optional(),
});

/**
 * Another Redis to diagnose beside the main one (a cache apart from the queues, a staging Redis). Set
 * `urlEnv` for redis:// over TCP, or `restUrlEnv` with `restTokenEnv` for Upstash REST.
 */
export const redisTarget = z
  .strictObject({
    /** Environment variable holding a redis:// or rediss:// URL. @example "CACHE_REDIS_URL" */
    urlEnv: envName.optional(),
    /** Environment variable holding an Upstash REST URL (with restTokenEnv). @example "CACHE_UPSTASH_URL" */
    restUrlEnv: envName.optional(),
    /** Environment variable holding the Upstash REST token. @example "CACHE_UPSTASH_TOKEN" */
    restTokenEnv: envName.optional(),
    /** The Redis checks to run there, by id; `redis.ping` always runs. All when omitted. @example ["redis.memory"] */
    checks: z.array(targetCheckSelector).min(1).max(100).optional(),
    /** Thresholds for this target; a key left out inherits `checks.redis.thresholds`. @example { "memoryWarnPct": 90 } */
    thresholds: overridesOf(redisThresholds).default({}),
  })
  .refine((t) => (t.urlEnv === undefined) !== (t.restUrlEnv === undefined && t.restTokenEnv === undefined), 'set either urlEnv, or restUrlEnv with restTokenEnv')
  .refine((t) => (t.restUrlEnv === undefined) === (t.restTokenEnv === undefined), 'restUrlEnv and restTokenEnv go together');

/**
 * Absolute limits for one queue (or every queue, under `"*"`): graded on every run, a first one included,
 * where failed-job growth needs a previous snapshot. Each pair is warn, then fail; either may be left out.
 */
export const queueLimits = z
  .strictObject({
    /** Warn when the queue holds at least this many failed jobs. @example 5 */
    failedWarn: z.number().int().min(1).optional(),
    /** Fail at this many failed jobs. @example 50 */
    failedFail: z.number().int().min(1).optional(),
    /** Warn when at least this many jobs are waiting (waiting, paused and prioritized). @example 1000 */
    waitingWarn: z.number().int().min(1).optional(),
    /** Fail at this many waiting jobs. @example 10000 */
    waitingFail: z.number().int().min(1).optional(),
    /** Warn when the oldest waiting job has been ready this many seconds, workers busy or not. @example 300 */
    oldestWaitingWarnSeconds: positive.optional(),
    /** Fail at this age of the oldest waiting job, in seconds. @example 1800 */
    oldestWaitingFailSeconds: positive.optional(),
  })
  .refine((l) => !(l.failedWarn && l.failedFail && l.failedWarn > l.failedFail), 'failedWarn must not exceed failedFail')
  .refine((l) => !(l.waitingWarn && l.waitingFail && l.waitingWarn > l.waitingFail), 'waitingWarn must not exceed waitingFail')
  .refine(
    (l) => !(l.oldestWaitingWarnSeconds && l.oldestWaitingFailSeconds && l.oldestWaitingWarnSeconds > l.oldestWaitingFailSeconds),
    'oldestWaitingWarnSeconds must not exceed oldestWaitingFailSeconds',
  );

/**
 * Compare a check's number with its own history, from the results checklist runs stored: "transactions
 * dropped more than 50 % against last week", "p99 above twice its baseline".
 */
export const baselineRule = z
  .strictObject({
    /** What to compare with: the previous stored run, or the median of the last 7 or 28 days. @default "median-7d" */
    vs: z.enum(['previous', 'median-7d', 'median-28d']).default('median-7d'),
    /** Warn at this change, in % of the baseline. @example 50 */
    warnPct: z.number().positive().optional(),
    /** Fail at this change, in %. @example 80 */
    failPct: z.number().positive().optional(),
    /** Which change is bad: a rise (`above`), a drop (`below`) or either. @default "either" */
    direction: z.enum(['above', 'below', 'either']).default('either'),
    /** Stored values a median needs before it is trusted. @default 3 */
    minSamples: z.number().int().min(1).max(100).default(3),
  })
  .refine((b) => b.warnPct !== undefined || b.failPct !== undefined, 'set warnPct, failPct or both')
  .refine((b) => b.warnPct === undefined || b.failPct === undefined || b.warnPct <= b.failPct, 'warnPct must not exceed failPct');

export const queuesConfig = z.strictObject({
  /** BullMQ key prefix. @default "bull" */
  prefix: z.string().min(1).max(64).default('bull'),
  /** Environment variable holding the queue Redis URL when it is not the main Redis. */
  redisUrlEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
  /** A queue with waiting jobs, the oldest older than this, and nothing active is stuck. @default 300 */
  stuckAfterSeconds: positive.default(300),
  /** Warn when failed jobs grew by at least this since the previous snapshot. @default 1 */
  failedGrowthWarn: z.number().int().min(1).default(1),
  /**
   * Absolute limits by queue name; `"*"` applies to every queue, and a named queue's keys override it.
   * @default {}
   * @example { "*": { "failedWarn": 1, "failedFail": 50 }, "emails": { "waitingWarn": 500, "oldestWaitingFailSeconds": 900 } }
   */
  limits: z.record(z.string().min(1).max(200).regex(/^[^:]+$/, 'a BullMQ queue name cannot contain ":"'), queueLimits).default({}),
  /** SCAN COUNT hint per call. @default 1000 */
  scanCount: z.number().int().min(10).max(10_000).default(1000),
  /** Stop discovering after this many SCAN calls (bounded work on huge keyspaces). @default 2000 */
  maxScanCalls: z.number().int().min(1).default(2000),
  /**
   * The queues to inspect, by name. When set, discovery (SCAN) is skipped and exactly these are
   * reported, a missing one included: use it on a huge keyspace or to be told when a queue vanishes.
   */
  names: z.array(z.string().min(1).max(200).regex(/^[^:]+$/, 'a BullMQ queue name cannot contain ":"')).min(1).max(1000).optional(),
});

/**
 * What a check needs: `postgres`, `redis`, a target of theirs (`postgres@staging`), or another check's id
 * (`tcp.api-host`). While a need is down, the check reports `suppressed: <need> unreachable` and raises no
 * alert of its own.
 * @default []
 * @example ["dns.api", "tcp.api-host"]
 */
const needs = z
  .array(
    z
      .string()
      .regex(/^(postgres|redis|[a-z][a-z0-9_-]*\.[a-z0-9_.-]+)(@[a-z][a-z0-9-]*)?$/, 'must be "postgres", "redis" or a check id such as "tcp.api", each with an optional @target ("postgres@staging")'),
  )
  .max(20)
  .default([]);

export const httpCheck = z.strictObject({
  /** The check's id, unique in its family: results read `http.<id>`. Lower-case letters, digits, _ or -. @example "api" */
  id,
  /** Shown in the report instead of the id. @example "Public API" */
  title: z.string().max(200).optional(),
  /** The URL to request. @example "https://api.example.com/healthz" */
  url: z.string().url(),
  /** The HTTP method. @default "GET" */
  method: z.enum(['GET', 'HEAD', 'POST']).default('GET'),
  /**
   * Request headers: a literal value, or `{ env: "NAME" }` to read it from the environment (a token),
   * which is treated as a secret and never printed.
   * @example { "authorization": { "env": "API_HEALTH_TOKEN" } }
   */
  headers: z.record(z.string(), secretValue).default({}),
  /** The request body (with POST). */
  body: z.string().max(10_000).optional(),
  /** Expected status codes. @default [200] */
  expectStatus: z.array(z.number().int().min(100).max(599)).default([200]),
  /** Slower than this → warn. @default 1000 */
  degradedMs: positive.default(1000),
  /** Slower than this → fail. @default 5000 */
  failMs: positive.default(5000),
  /** Gatus-style conditions on the JSON body, e.g. `{ path: "status", op: "eq", value: "ok" }`. */
  conditions: z
    .array(
      z.strictObject({
        /**
         * Where in the JSON body: keys joined by dots, list indexes as `[0]` or `.0` (`[-1]` is the last element),
         * `.length` for a list's size, `["odd.key"]` for a key containing dots; `$.` or `[BODY].` in front is allowed.
         * @example "data.result[0].value[1]"
         */
        path: z.string().max(200),
        /**
         * How the value there is compared with `value`. `lt`/`lte`/`gt`/`gte` compare numbers, and a string that reads as a
         * number (Prometheus sends "0.35") counts as that number; `eq`/`neq` compare 120 and "120" as equal; `contains` looks in
         * a string, a list or an object's keys; `exists` checks the path is there (`value: false`: that it is not).
         * @default "eq"
         */
        op: z.enum(['eq', 'neq', 'lt', 'lte', 'gt', 'gte', 'contains', 'exists']).default('eq'),
        /** What to compare with. @example "ok" */
        value: z.union([z.string(), z.number(), z.boolean(), z.null()]).optional(),
      }),
    )
    .default([]),
  /** Retries on network errors only (never on an HTTP answer). @default 1 */
  retries: z.number().int().min(0).max(5).default(1),
  /** Give up after this long; the check is then an error, not a hang. @default 5000 */
  timeoutMs: positive.max(60_000).default(5000),
  /**
   * What this check needs: `postgres`, `redis`, a target (`postgres@staging`) or another check's id (`tcp.api-host`). While
   * one is down this check reports `suppressed` with that root cause and raises no alert of its own.
   * @default []
   * @example ["tcp.api-host"]
   */
  needs,
  /** How urgent a failure is, in reports and Sentry: P1 (wake someone) to P4 (look when convenient). @default "P2" */
  severity: severity.default('P2'),
});

export const tlsCheck = z.strictObject({
  /** The check's id, unique in its family: results read `tls.<id>`. Lower-case letters, digits, _ or -. @example "api-cert" */
  id,
  /** The host whose certificate is checked (also sent as SNI). @example "api.example.com" */
  host: z.string().min(1).max(253),
  /** The TLS port. @default 443 */
  port: z.number().int().min(1).max(65535).default(443),
  /** Warn when the certificate expires within this many days. @default 21 */
  warnDays: positive.default(21),
  /** Fail when it expires within this many days (or is invalid). @default 7 */
  failDays: positive.default(7),
  /** Trust these extra CA certificates (PEM), e.g. a private CA. */
  ca: z.string().optional(),
  /** Give up after this long; the check is then an error, not a hang. @default 5000 */
  timeoutMs: positive.max(60_000).default(5000),
  /**
   * What this check needs: `postgres`, `redis`, a target (`postgres@staging`) or another check's id (`tcp.api-host`). While
   * one is down this check reports `suppressed` with that root cause and raises no alert of its own.
   * @default []
   * @example ["tcp.api-host"]
   */
  needs,
  /** How urgent a failure is, in reports and Sentry: P1 (wake someone) to P4 (look when convenient). @default "P2" */
  severity: severity.default('P2'),
});

export const dnsCheck = z.strictObject({
  /** The check's id, unique in its family: results read `dns.<id>`. Lower-case letters, digits, _ or -. @example "api" */
  id,
  /** The name to resolve. @example "api.example.com" */
  name: z.string().min(1).max(253),
  /** The record type asked for. @default "A" */
  type: z.enum(['A', 'AAAA', 'CNAME', 'MX', 'TXT', 'NS']).default('A'),
  /** When set, the answers must include every one of these. */
  expect: z.array(z.string()).optional(),
  /** DNS server to ask (host or host:port); the system resolver otherwise. */
  server: z.string().optional(),
  /** Give up after this long; the check is then an error, not a hang. @default 3000 */
  timeoutMs: positive.max(60_000).default(3000),
  /**
   * What this check needs: `postgres`, `redis`, a target (`postgres@staging`) or another check's id (`tcp.api-host`). While
   * one is down this check reports `suppressed` with that root cause and raises no alert of its own.
   * @default []
   * @example ["tcp.api-host"]
   */
  needs,
  /** How urgent a failure is, in reports and Sentry: P1 (wake someone) to P4 (look when convenient). @default "P2" */
  severity: severity.default('P2'),
});

export const tcpCheck = z.strictObject({
  /** The check's id, unique in its family: results read `tcp.<id>`. Lower-case letters, digits, _ or -. @example "api-host" */
  id,
  /** The host to connect to. @example "db.internal.example.com" */
  host: z.string().min(1).max(253),
  /** The TCP port. @example 5432 */
  port: z.number().int().min(1).max(65535),
  /** Give up after this long; the check is then an error, not a hang. @default 3000 */
  timeoutMs: positive.max(60_000).default(3000),
  /**
   * What this check needs: `postgres`, `redis`, a target (`postgres@staging`) or another check's id (`tcp.api-host`). While
   * one is down this check reports `suppressed` with that root cause and raises no alert of its own.
   * @default []
   * @example ["tcp.api-host"]
   */
  needs,
  /** How urgent a failure is, in reports and Sentry: P1 (wake someone) to P4 (look when convenient). @default "P3" */
  severity: severity.default('P3'),
});

export const statusPageCheck = z.strictObject({
  /** The check's id, unique in its family: results read `statuspage.<id>`. Lower-case letters, digits, _ or -. @example "stripe" */
  id,
  /** Shown in the report instead of the id. @example "Stripe" */
  title: z.string().max(200).optional(),
  /** Base URL of an Atlassian Statuspage, e.g. https://status.stripe.com (…/api/v2/status.json is added), or the full status.json URL. */
  url: z.string().url(),
  /** Give up after this long; the check is then an error, not a hang. @default 5000 */
  timeoutMs: positive.max(60_000).default(5000),
  /**
   * What this check needs: `postgres`, `redis`, a target (`postgres@staging`) or another check's id (`tcp.api-host`). While
   * one is down this check reports `suppressed` with that root cause and raises no alert of its own.
   * @default []
   * @example ["tcp.api-host"]
   */
  needs,
  /** How urgent a failure is, in reports and Sentry: P1 (wake someone) to P4 (look when convenient). @default "P3" */
  severity: severity.default('P3'),
});

export const sqlMetric = z.strictObject({
  /** The check's id, unique in its family: results read `sql.<id>`. Lower-case letters, digits, _ or -. @example "signups-today" */
  id,
  /** Shown in the report. @example "Sign-ups today" */
  title: z.string().max(200),
  /** One SELECT or WITH statement returning one number (first column of the first row). */
  sql: z
    .string()
    .min(1)
    .max(10_000)
    .superRefine((sql, ctx) => {
      const problem = readOnlyProblem(sql);
      if (problem) ctx.addIssue({ code: 'custom', message: `SQL ${problem}` });
    }),
  /** Values for `$1`, `$2`… in `sql`. @default [] */
  params: z.array(z.union([z.string(), z.number(), z.boolean(), z.null()])).default([]),
  /** Higher is worse (`above`) or lower is worse (`below`). @default "above" */
  direction: z.enum(['above', 'below']).default('above'),
  /**
   * Warn when the value is beyond this level in the worse direction: greater than it (`above`) or less than it
   * (`below`); equal to it is not beyond. For "warn at 0 workers" with `below`, write 1.
   * @example 100
   */
  warn: z.number().optional(),
  /** Fail when the value is beyond this level, by the same rule as `warn`. @example 1000 */
  fail: z.number().optional(),
  /** Shown beside the value. @example "jobs" */
  unit: z.string().max(20).optional(),
  /** Give up after this long; the check is then an error, not a hang. @default 5000 */
  timeoutMs: positive.max(60_000).default(5000),
  /**
   * What this check needs: `postgres`, `redis`, a target (`postgres@staging`) or another check's id (`tcp.api-host`). While
   * one is down this check reports `suppressed` with that root cause and raises no alert of its own.
   * @default []
   * @example ["tcp.api-host"]
   */
  needs,
  /** How urgent a failure is, in reports and Sentry: P1 (wake someone) to P4 (look when convenient). @default "P3" */
  severity: severity.default('P3'),
});

/** A five-field cron expression (UTC), checked by croner when the config loads. */
const cronExpression = z
  .string()
  .max(200)
  .superRefine((cron, ctx) => {
    const problem = cronProblem(cron);
    if (problem) ctx.addIssue({ code: 'custom', message: `invalid cron expression: ${problem}` });
  });

/** A metric a host pushes with its heartbeat ping, and how it is graded. */
export const heartbeatMetric = z
  .strictObject({
    /** Shown in the report. @example "Disk used on /" */
    title: z.string().max(200).optional(),
    /** Unit shown beside the value. @example "%" */
    unit: z.string().max(20).optional(),
    /** Warn when the value is greater than this (less than it with direction "below"); equal is not beyond. @example 80 */
    warn: z.number().optional(),
    /** Fail when the value is greater than this (less than it with direction "below"). @example 90 */
    fail: z.number().optional(),
    /** Which way is worse. @default "above" */
    direction: z.enum(['above', 'below']).default('above'),
  })
  .refine((m) => m.warn === undefined || m.fail === undefined || (m.direction === 'below' ? m.warn >= m.fail : m.warn <= m.fail), 'warn must come before fail in the direction that is worse');

/** A metric's name as a ping carries it: `disk_used_pct`. */
export const metricName = z.string().regex(/^[a-z][a-z0-9_]{0,62}$/, 'a metric name: lower-case letters, digits and _, starting with a letter');

export const heartbeat = z
  .strictObject({
    /** The name in the ping URL (`/api/heartbeats/<name>`) and in the check id `heartbeat.<name>`. @example "db-backup" */
    name: id,
    /** Shown in the report instead of the name. @example "Nightly database backup" */
    title: z.string().max(200).optional(),
    /** Expected every N seconds: a success is due this long after the last one (set this or `cron`). @example 86400 */
    periodSeconds: positive.optional(),
    /**
     * Or expected at these times: a five-field cron (minute hour day-of-month month day-of-week, UTC; names like MON and
     * steps work). Once a scheduled time passes, the heartbeat is late until a success pinged after that
     * time, and down `graceSeconds` later. So ping when the job finishes: with `0 2 * * *`, a ping at 01:55 counts for the day before, not for 02:00.
     * @example "0 2 * * 0"
     */
    cron: cronExpression.optional(),
    /** Time allowed after a success is due before the heartbeat is down (late until then). @default 3600 */
    graceSeconds: z.number().min(0).default(3600),
    /** Recovery point objective: the last success must be at most this old. */
    rpoSeconds: positive.optional(),
    /** How urgent a missed or failed ping is: P1 (wake someone) to P4. @default "P2" */
    severity: severity.default('P2'),
    /**
     * Numbers the job pushes with its ping (`{"metrics":{"disk_used_pct":71}}` or `?disk_used_pct=71`),
     * each a check `heartbeat.<name>.<metric>` graded by its levels. A ping naming an undeclared metric is
     * refused (400), so a typo on the host shows at once. A ping can carry metrics and an exit code together
     * (`/api/heartbeats/<name>/<code>` with the JSON body); each metric is graded whatever the exit code says.
     * @default {}
     * @example { "disk_used_pct": { "warn": 80, "fail": 90, "unit": "%" }, "backup_bytes": { "fail": 1000000, "direction": "below" } }
     */
    metrics: z.record(metricName, heartbeatMetric).default({}),
  })
  .refine((h) => (h.periodSeconds === undefined) !== (h.cron === undefined), 'set exactly one of periodSeconds or cron')
  .refine((h) => !('name' in h.metrics) && !('action' in h.metrics), 'metrics cannot be named "name" or "action" (Vercel passes the path segments under those names)');

export const checksConfig = z.strictObject({
  /**
   * The Postgres checks (`postgres.*`): connections, locks, slow queries, vacuum, indexes, storage, replication.
   * @example { "thresholds": { "connectionsWarnPct": 70, "slowQueryMeanMs": 50 }, "sizeLimitBytes": 10737418240 }
   */
  postgres: z
    .strictObject({
      /** Run them; false leaves Postgres out of diagnostics and checklists. @default true */
      enabled: z.boolean().default(true),
      /** When a Postgres figure warns or fails. */
      thresholds: postgresThresholds.default(postgresThresholds.parse({})),
      /**
       * Environment variable holding the URL of the database to diagnose, when it is not the one Opsbook
       * keeps its own state in (DATABASE_URL). Postgres checks and SQL metrics then run there, and an
       * outage of that database is reported (one root cause) instead of stopping the checklist.
       * @example "APP_DATABASE_URL"
       */
      databaseUrlEnv: z.string().regex(/^[A-Z_][A-Z0-9_]*$/).optional(),
      /**
       * The database size not to outgrow, in bytes (a plan's storage limit): postgres.growth says how
       * many days are left at the measured rate, and warns or fails by growthWarnDays / growthFailDays. The rate comes from
       * the database sizes that stored checklist runs record (any run that includes postgres.database-size, or the snapshot
       * task), one a day, so it needs two days of runs.
       * @example 10737418240
       */
      sizeLimitBytes: z.number().int().positive().optional(),
      /**
       * More databases to diagnose, by name: ids read `postgres.vacuum@staging`, `?target=staging` filters,
       * and checklists select `postgres@staging`.
       * @example { "staging": { "urlEnv": "STAGING_DATABASE_URL" }, "restore-test": { "urlEnv": "RESTORE_DATABASE_URL", "checks": ["postgres.storage"] } }
       */
      targets: targetsOf(postgresTarget),
    })
    .default({ enabled: true, thresholds: postgresThresholds.parse({}), targets: {} }),
  /** The Redis checks (`redis.*`): ping, memory, clients, hit rate, keys, slow log. @example { "thresholds": { "memoryWarnPct": 70 } } */
  redis: z
    .strictObject({
      /** Run them; false leaves Redis out of diagnostics and checklists. @default true */
      enabled: z.boolean().default(true),
      /** When a Redis figure warns or fails. */
      thresholds: redisThresholds.default(redisThresholds.parse({})),
      /**
       * More Redis servers to diagnose, by name: ids read `redis.memory@cache`.
       * @example { "cache": { "urlEnv": "CACHE_REDIS_URL" } }
       */
      targets: targetsOf(redisTarget),
    })
    .default({ enabled: true, thresholds: redisThresholds.parse({}), targets: {} }),
  /** The BullMQ queue checks (`queues.*`): stuck queues, backlog, failed jobs. @example { "prefix": "bull", "names": ["emails", "billing"], "limits": { "*": { "failedWarn": 1 } } } */
  queues: z
    .strictObject({
      /** Run them; false leaves queues out. @default true */
      enabled: z.boolean().default(true),
    }).and(queuesConfig).default({ enabled: true, ...queuesConfig.parse({}) }),
  /**
   * HTTP endpoints to request (`http.<id>`): status, latency, JSON conditions.
   * @default []
   * @example [{ "id": "api", "url": "https://api.example.com/healthz", "conditions": [{ "path": "status", "value": "ok" }] }]
   */
  http: z.array(httpCheck).default([]),
  /** TLS certificates to watch for expiry (`tls.<id>`). @default [] @example [{ "id": "api", "host": "api.example.com" }] */
  tls: z.array(tlsCheck).default([]),
  /** DNS names that must resolve, optionally to given answers (`dns.<id>`). @default [] @example [{ "id": "mail", "name": "example.com", "type": "MX" }] */
  dns: z.array(dnsCheck).default([]),
  /** TCP ports that must accept a connection (`tcp.<id>`). @default [] @example [{ "id": "smtp", "host": "smtp.example.com", "port": 587 }] */
  tcp: z.array(tcpCheck).default([]),
  /** Vendors' Atlassian status pages (`statuspage.<id>`): a vendor's incident shows in your report. @default [] @example [{ "id": "stripe", "url": "https://status.stripe.com" }] */
  statusPages: z.array(statusPageCheck).default([]),
  /** Variables that must be set in Opsbook's own environment (the deployment's), checked by `env.required`; names only, values are never read out. @default [] @example ["STRIPE_SECRET_KEY"] */
  requiredEnv: z.array(z.string().regex(/^[A-Z_][A-Z0-9_]*$/)).default([]),
  /**
   * Your own numbers, one read-only SQL query each (`sql.<id>`), graded by warn and fail.
   * @default []
   * @example [{ "id": "stuck-payments", "title": "Payments pending over 1 h", "sql": "SELECT count(*) FROM payments WHERE status = 'pending' AND created_at < now() - interval '1 hour'", "warn": 1, "fail": 10 }]
   */
  sqlMetrics: z.array(sqlMetric).default([]),
});


/** When a failing check becomes an alert, and when it is resolved (Gatus-style thresholds). */
export const alertThresholds = z.strictObject({
  /** Consecutive failing runs before the check alerts; fewer is `degraded`. @default 2 */
  alertAfter: z.number().int().min(1).max(100).default(2),
  /** Consecutive passing runs before an alerting check is resolved; fewer is `degraded`. @default 2 */
  recoverAfter: z.number().int().min(1).max(100).default(2),
});

export const alertsConfig = z.strictObject({
  ...alertThresholds.shape,
  /**
   * Thresholds per check, by id or family prefix; the most specific selector wins.
   * @example { "http.flaky": { "alertAfter": 3 }, "postgres": { "alertAfter": 1 } }
   */
  perCheck: z.record(z.string().min(1).max(100), alertThresholds.partial()).default({}),
});

/**
 * A maintenance window: alerts are muted while it is open, results are still recorded, and the report
 * says so. It opens at `start` (HH:MM, UTC) on the days its recurrence names, or on a cron schedule, or
 * once `at` a given instant, and lasts `durationMinutes`.
 */
export const maintenanceWindow = z
  .strictObject({
    /** The window's id, shown in the report. @example "sunday-maintenance" */
    id,
    /** Shown in the report. @example "Weekly database maintenance" */
    title: z.string().max(200).optional(),
    /** HH:MM UTC, with `weekday` or `dayOfMonth`. @default "00:00" */
    start: z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (UTC)').default('00:00'),
    /** How long the window stays open. @example 120 */
    durationMinutes: z.number().int().min(1).max(31 * 24 * 60),
    /** Every week on these days. @example ["sat", "sun"] */
    weekday: z.array(z.enum(['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'])).min(1).optional(),
    /** Every month on these days (a day past the month's end never comes). @example [1] */
    dayOfMonth: z.array(z.number().int().min(1).max(31)).min(1).optional(),
    /** Five-field cron (UTC) for when the window opens; `start` is ignored. @example "0 2 * * 0" */
    cron: cronExpression.optional(),
    /** A one-off window opening at this instant (ISO 8601 with a time zone). */
    at: z.iso.datetime({ offset: true }).optional(),
    /** Checks muted by this window, by selector (an id, a family such as `sql` or `postgres`, `@target`; see Check ids); every check when omitted. @example ["http.api"] */
    checks: z.array(z.string().min(1).max(100)).min(1).optional(),
  })
  .refine((w) => [w.weekday, w.dayOfMonth, w.cron, w.at].filter((x) => x !== undefined).length === 1, 'set exactly one of weekday, dayOfMonth, cron or at');

/** A checklist item: an automated check (by id or family), a maintenance task, or a manual to-do. */
export const checkItem = z.strictObject({
  /** A check id (`postgres.connections`) or a family / prefix (`postgres`, `http`). */
  check: z.string().min(1).max(100),
});

export const manualItem = z.strictObject({
  /** The to-do line, e.g. "Review Dependabot PRs". */
  manual: z.string().min(1).max(300),
  /** Who does it, shown beside the item. @example "@oncall" */
  owner: z.string().max(100).optional(),
  /** Where to do it (a dashboard, a doc), shown as a link. @example "https://dash.example.com/costs" */
  link: z.string().url().optional(),
  /** For rotation reminders: when it was last done (YYYY-MM-DD), shown beside the item. */
  lastDone: z.string().regex(/^\d{4}-\d{2}-\d{2}$/).optional(),
});

/** Tasks are validated by their own params schema (lib/tasks/params.ts: leaf schemas, not the task registry). */
export const taskItem = z
  .looseObject({ task: z.string().min(1).max(64) })
  .transform((value, ctx) => {
    const schema = Object.hasOwn(TASK_PARAMS, value.task) ? TASK_PARAMS[value.task] : undefined;
    if (!schema) {
      // `continue: true`: the union of item kinds then reports this branch's issue, with its path, not "Invalid input".
      ctx.addIssue({ code: 'custom', message: `unknown task "${value.task}" (known: ${Object.keys(TASK_PARAMS).join(', ') || 'none'})`, path: ['task'], continue: true });
      return z.NEVER;
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: issue.path as (string | number)[], continue: true });
      return z.NEVER;
    }
    return parsed.data as { task: string } & Record<string, unknown>;
  });

export const checklistItem = z.union([checkItem, manualItem, taskItem]);

export const checklist = z.strictObject({
  /** The checklist's id: the CLI's `opsbook run <id>`, the cron path `/api/cron/<id>`. @example "daily" */
  id,
  /** The report's title. @example "Morning checklist" */
  title: z.string().min(1).max(200),
  /** When it runs (UTC), one of the kinds below; `manual` runs only when asked. @example { "type": "daily", "at": "09:00" } */
  schedule: scheduleSchema,
  /**
   * What it does, in report order: checks (`{ check }`), maintenance tasks (`{ task, … }`) and to-dos for a person
   * (`{ manual }`).
   * @example [{ "check": "postgres" }, { "task": "analyze" }, { "manual": "Review error spikes in Sentry" }]
   */
  items: z.array(checklistItem).min(1).max(500),
  /** When to email: every run, only when something changed, or only when something fails. @default "always" */
  notify: z.enum(['always', 'on-change', 'on-failure']).default('always'),
  /** Overrides the config's recipients for this checklist. */
  recipients: z.array(z.string().email()).optional(),
  /** A run missing for longer than its period plus this is reported as missed. @default 60 */
  graceMinutes: z.number().int().min(0).max(7 * 24 * 60).default(60),
  /** Sentry cron monitor settings for this checklist's cron. @example { "checkinMargin": 5, "maxRuntime": 15 } */
  sentry: z
    .strictObject({
      /**
       * Minutes after the scheduled time before Sentry calls a check-in missed. Vercel's Hobby plan fires
       * a cron anywhere within its scheduled hour (Pro and Enterprise within the minute), so the default
       * fits every plan; on Pro a smaller margin (e.g. 5) reports a missed run sooner. @default 60 @unit min
       */
      checkinMargin: z.number().int().min(1).max(40_320).default(60),
      /** Minutes a run may take before Sentry marks it timed out. @default 10 @unit min */
      maxRuntime: z.number().int().min(1).default(10),
    })
    .default({ checkinMargin: 60, maxRuntime: 10 }),
  /** Per-item time limit, ms. @default 20000 */
  itemTimeoutMs: positive.max(300_000).default(20_000),
});

/** A value of a user state column: text (a status or enum label), a boolean or a number. */
const stateValue = z.union([z.string().min(1).max(128), z.boolean(), z.number()]);

/**
 * A user state (locked, suspended) as one column's value, so it fits a boolean column and a status
 * column alike. Setting the state writes `value`; lifting it (unlock, reinstate) writes `clear`. On a
 * column that is not boolean, a user is only moved between these two values: any other value (a ban,
 * a pending verification, another state sharing the column) is refused with 409, never overwritten.
 * @example { column: 'status', value: 'LOCKED', clear: 'ACTIVE' }
 * @example { column: 'is_locked', value: true }
 */
export const userStateMapping = z.strictObject({
  /** The column that holds the state. */
  column: z.string().min(1).max(128),
  /** What the column holds while the state is on, e.g. 'LOCKED', 'SUSPENDED' or true. */
  value: stateValue,
  /** What the column holds when it is lifted. @default the opposite of a boolean value, else 'ACTIVE' */
  clear: stateValue.optional(),
});

/** How the app's tables are named, for admin actions on users and API keys. */
export const appSchemaMapping = z.strictObject({
  /** The users table, for the users.* actions (lookup, lock, suspend, delete). @example { "table": "users", "columns": { "status": "status", "deletedAt": "deleted_at" } } */
  users: z
    .strictObject({
      /** The table's name. @example "users" */
      table: z.string().min(1).max(128),
      /** Its schema. @default "public" */
      schema: z.string().min(1).max(128).default('public'),
      /** Which columns hold what: name the ones your table has. */
      columns: z
        .strictObject({
          /** The primary key. @default "id" */
          id: z.string().default('id'),
          /** The e-mail address users are looked up by. @default "email" */
          email: z.string().default('email'),
          /** A boolean column, true while the user is locked (or use `locked` below for a state column). @example "is_locked" */
          locked: z.string().optional(),
          /** A status column (text or enum) that suspend and reinstate move between values. @example "status" */
          status: z.string().optional(),
          /** A timestamp column set when the user is suspended. @example "suspended_at" */
          suspendedAt: z.string().optional(),
          /** A text column for the suspension's reason. @example "suspension_reason" */
          suspensionReason: z.string().optional(),
          /** A timestamp column for a soft delete: users.delete sets it instead of deleting the row. @example "deleted_at" */
          deletedAt: z.string().optional(),
        })
        .default({ id: 'id', email: 'email' }),
      /**
       * Columns never returned or audited (masked), on top of every column whose name looks secret
       * (pass, secret, token, hash, salt, key, otp, …), which are always masked.
       */
      sensitive: z.array(z.string()).default(['password', 'password_hash', 'passwordHash', 'token', 'secret']),
      /**
       * users.lock as a state column. Without it, `columns.locked` names a boolean column (true = locked).
       * @example { column: 'status', value: 'LOCKED', clear: 'ACTIVE' }
       */
      locked: userStateMapping.optional(),
      /**
       * users.suspend / users.reinstate as a state column.
       * @default { column: columns.status, value: 'SUSPENDED', clear: 'ACTIVE' } when columns.status is mapped
       */
      suspended: userStateMapping.optional(),
    })
    .superRefine((u, ctx) => {
      if (u.locked && u.columns.locked) ctx.addIssue({ code: 'custom', path: ['locked'], message: 'give either users.locked (a state column) or users.columns.locked (a boolean column), not both' });
      if (u.suspended && u.columns.status && u.suspended.column !== u.columns.status) {
        ctx.addIssue({ code: 'custom', path: ['suspended', 'column'], message: `users.suspended.column ("${u.suspended.column}") differs from users.columns.status ("${u.columns.status}"): name one status column` });
      }
    })
    .optional(),
  /** The API keys table, for apikeys.revoke. @example { "table": "api_keys", "columns": { "userId": "owner_id", "revokedAt": "revoked_at" } } */
  apiKeys: z
    .strictObject({
      /** The table's name. @example "api_keys" */
      table: z.string().min(1).max(128),
      /** Its schema. @default "public" */
      schema: z.string().min(1).max(128).default('public'),
      /** Which columns hold what. */
      columns: z
        .strictObject({
          /** The primary key. @default "id" */
          id: z.string().default('id'),
          /** The owner's id. @default "user_id" */
          userId: z.string().default('user_id'),
          /** A timestamp column set on revocation (the row is kept); without it the row is deleted. @example "revoked_at" */
          revokedAt: z.string().optional(),
          /** The creation time, shown when listing a user's keys. @example "created_at" */
          createdAt: z.string().optional(),
        })
        .default({ id: 'id', userId: 'user_id' }),
    })
    .optional(),
});

/** A channel's name, as routes name it. */
const channelName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a channel name: lower-case letters, digits, _ or -, at most 63 characters');

/** Where incident messages go: a Slack incoming webhook, a signed generic webhook, or PagerDuty. Secrets come from the environment only. */
export const notificationChannel = z.discriminatedUnion('type', [
  z.strictObject({
    /** A Slack incoming webhook: one message per incident transition in its channel. @example { "type": "slack", "urlEnv": "SLACK_INCIDENTS_WEBHOOK_URL" } */
    type: z.literal('slack'),
    /** The environment variable holding the webhook URL (https://hooks.slack.com/services/…); treated as a secret. @example "SLACK_INCIDENTS_WEBHOOK_URL" */
    urlEnv: envName,
  }),
  z.strictObject({
    /** A generic webhook: the message as JSON, signed with HMAC-SHA256 over `<timestamp>.<body>` (README: Notifications). @example { "type": "webhook", "urlEnv": "OPS_WEBHOOK_URL", "secretEnv": "OPS_WEBHOOK_SECRET" } */
    type: z.literal('webhook'),
    /** The environment variable holding the receiver's URL; treated as a secret. @example "OPS_WEBHOOK_URL" */
    urlEnv: envName,
    /** The environment variable holding the shared signing secret; treated as a secret. @example "OPS_WEBHOOK_SECRET" */
    secretEnv: envName,
  }),
  z.strictObject({
    /** PagerDuty Events API v2: trigger when an incident opens (or a run is missed), resolve when it recovers, `dedup_key` = the incident. @example { "type": "pagerduty", "routingKeyEnv": "PAGERDUTY_ROUTING_KEY" } */
    type: z.literal('pagerduty'),
    /** The environment variable holding the integration's routing key; treated as a secret. @example "PAGERDUTY_ROUTING_KEY" */
    routingKeyEnv: envName,
    /** The Events API endpoint (the EU service region has its own). @default "https://events.pagerduty.com/v2/enqueue" @example "https://events.eu.pagerduty.com/v2/enqueue" */
    eventsUrl: z.string().url().default('https://events.pagerduty.com/v2/enqueue'),
  }),
]);

/** Which transitions go to which channels: a route matches when each filter it sets matches. */
export const notificationRoute = z.strictObject({
  /** Only incidents (and missed runs, at `missedRunSeverity`) of these severities; every severity when omitted. @example ["P1"] */
  severity: z.array(severity).min(1).optional(),
  /** Only these checklists' incidents and missed runs; every checklist when omitted. @example ["daily"] */
  checklists: z.array(id).min(1).optional(),
  /** The channels, by their names under `notifications.channels`. @example ["pagerduty", "slack"] */
  channels: z.array(channelName).min(1).max(20),
});

/**
 * Incident messages beyond the emailed report (which is unchanged): one message per transition (opened,
 * resolved, missed run) to each channel its routes name, never one per failing run.
 */
export const notificationsConfig = z
  .strictObject({
    /**
     * Channels by name. Their secrets (webhook URLs, signing secret, routing key) are read from the environment variables they name.
     * @default {}
     * @example { "slack": { "type": "slack", "urlEnv": "SLACK_INCIDENTS_WEBHOOK_URL" }, "pagerduty": { "type": "pagerduty", "routingKeyEnv": "PAGERDUTY_ROUTING_KEY" } }
     */
    channels: z.record(channelName, notificationChannel).default({}),
    /**
     * Routes: a transition goes to the channels of every route that matches it. Nothing matches → the email report only.
     * @default []
     * @example [{ "severity": ["P1"], "channels": ["pagerduty", "slack"] }, { "severity": ["P2"], "channels": ["slack"] }]
     */
    routes: z.array(notificationRoute).max(50).default([]),
    /** The severity a missed run is routed as. @default "P2" @example "P1" */
    missedRunSeverity: severity.default('P2'),
    /** Time limit on one request to a channel, ms. @default 3000 @example 5000 */
    timeoutMs: positive.max(30_000).default(3000),
    /** Time one invocation spends delivering, retries and Retry-After waits included (channels in parallel), ms. @default 6000 @example 8000 */
    budgetMs: positive.max(60_000).default(6000),
    /** Invocations that try a message before it is `failed` (a 4xx other than 429 fails it at once). @default 5 @example 8 */
    maxAttempts: z.number().int().min(1).max(50).default(5),
  });

/** Routes must name configured channels: a typo would otherwise page nobody (checked with the whole config, in configWithNeeds). */
function unknownChannelIssues(n: z.output<typeof notificationsConfig>, ctx: z.core.$RefinementCtx): void {
  const known = Object.keys(n.channels);
  n.routes.forEach((r, i) =>
    r.channels.forEach((c, j) => {
      if (!known.includes(c)) ctx.addIssue({ code: 'custom', path: ['notifications', 'routes', i, 'channels', j], message: `no channel named "${c}" (known: ${known.join(', ') || 'none; add it under notifications.channels'})` });
    }),
  );
}

export const configSchema = z.strictObject({
  /** The service's name, in report subjects. @default "Opsbook" */
  service: z.string().min(1).max(100).default('Opsbook'),
  /** Who gets the reports (OPSBOOK_EMAIL_TO adds to these). */
  recipients: z.array(z.string().email()).default([]),
  /** The sender of reports; OPSBOOK_EMAIL_FROM when unset. */
  sender: z.string().max(200).optional(),
  /** Dashboards linked from reports: name → URL (Sentry, Vercel, Neon…). */
  links: z.record(z.string().max(40), z.string().url()).default({}),
  /**
   * Scheduled (or on-demand) checklists: each runs its items and emails a report.
   * @default []
   * @example [{ "id": "daily", "title": "Morning checklist", "schedule": { "type": "daily", "at": "09:00" }, "items": [{ "check": "postgres" }, { "check": "redis" }, { "manual": "Review error spikes in Sentry" }] }]
   */
  checklists: z.array(checklist).default([]),
  /**
   * Baselines by check selector (an id, a family, `@target`; the most specific wins): a numeric result is
   * also graded by its change against its own history, the values every stored checklist run (of any checklist)
   * recorded for that check id. The check's status becomes the worse of its own grade and the baseline's, and its
   * summary says which. Dry runs store nothing. One extra read per run.
   * @default {}
   * @example { "sql.transactions": { "vs": "median-7d", "warnPct": 50, "direction": "below" }, "heartbeat.backups.backup_bytes": { "vs": "previous", "failPct": 50, "direction": "below" } }
   */
  baselines: z.record(z.string().min(1).max(100), baselineRule).default({}),
  /**
   * The app's tables, for admin actions on users and API keys.
   * @default {}
   * @example { "users": { "table": "users", "columns": { "status": "status", "deletedAt": "deleted_at" } }, "apiKeys": { "table": "api_keys", "columns": { "revokedAt": "revoked_at" } } }
   */
  app: appSchemaMapping.default({}),
  /** Days of run history, snapshots and sent reports kept. @default 90 */
  retentionDays: z.number().int().min(1).max(3650).default(90),
  /** Admin route rate limits (sliding windows in Redis). @example { "rateLimit": { "perTokenPerMinute": 30 } } */
  admin: z
    .strictObject({
      /** Sliding-window limits on every admin route. @example { "perTokenPerMinute": 30, "failedAuthPer5Minutes": 5 } */
      rateLimit: z
        .strictObject({
          /** Requests per token per minute. @default 60 */
          perTokenPerMinute: z.number().int().min(1).max(100_000).default(60),
          /** Requests per client address per minute. @default 120 */
          perIpPerMinute: z.number().int().min(1).max(100_000).default(120),
          /** Failed authentications per client address per 5 minutes. @default 10 */
          failedAuthPer5Minutes: z.number().int().min(1).max(100_000).default(10),
        })
        .default({ perTokenPerMinute: 60, perIpPerMinute: 120, failedAuthPer5Minutes: 10 }),
    })
    .default({ rateLimit: { perTokenPerMinute: 60, perIpPerMinute: 120, failedAuthPer5Minutes: 10 } }),
  /**
   * The prefix of every key Opsbook writes to Redis (the admin and heartbeat rate limiters), so it can
   * share a Redis with the app or another Opsbook. 1–64 printable ASCII characters, no spaces and no
   * Redis glob characters (`*?[]\`): the prefix must be usable as-is in `SCAN MATCH <prefix>*` and as a
   * literal key in cache/delete. Not empty: an empty prefix would make every key Opsbook's, so
   * cache/delete and cache/flush could delete nothing. Keys under this prefix, and under the default
   * `opsbook:`, are never deleted by cache/delete or cache/flush.
   * @default "opsbook:"
   * @example "acme-ops:"
   */
  redisKeyPrefix: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[\x21-\x7e]+$/, 'printable ASCII only, without spaces')
    .regex(/^[^*?[\]\\]+$/, 'no Redis glob characters (* ? [ ] \\)')
    .default('opsbook:'),
  /**
   * What diagnostics and checklists check, and their thresholds. Everything has a default.
   * @example { "postgres": { "thresholds": { "longRunningSeconds": 300 } }, "http": [{ "id": "api", "url": "https://api.example.com/healthz" }] }
   */
  checks: checksConfig.default(checksConfig.parse({})),
  /**
   * Jobs outside Opsbook (backups, cron scripts, hosts) that ping it; a late or failed ping is a finding.
   * @default []
   * @example [{ "name": "db-backup", "cron": "0 3 * * *", "graceSeconds": 3600, "metrics": { "backup_bytes": { "fail": 1000000, "direction": "below" } } }]
   */
  heartbeats: z.array(heartbeat).default([]),
  /** Alert thresholds: N failing runs to alert, M passing runs to resolve. @example { "alertAfter": 2, "recoverAfter": 3, "perCheck": { "postgres.reachable": { "alertAfter": 1 } } } */
  alerts: alertsConfig.default({ alertAfter: 2, recoverAfter: 2, perCheck: {} }),
  /**
   * Planned maintenance: alerts muted, results recorded, the report marks the window.
   * @default []
   * @example [{ "id": "sunday-db", "weekday": ["sun"], "start": "02:00", "durationMinutes": 120, "checks": ["postgres"] }]
   */
  maintenanceWindows: z.array(maintenanceWindow).max(100).default([]),
  /**
   * Slack, signed-webhook and PagerDuty messages per incident transition, routed by severity and checklist; the email report is unchanged.
   * @example { "channels": { "slack": { "type": "slack", "urlEnv": "SLACK_INCIDENTS_WEBHOOK_URL" }, "pagerduty": { "type": "pagerduty", "routingKeyEnv": "PAGERDUTY_ROUTING_KEY" } }, "routes": [{ "severity": ["P1"], "channels": ["pagerduty", "slack"] }, { "severity": ["P2"], "channels": ["slack"] }] }
   */
  notifications: notificationsConfig.default(notificationsConfig.parse({})),
  /** Diagnostics run budget. @example { "budgetMs": 8000, "checkTimeoutMs": 4000 } */
  diagnostics: z
    .strictObject({
      /** Total time for a diagnostics run, ms. @default 8000 */
      budgetMs: positive.max(60_000).default(8000),
      /** Per-check time, ms. @default 5000 */
      checkTimeoutMs: positive.max(60_000).default(5000),
    })
    .default({ budgetMs: 8000, checkTimeoutMs: 5000 }),
});

/**
 * `needs` must name something that exists, and must not go round in a circle: a typo would otherwise
 * silently disable suppression, and a cycle has no root cause to report.
 */
export const configWithNeeds = configSchema.superRefine((config, ctx) => {
  unknownChannelIssues(config.notifications, ctx);
  // Each configurable family: its check-id prefix and its key under `checks`.
  const families = [
    ['http', 'http'],
    ['tls', 'tls'],
    ['dns', 'dns'],
    ['tcp', 'tcp'],
    ['statuspage', 'statusPages'],
    ['sql', 'sqlMetrics'],
  ] as const;
  const needsOf = new Map<string, string[]>();
  const paths = new Map<string, (string | number)[]>();
  for (const [family, key] of families) {
    (config.checks[key] as Array<{ id: string; needs: string[] }>).forEach((item, i) => {
      needsOf.set(`${family}.${item.id}`, item.needs);
      paths.set(`${family}.${item.id}`, ['checks', key, i, 'needs']);
    });
  }
  const builtin = /^(postgres|redis|queues|heartbeat|env|checklists)\./;
  for (const [id, list] of needsOf) {
    for (const need of list) {
      const at = need.indexOf('@');
      if (at >= 0) {
        // A target's checks: the target must be configured for that kind.
        const kind = need.startsWith('redis') ? 'redis' : need.startsWith('postgres') ? 'postgres' : undefined;
        const name = need.slice(at + 1);
        const known = kind ? Object.keys(config.checks[kind].targets) : [];
        if (!kind || !known.includes(name)) {
          ctx.addIssue({ code: 'custom', path: paths.get(id)!, message: `${id} needs "${need}", but ${kind ? `checks.${kind}.targets has no "${name}"` : 'only postgres and redis checks have targets'} (known: ${known.join(', ') || 'none'})` });
        }
        continue;
      }
      if (need === 'postgres' || need === 'redis' || builtin.test(need)) continue;
      if (!needsOf.has(need)) ctx.addIssue({ code: 'custom', path: paths.get(id)!, message: `${id} needs "${need}", which is not a configured check (known: ${[...needsOf.keys()].join(', ')})` });
      else if (need === id) ctx.addIssue({ code: 'custom', path: paths.get(id)!, message: `${id} cannot need itself` });
    }
  }
  const onCycle = (start: string): boolean => {
    const seen = new Set<string>();
    const walk = (id: string): boolean =>
      (needsOf.get(id) ?? []).some((n) => n === start || (!seen.has(n) && needsOf.has(n) && (seen.add(n), walk(n))));
    return walk(start);
  };
  for (const id of needsOf.keys()) if (onCycle(id)) ctx.addIssue({ code: 'custom', path: paths.get(id)!, message: `${id} is on a cycle of needs: a cycle has no root cause to report` });
});

export type OpsbookConfigInput = z.input<typeof configSchema>;
export type OpsbookConfig = z.output<typeof configSchema>;
export type HttpCheckConfig = z.output<typeof httpCheck>;
export type TlsCheckConfig = z.output<typeof tlsCheck>;
export type DnsCheckConfig = z.output<typeof dnsCheck>;
export type TcpCheckConfig = z.output<typeof tcpCheck>;
export type StatusPageConfig = z.output<typeof statusPageCheck>;
export type SqlMetricConfig = z.output<typeof sqlMetric>;
export type HeartbeatConfig = z.output<typeof heartbeat>;
export type ChecklistConfig = z.output<typeof checklist>;
export type ChecklistItem = z.output<typeof checklistItem>;
export type AppSchemaMapping = z.output<typeof appSchemaMapping>;
export type PostgresThresholds = z.output<typeof postgresThresholds>;
export type RedisThresholds = z.output<typeof redisThresholds>;
export type QueueLimits = z.output<typeof queueLimits>;
export type BaselineRule = z.output<typeof baselineRule>;
export type PostgresTargetConfig = z.output<typeof postgresTarget>;
export type RedisTargetConfig = z.output<typeof redisTarget>;
export type AlertsConfig = z.output<typeof alertsConfig>;
export type MaintenanceWindowConfig = z.output<typeof maintenanceWindow>;
export type NotificationsConfig = z.output<typeof notificationsConfig>;
export type NotificationChannelConfig = z.output<typeof notificationChannel>;
export type QueuesConfig = z.output<typeof queuesConfig> & { enabled: boolean };
