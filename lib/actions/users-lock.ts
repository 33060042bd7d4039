import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { refusedState, stateChange, updateUser } from '../admin/app-rows.js';
import { usersTable } from '../admin/app-schema.js';

export const schema = z.object({
  userId: z.string().min(1).max(128),
  locked: z.boolean(),
  reason: z.string().max(500).optional(),
});
export type Params = z.output<typeof schema>;

/**
 * `POST /api/admin/users/lock` `{"userId","locked":true}` — the exact path and body of runbook 003.
 * The lock is `app.users.locked` (a state column: `{ column: 'status', value: 'LOCKED' }`) or
 * `app.users.columns.locked` (a boolean column). Single-target, so it runs directly. Locking a locked
 * user is a no-op, still audited; on a status column a user in another state (suspended, banned) is
 * refused with 409, so the lock never erases it.
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
    const t = await usersTable(ctx.deps.db, ctx.config, 'users.lock');
    const state = t.states.locked!;
    const change = stateChange(state, params.locked);
    const verb = params.locked ? 'lock' : 'unlock';
    return updateUser(
      ctx,
      {
        action: 'users.lock',
        t,
        userId: params.userId,
        params,
        ...change,
        setValues: [],
        words: { would: verb, done: `${verb}ed`, already: `${verb}ed`, refused: refusedState(params.userId, state, params.locked, verb) },
      },
      dryRun,
    );
  },
};
