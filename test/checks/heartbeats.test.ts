import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OpsbookConfigInput } from '../../lib/config/index.js';
import type { Db, Statement } from '../../lib/db/index.js';
import type { Deps } from '../../lib/deps.js';
import { recordPing } from '../../lib/heartbeats.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';
import { depsFor, diagnose } from '../support/diagnostics.js';

const at = (iso: string) => new Date(iso);

const CONFIG: OpsbookConfigInput = {
  heartbeats: [
    { name: 'fresh', periodSeconds: 60 },
    { name: 'hourly', title: 'Hourly export', periodSeconds: 3600, graceSeconds: 600 },
    { name: 'flaky', periodSeconds: 3600, graceSeconds: 600, severity: 'P1' },
    { name: 'nightly', cron: '0 3 * * *', graceSeconds: 3600 },
    { name: 'db-backup', periodSeconds: 86_400, rpoSeconds: 3600 },
    { name: 'reordered', periodSeconds: 3600, graceSeconds: 600 },
  ],
};

/** The Db, recording every batch it is asked to run. */
function recording(db: Db): Db & { batches: Statement[][] } {
  const batches: Statement[][] = [];
  return {
    driver: db.driver,
    batches,
    query: (text, params) => db.query(text, params),
    batch(statements, opts) {
      batches.push(statements);
      return db.batch(statements, opts);
    },
    exec: (text, opts) => db.exec(text, opts),
    close: () => db.close(),
  };
}

describe.each(DB_DRIVERS)('heartbeats check over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  let db: ReturnType<typeof recording>;

  beforeAll(async () => {
    h = await openDb(driver);
    db = recording(h.db);
    deps = await depsFor(db);
    await recordPing(h.db, { name: 'hourly', kind: 'success' }, at('2026-03-01T10:00:00Z'));
    await recordPing(h.db, { name: 'flaky', kind: 'success' }, at('2026-03-01T10:00:00Z'));
    await recordPing(h.db, { name: 'flaky', kind: 'start' }, at('2026-03-01T10:15:00Z'));
    await recordPing(h.db, { name: 'flaky', kind: 'exit', exitCode: 3, body: 'pg_dump: error: connection refused' }, at('2026-03-01T10:20:00Z'));
    await recordPing(h.db, { name: 'nightly', kind: 'exit', exitCode: 0 }, at('2026-03-01T03:02:00Z'));
    await recordPing(h.db, { name: 'db-backup', kind: 'success' }, at('2026-03-01T08:00:00Z'));
    // Committed out of order: the later success first, then an older failure.
    await recordPing(h.db, { name: 'reordered', kind: 'success' }, at('2026-03-01T10:00:00Z'));
    await recordPing(h.db, { name: 'reordered', kind: 'fail' }, at('2026-03-01T09:00:00Z'));
    // A name that is not configured is ignored by the check.
    await recordPing(h.db, { name: 'unconfigured', kind: 'fail' }, at('2026-03-01T10:00:00Z'));
  });
  afterAll(async () => {
    await h.close();
  });

  const run = (now: string) => diagnose(deps, CONFIG, { only: ['heartbeat'] }, at(now));

  it('never pinged → warn "never pinged", with the curl line for its route in the hint', async () => {
    const r = (await run('2026-03-01T10:30:00Z')).byId('heartbeat.fresh');
    expect(r).toMatchObject({ status: 'warn', family: 'heartbeats', details: [{ state: 'new', lastSuccess: null }] });
    expect(r.summary).toMatch(/never pinged/);
    expect(r.hint?.text).toContain('curl -fsS -m 10 --retry 5 -H "Authorization: Bearer $OPSBOOK_HEARTBEAT_TOKEN" https://<opsbook-host>/api/heartbeats/fresh');
  });

  it('success within period → ok (up), with the last success age as the value', async () => {
    const r = (await run('2026-03-01T10:30:00Z')).byId('heartbeat.hourly');
    expect(r).toMatchObject({ status: 'ok', title: 'Hourly export', value: 1800, unit: 's' });
    expect(r.details![0]).toMatchObject({
      state: 'up',
      lastSuccess: '2026-03-01T10:00:00.000Z',
      lastPing: '2026-03-01T10:00:00.000Z',
      expectedBy: '2026-03-01T11:00:00.000Z',
      downAt: '2026-03-01T11:10:00.000Z',
    });
  });

  it('past the expected time, within grace → warn (late)', async () => {
    const r = (await run('2026-03-01T11:05:00Z')).byId('heartbeat.hourly');
    expect(r).toMatchObject({ status: 'warn', details: [{ state: 'late' }] });
    expect(r.summary).toMatch(/^late/);
  });

  it('late heartbeat past grace → fail (down)', async () => {
    const r = (await run('2026-03-01T11:15:00Z')).byId('heartbeat.hourly');
    expect(r).toMatchObject({ status: 'fail', details: [{ state: 'down' }] });
    expect(r.summary).toMatch(/^down: no success since 1 h 15 min ago/);
  });

  it('a non-zero exit code after the last success → fail at once, naming the exit code', async () => {
    const r = (await run('2026-03-01T10:21:00Z')).byId('heartbeat.flaky');
    expect(r).toMatchObject({ status: 'fail', severity: 'P1', details: [{ state: 'down', lastFailExitCode: 3, running: false }] });
    expect(r.summary).toMatch(/the last run failed \(exit code 3\) 1 min 0 s ago/);
    expect(JSON.stringify(r)).not.toContain('connection refused');
  });

  it('cron schedule missed by more than grace → fail (down); within grace → warn (late)', async () => {
    const missed = (await run('2026-03-02T04:01:00Z')).byId('heartbeat.nightly');
    expect(missed).toMatchObject({ status: 'fail', details: [{ state: 'down', expectedBy: '2026-03-02T03:00:00.000Z' }] });
    const late = (await run('2026-03-02T03:30:00Z')).byId('heartbeat.nightly');
    expect(late).toMatchObject({ status: 'warn', details: [{ state: 'late' }] });
    const up = (await run('2026-03-02T02:59:00Z')).byId('heartbeat.nightly');
    expect(up).toMatchObject({ status: 'ok', details: [{ state: 'up' }] });
  });

  it('RPO exceeded → fail "RPO of … exceeded (last backup … ago)" though the schedule is met', async () => {
    const r = (await run('2026-03-01T10:00:00Z')).byId('heartbeat.db-backup');
    expect(r.status).toBe('fail');
    expect(r.summary).toMatch(/^RPO of 1 h 0 min exceeded \(last backup 2 h 0 min ago\)/);
    expect(r.details![0]).toMatchObject({ state: 'up', rpoSeconds: 3600, lastSuccessAgeSeconds: 7200 });
    const within = (await run('2026-03-01T08:30:00Z')).byId('heartbeat.db-backup');
    expect(within.status).toBe('ok');
  });

  it('pings committed out of order leave the latest state: an older failure does not hide a newer success', async () => {
    const r = (await run('2026-03-01T10:30:00Z')).byId('heartbeat.reordered');
    expect(r).toMatchObject({ status: 'ok', details: [{ state: 'up', lastPing: '2026-03-01T10:00:00.000Z', lastPingKind: 'success' }] });
  });

  it('every heartbeat is read by one statement, and the run costs two round trips', async () => {
    db.batches.length = 0;
    const report = await run('2026-03-01T10:30:00Z');
    expect(report.checks.map((c) => c.id)).toEqual([
      'heartbeat.fresh',
      'heartbeat.hourly',
      'heartbeat.flaky',
      'heartbeat.nightly',
      'heartbeat.db-backup',
      'heartbeat.reordered',
    ]);
    expect(report.postgresRoundTrips).toBe(2);
    const reads = db.batches.flat().filter((s) => /FROM opsbook\.heartbeats\b/.test(s.text));
    expect(reads).toHaveLength(1);
  });

  it('one heartbeat selected by id is reported alone', async () => {
    const report = await diagnose(deps, CONFIG, { only: ['heartbeat.hourly'] }, at('2026-03-01T10:30:00Z'));
    expect(report.checks.map((c) => c.id)).toEqual(['heartbeat.hourly']);
    expect(report.postgresRoundTrips).toBe(2);
  });
});
