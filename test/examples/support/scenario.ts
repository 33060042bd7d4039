import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { allChecks } from '../../../lib/checks/registry.js';
import type { CheckStatus } from '../../../lib/checks/types.js';
import { runChecklist, type ChecklistRunResult } from '../../../lib/checklists/run.js';
import { nextRun } from '../../../lib/checklists/schedule.js';
import type { ChecklistConfig, OpsbookConfig } from '../../../lib/config/index.js';
import { createDeps, type Deps } from '../../../lib/deps.js';
import { selects } from '../../../lib/diagnostics/run.js';
import { createOutboxSender } from '../../../lib/email/outbox.js';
import { parseEnv } from '../../../lib/env.js';
import { handlePing, type PingReceipt } from '../../../lib/heartbeats.js';
import { createTcpRedis } from '../../../lib/redis/tcp.js';
import type { RedisClient } from '../../../lib/redis/index.js';
import { openDb, type DbHarness } from '../../support/drivers.js';
import { REDIS_URL } from '../../support/services.js';

const DAY_MS = 86_400_000;

/**
 * One example's scenario: a fresh Postgres database (the app's tables are created by the test through
 * `admin`, a superuser pool), the real Redis under a key prefix of its own, and deps whose email sender
 * writes the reports to a temporary outbox.
 */
export interface Scenario {
  harness: DbHarness;
  admin: pg.Pool;
  redis: RedisClient;
  deps: Deps;
  /** Key prefix for this scenario's BullMQ queues (and any other key it writes). */
  prefix: string;
  /** Files the outbox wrote (one .html, .txt and .json per report). */
  outboxFiles(): string[];
  close(): Promise<void>;
}

export async function openScenario(): Promise<Scenario> {
  const harness = await openDb('pg');
  const redis = createTcpRedis(REDIS_URL, { callTimeoutMs: 5000 });
  const dir = mkdtempSync(join(tmpdir(), 'opsbook-example-'));
  const deps = await createDeps(parseEnv({}), { db: harness.db, redis, email: createOutboxSender(dir, () => undefined), log: () => undefined });
  const prefix = `opsbook-ex-${randomBytes(4).toString('hex')}`;
  return {
    harness,
    admin: harness.database!.admin,
    redis,
    deps,
    prefix,
    outboxFiles: () => {
      try {
        return readdirSync(join(dir, 'outbox'));
      } catch {
        return [];
      }
    },
    async close() {
      await deleteKeys(redis, `${prefix}:*`).catch(() => undefined);
      await redis.close();
      await harness.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** SCAN + DEL of every key matching `pattern` (never KEYS). */
export async function deleteKeys(redis: RedisClient, pattern: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.command<[string, string[]]>(['SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000]);
    cursor = String(next);
    if (keys.length) deleted += Number(await redis.command(['DEL', ...keys]));
  } while (cursor !== '0');
  return deleted;
}

/**
 * The scenario's "today": the first Monday of the next quarter at least two days ahead of the real clock,
 * at 00:00 UTC. Every schedule the examples use is due on it or within the 21 days after it (daily,
 * Monday/Wednesday/Friday, first to fourth Monday, quarterly). It is ahead of the real clock, so BullMQ
 * jobs added during the test are old by then, and the certificates (valid from yesterday) are trusted.
 */
export function scenarioBase(realNow = new Date()): Date {
  const at = nextRun({ type: 'quarterly', at: '00:00' }, new Date(realNow.getTime() + 2 * DAY_MS));
  if (!at) throw new Error('no quarterly Monday ahead');
  return at;
}

export const days = (n: number) => n * DAY_MS;
export const hours = (n: number) => n * 3_600_000;
export const plus = (d: Date, ms: number) => new Date(d.getTime() + ms);

/** The first scheduled run of a checklist at or after `base`. */
export function dueAt(list: ChecklistConfig, base: Date): Date {
  const at = nextRun(list.schedule, new Date(base.getTime() - 1));
  if (!at) throw new Error(`checklist ${list.id} never runs`);
  return at;
}

/** A ping, the way the host's cron sends it: through the heartbeat route's logic (curl … /api/heartbeats/<name>[/<action>]). */
export function ping(deps: Deps, config: OpsbookConfig, name: string, at: Date, action?: string, metrics?: Record<string, number>): Promise<PingReceipt> {
  // With metrics, the body examples/host-agent.sh sends; otherwise a job's one line of output.
  const request = new Request(`https://opsbook.example.com/api/heartbeats/${name}${action === undefined ? '' : `/${action}`}`, {
    method: 'POST',
    headers: { 'user-agent': 'curl/8.5.0', 'x-real-ip': '203.0.113.7', ...(metrics ? { 'content-type': 'application/json' } : {}) },
    body: metrics ? JSON.stringify({ metrics }) : `${name} finished`,
  });
  return handlePing(request, deps, config, at);
}

export interface ItemResult {
  kind: string;
  status: CheckStatus;
  summary: string;
}

export interface ChecklistRun {
  id: string;
  now: Date;
  result: Extract<ChecklistRunResult, { status: 'completed' }>;
  /** Stored results by item key: `check:<id>` or `task:<n>:<name>`. */
  items: Map<string, ItemResult>;
  /** The keys the checklist's items should have produced. */
  expectedKeys: string[];
}

/** The result keys a checklist's automated items produce: one per selected check, one per task. */
export function expectedKeys(config: OpsbookConfig, list: ChecklistConfig): string[] {
  const checks = allChecks(config);
  const keys = new Set<string>();
  let task = 0;
  for (const item of list.items) {
    if ('task' in item) keys.add(`task:${task++}:${String(item.task)}`);
    else if ('check' in item) for (const c of checks.filter((c) => selects(item.check, c))) keys.add(`check:${c.id}`);
  }
  return [...keys];
}

/**
 * Run every checklist once, scheduled, on its first due time at or after `base`, in time order.
 * `before(now)` lets the scenario's outside jobs (backups pinging their heartbeats) act first.
 */
export async function runEveryChecklist(s: Scenario, config: OpsbookConfig, base: Date, before: (now: Date) => Promise<void> = async () => undefined): Promise<Map<string, ChecklistRun>> {
  const order = config.checklists.map((list, i) => ({ list, i, at: dueAt(list, base) })).sort((a, b) => a.at.getTime() - b.at.getTime() || a.i - b.i);
  const runs = new Map<string, ChecklistRun>();
  for (const { list, at } of order) {
    await before(at);
    const result = await runChecklist(s.deps, config, list.id, at, { mode: 'scheduled' });
    if (result.status !== 'completed') throw new Error(`checklist ${list.id} at ${at.toISOString()}: ${result.status} ${JSON.stringify(result)}`);
    const { rows } = await s.admin.query<{ item_key: string; kind: string; status: CheckStatus; summary: string }>(
      'SELECT item_key, kind, status, summary FROM opsbook.run_results WHERE run_id = $1',
      [result.runId],
    );
    runs.set(list.id, {
      id: list.id,
      now: at,
      result,
      items: new Map(rows.map((r) => [r.item_key, { kind: r.kind, status: r.status, summary: r.summary }])),
      expectedKeys: expectedKeys(config, list),
    });
  }
  return runs;
}

/** Whitespace-insensitive text, for finding a wrapped line of the report. */
export const flat = (text: string) => text.replace(/\s+/g, ' ');

/** Problems with a run: missing or unexpected results, errors and skips, manual items absent from the report. */
export function runProblems(config: OpsbookConfig, run: ChecklistRun): string[] {
  const list = config.checklists.find((c) => c.id === run.id)!;
  const problems: string[] = [];
  const got = [...run.items.keys()].sort();
  const want = [...run.expectedKeys].sort();
  for (const k of want) if (!run.items.has(k)) problems.push(`${run.id}: no result for ${k}`);
  for (const k of got) if (!want.includes(k)) problems.push(`${run.id}: unexpected result ${k}`);
  for (const [k, r] of run.items) if (r.status === 'error' || r.status === 'skipped') problems.push(`${run.id}: ${k} is ${r.status}: ${r.summary}`);
  const text = flat(run.result.text);
  for (const item of list.items) {
    if (!('manual' in item) || 'task' in item) continue;
    const m = item as { manual: string; owner?: string; lastDone?: string };
    if (!text.includes(`[ ] ${flat(m.manual)}`)) problems.push(`${run.id}: manual item missing from the report: ${m.manual}`);
    if (m.owner && !text.includes(`owner ${m.owner}`)) problems.push(`${run.id}: owner of "${m.manual}" missing`);
    if (m.lastDone && !text.includes(`last done ${m.lastDone}`)) problems.push(`${run.id}: last done of "${m.manual}" missing`);
  }
  if (run.result.report.delivery !== 'sent') problems.push(`${run.id}: report ${run.result.report.delivery}: ${run.result.report.error ?? ''}`);
  return problems;
}

/** status of each key, for compact assertions: { 'check:tcp.bootstrap-2': 'fail', … }. */
export function statuses(run: ChecklistRun, keys: string[]): Record<string, CheckStatus | undefined> {
  return Object.fromEntries(keys.map((k) => [k, run.items.get(k)?.status]));
}

/** One section of the text report, from its heading ("FAILING (2)", "WARNINGS (1)") to the next blank line. */
export function section(text: string, heading: string): string {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(heading));
  if (start < 0) return '';
  const end = lines.findIndex((l, i) => i > start && l.trim() === '');
  return lines.slice(start, end < 0 ? undefined : end).join('\n');
}
