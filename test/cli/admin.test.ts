// `opsbook token …` (straight to the database) and `opsbook admin …` (over HTTP) against a real local
// server: the runner started in-process on a free port, over this file's own Postgres database and the
// real Redis, as `npm start` would run it with DATABASE_URL and REDIS_URL set.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ACTIONS } from '../../lib/admin/registry.js';
import { adminCommand, type AdminIo } from '../../lib/cli/admin.js';
import { main } from '../../lib/cli/main.js';
import { parseConfig, setConfig } from '../../lib/config/index.js';
import { envSchema, resetEnvCache } from '../../lib/env.js';
import { startRunner, type Runner } from '../../lib/runner/runner.js';
import { createTcpRedis } from '../../lib/redis/tcp.js';
import { closedPort } from '../support/faults.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { redisUrlFor } from '../support/services.js';

/** This file's own Redis database: its rate-limit windows for 127.0.0.1 are its own (see redisUrlFor). */
const REDIS_URL = redisUrlFor(12);

const ROOT = resolve(import.meta.dirname, '..', '..');
const CONFIG = {
  app: {
    users: { table: 'users', columns: { id: 'id', email: 'email', locked: 'locked' } },
    apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'user_id', revokedAt: 'revoked_at' } },
  },
};
const OWN_VARS = ['OPSBOOK_TOKEN', 'OPSBOOK_URL'];
const uniqueName = (base: string) => `${base}-${randomBytes(4).toString('hex')}`;

let db: TestDatabase;
let runner: Runner;
let dataDir: string;
const saved: Record<string, string | undefined> = {};
/** A stored admin token, made with `opsbook token create` in beforeAll. */
let adminToken: string;

/** Run the CLI in-process; output captured line by line. */
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, (l) => out.push(l), (l) => err.push(l));
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** `opsbook admin …` with a terminal stand-in: what the person types, whether there is a terminal. */
async function admin(argv: string[], opts: { token?: string; answer?: string; interactive?: boolean; url?: string } = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const prompts: string[] = [];
  const io: AdminIo = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    prompt: (t) => prompts.push(t),
    input: Readable.from(opts.answer === undefined ? [] : [opts.answer]),
    interactive: opts.interactive ?? true,
    env: { OPSBOOK_TOKEN: opts.token ?? adminToken, OPSBOOK_URL: opts.url ?? runnerUrl() },
  };
  const code = await adminCommand(argv, io);
  return { code, out: out.join('\n'), err: err.join('\n'), prompts };
}

/** The runner listens on 127.0.0.1; the address is spelled out so every request comes from one known client address. */
const runnerUrl = () => `http://127.0.0.1:${runner.port}`;
const q = async (sql: string, params: unknown[] = []) => (await db.admin.query(sql, params)).rows;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.admin.query(`CREATE TABLE users (id int PRIMARY KEY, email text, locked boolean NOT NULL DEFAULT false, password_hash text);
    CREATE TABLE api_keys (id int PRIMARY KEY, user_id int NOT NULL, revoked_at timestamptz, key_hash text)`);
  dataDir = mkdtempSync(join(tmpdir(), 'opsbook-cli-admin-'));
  for (const k of [...Object.keys(envSchema.shape), ...OWN_VARS]) {
    saved[k] = process.env[k];
    delete process.env[k];
  }
  Object.assign(process.env, {
    DATABASE_URL: db.url,
    REDIS_URL,
    OPSBOOK_ADMIN_TOKEN: `bootstrap-${randomBytes(16).toString('hex')}`,
    OPSBOOK_DATA_DIR: dataDir,
  });
  resetEnvCache();
  // Every request reaches the server from 127.0.0.1: start this file's run with that address's
  // windows empty, so earlier runs on this machine do not count against it.
  const redis = createTcpRedis(REDIS_URL, { callTimeoutMs: 5000 });
  try {
    const [, keys] = (await redis.command(['SCAN', 0, 'MATCH', 'opsbook:rl:*:127.0.0.1*', 'COUNT', 10_000])) as [string, string[]];
    if (keys.length) await redis.command(['DEL', ...keys]);
  } finally {
    await redis.close();
  }
  runner = await startRunner({ root: ROOT, port: 0, crons: false, log: () => undefined });
  setConfig(parseConfig(CONFIG));

  const made = await cli('token', 'create', '--name', uniqueName('cli-admin'), '--role', 'admin');
  expect(made.code).toBe(0);
  adminToken = made.out.match(/ops_[A-Za-z0-9_-]{40,}/)![0];
});

afterAll(async () => {
  await runner?.close();
  setConfig(undefined);
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  resetEnvCache();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

beforeEach(async () => {
  await q(`TRUNCATE users, api_keys;
    INSERT INTO users VALUES (1, 'a@example.com', false, 'hash-SECRET-1'), (2, 'b@example.com', false, 'hash-SECRET-2');
    INSERT INTO api_keys VALUES (1, 1, NULL, 'kh-1'), (2, 1, NULL, 'kh-2'), (3, 2, NULL, 'kh-3')`);
});

describe('opsbook token', () => {
  it('create prints the token once, with a warning to store it; only its SHA-256 and prefix are stored, audited as the CLI user', async () => {
    const name = uniqueName('deploy');
    const { code, out } = await cli('token', 'create', '--name', name, '--role', 'operate');
    expect(code).toBe(0);
    const token = out.match(/ops_[A-Za-z0-9_-]{40,}/)![0];
    expect(out.split(token)).toHaveLength(2);
    expect(out).toMatch(/shown once/);
    const [row] = await q(`SELECT role, hash, prefix, created_by FROM opsbook.tokens WHERE name = $1`, [name]);
    expect(row).toEqual({ role: 'operate', hash: createHash('sha256').update(token).digest('hex'), prefix: token.slice(0, 10), created_by: expect.stringMatching(/^cli:/) });
    const [audit] = await q(`SELECT actor, action, params FROM opsbook.audit_log WHERE target = $1`, [`token:${name}`]);
    expect(audit).toMatchObject({ actor: expect.stringMatching(/^cli:/), action: 'tokens.create', params: { name, role: 'operate', prefix: token.slice(0, 10) } });
    expect(JSON.stringify(audit)).not.toContain(token.slice(10));
  });

  it('list shows names, roles and prefixes, never a token', async () => {
    const name = uniqueName('listed');
    const token = (await cli('token', 'create', '--name', name, '--role', 'read')).out.match(/ops_[A-Za-z0-9_-]{40,}/)![0];
    const { code, out } = await cli('token', 'list');
    expect(code).toBe(0);
    expect(out).toMatch(new RegExp(`${name}\\s+read\\s+${token.slice(0, 10).replace(/[-_]/g, '\\$&')}…`));
    expect(out).not.toContain(token.slice(10));
    const json = JSON.parse((await cli('token', 'list', '--json')).out) as Array<Record<string, unknown>>;
    expect(json.find((t) => t.name === name)).toMatchObject({ role: 'read', prefix: token.slice(0, 10), revokedAt: null });
  });

  it('revoke --name: the server refuses the token from the next request on', async () => {
    const name = uniqueName('reader');
    const token = (await cli('token', 'create', '--name', name, '--role', 'read')).out.match(/ops_[A-Za-z0-9_-]{40,}/)![0];
    expect((await admin(['audit.query', '--limit', '1'], { token })).code).toBe(0);
    const revoked = await cli('token', 'revoke', '--name', name);
    expect(revoked.code).toBe(0);
    expect(revoked.out).toMatch(/revoked/);
    const after = await admin(['audit.query', '--limit', '1'], { token });
    expect(after.code).toBe(1);
    expect(after.err).toMatch(/401 UNAUTHORIZED/);
    expect((await cli('token', 'revoke', '--name', uniqueName('nobody'))).code).toBe(1);
  });

  it.each([
    ['an unknown role', ['create', '--name', 'x-role', '--role', 'root']],
    ['no name', ['create', '--role', 'read']],
    ['a reserved name', ['create', '--name', 'bootstrap', '--role', 'read']],
    ['revoke without name or id', ['revoke']],
  ])('%s → exit 1 with the problem named, nothing stored', async (_what, argv) => {
    const before = (await q(`SELECT count(*)::int AS n FROM opsbook.tokens`))[0].n;
    const { code, err } = await cli('token', ...argv);
    expect(code).toBe(1);
    expect(err).not.toBe('');
    expect((await q(`SELECT count(*)::int AS n FROM opsbook.tokens`))[0].n).toBe(before);
  });

  it('an unknown subcommand → exit 2 with the usage', async () => {
    const { code, err } = await cli('token', 'rotate');
    expect(code).toBe(2);
    expect(err).toMatch(/opsbook token create/);
  });
});

describe('opsbook admin', () => {
  it('without an action lists every action of the registry', async () => {
    const { code, out } = await cli('admin');
    expect(code).toBe(0);
    for (const def of ACTIONS) expect(out).toContain(def.id);
  });

  it('a change: dry run shown, the question answered "y" → it runs, and says what it did', async () => {
    const { code, out, prompts } = await admin(['users.lock', '--userId', '1', '--locked', 'true', '--reason', 'cli test'], { answer: 'y\n' });
    expect(code).toBe(0);
    expect(out).toMatch(/^Dry run: Would lock user 1\./m);
    expect(out).toMatch(/count: 1/);
    expect(prompts).toEqual([expect.stringMatching(/^Run users\.lock for real \(1 affected\)\? \[y\/N\] $/)]);
    expect(out).toMatch(/^User 1 locked\./m);
    expect(out).toMatch(/audit: #\d+/);
    expect(out).not.toContain('hash-SECRET');
    expect((await q(`SELECT locked FROM users WHERE id = 1`))[0].locked).toBe(true);
    const [audit] = await q(`SELECT actor, params FROM opsbook.audit_log WHERE action = 'users.lock' ORDER BY id DESC LIMIT 1`);
    expect(audit).toMatchObject({ actor: expect.stringMatching(/^cli-admin-/), params: { userId: '1', locked: true, reason: 'cli test' } });
  });

  it.each([
    ['"n"', 'n\n'],
    ['an empty line', '\n'],
    ['end of input', undefined],
  ])('answering %s cancels: exit 1, nothing changed', async (_what, answer) => {
    const { code, err } = await admin(['users.lock', '--userId', '1', '--locked', 'true'], { answer });
    expect(code).toBe(1);
    expect(err).toMatch(/Cancelled/);
    expect((await q(`SELECT locked FROM users WHERE id = 1`))[0].locked).toBe(false);
  });

  it('no terminal and no --yes → refuses after the dry run, nothing changed', async () => {
    const { code, out, err, prompts } = await admin(['users.lock', '--user-id', '1', '--locked', 'true'], { interactive: false });
    expect(code).toBe(1);
    expect(out).toMatch(/Dry run: Would lock user 1/);
    expect(err).toMatch(/--yes/);
    expect(prompts).toEqual([]);
    expect((await q(`SELECT locked FROM users WHERE id = 1`))[0].locked).toBe(false);
  });

  it('--yes runs without asking (through main, as npx opsbook admin … --yes)', async () => {
    process.env.OPSBOOK_TOKEN = adminToken;
    process.env.OPSBOOK_URL = runnerUrl();
    try {
      const { code, out } = await cli('admin', 'users.lock', '--userId', '2', '--locked', 'true', '--yes');
      expect(code).toBe(0);
      expect(out).toMatch(/User 2 locked/);
    } finally {
      delete process.env.OPSBOOK_TOKEN;
      delete process.env.OPSBOOK_URL;
    }
    expect((await q(`SELECT locked FROM users WHERE id = 2`))[0].locked).toBe(true);
  });

  it('a bulk action: the confirm token of the dry run is sent back, so it runs', async () => {
    const { code, out } = await admin(['api-keys.revoke', '--userId', '1'], { answer: 'yes\n' });
    expect(code).toBe(0);
    expect(out).toMatch(/Dry run: Would revoke 2 API key/);
    expect((await q(`SELECT id FROM api_keys WHERE revoked_at IS NOT NULL ORDER BY id`)).map((r) => r.id)).toEqual([1, 2]);
    expect(out).not.toContain('kh-');
  });

  it('--dry-run only shows what would change', async () => {
    const { code, out, prompts } = await admin(['users.lock', '--userId', '1', '--locked', 'true', '--dry-run']);
    expect(code).toBe(0);
    expect(out).toMatch(/Dry run: Would lock user 1/);
    expect(prompts).toEqual([]);
    expect((await q(`SELECT locked FROM users WHERE id = 1`))[0].locked).toBe(false);
  });

  it('nothing to change → says so and does not run it', async () => {
    await q(`UPDATE users SET locked = true WHERE id = 1`);
    const { code, out, prompts } = await admin(['users.lock', '--userId', '1', '--locked', 'true']);
    expect(code).toBe(0);
    expect(out).toMatch(/Nothing would change/);
    expect(prompts).toEqual([]);
  });

  it('a read action prints its rows: the audit log, newest first', async () => {
    await admin(['users.lock', '--userId', '1', '--locked', 'true', '--yes']);
    await admin(['users.lock', '--userId', '2', '--locked', 'true', '--yes']);
    const { code, out } = await admin(['audit.query', '--action', 'users.lock', '--limit', '2']);
    expect(code).toBe(0);
    expect(out).toMatch(/^2 audit rows/m);
    const rows = out.split('\n').filter((l) => / users\.lock /.test(l));
    expect(rows).toEqual([expect.stringMatching(/users\.lock {2}user:2 {2}ok/), expect.stringMatching(/users\.lock {2}user:1 {2}ok/)]);
  });

  it('--json prints the server\'s answers as they are', async () => {
    const { code, out } = await admin(['audit.query', '--limit', '2', '--json']);
    expect(code).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ action: 'audit.query', status: 'ok' });
  });

  it.each([
    ['an unknown action', ['users.explode'], 2, /Unknown admin action/],
    ['an unknown parameter', ['users.lock', '--userId', '1', '--locked', 'true', '--colour', 'red'], 2, /--colour.*\n.*opsbook admin users\.lock --userId <string> --locked <boolean>/],
    ['input the server refuses', ['users.lock', '--userId', 'abc', '--locked', 'true'], 1, /Error 400 BAD_REQUEST/],
  ])('%s → exits non-zero with the reason', async (_what, argv, exit, message) => {
    const { code, err } = await admin(argv as string[], { answer: 'y\n' });
    expect(code).toBe(exit);
    expect(err).toMatch(message as RegExp);
    expect((await q(`SELECT count(*)::int AS n FROM users WHERE locked`))[0].n).toBe(0);
  });

  it('a token whose role is too weak → exit 1, explained', async () => {
    const token = (await cli('token', 'create', '--name', uniqueName('weak'), '--role', 'read')).out.match(/ops_[A-Za-z0-9_-]{40,}/)![0];
    const { code, err } = await admin(['users.lock', '--userId', '1', '--locked', 'true'], { token, answer: 'y\n' });
    expect(code).toBe(1);
    expect(err).toMatch(/403 FORBIDDEN[\s\S]*too weak/);
  });

  it('no token in the environment → exit 2, naming the variables', async () => {
    const { code, err } = await admin(['audit.query'], { token: '' });
    expect(code).toBe(2);
    expect(err).toMatch(/OPSBOOK_TOKEN/);
  });

  it('nothing listening at the URL → exit 1 with a clear message', async () => {
    const { code, err } = await admin(['audit.query'], { url: `http://127.0.0.1:${await closedPort()}` });
    expect(code).toBe(1);
    expect(err).toMatch(/Could not reach .*ECONNREFUSED/);
  });
});
