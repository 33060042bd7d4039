import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { refusedState, stateChange, updateUser } from '../admin/app-rows.js';
import { usersTable } from '../admin/app-schema.js';

export const schema = z.object({
  userId: z.string().min(1).max(128),
});
export type Params = z.output<typeof schema>;

/**
 * `POST /api/admin/users/reinstate` `{"userId"}` — undoes a suspension: the suspended state's clear
 * value (by default status 'ACTIVE'), and suspendedAt / suspensionReason cleared when they are mapped.
 * An active user is a no-op, still audited. Only a suspension is lifted: a user in any other state (a
 * NULL status, 'BANNED', 'PENDING', 'LOCKED', …) is refused with 409 and the attempt audited, so
 * reinstate cannot skip the app's own verification, bans or locks.
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
    const t = await usersTable(ctx.deps.db, ctx.config, 'users.reinstate');
    const state = t.states.suspended!;
    const names = ctx.config.app.users!.columns;
    const cleared = [t.columns.suspendedAt, t.columns.suspensionReason].filter((c) => c !== undefined);
    const change = stateChange(state, false);
    return updateUser(
      ctx,
      {
        action: 'users.reinstate',
        t,
        userId: params.userId,
        params,
        ...change,
        changes: [change.changes, ...cleared.map((c) => `u.${c.ident} IS NOT NULL`)].join(' OR '),
        set: [change.set, ...cleared.map((c) => `${c.ident} = NULL`)].join(', '),
        setValues: [],
        preview: {
          ...change.preview,
          ...(names.suspendedAt ? { [names.suspendedAt]: null } : {}),
          ...(names.suspensionReason ? { [names.suspensionReason]: null } : {}),
        },
        words: { would: 'reinstate', done: 'reinstated', already: 'active', refused: refusedState(params.userId, state, false, 'reinstate') },
      },
      dryRun,
    );
  },
};
