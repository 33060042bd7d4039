import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { inlineParams } from '../../lib/db/inline.js';
import { openDb } from '../support/drivers.js';

describe('inlining parameters for one-round-trip batches', () => {
  it.each([
    ['SELECT $1::int', [42], "SELECT '42'::int"],
    ['SELECT $1, $2', ["it's", null], "SELECT 'it''s', NULL"],
    ["SELECT '$1' AS lit, $1", ['x'], "SELECT '$1' AS lit, 'x'"],
    ['SELECT "$1" FROM t WHERE a = $1', ['x'], `SELECT "$1" FROM t WHERE a = 'x'`],
    ['SELECT $10, $1', [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], "SELECT '10', '1'"],
    ['SELECT 1 -- $1\n, $1', ['y'], "SELECT 1 -- $1\n, 'y'"],
    ['SELECT $1 = ANY($2)', ['a', ['a', 'b']], `SELECT 'a' = ANY('{"a","b"}')`],
  ])('%s with %j → %s', (sql, params, expected) => {
    expect(inlineParams(sql, params)).toBe(expected);
  });

  it('a missing parameter is an error, not NULL', () => {
    expect(() => inlineParams('SELECT $2', ['a'])).toThrow(/\$2/);
  });

  it('any string round-trips through Postgres unchanged (backslashes, quotes, unicode)', async () => {
    const h = await openDb('pg');
    try {
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'binary', maxLength: 60 }).filter((s) => !s.includes('\u0000')), async (s) => {
          const [res] = await h.db.batch([{ text: 'SELECT $1::text AS v', params: [s] }]);
          expect(res!.rows[0]).toEqual({ v: s });
        }),
        { numRuns: 150 },
      );
    } finally {
      await h.close();
    }
  });
});
