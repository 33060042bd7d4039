import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { audited } from '../admin/audit.js';
import { invalidInput, usersTable } from '../admin/app-schema.js';

export const schema = z.object({
  userId: z.string().min(1).max(128),
  locked: z.boolean(),
  reason: z.string().max(500).optional(),
});
export type Params = z.output<typeof schema>;

/**
 * `POST /api/admin/users/lock` `{"userId","locked":true}` — the exact path and body of runbook 003.
 * Single-target, so it runs directly. Locking a locked user is a no-op, still audited.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'users.lock',
  method: 'POST',
  path: '/api/admin/users/lock',
  role: 'operate',
  summary: 'Lock or unlock a user account',
  schema,
  confirm: false,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const t = await usersTable(ctx.deps.db, ctx.config, ['locked']);
    const id = t.columns.id!;
    const locked = t.columns.locked!;
    const where = `${id.ident} = $1::${id.type}`;
    const strip = `- $3::text[]`;
    try {
      if (dryRun) {
        const { rows } = await ctx.deps.db.query<{ row: unknown; changes: boolean }>(
          `SELECT to_jsonb(u) ${strip} AS row, (u.${locked.ident} IS DISTINCT FROM $2) AS changes FROM ${t.table} u WHERE ${where}`,
          [params.userId, params.locked, t.sensitive],
        );
        const row = rows[0];
        if (!row) return { status: 'not-found', dryRun, summary: `No user ${params.userId}.`, count: 0 };
        return { status: row.changes ? 'ok' : 'noop', dryRun, summary: row.changes ? `Would ${params.locked ? 'lock' : 'unlock'} user ${params.userId}.` : `User ${params.userId} is already ${params.locked ? 'locked' : 'unlocked'}.`, count: row.changes ? 1 : 0, sample: [row.row] };
      }
      const [res] = await ctx.deps.db.batch(
        [
          audited(ctx, { action: 'users.lock', target: `user:${params.userId}`, params }, {
            ctes: `target AS (SELECT to_jsonb(u) ${strip} AS row FROM ${t.table} u WHERE ${where} FOR UPDATE),
              changed AS (UPDATE ${t.table} u SET ${locked.ident} = $2 WHERE ${where} AND u.${locked.ident} IS DISTINCT FROM $2 RETURNING to_jsonb(u) ${strip} AS row)`,
            before: '(SELECT row FROM target)',
            after: 'COALESCE((SELECT row FROM changed), (SELECT row FROM target))',
            result: `CASE WHEN NOT EXISTS (SELECT 1 FROM target) THEN 'not-found' WHEN EXISTS (SELECT 1 FROM changed) THEN 'ok' ELSE 'noop' END`,
            params: [params.userId, params.locked, t.sensitive],
          }),
        ],
        { readOnly: false },
      );
      const row = res!.rows[0] as { audit_id: string; result: 'ok' | 'noop' | 'not-found'; after: unknown };
      const verb = params.locked ? 'locked' : 'unlocked';
      return {
        status: row.result,
        dryRun,
        summary: row.result === 'not-found' ? `No user ${params.userId}.` : row.result === 'noop' ? `User ${params.userId} was already ${verb}.` : `User ${params.userId} ${verb}.`,
        count: row.result === 'ok' ? 1 : 0,
        sample: row.after ? [row.after] : [],
        auditId: Number(row.audit_id),
      };
    } catch (err) {
      invalidInput(err, 'userId');
    }
  },
};
