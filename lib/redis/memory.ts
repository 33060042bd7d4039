import type { PipelineResult, RedisArg, RedisClient } from './types.js';

type Value = { kind: 'string'; v: string } | { kind: 'hash'; v: Map<string, string> } | { kind: 'zset'; v: Map<string, number> } | { kind: 'list'; v: string[] };
interface Entry {
  value: Value;
  expiresAt?: number;
}

/** Redis glob (`*`, `?`, `[abc]`, `\x`) → RegExp, for SCAN MATCH. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '\\' && i + 1 < glob.length) re += escapeRe(glob[++i]!);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end === -1) re += '\\[';
      else {
        let cls = glob.slice(i + 1, end);
        if (cls.startsWith('^')) cls = '^' + cls.slice(1).replace(/[\\\]]/g, '\\$&');
        else cls = cls.replace(/[\\\]]/g, '\\$&');
        re += `[${cls}]`;
        i = end;
      }
    } else re += escapeRe(c);
  }
  return new RegExp(`^${re}$`, 's');
}

function escapeRe(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

class RedisReplyError extends Error {}

/**
 * The in-memory fallback the runbooks ask for ("gracefully fall back to an internal in-memory Map
 * cache"): used when no Redis is configured. It implements the commands Opsbook itself uses, with
 * Redis' semantics; its state lives in this instance only, which /api/health reports in production.
 * `now` is injectable so expiry is testable without waiting.
 */
export function createMemoryRedis(opts: { now?: () => number } = {}): RedisClient {
  const now = opts.now ?? Date.now;
  const data = new Map<string, Entry>();

  function live(key: string): Entry | undefined {
    const e = data.get(key);
    if (e?.expiresAt !== undefined && e.expiresAt <= now()) {
      data.delete(key);
      return undefined;
    }
    return e;
  }
  function typed<K extends Value['kind']>(key: string, kind: K): Extract<Value, { kind: K }> | undefined {
    const e = live(key);
    if (!e) return undefined;
    if (e.value.kind !== kind) throw new RedisReplyError('WRONGTYPE Operation against a key holding the wrong kind of value');
    return e.value as Extract<Value, { kind: K }>;
  }
  function int(s: RedisArg | undefined): number {
    const n = Number(s);
    if (!Number.isInteger(n)) throw new RedisReplyError('ERR value is not an integer or out of range');
    return n;
  }

  function exec(args: RedisArg[]): unknown {
    const [rawName, ...rest] = args;
    const name = String(rawName ?? '').toUpperCase();
    const a = rest.map(String);
    switch (name) {
      case 'PING':
        return a[0] ?? 'PONG';
      case 'GET': {
        const v = typed(a[0]!, 'string');
        return v ? v.v : null;
      }
      case 'SET': {
        const [key, value, ...flags] = a;
        let expiresAt: number | undefined;
        let nx = false;
        let xx = false;
        let keepTtl = false;
        for (let i = 0; i < flags.length; i++) {
          const f = flags[i]!.toUpperCase();
          if (f === 'NX') nx = true;
          else if (f === 'XX') xx = true;
          else if (f === 'KEEPTTL') keepTtl = true;
          else if (f === 'EX') expiresAt = now() + int(flags[++i]) * 1000;
          else if (f === 'PX') expiresAt = now() + int(flags[++i]);
          else throw new RedisReplyError('ERR syntax error');
        }
        const existing = live(key!);
        if ((nx && existing) || (xx && !existing)) return null;
        data.set(key!, { value: { kind: 'string', v: value! }, expiresAt: keepTtl ? existing?.expiresAt : expiresAt });
        return 'OK';
      }
      case 'DEL':
      case 'UNLINK':
        return a.reduce((n, k) => (live(k) && data.delete(k) ? n + 1 : n), 0);
      case 'EXISTS':
        return a.filter((k) => live(k)).length;
      case 'INCR':
      case 'INCRBY':
      case 'DECR':
      case 'DECRBY': {
        const by = name === 'INCR' ? 1 : name === 'DECR' ? -1 : name === 'INCRBY' ? int(a[1]) : -int(a[1]);
        const cur = typed(a[0]!, 'string');
        const next = int(cur?.v ?? '0') + by;
        data.set(a[0]!, { value: { kind: 'string', v: String(next) }, expiresAt: live(a[0]!)?.expiresAt });
        return next;
      }
      case 'EXPIRE':
      case 'PEXPIRE': {
        const e = live(a[0]!);
        if (!e) return 0;
        e.expiresAt = now() + int(a[1]) * (name === 'EXPIRE' ? 1000 : 1);
        return 1;
      }
      case 'TTL':
      case 'PTTL': {
        const e = live(a[0]!);
        if (!e) return -2;
        if (e.expiresAt === undefined) return -1;
        const ms = e.expiresAt - now();
        return name === 'TTL' ? Math.ceil(ms / 1000) : ms;
      }
      case 'TYPE':
        return live(a[0]!)?.value.kind ?? 'none';
      case 'DBSIZE':
        return [...data.keys()].filter((k) => live(k)).length;
      case 'FLUSHDB':
      case 'FLUSHALL':
        data.clear();
        return 'OK';
      case 'SCAN': {
        // The cursor is the last key returned (opaque to callers, as Redis' is), so keys deleted or added
        // between calls never make the walk skip a key that existed throughout.
        const after = a[0] === '0' ? undefined : a[0]!.replace(/^k:/, '');
        let match: RegExp | undefined;
        let count = 10;
        let type: string | undefined;
        for (let i = 1; i < a.length; i++) {
          const f = a[i]!.toUpperCase();
          if (f === 'MATCH') match = globToRegExp(a[++i]!);
          else if (f === 'COUNT') count = int(a[++i]);
          else if (f === 'TYPE') type = a[++i]!.toLowerCase();
        }
        const keys = [...data.keys()].sort().filter((k) => after === undefined || k > after);
        const page = keys.slice(0, count);
        const slice = page.filter((k) => {
          const e = live(k);
          return e && (!match || match.test(k)) && (!type || e.value.kind === type);
        });
        const next = page.length < count || page.length === keys.length ? '0' : `k:${page[page.length - 1]}`;
        return [next, slice];
      }
      case 'HSET': {
        const key = a[0]!;
        const h = typed(key, 'hash') ?? { kind: 'hash' as const, v: new Map<string, string>() };
        let added = 0;
        for (let i = 1; i + 1 < a.length; i += 2) {
          if (!h.v.has(a[i]!)) added++;
          h.v.set(a[i]!, a[i + 1]!);
        }
        if (!live(key)) data.set(key, { value: h });
        return added;
      }
      case 'HGET':
        return typed(a[0]!, 'hash')?.v.get(a[1]!) ?? null;
      case 'HGETALL':
        return [...(typed(a[0]!, 'hash')?.v ?? new Map<string, string>())].flat();
      case 'HDEL': {
        const h = typed(a[0]!, 'hash');
        return h ? a.slice(1).filter((f) => h.v.delete(f)).length : 0;
      }
      case 'HLEN':
        return typed(a[0]!, 'hash')?.v.size ?? 0;
      case 'LPUSH':
      case 'RPUSH': {
        const key = a[0]!;
        const l = typed(key, 'list') ?? { kind: 'list' as const, v: [] as string[] };
        for (const item of a.slice(1)) name === 'LPUSH' ? l.v.unshift(item) : l.v.push(item);
        if (!live(key)) data.set(key, { value: l });
        return l.v.length;
      }
      case 'LLEN':
        return typed(a[0]!, 'list')?.v.length ?? 0;
      case 'ZADD': {
        const key = a[0]!;
        const z = typed(key, 'zset') ?? { kind: 'zset' as const, v: new Map<string, number>() };
        let added = 0;
        for (let i = 1; i + 1 < a.length; i += 2) {
          if (!z.v.has(a[i + 1]!)) added++;
          z.v.set(a[i + 1]!, Number(a[i]));
        }
        if (!live(key)) data.set(key, { value: z });
        return added;
      }
      case 'ZCARD':
        return typed(a[0]!, 'zset')?.v.size ?? 0;
      case 'INFO':
        return `# Server\r\nredis_mode:opsbook-in-memory\r\n# Keyspace\r\ndb0:keys=${data.size}\r\n`;
      default:
        throw new RedisReplyError(`ERR unknown command '${name}' (the in-memory fallback implements only what Opsbook uses)`);
    }
  }

  return {
    driver: 'memory',
    shared: false,
    async command<T>(args: RedisArg[]) {
      return exec(args) as T;
    },
    async pipeline(commands: RedisArg[][]) {
      return commands.map((c): PipelineResult => {
        try {
          return { ok: true, value: exec(c) };
        } catch (err) {
          return { ok: false, error: (err as Error).message };
        }
      });
    },
    async close() {
      data.clear();
    },
  };
}
