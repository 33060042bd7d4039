import type { Statement } from '../db/index.js';
import { redactSecrets } from '../env.js';
import type { ActionContext } from './action.js';

/** Parameter names whose values never reach the audit log. */
const SECRET_KEYS = /pass(word)?|secret|token|key|authorization|cookie|confirm/i;

/** Parameters as the audit log keeps them: secrets replaced, strings bounded. */
export function redactParams(params: unknown): unknown {
  if (Array.isArray(params)) return params.slice(0, 50).map(redactParams);
  if (params && typeof params === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(params)) {
      if (k === 'dryRun') continue;
      out[k] = SECRET_KEYS.test(k) && k !== 'keyId' ? '[redacted]' : redactParams(v);
    }
    return out;
  }
  if (typeof params === 'string') return redactSecrets(params).slice(0, 500);
  return params;
}

export interface AuditEntry {
  action: string;
  target: string | null;
  params: unknown;
}

/**
 * One statement that makes a change and writes its audit row, atomically: the change lives in `ctes`
 * (data-modifying CTEs), `before`, `after` and `result` are SQL expressions over them. If the audit
 * insert fails, the whole statement fails and the change is rolled back with it.
 * `$n` in `ctes`/expressions refer to `params`; the audit's own parameters are appended after them.
 */
export function audited(ctx: ActionContext, entry: AuditEntry, sql: { ctes: string; before: string; after: string; result: string; params: unknown[]; select?: string }): Statement {
  const n = sql.params.length;
  const p = (i: number) => `$${n + i}`;
  const text = `WITH ${sql.ctes},
  audit AS (
    INSERT INTO opsbook.audit_log (actor, role, action, target, params, before, after, result, request_id, ip, user_agent, client_request_id, confirmed)
    SELECT ${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}, ${p(5)}::jsonb, ${sql.before}, ${sql.after}, ${sql.result}, ${p(6)}, ${p(7)}, ${p(8)}, ${p(9)}, ${p(10)}::boolean
    RETURNING id, result
  )
  SELECT (SELECT id FROM audit) AS audit_id, (SELECT result FROM audit) AS result, ${sql.before} AS before, ${sql.after} AS after${sql.select ? `, ${sql.select}` : ''}`;
  return {
    text,
    params: [
      ...sql.params,
      ctx.actor.name,
      ctx.actor.role,
      entry.action,
      entry.target,
      JSON.stringify(redactParams(entry.params)),
      ctx.requestId,
      ctx.ip,
      ctx.userAgent.slice(0, 300),
      ctx.clientRequestId ?? null,
      ctx.confirmed === true,
    ],
  };
}

/** A standalone audit row, for changes outside Postgres (Redis, queues): written right after the change. */
export function auditRow(ctx: ActionContext, entry: AuditEntry & { before?: unknown; after?: unknown; result: string }): Statement {
  return {
    text: `INSERT INTO opsbook.audit_log (actor, role, action, target, params, before, after, result, request_id, ip, user_agent, client_request_id, confirmed)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7::jsonb, $8, $9, $10, $11, $12, $13) RETURNING id`,
    params: [
      ctx.actor.name,
      ctx.actor.role,
      entry.action,
      entry.target,
      JSON.stringify(redactParams(entry.params)),
      entry.before === undefined ? null : JSON.stringify(entry.before),
      entry.after === undefined ? null : JSON.stringify(entry.after),
      entry.result,
      ctx.requestId,
      ctx.ip,
      ctx.userAgent.slice(0, 300),
      ctx.clientRequestId ?? null,
      ctx.confirmed === true,
    ],
  };
}

/**
 * The audit row of a change outside Postgres (a queue, Redis, a checklist run). Redis and Postgres cannot
 * share a transaction, so the row is written right after the change, in its own statement: if that insert
 * fails, the request fails (500) although the change happened, and the error with its request id is logged.
 */
export async function auditAfter(ctx: ActionContext, entry: Parameters<typeof auditRow>[1]): Promise<number> {
  const [res] = await ctx.deps.db.batch([auditRow(ctx, entry)], { readOnly: false });
  return Number((res!.rows[0] as { id: string }).id);
}
