import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicaLagSql, standbysSql } from '../../lib/checks/postgres/replication.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';

const LAG = 'postgres.replication-lag';
const SLOTS = 'postgres.replication-slots';
type Detail = Record<string, unknown>;

describe.each(DB_DRIVERS)('replication checks on a primary over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => {
    h = await openDb(driver);
    // Opening PGlite runs initdb (seconds): do it here, not inside a check's time limit.
    await ensureSchema(h.db);
    deps = await depsFor(h.db);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('primary without standbys → replication-lag ok, "primary: no replay lag"', async () => {
    const r = (await diagnose(deps, {}, { only: [LAG] })).byId(LAG);
    expect(r).toMatchObject({ status: 'ok', severity: 'P2', family: 'postgres.replication', value: 0, unit: 's' });
    expect(r.summary).toBe('primary: no replay lag (no standby streams from it)');
  });

  it("the replica and standby queries are valid here: on a primary there is nothing replayed and no standby", async () => {
    const [lag, standbys] = await h.db.batch([replicaLagSql(), standbysSql(11)]);
    expect(lag!.rows).toEqual([{ lag_s: null, since_replay_s: null, replay_behind_bytes: null, streaming: false, paused: null }]);
    expect(standbys!.rows).toEqual([]);
  });

  it('no inactive slot → replication-slots ok', async () => {
    const r = (await diagnose(deps, {}, { only: [SLOTS] })).byId(SLOTS);
    expect(r).toMatchObject({ status: 'ok', value: 0, unit: 'slots' });
    expect(r.summary).toMatch(/^(no replication slot|\d+ replication slots?, all active)$/);
  });

  it('inactive slot → warn with the WAL it retains and how to drop it', async () => {
    const slot = `opsbook_t_slot_${randomBytes(4).toString('hex')}`;
    await h.db.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
    try {
      const report = await diagnose(deps, {}, { only: [SLOTS] });
      const r = report.byId(SLOTS);
      expect(r.status).toBe('warn');
      expect(r.summary).toMatch(/^\d+ inactive replication slots? of \d+, retaining \d+(\.\d)? (B|kB|MB|GB)/);
      const row = (r.details as Detail[]).find((d) => d.slot === slot);
      expect(row).toMatchObject({ type: 'physical', plugin: null, database: null, walStatus: 'reserved', retainedBytes: expect.any(Number) });
      expect(row!.retainedBytes as number).toBeGreaterThanOrEqual(0);
      expect(r.hint?.text).toMatch(/SELECT pg_drop_replication_slot\('opsbook_t_slot_\w+'\);$/);
      expect(report.postgresRoundTrips).toBeLessThanOrEqual(2);
    } finally {
      await h.db.query('SELECT pg_drop_replication_slot($1)', [slot]);
    }
  });
});
