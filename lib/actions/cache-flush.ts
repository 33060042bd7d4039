import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { discoverQueues } from '../checks/queues.js';
import { OpsbookError } from '../errors.js';
import { guardedRedis } from './cache-delete.js';
import { auditAfter } from './queues-retry.js';

export const schema = z.object({
  /** FLUSHDB even though this Redis also holds BullMQ queues (their jobs are deleted too). */
  includeQueues: z.boolean().optional(),
});
export type Params = z.output<typeof schema>;

/** Discovery of BullMQ queues before a flush: bounded, so a huge keyspace cannot hold the request. */
const DISCOVERY_MS = 5000;

/**
 * `POST /api/admin/cache/flush` `{}` — runbook 001/004's `FLUSHDB`: every key of the selected Redis
 * database goes. Admin role, with confirm; the dry run answers DBSIZE. When the same Redis also holds
 * BullMQ queues (found by their `<prefix>:*:meta` keys), the flush would delete every job: it is refused
 * unless `includeQueues: true` says that is intended. Opsbook's rate-limit state goes too (harmless).
 * Over TCP the flush is `FLUSHDB ASYNC` (memory freed in the background, Redis keeps answering); Upstash
 * and the in-memory fallback get plain FLUSHDB.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'cache.flush',
  method: 'POST',
  path: '/api/admin/cache/flush',
  role: 'admin',
  summary: 'Delete every key of the Redis database (FLUSHDB)',
  schema,
  confirm: true,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const redis = guardedRedis(ctx.deps.redis);
    const cfg = ctx.config.checks.queues;
    const where = redis.shared ? '' : ' (in-memory fallback: this instance only)';
    const keys = Number(await redis.command(['DBSIZE']));
    const discovery = await discoverQueues(redis, { prefix: cfg.prefix, scanCount: cfg.scanCount, maxScanCalls: cfg.maxScanCalls }, performance.now() + DISCOVERY_MS).catch(() => undefined);
    const queues = discovery?.names ?? [];
    const queueNote = queues.length
      ? ` It also holds ${queues.length} BullMQ queue(s) (${queues.slice(0, 5).join(', ')}${queues.length > 5 ? ', …' : ''}): their jobs would be deleted too.`
      : discovery?.truncated || !discovery
        ? ' Whether it holds BullMQ queues could not be fully checked.'
        : '';
    if (dryRun) {
      return {
        status: keys ? 'ok' : 'noop',
        dryRun,
        summary: `Would delete all ${keys} key(s) of this Redis database${where}.${queueNote}${queues.length && !params.includeQueues ? ' The flush will be refused unless includeQueues is true.' : ''}`,
        count: keys,
        data: { queues: queues.slice(0, 20), queueCount: queues.length },
      };
    }
    if (queues.length && !params.includeQueues) {
      throw new OpsbookError(
        'CONFLICT',
        `This Redis also holds ${queues.length} BullMQ queue(s) (${queues.slice(0, 5).join(', ')}): FLUSHDB would delete every job. Delete the cache keys by pattern (/api/admin/cache/delete) instead, or send includeQueues: true.`,
      );
    }
    await redis.command(redis.driver === 'tcp' ? ['FLUSHDB', 'ASYNC'] : ['FLUSHDB']);
    const status = keys ? 'ok' : 'noop';
    const auditId = await auditAfter(ctx, {
      action: 'cache.flush',
      target: 'redis',
      params,
      before: { keys, queues: queues.length },
      after: { keys: 0 },
      result: status,
    });
    return { status, dryRun, summary: `Flushed this Redis database: ${keys} key(s) deleted${where}.`, count: keys, data: { queues: queues.slice(0, 20), queueCount: queues.length }, auditId };
  },
};
