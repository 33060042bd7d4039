import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSchema } from '../../lib/db/schema.js';
import { advance } from '../../lib/alerts/state.js';
import { claimAlert, loadStates, writeStateStatement } from '../../lib/alerts/store.js';
import type { DbDriver } from '../../lib/db/index.js';
import { openDb, type DbHarness } from '../support/drivers.js';

const NOW = new Date('2026-11-02T09:00:00Z');
const T = { alertAfter: 1, recoverAfter: 1 };

describe.each<DbDriver>(['pg', 'neon', 'pglite'])('alert state in Postgres (%s)', (driver) => {
  let h: DbHarness;
  beforeAll(async () => {
    h = await openDb(driver);
    await ensureSchema(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  it('an incident written with the run survives a new process: loadStates reads back what was written', async () => {
    const step = advance(undefined, 'fail', T, false, NOW);
    await h.db.batch([writeStateStatement('c/check:a', step.next, 0, 'c', NOW)], { readOnly: false });
    const states = await loadStates(h.db, ['c/check:a', 'c/check:unknown']);
    expect(states.get('c/check:a')).toEqual({ ...step.next, version: 1 });
    expect(states.has('c/check:unknown')).toBe(false);
  });

  it('ten instances claiming the same incident’s alert at once → exactly one wins', async () => {
    const step = advance(undefined, 'fail', T, false, NOW);
    await h.db.batch([writeStateStatement('c/check:b', step.next, 0, 'c', NOW)], { readOnly: false });
    const claims = await Promise.all(Array.from({ length: 10 }, () => claimAlert(h.db, 'c/check:b', step.alert!.seq, NOW)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    // The same incident later (a retried run): still claimed.
    expect(await claimAlert(h.db, 'c/check:b', step.alert!.seq, NOW)).toBe(false);
  });

  it('two writers from the same version → one write counts (RETURNING tells which), the other changes nothing', async () => {
    const first = advance(undefined, 'fail', T, false, NOW).next;
    const [a] = await h.db.batch([writeStateStatement('c/check:c', first, 0, 'c', NOW)], { readOnly: false });
    const [b] = await h.db.batch([writeStateStatement('c/check:c', { ...first, failures: 99 }, 0, 'c', NOW)], { readOnly: false });
    expect([a!.rows.length, b!.rows.length]).toEqual([1, 0]);
    expect((await loadStates(h.db, ['c/check:c'])).get('c/check:c')!.failures).toBe(1);
  });
});
