import { describe, expect, it } from 'vitest';
import { parseConfig, validateConfig } from '../../lib/config/index.js';
import { didYouMean, editDistance } from '../../lib/did-you-mean.js';
import { RENAMED_KEY_CASES } from '../support/renamed-keys.js';

/** A misspelt key must name the key meant and the keys valid there, wherever it sits in the config. */
const problemsOf = (input: unknown): string[] => {
  try {
    parseConfig(input);
  } catch (err) {
    return (err as { details?: string[] }).details ?? [];
  }
  throw new Error('the config was accepted');
};

const daily = { type: 'daily', at: '09:00' };

describe('an unrecognised config key names the right one', () => {
  it.each([
    [
      'a truncated threshold (deadTuplesMin)',
      { checks: { postgres: { thresholds: { deadTuplesMin: 5 } } } },
      /^checks\.postgres\.thresholds: Unrecognized key: "deadTuplesMin" — did you mean "deadTuplesMinRows"\? Valid here: connectionsWarnPct, .*deadTuplesMinRows.*, topN$/,
    ],
    ['a typo one letter off (enabeld)', { checks: { redis: { enabeld: false } } }, /^checks\.redis: Unrecognized key: "enabeld" — did you mean "enabled"\? Valid here: enabled, thresholds, targets$/],
    [
      'inside a checklist schedule, the union member its type names (daily)',
      { checklists: [{ id: 'd', title: 'D', schedule: { ...daily, tiem: '10:00' }, items: [{ check: 'postgres' }] }] },
      /^checklists\.0\.schedule: Unrecognized key: "tiem" — valid here: type, at$/,
    ],
    [
      'the union member its type names even when another shares more keys (weekly)',
      { checklists: [{ id: 'w', title: 'W', schedule: { type: 'weekly', at: '09:00', days: ['mon'], dayz: ['tue'] }, items: [{ check: 'postgres' }] }] },
      /^checklists\.0\.schedule: Unrecognized key: "dayz" — did you mean "days"\? Valid here: type, days, at$/,
    ],
    ['nothing close → only the valid keys', { checks: { redis: { zzzzzz: 1 } } }, /^checks\.redis: Unrecognized key: "zzzzzz" — valid here: enabled, thresholds, targets$/],
    [
      'on a task item, the keys of the task it names (retention-delete)',
      { checklists: [{ id: 'm', title: 'M', schedule: daily, items: [{ task: 'retention-delete', tables: ['audit_logs'], colum: 'created_at', column: 'c', olderThanDays: 9 }] }] },
      /^checklists\.0\.items\.0: Unrecognized key: "colum" — did you mean "column"\? Valid here: task, tables, column, olderThanDays, batchSize, maxBatches$/,
    ],
    [
      'an old spelling on an object it was never renamed on (expr on a daily schedule) → just unknown',
      { checklists: [{ id: 'd', title: 'D', schedule: { ...daily, expr: '0 3 * * *' }, items: [{ check: 'postgres' }] }] },
      /^checklists\.0\.schedule: Unrecognized key: "expr" — valid here: type, at$/,
    ],
  ])('%s', (_name, input, expected) => {
    const problems = problemsOf(input);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
  });

  it.each([
    ['deadTuplesMin', ['deadTuplesMinRows', 'deadTuplesWarnPct'], 'deadTuplesMinRows'],
    ['enabeld', ['enabled', 'thresholds'], 'enabled'],
    ['topn', ['topN'], 'topN'],
    ['x', ['enabled', 'thresholds'], undefined],
  ])('didYouMean(%s) → %s', (unknown, valid, expected) => {
    expect(didYouMean(unknown, valid)).toBe(expected);
  });

  it('edit distance counts an adjacent swap as one edit', () => {
    expect(editDistance('enabeld', 'enabled')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
  });
});

describe('a renamed key is refused with its new name and how to write it, not as merely unrecognised', () => {
  it.each(RENAMED_KEY_CASES)('$name → validateConfig names the new key, once (the new key is not also reported missing)', async ({ checklist, problem }) => {
    expect(await validateConfig({ checklists: [checklist] })).toEqual({ ok: false, problems: [problem] });
  });

  it.each(RENAMED_KEY_CASES)('$name beside another unknown key → both named, each its own problem', async ({ checklist, at, problem }) => {
    const copy = structuredClone(checklist) as Record<string, any>;
    at.reduce<Record<string, any>>((v, k) => v[k], copy).zzzzzz = 1;
    const result = await validateConfig({ checklists: [copy] });
    const problems = result.ok ? [] : result.problems;
    expect(problems).toHaveLength(2);
    expect(problems[0]!.replace(', zzzzzz: 1 }', ' }')).toBe(problem);
    expect(problems[1]).toMatch(new RegExp(`^checklists\\.0\\.${at.join('\\.')}: Unrecognized key: "zzzzzz" — valid here: `));
  });
});
