import { describe, expect, it } from 'vitest';
import type { Hint } from '../../lib/checks/types.js';
import { renderReport } from '../../lib/report/index.js';
import type { ReportItem } from '../../lib/report/model.js';
import { item, model, morningModel } from './fixtures.js';

/**
 * The report read at 9 a.m. (issue 14 item 4): failing and warning items first, each with its fix;
 * passing checks one line each; a fix shared by several items shown once, naming them; counts that
 * say "1 day", not "1 DAYS".
 */

/** Occurrences, whitespace normalised (the text part wraps long lines). */
const count = (haystack: string, needle: string) => haystack.replace(/\s+/g, ' ').split(needle).length - 1;
const summaryOf = (html: string) => html.slice(html.indexOf('id="ob-summary"'), html.indexOf('id="ob-section-1"'));
const sectionsOf = (html: string) => html.slice(html.indexOf('id="ob-section-1"'), html.indexOf('id="ob-trends"') > 0 ? html.indexOf('id="ob-trends"') : undefined);
const fix = (text: string): Hint => ({ text, action: { method: 'POST', path: '/api/admin/queues/retry', body: { queue: 'email', dryRun: true } } });
const rows = (n: number) => Array.from({ length: n }, (_, i) => ({ table: `public.t${i}`, bytes: 1000 * i }));

describe('order: what needs doing comes first, with its fix', () => {
  const cases: Array<[string, ReportItem[], string[]]> = [
    [
      'the only warning, in the last area, after 30 passing checks',
      [...Array.from({ length: 30 }, (_, i) => item(`postgres.ok-${i}`, 'ok', 'fine', { details: rows(5) })), item('queues.email', 'warn', '7 failed jobs', { area: 'Queues', hint: fix('Retry them.') })],
      ['queues.email', 'Retry them.', '/api/admin/queues/retry', 'postgres.ok-0'],
    ],
    [
      'failing before warnings, new before old, each followed by its own fix',
      [
        item('http.a', 'warn', 'slow', { area: 'Endpoints', hint: { text: 'Fix A.' } }),
        item('postgres.b', 'fail', 'down', { hint: { text: 'Fix B.' }, failingDays: 2 }),
        item('redis.c', 'fail', 'down', { area: 'Redis', hint: { text: 'Fix C.' } }),
      ],
      ['redis.c', 'Fix C.', 'postgres.b', 'Fix B.', 'http.a', 'Fix A.'],
    ],
  ];
  it.each(cases)('%s', (_name, items, order) => {
    const newFailures = items.filter((i) => i.id === 'redis.c');
    const { html, text } = renderReport(model({ items, transitions: { newFailures, stillFailing: [], recovered: [] } }));
    const summary = summaryOf(html);
    const inHtml = order.map((s) => (s.startsWith('postgres.ok') ? html.indexOf(`>${s}</code>`) : summary.indexOf(s)));
    expect(inHtml.every((i) => i >= 0), `${order} all in the report`).toBe(true);
    expect(inHtml).toEqual([...inHtml].sort((a, b) => a - b));
    const inText = order.map((s) => text.indexOf(s));
    expect(inText.every((i) => i >= 0)).toBe(true);
    expect(inText).toEqual([...inText].sort((a, b) => a - b));
  });
});

describe('passing checks are one line each', () => {
  it.each([
    ['with detail rows', { details: rows(5), more: 40 }],
    ['with a hint', { hint: { text: 'Nothing to do.' } }],
    ['plain', {}],
  ] as const)('%s: no table, no details, one row in the HTML section and one entry in the text', (_name, extra) => {
    const items = Array.from({ length: 8 }, (_, i) => item(`postgres.ok-${i}`, 'ok', `fine ${i}`, extra));
    const { html, text } = renderReport(model({ items }));
    const sections = sectionsOf(html);
    expect(sections).not.toContain('cellpadding="3"');
    expect(sections).not.toContain('public.t1');
    expect(sections.match(/<tr><td style="padding:5px 0/g)).toHaveLength(8);
    for (let i = 0; i < 8; i++) expect(count(text, `OK postgres.ok-${i} —`)).toBe(1);
    expect(text).not.toContain('public.t1');
    expect(text).not.toMatch(/more rows/);
  });
});

describe('a fix shared by several items is shown once, naming them', () => {
  const redisHint = { text: 'No Redis is configured: set REDIS_URL.' };
  const cases: Array<[string, ReportItem[], string, number]> = [
    ['six skipped Redis checks, one hint', ['ping', 'memory', 'clients', 'hit-rate', 'dbsize', 'slowlog'].map((c) => item(`redis.${c}`, 'skipped', 'in-memory fallback', { area: 'Redis', hint: redisHint })), redisHint.text, 6],
    ['three failing queues, one action', ['a', 'b', 'c'].map((q) => item(`queues.${q}`, 'fail', 'failed jobs', { area: 'Queues', hint: fix('Retry the failed jobs.') })), 'Retry the failed jobs.', 3],
    ['two warnings, one fix', ['x', 'y'].map((q) => item(`http.${q}`, 'warn', 'slow', { area: 'Endpoints', hint: { text: 'Look at the region.' } })), 'Look at the region.', 2],
  ];
  it.each(cases)('%s', (_name, items, hintText, n) => {
    const { html, text } = renderReport(model({ items }));
    expect(count(html, hintText)).toBe(1);
    expect(count(text, hintText)).toBe(1);
    expect(html).toContain(`Applies to ${n} checks`);
    for (const i of items) expect(html.slice(html.indexOf(hintText))).toContain(`>${i.id}</code>`);
    if (items[0]!.hint?.action) expect(count(html, '/api/admin/queues/retry')).toBe(1);
  });

  it('different fixes stay apart, each shown with its own item', () => {
    const items = [item('http.x', 'warn', 'slow', { area: 'Endpoints', hint: { text: 'Fix X.' } }), item('http.y', 'warn', 'slow', { area: 'Endpoints', hint: { text: 'Fix Y.' } })];
    const { html } = renderReport(model({ items }));
    expect([count(html, 'Fix X.'), count(html, 'Fix Y.')]).toEqual([1, 1]);
    expect(html).not.toContain('Applies to');
  });

  it('the morning report shows the Redis hint once, not six times', () => {
    const { html, text } = renderReport(morningModel());
    expect(count(html, 'No Redis is configured')).toBe(1);
    expect(count(text, 'No Redis is configured')).toBe(1);
  });
});

describe('pluralisation', () => {
  const series = (n: number) => Array.from({ length: n }, (_, i) => ({ date: `2025-03-${String(10 + i).padStart(2, '0')}`, value: i + 1 }));
  it.each([
    [1, ['DATABASE SIZE · 1 DAY<', 'QUEUE FAILURES · 1 DAY<'], ['over 1 day', 'last 1 day:'], /\b1 DAYS|\b1 days\b/],
    [2, ['DATABASE SIZE · 2 DAYS<', 'QUEUE FAILURES · 2 DAYS<'], ['over 2 days', 'last 2 days:'], /\b2 DAY<|\b2 day\b/],
  ])('%i day(s) of trends', (n, inHtml, inText, never) => {
    const { html, text } = renderReport(model({ items: [item('redis.ping', 'ok', 'PONG')], trends: { databaseSize: series(n), queueFailures: series(n) } }));
    for (const s of inHtml) expect(html).toContain(s);
    for (const s of inText) expect(text).toContain(s);
    expect(html).not.toMatch(never);
    expect(text).not.toMatch(never);
  });

  it.each([
    [26, '… and 1 more ok check<', '… and 1 more ok check\n'],
    [27, '… and 2 more ok checks<', '… and 2 more ok checks\n'],
  ])('%i passing checks in one area: the overflow is counted in the right number', (n, inHtml, inText) => {
    const items = Array.from({ length: n }, (_, i) => item(`postgres.ok-${i}`, 'ok', 'fine'));
    const { html } = renderReport(model({ items }));
    expect(html).toContain(inHtml);
    const many = Array.from({ length: n + 5 }, (_, i) => item(`postgres.ok-${i}`, 'ok', 'fine'));
    expect(renderReport(model({ items: many })).text).toContain(inText);
  });
});
