import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '../../lib/env.js';
import { createMemoryRedis, globToRegExp } from '../../lib/redis/memory.js';
import { selectRedisDriver } from '../../lib/redis/index.js';
import { openRedis, REDIS_DRIVERS, type RedisHarness } from '../support/drivers.js';

describe.each(REDIS_DRIVERS)('Redis adapter over %s', (driver) => {
  let h: RedisHarness;
  const prefix = `opsbook:t:${randomBytes(4).toString('hex')}:`;
  beforeAll(async () => {
    h = await openRedis(driver);
  });
  afterAll(async () => {
    const keys = await scanAll(h, `${prefix}*`);
    if (keys.length) await h.redis.command(['DEL', ...keys]);
    await h?.close();
  });

  it('PING answers PONG', async () => {
    expect(await h.redis.command(['PING'])).toBe('PONG');
  });

  it('SET with NX and PX, GET, INCR keep Redis semantics', async () => {
    expect(await h.redis.command(['SET', `${prefix}a`, 'héllo wörld ✓', 'PX', 60_000, 'NX'])).toBe('OK');
    expect(await h.redis.command(['SET', `${prefix}a`, 'other', 'NX'])).toBeNull();
    expect(await h.redis.command(['GET', `${prefix}a`])).toBe('héllo wörld ✓');
    expect(await h.redis.command(['INCR', `${prefix}n`])).toBe(1);
    expect(await h.redis.command(['INCRBY', `${prefix}n`, 41])).toBe(42);
    const ttl = await h.redis.command<number>(['PTTL', `${prefix}a`]);
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(60_000);
  });

  it('a pipeline answers every slot, and one failing command does not fail its neighbours', async () => {
    await h.redis.command(['SET', `${prefix}s`, 'text']);
    const res = await h.redis.pipeline([
      ['PING'],
      ['INCR', `${prefix}s`],
      ['GET', `${prefix}s`],
      ['EXISTS', `${prefix}s`, `${prefix}missing`],
    ]);
    expect(res[0]).toEqual({ ok: true, value: 'PONG' });
    expect(res[1]!.ok).toBe(false);
    expect(res[2]).toEqual({ ok: true, value: 'text' });
    expect(res[3]).toEqual({ ok: true, value: 1 });
  });

  it('SCAN with MATCH walks every matching key and nothing else', async () => {
    const cmds = Array.from({ length: 25 }, (_, i) => ['SET', `${prefix}scan:${i}`, String(i)]);
    await h.redis.pipeline(cmds);
    await h.redis.command(['SET', `${prefix}other`, 'x']);
    const keys = await scanAll(h, `${prefix}scan:*`);
    expect(keys.sort()).toEqual(Array.from({ length: 25 }, (_, i) => `${prefix}scan:${i}`).sort());
  });

  it('an error reply rejects the command', async () => {
    await h.redis.command(['SET', `${prefix}str`, 'x']);
    await expect(h.redis.command(['LLEN', `${prefix}str`])).rejects.toThrow(/WRONGTYPE/);
  });
});

async function scanAll(h: RedisHarness, match: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await h.redis.command<[string, string[]]>(['SCAN', cursor, 'MATCH', match, 'COUNT', 100]);
    out.push(...keys);
    cursor = String(next);
  } while (cursor !== '0');
  return [...new Set(out)];
}

describe('in-memory fallback', () => {
  it('expires keys by the injected clock', async () => {
    let t = 1_000_000;
    const r = createMemoryRedis({ now: () => t });
    await r.command(['SET', 'k', 'v', 'PX', 500]);
    t += 499;
    expect(await r.command(['GET', 'k'])).toBe('v');
    t += 1;
    expect(await r.command(['GET', 'k'])).toBeNull();
  });

  it('deleting keys while scanning skips none of the others', async () => {
    const r = createMemoryRedis();
    await r.pipeline(Array.from({ length: 1200 }, (_, i) => ['SET', `k:${String(i).padStart(4, '0')}`, 'v']));
    const seen = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await r.command<[string, string[]]>(['SCAN', cursor, 'MATCH', 'k:*', 'COUNT', 100]);
      for (const k of keys) seen.add(k);
      if (keys.length) await r.command(['UNLINK', ...keys]);
      cursor = next;
    } while (cursor !== '0');
    expect(seen.size).toBe(1200);
    expect(await r.command(['DBSIZE'])).toBe(0);
  });

  it('is not shared between instances, and says so', () => {
    expect(createMemoryRedis().shared).toBe(false);
  });

  it('an unknown command is an error reply, not a silent success', async () => {
    await expect(createMemoryRedis().command(['XADD', 's', '*', 'a', '1'])).rejects.toThrow(/unknown command/);
  });

  it.each([
    ['cache:words:*', 'cache:words:apple', true],
    ['cache:words:*', 'cache:wordsX', false],
    ['bull:?:id', 'bull:a:id', true],
    ['h[ae]llo', 'hello', true],
    ['h[ae]llo', 'hillo', false],
    ['h[^e]llo', 'hallo', true],
    ['a\\*b', 'a*b', true],
    ['a\\*b', 'axb', false],
    ['dots.are.literal', 'dotsXareXliteral', false],
  ])('glob %s against %s → %s', (glob, key, expected) => {
    expect(globToRegExp(glob).test(key)).toBe(expected);
  });
});

describe('Redis selection', () => {
  it.each([
    [{}, 'memory'],
    [{ REDIS_URL: 'redis://127.0.0.1:6379' }, 'tcp'],
    [{ REDIS_URL: 'rediss://:pw@host:6380' }, 'tcp'],
    [{ UPSTASH_REDIS_REST_URL: 'https://x.upstash.io', UPSTASH_REDIS_REST_TOKEN: 't' }, 'upstash'],
    [{ KV_REST_API_URL: 'https://x.upstash.io', KV_REST_API_TOKEN: 't' }, 'upstash'],
    [{ KV_REST_API_URL: 'https://x.upstash.io', KV_REST_API_TOKEN: 't', REDIS_URL: 'redis://h' }, 'upstash'],
  ])('%o → %s', (vars, expected) => {
    expect(selectRedisDriver(parseEnv(vars))).toBe(expected);
  });
});
