import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { refusedState, stateChange, updateUser } from '../admin/app-rows.js';
import { timestampValue, usersTable } from '../admin/app-schema.js';

export const schema = z.object({
  userId: z.string().min(1).max(128),
  reason: z.string().min(1).max(500),
});
export type Params = z.output<typeof schema>;

/**
 * `POST /api/admin/users/suspend` `{"userId","reason"}` — runbook 000's suspension: the suspended
 * state (by default status 'SUSPENDED'; `app.users.suspended` for another column or value),
 * suspendedAt = now, suspensionReason = reason, in one audited statement. Suspending a suspended user
 * is a no-op (the first suspension's time and reason stay), still audited. On a status column only an
 * active user is suspended: a banned or pending one is refused with 409, so a later reinstate cannot
 * turn it active.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'users.suspend',
  method: 'POST',
  path: '/api/admin/users/suspend',
  role: 'operate',
  summary: "Suspend a user account (status 'SUSPENDED', with the time and reason)",
  schema,
  confirm: false,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const t = await usersTable(ctx.deps.db, ctx.config, 'users.suspend');
    const state = t.states.suspended!;
    const suspendedAt = t.columns.suspendedAt!;
    const suspensionReason = t.columns.suspensionReason!;
    const names = ctx.config.app.users!.columns;
    const now = ctx.now.toISOString();
    const change = stateChange(state, true);
    const n = 3 + change.testValues.length;
    return updateUser(
      ctx,
      {
        action: 'users.suspend',
        t,
        userId: params.userId,
        params,
        ...change,
        set: `${change.set}, ${suspendedAt.ident} = ${timestampValue(`$${n}`, suspendedAt)}, ${suspensionReason.ident} = $${n + 1}::text`,
        setValues: [now, params.reason],
        preview: { ...change.preview, [names.suspendedAt!]: now, [names.suspensionReason!]: params.reason },
        words: { would: 'suspend', done: 'suspended', already: 'suspended', refused: refusedState(params.userId, state, true, 'suspend') },
      },
      dryRun,
    );
  },
};
