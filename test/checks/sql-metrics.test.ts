import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { family, metricOutcome, metricValue } from '../../lib/checks/sql-metrics.js';
import { createPgAccess } from '../../lib/checks/pg-access.js';
import type { CheckContext, PgAccess } from '../../lib/checks/types.js';
import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { readOnlyProblem } from '../../lib/config/sql-guard.js';
import type { QueryResult } from '../../lib/db/index.js';
import type { Deps } from '../../lib/deps.js';
import { OpsbookError } from '../../lib/errors.js';
import { DB_DRIVERS, openDb, type DbHarness } from '../support/drivers.js';
import { depsFor, diagnose } from '../support/diagnostics.js';

const metric = (sql: string, extra: Record<string, unknown> = {}) => ({ checks: { sqlMetrics: [{ id: 'm', title: 'M', sql, ...extra }] } });
const metricConfig = (extra: Record<string, unknown> = {}) => parseConfig(metric('SELECT 1', extra)).checks.sqlMetrics[0]!;

function loadError(input: OpsbookConfigInput): OpsbookError {
  try {
    parseConfig(input);
  } catch (err) {
    return err as OpsbookError;
  }
  throw new Error('the config was accepted');
}

describe('SQL metric guard at config load', () => {
  it('a write disguised in a CTE is rejected: MISCONFIGURED, naming checks.sqlMetrics.0.sql', () => {
    const err = loadError(metric('WITH gone AS (DELETE FROM users WHERE last_seen_at IS NULL RETURNING 1) SELECT count(*) FROM gone'));
    expect(err).toBeInstanceOf(OpsbookError);
    expect(err.code).toBe('MISCONFIGURED');
    expect(err.message).toMatch(/checks\.sqlMetrics\.0\.sql: SQL must be read-only \(found "DELETE"\)/);
  });

  it.each([
    ['two statements', 'SELECT 1; SELECT 2', /single statement/],
    ['not a SELECT', "UPDATE users SET email = 'x'", /must start with SELECT or WITH/],
    ['row locks', 'SELECT id FROM users FOR SHARE', /row locks/],
    ['SELECT … INTO', 'SELECT * INTO users_backup FROM users', /INTO/],
    ['set_config (a session-level statement_timeout = 0 outlives READ ONLY)', "SELECT set_config('statement_timeout', '0', false)", /set_config\(\)/],
    ['set_config schema-qualified', "SELECT pg_catalog.set_config('statement_timeout', '0', false)", /set_config\(\)/],
    ['set_config by its quoted name', `SELECT "pg_catalog"."set_config"('statement_timeout', '0', false)`, /set_config\(\)/],
    ['a session advisory lock', 'SELECT pg_advisory_lock(42)', /pg_advisory_lock\(\)/],
    ['terminating other sessions', 'SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity', /pg_terminate_backend\(\)/],
    ['resetting statistics', 'SELECT 1 FROM pg_stat_statements_reset()', /pg_stat_statements_reset\(\)/],
    ['pg_notify', "SELECT pg_notify('jobs', 'x')", /pg_notify\(\)/],
    ['dblink (another connection, not read-only)', "SELECT * FROM dblink_exec('dbname=app', 'DELETE FROM users')", /DELETE|dblink/],
    ['a Unicode-escaped identifier', 'SELECT U&"\\0073et_config"(\'a\', \'b\', false)', /U&/],
    ['a statement hidden after a quote inside a -- comment', "SELECT 1 -- it's\n; COMMIT; DELETE FROM users; SELECT 'x'", /single statement/],
    ['a statement hidden after a quote inside a comment ended by a carriage return', "SELECT 1 --x\r; DELETE FROM users; SELECT 'x' -- '", /single statement/],
    ["a statement hidden by an E'\\'' escaped quote", "SELECT E'\\''; DELETE FROM users; SELECT ''", /single statement/],
    ['a statement hidden by a dollar tag with digits', "SELECT $a1$'$a1$; DELETE FROM users; SELECT ''", /single statement/],
    ['a statement hidden by a backslash-escaped quote (standard_conforming_strings off)', "SELECT 'a\\'' , 1 ; DELETE FROM users -- '", /single statement/],
    ['empty', '  -- nothing\n', /empty/],
  ])('%s → rejected', (_name, sql, why) => {
    expect(readOnlyProblem(sql)).toMatch(why);
    expect(loadError(metric(sql)).message).toMatch(/checks\.sqlMetrics\.0\.sql/);
  });

  it.each([
    ['active users in 7 days', "SELECT count(*) FROM users WHERE last_seen_at > now() - interval '7 days'"],
    ['failed logins in 24 h', "SELECT count(*) FROM auth_events WHERE kind='login_failed' AND at > now() - interval '24 hours'"],
    ['API keys older than N days', 'SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND created_at < now() - make_interval(days => $1)'],
    ['a trailing semicolon and comment', 'SELECT count(*) FROM users; -- all of them'],
    ['write words inside strings, quoted identifiers and comments', `SELECT count(*) FROM audit WHERE action = 'delete; drop' AND "update" IS NOT NULL /* not an UPDATE */`],
    ['nested block comments', 'SELECT 1 /* outer /* inner */ still a comment; DELETE */'],
    ['a dollar-quoted body holding a semicolon', 'SELECT length($body$a;b$body$)'],
    ['doubled quotes', "SELECT count(*) FROM users WHERE email <> 'it''s'"],
    ['a function named like a denied one inside a string', "SELECT count(*) FROM logs WHERE line LIKE '%set_config(%'"],
    ['identifiers with $ inside', 'SELECT count(*) AS a$b$ FROM users'],
    ['a CTE that only reads', 'WITH recent AS (SELECT * FROM users WHERE created_at > now() - interval \'1 day\') SELECT count(*) FROM recent'],
  ])('%s → accepted', (_name, sql) => {
    expect(readOnlyProblem(sql)).toBeUndefined();
  });
});

describe('SQL metric values and thresholds', () => {
  it.each([
    ['an integer', [{ n: 42 }], 42],
    ['a bigint count as a numeric string', [{ count: '9007' }], 9007],
    ['a numeric string', [{ ratio: '0.125' }], 0.125],
    ['a negative exponent string', [{ v: '-1.5e3' }], -1500],
    ['a bigint', [{ n: 12n }], 12],
  ] as const)('%s → value', (_name, rows, value) => {
    expect(metricValue(rows as unknown as Array<Record<string, unknown>>)).toEqual({ value });
  });

  it.each([
    ['no rows', [], /no rows/],
    ['NULL', [{ max: null }], /NULL in its first column "max"/],
    ['text', [{ email: 'someone@example.com' }], /text in its first column "email", not a number/],
    ['a boolean', [{ ok: true }], /a boolean/],
    ['NaN', [{ n: 'NaN' }], /not a number/],
    ['Infinity', [{ n: Infinity }], /not a finite number/],
  ] as const)('%s → a problem, never the value itself', (_name, rows, why) => {
    const r = metricValue(rows as unknown as Array<Record<string, unknown>>);
    expect('problem' in r && r.problem).toMatch(why);
    expect(JSON.stringify(r)).not.toContain('someone@example.com');
  });

  it.each([
    ['above', 5, 10, 4, 'ok'],
    ['above', 5, 10, 5, 'ok'],
    ['above', 5, 10, 6, 'warn'],
    ['above', 5, 10, 10, 'warn'],
    ['above', 5, 10, 11, 'fail'],
    ['below', 10, 5, 11, 'ok'],
    ['below', 10, 5, 10, 'ok'],
    ['below', 10, 5, 9, 'warn'],
    ['below', 10, 5, 4, 'fail'],
    ['above', undefined, 10, 9, 'ok'],
    ['above', undefined, 10, 11, 'fail'],
    ['below', 3, undefined, 0, 'warn'],
  ] as const)('direction %s, warn %s, fail %s: %s → %s', (direction, warnAt, failAt, value, status) => {
    const m = metricConfig({ direction, warn: warnAt, fail: failAt, unit: 'users' });
    const r = metricOutcome(m, value);
    expect(r.status).toBe(status);
    expect(r.value).toBe(value);
    expect(r.unit).toBe('users');
    if (status === 'fail') expect(r.summary).toBe(`${value} users: ${direction} the fail threshold ${failAt}`);
    if (status === 'warn') expect(r.summary).toBe(`${value} users: ${direction} the warn threshold ${warnAt}`);
  });
});

const RUNBOOK_METRICS: OpsbookConfigInput = {
  checks: {
    sqlMetrics: [
      {
        id: 'active-users-7d',
        title: 'Active users in 7 days',
        sql: "SELECT count(*) FROM users WHERE last_seen_at > now() - interval '7 days'",
        direction: 'below',
        warn: 3,
        fail: 1,
        unit: 'users',
      },
      {
        id: 'failed-logins-24h',
        title: 'Failed logins in 24 h',
        sql: "SELECT count(*) FROM auth_events WHERE kind='login_failed' AND at > now() - interval '24 hours'",
        warn: 10,
        fail: 50,
      },
      {
        id: 'inactive-accounts',
        title: 'Accounts inactive for 90 days',
        sql: "SELECT count(*) FROM users WHERE last_seen_at IS NULL OR last_seen_at < now() - interval '90 days' -- never seen counts",
        warn: 5,
        unit: 'accounts',
      },
      {
        id: 'old-api-keys',
        title: 'API keys older than a year',
        sql: 'SELECT count(*) FROM api_keys WHERE revoked_at IS NULL AND created_at < now() - make_interval(days => $1);',
        params: [365],
        warn: 0,
        unit: 'keys',
      },
    ],
  },
};

describe.each(DB_DRIVERS)('SQL metrics over %s', (driver) => {
  let h: DbHarness;
  let deps: Deps;

  beforeAll(async () => {
    h = await openDb(driver);
    deps = await depsFor(h.db);
    await h.db.batch(
      [
        'CREATE TABLE users (id serial PRIMARY KEY, email text NOT NULL, last_seen_at timestamptz)',
        `INSERT INTO users (email, last_seen_at) VALUES
           ('a@example.com', now() - interval '1 day'), ('b@example.com', now() - interval '3 days'),
           ('c@example.com', now() - interval '30 days'), ('d@example.com', now() - interval '200 days'), ('e@example.com', NULL)`,
        'CREATE TABLE auth_events (kind text NOT NULL, at timestamptz NOT NULL)',
        `INSERT INTO auth_events VALUES ('login_failed', now() - interval '1 hour'), ('login_failed', now() - interval '2 hours'),
           ('login_failed', now() - interval '23 hours'), ('login_failed', now() - interval '30 hours'), ('login_ok', now() - interval '1 hour')`,
        'CREATE TABLE api_keys (id serial PRIMARY KEY, created_at timestamptz NOT NULL, revoked_at timestamptz)',
        `INSERT INTO api_keys (created_at, revoked_at) VALUES (now() - interval '400 days', NULL), (now() - interval '500 days', now()),
           (now() - interval '10 days', NULL)`,
        'CREATE SEQUENCE invoice_numbers',
        'CREATE TABLE probe_writes (n int)',
        'CREATE FUNCTION record_probe() RETURNS int LANGUAGE sql VOLATILE AS $$ INSERT INTO probe_writes VALUES (1) RETURNING n $$',
      ].map((text) => ({ text })),
      { readOnly: false },
    );
  });
  afterAll(async () => {
    await h.close();
  });

  it('runbook metrics over real tables: values graded by direction, all in two round trips', async () => {
    const r = await diagnose(deps, RUNBOOK_METRICS, { only: ['sql'] });
    expect(r.postgresRoundTrips).toBe(2);
    expect(r.byId('sql.active-users-7d')).toMatchObject({ status: 'warn', value: 2, unit: 'users', family: 'sql-metrics', title: 'Active users in 7 days', summary: '2 users: below the warn threshold 3' });
    expect(r.byId('sql.failed-logins-24h')).toMatchObject({ status: 'ok', value: 3, summary: '3 (warn above 10, fail above 50)' });
    expect(r.byId('sql.inactive-accounts')).toMatchObject({ status: 'ok', value: 2, unit: 'accounts' });
    expect(r.byId('sql.old-api-keys')).toMatchObject({ status: 'warn', value: 1, unit: 'keys', severity: 'P3' });
  });

  it('a function call that writes passes the guard but READ ONLY stops it at run time (25006) → error; the other metrics still succeed', async () => {
    const config: OpsbookConfigInput = {
      checks: {
        sqlMetrics: [
          ...RUNBOOK_METRICS.checks!.sqlMetrics!.slice(0, 1),
          { id: 'next-invoice', title: 'Next invoice number', sql: "SELECT nextval('invoice_numbers')" },
          { id: 'sneaky', title: 'Volatile function that inserts', sql: 'SELECT record_probe()' },
          ...RUNBOOK_METRICS.checks!.sqlMetrics!.slice(1, 2),
        ],
      },
    };
    for (const m of config.checks!.sqlMetrics!) expect(readOnlyProblem(m.sql)).toBeUndefined();
    const r = await diagnose(deps, config, { only: ['sql'] });
    expect(r.byId('sql.next-invoice')).toMatchObject({ status: 'error', summary: expect.stringMatching(/cannot execute nextval\(\) in a read-only transaction \(25006\)/) });
    expect(r.byId('sql.sneaky')).toMatchObject({ status: 'error', summary: expect.stringMatching(/cannot execute INSERT in a read-only transaction \(25006\)/) });
    expect(r.byId('sql.sneaky').hint?.text).toMatch(/READ ONLY/);
    expect(r.byId('sql.active-users-7d')).toMatchObject({ status: 'warn', value: 2 });
    expect(r.byId('sql.failed-logins-24h')).toMatchObject({ status: 'ok', value: 3 });
    const { rows } = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM probe_writes');
    expect(rows[0]!.n).toBe(0);
  });

  it.each([
    ['NULL from an aggregate over no rows', "SELECT max(id) FROM users WHERE email = 'nobody'", /NULL in its first column "max"/],
    ['no rows', 'SELECT id FROM users WHERE false', /returned no rows/],
    ['text', 'SELECT email FROM users ORDER BY id LIMIT 1', /returned text in its first column "email", not a number/],
  ])('a metric returning %s → error with a clear summary', async (_name, sql, why) => {
    const r = (await diagnose(deps, metric(sql), { only: ['sql'] })).byId('sql.m');
    expect(r.status).toBe('error');
    expect(r.summary).toMatch(why);
    expect(r.summary).not.toContain('@example.com');
  });

  it('the metric runs under its own statement_timeout, which is put back for the statements merged after it', async () => {
    const [baseline] = await h.db.batch([{ text: "SELECT current_setting('statement_timeout') AS t" }]);
    const config = parseConfig(metric("SELECT extract(epoch FROM current_setting('statement_timeout')::interval) * 1000", { timeoutMs: 250 }));
    const pg = createPgAccess(h.db);
    const probes: Array<Promise<QueryResult[]>> = [];
    // Another check's statement, queued in the same tick right after the metric's: merged behind it.
    const spy: PgAccess = {
      caps: () => pg.caps(),
      batch(statements) {
        const own = pg.batch(statements);
        probes.push(pg.batch([{ text: "SELECT current_setting('statement_timeout') AS t" }]));
        return own;
      },
    };
    const ctx: CheckContext = { deps, config, pg: spy, store: spy, timeoutMs: 5000, snapshot: new Map() };
    const outcome = await family.checks(config)[0]!.run(ctx, new Date());
    expect(outcome).toMatchObject({ status: 'ok', value: 250 });
    const after = (await Promise.all(probes))[0]![0]!;
    expect(after.rows[0]!.t).toBe(baseline!.rows[0]!.t);
    expect(pg.roundTrips).toBe(2);
  });

  it('the statement_timeout is capped by the check time limit', async () => {
    const r = await diagnose(deps, metric("SELECT extract(epoch FROM current_setting('statement_timeout')::interval) * 1000", { timeoutMs: 60_000 }), {
      only: ['sql'],
      checkTimeoutMs: 3000,
    });
    expect(r.byId('sql.m')).toMatchObject({ status: 'ok', value: 3000 });
  });
});

describe.each(['pg', 'neon'] as const)('slow SQL metrics over %s (a server that can cancel a statement)', (driver) => {
  let h: DbHarness;
  let deps: Deps;
  beforeAll(async () => {
    h = await openDb(driver);
    deps = await depsFor(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  it('a slow metric with timeoutMs 200 → error "canceling statement due to statement timeout"; the others in the run succeed', async () => {
    const r = await diagnose(deps, {
      checks: {
        sqlMetrics: [
          { id: 'slow', title: 'Slow', sql: 'SELECT count(*) FROM pg_sleep(3)', timeoutMs: 200 },
          { id: 'fast', title: 'Fast', sql: 'SELECT 7', warn: 10 },
        ],
      },
    }, { only: ['sql'] });
    expect(r.byId('sql.slow')).toMatchObject({ status: 'error', summary: expect.stringMatching(/canceling statement due to statement timeout \(57014\)/) });
    expect(r.byId('sql.slow').hint?.text).toMatch(/200 ms statement_timeout/);
    expect(r.byId('sql.fast')).toMatchObject({ status: 'ok', value: 7 });
  });

  it('a metric with a short timeout does not cut short a slower statement another check merged after it', async () => {
    const config = parseConfig(metric('SELECT 1', { timeoutMs: 100 }));
    const pg = createPgAccess(h.db);
    const others: Array<Promise<QueryResult[]>> = [];
    const spy: PgAccess = {
      caps: () => pg.caps(),
      batch(statements) {
        const own = pg.batch(statements);
        // A check with no timeout of its own, whose statement takes longer than the metric's 100 ms.
        others.push(pg.batch([{ text: 'SELECT count(*)::int AS n FROM pg_sleep(0.4)' }]));
        return own;
      },
    };
    const ctx: CheckContext = { deps, config, pg: spy, store: spy, timeoutMs: 5000, snapshot: new Map() };
    expect(await family.checks(config)[0]!.run(ctx, new Date())).toMatchObject({ status: 'ok', value: 1 });
    const slower = (await Promise.all(others))[0]![0]!;
    expect(slower.rows[0]).toEqual({ n: 1 });
    expect(pg.roundTrips).toBe(2);
  });
});
