import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { usersTable } from '../admin/app-schema.js';
import { ACTIVE, SUSPENDED, updateUser } from './users-suspend.js';

export const schema = z.object({
  userId: z.string().min(1).max(128),
});
export type Params = z.output<typeof schema>;

/**
 * `POST /api/admin/users/reinstate` `{"userId"}` — undoes a suspension: status 'ACTIVE', and
 * suspendedAt / suspensionReason cleared when they are mapped. An active user is a no-op, still audited.
 * Only a suspension is lifted: a user in any other state (a NULL status, 'BANNED', 'PENDING', …) is
 * refused with 409 and the attempt audited, so reinstate cannot skip the app's own verification or bans.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'users.reinstate',
  method: 'POST',
  path: '/api/admin/users/reinstate',
  role: 'operate',
  summary: "Lift a user's suspension (status 'ACTIVE', suspension time and reason cleared)",
  schema,
  confirm: false,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const t = await usersTable(ctx.deps.db, ctx.config, ['status']);
    const status = t.columns.status!;
    const names = ctx.config.app.users!.columns;
    const cleared = [t.columns.suspendedAt, t.columns.suspensionReason].filter((c) => c !== undefined);
    const st = `$3::${status.type}`;
    return updateUser(
      ctx,
      {
        action: 'users.reinstate',
        t,
        userId: params.userId,
        params,
        changes: [`u.${status.ident} IS DISTINCT FROM ${st}`, ...cleared.map((c) => `u.${c.ident} IS NOT NULL`)].join(' OR '),
        refuse: `NOT COALESCE(u.${status.ident} IN (${st}, $4::${status.type}), false)`,
        set: [`${status.ident} = ${st}`, ...cleared.map((c) => `${c.ident} = NULL`)].join(', '),
        testValues: [ACTIVE, SUSPENDED],
        setValues: [],
        preview: {
          [names.status!]: ACTIVE,
          ...(names.suspendedAt ? { [names.suspendedAt]: null } : {}),
          ...(names.suspensionReason ? { [names.suspensionReason]: null } : {}),
        },
        words: {
          would: 'reinstate',
          done: 'reinstated',
          already: 'active',
          refused: (before) => {
            const current = before?.[names.status!];
            return `User ${params.userId} is not suspended (status ${current === undefined ? 'unknown' : JSON.stringify(current)}): reinstate only lifts a '${SUSPENDED}' status.`;
          },
        },
      },
      dryRun,
    );
  },
};
