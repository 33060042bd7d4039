import { describe, expect, it } from 'vitest';
import type { CheckStatus } from '../../lib/checks/types.js';
import { HTML_LIMIT_BYTES, renderReport } from '../../lib/report/index.js';
import type { ReportItem } from '../../lib/report/model.js';
import { bigModel, item, model, sampleModel } from './fixtures.js';

const KB = 1024;
const bytes = (s: string) => Buffer.byteLength(s, 'utf8');
const failingOf = (items: ReportItem[]) => items.filter((i) => i.status === 'fail' || i.status === 'error');
/** The summary block of a rendered report: from its start to the first section. */
const summaryOf = (html: string) => html.slice(html.indexOf('id="ob-summary"'), html.indexOf('id="ob-section-1"'));

describe('report size', () => {
  it('a 2,000-item model with long summaries and many details stays under 100 KB and keeps every failing item', () => {
    const m = bigModel(2000);
    const { html, text } = renderReport(m);
    expect(HTML_LIMIT_BYTES).toBe(100_000);
    expect(bytes(html)).toBeLessThan(100_000);
    const failing = failingOf(m.items);
    expect(failing.length).toBe(60);
    const summary = summaryOf(html);
    for (const i of failing) {
      expect(summary, `${i.id} in the summary`).toContain(`>${i.id}</code>`);
      expect(text).toContain(i.id);
    }
    // Every failing item shares one fix here: it is shown once, in the summary, naming all 60.
    expect(summary.match(/Admin action that fixes it/g)).toHaveLength(1);
    expect(summary).toContain('Applies to 60 checks');
    // The sections list items one line each: the failing ones that fit, the others counted there.
    const sections = html.slice(html.indexOf('id="ob-section-1"'), html.indexOf('id="ob-trends"'));
    expect(sections).not.toContain('Admin action that fixes it');
    const counted = [...sections.matchAll(/… and (\d+) more failing checks? \(listed in the summary\)/g)].reduce((n, x) => n + Number(x[1]), 0);
    const shown = failing.filter((i) => sections.includes(`>${i.id}</code>`)).length;
    expect(shown + counted).toBe(failing.length);
    // What was left out is counted, per section.
    expect(html).toMatch(/… and [^<]*\b\d[\d,]* more ok checks/);
    // Warnings that do not fit with their fix are named, or counted when even that does not fit.
    expect(summary).toMatch(/WARNINGS \(180\)/);
    expect(summary).toMatch(/more warnings \(in the plain-text part\)/);
  });

  it('caps detail rows per item and says how many more there are', () => {
    const m = bigModel(20);
    // One failing item with its own fix: its card shows its evidence, capped.
    const only = { ...m.items.find((i) => i.id === 'postgres.check-0007')!, hint: { text: 'A fix of its own.' } };
    const { html } = renderReport({ ...m, items: m.items.map((i) => (i.id === only.id ? only : i)) });
    const card = html.slice(html.indexOf('>postgres.check-0007</code>', html.indexOf('id="ob-summary"')));
    const table = card.slice(card.indexOf('<table role="presentation" cellpadding="3"'), card.indexOf('</table>', card.indexOf('<table role="presentation" cellpadding="3"')));
    expect(table.match(/<tr/g)).toHaveLength(1 + 5);
    expect(card).toContain('+ 535 more rows · 2 more columns');
  });

  it('when even the failing items cannot all fit, the summary names as many as fit and the text part has every one', () => {
    const items = Array.from({ length: 3000 }, (_, i) => item(`area.failing-check-with-a-long-name-${String(i).padStart(4, '0')}`, 'fail', `failure ${i} ${'x'.repeat(500)}`));
    const m = model({ items, transitions: { newFailures: items, stillFailing: [], recovered: [] } });
    const { html, text } = renderReport(m);
    expect(bytes(html)).toBeLessThan(100_000);
    expect(summaryOf(html)).toMatch(/… and [\d,]+ more failing \(every one is in the plain-text part\)/);
    for (const i of items) expect(text).toContain(i.id);
  });

  it('a single giant item (1 MB summary, 10,000 detail rows, huge hint) stays under 100 KB', () => {
    const giant = item('postgres.giant', 'fail', 'y'.repeat(1_000_000), {
      details: Array.from({ length: 10_000 }, (_, r) => ({ [`k${r % 50}`]: 'z'.repeat(10_000) })),
      hint: { text: 'h'.repeat(1_000_000), action: { method: 'POST', path: `/api/${'p'.repeat(10_000)}`, body: { list: Array.from({ length: 100_000 }, (_, i) => i) } } },
    });
    const { html, text } = renderReport(model({ items: [giant] }));
    expect(bytes(html)).toBeLessThan(20 * KB);
    expect(bytes(text)).toBeLessThan(20 * KB);
  });

  it('a model with every list at its longest and every string at its longest stays under 100 KB', () => {
    const long = (n: number) => 'w'.repeat(n);
    const url = (i: number) => `https://example.com/${i}/${'p'.repeat(490)}`;
    const areas = Array.from({ length: 20 }, (_, i) => `Area ${i} ${long(100)}`);
    // Shared by every item: building 4,000 distinct copies would only slow the test down.
    const details = Array.from({ length: 50 }, () => Object.fromEntries(Array.from({ length: 20 }, (_, k) => [`${long(50)}${k}`, long(500)])));
    const body = Object.fromEntries(Array.from({ length: 50 }, (_, k) => [`${long(100)}${k}`, long(1000)]));
    const items = Array.from({ length: 4000 }, (_, i) =>
      item(`${long(150)}.${i}`, (['fail', 'error', 'warn', 'ok', 'skipped'] as const)[i % 5]!, long(5000), {
        title: long(500),
        area: areas[i % areas.length]!,
        details,
        hint: { text: long(5000), action: { method: 'POST', path: `/${long(500)}`, body } },
      }),
    );
    const failing = failingOf(items);
    const m = model({
      service: long(500),
      checklist: { id: long(500), title: long(500), schedule: long(500) },
      period: long(500),
      generatedAt: long(500),
      items,
      transitions: { newFailures: failing.slice(0, 1000), stillFailing: failing.slice(1000), recovered: items.slice(0, 500) },
      trends: {
        databaseSize: Array.from({ length: 400 }, (_, i) => ({ date: long(100), value: i * 1e9 })),
        queueFailures: Array.from({ length: 400 }, (_, i) => ({ date: long(100), value: i })),
        newSlowQueries: 1e12,
        heartbeats: Array.from({ length: 400 }, (_, i) => ({ name: long(300), state: long(300), lastSuccessAgeSeconds: i * 1e6 })),
      },
      manual: Array.from({ length: 400 }, (_, i) => ({ text: long(2000), owner: long(500), link: url(i), lastDone: long(500) })),
      links: Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`${long(300)}${i}`, url(i)])),
      notes: Array.from({ length: 100 }, () => long(5000)),
    });
    const { html, subject } = renderReport(m);
    expect(bytes(html)).toBeLessThan(100_000);
    expect(Array.from(subject).length).toBeLessThan(120);
    expect(summaryOf(html)).toMatch(/… and [\d,]+ more failing \(every one is in the plain-text part\)/);
  });

  it('many ok checks in one area are capped, with a count of the rest', () => {
    const statuses: CheckStatus[] = ['ok'];
    const items = Array.from({ length: 200 }, (_, i) => item(`postgres.ok-${i}`, statuses[0]!, 'fine'));
    const { html, text } = renderReport(model({ items }));
    expect(html).toContain('… and 175 more ok checks');
    expect(text).toContain('… and 170 more ok checks');
  });

  const small: Array<[string, () => ReturnType<typeof model>, number]> = [
    ['one ok check', () => model({ items: [item('redis.ping', 'ok', 'PONG in 3 ms', { area: 'Redis' })] }), 8 * KB],
    ['the sample morning checklist (28 items, trends, manual items)', sampleModel, 64 * KB],
  ];
  it.each(small)('small models are small: %s', (_name, build, limit) => {
    const { html, text } = renderReport(build());
    expect(bytes(html)).toBeLessThan(limit);
    expect(bytes(text)).toBeLessThan(limit / 2);
  });
});
