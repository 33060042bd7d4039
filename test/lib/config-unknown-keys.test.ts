import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { didYouMean, editDistance } from '../../lib/did-you-mean.js';

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
