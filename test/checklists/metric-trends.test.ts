import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecklist } from '../../lib/checklists/run.js';
import { loadMetricTrends } from '../../lib/checklists/trends.js';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { Db } from '../../lib/db/types.js';
import type { Deps } from '../../lib/deps.js';
import { handlePing } from '../../lib/heartbeats.js';
import { depsFor } from '../support/diagnostics.js';
import { openDb, type DbHarness } from '../support/drivers.js';

/**
 * Pushed heartbeat metrics and SQL metrics are trended in the report (issue 13 item 6), from the values
 * the checklist runs stored: six days of real pings and real checklist runs on an injected clock, over
 * real Postgres, then the report's trends in HTML and text, one point per day in the metric's unit,
 * read in one statement for all the metrics.
 */
const DAY = 86_400_000;
const FIRST = Date.parse('2026-11-27T08:00:00Z');
const at = (day: number, hour = 8) => new Date(FIRST + day * DAY + (hour - 8) * 3_600_000);

const config = (signups: number): OpsbookConfigInput => ({
  checks: { redis: { enabled: false }, queues: { enabled: false }, sqlMetrics: [{ id: 'signups', title: 'Sign-ups (24 h)', sql: 'SELECT $1::int', params: [signups], unit: 'sign-ups' }] },
  heartbeats: [
    {
      name: 'web-1',
      title: 'Host web-1',
      periodSeconds: 86_400,
      metrics: { disk_used_pct: { warn: 80, fail: 90, unit: '%' }, backup_bytes: { unit: 'bytes' } },
    },
  ],
  recipients: ['ops@example.com'],
  checklists: [{ id: 'daily', title: 'Daily', schedule: { type: 'manual' }, items: [{ check: 'heartbeats' }, { check: 'sql.signups' }] }],
});

/** A Db that counts the statements sent through it. */
function counting(db: Db): { db: Db; statements: string[] } {
  const statements: string[] = [];
  const wrapped: Db = Object.create(db);
  wrapped.query = ((text: string, params?: unknown[]) => (statements.push(text), db.query(text, params as never))) as Db['query'];
  wrapped.batch = ((queries: Array<{ text: string }>, opts?: unknown) => (statements.push(...queries.map((q) => q.text)), db.batch(queries as never, opts as never))) as Db['batch'];
  return { db: wrapped, statements };
}

describe('metric trends from stored checklist results, over real Postgres', () => {
  let h: DbHarness;
  let deps: Deps;
  const runs: Array<Awaited<ReturnType<typeof runChecklist>>> = [];
  // disk 60..65 %, backups 1..6 GB, sign-ups 400..450; day 2 runs twice, the later run's values win.
  const disk = [60, 61, 62, 63, 64, 65];
  const backups = [1, 2, 3, 4, 5, 6].map((g) => g * 2 ** 30);
  const signups = [400, 410, 420, 430, 440, 450];

  const ping = async (day: number, hour: number, metrics: Record<string, number>) => {
    const cfg = parseConfig(config(0));
    const req = new Request('http://127.0.0.1/api/heartbeats/web-1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metrics }) });
    await handlePing(req, deps, cfg, at(day, hour));
  };

  beforeAll(async () => {
    h = await openDb('pg');
    await ensureSchema(h.db);
    deps = await depsFor(h.db);
    for (let day = 0; day < 6; day++) {
      if (day === 2) {
        await ping(day, 7, { disk_used_pct: 99, backup_bytes: 1 });
        runs.push(await runChecklist(deps, parseConfig(config(999)), 'daily', at(day, 7), { mode: 'manual' }));
      }
      await ping(day, 8, { disk_used_pct: disk[day]!, backup_bytes: backups[day]! });
      runs.push(await runChecklist(deps, parseConfig(config(signups[day]!)), 'daily', at(day, 8), { mode: 'manual' }));
    }
  }, 120_000);
  afterAll(async () => {
    await h?.close();
  });

  it('every run completed and stored its values', () => {
    expect(runs.map((r) => r.status)).toEqual(Array(7).fill('completed'));
  });

  it('the last report trends each metric, one point per day, the latest run of a day winning, in its unit (text part)', () => {
    const text = runs.at(-1)!.status === 'completed' ? (runs.at(-1) as { text: string }).text : '';
    // Whitespace normalised: the text part wraps at 100 columns.
    const trends = text.slice(text.indexOf('\nTRENDS\n')).replace(/\s+/g, ' ');
    expect(trends).toMatch(/Host web-1: disk_used_pct \(heartbeat\.web-1\.disk_used_pct\): 65 % on 2026-12-02 \(\+8\.3% since 2026-11-27\); min 60 %, max 65 % over 6 days/);
    expect(trends).toContain('last 6 days: 60 61 62 63 64 65');
    expect(trends).toMatch(/\(heartbeat\.web-1\.backup_bytes\): 6\.0 GB on 2026-12-02 .*min 1\.0 GB, max 6\.0 GB over 6 days last 6 days: 1\.0 GB 2\.0 GB 3\.0 GB 4\.0 GB 5\.0 GB 6\.0 GB/);
    expect(trends).toMatch(/Sign-ups \(24 h\) \(sql\.signups\): 450 sign-ups on 2026-12-02 \(\+12\.5% since 2026-11-27\)/);
    expect(trends).toContain('last 6 days: 400 410 420 430 440 450');
    expect(trends).not.toMatch(/\b99\b|\b999\b/);
    // Metrics are not heartbeats: the freshness list names the heartbeat alone.
    expect(trends).toContain('Heartbeats (since last success): web-1 up');
    expect(trends).not.toMatch(/web-1\.disk_used_pct +(up|new|late|down)/);
  });

  it('the HTML part draws them as bars like the database size, with the unit and day count', async () => {
    const { rows } = await h.db.query<{ html: string }>(`SELECT p.html FROM opsbook.reports p ORDER BY p.id DESC LIMIT 1`);
    const html = rows[0]!.html;
    const trends = html.slice(html.indexOf('id="ob-trends"'));
    expect(trends).toContain('HOST WEB-1: DISK_USED_PCT · 6 DAYS');
    expect(trends).toMatch(/>65 % <span[^>]*><code[^>]*>heartbeat\.web-1\.disk_used_pct<\/code>/);
    expect(trends).toContain('SIGN-UPS (24 H) · 6 DAYS');
    expect(trends).toContain('title="2026-11-29: 62 %"');
    expect(trends).toContain('title="2026-11-29: 420 sign-ups"');
    expect(trends).toContain('title="2026-12-02: 6.0 GB"');
  });

  it('one statement reads the history of every metric, the last 30 days only', async () => {
    const c = counting(h.db);
    const later = new Date(at(5).getTime() + 27 * DAY);
    const items = ['heartbeat.web-1.disk_used_pct', 'heartbeat.web-1.backup_bytes', 'sql.signups'].map((id) => ({
      key: `check:${id}`, kind: 'check' as const, id, title: id, area: 'Metrics', status: 'ok' as const, summary: '', details: id.startsWith('heartbeat') ? [{ metric: id.split('.')[2] }] : undefined,
    }));
    const trends = await loadMetricTrends({ ...deps, db: c.db }, items, later);
    expect(c.statements).toHaveLength(1);
    // 32 days after the first run, the last 30 days (today included) start at the fourth day.
    expect(trends.find((t) => t.id === 'sql.signups')!.points.map((p) => p.value)).toEqual([430, 440, 450]);
    expect(trends.map((t) => t.id).sort()).toEqual(['heartbeat.web-1.backup_bytes', 'heartbeat.web-1.disk_used_pct', 'sql.signups']);
  });
});
