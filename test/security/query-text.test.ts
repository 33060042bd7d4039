// Issue 10, "No raw SQL text to a read token": other sessions' SQL leaves Opsbook normalised (literals as
// placeholders, credential-bearing statements as their command tag), through every path; an admin may
// ask for raw text with ?queryText=raw, and that request is audited.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GET } from '../../api/diagnostics.js';
import { createToken } from '../../lib/admin/tokens.js';
import { runChecklist } from '../../lib/checklists/run.js';
import { latestReport } from '../../lib/checklists/reports.js';
import { parseConfig, setConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { readOnlyProblem } from '../../lib/config/sql-guard.js';
import { createDeps, setDeps, type Deps } from '../../lib/deps.js';
import { createResendSender } from '../../lib/email/resend.js';
import { parseEnv } from '../../lib/env.js';
import { RAW_QUERY_TEXT_ACTION } from '../../lib/diagnostics/raw-text.js';
import { normalizeQueryText, WITHHELD_AMBIGUOUS, WITHHELD_CREDENTIAL } from '../../lib/sql/normalize.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { ADMIN_TOKEN } from '../support/admin.js';
import { recordingReporter } from '../support/checklists.js';
import { openDb, openRedis, type DbHarness, type RedisHarness } from '../support/drivers.js';
import { PG_ADMIN_URL, pgUrlFor } from '../support/services.js';

const withheld = (tag: string) => `${tag} — ${WITHHELD_CREDENTIAL}`;

describe('normalizeQueryText', () => {
  it.each([
    ['a string literal', "SELECT pg_sleep(30), 'secret-literal-xyz'", 'SELECT pg_sleep($1), $2'],
    ['numbers of every form', 'SELECT 42, 1.5, .5, 1e10, 1_000, 0x1F, 0o17, 0b101 FROM t', 'SELECT $1, $2, $3, $4, $5, $6, $7, $8 FROM t'],
    ["an E'' string with an escaped quote", "SELECT E'it\\'s a secret' AS x", 'SELECT $1 AS x'],
    ["a doubled quote ''", "SELECT 'it''s a secret'", 'SELECT $1'],
    ["bit, hex, national and U&'' strings", "SELECT B'0101', X'1F', N'secret', U&'d\\0061ta'", 'SELECT $1, $2, $3, $4'],
    ['dollar-quoted bodies', "SELECT $$secret$$, $tag$it's $$ secret$tag$", 'SELECT $1, $2'],
    ['placeholders numbered after its own parameters', "SELECT * FROM t WHERE a = $2 AND b = 'x'", 'SELECT * FROM t WHERE a = $2 AND b = $3'],
    ['identifiers and casts kept', `SELECT "Weird Name", t1.col2 FROM t1 WHERE d > '2024-01-01'::date`, `SELECT "Weird Name", t1.col2 FROM t1 WHERE d > $1::date`],
    ['comments dropped, whitespace folded', "SELECT a -- password=hunter2\n  FROM t /* secret /* nested */ */ WHERE b = 1", 'SELECT a FROM t WHERE b = $1'],
    ['text cut inside a string', "SELECT 'secret that was cut off", 'SELECT $1'],
    ['text cut inside a dollar body', 'SELECT $body$ secret that was cut', 'SELECT $1'],
    ['text cut inside a comment', 'SELECT 1 /* secret cut', 'SELECT $1'],
    ['text cut inside a quoted identifier', 'SELECT "secret cut', 'SELECT "…"'],
    ['a hidden session', '<insufficient privilege>', '<insufficient privilege>'],
    ['an already normalised pg_stat_statements text', 'SELECT * FROM users WHERE id = $1 LIMIT $2', 'SELECT * FROM users WHERE id = $1 LIMIT $2'],
  ])('%s → literals as placeholders', (_name, input, expected) => {
    expect(normalizeQueryText(input)).toBe(expected);
  });

  it.each([
    ['ALTER ROLE … PASSWORD', "ALTER ROLE app PASSWORD 'canary'", 'ALTER ROLE'],
    ['ALTER USER … ENCRYPTED PASSWORD', `alter user "App" with encrypted password 'canary'`, 'ALTER USER'],
    ['CREATE ROLE … PASSWORD cut before the literal', 'CREATE ROLE app LOGIN PASSWORD', 'CREATE ROLE'],
    ['CREATE USER MAPPING', "CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'app', password 'canary')", 'CREATE USER MAPPING'],
    ['ALTER USER MAPPING', "ALTER USER MAPPING FOR app SERVER s OPTIONS (SET password 'canary')", 'ALTER USER MAPPING'],
    ['CREATE SUBSCRIPTION', "CREATE SUBSCRIPTION s CONNECTION 'host=x password=canary' PUBLICATION p", 'CREATE SUBSCRIPTION'],
    ['dblink_connect', "SELECT dblink_connect('c', 'host=x password=canary')", 'SELECT'],
    ['dblink_connect_u, schema-qualified', "SELECT public.dblink_connect_u('host=x password=canary')", 'SELECT'],
    ['a quoted "dblink"() call', `SELECT * FROM "dblink"('host=x password=canary', 'select 1') AS t(a int)`, 'SELECT'],
    ['pgp_sym_encrypt', "INSERT INTO t VALUES (pgp_sym_encrypt('data', 'canary'))", 'INSERT'],
    ['pgp_pub_decrypt', 'SELECT pgp_pub_decrypt(c, dearmor($1)) FROM t', 'SELECT'],
    ['crypt()', "SELECT crypt('canary', gen_salt('bf'))", 'SELECT'],
    ['SET of a credential-named setting, unquoted', 'SET app.password = canary', 'SET'],
    ['ALTER SYSTEM SET of a secret', "ALTER SYSTEM SET my.api_key TO 'canary'", 'ALTER SYSTEM'],
    ["set_config('…password…')", "SELECT set_config('app.password', 'canary', false)", 'SELECT'],
    ['COPY … PROGRAM', "COPY t FROM PROGRAM 'curl -u user:canary https://x'", 'COPY'],
  ])('%s → only the command tag', (_name, input, tag) => {
    expect(normalizeQueryText(input)).toBe(withheld(tag));
  });

  it.each([
    ["a backslash before a quote in a plain string (standard_conforming_strings off reads it differently)", "SELECT 'a\\' , ' canary '"],
    ['a number followed by $$ (PostgreSQL 16 opens a body, older servers continue an identifier)', 'SELECT 1_000$$ canary $$x $$ canary'],
  ])('%s → withheld as ambiguous', (_name, input) => {
    const out = normalizeQueryText(input);
    expect(out).toBe(`SELECT — ${WITHHELD_AMBIGUOUS}`);
  });

  it('the SQL guard reads the same literals (one lexer): a write hidden after an escaped quote is still found', () => {
    expect(readOnlyProblem("SELECT 'a\\'; DELETE FROM t; --'")).toMatch(/single statement|read-only/);
    expect(readOnlyProblem("SELECT 'a''b', $$x$$, E'\\''")).toBeUndefined();
  });

  // The property: whatever the statement around it, and wherever the text is cut, no string literal's
  // content survives. Contents carry a marker the skeleton never contains.
  const MARK = 'QZ';
  const content = fc.string({ maxLength: 30 }).map((s) => `${MARK}${s}`);
  const literal = fc.oneof(
    content.map((c) => `'${c.replace(/'/g, "''")}'`),
    content.map((c) => `E'${c.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`),
    content.map((c) => `N'${c.replace(/'/g, "''")}'`),
    content.map((c) => `U&'${c.replace(/'/g, "''")}'`),
    content.filter((c) => !c.includes('$q$')).map((c) => `$q$${c}$q$`),
    content.filter((c) => !c.includes('$$')).map((c) => `$$${c}$$`),
  );
  const skeleton = fc.constantFrom('SELECT', 'a', 't1.col', '"Quoted"', '=', ',', '(', ')', '::text', '$1', '42', '1.5', '--c\n', '/* c */', ' ', '\n', 'FROM', 'WHERE', 'IN', 'e', 'x', 'u&', '||');
  it('property: no literal content from the input appears in the output, whole or cut anywhere', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(skeleton, literal), { maxLength: 20 }), fc.nat(), (parts, cut) => {
        const sql = parts.join(' ');
        const cutAt = sql.length === 0 ? 0 : cut % (sql.length + 1);
        for (const text of [sql, sql.slice(0, cutAt)]) expect(normalizeQueryText(text)).not.toContain(MARK);
      }),
      { numRuns: 3000 },
    );
  });
});

// ---------------------------------------------------------------------------------------------------
// Through the real route, a checklist's stored report and email, logs and Sentry, on real Postgres.

describe('query text through the diagnostics route, reports, logs and Sentry', () => {
  const RUN = randomBytes(4).toString('hex');
  const LITERAL = `secret-literal-xyz-${RUN}`;
  const CANARY = `canarypw${RUN}`;
  const role = `opsbook_t_qt_${RUN}`;
  const CHECKLIST = `query-text-${RUN}`;
  let h: DbHarness;
  let r: RedisHarness;
  let sink: ResendSink;
  let deps: Deps;
  const logs: string[] = [];
  const errors = recordingReporter();
  const sessions: pg.Client[] = [];
  let readToken: string;
  let operateToken: string;

  const config: OpsbookConfigInput = {
    service: 'QueryTextTest',
    recipients: ['oncall@example.com'],
    admin: { rateLimit: { perTokenPerMinute: 100_000, perIpPerMinute: 100_000 } },
    checks: { postgres: { thresholds: { idleInTransactionSeconds: 1, longRunningSeconds: 1 } } },
    checklists: [
      {
        id: CHECKLIST,
        title: 'Query text',
        schedule: { type: 'daily', at: '09:00' },
        items: [{ check: 'postgres.long-running' }, { check: 'postgres.idle-in-transaction' }],
      },
    ],
  };
  const ONLY = 'postgres.long-running,postgres.idle-in-transaction';
  const get = (query: string, token = ADMIN_TOKEN) =>
    GET(new Request(`http://localhost/api/diagnostics?only=${ONLY}${query}`, { headers: { authorization: `Bearer ${token}`, 'x-forwarded-for': '10.9.8.7', 'user-agent': 'query-text-test' } }));
  const rawAudits = async () =>
    (await h.db.query<{ actor: string; role: string }>('SELECT actor, role FROM opsbook.audit_log WHERE action = $1 ORDER BY id', [RAW_QUERY_TEXT_ACTION])).rows;

  beforeAll(async () => {
    [h, r, sink] = await Promise.all([openDb('pg'), openRedis('tcp'), startResendSink()]);
    const admin = h.database!.admin;
    await admin.query(`CREATE ROLE ${role} LOGIN`);
    await admin.query(`GRANT CONNECT ON DATABASE "${h.database!.name}" TO ${role}`);
    const open = async (name: string) => {
      const c = new pg.Client({ connectionString: pgUrlFor(h.database!.name, role), application_name: name });
      c.on('error', () => undefined);
      await c.connect();
      sessions.push(c);
      return c;
    };
    // A non-superuser's query with a literal, still running; and a transaction left open right after
    // the role changed its own password (which a role may do without any privilege).
    const sleeper = await open('qt-sleeper');
    sleeper.query(`SELECT pg_sleep(30), '${LITERAL}'`).catch(() => undefined);
    const idler = await open('qt-idler');
    await idler.query('BEGIN');
    await idler.query(`ALTER ROLE ${role} PASSWORD '${CANARY}'`);
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { rows } = await admin.query(
        `SELECT count(*) FILTER (WHERE state = 'active' AND query_start < now() - interval '1.2 s')::int AS running,
                count(*) FILTER (WHERE state = 'idle in transaction' AND state_change < now() - interval '1.2 s')::int AS idle
         FROM pg_stat_activity WHERE usename = $1`,
        [role],
      );
      if (rows[0].running >= 1 && rows[0].idle >= 1) break;
      if (Date.now() > deadline) throw new Error('planted sessions not ready');
      await new Promise((res) => setTimeout(res, 50));
    }

    deps = await createDeps(parseEnv({ OPSBOOK_ADMIN_TOKEN: ADMIN_TOKEN, RESEND_API_KEY: 're_querytext_test' }), {
      db: h.db,
      redis: r.redis,
      email: createResendSender('re_querytext_test', { baseUrl: sink.baseUrl, timeoutMs: 5000 }),
      errors,
      log: (level, message, extra) => void logs.push(`${level} ${message} ${extra ? JSON.stringify(extra) : ''}`),
    });
    setDeps(deps);
    setConfig(parseConfig(config));
    readToken = (await createToken(h.db, { name: `qt-read-${RUN}`, role: 'read', createdBy: 'test' })).token;
    operateToken = (await createToken(h.db, { name: `qt-operate-${RUN}`, role: 'operate', createdBy: 'test' })).token;
  });

  afterAll(async () => {
    setDeps(undefined);
    setConfig(undefined);
    await h?.database?.admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]).catch(() => undefined);
    await Promise.allSettled(sessions.map((s) => s.end()));
    const root = new pg.Client({ connectionString: PG_ADMIN_URL });
    await root.connect();
    await root.query(`REVOKE CONNECT ON DATABASE "${h.database!.name}" FROM ${role}`).catch(() => undefined);
    await root.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await root.end();
    await Promise.allSettled([h.close(), r.close(), sink.close()]);
  });

  it.each([
    ['read', () => readToken],
    ['admin', () => ADMIN_TOKEN],
  ])('%s token, JSON and text → the planted literal and password are absent, the statements shown normalised', async (_role, token) => {
    const json = await get('', token());
    expect(json.status).toBe(200);
    const body = await json.text();
    const text = await (await get('&format=text', token())).text();
    for (const out of [body, text]) {
      expect(out).not.toContain(LITERAL);
      expect(out).not.toContain(CANARY);
    }
    const checks = JSON.parse(body).checks as Array<{ id: string; details?: Array<{ application: string; query: string }> }>;
    const row = (id: string, app: string) => checks.find((c) => c.id === id)?.details?.find((d) => d.application === app);
    expect(row('postgres.long-running', 'qt-sleeper')?.query).toBe('SELECT pg_sleep($1), $2');
    expect(row('postgres.idle-in-transaction', 'qt-idler')?.query).toBe(withheld('ALTER ROLE'));
  });

  it('a playbook over the same checks → no literal or password either', async () => {
    const res = await GET(new Request('http://localhost/api/diagnostics?playbook=database-connections&format=text', { headers: { authorization: `Bearer ${readToken}` } }));
    expect(res.status).toBe(200);
    const out = await res.text();
    expect(out).toContain('postgres.long-running');
    expect(out).not.toContain(LITERAL);
    expect(out).not.toContain(CANARY);
  });

  it.each([
    ['read', () => readToken],
    ['operate', () => operateToken],
  ])('?queryText=raw with a %s token → 403, nothing audited, nothing shown', async (_role, token) => {
    const before = (await rawAudits()).length;
    const res = await get('&queryText=raw', token());
    expect(res.status).toBe(403);
    const body = await res.text();
    expect(JSON.parse(body).error.code).toBe('FORBIDDEN');
    expect(body).not.toContain(CANARY);
    expect((await rawAudits()).length).toBe(before);
  });

  it('?queryText=raw with the admin token → the raw text, and an audit row naming the admin', async () => {
    const before = (await rawAudits()).length;
    const res = await get('&queryText=raw');
    expect(res.status).toBe(200);
    const body = await res.text();
    expect(body).toContain(LITERAL);
    expect(body).toContain(CANARY);
    const rows = await rawAudits();
    expect(rows.length).toBe(before + 1);
    expect(rows.at(-1)).toEqual({ actor: 'bootstrap', role: 'admin' });
  });

  it('a checklist run over the activity checks → its stored report, its email, every stored row, the logs and Sentry hold neither', async () => {
    const now = new Date();
    now.setUTCHours(9, 5, 0, 0);
    const result = await runChecklist(deps, parseConfig(config), CHECKLIST, now, { mode: 'manual', send: true });
    expect(result.status).toBe('completed');
    const report = await latestReport(h.db, CHECKLIST);
    const emails = sink.emails.filter((e) => e.subject?.includes('QueryTextTest') || JSON.stringify(e).includes(CHECKLIST));
    expect(emails.length).toBeGreaterThan(0);
    // Every row Opsbook stored, whatever the table (reports, run items, alert state, snapshots).
    const { rows: tables } = await h.db.query<{ t: string }>(`SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'opsbook'`);
    const stored: string[] = [];
    for (const { t } of tables) {
      if (t === 'audit_log') continue; // holds the admin's raw request: its parameters, not the text
      const { rows } = await h.db.query<{ row: string }>(`SELECT r::text AS row FROM opsbook."${t}" r`);
      stored.push(...rows.map((x) => x.row));
    }
    const { rows: audits } = await h.db.query<{ row: string }>('SELECT a::text AS row FROM opsbook.audit_log a');
    for (const out of [report.html, report.text, JSON.stringify(emails), stored.join('\n'), audits.map((a) => a.row).join('\n'), logs.join('\n'), JSON.stringify(errors.calls)]) {
      expect(out).not.toContain(LITERAL);
      expect(out).not.toContain(CANARY);
    }
    expect(report.text).toContain('pg_sleep($1)');
  });
});
