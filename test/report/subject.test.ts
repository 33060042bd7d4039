import { describe, expect, it } from 'vitest';
import { renderReport } from '../../lib/report/index.js';
import type { ReportModel } from '../../lib/report/model.js';
import { renderSubject, SUBJECT_MAX } from '../../lib/report/subject.js';
import { item, model } from './fixtures.js';

const fail = item('postgres.connections', 'fail', '92 of 100 connections');
const error = item('statuspage.neon', 'error', 'no answer within 5000 ms');
const warn = (n: number) => item(`redis.memory-${n}`, 'warn', '79% of maxmemory');
const ok = item('redis.ping', 'ok', 'PONG');

describe('report subject', () => {
  const cases: Array<[string, ReportModel, string]> = [
    ['all ok → all clear', model({ items: [ok] }), '[Opsbook] VocaVision · daily · all clear'],
    ['skipped items do not spoil all clear', model({ items: [ok, item('x', 'skipped', 'no replica')] }), '[Opsbook] VocaVision · daily · all clear'],
    ['fail and error count as failing, warnings counted', model({ items: [fail, error, warn(1), warn(2), warn(3), ok] }), '[Opsbook] VocaVision · daily · 2 failing · 3 warnings'],
    ['one warning is singular', model({ items: [warn(1)] }), '[Opsbook] VocaVision · daily · 1 warning'],
    [
      'new failures are called out',
      model({ items: [fail, error, warn(1)], transitions: { newFailures: [fail], stillFailing: [error], recovered: [] } }),
      '[Opsbook] VocaVision · daily · 2 failing · 1 new · 1 warning',
    ],
    ['dry run is prefixed', model({ items: [ok], dryRun: true }), '[dry run] [Opsbook] VocaVision · daily · all clear'],
    [
      'a manual-only checklist says how many manual items',
      model({ checklist: { id: 'quarterly', title: 'Quarterly: disaster recovery drill', schedule: 'quarterly' }, manual: [{ text: 'Restore the backup' }, { text: 'Rotate secrets' }] }),
      '[Opsbook] VocaVision · quarterly · 2 manual items',
    ],
  ];
  it.each(cases)('%s', (_name, m, expected) => {
    expect(renderSubject(m)).toBe(expected);
    expect(renderReport(m).subject).toBe(expected);
  });

  it('long service and checklist names are truncated and the counts survive', () => {
    const m = model({
      service: `VocaVision ${'Enterprise Platform '.repeat(20)}`,
      checklist: { id: `weekly-${'x'.repeat(200)}`, title: 'Weekly Checklist (Monday 10 AM UTC)', schedule: 'every Monday at 10:00 UTC' },
      dryRun: true,
      items: [fail, error, warn(1), warn(2), warn(3)],
      transitions: { newFailures: [fail, error], stillFailing: [], recovered: [] },
    });
    const subject = renderSubject(m);
    expect(Array.from(subject).length).toBeLessThan(120);
    expect(Array.from(subject).length).toBeLessThanOrEqual(SUBJECT_MAX);
    expect(subject).toMatch(/^\[dry run\] \[Opsbook\] VocaVision Enterprise/);
    expect(subject).toContain('…');
    expect(subject).toMatch(/ · 2 failing · 2 new · 3 warnings$/);
  });

  it('huge counts still fit', () => {
    const m = model({ service: 'S'.repeat(500), counts: { ok: 1e9, warn: 1e9, fail: 1e9, error: 1e9, skipped: 0, manual: 0 }, items: [fail] });
    expect(Array.from(renderSubject(m)).length).toBeLessThan(120);
  });

  it('control characters and line breaks cannot reach the header', () => {
    const m = model({ service: 'Voca\r\nBcc: victim@example.com\u0000\u202E', checklist: { id: 'daily\nX-Evil: 1', title: 't', schedule: 's' }, items: [ok] });
    const subject = renderSubject(m);
    expect(subject).not.toMatch(/[\r\n\u0000-\u001f\u202e]/);
    expect(subject).toBe('[Opsbook] Voca Bcc: victim@example.com · daily X-Evil: 1 · all clear');
  });
});
