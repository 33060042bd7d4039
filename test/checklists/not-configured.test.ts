// A checklist naming a family whose config list is empty (the default config's daily checklist names
// http, tls and statuspage, with nothing configured) says so once: one skipped item, in the CLI progress,
// the text and the HTML report alike; not an error, not a failure, never alerted. Over real Postgres, with
// emails through the real Resend SDK to the local sink.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runChecklist, type ChecklistRunResult } from '../../lib/checklists/run.js';
import { parseConfig, type OpsbookConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { openChecklistHarness, type ChecklistHarness } from '../support/checklists.js';
import { closedPort } from '../support/faults.js';

const RESEND_KEY = 're_test_not_configured_0123456789';
const DAY = 86_400_000;
/** Monday 2 March 2026, 09:05 UTC. */
const MON = new Date('2026-03-02T09:05:00Z');

type Completed = Extract<ChecklistRunResult, { status: 'completed' }>;
function completed(r: ChecklistRunResult): Completed {
  if (r.status !== 'completed') throw new Error(`expected a completed run, got ${JSON.stringify(r)}`);
  return r;
}

/**
 * Every family whose checks are a config list: the selector a checklist names it by, where its entries
 * go, and one entry (aimed at a closed port, so a configured check answers at once).
 */
const FAMILIES: Array<[selector: string, path: string, configured: (port: number) => OpsbookConfigInput]> = [
  ['http', 'checks.http', (port) => ({ checks: { http: [{ id: 'api', url: `http://127.0.0.1:${port}/`, timeoutMs: 1000, retries: 0 }] } })],
  ['tls', 'checks.tls', (port) => ({ checks: { tls: [{ id: 'api', host: '127.0.0.1', port, timeoutMs: 1000 }] } })],
  ['dns', 'checks.dns', (port) => ({ checks: { dns: [{ id: 'api', name: 'api.example.invalid', server: `127.0.0.1:${port}`, timeoutMs: 1000 }] } })],
  ['tcp', 'checks.tcp', (port) => ({ checks: { tcp: [{ id: 'api', host: '127.0.0.1', port, timeoutMs: 1000 }] } })],
  ['statuspage', 'checks.statusPages', (port) => ({ checks: { statusPages: [{ id: 'vendor', url: `http://127.0.0.1:${port}/`, timeoutMs: 1000 }] } })],
  ['sql', 'checks.sqlMetrics', () => ({ checks: { sqlMetrics: [{ id: 'one', title: 'One', sql: 'SELECT 1' }] } })],
  ['heartbeats', 'heartbeats', () => ({ heartbeats: [{ name: 'nightly', periodSeconds: 86_400 }] })],
];

/** The one item's summary, e.g. `http (checks.http), tls (checks.tls) — add entries there to run them`. */
const summaryFor = (families: Array<[string, string]>) => `${families.map(([f, p]) => `${f} (${p})`).join(', ')} — add entries there to run them`;
/** How the text report shows it: the title, the id, the summary. */
const lineFor = (families: Array<[string, string]>) => `Not configured (checklists.not-configured) — ${summaryFor(families)}`;
/** How often `needle` is in a report, reading through the text part's line wrapping. */
const occurrences = (haystack: string, needle: string) => haystack.replace(/\s+/g, ' ').split(needle).length - 1;

describe('checklist families with nothing configured', () => {
  let harness: ChecklistHarness;
  let port: number;
  beforeAll(async () => {
    [harness, port] = await Promise.all([openChecklistHarness('pg', RESEND_KEY), closedPort()]);
  });
  afterAll(async () => {
    await harness.close();
  });

  function configWith(id: string, items: Array<{ check: string } | { manual: string }>, extra: OpsbookConfigInput = {}): OpsbookConfig {
    return parseConfig({
      service: 'NotConfiguredTest',
      recipients: ['oncall@example.com'],
      alerts: { alertAfter: 1, recoverAfter: 1 },
      ...extra,
      checklists: [{ id, title: `Checklist ${id}`, schedule: { type: 'daily', at: '09:00' }, notify: 'always', itemTimeoutMs: 2000, items }],
    });
  }

  it.each(FAMILIES)('{ check: "%s" } with nothing in %s → one skipped item naming it, one progress line; not an error, not a failure', async (selector, path) => {
    const id = `nc-one-${selector}`;
    const lines: string[] = [];
    const r = completed(await runChecklist(harness.deps, configWith(id, [{ check: selector }]), id, MON, { mode: 'manual', dryRun: true, progress: (l) => lines.push(l) }));
    expect(r.counts).toEqual({ ok: 0, warn: 0, fail: 0, skipped: 1, error: 0, manual: 0 });
    const said = lines.filter((l) => l.includes('not-configured') || l.includes(`(${path})`));
    expect(said).toHaveLength(1);
    expect(said[0]!.replace(/ +/g, ' ')).toBe(` SKIPPED checklists.not-configured ${summaryFor([[selector, path]])}`);
    expect(occurrences(r.text, lineFor([[selector, path]]))).toBe(1);
    expect(r.text).not.toMatch(/no check matches/);
    expect(r.report.subject).toMatch(/all clear$/);
  });

  it.each<[what: string, configured: string | undefined]>([
    ['nothing', undefined],
    ...FAMILIES.map(([selector]): [string, string] => [`only ${selector}`, selector]),
  ])('every family named, %s configured → the one item names exactly the families still empty, in the checklist\'s order', async (_what, configured) => {
    const id = `nc-all-${configured ?? 'none'}`;
    const extra = FAMILIES.find(([s]) => s === configured)?.[2](port) ?? {};
    const r = completed(await runChecklist(harness.deps, configWith(id, FAMILIES.map(([s]) => ({ check: s })), extra), id, MON, { mode: 'manual', dryRun: true }));
    const empty = FAMILIES.filter(([s]) => s !== configured).map(([s, p]) => [s, p] as [string, string]);
    expect(occurrences(r.text, '(checklists.not-configured)')).toBe(1);
    expect(occurrences(r.text, lineFor(empty))).toBe(1);
    expect(r.counts.skipped).toBeGreaterThanOrEqual(1);
    expect(r.text).not.toMatch(/no check matches/);
  });

  it('the same family named twice, and by both its names (sql, sql-metrics; heartbeats, heartbeat) → named once', async () => {
    const id = 'nc-twice';
    const items = ['http', 'http', 'sql', 'sql-metrics', 'heartbeat', 'heartbeats'].map((check) => ({ check }));
    const r = completed(await runChecklist(harness.deps, configWith(id, items), id, MON, { mode: 'manual', dryRun: true }));
    expect(r.counts).toMatchObject({ skipped: 1, error: 0 });
    expect(occurrences(r.text, lineFor([['http', 'checks.http'], ['sql', 'checks.sqlMetrics'], ['heartbeats', 'heartbeats']]))).toBe(1);
  });

  it("the default config's daily items (http, tls, statuspage, nothing configured) over two scheduled runs → the email's text and HTML say it once; stored as skipped; no alert, all clear", async () => {
    const id = 'nc-daily';
    const config = configWith(id, [{ check: 'env' }, { check: 'http' }, { check: 'tls' }, { check: 'statuspage' }, { manual: 'Review Sentry' }], { checks: { requiredEnv: ['PATH'] } });
    const families: Array<[string, string]> = [['http', 'checks.http'], ['tls', 'checks.tls'], ['statuspage', 'checks.statusPages']];
    for (const day of [0, 1]) {
      const r = completed(await runChecklist(harness.deps, config, id, new Date(MON.getTime() + day * DAY)));
      expect(r.counts).toEqual({ ok: 1, warn: 0, fail: 0, skipped: 1, error: 0, manual: 1 });
      expect(r.transitions).toEqual({ newFailures: [], recovered: [], stillFailing: [] });
      const { rows } = await harness.h.db.query<{ item_key: string; status: string; summary: string }>('SELECT item_key, status, summary FROM opsbook.run_results WHERE run_id = $1 ORDER BY item_key', [r.runId]);
      expect(rows).toEqual([
        { item_key: 'check:checklists.not-configured', status: 'skipped', summary: summaryFor(families) },
        { item_key: 'check:env.required', status: 'ok', summary: expect.any(String) },
      ]);
    }
    const emails = harness.sink.emails.filter((e) => e.headers?.['X-Opsbook-Checklist'] === id);
    expect(emails).toHaveLength(2);
    for (const e of emails) {
      expect(e.subject).toMatch(/all clear$/);
      expect(occurrences(e.text ?? '', lineFor(families))).toBe(1);
      expect(occurrences(e.html ?? '', summaryFor(families))).toBe(1);
      expect(e.html).toContain('Not configured');
    }
    expect(harness.errors.calls).toEqual([]);
  });
});
