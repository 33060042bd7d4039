import type { RedisClient } from './index.js';
import { DEFAULT_REDIS_KEY_PREFIX } from './keys.js';

/**
 * Which Redis keys the cache actions (cache/delete, cache/flush) must never touch, judged key by key on
 * what SCAN actually found, never on how a pattern is spelt: `bull:email:wait`, `bull?email:wait`,
 * `bull[:]email:wait` and `bull\:email\:wait` all reach the same list.
 *
 * - Opsbook's own keys: every key Opsbook writes to Redis starts with the configured `redisKeyPrefix`
 *   (lib/redis/keys.ts names them all). Keys under the default `opsbook:` stay protected as well when
 *   another prefix is configured: while a prefix change rolls out, instances still on the old config (and
 *   a misconfigured deployment, which falls back to the default) keep their live rate-limit windows
 *   there, and another Opsbook sharing this Redis may use it. Deleting them would reset a brute-force
 *   limit; leaving them costs nothing, as every one of them expires within minutes.
 * - BullMQ's keys: everything under the configured queue prefix (`checks.queues.prefix`), and, under any
 *   other prefix, every key of a queue that queue discovery would recognise: `P:Q:…` where `P:Q:meta` is
 *   BullMQ's meta hash (discovery's rule, `queueOfMetaKey`). Jobs belong to queue actions
 *   (/api/admin/queues/clean, admin with confirm), which remove a job with its data and its list entries.
 */
const META = ':meta';

/**
 * The queue whose meta hash `key` is under `prefix` (`bull:email:meta` → `email`), or undefined. Shared
 * with queue discovery (lib/checks/queues.ts): a queue name cannot contain ":" (BullMQ refuses it), so
 * anything else is a job's key or another tool's.
 */
export function queueOfMetaKey(key: string, prefix: string): string | undefined {
  const head = `${prefix}:`;
  if (!key.startsWith(head) || !key.endsWith(META) || key.length < head.length + META.length + 1) return undefined;
  const name = key.slice(head.length, -META.length);
  return name !== '' && !name.includes(':') ? name : undefined;
}

/** The queues a key could belong to: every `P:Q:` it starts with, with the meta key that would prove it. */
function queueCandidates(key: string): Array<{ prefix: string; name: string; meta: string }> {
  const out: Array<{ prefix: string; name: string; meta: string }> = [];
  let prev = key.indexOf(':');
  while (prev > 0 && out.length < MAX_CANDIDATES && prev <= MAX_PREFIX_CHARS) {
    const next = key.indexOf(':', prev + 1);
    if (next < 0) break;
    const prefix = key.slice(0, prev);
    const meta = `${key.slice(0, next)}${META}`;
    const name = queueOfMetaKey(meta, prefix);
    if (name !== undefined) out.push({ prefix, name, meta });
    prev = next;
  }
  return out;
}

/** Colons looked at per key: a BullMQ prefix is short (the config allows 64 characters). */
const MAX_CANDIDATES = 16;
const MAX_PREFIX_CHARS = 256;
/** Meta-key answers remembered per request; past that the memory starts again. */
const MAX_REMEMBERED = 50_000;
/** TYPE commands per pipeline (one Upstash REST request each). */
const PIPELINE_MAX = 1000;

export interface ProtectedKeys {
  /** For each key (same order): why it must not be deleted ("bullmq queue email", "opsbook internal"), or undefined. */
  reasons(keys: string[]): Promise<Array<string | undefined>>;
}

/**
 * A classifier for one request. Keys under another prefix cost one TYPE per candidate meta key, all of a
 * batch in one pipeline, each answer remembered. BullMQ's meta is always a hash, so an app's own
 * `user:42:meta` string does not make `user:42:*` untouchable. A TYPE that fails counts as a queue:
 * when in doubt, the key stays.
 */
export function protectedKeys(redis: RedisClient, opts: { queuePrefix: string; keyPrefix: string }): ProtectedKeys {
  const head = `${opts.queuePrefix}:`;
  const own = [...new Set([opts.keyPrefix, DEFAULT_REDIS_KEY_PREFIX])];
  const isQueueMeta = new Map<string, boolean>();

  const direct = (key: string): string | undefined => {
    if (own.some((p) => key.startsWith(p))) return 'opsbook internal';
    if (key.startsWith(head)) {
      const rest = key.slice(head.length);
      const end = rest.indexOf(':');
      const name = end > 0 ? rest.slice(0, end) : '';
      return name ? `bullmq queue ${name}` : `bullmq prefix ${opts.queuePrefix}`;
    }
    return undefined;
  };

  return {
    async reasons(keys) {
      const out = keys.map(direct);
      const unknown = new Set<string>();
      const candidates = keys.map((k, i) => (out[i] === undefined ? queueCandidates(k) : []));
      for (const list of candidates) for (const c of list) if (!isQueueMeta.has(c.meta)) unknown.add(c.meta);
      if (unknown.size) {
        if (isQueueMeta.size + unknown.size > MAX_REMEMBERED) isQueueMeta.clear();
        const metas = [...unknown];
        for (let at = 0; at < metas.length; at += PIPELINE_MAX) {
          const chunk = metas.slice(at, at + PIPELINE_MAX);
          const res = await redis.pipeline(chunk.map((m) => ['TYPE', m]));
          chunk.forEach((m, i) => {
            const r = res[i];
            isQueueMeta.set(m, !r || !r.ok || String(r.value) === 'hash');
          });
        }
      }
      candidates.forEach((list, i) => {
        const hit = list.find((c) => isQueueMeta.get(c.meta) ?? true);
        if (hit) out[i] = `bullmq queue ${hit.name} (prefix ${hit.prefix})`;
      });
      return out;
    },
  };
}
