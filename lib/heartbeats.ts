import { Cron } from 'croner';
import type { HeartbeatConfig, OpsbookConfig } from './config/index.js';
import type { Db } from './db/index.js';
import { ensureSchema } from './db/schema.js';
import type { Deps } from './deps.js';
import { messageOf, OpsbookError } from './errors.js';
import { withTimeout } from './timeout.js';
import { heartbeatLimitKey, redisKeyPrefixOf } from './redis/keys.js';

/**
 * Heartbeats, Healthchecks.io style: a scheduled job pings Opsbook when it starts, succeeds or fails,
 * and the `heartbeats` check reports a job that stopped pinging.
 *
 * Storage: every ping is a row in `opsbook.heartbeat_pings` (the audit trail, body included), and the
 * same transaction folds it into `opsbook.heartbeats`, one row of latest timestamps per name, which is
 * all the check reads. Timestamps are folded with GREATEST, so pings committed out of order still leave
 * the right state. Pruning old pings is a later issue; the state row does not depend on them.
 */

/** Healthchecks.io keeps the first 10 KB of a ping body; so do we. */
export const PING_BODY_LIMIT = 10 * 1024;

export type PingKind = 'success' | 'start' | 'fail' | 'exit';
/** What a ping means for the job: exit 0 is a success, any other exit code a failure. */
export type PingOutcome = 'success' | 'start' | 'fail';

export interface PingAction {
  kind: PingKind;
  /** 0-255, only for `exit`. */
  exitCode?: number;
}

export interface Ping extends PingAction {
  name: string;
  body?: string;
  /** Numbers the job pushed (declared under the heartbeat's `metrics`). */
  metrics?: Record<string, number>;
  sourceIp?: string;
  userAgent?: string;
}

export interface PingReceipt {
  ok: true;
  name: string;
  kind: PingKind;
  exitCode?: number;
  receivedAt: string;
  /** Bytes of the body stored. */
  bodyBytes: number;
  /** The body was longer than 10 KB and only its first 10 KB were kept. */
  truncated: boolean;
  note?: string;
  /** The metrics stored with this ping. */
  metrics?: Record<string, number>;
}

export function outcomeOf(action: PingAction): PingOutcome {
  if (action.kind === 'exit') return action.exitCode === 0 ? 'success' : 'fail';
  return action.kind;
}

/** The path segment after the name: none (success), `start`, `fail` or an exit code 0-255. */
export function parseAction(segment: string | undefined | null): PingAction {
  if (segment === undefined || segment === null || segment === '') return { kind: 'success' };
  if (segment === 'start' || segment === 'fail') return { kind: segment };
  if (/^\d{1,3}$/.test(segment) && Number(segment) <= 255) return { kind: 'exit', exitCode: Number(segment) };
  const shown = JSON.stringify(segment.slice(0, 40));
  if (/^-?\d+$/.test(segment)) throw new OpsbookError('BAD_REQUEST', `Exit code ${shown} is out of range: use 0-255.`);
  throw new OpsbookError('BAD_REQUEST', `Unknown heartbeat action ${shown}: use start, fail or an exit code 0-255.`);
}

/**
 * Name and action of a ping request. The path is authoritative (`/api/heartbeats/<name>[/<action>]`);
 * Vercel also passes the dynamic segments as query parameters, used when the path does not match.
 */
export function pingTarget(url: URL): { name: string; action?: string } {
  const m = url.pathname.match(/\/heartbeats\/([^/]+)(?:\/([^/]+))?\/?$/);
  const decode = (s: string) => {
    try {
      return decodeURIComponent(s);
    } catch {
      throw new OpsbookError('BAD_REQUEST', 'The heartbeat path is not valid URL encoding.');
    }
  };
  if (m) return { name: decode(m[1]!), ...(m[2] !== undefined ? { action: decode(m[2]) } : {}) };
  const action = url.searchParams.get('action');
  return { name: url.searchParams.get('name') ?? '', ...(action !== null ? { action } : {}) };
}

/**
 * The first 10 KB of a body, as text that Postgres accepts: cut on a UTF-8 character boundary, invalid
 * bytes and NUL replaced. Reading stops at the limit, so a huge body is never buffered.
 */
export async function readPingBody(request: Request, limit = PING_BODY_LIMIT): Promise<{ text?: string; truncated: boolean }> {
  if (!request.body) return { truncated: false };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  let truncated = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.length > limit) {
      chunks.push(value.subarray(0, limit - size));
      size = limit;
      truncated = true;
      await reader.cancel().catch(() => undefined);
      break;
    }
    chunks.push(value);
    size += value.length;
  }
  if (size === 0) return { truncated };
  const read = Buffer.concat(chunks, size);
  let text = new TextDecoder('utf-8', { fatal: false }).decode(truncated ? dropPartialChar(read) : read);
  // Postgres text cannot hold NUL. Replacement characters (for NUL or invalid bytes) take 3 bytes, so
  // the text may now be over the limit: cut it again, on a character boundary.
  text = text.replace(/\u0000/g, '\uFFFD');
  const encoded = Buffer.from(text, 'utf8');
  if (encoded.length > limit) {
    text = Buffer.from(dropPartialChar(encoded.subarray(0, limit))).toString('utf8');
    truncated = true;
  }
  return { text, truncated };
}

/** `bytes` without a trailing incomplete UTF-8 sequence (a cut in the middle of a character). */
function dropPartialChar(bytes: Uint8Array): Uint8Array {
  let i = bytes.length;
  let continuation = 0;
  while (i > 0 && continuation < 3 && (bytes[i - 1]! & 0xc0) === 0x80) {
    i--;
    continuation++;
  }
  if (i === 0) return bytes;
  const lead = bytes[i - 1]!;
  const length = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return length > 1 && continuation + 1 < length ? bytes.subarray(0, i - 1) : bytes;
}

/** The client address, from the headers Vercel (or the local runner) sets, overwriting what the client sent. */
function sourceIpOf(request: Request): string | undefined {
  const raw = request.headers.get('x-real-ip') ?? request.headers.get('x-forwarded-for')?.split(',')[0];
  const ip = raw?.trim();
  return ip && /^[0-9A-Fa-f:.]{2,45}$/.test(ip) ? ip : undefined;
}

const INSERT_PING = `INSERT INTO opsbook.heartbeat_pings (name, kind, exit_code, received_at, body, source_ip, user_agent, metrics)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)`;

const UPSERT_STATE = `INSERT INTO opsbook.heartbeats AS h
    (name, last_ping_at, last_ping_kind, last_exit_code, last_success_at, last_start_at, last_fail_at, last_fail_exit_code, pings, last_metrics)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 1, $9::jsonb)
  ON CONFLICT (name) DO UPDATE SET
    last_metrics = CASE WHEN EXCLUDED.last_metrics IS NULL THEN h.last_metrics ELSE COALESCE(h.last_metrics, '{}'::jsonb) || EXCLUDED.last_metrics END,
    last_ping_kind = CASE WHEN EXCLUDED.last_ping_at >= h.last_ping_at THEN EXCLUDED.last_ping_kind ELSE h.last_ping_kind END,
    last_exit_code = CASE WHEN EXCLUDED.last_ping_at >= h.last_ping_at THEN EXCLUDED.last_exit_code ELSE h.last_exit_code END,
    last_ping_at = GREATEST(h.last_ping_at, EXCLUDED.last_ping_at),
    last_success_at = GREATEST(h.last_success_at, EXCLUDED.last_success_at),
    last_start_at = GREATEST(h.last_start_at, EXCLUDED.last_start_at),
    last_fail_exit_code = CASE WHEN EXCLUDED.last_fail_at >= COALESCE(h.last_fail_at, '-infinity') THEN EXCLUDED.last_fail_exit_code ELSE h.last_fail_exit_code END,
    last_fail_at = GREATEST(h.last_fail_at, EXCLUDED.last_fail_at),
    pings = h.pings + 1`;

/** Store a ping and fold it into the heartbeat's state, in one transaction (one round trip once migrated). */
export async function recordPing(db: Db, ping: Ping, now: Date): Promise<void> {
  await ensureSchema(db);
  const at = now.toISOString();
  const outcome = outcomeOf(ping);
  const exitCode = ping.kind === 'exit' ? ping.exitCode! : null;
  const pushed = ping.metrics && Object.keys(ping.metrics).length ? ping.metrics : undefined;
  // The heartbeat keeps each metric's latest value with its time, so a metric the host stopped sending shows as stale.
  const latest = pushed ? JSON.stringify(Object.fromEntries(Object.entries(pushed).map(([k, v]) => [k, { value: v, at }]))) : null;
  await db.batch(
    [
      { text: INSERT_PING, params: [ping.name, ping.kind, exitCode, at, ping.body ?? null, ping.sourceIp ?? null, ping.userAgent?.slice(0, 512) ?? null, pushed ? JSON.stringify(pushed) : null] },
      {
        text: UPSERT_STATE,
        params: [
          ping.name,
          at,
          ping.kind,
          exitCode,
          outcome === 'success' ? at : null,
          outcome === 'start' ? at : null,
          outcome === 'fail' ? at : null,
          outcome === 'fail' ? exitCode : null,
          latest,
        ],
      },
    ],
    { readOnly: false },
  );
}

/**
 * A ping request, after authentication: the name must be a configured heartbeat (404 otherwise), the
 * action one of start, fail or 0-255 (400), the body is kept up to 10 KB and never logged.
 */
export async function handlePing(request: Request, deps: Pick<Deps, 'db' | 'redis' | 'env' | 'log'>, config: OpsbookConfig, now: Date): Promise<PingReceipt> {
  const url = new URL(request.url);
  const target = pingTarget(url);
  const hb = config.heartbeats.find((h) => h.name === target.name);
  if (!hb) {
    throw new OpsbookError('NOT_FOUND', `No heartbeat named ${JSON.stringify(target.name.slice(0, 64))} is configured.`);
  }
  const action = parseAction(target.action);
  await limitPings(deps, redisKeyPrefixOf(config), target.name, now);
  const body = await readPingBody(request);
  const metrics = parseMetrics(url, body.text, hb);
  await recordPing(
    deps.db,
    { name: target.name, ...action, body: body.text, metrics, sourceIp: sourceIpOf(request), userAgent: request.headers.get('user-agent') ?? undefined },
    now,
  );
  const bodyBytes = body.text === undefined ? 0 : Buffer.byteLength(body.text, 'utf8');
  return {
    ok: true,
    name: target.name,
    kind: action.kind,
    ...(action.kind === 'exit' ? { exitCode: action.exitCode } : {}),
    receivedAt: now.toISOString(),
    bodyBytes,
    truncated: body.truncated,
    ...(Object.keys(metrics).length ? { metrics } : {}),
    ...(body.truncated ? { note: `The body was longer than ${PING_BODY_LIMIT} bytes: only its first ${bodyBytes} bytes were stored.` } : {}),
  };
}

/**
 * The metrics a ping carries: query parameters (`?disk_used_pct=71`; `name` and `action` are Vercel's
 * path segments) and a JSON body's `metrics` object (`{"metrics":{"disk_used_pct":71}}`). Every one must
 * be declared on the heartbeat and be a finite number; anything else is a 400 naming what is declared, so
 * a typo in a host's agent is seen on its first run, not as a metric that silently never arrives.
 */
export function parseMetrics(url: URL, body: string | undefined, hb: HeartbeatConfig): Record<string, number> {
  const out: Record<string, number> = {};
  const declared = Object.keys(hb.metrics);
  const take = (name: string, raw: unknown, where: string) => {
    if (!Object.hasOwn(hb.metrics, name)) {
      throw new OpsbookError('BAD_REQUEST', `Unknown metric ${JSON.stringify(name.slice(0, 64))} in the ${where}: heartbeat ${hb.name} declares ${declared.length ? declared.join(', ') : 'no metrics'} (heartbeats[].metrics).`);
    }
    const value = typeof raw === 'number' ? raw : typeof raw === 'string' && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(raw.trim()) ? Number(raw) : NaN;
    if (!Number.isFinite(value)) throw new OpsbookError('BAD_REQUEST', `Metric ${name} must be a finite number, got ${JSON.stringify(String(raw).slice(0, 40))}.`);
    out[name] = value;
  };
  for (const [k, v] of url.searchParams) if (k !== 'name' && k !== 'action') take(k, v, 'query');
  const text = body?.trim();
  if (text?.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined; // a job's own log output that happens to start with "{": kept as the body
    }
    const m = parsed && typeof parsed === 'object' ? (parsed as { metrics?: unknown }).metrics : undefined;
    if (m !== undefined) {
      if (!m || typeof m !== 'object' || Array.isArray(m)) throw new OpsbookError('BAD_REQUEST', 'The body\'s "metrics" must be an object of name → number.');
      for (const [k, v] of Object.entries(m)) take(k, v, 'body');
    }
  }
  return out;
}

/**
 * Pings accepted per heartbeat name per minute, with a valid token; beyond it → 429 with Retry-After.
 * A job pings a few times per run (start, then success or its exit code); 60 a minute leaves room for
 * retries (`curl --retry 5`) and many jobs sharing one name, while a loop or a leaked token that floods
 * a name cannot fill `opsbook.heartbeat_pings`.
 * @default 60
 */
export const PINGS_PER_MINUTE = 60;

/**
 * Counts a ping against its name's minute (a fixed window on the injected clock, in Redis, shared by
 * every instance). If Redis does not answer, the ping is accepted and the failure logged: losing a
 * backup's success ping to a cache outage would raise a false "missed" alert, which costs more than a
 * minute without a limit.
 */
async function limitPings(deps: Pick<Deps, 'redis' | 'env' | 'log'>, keyPrefix: string, name: string, now: Date): Promise<void> {
  const minute = Math.floor(now.getTime() / 60_000);
  const key = heartbeatLimitKey(keyPrefix, name, minute);
  let count: number;
  try {
    // The TTL goes with every INCR, in the same round trip, so the key never lives without one; two
    // minutes outlive the minute it counts whatever the injected clock says (Redis' clock runs the TTL).
    const [incr] = await withTimeout(deps.redis.pipeline([['INCR', key], ['PEXPIRE', key, 120_000]]), Math.min(2000, deps.env.OPSBOOK_DEPENDENCY_TIMEOUT_MS), 'heartbeat rate limit');
    if (!incr?.ok) throw new Error('INCR failed');
    count = Number(incr.value);
  } catch (err) {
    deps.log('warn', `heartbeat rate limit skipped (Redis did not answer): ${messageOf(err)}`);
    return;
  }
  if (count > PINGS_PER_MINUTE) {
    const retry = Math.max(1, Math.ceil(((minute + 1) * 60_000 - now.getTime()) / 1000));
    throw new OpsbookError('RATE_LIMITED', `Too many pings for heartbeat ${JSON.stringify(name)} (at most ${PINGS_PER_MINUTE} a minute). Retry in ${retry} s.`, {
      headers: { 'retry-after': String(retry) },
    });
  }
}

// ---------------------------------------------------------------------------------------------------
// Schedule math and the state machine.

/** The latest timestamps of one heartbeat, as stored in opsbook.heartbeats. */
export interface HeartbeatState {
  lastPingAt: Date;
  lastPingKind: PingKind;
  lastExitCode?: number;
  lastSuccessAt?: Date;
  lastStartAt?: Date;
  lastFailAt?: Date;
  lastFailExitCode?: number;
  pings: number;
  /** The latest value of each pushed metric, with when it arrived (ISO). */
  lastMetrics?: Record<string, { value: number; at: string }>;
}

export type HeartbeatStateName = 'up' | 'late' | 'down' | 'new';

export interface HeartbeatEvaluation {
  state: HeartbeatStateName;
  /** Why, for the summary. */
  reason:
    | 'never-pinged'
    | 'first-run-running'
    | 'first-run-overdue'
    | 'failed'
    | 'missed'
    | 'run-overdue'
    | 'late'
    | 'running'
    | 'on-time';
  /** When the next success is due (from the last success and the schedule). */
  expectedBy?: Date;
  /** When it is (or became) down without a success: expectedBy + grace, earlier for a run that started. */
  downAt?: Date;
  /** A start ping with no success or failure after it. */
  running: boolean;
  /** Seconds since the last success. */
  lastSuccessAgeSeconds?: number;
  /** Set when rpoSeconds is configured and the last success is older. */
  rpoExceeded: boolean;
}

type Schedule = Pick<HeartbeatConfig, 'periodSeconds' | 'cron'>;

const crons = new Map<string, Cron>();

/** A cron pattern as a paused (never-firing) croner job: five fields, UTC. Throws on an invalid pattern. */
function cronOf(pattern: string): Cron {
  let c = crons.get(pattern);
  if (!c) {
    c = new Cron(pattern, { timezone: 'UTC', mode: '5-part', paused: true });
    crons.set(pattern, c);
  }
  return c;
}

/** Why a cron pattern is unusable, or undefined when it is fine (for config validation). */
export function cronProblem(pattern: string): string | undefined {
  try {
    cronOf(pattern);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message.replace(/^CronPattern:\s*/, '') : String(err);
  }
}

/**
 * When the run after `from` is due: `from + period`, or the first cron time strictly after `from` (UTC).
 * So a cron heartbeat is late once a scheduled time has passed with no success after it.
 */
export function nextExpected(schedule: Schedule, from: Date): Date {
  if (schedule.periodSeconds !== undefined) return new Date(from.getTime() + schedule.periodSeconds * 1000);
  const next = cronOf(schedule.cron!).nextRun(from);
  // A pattern that never fires again (e.g. 30 February) is never due.
  return next ?? new Date(8.64e15);
}

const after = (a: Date | undefined, b: Date | undefined) => a !== undefined && (b === undefined || a.getTime() > b.getTime());

/**
 * The state machine, Healthchecks.io semantics:
 * - never pinged → `new` (reported as a warning with the curl line: no evidence the job runs).
 * - a failure (a `fail` ping or a non-zero exit code) after the last success → `down` at once, until the
 *   next success; a retry's `start` does not clear it.
 * - otherwise, from the last success S: `up` until expectedBy (S + period, or the next cron time after
 *   S), `late` until expectedBy + grace, then `down`.
 * - a `start` with no completion after it is a running job: `up` (not late) while it runs, but it must
 *   finish within grace of its start, or by expectedBy + grace, whichever is first, else `down`.
 * - a first run that started and has not finished: `new` within grace of its start, `down` after.
 * - RPO: with rpoSeconds, a last success older than that fails the check whatever the schedule says.
 */
export function evaluateHeartbeat(config: HeartbeatConfig, state: HeartbeatState | undefined, now: Date): HeartbeatEvaluation {
  const graceMs = config.graceSeconds * 1000;
  const t = now.getTime();
  const S = state?.lastSuccessAt;
  const F = state?.lastFailAt;
  const T = state?.lastStartAt;
  const lastSuccessAgeSeconds = S ? Math.max(0, (t - S.getTime()) / 1000) : undefined;
  const rpoExceeded = config.rpoSeconds !== undefined && lastSuccessAgeSeconds !== undefined && lastSuccessAgeSeconds > config.rpoSeconds;
  const base = { lastSuccessAgeSeconds, rpoExceeded };

  if (!state || (!S && !F && !T)) return { ...base, state: 'new', reason: 'never-pinged', running: false };

  // A success and a failure at the same instant: the later ping (as stored) decides.
  const failed = after(F, S) || (F !== undefined && S !== undefined && F.getTime() === S.getTime() && isFailure(state));
  const latestEnd = after(F, S) ? F : S;
  const running = T !== undefined && after(T, latestEnd);
  const runDeadline = running ? new Date(T!.getTime() + graceMs) : undefined;
  const expectedBy = S ? nextExpected(config, S) : undefined;
  const scheduleDeadline = expectedBy ? new Date(expectedBy.getTime() + graceMs) : undefined;
  const downAt = earliest(scheduleDeadline, runDeadline);
  const timing = { expectedBy, downAt, running };

  if (failed) return { ...base, ...timing, state: 'down', reason: 'failed' };
  if (!S) {
    // Only a start so far (a failure was handled above).
    return t >= runDeadline!.getTime()
      ? { ...base, ...timing, state: 'down', reason: 'first-run-overdue' }
      : { ...base, ...timing, state: 'new', reason: 'first-run-running' };
  }
  if (t >= downAt!.getTime()) {
    const overdueRun = running && runDeadline!.getTime() <= scheduleDeadline!.getTime();
    return { ...base, ...timing, state: 'down', reason: overdueRun ? 'run-overdue' : 'missed' };
  }
  if (running) return { ...base, ...timing, state: 'up', reason: 'running' };
  if (t >= expectedBy!.getTime()) return { ...base, ...timing, state: 'late', reason: 'late' };
  return { ...base, ...timing, state: 'up', reason: 'on-time' };
}

function isFailure(state: HeartbeatState): boolean {
  return state.lastPingKind === 'fail' || (state.lastPingKind === 'exit' && state.lastExitCode !== 0);
}

function earliest(a: Date | undefined, b: Date | undefined): Date | undefined {
  if (!a) return b;
  if (!b) return a;
  return a.getTime() <= b.getTime() ? a : b;
}

/** The URL path a job pings, for hints. */
export function pingPath(name: string, action?: string): string {
  return `/api/heartbeats/${name}${action ? `/${action}` : ''}`;
}
