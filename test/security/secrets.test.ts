// Issue 6, the secrets requirement: every secret the environment carries is set to a recognisable value
// (SECRETCANARY…), Opsbook runs as `npm start` runs it (the local runner, in this process, with that
// environment), every route is called (anonymous, wrong token, valid token, bad input), a checklist runs
// through the cron route and its report goes out, and then everything Opsbook produced is read back:
// response bodies and headers, log lines, stdout/stderr/console, what the Sentry and Resend sinks received,
// the outbox folder, every row of the test database, the SQL text Postgres saw, and the Redis keys and
// values. None may hold a canary, as is, URL-encoded or base64-encoded.
//
// The secrets are real, not decoration: the Upstash peer, the Sentry sink and the Resend sink accept only
// their canary credential, and Redis receives `AUTH default <canary>` (its default user has no password,
// so AUTH with a username succeeds). Postgres trusts 127.0.0.1, so the canary password travels in the
// connection URL (and, for Neon, in the Neon-Connection-String header) without being checked.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ACTIONS } from '../../lib/admin/registry.js';
import { parseConfig, setConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { envSchema, resetEnvCache, SECRET_VARIABLES } from '../../lib/env.js';
import { PLAYBOOKS } from '../../lib/diagnostics/playbooks.js';
import { startRunner, type Runner } from '../../lib/runner/runner.js';
import { discoverRoutes, matchRoute } from '../../lib/runner/routes.js';
import { startNeonPeer, type NeonPeer } from '../peers/neon-http.js';
import { startResendSink, type ResendSink } from '../peers/resend-sink.js';
import { startSentrySink, type SentrySink } from '../peers/sentry-sink.js';
import { startUpstashPeer, type UpstashPeer } from '../peers/upstash-rest.js';
import { createTestDatabase, type TestDatabase } from '../support/pg.js';
import { PG_ADMIN_URL, pgUrlFor, REDIS_URL } from '../support/services.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const ROUTES = discoverRoutes(join(ROOT, 'api'));
/** Every route file and each method it exports, as Vercel would serve them. */
const ROUTE_METHODS: Array<readonly [string, string]> = (
  await Promise.all(
    ROUTES.map(async (r) => {
      const mod = (await import(pathToFileURL(r.file).href)) as Record<string, unknown>;
      return ['GET', 'HEAD', 'POST'].filter((m) => typeof mod[m] === 'function').map((m) => [r.pattern, m] as const);
    }),
  )
).flat();
/** Unique per run, so nothing a previous run left behind can be mistaken for this run's leak (or hide one). */
const RUN = randomBytes(4).toString('hex');
const MARK = 'SECRETCANARY';
/** A Redis database of this file's own: cache.flush and the key scan at the end touch nobody else's keys. */
const REDIS_DB = 5;
const redisBase = new URL(REDIS_URL);
const QUEUE_PREFIX = `opsbook-secrets-${RUN}`;
const QUEUE = 'mailer';
/** A variable the config names for an HTTP check's header: a secret outside SECRET_VARIABLES. */
const HEADER_VAR = 'CANARY_STATUSPAGE_TOKEN';
const OWN_VARS = [HEADER_VAR, 'OPSBOOK_TOKEN', 'OPSBOOK_URL', 'PORT'];

// ---------------------------------------------------------------------------------------------------
// The canaries and the detector

/** One secret: the variable, the secret part itself, and the whole value the variable holds. */
interface Canary {
  variable: string;
  secret: string;
  value: string;
}

/** The secret parts, fixed per run; the URLs around them are built once the peers have ports. */
const SECRET = {
  DATABASE_URL: `${MARK}-db-pass/${RUN}`,
  UPSTASH_REDIS_REST_TOKEN: `${MARK}_upstash_token_${RUN}`,
  KV_REST_API_TOKEN: `${MARK}_kv_token_${RUN}`,
  REDIS_URL: `${MARK}_redis_pass_${RUN}`,
  RESEND_API_KEY: `re_${MARK}_resend_${RUN}`,
  // A DSN public key is \w+ (Sentry's DSN grammar).
  SENTRY_DSN: `${MARK}_sentry_${RUN}`,
  CRON_SECRET: `${MARK}-cron-${RUN}`,
  OPSBOOK_ADMIN_TOKEN: `${MARK}-admin-${RUN}`,
  OPSBOOK_CONFIRM_SECRET: `${MARK}-confirm-${RUN}`,
  [HEADER_VAR]: `${MARK}-statuspage-${RUN}`,
} as const;

/**
 * Base64 of `value` wherever it sits in the encoded text: for each of the three byte alignments, the
 * characters that depend only on the value's bytes (standard and URL-safe alphabets).
 */
function base64Cores(value: string): string[] {
  const bytes = Buffer.from(value, 'utf8');
  const out = new Set<string>();
  for (let pad = 0; pad < 3; pad++) {
    const b64 = Buffer.concat([Buffer.alloc(pad), bytes]).toString('base64');
    const core = b64.slice(Math.ceil((pad * 8) / 6), Math.floor(((pad + bytes.length) * 8) / 6));
    out.add(core);
    out.add(core.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  return [...out].filter((c) => c.length >= 12);
}

/** Every form of a canary to look for: as is, URL-encoded, base64. Text forms are matched case-insensitively. */
function formsOf(c: Canary): { text: string[]; base64: string[] } {
  const text = new Set<string>([c.secret, c.value, encodeURIComponent(c.secret), encodeURIComponent(c.value)]);
  return { text: [...text], base64: [...new Set([...base64Cores(c.secret), ...base64Cores(c.value)])] };
}

interface Finding {
  where: string;
  variable: string;
  form: string;
  context: string;
}

/** Every canary (and the bare marker) in `text`, with where it was and the text around it. */
function findCanaries(where: string, text: string, canaries: Canary[]): Finding[] {
  const found: Finding[] = [];
  const lower = text.toLowerCase();
  const at = (i: number, len: number) => JSON.stringify(text.slice(Math.max(0, i - 80), i + len + 80));
  const look = (variable: string, form: string, encoding: 'text' | 'base64') => {
    const i = encoding === 'text' ? lower.indexOf(form.toLowerCase()) : text.indexOf(form);
    if (i >= 0) found.push({ where, variable, form: encoding === 'text' ? form : `base64 ${form}`, context: at(i, form.length) });
  };
  for (const c of canaries) {
    const { text: plain, base64 } = formsOf(c);
    for (const f of plain) look(c.variable, f, 'text');
    for (const f of base64) look(c.variable, f, 'base64');
  }
  // Any canary at all, even one mangled past recognition of its variable (truncated, re-quoted).
  if (found.length === 0) {
    look('(marker)', MARK, 'text');
    for (const f of base64Cores(MARK)) look('(marker)', f, 'base64');
  }
  return found;
}

// ---------------------------------------------------------------------------------------------------
// What Opsbook produced, as it is recorded

interface Exchange {
  label: string;
  method: string;
  path: string;
  kind: CallKind;
  status: number;
  headers: Record<string, string>;
  body: string;
}
/** How a route was called: the coverage test demands all four for every route and method. */
type CallKind = 'anonymous' | 'wrong token' | 'valid' | 'bad input';

/** Everything captured from the process while the runner runs. */
interface Captured {
  runnerLog: string[];
  stdout: string[];
  stderr: string[];
  console: string[];
}

function startCapture(): { captured: Captured; stop(): void } {
  const captured: Captured = { runnerLog: [], stdout: [], stderr: [], console: [] };
  const text = (chunk: unknown) => (typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('utf8') : String(chunk));
  const spies = [
    vi.spyOn(process.stdout, 'write').mockImplementation(((chunk: unknown) => (captured.stdout.push(text(chunk)), true)) as typeof process.stdout.write),
    vi.spyOn(process.stderr, 'write').mockImplementation(((chunk: unknown) => (captured.stderr.push(text(chunk)), true)) as typeof process.stderr.write),
    ...(['log', 'info', 'warn', 'error', 'debug', 'trace'] as const).map((m) =>
      vi.spyOn(console, m).mockImplementation((...args: unknown[]) => {
        captured.console.push(`${m}: ${args.map((a) => (a instanceof Error ? `${a.name}: ${a.message}\n${a.stack}` : typeof a === 'string' ? a : safeJson(a))).join(' ')}`);
      }),
    ),
  ];
  return { captured, stop: () => spies.forEach((s) => s.mockRestore()) };
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(full);
    }
  };
  walk(dir);
  return out;
}

// ---------------------------------------------------------------------------------------------------
// The deployments: each sets every secret it can, and each secret is in use in at least one

interface Deployment {
  name: string;
  db: 'pg' | 'neon';
  redis: 'upstash' | 'kv';
  email: 'resend' | 'outbox';
}

const DEPLOYMENTS: Deployment[] = [
  { name: 'node-postgres, Upstash REST (UPSTASH_REDIS_REST_*), BullMQ over REDIS_URL, Resend, Sentry', db: 'pg', redis: 'upstash', email: 'resend' },
  { name: 'Neon HTTP driver, Vercel KV (KV_REST_API_*), BullMQ over REDIS_URL, the outbox folder, Sentry', db: 'neon', redis: 'kv', email: 'outbox' },
];

const CONFIG = (echoUrl: string): OpsbookConfigInput => ({
  service: 'Canaryville',
  recipients: ['oncall@example.com'],
  app: {
    users: { table: 'users', columns: { id: 'id', email: 'email', locked: 'locked', status: 'status', suspendedAt: 'suspended_at', suspensionReason: 'suspension_reason', deletedAt: 'deleted_at' } },
    apiKeys: { table: 'api_keys', columns: { id: 'id', userId: 'user_id', revokedAt: 'revoked_at', createdAt: 'created_at' } },
  },
  // Every request reaches the runner from 127.0.0.1: the walk must not run into its own limits.
  admin: { rateLimit: { perTokenPerMinute: 100_000, perIpPerMinute: 100_000, failedAuthPer5Minutes: 100_000 } },
  heartbeats: [{ name: 'nightly-backup', periodSeconds: 3600 }],
  checks: {
    queues: { prefix: QUEUE_PREFIX },
    // A status endpoint that echoes the request back, token included, and a condition that fails on it:
    // the check's answer would quote the token if nothing redacted it.
    http: [{ id: 'statuspage', url: `${echoUrl}/status`, headers: { authorization: { env: HEADER_VAR } }, conditions: [{ path: 'headers.authorization', value: 'Bearer expected-something-else' }] }],
    requiredEnv: ['CANARY_NEVER_SET_VARIABLE'],
  },
  checklists: [
    {
      id: 'morning',
      title: 'Morning',
      schedule: { type: 'daily', at: '00:00' },
      notify: 'always',
      items: [
        { check: 'postgres' },
        { check: 'redis' },
        { check: 'queues' },
        { check: 'heartbeats' },
        { check: 'http' },
        { check: 'env' },
        { task: 'snapshot' },
        { task: 'analyze' },
        { manual: 'Read the alerts channel' },
      ],
    },
    // Its report meets a Resend outage (or none, with the outbox) and goes out with the next invocation.
    { id: 'evening', title: 'Evening', schedule: { type: 'daily', at: '00:00' }, notify: 'always', items: [{ check: 'env' }, { manual: 'Hand over' }] },
  ],
});

/** Bodies for each admin action's real run, in registry order; a function sees what earlier calls made. */
interface WalkState {
  victimPid: number;
  createdToken?: { name: string; token: string };
}
const ACTION_INPUT: Record<string, (s: WalkState) => Record<string, unknown>> = {
  'users.lock': () => ({ userId: 'u1', locked: true, reason: 'walk' }),
  'users.suspend': () => ({ userId: 'u2', reason: 'walk' }),
  'users.reinstate': () => ({ userId: 'u2' }),
  'users.delete': () => ({ userId: 'u3' }),
  'users.lookup': () => ({ email: 'a@example.com' }),
  'api-keys.revoke': () => ({ userId: '7' }),
  'tokens.create': () => ({ name: `walk-read-${RUN}`, role: 'read' }),
  'tokens.revoke': (s) => ({ name: s.createdToken!.name }),
  'audit.query': () => ({ actor: 'bootstrap' }),
  'queues.retry': () => ({ queue: QUEUE }),
  'queues.clean': () => ({ queue: QUEUE, state: 'completed' }),
  'queues.pause': () => ({ queue: QUEUE }),
  'queues.resume': () => ({ queue: QUEUE }),
  'cache.delete': () => ({ pattern: `canary-cache:${RUN}:*` }),
  // Deletes the cache keys and keeps the queue's (and Opsbook's) keys, which the walk goes on using.
  'cache.flush': () => ({}),
  'db.terminate': (s) => ({ pid: s.victimPid }),
  'db.maintenance': () => ({ op: 'analyze', table: 'users' }),
  'flags.set': () => ({ name: 'PLAID_ENABLED', enabled: false }),
  'flags.get': () => ({}),
  'maintenance.set': () => ({ enabled: true, message: 'Back soon', until: '2099-01-01T00:00:00Z' }),
  // A manual run of the walk's checklist: its report text is in the answer, so it is walked for secrets too.
  'checklists.run': () => ({ checklist: 'morning' }),
};

// ---------------------------------------------------------------------------------------------------

describe('the detector', () => {
  const c: Canary = { variable: 'X', secret: `${MARK}-p@ss/wörd-${RUN}`, value: `postgres://u:${encodeURIComponent(`${MARK}-p@ss/wörd-${RUN}`)}@h/db` };
  it.each([
    ['as is', (s: string) => `error: ${s}.`],
    ['upper-cased', (s: string) => s.toUpperCase()],
    ['URL-encoded', (s: string) => `?x=${encodeURIComponent(s)}&y`],
    ['JSON-quoted', (s: string) => JSON.stringify({ a: s })],
    ['in base64 (each alignment)', (s: string) => ['', 'x', 'xy'].map((p) => Buffer.from(`${p}${s}!`).toString('base64')).join(' ')],
    ['in base64url', (s: string) => Buffer.from(`ab${s}`).toString('base64url')],
    ['in Basic credentials', (s: string) => `Basic ${Buffer.from(`user:${s}`).toString('base64')}`],
  ])('finds a canary %s', (_how, encode) => {
    const text = encode(c.secret);
    for (const around of ['', 'x', 'xy']) expect(findCanaries('t', `${around}${text}${around}`, [c]).map((f) => f.variable)).toContain('X');
  });
  it('finds the bare marker of a canary it was not told about; finds nothing in clean text', () => {
    expect(findCanaries('t', `{"token":"${MARK}_other"}`, [c])).toMatchObject([{ variable: '(marker)' }]);
    expect(findCanaries('t', 'postgres://u:[redacted]@h/db [DATABASE_URL] secret canary', [c])).toEqual([]);
  });
});

describe('what the walk covers', () => {
  it('every variable lib/env.ts calls secret has a canary here (a new secret variable needs one)', () => {
    expect(Object.keys(SECRET).filter((k) => k !== HEADER_VAR).sort()).toEqual([...SECRET_VARIABLES].sort());
  });
  it('every admin action in lib/admin/registry.ts has an input here (a new action needs one)', () => {
    expect(Object.keys(ACTION_INPUT).sort()).toEqual(ACTIONS.map((a) => a.id).sort());
  });
});

describe.each(DEPLOYMENTS)('with every secret set to a canary: $name', (dep) => {
  let db: TestDatabase;
  let role: string;
  let victim: pg.Client;
  let upstash: UpstashPeer;
  let neon: NeonPeer | undefined;
  let sentry: SentrySink;
  let resend: ResendSink;
  let echo: Server;
  let raw: IORedis;
  let runner: Runner;
  let dataDir: string;
  let capture: ReturnType<typeof startCapture> | undefined;
  const canaries: Canary[] = [];
  const exchanges: Exchange[] = [];
  const saved: Record<string, string | undefined> = {};
  const state: WalkState = { victimPid: 0 };
  /** Stored tokens made by the walk, by role (the bootstrap canary is the admin). */
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    role = `opsbook_canary_${RUN}_${dep.db}`;
    [db, upstash, sentry, resend] = await Promise.all([
      createTestDatabase(),
      startUpstashPeer({ upstream: `redis://${redisBase.host}/${REDIS_DB}`, token: dep.redis === 'upstash' ? SECRET.UPSTASH_REDIS_REST_TOKEN : SECRET.KV_REST_API_TOKEN }),
      startSentrySink({ publicKey: SECRET.SENTRY_DSN }),
      startResendSink({ apiKeys: [SECRET.RESEND_API_KEY] }),
    ]);
    if (dep.db === 'neon') neon = await startNeonPeer({ upstream: PG_ADMIN_URL });
    echo = createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ status: 'ok', headers: req.headers }));
    });
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', () => r()));
    const echoUrl = `http://127.0.0.1:${(echo.address() as AddressInfo).port}`;

    // The database role Opsbook connects as, with the canary password; it owns the test database.
    const root = new pg.Client({ connectionString: PG_ADMIN_URL });
    await root.connect();
    try {
      await root.query(`CREATE ROLE ${role} LOGIN PASSWORD '${SECRET.DATABASE_URL.replace(/'/g, "''")}' IN ROLE pg_monitor, pg_signal_backend`);
      await root.query(`ALTER DATABASE "${db.name}" OWNER TO ${role}`);
    } finally {
      await root.end();
    }
    const databaseUrl = neon ? neon.connectionString(db.name, role, SECRET.DATABASE_URL) : pgUrlFor(db.name, role, SECRET.DATABASE_URL);
    const asRole = new pg.Client({ connectionString: pgUrlFor(db.name, role, SECRET.DATABASE_URL) });
    await asRole.connect();
    try {
      await asRole.query(`CREATE TABLE users (id text PRIMARY KEY, email text NOT NULL, locked boolean NOT NULL DEFAULT false, status text NOT NULL DEFAULT 'ACTIVE',
          suspended_at timestamptz, suspension_reason text, deleted_at timestamptz, password_hash text);
        CREATE TABLE api_keys (id text PRIMARY KEY, user_id text NOT NULL, revoked_at timestamptz, created_at timestamptz NOT NULL DEFAULT now(), key_hash text);
        INSERT INTO users (id, email, password_hash) VALUES ('u1', 'a@example.com', 'hash-1'), ('u2', 'b@example.com', 'hash-2'), ('u3', 'c@example.com', 'hash-3');
        INSERT INTO api_keys (id, user_id, key_hash) VALUES ('k1', '7', 'kh-1'), ('k2', '7', 'kh-2'), ('k3', '8', 'kh-3')`);
    } finally {
      await asRole.end();
    }
    // An idle session of the same role, for db.terminate to end.
    victim = new pg.Client({ connectionString: pgUrlFor(db.name, role, SECRET.DATABASE_URL), application_name: 'canary-victim' });
    victim.on('error', () => undefined);
    await victim.connect();
    state.victimPid = (await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

    // A BullMQ queue with failed and completed jobs, reached through REDIS_URL's password.
    const redisUrl = `redis://default:${encodeURIComponent(SECRET.REDIS_URL)}@${redisBase.host}/${REDIS_DB}`;
    raw = new IORedis(redisUrl, { maxRetriesPerRequest: 2 });
    raw.on('error', () => undefined);
    await seedQueue(redisUrl);
    await raw.set(`canary-cache:${RUN}:a`, 'cached page', 'EX', 600);

    const sentryDsn = sentry.dsn;
    const env: Record<string, string> = {
      DATABASE_URL: databaseUrl,
      ...(neon ? { NEON_FETCH_ENDPOINT: neon.fetchEndpoint } : {}),
      ...(dep.redis === 'upstash'
        ? { UPSTASH_REDIS_REST_URL: upstash.url, UPSTASH_REDIS_REST_TOKEN: SECRET.UPSTASH_REDIS_REST_TOKEN }
        : { KV_REST_API_URL: upstash.url, KV_REST_API_TOKEN: SECRET.KV_REST_API_TOKEN }),
      REDIS_URL: redisUrl,
      ...(dep.email === 'resend' ? { RESEND_API_KEY: SECRET.RESEND_API_KEY, RESEND_BASE_URL: resend.baseUrl } : {}),
      SENTRY_DSN: sentryDsn,
      SENTRY_ENVIRONMENT: 'secrets-test',
      CRON_SECRET: SECRET.CRON_SECRET,
      OPSBOOK_ADMIN_TOKEN: SECRET.OPSBOOK_ADMIN_TOKEN,
      OPSBOOK_CONFIRM_SECRET: SECRET.OPSBOOK_CONFIRM_SECRET,
      [HEADER_VAR]: `Bearer ${SECRET[HEADER_VAR]}`,
    };
    for (const variable of [...SECRET_VARIABLES, HEADER_VAR]) {
      if (env[variable] !== undefined) canaries.push({ variable, secret: SECRET[variable as keyof typeof SECRET], value: env[variable]! });
    }

    dataDir = mkdtempSync(join(tmpdir(), 'opsbook-secrets-'));
    for (const k of [...Object.keys(envSchema.shape), ...OWN_VARS]) {
      saved[k] = process.env[k];
      delete process.env[k];
    }
    Object.assign(process.env, env, { OPSBOOK_DATA_DIR: dataDir });
    resetEnvCache();
    setConfig(parseConfig(CONFIG(echoUrl)));
    capture = startCapture();
    runner = await startRunner({ root: ROOT, port: 0, crons: false, log: (line) => capture!.captured.runnerLog.push(line) });
  }, 120_000);

  afterAll(async () => {
    await runner?.close();
    capture?.stop();
    setConfig(undefined);
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    resetEnvCache();
    // Sentry.init installed a process-global client aimed at this deployment's sink.
    await (await import('@sentry/node')).close(2000);
    if (raw) {
      const keys = await scanKeys(raw, `${QUEUE_PREFIX}:*`);
      keys.push(...(await scanKeys(raw, `canary-cache:${RUN}:*`)));
      if (keys.length) await raw.del(...keys);
      raw.disconnect();
    }
    await victim?.end().catch(() => undefined);
    await Promise.allSettled([upstash?.close(), neon?.close(), sentry?.close(), resend?.close(), new Promise((r) => echo?.close(r))]);
    await db?.drop();
    const root = new pg.Client({ connectionString: PG_ADMIN_URL });
    await root.connect();
    await root.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await root.end();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  }, 60_000);

  async function seedQueue(url: string): Promise<void> {
    const connection = { url };
    const q = new Queue(QUEUE, { connection, prefix: QUEUE_PREFIX });
    q.on('error', () => undefined);
    await q.addBulk([...Array.from({ length: 3 }, (_, i) => ({ name: 'charge', data: { i }, opts: { attempts: 1 } }))]);
    const w = new Worker(QUEUE, async (job) => {
      if (job.data.i === 0) return 'sent';
      throw new Error('provider rejected the request');
    }, { connection, prefix: QUEUE_PREFIX });
    w.on('error', () => undefined);
    for (let i = 0; i < 200 && (await q.getFailedCount()) + (await q.getCompletedCount()) < 3; i++) await delay(50);
    await w.close();
    await q.close();
  }

  /** One HTTP call to the runner, recorded whatever its answer. */
  async function call(kind: CallKind, method: string, path: string, opts: { token?: string | null; authorization?: string; body?: unknown; headers?: Record<string, string> } = {}): Promise<Exchange> {
    const headers: Record<string, string> = { 'user-agent': 'opsbook-secrets-test', ...opts.headers };
    if (opts.authorization !== undefined) headers.authorization = opts.authorization;
    else if (opts.token) headers.authorization = `Bearer ${opts.token}`;
    let body: string | undefined;
    if (opts.body !== undefined) {
      body = typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await fetch(`${runner.url}${path}`, { method, headers, body });
    const ex: Exchange = { label: `${method} ${path} (${kind})`, method, path, kind, status: res.status, headers: Object.fromEntries(res.headers), body: method === 'HEAD' ? '' : await res.text() };
    exchanges.push(ex);
    return ex;
  }
  const json = (ex: Exchange) => JSON.parse(ex.body) as Record<string, any>;
  const ADMIN = () => SECRET.OPSBOOK_ADMIN_TOKEN;
  const WRONG = `ops_${randomBytes(32).toString('base64url')}`;

  it('the runner started on the canary environment, with every dependency on its real client', () => {
    const screen = capture!.captured.runnerLog.join('\n');
    expect(screen).toContain(dep.db === 'neon' ? 'Neon (HTTP driver)' : 'Postgres (node-postgres)');
    expect(screen).toMatch(/Redis\s+Upstash \(REST\)/);
    expect(screen).toMatch(dep.email === 'resend' ? /Email\s+Resend/ : /Email\s+written to/);
    expect(screen).toMatch(/Sentry\s+on/);
  });

  it('walks every route: anonymous, with a wrong token, with a valid token and with bad input; runs the checklists through cron', async () => {
    // Public routes.
    for (const method of ['GET', 'HEAD'] as const) {
      await call('anonymous', method, '/api/health');
      await call('wrong token', method, '/api/health', { token: WRONG });
      await call('valid', method, '/api/health', { token: ADMIN() });
      await call('bad input', method, '/api/health?verbose=1', { authorization: 'Basic Zm9vOmJhcg==' });
    }
    await call('bad input', 'POST', '/api/health', { body: { x: 1 } });
    await call('anonymous', 'GET', '/api/openapi.json');
    await call('wrong token', 'GET', '/api/openapi.json', { token: WRONG });
    await call('valid', 'GET', '/api/openapi.json', { token: ADMIN() });
    await call('bad input', 'GET', '/api/openapi.json?format=yaml');

    // Cron: refused without the secret, with a wrong one, with it elsewhere than the Bearer header.
    await call('anonymous', 'GET', '/api/cron/morning');
    await call('wrong token', 'GET', '/api/cron/morning', { token: `${SECRET.CRON_SECRET.slice(0, -1)}X` });
    await call('wrong token', 'GET', '/api/cron/morning', { token: ADMIN() });
    await call('wrong token', 'GET', `/api/cron/morning?secret=${encodeURIComponent(SECRET.CRON_SECRET)}`);
    await call('wrong token', 'GET', '/api/cron/morning', { authorization: SECRET.CRON_SECRET });
    await call('bad input', 'GET', '/api/cron/no-such-job', { token: SECRET.CRON_SECRET });
    await call('bad input', 'POST', '/api/cron/morning', { token: SECRET.CRON_SECRET });
    // The checklist run: stored, rendered, sent (Resend or the outbox), checked in with Sentry.
    const ran = await call('valid', 'GET', '/api/cron/morning', { token: SECRET.CRON_SECRET });
    expect(ran.status, ran.body).toBe(200);
    expect(json(ran)).toMatchObject({ checklist: 'morning', status: 'completed' });
    expect(json(await call('valid', 'GET', '/api/cron/morning', { token: SECRET.CRON_SECRET }))).toMatchObject({ status: 'already-ran' });
    // The second checklist's report meets a Resend outage, stays pending, and goes out with the next invocation.
    if (dep.email === 'resend') resend.setFault(500);
    expect((await call('valid', 'GET', '/api/cron/evening', { token: SECRET.CRON_SECRET })).status).toBe(200);
    resend.setFault(null);
    expect((await call('valid', 'GET', '/api/cron/evening', { token: SECRET.CRON_SECRET })).status).toBe(200);

    // Admin actions, in registry order (tokens.create comes before the routes that use its tokens).
    for (const def of ACTIONS) {
      const input = ACTION_INPUT[def.id]!(state);
      const path = def.method === 'GET' ? `${def.path}?${new URLSearchParams(input as Record<string, string>)}` : def.path;
      const body = def.method === 'POST' ? input : undefined;
      await call('anonymous', def.method, path, { body });
      await call('wrong token', def.method, path, { token: WRONG, body });
      await call('wrong token', def.method, path, { authorization: `Basic ${Buffer.from(`admin:${ADMIN()}`).toString('base64')}`, body });
      await call('wrong token', def.method, `${path}${path.includes('?') ? '&' : '?'}token=${encodeURIComponent(ADMIN())}`, { body });
      if (def.method === 'POST') {
        await call('bad input', 'POST', def.path, { token: ADMIN(), body: { ...input, unexpected: true } });
        await call('bad input', 'POST', def.path, { token: ADMIN(), body: '{"not json' });
      } else {
        await call('bad input', 'GET', `${path}&unexpected=1`, { token: ADMIN() });
      }
      if (!def.mutates) {
        const ex = await call('valid', def.method, path, { token: ADMIN() });
        expect(ex.status, `${def.id}: ${ex.body}`).toBe(200);
        continue;
      }
      const dry = await call('valid', 'POST', def.path, { token: ADMIN(), body: { ...input, dryRun: true } });
      expect(dry.status, `${def.id} dry run: ${dry.body}`).toBe(200);
      const confirm = json(dry).confirmToken as string | undefined;
      const key = `walk-${def.id}-${RUN}`;
      const real = await call('valid', 'POST', def.path, { token: ADMIN(), body: { ...input, ...(confirm ? { confirm } : {}) }, headers: { 'idempotency-key': key } });
      expect(real.status, `${def.id}: ${real.body}`).toBe(200);
      // The idempotent replay (tokens.create answers it without the token).
      await call('valid', 'POST', def.path, { token: ADMIN(), body: { ...input, ...(confirm ? { confirm } : {}) }, headers: { 'idempotency-key': key } });
      if (def.id === 'tokens.create') state.createdToken = { name: input.name as string, token: json(real).data.token as string };
    }
    // Tokens for the other roles, made the way an operator makes them.
    for (const r of ['heartbeat', 'read', 'operate'] as const) {
      const made = await call('valid', 'POST', '/api/admin/tokens', { token: ADMIN(), body: { name: `walk-${r}-${RUN}`, role: r } });
      tokens[r] = json(made).data.token as string;
    }
    await call('valid', 'POST', '/api/admin/maintenance', { token: tokens.operate, body: { enabled: false } });
    await call('valid', 'POST', '/api/admin/db/terminate', { token: ADMIN(), body: { idleLongerThan: '7d', dryRun: true } });
    await call('wrong token', 'POST', '/api/admin/tokens', { token: tokens.read, body: { name: `walk-x-${RUN}`, role: 'admin' } });
    await call('wrong token', 'GET', '/api/admin/audit', { token: state.createdToken!.token });

    // Diagnostics: every playbook, text and JSON, a snapshot; a heartbeat token is too weak.
    await call('anonymous', 'GET', '/api/diagnostics');
    await call('wrong token', 'GET', '/api/diagnostics', { token: WRONG });
    await call('wrong token', 'GET', '/api/diagnostics', { token: tokens.heartbeat });
    await call('wrong token', 'GET', `/api/diagnostics?token=${encodeURIComponent(ADMIN())}`);
    await call('bad input', 'GET', '/api/diagnostics?format=xml&only=NOPE!', { token: tokens.read });
    await call('bad input', 'GET', '/api/diagnostics?playbook=nonexistent', { token: ADMIN() });
    for (const q of ['', '?format=text', '?snapshot=1', '?only=postgres,redis&format=text', '?only=http,env', '?only=queues']) {
      expect((await call('valid', 'GET', `/api/diagnostics${q}`, { token: ADMIN() })).status).toBe(200);
    }
    for (const p of Object.keys(PLAYBOOKS)) {
      for (const f of ['', '&format=text']) expect((await call('valid', 'GET', `/api/diagnostics?playbook=${p}${f}`, { token: tokens.read })).status).toBe(200);
    }

    // Reports.
    await call('anonymous', 'GET', '/api/reports/latest?checklist=morning');
    await call('wrong token', 'GET', '/api/reports/latest?checklist=morning', { token: WRONG });
    await call('bad input', 'GET', '/api/reports/latest?checklist=Not%20An%20Id', { token: ADMIN() });
    for (const f of ['', '&format=text']) expect((await call('valid', 'GET', `/api/reports/latest?checklist=morning${f}`, { token: tokens.read })).status).toBe(200);
    await call('valid', 'GET', '/api/reports/latest?checklist=evening', { token: ADMIN() });
    const reportIds = (await db.admin.query<{ id: string }>('SELECT id::text FROM opsbook.reports ORDER BY id')).rows.map((r) => r.id);
    expect(reportIds.length).toBeGreaterThanOrEqual(2);
    await call('anonymous', 'GET', `/api/reports/${reportIds[0]}`);
    await call('wrong token', 'GET', `/api/reports/${reportIds[0]}`, { token: tokens.heartbeat });
    await call('bad input', 'GET', '/api/reports/not-a-number', { token: ADMIN() });
    await call('bad input', 'GET', '/api/reports/999999999', { token: ADMIN() });
    for (const id of reportIds) for (const f of ['', '?format=text']) await call('valid', 'GET', `/api/reports/${id}${f}`, { token: tokens.read });

    // Incidents: the list, one incident and its post-mortem (an incident row the cron runs recorded, if any).
    await call('anonymous', 'GET', '/api/incidents');
    await call('wrong token', 'GET', '/api/incidents', { token: tokens.heartbeat });
    await call('bad input', 'GET', '/api/incidents?state=closed', { token: ADMIN() });
    for (const q of ['', '?state=open', '?state=resolved&since=2020-01-01']) expect((await call('valid', 'GET', `/api/incidents${q}`, { token: tokens.read })).status).toBe(200);
    const incidentIds = (await db.admin.query<{ id: string }>('SELECT id::text FROM opsbook.incidents ORDER BY id')).rows.map((r) => r.id);
    for (const suffix of ['', '/postmortem']) {
      await call('anonymous', 'GET', `/api/incidents/${incidentIds[0] ?? 1}${suffix}`);
      await call('wrong token', 'GET', `/api/incidents/${incidentIds[0] ?? 1}${suffix}`, { token: tokens.heartbeat });
      await call('bad input', 'GET', `/api/incidents/not-a-number${suffix}`, { token: ADMIN() });
      await call('bad input', 'GET', `/api/incidents/999999999${suffix}`, { token: ADMIN() });
      for (const id of incidentIds) await call('valid', 'GET', `/api/incidents/${id}${suffix}`, { token: tokens.read });
      if (!incidentIds.length) await call('valid', 'GET', `/api/incidents/1${suffix}`, { token: tokens.read });
    }

    // Heartbeats: the job reports in with a log tail; a read token is not a heartbeat token.
    for (const [method, path] of [['POST', '/api/heartbeats/nightly-backup'], ['GET', '/api/heartbeats/nightly-backup'], ['POST', '/api/heartbeats/nightly-backup/start'], ['GET', '/api/heartbeats/nightly-backup/0']] as const) {
      await call('anonymous', method, path);
      await call('wrong token', method, path, { token: tokens.read });
      await call('wrong token', method, path, { token: WRONG });
      expect((await call('valid', method, path, { token: tokens.heartbeat, ...(method === 'POST' ? { body: 'pg_dump: done, 42 MB', headers: { 'content-type': 'text/plain' } } : {}) })).status).toBe(200);
    }
    await call('valid', 'POST', '/api/heartbeats/nightly-backup/fail', { token: ADMIN(), body: 'pg_dump: connection refused', headers: { 'content-type': 'text/plain' } });
    await call('bad input', 'POST', '/api/heartbeats/nightly-backup/bogus', { token: tokens.heartbeat });
    await call('bad input', 'GET', '/api/heartbeats/no-such-job/256', { token: tokens.heartbeat });
    await call('bad input', 'GET', '/api/heartbeats/no-such-job', { token: tokens.heartbeat });
    await call('bad input', 'POST', '/api/heartbeats/no-such-job', { token: tokens.heartbeat, body: 'x'.repeat(20_000), headers: { 'content-type': 'text/plain' } });
    await call('bad input', 'GET', '/api/heartbeats/nightly-backup/-1', { token: tokens.heartbeat });
    // Nothing served there.
    await call('bad input', 'GET', '/api/nope', { token: ADMIN() });

    // After the heartbeat pings and the admin changes, health and the checklists once more (with details).
    await call('valid', 'GET', '/api/health', { token: tokens.read });
    expect(exchanges.length).toBeGreaterThan(200);
  }, 300_000);

  // Failures are where drivers talk: an error message, a stack, a failed check-in. Each dependency
  // fails in turn while the routes that report on it are called, and then recovers.
  it('walks the error paths: Redis failing, then the database failing, then both back', async () => {
    const detailed = async (label: string) => {
      await call('valid', 'GET', '/api/health', { token: ADMIN() });
      await call('anonymous', 'GET', '/api/health');
      await call('valid', 'GET', '/api/diagnostics?format=text', { token: ADMIN() });
      await call('valid', 'GET', '/api/diagnostics', { token: ADMIN() });
      await call('valid', 'GET', '/api/diagnostics?playbook=service-down', { token: ADMIN() });
      await call('valid', 'POST', '/api/admin/flags', { token: ADMIN(), body: { name: 'PLAID_ENABLED', enabled: true } });
      await call('valid', 'POST', '/api/admin/queues/retry', { token: ADMIN(), body: { queue: QUEUE } });
      await call('valid', 'GET', '/api/reports/latest?checklist=morning', { token: ADMIN() });
      await call('valid', 'POST', '/api/heartbeats/nightly-backup/1', { token: ADMIN(), body: label });
      await call('valid', 'GET', '/api/cron/morning', { token: SECRET.CRON_SECRET });
    };

    upstash.setFault(500);
    try {
      await detailed('redis down');
      expect(JSON.parse(exchanges.at(-10)!.body).checks.redis).not.toBe('healthy');
    } finally {
      upstash.setFault(null);
    }

    const root = new pg.Client({ connectionString: PG_ADMIN_URL });
    await root.connect();
    try {
      if (neon) neon.setFault(500);
      else {
        // The role may not connect any more, and its sessions (the runner's pool) are ended under it.
        await root.query(`ALTER ROLE ${role} CONNECTION LIMIT 0`);
        await root.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, [role]);
      }
      await detailed('database down');
      expect(exchanges.at(-10)!.status).toBe(503);
    } finally {
      if (neon) neon.setFault(null);
      else await root.query(`ALTER ROLE ${role} CONNECTION LIMIT -1`);
      await root.end();
    }
    // Both back: the evening checklist runs on the next day's schedule only, so health is what is asked.
    expect((await call('valid', 'GET', '/api/health', { token: ADMIN() })).status).toBe(200);
  }, 120_000);

  it.each(ROUTE_METHODS)('%s %s was called anonymously, with a wrong token, with a valid token and with bad input', (pattern, method) => {
    const kinds = new Set(exchanges.filter((e) => e.method === method && matchRoute(ROUTES, new URL(e.path, 'http://x').pathname)?.route.pattern === pattern).map((e) => e.kind));
    expect([...kinds].sort()).toEqual(['anonymous', 'bad input', 'valid', 'wrong token']);
  });

  it('the secrets were in use: Sentry got check-ins and events, the report went out, audit rows were written', async () => {
    // Sentry's client flushes inside the cron route; events from other paths are flushed here.
    await (await import('@sentry/node')).flush(2000);
    expect(sentry.checkIns().length).toBeGreaterThanOrEqual(2);
    expect(sentry.events().length).toBeGreaterThanOrEqual(1);
    if (dep.email === 'resend') expect(resend.emails.length).toBeGreaterThanOrEqual(2);
    else expect(filesUnder(join(dataDir, 'outbox')).length).toBeGreaterThanOrEqual(2);
    const { rows } = await db.admin.query<{ n: number }>('SELECT count(*)::int AS n FROM opsbook.audit_log');
    expect(rows[0]!.n).toBeGreaterThanOrEqual(15);
    expect(upstash.requests).toBeGreaterThan(0);
    if (neon) expect(neon.requests).toBeGreaterThan(0);
  });

  /** Each surface: what it is, and how to read everything on it as text. */
  const SURFACES: Array<[string, () => Promise<Array<{ where: string; text: string }>>]> = [
    ['HTTP response bodies', async () => exchanges.filter((e) => !(e.path === '/api/admin/tokens' && e.kind === 'valid')).map((e) => ({ where: e.label, text: e.body }))],
    [
      'HTTP response bodies of token creation (the created token may appear there, no env secret may)',
      async () => exchanges.filter((e) => e.path === '/api/admin/tokens' && e.kind === 'valid').map((e) => ({ where: e.label, text: e.body })),
    ],
    ['HTTP response headers', async () => exchanges.map((e) => ({ where: e.label, text: JSON.stringify(e.headers) }))],
    ['runner log lines', async () => [{ where: 'runner log', text: capture!.captured.runnerLog.join('\n') }]],
    ['stdout (the JSON log lines)', async () => [{ where: 'stdout', text: capture!.captured.stdout.join('') }]],
    ['stderr', async () => [{ where: 'stderr', text: capture!.captured.stderr.join('') }]],
    ['console', async () => [{ where: 'console', text: capture!.captured.console.join('\n') }]],
    [
      'what the Sentry sink received (events, check-ins, envelope headers)',
      async () =>
        sentry.items.map((i, n) => ({
          where: `sentry item ${n} (${i.type})`,
          // The DSN's public key is how the SDK authenticates to Sentry itself (sentry_key, and the trace
          // header's public_key for dynamic sampling): it reaches its owner, so only that one field is set aside.
          text: JSON.stringify({ ...i, envelope: { ...i.envelope, trace: i.envelope.trace ? { ...(i.envelope.trace as object), public_key: undefined } : undefined }, payload: Buffer.isBuffer(i.payload) ? i.payload.toString('utf8') : i.payload }),
        })),
    ],
    // The Resend key itself is the Authorization of each request (apiKey): the rest of the email must not hold it.
    ['what the Resend sink received (the emailed reports)', async () => resend.emails.map((e) => ({ where: `email ${e.subject}`, text: JSON.stringify({ ...e, apiKey: undefined }) }))],
    ['the data folder (the outbox, PGlite if any)', async () => filesUnder(dataDir).map((f) => ({ where: f, text: readFileSync(f).toString('utf8') }))],
    [
      'every row of every table in the database (reports, audit_log, job_runs, run_results, idempotency_keys, settings, snapshots, heartbeat pings, tokens)',
      async () => {
        const { rows: tables } = await db.admin.query<{ s: string; t: string }>(
          `SELECT table_schema AS s, table_name AS t FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
        );
        expect(tables.map((t) => `${t.s}.${t.t}`)).toEqual(expect.arrayContaining(['opsbook.audit_log', 'opsbook.reports', 'opsbook.job_runs', 'opsbook.run_results', 'opsbook.idempotency_keys', 'opsbook.settings', 'opsbook.snapshots']));
        const out: Array<{ where: string; text: string }> = [];
        for (const { s, t } of tables) {
          const { rows } = await db.admin.query<{ j: string }>(`SELECT to_jsonb(x)::text AS j FROM "${s}"."${t}" x`);
          out.push(...rows.map((r, i) => ({ where: `${s}.${t} row ${i}`, text: r.j })));
        }
        return out;
      },
    ],
    [
      'the SQL text Postgres received (pg_stat_statements)',
      async () => {
        const { rows } = await db.admin.query<{ query: string }>(`SELECT query FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1`, [db.name]);
        return [{ where: 'pg_stat_statements', text: rows.map((r) => r.query).join('\n') }];
      },
    ],
    [
      'every Redis key and value Opsbook wrote (rate limits, cache, queues)',
      async () => {
        const out: Array<{ where: string; text: string }> = [];
        for (const key of await scanKeys(raw, '*')) {
          const type = await raw.type(key);
          const value =
            type === 'string' ? await raw.get(key) : type === 'hash' ? await raw.hgetall(key) : type === 'list' ? await raw.lrange(key, 0, -1) : type === 'set' ? await raw.smembers(key) : type === 'zset' ? await raw.zrange(key, 0, -1) : type === 'stream' ? await raw.xrange(key, '-', '+') : null;
          out.push({ where: `redis ${key}`, text: `${key} ${JSON.stringify(value)}` });
        }
        return out;
      },
    ],
  ];

  it.each(SURFACES)('no secret in %s', async (_name, read) => {
    const texts = await read();
    const findings = texts.flatMap((t) => findCanaries(t.where, t.text, canaries));
    expect(findings, findings.map((f) => `${f.where}: ${f.variable} (${f.form}) in ${f.context}`).join('\n')).toEqual([]);
  });

  it('the tokens the walk created appear only in the answer that created them (and its use in requests), nowhere else', async () => {
    const made = [state.createdToken!.token, ...Object.values(tokens)].map((t, i): Canary => ({ variable: `created token ${i}`, secret: t, value: t }));
    const texts = (await Promise.all(SURFACES.filter(([name]) => !name.startsWith('HTTP response bodies of token creation')).map(([, read]) => read()))).flat();
    const findings = texts.flatMap((t) => findCanaries(t.where, t.text, made)).filter((f) => f.variable !== '(marker)');
    expect(findings, findings.map((f) => `${f.where}: ${f.variable} in ${f.context}`).join('\n')).toEqual([]);
  });
});

async function scanKeys(redis: IORedis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    keys.push(...batch);
    cursor = next;
  } while (cursor !== '0');
  return keys;
}
