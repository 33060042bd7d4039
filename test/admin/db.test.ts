import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { POST as maintenance } from '../../api/admin/db/maintenance.js';
import { POST as terminate } from '../../api/admin/db/terminate.js';
import { createToken } from '../../lib/admin/tokens.js';
import type { Role } from '../../lib/auth.js';
import { withApplicationName } from '../../lib/db/application-name.js';
import { createPgDb } from '../../lib/db/pg.js';
import { ensureSchema } from '../../lib/db/schema.js';
import type { Db } from '../../lib/db/index.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { DEFAULT_LIMITS, openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { PG_ADMIN_URL, pgUrlFor } from '../support/services.js';

/**
 * Real sessions against real Postgres. Opsbook connects as a role of its own that is NOT a superuser
 * (member of pg_signal_backend and pg_read_all_stats, as a production deployment would be), with one
 * pooled connection, so "never Opsbook's own backend" is tested on its own and not hidden behind the
 * superuser rule. Victims connect as another non-superuser role; `postgres` sessions are superusers'.
 */
const TAG = randomBytes(4).toString('hex');
const OPS = `opsbook_t_ops_${TAG}`;
const VICTIM = `opsbook_t_victim_${TAG}`;

async function until(what: string, cond: () => Promise<boolean>, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await cond()) return;
    await delay(50);
  }
  throw new Error(`timed out waiting for ${what}`);
}

let h: DbHarness;
let r: RedisHarness;
let ops: Db;
let sessions: pg.Client[] = [];

/** Each test's sessions end with it, so a later test's by-age form never sees them. */
async function endSessions(): Promise<void> {
  const ending = sessions;
  sessions = [];
  await Promise.allSettled(ending.map((c) => c.end()));
}
const tokenFor = async (role: Role) => (await createToken(ops, { name: `db-${role}-${randomBytes(4).toString('hex')}`, role, createdBy: 'tests' })).token;
const admin = () => h.database!.admin;

/** A session of `user` (the victim role by default) that sits idle in a transaction. */
async function idleSession(user = VICTIM): Promise<{ client: pg.Client; pid: number }> {
  const client = new pg.Client({ connectionString: pgUrlFor(h.database!.name, user), application_name: 'victim-app' });
  client.on('error', () => undefined);
  await client.connect();
  sessions.push(client);
  await client.query('BEGIN');
  await client.query('SELECT 1');
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { client, pid: rows[0]!.pid };
}

/** A session running `SELECT pg_sleep(60)`; `done` settles with the error that ends it. */
async function sleepingSession(comment = ''): Promise<{ client: pg.Client; pid: number; done: Promise<unknown> }> {
  const client = new pg.Client({ connectionString: pgUrlFor(h.database!.name, VICTIM), application_name: 'victim-app' });
  client.on('error', () => undefined);
  await client.connect();
  sessions.push(client);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const done = client.query(`SELECT pg_sleep(60) ${comment}`).then(
    () => undefined,
    (e: unknown) => e,
  );
  return { client, pid: rows[0]!.pid, done };
}

/** Until pg_stat_activity shows the session in that state for longer than `seconds`. */
async function aged(pid: number, state: 'active' | 'idle in transaction', seconds = 1.2): Promise<void> {
  const since = state === 'active' ? 'query_start' : 'state_change';
  await until(`pid ${pid} ${state} for ${seconds}s`, async () => {
    const { rows } = await admin().query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = $2 AND ${since} < now() - make_interval(secs => $3)`, [pid, state, seconds]);
    return rows.length === 1;
  });
}

async function alive(pid: number): Promise<boolean> {
  const { rows } = await admin().query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
  return rows.length === 1;
}

async function opsPid(): Promise<number> {
  const { rows } = await ops.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return rows[0]!.pid;
}

beforeAll(async () => {
  [h, r] = await Promise.all([openDb('pg'), openRedis('memory')]);
  const root = new pg.Client({ connectionString: PG_ADMIN_URL });
  await root.connect();
  try {
    await root.query(`CREATE ROLE ${OPS} LOGIN IN ROLE pg_signal_backend, pg_read_all_stats`);
    await root.query(`CREATE ROLE ${VICTIM} LOGIN`);
    await root.query(`ALTER DATABASE "${h.database!.name}" OWNER TO ${OPS}`);
  } finally {
    await root.end();
  }
  ops = createPgDb(pgUrlFor(h.database!.name, OPS), DEFAULT_LIMITS, { max: 1 });
  await ensureSchema(ops);
  await useAdminDeps(ops, r.redis);
});

afterAll(async () => {
  resetAdminDeps();
  await Promise.allSettled(sessions.map((c) => c.end()));
  await ops.close();
  await Promise.allSettled([h.close(), r.close()]);
  const root = new pg.Client({ connectionString: PG_ADMIN_URL });
  await root.connect();
  try {
    await root.query(`DROP ROLE IF EXISTS ${VICTIM}`);
    await root.query(`DROP ROLE IF EXISTS ${OPS}`);
  } finally {
    await root.end();
  }
});

const term = (body: unknown, token: string) => terminate(adminRequest('/api/admin/db/terminate', { body, token }));
const maint = (body: unknown, token: string) => maintenance(adminRequest('/api/admin/db/maintenance', { body, token }));

async function confirmed(route: typeof term, body: Record<string, unknown>, token: string) {
  const dry = await route({ ...body, dryRun: true }, token);
  expect(dry.status).toBe(200);
  const d = await dry.json();
  expect(d.confirmToken).toEqual(expect.any(String));
  return { dry: d, res: await route({ ...body, confirm: d.confirmToken }, token) };
}

describe('POST /api/admin/db/terminate', () => {
  afterEach(endSessions);
  it("idle sessions: the dry run lists the victim only; terminating spares superusers and Opsbook's own backend", async () => {
    const victim = await idleSession();
    const superuser = await idleSession('postgres');
    await Promise.all([aged(victim.pid, 'idle in transaction'), aged(superuser.pid, 'idle in transaction')]);
    const token = await tokenFor('admin');
    const own = await opsPid();

    const { dry, res } = await confirmed(term, { idleLongerThan: '1s' }, token);
    const listed = dry.sample.map((s: { pid: number }) => s.pid);
    expect(listed).toEqual([victim.pid]);
    expect(dry.sample[0]).toMatchObject({ pid: victim.pid, user: VICTIM, state: 'idle in transaction', application: 'victim-app', query: 'SELECT pg_backend_pid() AS pid' });
    expect(dry.sample[0].ageSeconds).toBeGreaterThanOrEqual(1);
    expect(dry.data.skipped).toEqual(expect.arrayContaining([expect.objectContaining({ pid: superuser.pid, reason: expect.stringMatching(/superuser/) })]));
    expect(JSON.stringify(dry)).not.toContain(`"pid":${own},`);

    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: 'ok', count: 1 });
    expect(body.results).toEqual([expect.objectContaining({ pid: victim.pid, result: 'terminated', exited: true })]);
    await until('victim gone', async () => !(await alive(victim.pid)));
    expect(await alive(superuser.pid)).toBe(true);
    expect((await superuser.client.query('SELECT 1 AS one')).rows[0].one).toBe(1);
    expect(await opsPid()).toBe(own);

    const audit = await admin().query(`SELECT action, target, result, before, after FROM opsbook.audit_log WHERE id = $1`, [body.results[0].auditIds[0]]);
    expect(audit.rows[0]).toMatchObject({ action: 'db.terminate', target: `pid:${victim.pid}`, result: 'ok', before: { pid: victim.pid, user: VICTIM }, after: { signal: 'terminate', sent: true } });
    await superuser.client.query('ROLLBACK');
  });

  it('long-running queries: the sleeper is terminated (its client sees 57P01); an idle session is not touched', async () => {
    const sleeper = await sleepingSession(`/* ${'x'.repeat(400)} */`);
    const idle = await idleSession();
    await aged(sleeper.pid, 'active');
    const token = await tokenFor('admin');
    const { dry, res } = await confirmed(term, { runningLongerThan: '1s' }, token);
    expect(dry.sample.map((s: { pid: number }) => s.pid)).toEqual([sleeper.pid]);
    expect(dry.sample[0].query.length).toBeLessThanOrEqual(200);
    expect(dry.sample[0].query).toMatch(/^SELECT pg_sleep\(\$1\)/);
    const body = await res.json();
    expect(body.results).toEqual([expect.objectContaining({ pid: sleeper.pid, result: 'terminated' })]);
    expect(((await sleeper.done) as { code?: string }).code).toBe('57P01');
    expect(await alive(idle.pid)).toBe(true);
  });

  it('cancelFirst: a cancelled query that stops leaves its session alive; an idle session (nothing to cancel) is then terminated', async () => {
    const sleeper = await sleepingSession();
    await aged(sleeper.pid, 'active');
    const token = await tokenFor('admin');
    const { res } = await confirmed(term, { runningLongerThan: '1s', cancelFirst: true }, token);
    const body = await res.json();
    expect(body.results).toEqual([expect.objectContaining({ pid: sleeper.pid, result: 'cancelled' })]);
    expect(((await sleeper.done) as { code?: string }).code).toBe('57014');
    expect(await alive(sleeper.pid)).toBe(true);
    expect((await sleeper.client.query('SELECT 2 AS two')).rows[0].two).toBe(2);
    const rows = await admin().query(`SELECT after FROM opsbook.audit_log WHERE target = $1 ORDER BY id`, [`pid:${sleeper.pid}`]);
    expect(rows.rows.map((r) => r.after)).toEqual([{ signal: 'cancel', sent: true }, null]);
    await endSessions();

    const idle = await idleSession();
    await aged(idle.pid, 'idle in transaction');
    const second = await confirmed(term, { idleLongerThan: '1s', cancelFirst: true }, token);
    const b2 = await second.res.json();
    expect(b2.results).toEqual([expect.objectContaining({ pid: idle.pid, result: 'terminated' })]);
    await until('idle victim gone', async () => !(await alive(idle.pid)));
  });

  it('one pid: operate role, no confirm needed', async () => {
    const victim = await idleSession();
    const res = await term({ pid: victim.pid }, await tokenFor('operate'));
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok', count: 1, results: [{ pid: victim.pid, result: 'terminated' }] });
    await until('victim gone', async () => !(await alive(victim.pid)));
  });

  it("Opsbook's own backend, a superuser's session and a background process are refused (409) and left alone", async () => {
    const token = await tokenFor('operate');
    const own = await opsPid();
    const ownRes = await term({ pid: own }, token);
    expect(ownRes.status).toBe(409);
    expect((await ownRes.json()).error.message).toMatch(/Opsbook's own session/);
    expect(await opsPid()).toBe(own);

    const su = await idleSession('postgres');
    const suRes = await term({ pid: su.pid }, token);
    expect(suRes.status).toBe(409);
    expect((await suRes.json()).error.message).toMatch(/superuser/);
    expect(await alive(su.pid)).toBe(true);
    await su.client.query('ROLLBACK');

    const { rows } = await admin().query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'`);
    const bg = await term({ pid: rows[0]!.pid }, token);
    expect(bg.status).toBe(409);
  });

  it.each([
    ['the default pool', {}, ''],
    ['a pool with a role of its own', { applicationName: 'cli' }, ''],
    ['a pool whose DATABASE_URL names another application', {}, '?application_name=someapp'],
  ])("another Opsbook instance's connection (%s) → 409 saying it is Opsbook's own, and the connection survives", async (_what, opts, query) => {
    // A second instance: its own pool from the same db module, same role, same database.
    const other = createPgDb(`${pgUrlFor(h.database!.name, OPS)}${query}`, DEFAULT_LIMITS, { max: 1, ...opts });
    try {
      const pidOf = async () => (await other.query<{ pid: number; app: string }>('SELECT pg_backend_pid() AS pid, current_setting($1) AS app', ['application_name'])).rows[0]!;
      const { pid, app } = await pidOf();
      expect(app).toMatch(/^opsbook(\/cli)?$/);
      const res = await term({ pid }, await tokenFor('operate'));
      expect(res.status).toBe(409);
      expect((await res.json()).error).toMatchObject({ code: 'CONFLICT', message: expect.stringMatching(/Opsbook's own connections \(application_name opsbook.*never terminates itself/) });
      expect(await alive(pid)).toBe(true);
      expect((await pidOf()).pid).toBe(pid);

      // The by-age form passes over it too, and says why.
      await until(`pid ${pid} idle for 1s`, async () => (await admin().query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'idle' AND state_change < now() - interval '1.2 s'`, [pid])).rows.length === 1);
      const dry = await (await term({ idleLongerThan: '1s', dryRun: true }, await tokenFor('admin'))).json();
      expect(dry.sample.map((x: { pid: number }) => x.pid)).not.toContain(pid);
      expect(dry.data.skipped).toEqual(expect.arrayContaining([expect.objectContaining({ pid, reason: expect.stringMatching(/Opsbook's own connections/) })]));
    } finally {
      await other.close();
    }
  });

  it('background processes (autovacuum launcher, logical replication launcher, background writer, walwriter) → 409 saying each is not a client session', async () => {
    // The autovacuum launcher runs only where autovacuum is on: every one of these that this server runs is tried.
    const { rows } = await admin().query<{ pid: number; backend_type: string }>(
      `SELECT pid, backend_type FROM pg_stat_activity WHERE backend_type = ANY($1::text[]) ORDER BY backend_type`,
      [['autovacuum launcher', 'logical replication launcher', 'background writer', 'walwriter']],
    );
    expect(rows.length).toBeGreaterThanOrEqual(3);
    const token = await tokenFor('operate');
    for (const { pid, backend_type } of rows) {
      const res = await term({ pid }, token);
      expect(res.status).toBe(409);
      expect((await res.json()).error).toMatchObject({ code: 'CONFLICT', message: `pid ${pid} is a ${backend_type} process, not a client session: it is not terminated.` });
      expect(await alive(pid)).toBe(true);
    }
  });

  it("a client session whose application_name only looks like Opsbook's (opsbook-app) is terminated", async () => {
    const client = new pg.Client({ connectionString: pgUrlFor(h.database!.name, VICTIM), application_name: 'opsbook-app' });
    client.on('error', () => undefined);
    await client.connect();
    sessions.push(client);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const res = await term({ pid: rows[0]!.pid }, await tokenFor('operate'));
    expect(await res.json()).toMatchObject({ status: 'ok', results: [{ pid: rows[0]!.pid, result: 'terminated' }] });
  });

  it('a pid that does not exist → 404 NOT_FOUND in the error shape (curl -f fails)', async () => {
    const res = await term({ pid: 2_000_000_000 }, await tokenFor('operate'));
    expect(res.status).toBe(404);
    expect((await res.json()).error).toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/No session with pid 2000000000/) });
  });

  it("another session's SQL literals never leave through terminate: the dry run, the answer and the audit row carry the normalised text", async () => {
    const CANARY = `canary-${randomBytes(6).toString('hex')}`;
    const client = new pg.Client({ connectionString: pgUrlFor(h.database!.name, VICTIM), application_name: 'victim-app' });
    client.on('error', () => undefined);
    await client.connect();
    sessions.push(client);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
    const pid = rows[0]!.pid;
    void client.query(`SELECT pg_sleep(60), '${CANARY}' AS secret, 42 AS n`).catch(() => undefined);
    await aged(pid, 'active');
    const token = await tokenFor('admin');
    const { dry, res } = await confirmed(term, { runningLongerThan: '1s' }, token);
    const body = await res.json();
    expect(JSON.stringify(dry)).not.toContain(CANARY);
    expect(JSON.stringify(body)).not.toContain(CANARY);
    expect(dry.sample.find((s: { pid: number }) => s.pid === pid).query).toBe('SELECT pg_sleep($1), $2 AS secret, $3 AS n');
    const audit = await admin().query(`SELECT before::text AS before, after::text AS after, params::text AS params FROM opsbook.audit_log WHERE target = $1`, [`pid:${pid}`]);
    expect(audit.rows).toHaveLength(1);
    expect(JSON.stringify(audit.rows)).not.toContain(CANARY);
    expect(JSON.parse(audit.rows[0]!.before).query).toBe('SELECT pg_sleep($1), $2 AS secret, $3 AS n');
  });

  it('the by-age forms need admin (403 for operate) and the confirm token (428 without)', async () => {
    expect((await term({ idleLongerThan: '10m', dryRun: true }, await tokenFor('operate'))).status).toBe(403);
    const res = await term({ idleLongerThan: '10m' }, await tokenFor('admin'));
    expect(res.status).toBe(428);
    expect((await res.json()).error.code).toBe('CONFIRMATION_REQUIRED');
  });

  it.each([
    ['nothing', {}],
    ['a pid and an age', { pid: 123, idleLongerThan: '10m' }],
    ['both ages', { idleLongerThan: '10m', runningLongerThan: '5m' }],
    ['a pid as SQL', { pid: '1; SELECT pg_terminate_backend(pid) FROM pg_stat_activity' }],
    ['a negative pid', { pid: -1 }],
    ['a pid past int4', { pid: 2 ** 31 }],
    ['a fractional pid', { pid: 1.5 }],
    ['an age as SQL', { idleLongerThan: "10m'; SELECT pg_terminate_backend(pid) FROM pg_stat_activity; --" }],
    ['an age as an interval', { runningLongerThan: '10 minutes' }],
    ['an age of zero', { runningLongerThan: '0m' }],
    ['an age as a glob', { idleLongerThan: '*' }],
    ['an age in weeks', { idleLongerThan: '2w' }],
    ['cancelFirst as a string', { pid: 1, cancelFirst: 'yes' }],
  ])('%s → 400, nobody signalled', async (_what, body) => {
    const victim = await idleSession();
    const token = await tokenFor('admin');
    for (const extra of [{ dryRun: true }, {}]) {
      const res = await term({ ...body, ...extra }, token);
      expect(res.status).toBe(400);
    }
    expect(await alive(victim.pid)).toBe(true);
    await victim.client.query('ROLLBACK');
  });
});

describe('application_name on every Opsbook connection string', () => {
  it.each([
    ['no parameters', 'postgres://u:p%40ss@db.example.com/app', 'postgres://u:p%40ss@db.example.com/app?application_name=opsbook'],
    ['sslmode kept', 'postgres://u@h/app?sslmode=require', 'postgres://u@h/app?sslmode=require&application_name=opsbook'],
    ['another application replaced', 'postgres://u@h/app?application_name=someapp&sslmode=require', 'postgres://u@h/app?application_name=opsbook&sslmode=require'],
    ['not a URL: left as it is', 'not a url', 'not a url'],
  ])('%s', (_what, url, expected) => {
    expect(withApplicationName(url, 'opsbook')).toBe(expected);
  });
});

describe('POST /api/admin/db/maintenance', () => {
  beforeAll(async () => {
    await ops.query(`CREATE TABLE "Order Items" (id int PRIMARY KEY, note text)`);
    await ops.query(`INSERT INTO "Order Items" SELECT g, 'n' || g FROM generate_series(1, 2000) g`);
    await ops.query(`CREATE TABLE events (id int PRIMARY KEY, kind text)`);
    await ops.query(`CREATE INDEX events_kind ON events (kind)`);
    await ops.query(`INSERT INTO events SELECT g, 'k' || (g % 7) FROM generate_series(1, 2000) g`);
    await ops.query(`DELETE FROM events WHERE id % 2 = 0`);
    await ops.query(`CREATE VIEW events_view AS SELECT * FROM events`);
    await admin().query(`CREATE TABLE owned_by_postgres (id int)`);
  });

  /** PG 15 flushes table statistics asynchronously: poll for the timestamp. */
  async function statSet(table: string, column: 'last_analyze' | 'last_vacuum'): Promise<void> {
    await until(`${column} of ${table}`, async () => {
      const { rows } = await admin().query(`SELECT ${column} IS NOT NULL AS set FROM pg_stat_user_tables WHERE relname = $1`, [table]);
      return rows[0]?.set === true;
    });
  }
  const relfilenode = async (rel: string) => (await admin().query<{ n: string }>(`SELECT pg_relation_filenode($1::regclass)::text AS n`, [rel])).rows[0]!.n;

  it('analyze a quoted mixed-case table ("public"."Order Items", the hints\' form): last_analyze is set, audited after', async () => {
    const token = await tokenFor('operate');
    const dry = await (await maint({ op: 'analyze', table: '"public"."Order Items"', dryRun: true }, token)).json();
    expect(dry).toMatchObject({ status: 'ok', dryRun: true, count: 1, sample: [{ statement: 'ANALYZE "public"."Order Items"', table: '"public"."Order Items"' }] });
    const res = await maint({ op: 'analyze', table: '"public"."Order Items"' }, token);
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body).toMatchObject({ status: 'ok', count: 1 });
    await statSet('Order Items', 'last_analyze');
    const audit = await admin().query(`SELECT action, target, result, after FROM opsbook.audit_log WHERE id = $1`, [body.auditId]);
    expect(audit.rows[0]).toMatchObject({ action: 'db.maintenance', target: 'table:"public"."Order Items"', result: 'ok', after: { statement: 'ANALYZE "public"."Order Items"' } });
  });

  it('vacuum-analyze schema.table: last_vacuum and last_analyze are set', async () => {
    const res = await maint({ op: 'vacuum-analyze', table: 'public.events' }, await tokenFor('operate'));
    expect(res.status).toBe(200);
    await statSet('events', 'last_vacuum');
    await statSet('events', 'last_analyze');
  });

  it('analyze without a table covers the database', async () => {
    const body = await (await maint({ op: 'analyze' }, await tokenFor('operate'))).json();
    expect(body).toMatchObject({ status: 'ok' });
    expect(body.sample[0].statement).toBe('ANALYZE');
  });

  it('vacuum-full: admin only, confirm required; it rewrites the table (new relfilenode)', async () => {
    expect((await maint({ op: 'vacuum-full', table: 'events', dryRun: true }, await tokenFor('operate'))).status).toBe(403);
    const token = await tokenFor('admin');
    expect((await maint({ op: 'vacuum-full', table: 'events' }, token)).status).toBe(428);
    const before = await relfilenode('events');
    const { dry, res } = await confirmed(maint, { op: 'vacuum-full', table: 'events' }, token);
    expect(dry.summary).toMatch(/ACCESS EXCLUSIVE/);
    expect(res.status).toBe(200);
    expect(await relfilenode('events')).not.toBe(before);
  });

  it('reindex: confirm required; the indexes are rebuilt (new relfilenode)', async () => {
    const token = await tokenFor('admin');
    const before = await relfilenode('events_kind');
    const { res } = await confirmed(maint, { op: 'reindex', table: 'events' }, token);
    expect(res.status).toBe(200);
    expect(await relfilenode('events_kind')).not.toBe(before);
  });

  it('vacuum-full while the app holds a lock on the table → 409 after the lock timeout, audited as failed', async () => {
    const holder = new pg.Client({ connectionString: pgUrlFor(h.database!.name, OPS) });
    await holder.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT count(*) FROM events');
      const token = await tokenFor('admin');
      const { res } = await confirmed(maint, { op: 'vacuum-full', table: 'events' }, token);
      expect(res.status).toBe(409);
      expect((await res.json()).error.message).toMatch(/maintenance window/);
      const { rows } = await admin().query(`SELECT result FROM opsbook.audit_log WHERE action = 'db.maintenance' ORDER BY id DESC LIMIT 1`);
      expect(rows[0].result).toBe('failed');
    } finally {
      await holder.end();
    }
  });

  it.each([
    ['vacuum-full without a table', 400, { op: 'vacuum-full' }],
    ['a view', 400, { op: 'analyze', table: 'events_view' }],
    ['an unknown table', 404, { op: 'analyze', table: 'no_such_table' }],
    ['a table of another owner', 403, { op: 'analyze', table: 'owned_by_postgres' }],
    ['an unknown op', 400, { op: 'cluster', table: 'events' }],
    ['SQL after the name', 400, { op: 'analyze', table: 'events; DROP TABLE events' }],
    ['a quoted name with SQL inside', 404, { op: 'analyze', table: '"events"";DROP TABLE events;--"' }],
    ['three parts', 400, { op: 'analyze', table: 'a.b.c' }],
    ['an unterminated quote', 400, { op: 'analyze', table: '"events' }],
    ['a glob', 400, { op: 'analyze', table: 'ev*' }],
    ['an over-long name', 400, { op: 'analyze', table: 'x'.repeat(301) }],
  ])('%s → %i, nothing run', async (_what, status, body) => {
    const res = await maint(body, await tokenFor('admin'));
    expect(res.status).toBe(status);
    expect((await admin().query(`SELECT 1 FROM pg_class WHERE relname = 'events'`)).rows).toHaveLength(1);
  });
});

describe('on the embedded database (PGlite)', () => {
  let lite: DbHarness;
  beforeAll(async () => {
    lite = await openDb('pglite');
    await useAdminDeps(lite.db, r.redis);
    await lite.db.query(`CREATE TABLE t (id int)`);
  });
  afterAll(async () => {
    await useAdminDeps(ops, r.redis);
    await lite.close();
  });
  const liteToken = async () => (await createToken(lite.db, { name: `lite-${randomBytes(3).toString('hex')}`, role: 'admin', createdBy: 'tests' })).token;

  it('terminate → 409 "not supported on the embedded database"', async () => {
    const res = await term({ pid: 1 }, await liteToken());
    expect(res.status).toBe(409);
    expect((await res.json()).error.message).toMatch(/not supported on the embedded database/);
  });

  it('maintenance works (VACUUM outside a transaction)', async () => {
    const res = await maint({ op: 'vacuum-analyze', table: 't' }, await liteToken());
    expect(res.status).toBe(200);
  });
});
