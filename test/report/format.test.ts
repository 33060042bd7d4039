import { describe, expect, it } from 'vitest';
import { actionJson, formatAge, formatBytes, formatCell, formatChange, formatNumber } from '../../lib/report/format.js';
import { wrap, WIDTH } from '../../lib/report/text.js';

describe('report formatting', () => {
  it.each([
    [0, '0 B'],
    [1023, '1023 B'],
    [1536, '1.5 kB'],
    [4.1 * 2 ** 30, '4.1 GB'],
    [12 * 2 ** 40, '12 TB'],
  ])('formatBytes(%d) → %s', (n, s) => expect(formatBytes(n)).toBe(s));

  it.each([
    [0, '0'],
    [1234567, '1,234,567'],
    [-9876.543, '-9,876.54'],
    [0.125, '0.13'],
  ])('formatNumber(%d) → %s', (n, s) => expect(formatNumber(n)).toBe(s));

  it.each([
    [42, '42 s'],
    [300, '5 min'],
    [3 * 3600 + 9 * 60, '3 h 9 min'],
    [26 * 3600 + 4 * 60, '1 d 2 h'],
    [-5, '0 s'],
  ])('formatAge(%d) → %s', (n, s) => expect(formatAge(n)).toBe(s));

  it('formatChange gives a signed percentage, or nothing without a base', () => {
    expect(formatChange(100, 103.2)).toBe('+3.2%');
    expect(formatChange(100, 90)).toBe('-10%');
    expect(formatChange(0, 5)).toBeUndefined();
  });

  it.each<[string, unknown, string]>([
    ['bytes', 2_040_109_056, '1.9 GB'],
    ['indexBytes', 536_870_912, '512 MB'],
    ['rows', 4_210_344, '4,210,344'],
    ['pid', 48211, '48211'],
    ['jobId', 88123, '88123'],
    ['lastAutovacuum', '2025-03-02T03:11:09.123Z', '2025-03-02 03:11:09Z'],
    ['new', true, 'yes'],
    ['missing', null, '—'],
    ['nested', { a: [1, 2] }, '{"a":[1,2]}'],
    ['long', 'x'.repeat(100), `${'x'.repeat(59)}…`],
    ['multiline', 'SELECT *\n  FROM t\r\n WHERE x', 'SELECT * FROM t WHERE x'],
  ])('formatCell(%s, %j) → %s', (key, value, s) => expect(formatCell(key, value, 60)).toBe(s));

  it('actionJson puts one key per line and keeps lists on one line', () => {
    expect(actionJson({ op: 'vacuum-analyze', tables: ['public.a', 'public.b'], dryRun: true }, 300)).toBe(
      '{\n  "op": "vacuum-analyze",\n  "tables": ["public.a","public.b"],\n  "dryRun": true\n}',
    );
    expect(JSON.parse(actionJson({ queue: 'email', limit: 100, dryRun: true }, 300))).toEqual({ queue: 'email', limit: 100, dryRun: true });
    expect(actionJson({}, 300)).toBe('{}');
  });

  it('wrap keeps lines within the width, indenting continuations', () => {
    const lines = wrap('word '.repeat(80), 6, '  - ');
    expect(lines.length).toBeGreaterThan(3);
    for (const l of lines) expect(Array.from(l).length).toBeLessThanOrEqual(WIDTH);
    expect(lines[0]!.startsWith('  - word')).toBe(true);
    expect(lines[1]!.startsWith('      word')).toBe(true);
  });
});
