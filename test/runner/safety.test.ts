// What `npm start` refuses and survives, as a separate process talking HTTP: an invalid config never
// serves, a stale vercel.json is loud, the first run prints how to drive it, the PGlite folder has one
// writer, and a database that is down at start is waited for instead of fatal.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startProxy, type FaultProxy } from '../support/faults.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { printedUrl, spawnOpsbook, stopProcess, STARTUP_TIMEOUT_MS, type RunningProcess } from '../support/runner-process.js';

const configs = mkdtempSync(join(tmpdir(), 'opsbook-configs-'));
function configFile(name: string, body: unknown): string {
  const path = join(configs, `${name}.ts`);
  writeFileSync(path, `export default ${JSON.stringify(body)};\n`);
  return path;
}
const started: RunningProcess[] = [];
async function runner(args: string[] = [], env: Record<string, string> = {}, shared?: { tmp: string; dataDir: string }): Promise<RunningProcess> {
  const r = await spawnOpsbook('bin/start.js', args, env, shared);
  started.push(r);
  return r;
}
afterAll(async () => {
  await Promise.all(started.map((r) => stopProcess(r)));
  rmSync(configs, { recursive: true, force: true });
}, 60_000);

const daily = (items: unknown[], at = '09:00') => ({ id: 'daily', title: 'Morning', schedule: { type: 'daily', at }, items });

describe('npm start with a config check-config rejects', () => {
  it.each([
    [
      'schema problems',
      { checklists: [daily([{ check: 'postgres' }], '25:00')], heartbeats: [{ name: 'backup', periodSeconds: -1 }] },
      ['checklists.0.schedule.at: must be HH:MM', 'heartbeats.0.periodSeconds:'],
    ],
    [
      'items naming checks that do not exist',
      { checklists: [daily([{ check: 'no-such-check' }, { check: 'postgres.nothing' }])] },
      ['checklists.0.items.0.check: no check or family "no-such-check"', 'checklists.0.items.1.check: no check or family "postgres.nothing"'],
    ],
  ])('%s → exits 1 naming every problem by its path, before opening the database or listening', async (name, body, problems) => {
    const r = await runner(['--config', configFile(name.replace(/\W+/g, '-'), body)]);
    const { code } = await r.exited;
    expect(code).toBe(1);
    for (const p of problems) expect(r.output()).toContain(p);
    expect(r.output()).not.toMatch(/Opsbook is running|Opening the database/);
    expect(existsSync(join(r.dataDir, 'pglite'))).toBe(false);
    await expect(fetch(`http://127.0.0.1:${r.port}/api/health`)).rejects.toThrow();
  }, STARTUP_TIMEOUT_MS);

  it('OPSBOOK_CONFIG instead of --config → that file is the one checked (and refused), as the CLI does', async () => {
    const r = await runner([], { OPSBOOK_CONFIG: configFile('from-env', { checklists: [daily([{ check: 'postgres' }], '25:00')] }) });
    const { code } = await r.exited;
    expect(code).toBe(1);
    expect(r.output()).toContain('checklists.0.schedule.at: must be HH:MM');
  }, STARTUP_TIMEOUT_MS);

  it('app mappings that do not fit the database (a missing table, a missing column) → exits 1 naming each, after migrating, before listening', async () => {
    const db = await createTestDatabase();
    try {
      await db.admin.query('CREATE TABLE public.api_keys (id uuid PRIMARY KEY, user_id int NOT NULL, revoked_at timestamptz)');
      const body = {
        app: {
          users: { schema: 'public', table: 'accounts', columns: { id: 'id', email: 'email' } },
          apiKeys: { schema: 'public', table: 'api_keys', columns: { id: 'id', userId: 'owner_id', revokedAt: 'revoked_at' } },
        },
      };
      const r = await runner(['--config', configFile('bad-mappings', body)], { DATABASE_URL: db.url });
      await checkRefused(r);
    } finally {
      await db.drop();
    }
  }, STARTUP_TIMEOUT_MS);

  async function checkRefused(r: RunningProcess) {
    const { code } = await r.exited;
    expect(code, r.output()).toBe(1);
    expect(r.output()).toContain('the app table mappings do not fit the database');
    expect(r.output()).toContain('app.users: table public.accounts does not exist.');
    expect(r.output()).toContain('app.apiKeys.columns.userId = "owner_id"');
    expect(r.output()).not.toMatch(/Opsbook is running|Listening on/);
    await expect(fetch(`http://127.0.0.1:${r.port}/api/health`)).rejects.toThrow();
  }

  it('an unknown flag → exits 2 and starts nothing', async () => {
    const r = await runner(['--confg', 'x.ts']);
    expect((await r.exited).code).toBe(2);
    expect(r.output()).toContain('--confg');
    expect(r.output()).not.toContain('Checking the config');
  }, STARTUP_TIMEOUT_MS);
});

describe('npm start on embedded defaults', () => {
  let r: RunningProcess;
  let token: string;

  it('prints its progress, then a generated admin token and curl lines that work as printed', async () => {
    // A config whose daily schedule is not vercel.json's: the runner warns, loudly, and still serves.
    r = await runner(['--config', configFile('drift', { checklists: [daily([{ manual: 'Look at the dashboards' }], '07:00')] })]);
    await r.waitForOutput(/npx opsbook admin --url/);
    const out = r.output();
    const order = ['Checking the config', "WARNING: vercel.json's crons differ", 'Opening the database', 'Migrating', 'Listening', 'Opsbook is running', 'Admin token for this run'];
    const at = order.map((s) => out.indexOf(s));
    expect(at.every((i) => i >= 0), out).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    expect(out).toContain('checklist "daily": config schedules "0 7 * * *" (daily at 07:00 UTC), but vercel.json has "0 9 * * *"');
    // It schedules what the config says, not the stale vercel.json.
    const scheduled = out.slice(out.indexOf('Crons (UTC):')).split('\n').slice(1).filter((l) => /^\s+\/api\/cron\//.test(l));
    expect(scheduled.map((l) => l.trim().replace(/ {2}next .*/, ''))).toEqual(['/api/cron/daily  "0 7 * * *"']);

    token = out.match(/Admin token for this run[^\n]*\n\s+(\S+)/)![1]!;
    const url = printedUrl(r);
    for (const path of ['/api/health', '/api/diagnostics']) {
      const line = out.split('\n').find((l) => l.includes(`curl -s -H "Authorization: Bearer ${token}" ${url}${path}`));
      expect(line, `a curl line for ${path}`).toBeDefined();
    }
    const health = await (await fetch(`${url}/api/health`, { headers: { authorization: `Bearer ${token}` } })).json();
    expect(health.details.database).toMatchObject({ status: 'healthy', driver: 'pglite' });
    const diagnostics = await fetch(`${url}/api/diagnostics`, { headers: { authorization: `Bearer ${token}` } });
    expect(diagnostics.status).toBe(200);
    const cronLine = out.split('\n').find((l) => l.includes(`${url}/api/cron/daily`))!;
    const secret = cronLine.match(/Bearer (\S+)"/)![1]!;
    expect((await fetch(`${url}/api/cron/daily`, { headers: { authorization: `Bearer ${secret}` } })).status).toBe(200);
  }, STARTUP_TIMEOUT_MS + 30_000);

  it('the CLI on the same PGlite folder → refused, naming the runner and its API, and it changes nothing', async () => {
    const cli = await spawnOpsbook('bin/opsbook.js', ['token', 'create', '--name', 'from-cli', '--role', 'read'], {}, { tmp: r.tmp, dataDir: r.dataDir });
    const { code } = await cli.exited;
    expect(code).not.toBe(0);
    expect(cli.output()).toMatch(/The Opsbook runner \(pid \d+\) holds \S*pglite: PGlite has one writer/);
    expect(cli.output()).toContain(printedUrl(r));
    expect(cli.output()).toContain('DATABASE_URL');
    expect(cli.output()).not.toContain('ops_');
    // The runner still serves from its folder.
    expect((await fetch(`${printedUrl(r)}/api/health`)).status).toBe(200);

    // Stopped, the runner leaves no lock: the CLI opens the folder and finds no token made by the refused call.
    await stopProcess(r, { keepTmp: true });
    expect(existsSync(join(r.dataDir, 'pglite.lock'))).toBe(false);
    const list = await spawnOpsbook('bin/opsbook.js', ['token', 'list', '--json'], {}, { tmp: r.tmp, dataDir: r.dataDir });
    expect((await list.exited).code, list.output()).toBe(0);
    expect(JSON.parse(list.output().slice(list.output().indexOf('[')))).toEqual([]);
  }, STARTUP_TIMEOUT_MS + 30_000);

  it('a lock left by a killed runner (dead pid) → the next runner takes it over and serves', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'opsbook-stale-'));
    const dataDir = join(tmp, 'data');
    const first = await runner([], {}, { tmp, dataDir });
    await first.waitForOutput(/Opsbook is running/);
    const lock = JSON.parse(readFileSync(join(dataDir, 'pglite.lock'), 'utf8'));
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exited;
    expect(existsSync(join(dataDir, 'pglite.lock'))).toBe(true);
    const second = await runner([], {}, { tmp, dataDir });
    await second.waitForOutput(/Opsbook is running/);
    expect(JSON.parse(readFileSync(join(dataDir, 'pglite.lock'), 'utf8')).pid).not.toBe(lock.pid);
    expect((await fetch(`${printedUrl(second)}/api/health`)).status).toBe(200);
  }, 2 * STARTUP_TIMEOUT_MS);
});

describe('npm start while its database is down', () => {
  let db: TestDatabase;
  let proxy: FaultProxy;
  afterAll(async () => {
    await proxy?.close();
    await db?.drop();
  });

  it('starts, answers 503 on health, cron and admin, then recovers by itself when the database is back', async () => {
    db = await createTestDatabase();
    proxy = await startProxy(Number(new URL(db.url).port || 5432));
    await proxy.setMode('refuse');
    const SECRET = 'cron-secret-for-the-outage-test-0123';
    const ADMIN = 'admin-token-for-the-outage-test-0123';
    const url = new URL(db.url);
    url.port = String(proxy.port);
    const r = await runner([], { DATABASE_URL: url.toString(), CRON_SECRET: SECRET, OPSBOOK_ADMIN_TOKEN: ADMIN, OPSBOOK_DEPENDENCY_TIMEOUT_MS: '2000' });
    await r.waitForOutput(/Crons \(UTC\)/);
    expect(r.output()).toMatch(/Database unavailable \(.*ECONNREFUSED/);
    expect(r.output()).not.toContain(ADMIN);
    const base = printedUrl(r);
    const calls = {
      health: () => fetch(`${base}/api/health`),
      cron: () => fetch(`${base}/api/cron/daily`, { headers: { authorization: `Bearer ${SECRET}` } }),
      admin: () =>
        fetch(`${base}/api/admin/tokens`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'made-after-outage', role: 'read' }) }),
    };
    const health = await calls.health();
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: 'unhealthy', checks: { database: 'unhealthy' } });
    for (const call of [calls.cron, calls.admin]) {
      const res = await call();
      expect(res.status).toBe(503);
      expect((await res.json()).error.code).toBe('DEPENDENCY_UNAVAILABLE');
    }

    await proxy.setMode('pass');
    expect((await calls.health()).status).toBe(200);
    expect((await calls.cron()).status).toBe(200);
    const created = await calls.admin();
    expect(created.status).toBe(200);
    // The schema was migrated by the first request that found the database up.
    const { rows } = await db.admin.query(`SELECT name FROM opsbook.tokens`);
    expect(rows).toEqual([{ name: 'made-after-outage' }]);
  }, STARTUP_TIMEOUT_MS + 30_000);
});
