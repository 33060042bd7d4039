import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { updateUser } from '../admin/app-rows.js';
import { timestampValue, usersTable } from '../admin/app-schema.js';

export const schema = z.object({
  userId: z.string().min(1).max(128),
});
export type Params = z.output<typeof schema>;

/**
 * `POST /api/admin/users/delete` `{"userId"}` — runbook 001's soft delete (`deleted_at = NOW()`): the
 * row stays, deletedAt is set to the request's time. Never a hard DELETE. Deleting a deleted user is a
 * no-op (the first deletion time stays), still audited.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'users.delete',
  method: 'POST',
  path: '/api/admin/users/delete',
  role: 'operate',
  summary: 'Soft-delete a user account (deletedAt = now)',
  schema,
  confirm: false,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const t = await usersTable(ctx.deps.db, ctx.config, 'users.delete');
    const deletedAt = t.columns.deletedAt!;
    const now = ctx.now.toISOString();
    return updateUser(
      ctx,
      {
        action: 'users.delete',
        t,
        userId: params.userId,
        params,
        changes: `u.${deletedAt.ident} IS NULL`,
        set: `${deletedAt.ident} = ${timestampValue('$3', deletedAt)}`,
        testValues: [],
        setValues: [now],
        preview: { [ctx.config.app.users!.columns.deletedAt!]: now },
        words: { would: 'soft-delete', done: 'soft-deleted', already: 'deleted' },
      },
      dryRun,
    );
  },
};
