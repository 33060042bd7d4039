import type { OpsbookConfig, Severity } from '../config/index.js';
import type { Deps } from '../deps.js';
import type { QueryResult, Statement } from '../db/index.js';
import type { RedisClient } from '../redis/index.js';
import type { QueryTextMode } from '../sql/normalize.js';
import type { LockSnapshot } from './pg-locks.js';

export type { Severity } from '../config/index.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skipped' | 'error';
/**
 * What a check needs: the diagnosed Postgres, Opsbook's own store, Redis, the queue Redis, the network,
 * or another check by id (`tcp.api`). While a need is down the check is `suppressed` (lib/checks/dependencies.ts).
 */
export type Need = 'postgres' | 'store' | 'redis' | 'queue-redis' | 'network' | `${string}.${string}`;

/** What to do about a finding. Where an admin action fixes it, its path and a dry-run body. */
export interface Hint {
  text: string;
  action?: { method: 'POST'; path: string; body: Record<string, unknown> };
}

/** What a check returns. Expected outcomes are data: a check throws only on a bug. */
export interface CheckOutcome {
  status: CheckStatus;
  /** One line a person reads first. */
  summary: string;
  /** The headline number, when there is one. */
  value?: number | string;
  unit?: string;
  /** Bounded rows (top N); `more` counts the rest. */
  details?: Array<Record<string, unknown>>;
  more?: number;
  hint?: Hint;
}

export interface CheckResult extends CheckOutcome {
  id: string;
  title: string;
  family: string;
  severity: Severity;
  durationMs: number;
  /** Set when the check's result was replaced because something it needs is down: the root cause. */
  suppressedBy?: string;
  /** The target the check ran on: `main` unless its id names another (`postgres.vacuum@staging` → `staging`). */
  target: string;
}

/** Facts about the Postgres server, learned in the first round trip and shared by every check. */
export interface PgCapabilities {
  serverVersionNum: number;
  database: string;
  user: string;
  isSuperuser: boolean;
  /** Member of pg_monitor or pg_read_all_stats (or superuser): can see other sessions' queries. */
  canMonitor: boolean;
  isReplica: boolean;
  /** Installed in this database and loaded. */
  pgStatStatements: 'available' | 'not-installed' | 'not-loaded';
  /** Schema holding pg_stat_statements, to qualify its views. */
  pgStatStatementsSchema?: string;
  maxConnections: number;
  /** The previous snapshots Opsbook stored, by kind (for diffs: slow queries, queue counts). */
  previous: Record<string, { takenAt: string; data: unknown } | undefined>;
  /** The lock table as this run found it: who holds and awaits what (lib/checks/pg-locks.ts). */
  locks: LockSnapshot;
  /** Opsbook's snapshots table can be read from this access (its schema exists): history-based checks use it. */
  snapshotsReadable: boolean;
}

/**
 * Postgres access for checks. Every `batch` call made by the checks of one run, in the same tick, is
 * merged into one round trip; `caps()` is the other round trip. So a full run costs two, however many
 * checks there are.
 */
export interface PgAccess {
  caps(): Promise<PgCapabilities>;
  batch(statements: Statement[]): Promise<QueryResult[]>;
}

export interface CheckContext {
  deps: Deps;
  config: OpsbookConfig;
  pg: PgAccess;
  /** Opsbook's own tables (heartbeats, runs): the same access as `pg` unless a separate database is diagnosed. */
  store: PgAccess;
  /** Redis holding BullMQ queues (the main Redis unless configured otherwise); undefined when none. */
  queueRedis?: RedisClient;
  /** Per-check time limit, ms. */
  timeoutMs: number;
  /** Data a check wants stored in this run's snapshot (when snapshots are taken), by kind. */
  snapshot: Map<string, unknown>;
  /** How checks show SQL text: normalised (lib/sql/normalize.ts) unless an admin asked for raw. @default 'normalized' */
  queryText?: QueryTextMode;
  /** The target this context diagnoses, when not the main one (lib/checks/target.ts). */
  target?: string;
}

/** One check: an id, what it needs, and `run`. Families expand their config into checks. */
export interface Check {
  id: string;
  title: string;
  family: string;
  severity: Severity;
  needs: Need[];
  run(ctx: CheckContext, now: Date): Promise<CheckOutcome>;
}

/** A file of related checks (postgres activity, redis, http…): turns the config into checks. */
export interface CheckFamily {
  family: string;
  checks(config: OpsbookConfig): Check[];
}
