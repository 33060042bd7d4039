import { afterEach, describe, expect, it, vi } from 'vitest';
import { renderReport } from '../../lib/report/index.js';
import { item, model, sampleModel } from './fixtures.js';

const sample = sampleModel();
const { html, text } = renderReport(sample);
const at = (needle: string, haystack = html) => {
  const i = haystack.indexOf(needle);
  expect(i, `${needle} is in the report`).toBeGreaterThanOrEqual(0);
  return i;
};
/** The summary block: from its start to the first section. */
const summary = html.slice(at('id="ob-summary"'), at('id="ob-section-1"'));
const failingIds = sample.items.filter((i) => i.status === 'fail' || i.status === 'error').map((i) => i.id);

describe('report HTML structure', () => {
  it('opens with the header (service, checklist, period, schedule, generatedAt), then notes, then the summary', () => {
    const header = html.slice(0, at('id="ob-summary"'));
    for (const s of ['VocaVision', 'Morning Checklist (9 AM UTC)', '2025-03-10', 'daily at 09:00 UTC', '2025-03-10T09:00:07.412Z', 'Maintenance window Tue 2025-03-11']) {
      expect(header).toContain(s);
    }
  });

  it('puts the summary before every section, and the sections in the runbook’s area order', () => {
    const areas = ['Postgres', 'Redis', 'Queues', 'Endpoints', 'Heartbeats', 'Metrics', 'Maintenance'];
    const positions = areas.map((_a, i) => at(`id="ob-section-${i + 1}"`));
    expect(at('id="ob-summary"')).toBeLessThan(positions[0]!);
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
    areas.forEach((a, i) => expect(html.slice(positions[i]!, positions[i]! + 600)).toContain(`>${a} <span`));
  });

  it('shows the counts as badges, failing counting fail + error', () => {
    expect(summary).toMatch(/>4<\/div><div[^>]*>FAILING · 1 ERR</);
    expect(summary).toMatch(/>7<\/div><div[^>]*>WARNINGS</);
    expect(summary).toMatch(/>3<\/div><div[^>]*>MANUAL</);
  });

  it('lists every failing item in the summary, new ones first and marked NEW, still-failing ones with their days', () => {
    for (const id of failingIds) expect(summary).toContain(id);
    const failingList = summary.slice(at('FAILING (4)', summary), at('WARNINGS (7)', summary));
    const order = ['postgres.connections', 'statuspage.neon', 'queues.email.failed', 'heartbeat.billing-sync'].map((id) => at(id, failingList));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(failingList.slice(order[0], order[1])).toContain('>NEW</span>');
    expect(failingList.slice(order[2], order[3])).toContain('failing for 3 days');
    expect(failingList.slice(order[3])).toContain('failing for 1 day<');
    expect(failingList).toMatch(/>ERROR<\/span> <b>Neon status<\/b>/);
  });

  it('lists warnings, new failures and recovered items in the summary', () => {
    const warnings = summary.slice(at('WARNINGS (7)', summary));
    for (const id of ['postgres.idle-in-transaction', 'redis.memory', 'tls.api.vocavision.com']) expect(warnings).toContain(id);
    const fresh = summary.slice(at('NEW SINCE LAST RUN (2)', summary), at('RECOVERED (1)', summary));
    expect(fresh).toContain('postgres.connections');
    expect(fresh).toContain('statuspage.neon');
    expect(summary.slice(at('RECOVERED (1)', summary))).toContain('redis.latency');
  });

  it('orders items within a section fail, error, warn, ok, skipped', () => {
    const postgres = html.slice(at('id="ob-section-1"'), at('id="ob-section-2"'));
    const ids = ['postgres.connections', 'postgres.idle-in-transaction', 'postgres.vacuum', 'postgres.cache-hit', 'postgres.replication'];
    const positions = ids.map((id) => at(id, postgres));
    expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });

  it('shows each failing or warning finding in the summary with its hint, the admin action with its dry-run body, then its detail rows', () => {
    const card = summary.slice(at('<b>Connections</b>', summary));
    const hint = at('<b>Hint:</b> Close sessions idle for more than 10 minutes', card);
    expect(at('92 of 100 connections in use', card)).toBeLessThan(hint);
    expect(card).toMatch(/<pre[^>]*><b[^>]*>POST<\/b> \/api\/admin\/db\/terminate\n\{\n {2}&quot;idleLongerThan&quot;: &quot;10m&quot;,\n {2}&quot;dryRun&quot;: true\n\}<\/pre>/);
    expect(at('worker-transcode', card)).toBeGreaterThan(hint);
    expect(card).toContain('+ 2 more rows');
    expect(summary).toContain('/api/admin/queues/retry');
    expect(summary).toContain('&quot;queue&quot;: &quot;email&quot;');
    // Warnings too: the vacuum warning's fix is in the summary.
    expect(summary.slice(at('WARNINGS (7)', summary))).toContain('/api/admin/db/maintenance');
  });

  it('lists every item one line each in its section, with no detail table and no fix (the fixes are above)', () => {
    const sections = html.slice(at('id="ob-section-1"'), at('id="ob-trends"'));
    expect(sections).not.toContain('cellpadding="3"');
    expect(sections).not.toContain('Admin action that fixes it');
    for (const i of sample.items) expect(sections).toContain(`>${i.id}</code>`);
    const postgres = sections.slice(0, at('id="ob-section-2"', sections));
    expect(postgres.match(/<tr><td style="padding:5px 0/g)).toHaveLength(sample.items.filter((i) => i.area === 'Postgres').length);
  });

  it('draws trends as table-cell bars with the latest values in text', () => {
    const trends = html.slice(at('id="ob-trends"'), at('id="ob-manual"'));
    expect(trends).toContain('DATABASE SIZE · 30 DAYS');
    expect(trends).toContain('4.1 GB');
    expect(trends).toContain('QUEUE FAILURES · 30 DAYS');
    expect(trends).toMatch(/>214 <span[^>]*>failed jobs today</);
    expect(trends).toMatch(/<b[^>]*>3<\/b> new slow queries/);
    for (const name of ['nightly-backup', 'billing-sync', 'search-reindex']) expect(trends).toContain(name);
    expect(trends.match(/<td height="\d+" bgcolor="#[0-9a-f]{6}" class="b"><\/td>/g)?.length).toBe(60);
    expect(trends).not.toMatch(/<(svg|canvas|img)\b/i);
  });

  it('renders manual items as checkboxes with owner, link and last done', () => {
    const manual = html.slice(at('id="ob-manual"'), at('id="ob-links"'));
    expect(manual.match(/☐/g)).toHaveLength(3);
    expect(manual).toContain('Review new error spikes in Sentry');
    expect(manual).toContain('owner <b>alice</b>');
    expect(manual).toContain('last done 2025-03-07');
    expect(manual).toContain('href="https://vocavision.sentry.io/issues/?statsPeriod&#61;24h"');
  });

  it('ends with the dashboard links, after the manual items', () => {
    const links = html.slice(at('id="ob-links"'));
    expect(at('id="ob-links"')).toBeGreaterThan(at('id="ob-manual"'));
    expect(links).toContain('<a href="https://grafana.vocavision.com/d/ops" style="color:#2563eb">Grafana</a>');
  });

  it('loads nothing and runs nothing: no scripts, no remote resources, no layout email clients drop', () => {
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/src="http/i);
    expect(html).not.toMatch(/url\(http/i);
    expect(html).not.toMatch(/<(img|link|iframe|svg|canvas|video|audio|object|embed|form)\b/i);
    expect(html).not.toMatch(/@import|@font-face/i);
    expect(html).not.toMatch(/display:\s*(flex|grid)|position:\s*(absolute|fixed)/i);
    expect(html).toMatch(/<table role="presentation"[^>]* id="ob-report" width="640" bgcolor="#ffffff" style="width:100%;max-width:640px/);
    // Only the Outlook-only conditional block has a <style>.
    expect(html.replace(/<!--\[if mso\]>[\s\S]*?<!\[endif\]-->/g, '')).not.toMatch(/<style/i);
  });

  it('is deterministic and ignores the clock', () => {
    vi.useFakeTimers();
    vi.setSystemTime(new Date('2031-01-01T00:00:00Z'));
    const later = renderReport(sampleModel());
    vi.setSystemTime(new Date('1999-06-01T12:00:00Z'));
    const earlier = renderReport(sampleModel());
    expect(later).toEqual(earlier);
    expect(later).toEqual(renderReport(sample));
  });
  afterEach(() => vi.useRealTimers());
});

describe('report variants', () => {
  it('all clear says so, in the summary', () => {
    const { html: h, text: t } = renderReport(model({ items: [item('redis.ping', 'ok', 'PONG'), item('postgres.replication', 'skipped', 'no replica')] }));
    expect(h).toContain('✓ All clear: 1 check passed, 1 skipped.');
    expect(h).not.toContain('FAILING (');
    expect(t).toContain('All clear.');
  });

  it('a dry run is flagged at the top', () => {
    const { html: h, text: t } = renderReport(model({ dryRun: true, items: [item('redis.ping', 'ok', 'PONG')] }));
    expect(h.indexOf('<b>Dry run:</b> nothing was stored or sent.')).toBeLessThan(h.indexOf('id="ob-summary"'));
    expect(t.split('\n').slice(0, 4)).toContain('DRY RUN: nothing was stored or sent.');
  });

  it('a manual-only checklist (quarterly disaster recovery drill) leads with its manual items', () => {
    const { html: h, text: t } = renderReport(
      model({
        checklist: { id: 'quarterly', title: 'Quarterly: disaster recovery drill', schedule: 'first Monday of January, April, July and October at 10:00 UTC' },
        manual: [{ text: 'Restore the latest backup into a scratch database', owner: 'dba', link: 'https://runbooks.example.com/dr' }],
      }),
    );
    expect(h).toContain('No automated checks in this checklist');
    expect(h).toContain('☐');
    expect(h).not.toContain('id="ob-section-1"');
    expect(t).toContain('[ ] Restore the latest backup into a scratch database');
  });

  it('many distinct areas fold into an "Other" section after the first 15', () => {
    const items = Array.from({ length: 40 }, (_, i) => item(`custom.thing-${i}`, 'ok', 'fine', { area: `Area ${String(i).padStart(2, '0')}` }));
    const { html: h } = renderReport(model({ items }));
    expect(h).toContain('id="ob-section-16"');
    expect(h).not.toContain('id="ob-section-17"');
    expect(h.slice(h.indexOf('id="ob-section-16"'))).toContain('>Other <span style="font-size:12px;font-weight:400;color:#6b7280">25 checks · 25 ok</span>');
  });

  it('an unknown area gets its own section after the known ones', () => {
    const { html: h } = renderReport(model({ items: [item('custom.thing', 'warn', 'w', { area: 'Billing' }), item('redis.ping', 'ok', 'PONG', { area: 'Redis' })] }));
    expect(h.indexOf('>Billing <span')).toBeGreaterThan(h.indexOf('>Redis <span'));
  });
});

describe('report text part', () => {
  const lines = text.split('\n');
  const line = (prefix: string) => {
    const i = lines.findIndex((l) => l.startsWith(prefix));
    expect(i, `a line starting ${JSON.stringify(prefix)}`).toBeGreaterThanOrEqual(0);
    return i;
  };

  it('follows the HTML order: summary, failing, warnings, new, recovered, sections, trends, manual, links', () => {
    const order = ['SUMMARY', 'FAILING (4)', 'WARNINGS (7)', 'NEW SINCE LAST RUN (2)', 'RECOVERED (1)', 'POSTGRES', 'REDIS', 'QUEUES', 'ENDPOINTS', 'HEARTBEATS', 'METRICS', 'MAINTENANCE', 'TRENDS', 'MANUAL ITEMS', 'DASHBOARDS'].map(line);
    expect(order).toEqual([...order].sort((a, b) => a - b));
  });

  it('gives failing items their hints and the admin action up top', () => {
    const failing = lines.slice(line('FAILING (4)'), line('WARNINGS (7)')).join('\n');
    expect(failing).toContain('✗ FAIL Connections (postgres.connections) · NEW · P1');
    expect(failing).toContain('ERROR Neon status (statuspage.neon) · NEW');
    expect(failing).toContain('failing for 3 days');
    expect(failing).toContain('Hint: Close sessions idle for more than 10 minutes');
    expect(failing).toContain('Fix:  POST /api/admin/db/terminate   (dry run first)\n            {\n              "idleLongerThan": "10m",\n              "dryRun": true\n            }');
  });

  it('shows a finding’s detail rows as an aligned table, trends as numbers and manual items as [ ]', () => {
    expect(text).toMatch(/table {10}\| deadRows {2}\| deadPct \| lastAutovacuum/);
    expect(text).toContain('Database size: 4.1 GB on 2025-03-10');
    expect(text).toContain('Queue failures: 214 on 2025-03-10; peak 214 on 2025-03-10');
    expect(text).toContain('New slow queries since the previous snapshot: 3');
    expect(text).toMatch(/billing-sync +down +1 d 2 h ago/);
    expect(text).toContain('  [ ] Review new error spikes in Sentry\n      owner alice · last done 2025-03-07 · https://vocavision.sentry.io/issues/?statsPeriod=24h');
    expect(text).toContain('  Grafana: https://grafana.vocavision.com/d/ops');
  });

  it('keeps lines within 100 characters', () => {
    const long = lines.filter((l) => Array.from(l).length > 100);
    expect(long).toEqual([]);
  });
});
