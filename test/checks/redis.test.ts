import { randomBytes } from 'node:crypto';
import { Redis as IORedis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lib/config/index.js';
import { createPgDb } from '../../lib/db/pg.js';
import type { Db } from '../../lib/db/types.js';
import { allChecks } from '../../lib/checks/registry.js';
import {
  FRAGMENTATION_MIN_EXCESS_BYTES,
  gradeClients,
  gradeHitRate,
  gradeMemory,
  infoNumber,
  parseInfo,
  parseSlowlog,
} from '../../lib/checks/redis.js';
import type { CheckResult } from '../../lib/checks/types.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';
import { createTcpRedis } from '../../lib/redis/tcp.js';
import { createUpstashRedis } from '../../lib/redis/upstash.js';
import { startUpstashPeer } from '../peers/upstash-rest.js';
import type { Deps } from '../../lib/deps.js';
import { depsFor, diagnose } from '../support/diagnostics.js';
import { DEFAULT_LIMITS, openRedis, type RedisHarness } from '../support/drivers.js';
import { closedPort } from '../support/faults.js';
import { PG_ADMIN_URL, REDIS_URL } from '../support/services.js';

const IDS = ['redis.ping', 'redis.memory', 'redis.clients', 'redis.hit-rate', 'redis.dbsize', 'redis.slowlog'];
const THRESHOLDS = { memoryWarnPct: 80, memoryFailPct: 95, fragmentationWarn: 1.5, hitRateWarnPct: 80 };
const MB = 1024 * 1024;

/** INFO as Redis 7 prints it (CRLF), trimmed to the fields that matter plus some that must not confuse the parser. */
function infoText(fields: Record<string, string | number>, sections: Record<string, Record<string, string | number>> = {}): string {
  const lines = ['# Server', 'redis_version:7.0.15', 'executable:/usr/bin/redis-server', 'config_file:', ''];
  lines.push('# Memory', ...Object.entries(fields).map(([k, v]) => `${k}:${v}`), '');
  for (const [name, f] of Object.entries(sections)) lines.push(`# ${name}`, ...Object.entries(f).map(([k, v]) => `${k}:${v}`), '');
  return lines.join('\r\n');
}

describe('INFO parser', () => {
  it.each([
    ['CRLF with sections', '# Server\r\nredis_version:7.0.15\r\n\r\n# Memory\r\nused_memory:1024\r\n', { redis_version: '7.0.15', used_memory: '1024' }, ['server', 'memory']],
    ['LF only', '# Memory\nused_memory:2048\nmaxmemory:0\n', { used_memory: '2048', maxmemory: '0' }, ['memory']],
    ['values holding colons', '# Server\r\nexecutable:/usr/bin/redis-server\r\nlistener0:name=tcp,bind=*,port=6379\r\n', { executable: '/usr/bin/redis-server', listener0: 'name=tcp,bind=*,port=6379' }, ['server']],
    ['an empty value', '# Server\r\nconfig_file:\r\n', { config_file: '' }, ['server']],
    ['keyspace lines', '# Keyspace\r\ndb0:keys=12,expires=3,avg_ttl=0\r\n', { db0: 'keys=12,expires=3,avg_ttl=0' }, ['keyspace']],
    ['no trailing newline, no section', 'used_memory:5', { used_memory: '5' }, ['']],
    ['a provider banner and stray lines are ignored', 'Upstash Redis\r\n# Stats\r\nnonsense\r\n:novalue\r\nkeyspace_hits:9\r\n', { keyspace_hits: '9' }, ['stats']],
    ['spaces around a header and a field', '#  Memory \r\n used_memory : 7 \r\n', { used_memory: '7' }, ['memory']],
    ['the first occurrence of a repeated name wins', '# A\r\nx:1\r\n# B\r\nx:2\r\n', { x: '1' }, ['a', 'b']],
  ])('%s', (_name, text, fields, sections) => {
    const info = parseInfo(text);
    expect(info.fields).toEqual(fields);
    expect(Object.keys(info.sections)).toEqual(sections);
  });

  it.each([
    ['null', null],
    ['a number', 42],
    ['an array', ['used_memory:1']],
  ])('a reply that is not text (%s) parses as empty', (_name, value) => {
    expect(parseInfo(value)).toEqual({ sections: {}, fields: {} });
  });

  it('numbers: absent, empty or non-numeric fields are undefined', () => {
    const info = parseInfo('a:1.5\r\nb:\r\nc:abc\r\n');
    expect([infoNumber(info, 'a'), infoNumber(info, 'b'), infoNumber(info, 'c'), infoNumber(info, 'd')]).toEqual([1.5, undefined, undefined, undefined]);
  });
});

describe('grading from INFO', () => {
  it.each([
    ['no maxmemory → ok, says there is no limit', { used_memory: 10 * MB, maxmemory: 0, maxmemory_policy: 'noeviction' }, {}, 'ok', /no maxmemory limit/],
    ['70 % of maxmemory → ok', { used_memory: 70 * MB, maxmemory: 100 * MB }, {}, 'ok', /70%/],
    ['85 % of maxmemory, warn at 80 → warn', { used_memory: 85 * MB, maxmemory: 100 * MB }, {}, 'warn', /85% of maxmemory/],
    ['97 % of maxmemory, fail at 95 → fail, naming the fail level', { used_memory: 97 * MB, maxmemory: 100 * MB }, {}, 'fail', /97% of maxmemory .*above 95% \(fail\)/],
    [
      'fragmentation 1.8 with 200 MB excess → warn',
      { used_memory: 250 * MB, used_memory_rss: 450 * MB, mem_fragmentation_ratio: 1.8, mem_fragmentation_bytes: 200 * MB },
      {},
      'warn',
      /fragmentation ratio 1.8/,
    ],
    [
      'fragmentation 5 on a 1.5 MB dataset → ok, ratio ignored as allocator overhead',
      { used_memory: 1.5 * MB, used_memory_rss: 7.5 * MB, mem_fragmentation_ratio: 5 },
      {},
      'ok',
      /ignored/,
    ],
    ['evicted keys → warn, names the policy', { used_memory: 10 * MB, maxmemory: 100 * MB, maxmemory_policy: 'allkeys-lru' }, { Stats: { evicted_keys: 3 } }, 'warn', /3 key\(s\) evicted.*allkeys-lru/],
  ])('%s', (_name, memory, sections, status, summary) => {
    const r = gradeMemory(parseInfo(infoText(memory, sections)), THRESHOLDS);
    expect(r.status).toBe(status);
    expect(r.summary).toMatch(summary);
    expect(r.value).toBe(memory.used_memory);
    if (status === 'warn' || status === 'fail') expect(r.hint?.text).toMatch(/To fix/);
  });

  it('the fragmentation floor is the one MEMORY DOCTOR uses: 10 MB', () => {
    expect(FRAGMENTATION_MIN_EXCESS_BYTES).toBe(10 * MB);
  });

  it('an INFO without memory fields (a provider that hides them) → skipped with a reason and a fix', () => {
    const r = gradeMemory(parseInfo('# Server\r\nredis_version:7.2\r\n'), THRESHOLDS);
    expect(r).toMatchObject({ status: 'skipped', summary: expect.stringMatching(/used_memory/), hint: { text: expect.any(String) } });
  });

  it.each([
    ['none rejected, maxclients known → ok with the limit', { connected_clients: 12, maxclients: 10000, rejected_connections: 0 }, 'ok', /12 client\(s\) connected of 10000 allowed/],
    ['maxclients unknown (Upstash) → ok without it', { connected_clients: 3, rejected_connections: 0 }, 'ok', /^3 client\(s\) connected, none rejected$/],
    ['rejected connections → warn', { connected_clients: 10000, maxclients: 10000, rejected_connections: 17 }, 'warn', /17 connection\(s\) rejected/],
  ])('clients: %s', (_name, fields, status, summary) => {
    const r = gradeClients(parseInfo(infoText({}, { Clients: fields })));
    expect(r.status).toBe(status);
    expect(r.summary).toMatch(summary);
    expect(r.value).toBe(fields.connected_clients);
  });

  it.each([
    ['999 lookups → ok, too few to judge', 1, 998, 'ok', /too few/],
    ['50 % over 2000 lookups, warn below 80 → warn', 1000, 1000, 'warn', /hit rate 50%/],
    ['95 % over 2000 lookups → ok', 1900, 100, 'ok', /hit rate 95%/],
  ])('hit rate: %s', (_name, hits, misses, status, summary) => {
    const r = gradeHitRate(parseInfo(infoText({}, { Stats: { keyspace_hits: hits, keyspace_misses: misses } })), THRESHOLDS);
    expect(r.status).toBe(status);
    expect(r.summary).toMatch(summary);
  });

  it('hit rate without the stats fields → skipped', () => {
    expect(gradeHitRate(parseInfo('# Server\r\nx:1\r\n'), THRESHOLDS).status).toBe('skipped');
  });
});

describe('SLOWLOG entries', () => {
  it('keep the command name and the number of arguments, never the arguments or the client', () => {
    const rows = parseSlowlog([
      [7, 1_700_000_000, 15_300, ['set', 'session:alice@example.com', 'tok_live_SECRET'], '10.0.0.5:51234', 'api-worker'],
      [6, 1_700_000_001, 120, ['EVALSHA', 'abc', '1', ...Array.from({ length: 29 }, (_, i) => `a${i}`), '... (8 more arguments)']],
      'not an entry',
    ]);
    expect(rows).toEqual([
      { id: 7, at: '2023-11-14T22:13:20.000Z', durationMs: 15.3, command: 'SET', argCount: 2 },
      { id: 6, at: '2023-11-14T22:13:21.000Z', durationMs: 0.1, command: 'EVALSHA', argCount: 31 + 8 },
    ]);
    expect(JSON.stringify(rows)).not.toMatch(/alice|SECRET|10\.0\.0\.5|api-worker/);
  });
});

describe('the redis family in the registry', () => {
  it('defines six checks with stable ids, none when disabled', () => {
    expect(allChecks(parseConfig({})).filter((c) => c.family === 'redis').map((c) => c.id)).toEqual(IDS);
    expect(allChecks(parseConfig({ checks: { redis: { enabled: false } } })).filter((c) => c.family === 'redis')).toEqual([]);
  });
});

/** A Db the redis checks never touch (the runner only connects when a check asks Postgres). */
function idleDb(): Db {
  return createPgDb(PG_ADMIN_URL, DEFAULT_LIMITS);
}

describe.each(['tcp', 'upstash'] as const)('redis checks over %s against the real Redis', (driver) => {
  let h: RedisHarness;
  let db: Db;
  let deps: Deps;
  let admin: IORedis;
  const prefix = `opsbook:t:${randomBytes(4).toString('hex')}:`;

  beforeAll(async () => {
    h = await openRedis(driver);
    db = idleDb();
    deps = await depsFor(db, h.redis);
    admin = new IORedis(REDIS_URL);
    await admin.mset(`${prefix}a`, '1', `${prefix}b`, '2', `${prefix}c`, '3');
  });
  afterAll(async () => {
    await admin.del(`${prefix}a`, `${prefix}b`, `${prefix}c`);
    admin.disconnect();
    await db.close();
    await h.close();
  });

  it('every check answers with figures read from the server', async () => {
    // Speed is not under test here (a busy machine is slow): the PING limit is out of reach.
    const r = await diagnose(deps, { checks: { redis: { thresholds: { pingWarnMs: 60_000 } } } }, { only: ['redis'] });
    expect(r.checks.map((c) => c.id)).toEqual(IDS);
    expect(r.checks.every((c) => c.status !== 'error')).toBe(true);
    expect(r.byId('redis.ping')).toMatchObject({ status: 'ok', unit: 'ms', summary: expect.stringMatching(/^PONG in/) });
    expect(r.byId('redis.ping').value).toBeGreaterThan(0);
    expect(r.byId('redis.memory').unit).toBe('bytes');
    expect(r.byId('redis.memory').value).toBeGreaterThan(0);
    expect(r.byId('redis.clients').value).toBeGreaterThanOrEqual(1);
    // Our three keys at least; other test files share this database.
    expect(r.byId('redis.dbsize')).toMatchObject({ status: 'ok', unit: 'keys' });
    expect(r.byId('redis.dbsize').value).toBeGreaterThanOrEqual(3);
  });

  it('hit rate: after 1000 misses, a 100 % goal warns and a 0 % goal does not', async () => {
    await h.redis.pipeline(Array.from({ length: 1000 }, (_, i) => ['GET', `${prefix}missing:${i}`]));
    const strict = await diagnose(deps, { checks: { redis: { thresholds: { hitRateWarnPct: 100 } } } }, { only: ['redis.hit-rate'] });
    expect(strict.byId('redis.hit-rate')).toMatchObject({ status: 'warn', unit: '%', summary: expect.stringMatching(/below 100%/) });
    const lax = await diagnose(deps, { checks: { redis: { thresholds: { hitRateWarnPct: 0 } } } }, { only: ['redis.hit-rate'] });
    expect(lax.byId('redis.hit-rate').status).toBe('ok');
  });

  it('memory: no maxmemory → ok, says so; a maxmemory of 1 GB with a 0 % goal → warn', async () => {
    const [, original] = (await admin.config('GET', 'maxmemory')) as [string, string];
    try {
      await admin.config('SET', 'maxmemory', '0');
      const unlimited = await diagnose(deps, {}, { only: ['redis.memory'] });
      // The shared Redis may carry fragmentation from earlier heavy use (a warn of its own): assert
      // what this case is about, the missing limit, not the whole verdict.
      const memory = unlimited.byId('redis.memory');
      expect(memory.status).not.toBe('fail');
      expect(memory.details?.[0]).toMatchObject({ maxmemory: 0 });
      // Without a fragmentation warning of its own, the summary says there is no limit.
      if (memory.status === 'ok') expect(memory.summary).toMatch(/no maxmemory limit/);
      await admin.config('SET', 'maxmemory', String(1024 * MB));
      const r = await diagnose(deps, { checks: { redis: { thresholds: { memoryWarnPct: 0 } } } }, { only: ['redis.memory'] });
      expect(r.byId('redis.memory')).toMatchObject({ status: 'warn', summary: expect.stringMatching(/% of maxmemory .* above 0%/) });
      expect(r.byId('redis.memory').details?.[0]).toMatchObject({ maxmemory: 1024 * MB });
    } finally {
      await admin.config('SET', 'maxmemory', original);
    }
  });
});

describe('one round trip per run', () => {
  it('the six redis checks cost the Upstash peer exactly one HTTP request', async () => {
    const h = await openRedis('upstash');
    const db = idleDb();
    try {
      const deps = await depsFor(db, h.redis);
      h.upstash!.resetCount();
      const r = await diagnose(deps, {}, { only: ['redis'] });
      expect(r.checks).toHaveLength(6);
      expect(h.upstash!.requests).toBe(1);
    } finally {
      await db.close();
      await h.close();
    }
  });
});

describe('round-trip time', () => {
  it('Upstash 150 ms away with pingWarnMs 100 → warn, naming the figure', async () => {
    const peer = await startUpstashPeer({ upstream: REDIS_URL, latencyMs: 150 });
    const redis = createUpstashRedis(peer.url, peer.token, { callTimeoutMs: 5000 });
    const db = idleDb();
    try {
      const r = await diagnose(await depsFor(db, redis), {}, { only: ['redis.ping'] });
      expect(r.byId('redis.ping')).toMatchObject({ status: 'warn', unit: 'ms', summary: expect.stringMatching(/over Upstash REST .*above 100 ms$/) });
      expect(r.byId('redis.ping').value).toBeGreaterThanOrEqual(150);
    } finally {
      await db.close();
      await peer.close();
    }
  });
});

describe('SLOWLOG', () => {
  it('over TCP lists recent slow commands by name and argument count, never their keys or values', async () => {
    const admin = new IORedis(REDIS_URL);
    const h = await openRedis('tcp');
    const db = idleDb();
    const key = `opsbook:t:${randomBytes(4).toString('hex')}:session`;
    const secret = `tok_live_${randomBytes(8).toString('hex')}`;
    try {
      const [, threshold] = (await admin.config('GET', 'slowlog-log-slower-than')) as [string, string];
      // One write: Redis runs a client's pipelined commands back to back, so only these are logged.
      await admin
        .pipeline()
        .config('SET', 'slowlog-log-slower-than', '0')
        .set(key, secret)
        .config('SET', 'slowlog-log-slower-than', threshold)
        .exec();
      const r = await diagnose(await depsFor(db, h.redis), {}, { only: ['redis.slowlog'] });
      const slowlog = r.byId('redis.slowlog');
      expect(slowlog).toMatchObject({ status: 'ok', unit: 'ms' });
      expect(slowlog.details).toContainEqual(expect.objectContaining({ command: 'SET', argCount: 2 }));
      expect(slowlog.details!.length).toBeLessThanOrEqual(10);
      expect(JSON.stringify(slowlog)).not.toContain(secret);
      expect(JSON.stringify(slowlog)).not.toContain(key);
    } finally {
      await admin.del(key);
      admin.disconnect();
      await db.close();
      await h.close();
    }
  });

  it('over Upstash is skipped: the command is not available there', async () => {
    const h = await openRedis('upstash');
    const db = idleDb();
    try {
      const r = await diagnose(await depsFor(db, h.redis), {}, { only: ['redis.slowlog'] });
      expect(r.byId('redis.slowlog')).toMatchObject({
        status: 'skipped',
        summary: expect.stringMatching(/SLOWLOG is not available on Upstash: ERR Command is not available: 'SLOWLOG'/),
        hint: { text: expect.stringMatching(/Upstash console/) },
      });
    } finally {
      await db.close();
      await h.close();
    }
  });
});

describe('when there is no Redis to measure', () => {
  it('the in-memory fallback → every check skipped, saying what it is and how to configure Redis', async () => {
    const db = idleDb();
    try {
      const r = await diagnose(await depsFor(db, createMemoryRedis()), {}, { only: ['redis'] });
      for (const c of r.checks) {
        expect(c).toMatchObject({
          status: 'skipped',
          summary: 'in-memory fallback: set REDIS_URL or UPSTASH_REDIS_REST_URL',
          hint: { text: expect.stringMatching(/UPSTASH_REDIS_REST_TOKEN/) },
        });
        expect(c.value).toBeUndefined();
      }
    } finally {
      await db.close();
    }
  });

  it('Redis port closed → redis.ping is an error naming the cause, the rest are suppressed by it, none throws', async () => {
    const db = idleDb();
    const redis = createTcpRedis(`redis://127.0.0.1:${await closedPort()}`, { callTimeoutMs: 2000 });
    try {
      const r = await diagnose(await depsFor(db, redis), {}, { only: ['redis'] });
      expect(r.checks).toHaveLength(6);
      expect(r.byId('redis.ping')).toMatchObject<Partial<CheckResult>>({ status: 'error', summary: expect.stringMatching(/^Redis did not answer: \S/) });
      // One root cause: the other five say what they wait for instead of repeating the error.
      for (const c of r.checks.filter((c) => c.id !== 'redis.ping')) {
        expect(c).toMatchObject<Partial<CheckResult>>({ status: 'skipped', summary: 'suppressed: redis unreachable', suppressedBy: 'redis.ping' });
      }
    } finally {
      await redis.close();
      await db.close();
    }
  });

  it('Upstash answering 503 → redis.ping errors, the rest are suppressed, and the next run recovers', async () => {
    const h = await openRedis('upstash');
    const db = idleDb();
    try {
      const deps = await depsFor(db, h.redis);
      h.upstash!.setFault(503);
      const down = await diagnose(deps, {}, { only: ['redis'] });
      for (const c of down.checks) expect(c.status).toBe(c.id === 'redis.ping' ? 'error' : 'skipped');
      expect(down.byId('redis.ping').summary).toMatch(/^Redis did not answer: .*simulated fault/);
      h.upstash!.setFault(null);
      const up = await diagnose(deps, {}, { only: ['redis'] });
      expect(up.byId('redis.ping').status).toBe('ok');
      expect(up.checks.filter((c) => c.suppressedBy)).toEqual([]);
    } finally {
      await db.close();
      await h.close();
    }
  });
});
