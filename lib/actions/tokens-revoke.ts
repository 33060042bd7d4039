import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { audited } from '../admin/audit.js';
import { OpsbookError } from '../errors.js';
import { notFound } from '../admin/app-rows.js';
import { tokenName } from '../admin/fields.js';

export const schema = z.object({
  name: tokenName.optional().describe('The token\'s name (give this or id).'),
  id: z.number().int().positive().max(Number.MAX_SAFE_INTEGER).optional().describe('The token\'s id (give this or name).'),
});
export type Params = z.output<typeof schema>;

const ROW = (t: string, revokedAt = `${t}.revoked_at`) =>
  `jsonb_build_object('id', ${t}.id, 'name', ${t}.name, 'role', ${t}.role, 'prefix', ${t}.prefix, 'revokedAt', ${revokedAt})`;

/**
 * `POST /api/admin/tokens/revoke` `{"name"}` or `{"id"}` — sets revoked_at. Stored tokens are checked
 * on every request (no cache), so the token is refused from the next request on. Revoking a revoked
 * token is a no-op, still audited.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'tokens.revoke',
  method: 'POST',
  path: '/api/admin/tokens/revoke',
  role: 'admin',
  summary: 'Revoke an API token by name or id',
  schema,
  confirm: false,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    if ((params.name === undefined) === (params.id === undefined)) {
      throw new OpsbookError('BAD_REQUEST', 'Give exactly one of "name" or "id".');
    }
    const byName = params.name !== undefined;
    const where = byName ? 'name = $1' : 'id = $1::bigint';
    const key = byName ? params.name! : params.id!;
    const label = byName ? `"${params.name}"` : `#${params.id}`;
    const { db } = ctx.deps;
    if (dryRun) {
      const { rows } = await db.query<{ row: unknown; active: boolean }>(
        `SELECT ${ROW('t')} AS row, t.revoked_at IS NULL AS active FROM opsbook.tokens t WHERE ${where} ORDER BY t.id`,
        [key],
      );
      if (rows.length === 0) throw notFound(`No token ${label}.`);
      const active = rows.filter((r) => r.active).length;
      return { status: active ? 'ok' : 'noop', dryRun, summary: active ? `Would revoke token ${label}.` : `Token ${label} is already revoked.`, count: active, sample: rows.map((r) => r.row) };
    }
    const [res] = await db.batch(
      [
        audited(ctx, { action: 'tokens.revoke', target: byName ? `token:${params.name}` : `token#${params.id}`, params }, {
          ctes: `target AS (SELECT id, name, role, prefix, revoked_at FROM opsbook.tokens WHERE ${where} FOR UPDATE),
            changed AS (UPDATE opsbook.tokens t SET revoked_at = $2::timestamptz WHERE t.id IN (SELECT id FROM target WHERE revoked_at IS NULL) RETURNING t.id, t.revoked_at)`,
          before: `(SELECT jsonb_agg(${ROW('t')} ORDER BY t.id) FROM target t)`,
          after: `(SELECT jsonb_agg(${ROW('t', 'COALESCE(c.revoked_at, t.revoked_at)')} ORDER BY t.id) FROM target t LEFT JOIN changed c ON c.id = t.id)`,
          result: `CASE WHEN NOT EXISTS (SELECT 1 FROM target) THEN 'not-found' WHEN EXISTS (SELECT 1 FROM changed) THEN 'ok' ELSE 'noop' END`,
          params: [key, ctx.now.toISOString()],
          select: '(SELECT count(*) FROM changed)::int AS revoked',
        }),
      ],
      { readOnly: false },
    );
    const row = res!.rows[0] as { audit_id: string; result: 'ok' | 'noop' | 'not-found'; after: unknown[] | null; revoked: number };
    if (row.result === 'not-found') throw notFound(`No token ${label}.`, Number(row.audit_id));
    return {
      status: row.result,
      dryRun,
      summary: row.result === 'noop' ? `Token ${label} was already revoked.` : `Token ${label} revoked: it is refused from now on.`,
      count: Number(row.revoked),
      sample: row.after ?? [],
      auditId: Number(row.audit_id),
    };
  },
};
