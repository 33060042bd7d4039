import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis as Upstash } from '@upstash/redis';
import { Redis as IORedis } from 'ioredis';
import { startUpstashPeer, type UpstashPeer } from './upstash-rest.js';

// The production client, unmodified, through the peer to the real Redis on 127.0.0.1:6379.
let peer: UpstashPeer;
let direct: IORedis;
/** One HTTP request per command (POST /). */
let redis: Upstash;
/** The client's default: commands issued in the same tick share one POST /pipeline. */
let auto: Upstash;
const prefix = `opsbook-test:upstash-peer:${randomUUID()}:`;
const key = (name: string) => prefix + name;

/** A raw call, to check the wire format the client hides. */
async function raw(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(peer.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${peer.token}`, 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

beforeAll(async () => {
  peer = await startUpstashPeer();
  direct = new IORedis('redis://127.0.0.1:6379');
  redis = new Upstash({ url: peer.url, token: peer.token, enableTelemetry: false, enableAutoPipelining: false });
  auto = new Upstash({ url: peer.url, token: peer.token, enableTelemetry: false });
});

afterAll(async () => {
  const keys = await direct.keys(`${prefix}*`);
  if (keys.length > 0) await direct.del(...keys);
  direct.disconnect();
  await peer?.close();
});

describe('upstash REST peer, driven by @upstash/redis', () => {
  it('set/get round-trips a JSON value the client serialised', async () => {
    const value = { name: 'opsbook', tags: ['a', 'b'], n: 3, nested: { ok: true } };
    expect(await redis.set(key('json'), value)).toBe('OK');
    expect(await redis.get(key('json'))).toEqual(value);
    expect(JSON.parse((await direct.get(key('json'))) ?? 'null')).toEqual(value);
    expect(await redis.get(key('missing'))).toBeNull();
  });

  it('unicode strings survive the base64 response encoding', async () => {
    const text = 'héllo ✓ 日本語 🚀 "quoted" \\ line\nbreak';
    await redis.set(key('unicode'), text);
    expect(await redis.get(key('unicode'))).toBe(text);
    expect(await auto.get(key('unicode'))).toBe(text);
  });

  it('binary values come back as base64 of the exact bytes', async () => {
    const bytes = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x0d, 0x0a, 0x41]);
    await direct.set(key('binary'), bytes);
    const res = await raw('/', ['get', key('binary')], { 'Upstash-Encoding': 'base64' });
    const body = (await res.json()) as { result: string };
    expect(Buffer.from(body.result, 'base64')).toEqual(bytes);
  });

  it('base64 encoding reaches nested arrays; integers, null and a top-level OK stay as they are', async () => {
    await direct.set(key('nest'), 'v');
    const headers = { 'Upstash-Encoding': 'base64' };
    const evalRes = await raw('/', ['eval', 'return {1, KEYS[1], false, {ARGV[1]}}', 1, key('nest'), 'x'], headers);
    expect(await evalRes.json()).toEqual({
      result: [1, Buffer.from(key('nest')).toString('base64'), null, [Buffer.from('x').toString('base64')]],
    });
    expect(await (await raw('/', ['set', key('nest'), 'w'], headers)).json()).toEqual({ result: 'OK' });
    expect(await (await raw('/', ['get', key('nest')])).json()).toEqual({ result: 'w' });
  });

  it('incr answers numbers', async () => {
    expect(await redis.incr(key('counter'))).toBe(1);
    expect(await redis.incrby(key('counter'), 41)).toBe(42);
    expect(await auto.incr(key('counter'))).toBe(43);
  });

  it('a Redis error reply is HTTP 400 with {error}, and the client throws it', async () => {
    await redis.set(key('text'), 'not a number');
    const res = await raw('/', ['incr', key('text')]);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'ERR value is not an integer or out of range' });
    await expect(redis.incr(key('text'))).rejects.toThrow(/ERR value is not an integer or out of range/);
    await expect(auto.incr(key('text'))).rejects.toThrow(/Command failed: ERR value is not an integer/);
  });

  it('a pipeline answers slot by slot, the failed command holding its error', async () => {
    const p = redis.pipeline();
    p.set(key('pipe'), 'v');
    p.incr(key('pipe'));
    p.get(key('pipe'));
    p.hset(key('pipe-hash'), { a: 1, b: 'two' });
    p.hgetall(key('pipe-hash'));
    expect(await p.exec({ keepErrors: true })).toEqual([
      { error: undefined, result: 'OK' },
      { error: 'ERR value is not an integer or out of range', result: undefined },
      { error: undefined, result: 'v' },
      { error: undefined, result: 2 },
      { error: undefined, result: { a: 1, b: 'two' } },
    ]);
    const failing = redis.pipeline().get(key('pipe')).incr(key('pipe'));
    await expect(failing.exec()).rejects.toThrow(/Command 2 \[ incr \] failed: ERR value is not an integer/);
  });

  it('multi-exec runs the transaction and answers one slot per command', async () => {
    const tx = redis.multi().set(key('tx'), 10).incr(key('tx')).get(key('tx')).set(key('tx-s'), 'x').incr(key('tx-s'));
    expect(await tx.exec({ keepErrors: true })).toEqual([
      { error: undefined, result: 'OK' },
      { error: undefined, result: 11 },
      { error: undefined, result: 11 },
      { error: undefined, result: 'OK' },
      { error: 'ERR value is not an integer or out of range', result: undefined },
    ]);
  });

  it('a transaction refused while queueing fails whole: HTTP 400, one {error}, nothing applied', async () => {
    const res = await raw('/multi-exec', [['set', key('tx-abort'), 'x'], ['set']]);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: expect.stringMatching(/^EXECABORT/) });
    expect(await direct.exists(key('tx-abort'))).toBe(0);
    const refused = await raw('/multi-exec', [['set', key('tx-abort'), 'x'], ['config', 'get', 'maxmemory']]);
    expect(refused.status).toBe(400);
    expect(await refused.json()).toEqual({ error: expect.stringContaining("Command is not available: 'CONFIG'") });
    expect(await direct.exists(key('tx-abort'))).toBe(0);
  });

  it('scan with match and count walks every matching key', async () => {
    const names = Array.from({ length: 12 }, (_, i) => key(`scan:${i}`));
    await direct.mset(...names.flatMap((n) => [n, 'x']));
    await direct.set(key('other'), 'x');
    const seen = new Set<string>();
    let cursor: string | number = '0';
    let rounds = 0;
    do {
      const [next, keys]: [string | number, string[]] = await redis.scan(cursor, { match: key('scan:*'), count: 5 });
      keys.forEach((k) => seen.add(k));
      cursor = next;
      rounds++;
    } while (String(cursor) !== '0' && rounds < 10_000);
    expect([...seen].sort()).toEqual([...names].sort());
  });

  it('INFO returns its text, DBSIZE, TYPE and PING their values', async () => {
    const info = await redis.exec<string>(['info', 'server']);
    expect(info).toMatch(/redis_version:\d+/);
    expect(typeof (await redis.dbsize())).toBe('number');
    await redis.set(key('typed'), 'x');
    expect(await redis.type(key('typed'))).toBe('string');
    expect(await redis.ping()).toBe('PONG');
  });

  it('a blocking command does not hold up other requests', async () => {
    // If BLPOP parked the shared upstream connection, the RPUSH would queue behind it until the
    // 5 s timeout and BLPOP would answer null.
    const popped = redis.exec<[string, string] | null>(['blpop', key('queue'), '5']);
    await new Promise((r) => setTimeout(r, 20));
    expect(await redis.rpush(key('queue'), 'job-1')).toBe(1);
    expect(await popped).toEqual([key('queue'), 'job-1']);
  });

  it('a wrong or missing token is 401 Unauthorized', async () => {
    const intruder = new Upstash({ url: peer.url, token: 'wrong-token', enableTelemetry: false, retry: false });
    await expect(intruder.get(key('json'))).rejects.toThrow(/Unauthorized/);
    const res = await fetch(`${peer.url}/`, { method: 'POST', body: JSON.stringify(['ping']) });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ error: 'Unauthorized' });
  });

  it('an unsupported command answers the service’s "not available" error', async () => {
    await expect(redis.exec(['slowlog', 'get', '10'])).rejects.toThrow(
      /ERR Command is not available: 'SLOWLOG'/,
    );
    const res = await raw('/', ['CLIENT', 'LIST']);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toMatch(/^ERR Command is not available: 'CLIENT'/);
    const piped = await raw('/pipeline', [['ping'], ['config', 'get', 'maxmemory']]);
    expect(piped.status).toBe(200);
    expect(await piped.json()).toEqual([
      { result: 'PONG' },
      { error: expect.stringMatching(/^ERR Command is not available: 'CONFIG'/) },
    ]);
  });

  it('setFault(500) makes the client throw; null restores service', async () => {
    peer.setFault(500);
    try {
      await expect(redis.get(key('json'))).rejects.toThrow(/HTTP 500/);
      await expect(auto.get(key('json'))).rejects.toThrow(/HTTP 500/);
    } finally {
      peer.setFault(null);
    }
    expect(await redis.get(key('json'))).toMatchObject({ name: 'opsbook' });
  });

  it('counts one request per command and one per pipeline', async () => {
    peer.resetCount();
    await redis.set(key('count'), 1);
    await redis.get(key('count'));
    expect(peer.requests).toBe(2);
    await redis.pipeline().incr(key('count')).incr(key('count')).get(key('count')).exec();
    expect(peer.requests).toBe(3);
    await redis.multi().incr(key('count')).get(key('count')).exec();
    expect(peer.requests).toBe(4);
    // Auto-pipelining batches commands issued together into one round trip.
    await Promise.all([auto.get(key('count')), auto.get(key('count')), auto.get(key('count'))]);
    expect(peer.requests).toBe(5);
  });

  it('path-style GET commands work, with the token in a header or in _token', async () => {
    await direct.set(key('path/slash'), 'plain value');
    const path = `/get/${encodeURIComponent(key('path/slash'))}`;
    const viaHeader = await fetch(peer.url + path, { headers: { authorization: `Bearer ${peer.token}` } });
    expect(viaHeader.status).toBe(200);
    expect(viaHeader.headers.get('upstash-sync-token')).toBeTruthy();
    expect(await viaHeader.json()).toEqual({ result: 'plain value' });
    const viaQuery = await fetch(`${peer.url}${path}?_token=${encodeURIComponent(peer.token)}`);
    expect(await viaQuery.json()).toEqual({ result: 'plain value' });
    const setWithBody = await fetch(`${peer.url}/set/${encodeURIComponent(key('posted'))}?EX=100`, {
      method: 'POST',
      headers: { authorization: `Bearer ${peer.token}` },
      body: '{"posted":true}',
    });
    expect(await setWithBody.json()).toEqual({ result: 'OK' });
    expect(await direct.get(key('posted'))).toBe('{"posted":true}');
    expect(await direct.ttl(key('posted'))).toBeGreaterThan(0);
  });
});
