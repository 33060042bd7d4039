import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lockQueues } from '../../lib/checks/postgres/activity.js';
import { lockModeName, parseLocks, type LockRow } from '../../lib/checks/pg-locks.js';
import type { CheckResult } from '../../lib/checks/types.js';
import type { OpsbookConfigInput } from '../../lib/config/index.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { openDb, type DbHarness } from '../support/drivers.js';
import { LOCKED_TABLE, OTHER_TABLE, plantLock, plantSchema, type LockIncident } from '../support/lock-incident.js';

/**
 * Diagnostics at the moment they are called for: a migration holds ACCESS EXCLUSIVE on the busiest table,
 * idle in its transaction, with queries queued behind it. Every Postgres check must still answer, from
 * the catalog and the lock snapshot, without queuing behind the migration (Opsbook's lock_timeout is 2 s:
 * a check that waited would error, and its re-run would cost round trips).
 */

// Every finding is shown (unusedIndexMinBytes 0: the planted indexes are small).
const CONFIG: OpsbookConfigInput = { checks: { postgres: { thresholds: { unusedIndexMinBytes: 0, longRunningSeconds: 3600 } } } };
type Detail = Record<string, unknown>;
const detailsOf = (r: CheckResult): Detail[] => r.details ?? [];
const pairs = (r: CheckResult) => detailsOf(r).map((d) => `${String(d.unneeded)} ⊂ ${String(d.coveredBy)}`).sort();

describe('lock modes and queues, from the lock snapshot', () => {
  it.each([
    ['AccessExclusiveLock', 'ACCESS EXCLUSIVE'],
    ['AccessShareLock', 'ACCESS SHARE'],
    ['RowExclusiveLock', 'ROW EXCLUSIVE'],
    ['ShareUpdateExclusiveLock', 'SHARE UPDATE EXCLUSIVE'],
    ['ShareLock', 'SHARE'],
  ])('%s → %s', (mode, name) => {
    expect(lockModeName(mode)).toBe(name);
  });

  const lock = (o: Partial<LockRow>): LockRow => ({
    locktype: 'relation', oid: 1, relation: 'public.t', xid: null, virtualxid: null, pid: 1, mode: 'AccessShareLock', granted: false, waitStart: null, blockers: [], ...o,
  });
  it('waiters on two objects → two queues, the longer first, each with its holders and both modes', () => {
    const waits = [
      lock({ pid: 11, blockers: [2] }),
      lock({ pid: 12, mode: 'RowExclusiveLock', blockers: [2] }),
      lock({ pid: 13, oid: 9, relation: 'public.u', blockers: [3] }),
    ];
    const held = [lock({ pid: 2, mode: 'AccessExclusiveLock', granted: true }), lock({ pid: 3, oid: 9, relation: 'public.u', mode: 'ShareLock', granted: true })];
    expect(lockQueues(waits, held)).toEqual([
      { object: 'table public.t', holders: [{ pid: 2, mode: 'ACCESS EXCLUSIVE' }], waiters: [{ pid: 11, mode: 'ACCESS SHARE' }, { pid: 12, mode: 'ROW EXCLUSIVE' }] },
      { object: 'table public.u', holders: [{ pid: 3, mode: 'SHARE' }], waiters: [{ pid: 13, mode: 'ACCESS SHARE' }] },
    ]);
  });

  it('a relation both held and awaited in ACCESS EXCLUSIVE → the granted lock is the one named', () => {
    const snap = parseLocks([
      { kind: 'exclusive', locktype: 'relation', oid: 5, relation_name: 'public.t', pid: 8, mode: 'AccessExclusiveLock', granted: false, blockers: null },
      { kind: 'exclusive', locktype: 'relation', oid: 5, relation_name: 'public.t', pid: 7, mode: 'AccessExclusiveLock', granted: true, blockers: null },
    ]);
    expect(snap.exclusive.get(5)).toMatchObject({ pid: 7, granted: true });
  });
});

describe.each(['pg', 'neon'] as const)('a migration holds ACCESS EXCLUSIVE on the busiest table, over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  let incident: LockIncident;
  let quiet: Awaited<ReturnType<typeof diagnose>>;
  let locked: Awaited<ReturnType<typeof diagnose>>;

  beforeAll(async () => {
    h = await openDb(driver);
    await ensureSchema(h.db);
    deps = await depsFor(h.db);
    await plantSchema(h.database!.admin);
    quiet = await diagnose(deps, CONFIG, { only: ['postgres'] });
    incident = await plantLock(h.database!.url, h.database!.admin);
    locked = await diagnose(deps, CONFIG, { only: ['postgres'] });
  });
  afterAll(async () => {
    await incident?.release();
    await h?.close();
  });

  it('every Postgres check answers: none errors, and the run still costs two round trips', () => {
    expect(locked.checks.filter((c) => c.status === 'error').map((c) => `${c.id}: ${c.summary}`)).toEqual([]);
    expect(locked.postgresRoundTrips).toBe(2);
    expect(locked.checks.map((c) => c.id)).toEqual(quiet.checks.map((c) => c.id));
  });

  it('largest-tables → the locked table is "size unknown: locked by pid N (ACCESS EXCLUSIVE)" with the catalog estimate; the others are measured', () => {
    const r = locked.byId('postgres.largest-tables');
    expect(r.status).toBe('ok');
    const orders = detailsOf(r).find((d) => d.table === LOCKED_TABLE)!;
    expect(orders).toMatchObject({
      totalBytes: null,
      sizeUnknown: `size unknown: locked by pid ${incident.migration} (ACCESS EXCLUSIVE) — see postgres.blocked`,
    });
    expect(orders.estimatedTotalBytes as number).toBeGreaterThan(0);
    const customers = detailsOf(r).find((d) => d.table === OTHER_TABLE)!;
    expect(customers.totalBytes as number).toBeGreaterThan(0);
    expect(customers).not.toHaveProperty('sizeUnknown');
    expect(r.summary).toContain(LOCKED_TABLE);
    expect(r.summary).toContain(`locked by pid ${incident.migration}`);
  });

  it('duplicate indexes → the same pairs as without the lock (plain, INCLUDE, expression, partial), definitions marked locked', () => {
    const before = quiet.byId('postgres.duplicate-indexes');
    const during = locked.byId('postgres.duplicate-indexes');
    expect(pairs(before)).toEqual([
      'public.idx_created ⊂ public.idx_created_incl',
      'public.idx_lower_status_2 ⊂ public.idx_lower_status',
      'public.idx_open ⊂ public.idx_open_total',
    ]);
    expect(pairs(during)).toEqual(pairs(before));
    expect(detailsOf(before)[0]!.unneededDefinition).toMatch(/^CREATE INDEX/);
    for (const d of detailsOf(during)) {
      expect(d).toMatchObject({ unneededDefinition: null, definitionUnknown: expect.stringContaining(`locked by pid ${incident.migration} (ACCESS EXCLUSIVE)`) });
      // An index's own size opens only the index: still measured.
      expect(d.unneededBytes as number).toBeGreaterThan(0);
    }
  });

  it('one voice: no page recommends dropping an index together with the index that covers it', () => {
    for (const report of [quiet, locked]) {
      const dropped = new Set(
        report.checks.flatMap((c) => detailsOf(c).map((d) => (typeof d.sql === 'string' ? /^DROP INDEX CONCURRENTLY (\S+);$/.exec(d.sql)?.[1] : undefined))).filter(Boolean),
      );
      const dup = detailsOf(report.byId('postgres.duplicate-indexes'));
      expect(dup.length).toBe(3);
      for (const d of dup) {
        expect(dropped.has(String(d.unneeded))).toBe(true);
        expect(dropped.has(String(d.coveredBy)), `${String(d.coveredBy)} covers ${String(d.unneeded)}`).toBe(false);
      }
      // The covering indexes are unused too (nothing reads them while the duplicate serves): kept, and why.
      const unused = detailsOf(report.byId('postgres.unused-indexes'));
      expect(unused.find((d) => d.index === 'public.idx_created_incl')).toMatchObject({
        sql: null,
        keep: 'it covers public.idx_created, which postgres.duplicate-indexes recommends dropping: drop that one and this index serves its reads',
      });
      expect(report.byId('postgres.unused-indexes').hint?.text).not.toMatch(/idx_created_incl|idx_lower_status;|idx_open_total/);
    }
  });

  it('unused and invalid indexes and NOT VALID constraints → the same findings as without the lock', () => {
    for (const id of ['postgres.unused-indexes', 'postgres.invalid-indexes', 'postgres.invalid-constraints', 'postgres.sequences']) {
      const before = quiet.byId(id);
      const during = locked.byId(id);
      expect({ id, status: during.status, value: during.value }).toEqual({ id, status: before.status, value: before.value });
    }
    const invalid = detailsOf(locked.byId('postgres.invalid-indexes'));
    expect(invalid).toEqual([
      expect.objectContaining({ index: 'public.idx_customer_unique', definition: null, definitionUnknown: expect.stringContaining(`pid ${incident.migration}`) }),
    ]);
    expect(detailsOf(locked.byId('postgres.invalid-constraints'))).toEqual([
      expect.objectContaining({ constraint: 'total_positive', definition: null, sql: 'ALTER TABLE public.orders VALIDATE CONSTRAINT total_positive;' }),
    ]);
  });

  it('blocked → names the locked relation and both modes, groups waiters in queues, and picks the root by impact, not the lowest pid', () => {
    const r = locked.byId('postgres.blocked');
    expect(incident.minor).toBeLessThan(incident.migration);
    expect(r).toMatchObject({ status: 'warn', value: 5, unit: 'queries' });
    expect(r.summary).toContain(`5 queries in database ${h.database!.name} waiting on locks in 2 queues`);
    expect(r.summary).toContain(
      `session ${incident.migration} (postgres, holder-b, idle in transaction, transaction open`,
    );
    expect(r.summary).toMatch(new RegExp(`holds ACCESS EXCLUSIVE on table ${LOCKED_TABLE} \\(4 sessions waiting for (ACCESS SHARE / ROW EXCLUSIVE|ROW EXCLUSIVE / ACCESS SHARE)\\) and blocks 4 of them`));
    const rows = detailsOf(r);
    expect(rows.filter((d) => d.queue === `table ${LOCKED_TABLE}`).map((d) => d.pid).sort()).toEqual([...incident.waiters].sort());
    expect(rows.find((d) => d.pid === incident.minorWaiter)).toMatchObject({ queue: `table ${OTHER_TABLE}`, waitsFor: `ROW EXCLUSIVE on table ${OTHER_TABLE}`, blockedBy: [incident.minor] });
    expect(rows.find((d) => d.pid === incident.waiters[3])).toMatchObject({ waitsFor: `ROW EXCLUSIVE on table ${LOCKED_TABLE}`, blockedBy: [incident.migration] });
    expect(r.hint?.action).toEqual({ method: 'POST', path: '/api/admin/db/terminate', body: { pid: incident.migration, dryRun: true } });
    expect(r.hint?.text).toContain(`Session ${incident.migration} is at the head of the lock queue and holds up 4 sessions`);
  });
});
