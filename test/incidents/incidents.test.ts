// Incident records and post-mortem drafts (issue 14 items 2 and 3), on real Postgres through the real
// routes. "Done when": a real incident (a planted lock held by a non-superuser session, an admin terminate
// through its route, then recovery) yields a record and a post-mortem whose timeline has the real times.
import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POST as terminate } from '../../api/admin/db/terminate.js';
import { GET as listRoute } from '../../api/incidents/index.js';
import { GET as byIdRoute } from '../../api/incidents/[id].js';
import { GET as postmortemRoute } from '../../api/incidents/[id]/postmortem.js';
import { createToken } from '../../lib/admin/tokens.js';
import type { Role } from '../../lib/auth.js';
import { runChecklist } from '../../lib/checklists/run.js';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { createDeps, type Deps } from '../../lib/deps.js';
import { ensureSchema } from '../../lib/db/schema.js';
import { parseEnv } from '../../lib/env.js';
import { renderPostmortem } from '../../lib/incidents/postmortem.js';
import type { IncidentRecord } from '../../lib/incidents/read.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { adminRequest, resetAdminDeps, useAdminDeps } from '../support/admin.js';
import { recordingReporter } from '../support/checklists.js';
import { testDataDir } from '../support/data-dir.js';
import { DB_DRIVERS, openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { closedPort } from '../support/faults.js';
import { openSession } from '../support/pg.js';
import { PG_ADMIN_URL, pgUrlFor } from '../support/services.js';

const DAY = 86_400_000;
const get = (route: (r: Request) => Promise<Response>, path: string, token: string | null, query?: Record<string, string>) =>
  route(adminRequest(path, { method: 'GET', token, ...(query ? { query } : {}) }));

describe('a real lock incident: planted lock, admin terminate, recovery → record and post-mortem', () => {
  const TAG = randomBytes(4).toString('hex');
  const VICTIM = `opsbook_t_inc_${TAG}`;
  const LITERAL = `secret-literal-${TAG}`;
  let h: DbHarness;
  let r: RedisHarness;
  let deps: Deps;
  let holder: { client: pg.Client; pid: number };
  let waiter: { client: pg.Client; pid: number };
  const config = parseConfig({
    service: 'IncidentTest',
    recipients: ['oncall@example.com'],
    alerts: { alertAfter: 2, recoverAfter: 2 },
    // Any wait on a lock fails postgres.blocked: the test never waits on the clock for a threshold.
    checks: { postgres: { thresholds: { longRunningSeconds: 0.001 } } },
    checklists: [{ id: 'db-locks', title: 'DB locks', schedule: { type: 'daily', at: '00:05' }, items: [{ check: 'postgres.blocked' }] }],
  } satisfies OpsbookConfigInput);

  // The injected clocks: two daily runs before the terminate (the alert opens on the second), two after
  // (recovery). The terminate itself happens now, audited at the database's now(), between them.
  const today = new Date(new Date().toISOString().slice(0, 10) + 'T00:05:00Z').getTime();
  const T = [today - 2 * DAY, today - DAY, today + DAY, today + 2 * DAY].map((t) => new Date(t));
  let record: IncidentRecord;
  let markdown: string;
  let markdownResponse: Response;
  let audit: { id: string; at: Date; actor: string };
  let readToken: string;

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb('pg'), openRedis('memory')]);
    await ensureSchema(h.db);
    const root = new pg.Client({ connectionString: PG_ADMIN_URL });
    await root.connect();
    try {
      await root.query(`CREATE ROLE ${VICTIM} LOGIN`);
    } finally {
      await root.end();
    }
    await h.database!.admin.query(`CREATE TABLE orders (id serial PRIMARY KEY, total int); INSERT INTO orders (total) SELECT g FROM generate_series(1, 100) g; GRANT ALL ON orders TO ${VICTIM}`);
    deps = await useAdminDeps(h.db, r.redis, config);
    readToken = (await createToken(h.db, { name: `inc-read-${TAG}`, role: 'read', createdBy: 'tests' })).token;
    const adminToken = (await createToken(h.db, { name: 'oncall-ada', role: 'admin', createdBy: 'tests' })).token;

    // The lock: a migration-like session of a NON-superuser role holds ACCESS EXCLUSIVE, idle in its
    // transaction; an app query waits behind it.
    holder = await openSession(pgUrlFor(h.database!.name, VICTIM), 'migration');
    await holder.client.query('BEGIN');
    await holder.client.query('LOCK TABLE orders IN ACCESS EXCLUSIVE MODE');
    waiter = await openSession(h.database!.url, 'app');
    // The waiting query carries a literal: other sessions' SQL leaves Opsbook normalised, incidents included.
    const waited = waiter.client.query(`SELECT count(*) FROM orders WHERE '${LITERAL}' <> ''`);
    for (let i = 0; ; i++) {
      const { rows } = await h.database!.admin.query('SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted', [waiter.pid]);
      if (rows.length) break;
      if (i > 300) throw new Error('the waiter never queued behind the lock');
      await delay(20);
    }
    await delay(50);

    const first = await runChecklist(deps, config, 'db-locks', T[0]!);
    const opened = await runChecklist(deps, config, 'db-locks', T[1]!);
    expect(first).toMatchObject({ status: 'completed', transitions: { newFailures: [] } });
    expect(opened).toMatchObject({ status: 'completed', transitions: { newFailures: ['check:postgres.blocked'] } });

    // The admin terminates the blocker through the real route, as an admin token would.
    const res = await terminate(adminRequest('/api/admin/db/terminate', { token: adminToken, body: { pid: holder.pid } }));
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(200);
    expect(body.results[0]).toMatchObject({ pid: holder.pid, result: 'terminated' });
    await waited;
    const { rows } = await h.database!.admin.query(`SELECT id::text, at, actor FROM opsbook.audit_log WHERE action = 'db.terminate' AND target = $1`, [`pid:${holder.pid}`]);
    expect(rows.length).toBe(1);
    audit = rows[0];

    expect(await runChecklist(deps, config, 'db-locks', T[2]!)).toMatchObject({ status: 'completed', counts: { ok: 1 } });
    expect(await runChecklist(deps, config, 'db-locks', T[3]!)).toMatchObject({ status: 'completed', transitions: { recovered: ['check:postgres.blocked'] } });

    const list = await (await get(listRoute, '/api/incidents', readToken)).json();
    expect(list.incidents.length).toBe(1);
    const one = await get(byIdRoute, `/api/incidents/${list.incidents[0].id}`, readToken);
    expect(one.status).toBe(200);
    record = (await one.json()).incident;
    markdownResponse = await get(postmortemRoute, `/api/incidents/${record.id}/postmortem`, readToken);
    markdown = await markdownResponse.text();
  }, 60_000);

  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([holder?.client.end(), waiter?.client.end()]);
    await Promise.allSettled([h.close(), r.close()]);
    const root = new pg.Client({ connectionString: PG_ADMIN_URL });
    await root.connect();
    await root.query(`DROP ROLE IF EXISTS ${VICTIM}`).catch(() => undefined);
    await root.end();
  });

  it('one incident row: opened and resolved at the injected clocks of the opening and the recovering run', async () => {
    const { rows } = await h.database!.admin.query(`SELECT alert_key, seq, opened_at, resolved_at, muted FROM opsbook.incidents`);
    expect(rows).toEqual([{ alert_key: 'db-locks/check:postgres.blocked', seq: 1, opened_at: T[1], resolved_at: T[3], muted: false }]);
    expect(record).toMatchObject({
      checklist: 'db-locks',
      checkId: 'postgres.blocked',
      title: 'Blocked queries',
      severity: 'P2',
      state: 'resolved',
      muted: false,
      openedAt: T[1]!.toISOString(),
      resolvedAt: T[3]!.toISOString(),
      durationSeconds: (T[3]!.getTime() - T[1]!.getTime()) / 1000,
    });
  });

  it('root cause as Opsbook saw it: the blocked check naming the blocker session, and the terminate route its hint points at', () => {
    expect(record.rootCause).toMatchObject({ id: 'postgres.blocked', status: 'fail', action: '/api/admin/db/terminate' });
    expect(record.rootCause!.summary).toContain(`session ${holder.pid}`);
    expect(record.suppressed).toEqual([]);
  });

  it('snapshots: the Postgres results at open (blocked failing, with the waiter) and at resolution (passing), bounded', () => {
    const open = record.snapshots.open!;
    expect(open).toMatchObject({ at: T[1]!.toISOString(), scope: 'postgres' });
    expect(open.items[0]).toMatchObject({ id: 'postgres.blocked', status: 'fail' });
    expect(JSON.stringify(open.items[0]!.details)).toContain(String(waiter.pid));
    expect(record.snapshots.resolved).toMatchObject({ at: T[3]!.toISOString(), items: [{ id: 'postgres.blocked', status: 'ok' }] });
    expect(JSON.stringify(record.snapshots).length).toBeLessThan(2 * 16_384);
  });

  it('the audited terminate, with its actor, confirm mode and outcome, and the results over time', () => {
    expect(record.actions).toEqual([
      expect.objectContaining({ id: Number(audit.id), at: audit.at.toISOString(), actor: 'oncall-ada', role: 'admin', action: 'db.terminate', target: `pid:${holder.pid}`, dryRun: false, confirm: 'direct', result: 'ok' }),
    ]);
    expect(record.results.map((x) => [x.at, x.checkId, x.status])).toEqual([
      [T[1]!.toISOString(), 'postgres.blocked', 'fail'],
      [T[2]!.toISOString(), 'postgres.blocked', 'ok'],
      [T[3]!.toISOString(), 'postgres.blocked', 'ok'],
    ]);
    // The Sentry event was claimed by the opening run.
    expect(record.sentry).toEqual({ claimed: true, claimedAt: T[1]!.toISOString() });
    expect(record.notifications).toEqual([]);
  });

  it("no other session's SQL literal in the record, the post-mortem or the stored incident row", async () => {
    // The waiting query is in the snapshot, normalised (literals as placeholders).
    expect(JSON.stringify(record.snapshots.open)).toContain('FROM orders WHERE $1 <> $2');
    const { rows } = await h.database!.admin.query('SELECT i::text AS row FROM opsbook.incidents i');
    for (const out of [JSON.stringify(record), markdown, rows.map((x) => x.row).join('\n')]) expect(out).not.toContain(LITERAL);
  });

  it('the post-mortem: Markdown, its timeline at the real timestamps in order, root cause, actions, blank lessons and action items', () => {
    expect(markdownResponse.status).toBe(200);
    expect(markdownResponse.headers.get('content-type')).toBe('text/markdown; charset=utf-8');
    expect(markdown).toBe(renderPostmortem(record));
    const lines = markdown.split('\n');
    const at = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
    const detection = at(`- ${T[1]!.toISOString()} — Detection: \`postgres.blocked\` opened the incident (P2)`);
    const action = at(`- ${audit.at.toISOString()} — First action: \`db.terminate\` on \`pid:${holder.pid}\` by oncall-ada (admin) → ok`);
    const mitigation = at(`- ${T[2]!.toISOString()} — Mitigation: \`postgres.blocked\` passing again`);
    const resolution = at(`- ${T[3]!.toISOString()} — Resolution:`);
    expect([detection, action, mitigation, resolution].every((i) => i > 0), markdown).toBe(true);
    expect(detection < action && action < mitigation && mitigation < resolution).toBe(true);
    expect(markdown).toContain(`# Post-mortem: Blocked queries — ${T[1]!.toISOString().slice(0, 10)}`);
    expect(markdown).toContain(`- **Duration:** 3 d (${T[1]!.toISOString()} → ${T[3]!.toISOString()})`);
    expect(markdown).toContain('- **Severity:** P2');
    expect(markdown).toMatch(/## Root cause \(as Opsbook saw it\)\n\n`postgres\.blocked` \(Blocked queries\): .*session \d+/);
    expect(markdown).toContain(`## Resolution\n\nActions taken:\n\n- ${audit.at.toISOString()} — \`db.terminate\` on \`pid:${holder.pid}\` by oncall-ada`);
    // The sections only people can write are there, and empty (a comment is no content).
    const section = (title: string) => markdown.split(`## ${title}\n`)[1]!.split('\n## ')[0]!;
    for (const title of ['Lessons learned', 'Action items']) expect(section(title).replace(/<!--[\s\S]*?-->/g, '').trim()).toBe('');
  });
});

describe.each(DB_DRIVERS)('incident records over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  let errors: ReturnType<typeof recordingReporter>;
  let port: number;
  const MON = new Date('2026-03-02T06:30:00Z');
  const input = (): OpsbookConfigInput => ({
      service: 'IncidentRecords',
      recipients: ['oncall@example.com'],
      alerts: { alertAfter: 1, recoverAfter: 1 },
      checks: { tcp: [{ id: 'api', host: '127.0.0.1', port, timeoutMs: 1000 }], http: [{ id: 'site', url: `http://127.0.0.1:${port}/health`, needs: ['tcp.api'], timeoutMs: 1000 }] },
      checklists: [{ id: 'edge', title: 'Edge', schedule: { type: 'daily', at: '06:30' }, items: [{ check: 'tcp.api' }, { check: 'http.site' }] }],
    });
  const config = () => parseConfig(input());

  beforeAll(async () => {
    [h, port] = await Promise.all([openDb(driver), closedPort()]);
    errors = recordingReporter();
    deps = await createDeps(parseEnv({ OPSBOOK_DATA_DIR: testDataDir() }), { db: h.db, redis: createMemoryRedis(), errors, log: () => undefined });
    await ensureSchema(h.db);
  });
  afterAll(async () => {
    await h?.close();
  });

  it('two concurrent runs observing the same opening → exactly one incident row (the state write that counted), one Sentry claim', async () => {
    const runs = await Promise.all([runChecklist(deps, config(), 'edge', MON), runChecklist(deps, config(), 'edge', new Date(MON.getTime() + DAY))]);
    for (const run of runs) expect(run.status).toBe('completed');
    // Over a pool (pg) or HTTP (Neon) both runs read the same stored state and saw the incident open: the
    // race really happened. PGlite is one connection in process, so there the second may read the first's write.
    const saw = runs.filter((run) => run.status === 'completed' && run.transitions.newFailures.includes('check:tcp.api')).length;
    if (driver === 'pglite') expect(saw).toBeGreaterThanOrEqual(1);
    else expect(saw).toBe(2);
    const { rows } = await h.db.query<Record<string, unknown>>(`SELECT alert_key, seq, opened_at, root_cause, suppressed FROM opsbook.incidents`);
    expect(rows.length).toBe(1);
    const [state] = (await h.db.query<{ incident: unknown }>(`SELECT incident FROM opsbook.alert_state WHERE key = 'edge/check:tcp.api'`)).rows;
    const incident = (typeof state!.incident === 'string' ? JSON.parse(state!.incident) : state!.incident) as { seq: number; openedAt: string };
    expect(rows[0]!.alert_key).toBe('edge/check:tcp.api');
    expect(Number(rows[0]!.seq)).toBe(incident.seq);
    expect(new Date(rows[0]!.opened_at as string).toISOString()).toBe(incident.openedAt);
    expect(errors.calls.filter((c) => c.kind === 'message').length).toBe(1);
  });

  it('the record keeps the root cause and the check it suppressed (http.site needs tcp.api)', async () => {
    const { rows } = await h.db.query<Record<string, unknown>>(`SELECT root_cause, suppressed, snapshot_open FROM opsbook.incidents`);
    const parse = (v: unknown) => (typeof v === 'string' ? JSON.parse(v) : v);
    expect(parse(rows[0]!.root_cause)).toMatchObject({ id: 'tcp.api', status: expect.stringMatching(/^(fail|error)$/) });
    expect(parse(rows[0]!.suppressed)).toEqual([{ id: 'http.site', title: expect.any(String) }]);
    expect(parse(rows[0]!.snapshot_open).items.map((i: { id: string; suppressedBy?: string }) => [i.id, i.suppressedBy ?? null])).toEqual([
      ['tcp.api', null],
      ['http.site', 'tcp.api'],
    ]);
  });

  it('a muted incident (maintenance window) is recorded too, marked with the window', async () => {
    const muted = parseConfig({
      ...input(),
      maintenanceWindows: [{ id: 'upgrade', title: 'Edge upgrade', at: '2026-03-09T06:00:00Z', durationMinutes: 120 }],
      checklists: [{ id: 'edge-muted', title: 'Edge', schedule: { type: 'daily', at: '06:30' }, items: [{ check: 'tcp.api' }] }],
    });
    const before = errors.calls.length;
    await runChecklist(deps, muted, 'edge-muted', new Date('2026-03-09T06:30:00Z'));
    const { rows } = await h.db.query<{ muted: boolean; muted_by: string; opened_at: unknown }>(`SELECT muted, muted_by, opened_at FROM opsbook.incidents WHERE checklist = 'edge-muted'`);
    expect(rows.map((x) => [x.muted, x.muted_by, new Date(x.opened_at as string).toISOString()])).toEqual([[true, 'Edge upgrade', '2026-03-09T06:30:00.000Z']]);
    expect(errors.calls.length).toBe(before);
  });
});

describe('the incident routes', () => {
  let h: DbHarness;
  let r: RedisHarness;
  const byRole = {} as Record<Role, string>;
  const ids: number[] = [];
  const at = (days: number) => new Date(Date.UTC(2026, 0, 1) + days * DAY).toISOString();

  beforeAll(async () => {
    [h, r] = await Promise.all([openDb('pg'), openRedis('memory')]);
    await ensureSchema(h.db);
    await useAdminDeps(h.db, r.redis);
    for (const role of ['heartbeat', 'read', 'operate', 'admin'] as Role[]) byRole[role] = (await createToken(h.db, { name: `routes-${role}`, role, createdBy: 'tests' })).token;
    // Five incidents: opened on days 0..4, the even ones resolved two days later, the odd ones open.
    for (let d = 0; d < 5; d++) {
      const { rows } = await h.database!.admin.query<{ id: string }>(
        `INSERT INTO opsbook.incidents (alert_key, seq, checklist, check_id, title, severity, opened_at, resolved_at, root_cause)
         VALUES ($1, 1, 'daily', $2, $2, 'P2', $3, $4, $5) RETURNING id::text`,
        [`daily/check:c${d}`, `c${d}`, at(d), d % 2 === 0 ? at(d + 2) : null, JSON.stringify({ id: `c${d}`, title: `c${d}`, status: 'fail', summary: `c${d} failed` })],
      );
      ids.push(Number(rows[0]!.id));
    }
  });
  afterAll(async () => {
    resetAdminDeps();
    await Promise.allSettled([h.close(), r.close()]);
  });

  const list = async (query: Record<string, string> = {}) => {
    const res = await get(listRoute, '/api/incidents', byRole.read, query);
    expect(res.status).toBe(200);
    return (await res.json()) as { incidents: Array<{ checkId: string; state: string }>; next?: string };
  };
  const names = (l: { incidents: Array<{ checkId: string }> }) => l.incidents.map((i) => i.checkId);

  it('newest first; state=open / resolved filters', async () => {
    expect(names(await list())).toEqual(['c4', 'c3', 'c2', 'c1', 'c0']);
    expect(names(await list({ state: 'open' }))).toEqual(['c3', 'c1']);
    expect(names(await list({ state: 'resolved' }))).toEqual(['c4', 'c2', 'c0']);
  });

  it('since/until select the incidents open at some moment in the range', async () => {
    // From day 3.5: c0 (resolved on day 2) is out; c2 (resolved on day 4) was still open then.
    expect(names(await list({ since: at(3.5) }))).toEqual(['c4', 'c3', 'c2', 'c1']);
    expect(names(await list({ until: at(1.5) }))).toEqual(['c1', 'c0']);
    expect(names(await list({ since: '2026-01-03', until: '2026-01-04', state: 'resolved' }))).toEqual(['c2', 'c0']);
  });

  it('pages: limit and the next cursor walk every incident once, newest first', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await list({ limit: '2', ...(cursor ? { cursor } : {}) });
      seen.push(...names(page));
      cursor = page.next;
      pages++;
    } while (cursor);
    expect(seen).toEqual(['c4', 'c3', 'c2', 'c1', 'c0']);
    expect(pages).toBe(3);
  });

  it.each([
    ['no token', null, 401, 'UNAUTHORIZED'],
    ['a heartbeat token', 'heartbeat', 403, 'FORBIDDEN'],
  ] as const)('%s → %i on all three routes', async (_what, role, status, code) => {
    for (const [route, path] of [[listRoute, '/api/incidents'], [byIdRoute, `/api/incidents/${ids[0]}`], [postmortemRoute, `/api/incidents/${ids[0]}/postmortem`]] as const) {
      const res = await get(route, path, role ? byRole[role] : null);
      expect(res.status, path).toBe(status);
      expect((await res.json()).error.code).toBe(code);
    }
  });

  it.each(['read', 'operate', 'admin'] as const)('a %s token reads all three', async (role) => {
    expect((await get(listRoute, '/api/incidents', byRole[role])).status).toBe(200);
    expect((await get(byIdRoute, `/api/incidents/${ids[0]}`, byRole[role])).status).toBe(200);
    expect((await get(postmortemRoute, `/api/incidents/${ids[0]}/postmortem`, byRole[role])).status).toBe(200);
  });

  it('an id that does not exist → 404 in the one error shape, on the record and on its post-mortem', async () => {
    for (const [route, path] of [[byIdRoute, '/api/incidents/987654321'], [postmortemRoute, '/api/incidents/987654321/postmortem']] as const) {
      const res = await get(route, path, byRole.read);
      expect(res.status).toBe(404);
      const body = await res.json();
      expect(Object.keys(body).sort()).toEqual(['error', 'requestId']);
      expect(body.error).toEqual({ code: 'NOT_FOUND', message: 'No incident 987654321.' });
    }
  });

  it.each([
    ['a state that is not one', { state: 'closed' }],
    ['a date that is not one', { since: 'yesterday' }],
    ['a bad cursor', { cursor: 'abc' }],
    ['an unknown parameter', { sort: 'asc' }],
    ['a limit over 200', { limit: '201' }],
  ])('%s → 400', async (_what, query) => {
    const res = await get(listRoute, '/api/incidents', byRole.read, query);
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('BAD_REQUEST');
  });
});
