/**
 * "Queue discovery over a 1,000,000-key Redis: goal < 10 s; slowest single Redis command < 50 ms."
 *
 * A dedicated Redis database (index 9, FLUSHDB before and after) is filled with 1,000,000 keys that
 * look like an application's (sessions, cache entries, orphaned BullMQ job hashes) plus a few real
 * BullMQ queues made by BullMQ itself. Then:
 *   - discovery: `discoverQueues` from lib/checks/queues.ts with the production defaults (SCAN MATCH
 *     bull:*:meta COUNT 1000, at most 2000 calls) over the production TCP adapter, 3 rounds, median;
 *   - the slowest single command, server side: SLOWLOG with slowlog-log-slower-than 0 during the
 *     discovery rounds only (restored after), keeping the entries of the adapter's own connection;
 *   - for context, `queues.backlog` + `queues.stuck` end to end through runDiagnostics.
 */
import { Queue } from 'bullmq';
import { Redis as IORedis } from 'ioredis';
import { discoverQueues } from '../lib/checks/queues.js';
import { parseConfig } from '../lib/config/index.js';
import { createPgDb } from '../lib/db/pg.js';
import { createDeps } from '../lib/deps.js';
import { runDiagnostics } from '../lib/diagnostics/run.js';
import { parseEnv } from '../lib/env.js';
import { createTcpRedis } from '../lib/redis/tcp.js';
import { info, judged, type BenchContext, type Figure } from './support/figures.js';
import { PG_ADMIN_URL, REDIS_URL } from './support/services.js';
import { describe, median } from './support/stats.js';

export const name = 'queue-discovery';
export const description = 'SCAN discovery of BullMQ queues in a 1,000,000-key Redis (database 9)';

const DB_INDEX = 9;
const TOTAL_KEYS = 1_000_000;
const QUEUES = ['emails', 'exports', 'payments', 'thumbnails', 'webhooks'];
const JOBS_PER_QUEUE = 200;
const ROUNDS = 3;
const CHUNK = 1000;
const CHUNKS_PER_EXEC = 20;

function dbUrl(): string {
  const u = new URL(REDIS_URL);
  u.pathname = `/${DB_INDEX}`;
  return u.toString();
}

/** Fill the database with `n` application-looking keys, in MSET/HSET chunks pipelined together. */
async function fill(admin: IORedis, n: number, ctx: BenchContext): Promise<void> {
  let written = 0;
  while (written < n) {
    const p = admin.pipeline();
    for (let c = 0; c < CHUNKS_PER_EXEC && written < n; c++) {
      const size = Math.min(CHUNK, n - written);
      const base = written;
      // One chunk in ten is BullMQ-shaped job hashes of a queue that no longer exists (no meta key):
      // they share the prefix and must not be mistaken for queues.
      if ((base / CHUNK) % 10 === 9) {
        for (let i = 0; i < size; i++) p.hset(`bull:archive:${base + i}`, 'name', 'old', 'timestamp', '1700000000000');
      } else {
        const args: string[] = [];
        for (let i = 0; i < size; i++) args.push((base + i) % 2 ? `sess:${base + i}` : `cache:user:${base + i}:profile`, 'v');
        p.mset(...args);
      }
      written += size;
    }
    await p.exec();
    if (written % 200_000 === 0) ctx.progress(`${written} keys written`);
  }
}

export async function run(ctx: BenchContext): Promise<Figure[]> {
  const url = dbUrl();
  const admin = new IORedis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  admin.on('error', () => undefined);
  try {
    await admin.connect();
  } catch (err) {
    throw new Error(`Redis is not reachable at ${REDIS_URL}: ${(err as Error).message}`);
  }
  const [, slowerThan] = (await admin.config('GET', 'slowlog-log-slower-than')) as [string, string];
  const [, maxLen] = (await admin.config('GET', 'slowlog-max-len')) as [string, string];
  const u = new URL(REDIS_URL);
  const connection = { host: u.hostname, port: Number(u.port || 6379), db: DB_INDEX };
  const queues: Queue[] = [];
  const redis = createTcpRedis(url, { callTimeoutMs: 30_000 });
  try {
    await admin.flushdb();
    ctx.progress(`filling database ${DB_INDEX} with ${TOTAL_KEYS} keys`);
    const fillStart = performance.now();
    // The real queues' own keys (meta, wait, job hashes, events…) come on top of the filler.
    const fillerKeys = TOTAL_KEYS;
    await fill(admin, fillerKeys, ctx);
    for (const q of QUEUES) {
      const queue = new Queue(q, { connection });
      queues.push(queue);
      await queue.addBulk(Array.from({ length: JOBS_PER_QUEUE }, (_, i) => ({ name: 'job', data: { i } })));
    }
    const dbsize = await admin.dbsize();
    ctx.note(`filled ${dbsize} keys in ${((performance.now() - fillStart) / 1000).toFixed(1)} s (${QUEUES.length} BullMQ queues × ${JOBS_PER_QUEUE} jobs)`);

    // Discovery, with every command of the adapter's connection in the slow log.
    const cfg = parseConfig({}).checks.queues;
    const clientInfo = await redis.command<string>(['CLIENT', 'INFO']);
    const addr = /(?:^|\s)addr=(\S+)/.exec(clientInfo)?.[1];
    if (!addr) throw new Error(`CLIENT INFO did not name the connection's address: ${clientInfo}`);
    await admin.config('SET', 'slowlog-max-len', '10000');
    await admin.slowlog('RESET');
    await admin.config('SET', 'slowlog-log-slower-than', '0');
    const times: number[] = [];
    let calls = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const start = performance.now();
        const d = await discoverQueues(redis, cfg);
        times.push(performance.now() - start);
        calls = d.scanCalls;
        if (d.truncated) throw new Error(`discovery was truncated: ${d.truncated}`);
        if (d.names.join(',') !== QUEUES.join(',')) throw new Error(`discovery found [${d.names.join(', ')}], expected [${QUEUES.join(', ')}]`);
      }
    } finally {
      await admin.config('SET', 'slowlog-log-slower-than', slowerThan);
    }
    const entries = (await admin.call('SLOWLOG', 'GET', '-1')) as Array<[number, number, number, string[], string, string]>;
    await admin.config('SET', 'slowlog-max-len', maxLen);
    const ours = entries.filter((e) => e[4] === addr && String(e[3][0]).toUpperCase() === 'SCAN');
    if (ours.length < calls) ctx.note(`only ${ours.length} of ${calls * ROUNDS} SCAN calls found in the slow log (it holds ${entries.length} entries)`);
    const slowestUs = Math.max(...ours.map((e) => Number(e[2])));
    const scanUs = ours.map((e) => Number(e[2]));
    ctx.note(`discovery: ${describe(times)}; ${calls} SCAN calls per discovery`);
    ctx.note(`SCAN server time per call: ${describe(scanUs.map((us) => us / 1000))}`);

    // End to end, as diagnostics run it (default limits: 5 s per check, discovery gets half).
    const db = createPgDb(PG_ADMIN_URL, { statementTimeoutMs: 5000, lockTimeoutMs: 2000, callTimeoutMs: 5000 });
    let e2eMs: number;
    try {
      const deps = await createDeps(parseEnv({}), { db, redis, log: () => undefined });
      const start = performance.now();
      const report = await runDiagnostics(deps, parseConfig({}), { only: ['queues.backlog', 'queues.stuck'] }, new Date());
      e2eMs = performance.now() - start;
      const backlog = report.checks.find((c) => c.id === 'queues.backlog')!;
      ctx.note(`queues.backlog: ${backlog.status}: ${backlog.summary}`);
      if (backlog.status === 'error') throw new Error(`queues.backlog answered error: ${backlog.summary}`);
    } finally {
      await db.close();
    }

    return [
      judged('queue discovery, 1M keys (median of 3)', Math.round(median(times)), 'ms', { max: 10_000 }),
      judged('slowest single Redis command (SLOWLOG, server)', Math.round(slowestUs / 100) / 10, 'ms', { max: 50 }),
      info('SCAN calls per discovery', calls, 'calls'),
      info('keys in the database', dbsize, 'keys'),
      info('queues.backlog + queues.stuck end to end', Math.round(e2eMs), 'ms'),
    ];
  } finally {
    await admin.config('SET', 'slowlog-log-slower-than', slowerThan).catch(() => undefined);
    await admin.config('SET', 'slowlog-max-len', maxLen).catch(() => undefined);
    await Promise.allSettled(queues.map((q) => q.close()));
    await redis.close();
    await admin.flushdb().catch(() => undefined);
    admin.disconnect();
  }
}
