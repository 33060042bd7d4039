/**
 * Issue 6's load requirement: "200 concurrent requests to /api/health and 50 to /api/diagnostics through the
 * local runner, with a load tool from npm. Must hold: 0 errors; no leaked Postgres connections; no leaked
 * Redis clients. Record p50 and p99."
 *
 * The runner is `npm start`'s own entry (`node bin/start.js`, the compiled runner) in a child process, with DATABASE_URL on a
 * scratch database (node-postgres, pool of 3) and REDIS_URL on the real Redis over TCP, as a developer runs it.
 * autocannon (programmatic API) fires from this process, so client and server each have their own event loop
 * (they still share the machine's two cores with Postgres and Redis). Scenarios, each for SECONDS seconds:
 *   - both:        200 connections on GET /api/health and, at the same time, 50 on GET /api/diagnostics
 *                  (every check of the default config, with a stored read token) — the requirement;
 *   - health:      the 200 alone;  diagnostics: the 50 alone (for context).
 * Every answer's body is checked: health must say "healthy", diagnostics must have no check in `error`.
 * Leaks: the runner's Postgres connections are the client backends on the scratch database (pg_stat_activity,
 * observed from the `postgres` database); its Redis connections are the clients logged in as a Redis ACL user
 * made for this run (CLIENT LIST `user=`), so other clients of the shared Redis do not count. Both are sampled
 * during the load and read again after the runner has stopped.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon from 'autocannon';
import pg from 'pg';
import { createToken } from '../lib/admin/tokens.js';
import { createPgDb } from '../lib/db/pg.js';
import { createTcpRedis } from '../lib/redis/tcp.js';
import { info, judged, type BenchContext, type Figure } from './support/figures.js';
import { createScratchDatabase, PG_ADMIN_URL, REDIS_URL } from './support/services.js';
import { median, rotation } from './support/stats.js';

export const name = 'runner-load';
export const description = '200 concurrent GET /api/health + 50 concurrent GET /api/diagnostics through `npm start` (autocannon)';

const DATABASE = 'opsbook_bench_load';
const HEALTH_CONNECTIONS = 200;
const DIAGNOSTICS_CONNECTIONS = 50;
const SECONDS = 5;
const WARMUP_SECONDS = 2;
const ROUNDS = 2;
/**
 * `createPgDb`'s shared pool plus health's own connection (lib/db/pg.ts), and `createTcpRedis`'s one
 * connection (lib/redis/tcp.ts).
 */
const POOL_MAX = 3 + 1;
const REDIS_CONNECTIONS = 1;
const STARTUP_TIMEOUT_MS = 60_000;

type Scenario = 'both' | 'health' | 'diagnostics';
type Target = 'health' | 'diagnostics';

interface Load {
  p50: number;
  p99: number;
  max: number;
  rps: number;
  requests: number;
  /** Connection errors (timeouts included), non-2xx answers and bodies that fail the check. */
  failed: number;
  breakdown: string;
}

function freePort(): Promise<number> {
  const server = createServer();
  return new Promise((resolvePort, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

async function pgAdminQuery(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function run(ctx: BenchContext): Promise<Figure[]> {
  const cleanup: (() => Promise<void>)[] = [];
  try {
    const scratch = await createScratchDatabase(DATABASE);
    cleanup.push(() => scratch.drop());
    const dbUrl = new URL(PG_ADMIN_URL);
    dbUrl.pathname = `/${DATABASE}`;
    // As in the tests' databases: the slow-queries check then reads real statistics instead of skipping.
    await pgAdminQuery(dbUrl.toString(), 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements');

    const observer = new pg.Client({ connectionString: PG_ADMIN_URL, application_name: 'opsbook-bench-observer' });
    await observer.connect();
    cleanup.push(() => observer.end());
    const redisObserver = createTcpRedis(REDIS_URL, { callTimeoutMs: 10_000 });
    cleanup.push(() => redisObserver.close());
    const redisUser = `opsbook-bench-load-${randomBytes(4).toString('hex')}`;
    const redisPassword = randomBytes(24).toString('hex');
    await redisObserver.command(['ACL', 'SETUSER', redisUser, 'reset', 'on', `>${redisPassword}`, '~*', '&*', '+@all']);
    // Deleting the user also disconnects anything still logged in as it.
    cleanup.push(async () => void (await redisObserver.command(['ACL', 'DELUSER', redisUser])));

    const pgConnections = async () =>
      (
        await observer.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'`,
          [DATABASE],
        )
      ).rows[0]!.n;
    const redisConnections = async () =>
      (await redisObserver.command<string>(['CLIENT', 'LIST', 'TYPE', 'normal'])).split('\n').filter((l) => l.split(' ').includes(`user=${redisUser}`)).length;
    const settle = async (read: () => Promise<number>, want: number) => {
      const until = Date.now() + 10_000;
      let n = await read();
      while (n > want && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 100));
        n = await read();
      }
      return n;
    };

    // A stored read token, as a CI job would use: each diagnostics request looks it up (an UPDATE of its row).
    const tokenDb = createPgDb(dbUrl.toString(), { statementTimeoutMs: 5000, lockTimeoutMs: 2000, callTimeoutMs: 5000 });
    const { token } = await createToken(tokenDb, { name: 'bench-load', role: 'read', createdBy: 'bench' });
    await tokenDb.close();
    const baseline = { pg: await settle(pgConnections, 0), redis: await redisConnections() };

    const redisUrl = new URL(REDIS_URL);
    redisUrl.username = redisUser;
    redisUrl.password = redisPassword;
    const dataDir = await mkdtemp(join(tmpdir(), 'opsbook-bench-load-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const port = await freePort();
    ctx.progress(`starting the runner (node bin/start.js) on port ${port}`);
    const child = spawn(process.execPath, ['bin/start.js'], {
      cwd: ctx.repoRoot,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: dataDir,
        PORT: String(port),
        DATABASE_URL: dbUrl.toString(),
        REDIS_URL: redisUrl.toString(),
        OPSBOOK_DATA_DIR: dataDir,
        CRON_SECRET: randomBytes(24).toString('hex'),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    cleanup.push(() => stopRunner(child, exited));
    await waitForStart(child);

    const base = `http://127.0.0.1:${port}`;
    const fire = (target: Target, seconds: number): Promise<Load> => {
      const counts = new Map<string, number>();
      const ok = target === 'health' ? 'healthy' : 'every check answered';
      return new Promise((resolveLoad, reject) => {
        autocannon(
          {
            url: target === 'health' ? `${base}/api/health` : `${base}/api/diagnostics`,
            connections: target === 'health' ? HEALTH_CONNECTIONS : DIAGNOSTICS_CONNECTIONS,
            duration: seconds,
            timeout: 30,
            headers: target === 'diagnostics' ? { authorization: `Bearer ${token}` } : {},
            verifyBody: (body) => {
              let kind: string;
              try {
                const b = JSON.parse(String(body)) as { status?: string; checks?: Array<{ id: string; status: string }> };
                if (target === 'health') kind = String(b.status);
                else if (!Array.isArray(b.checks)) kind = 'no checks';
                else {
                  const errored = b.checks.filter((c) => c.status === 'error').map((c) => c.id);
                  kind = errored.length ? `in error: ${errored.join(',')}` : ok;
                }
              } catch {
                kind = 'not JSON';
              }
              counts.set(kind, (counts.get(kind) ?? 0) + 1);
              return kind === ok;
            },
          },
          (err, r) => {
            if (err) return reject(err);
            const other = [...counts].filter(([k]) => k !== ok);
            resolveLoad({
              p50: r.latency.p50,
              p99: r.latency.p99,
              max: r.latency.max,
              rps: r.requests.total / r.duration,
              requests: r.requests.total,
              failed: r.errors + r.non2xx + r.mismatches,
              breakdown:
                `errors ${r.errors} (timeouts ${r.timeouts}), non-2xx ${r.non2xx}` +
                (other.length ? `, bodies: ${other.map(([k, n]) => `${n}× ${k}`).join('; ')}` : ''),
            });
          },
        );
      });
    };
    const scenario = async (s: Scenario, seconds: number): Promise<Partial<Record<Target, Load>>> => {
      if (s === 'health') return { health: await fire('health', seconds) };
      if (s === 'diagnostics') return { diagnostics: await fire('diagnostics', seconds) };
      const [health, diagnostics] = await Promise.all([fire('health', seconds), fire('diagnostics', seconds)]);
      return { health, diagnostics };
    };

    // Sample the runner's connections for the whole loaded period.
    let sampling = true;
    const max = { pg: 0, redis: 0, samples: 0 };
    const sampler = (async () => {
      while (sampling) {
        const [p, r] = await Promise.all([pgConnections(), redisConnections()]);
        max.pg = Math.max(max.pg, p);
        max.redis = Math.max(max.redis, r);
        max.samples++;
        await new Promise((res) => setTimeout(res, 25));
      }
    })();

    const results: Record<Scenario, Array<Partial<Record<Target, Load>>>> = { both: [], health: [], diagnostics: [] };
    try {
      ctx.progress(`warm-up: both loads for ${WARMUP_SECONDS} s`);
      const warm = await scenario('both', WARMUP_SECONDS);
      if ((warm.health?.failed ?? 0) + (warm.diagnostics?.failed ?? 0) > 0) {
        ctx.note(`warm-up had failures: health ${warm.health?.breakdown}; diagnostics ${warm.diagnostics?.breakdown}`);
      }
      const scenarios: Scenario[] = ['both', 'health', 'diagnostics'];
      for (let round = 0; round < ROUNDS; round++) {
        for (const s of rotation(scenarios, round)) {
          ctx.progress(`round ${round + 1}/${ROUNDS}: ${s} for ${SECONDS} s`);
          results[s].push(await scenario(s, SECONDS));
        }
      }
    } finally {
      sampling = false;
      await sampler;
    }

    ctx.progress('stopping the runner');
    await stopRunner(child, exited);
    const after = { pg: await settle(pgConnections, baseline.pg), redis: await settle(redisConnections, baseline.redis) };

    const pick = (s: Scenario, t: Target, f: (l: Load) => number) => results[s].map((r) => f(r[t]!));
    const med = (s: Scenario, t: Target, f: (l: Load) => number) => median(pick(s, t, f));
    const failed = (t: Target) => [...pick('both', t, (l) => l.failed), ...pick(t, t, (l) => l.failed)].reduce((a, b) => a + b, 0);
    for (const s of ['both', 'health', 'diagnostics'] as Scenario[]) {
      for (const t of ['health', 'diagnostics'] as Target[]) {
        if (s !== 'both' && s !== t) continue;
        const per = results[s].map(
          (r) => `p50 ${r[t]!.p50} / p99 ${r[t]!.p99} / max ${r[t]!.max} ms, ${r[t]!.rps.toFixed(0)} req/s (${r[t]!.requests} requests; ${r[t]!.breakdown})`,
        );
        ctx.note(`${s === 'both' ? 'both at once' : 'alone'}, ${t}: ${per.join(' | ')}`);
      }
    }
    ctx.note(
      `connections: Postgres baseline ${baseline.pg}, at most ${max.pg} during the load, ${after.pg} after stop; ` +
        `Redis (clients as the run's ACL user) baseline ${baseline.redis}, at most ${max.redis} during, ${after.redis} after stop (${max.samples} samples)`,
    );
    ctx.note(
      `figures are medians of ${ROUNDS} rounds of ${SECONDS} s per scenario; this group saturates both cores itself, which raises ` +
        'the 1-min load by about 1: judge the machine by the load before it',
    );

    return [
      judged('health: failed requests (errors, non-2xx, not healthy)', failed('health'), 'requests', { equals: 0 }),
      judged('diagnostics: failed requests (errors, non-2xx, a check in error)', failed('diagnostics'), 'requests', { equals: 0 }),
      judged('Postgres connections during the load, max', max.pg - baseline.pg, 'connections', { max: POOL_MAX }),
      judged('Postgres connections left after the runner stopped', after.pg - baseline.pg, 'connections', { equals: 0 }),
      judged('Redis clients during the load, max', max.redis - baseline.redis, 'clients', { max: REDIS_CONNECTIONS }),
      judged('Redis clients left after the runner stopped', after.redis - baseline.redis, 'clients', { equals: 0 }),
      info('both at once: health p50', med('both', 'health', (l) => l.p50), 'ms'),
      info('both at once: health p99', med('both', 'health', (l) => l.p99), 'ms'),
      info('both at once: health requests/s', Math.round(med('both', 'health', (l) => l.rps)), 'req/s'),
      info('both at once: diagnostics p50', med('both', 'diagnostics', (l) => l.p50), 'ms'),
      info('both at once: diagnostics p99', med('both', 'diagnostics', (l) => l.p99), 'ms'),
      info('both at once: diagnostics requests/s', Math.round(med('both', 'diagnostics', (l) => l.rps)), 'req/s'),
      info('health alone: p50', med('health', 'health', (l) => l.p50), 'ms'),
      info('health alone: p99', med('health', 'health', (l) => l.p99), 'ms'),
      info('health alone: requests/s', Math.round(med('health', 'health', (l) => l.rps)), 'req/s'),
      info('diagnostics alone: p50', med('diagnostics', 'diagnostics', (l) => l.p50), 'ms'),
      info('diagnostics alone: p99', med('diagnostics', 'diagnostics', (l) => l.p99), 'ms'),
      info('diagnostics alone: requests/s', Math.round(med('diagnostics', 'diagnostics', (l) => l.rps)), 'req/s'),
    ];
  } finally {
    for (const step of cleanup.reverse()) await step().catch((err: unknown) => ctx.note(`cleanup: ${(err as Error).message}`));
  }
}

/** Resolves once the runner prints its address; rejects with its output if it exits or takes too long. */
function waitForStart(child: ChildProcess): Promise<void> {
  let out = '';
  return new Promise((resolveStart, reject) => {
    const timer = setTimeout(() => reject(new Error(`the runner did not start within ${STARTUP_TIMEOUT_MS} ms:\n${out}`)), STARTUP_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      // The runner logs every request: keep only the start-up screen, then just drain the pipes.
      if (out.length < 20_000) out += chunk.toString('utf8');
      if (/Opsbook is running at /.test(out)) {
        clearTimeout(timer);
        resolveStart();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the runner exited (${code}) before it started:\n${out}`));
    });
  });
}

/** SIGTERM (the runner closes its pool and Redis client), then the whole process group if it lingers. */
async function stopRunner(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((r) => setTimeout(() => r(true), 10_000).unref())]);
    if (!timedOut) return;
  }
  try {
    if (child.pid) process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Nothing left in the group.
  }
}
