import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureSchema } from '../../lib/db/schema.js';
import { claimKey, completeKey, IN_FLIGHT_LEASE_MS, requestHash } from '../../lib/admin/idempotency.js';
import { openDb, type DbHarness } from '../support/drivers.js';

describe('Idempotency-Key claims when the database recovers from a hang', () => {
  let h: DbHarness;
  beforeAll(async () => {
    h = await openDb('pg');
    await ensureSchema(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  const hash = requestHash('flags.set', { name: 'X', enabled: true });
  const row = async (key: string) => (await h.database!.admin.query(`SELECT state, created_at FROM opsbook.idempotency_keys WHERE actor = 'a' AND key = $1`, [key])).rows[0];

  it('a claim the database runs after its deadline (its caller already answered 503) stores nothing, so the retry runs', async () => {
    const now = new Date();
    await claimKey(h.db, 'a', 'late', hash, now, new Date(now.getTime() - 1));
    expect(await row('late')).toBeUndefined();
    expect(await claimKey(h.db, 'a', 'late', hash, new Date(), new Date(Date.now() + 5000))).toEqual({ kind: 'new' });
    expect(await row('late')).toMatchObject({ state: 'in-flight' });
  });

  it('an in-flight claim within its lease → 409 "still in progress"', async () => {
    const now = new Date();
    await claimKey(h.db, 'a', 'busy', hash, now);
    await expect(claimKey(h.db, 'a', 'busy', hash, new Date(now.getTime() + 1000))).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/still in progress/) });
  });

  it('an in-flight claim past its lease (its request is over) → the same request takes it over and can complete it', async () => {
    const then = new Date(Date.now() - IN_FLIGHT_LEASE_MS - 60_000);
    await claimKey(h.db, 'a', 'abandoned', hash, then);
    const other = requestHash('flags.set', { name: 'X', enabled: false });
    await expect(claimKey(h.db, 'a', 'abandoned', other, new Date())).rejects.toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/different request/) });
    const now = new Date();
    expect(await claimKey(h.db, 'a', 'abandoned', hash, now)).toEqual({ kind: 'new' });
    expect(new Date((await row('abandoned')).created_at).getTime()).toBe(now.getTime());
    await completeKey(h.db, 'a', 'abandoned', 200, { ok: true });
    expect(await claimKey(h.db, 'a', 'abandoned', hash, new Date())).toEqual({ kind: 'replay', status: 200, body: { ok: true } });
  });
});
