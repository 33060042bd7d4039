import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDb, type DbHarness } from '../support/drivers.js';

/**
 * A backend ended while Opsbook holds its connection (db.terminate, a failover, an idle-session kill):
 * the call fails with a clear error, the process does not crash on an unhandled 'error' event (vitest
 * fails the run on one), and the next call gets a fresh connection.
 */
describe('node-postgres: a backend terminated in the middle of a call', () => {
  let h: DbHarness;
  beforeAll(async () => {
    h = await openDb('pg');
  });
  afterAll(async () => {
    await h.close();
  });

  async function terminateWhenRunning(marker: string): Promise<void> {
    await expect
      .poll(
        async () => {
          const { rows } = await h.database!.admin.query(`SELECT pg_terminate_backend(pid) AS done FROM pg_stat_activity WHERE query LIKE $1 AND pid <> pg_backend_pid()`, [
            `%${marker}%`,
          ]);
          return rows.length;
        },
        { timeout: 5000, interval: 20 },
      )
      .toBeGreaterThan(0);
  }

  it.each([
    ['batch()', (db: DbHarness['db'], marker: string) => db.batch([{ text: `SELECT pg_sleep(3) /* ${marker} */` }])],
    ['exec()', (db: DbHarness['db'], marker: string) => db.exec(`SELECT pg_sleep(3) /* ${marker} */`)],
  ] as const)('%s → rejects, no crash, and the next query works', async (_name, call, ) => {
    const marker = `opsbook_terminate_${Math.random().toString(36).slice(2)}`;
    const pending = call(h.db, marker);
    const outcome = pending.then(
      () => 'resolved',
      (err: unknown) => (err instanceof Error ? err.message : String(err)),
    );
    await terminateWhenRunning(marker);
    expect(await outcome).toMatch(/terminat|connection/i);
    const { rows } = await h.db.query<{ one: number }>('SELECT 1 AS one');
    expect(rows).toEqual([{ one: 1 }]);
  });
});
