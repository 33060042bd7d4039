import * as z from 'zod';
import type { ActionContext, ActionDefinition, ActionResult } from '../admin/action.js';
import { audited } from '../admin/audit.js';
import { invalidInput, maskedRow, timestampValue, usersTable, type ResolvedTable } from '../admin/app-schema.js';
import { OpsbookError } from '../errors.js';

/**
 * The status values the suspend / reinstate pair writes. They are runbook 000's (VIVIM: `status =
 * 'SUSPENDED'`), fixed on purpose: a status column is usually an enum (Prisma) that the app's code
 * switches on, and a value it does not know would break it. An enum without them is reported as
 * MISCONFIGURED.
 */
export const SUSPENDED = 'SUSPENDED';
export const ACTIVE = 'ACTIVE';

export const schema = z.object({
  userId: z.string().min(1).max(128),
  reason: z.string().min(1).max(500),
});
export type Params = z.output<typeof schema>;

/**
 * One audited change to one user row, shared by suspend, reinstate and delete: a dry run that reads
 * the row and says whether it would change, or one statement that locks the row, changes it when
 * `changes` holds (and `refuse` does not), and writes the audit row with before and after.
 *
 * Parameters: `$1` the user id, `$2` the sensitive column names, then `testValues` (used by `changes`
 * and `refuse`), then `setValues` (used only by `set`). Every value is bound; identifiers are the
 * catalog's, quoted.
 */
export interface UserUpdate {
  action: string;
  t: ResolvedTable;
  userId: string;
  /** The request's parameters, for the audit row. */
  params: unknown;
  /** Predicate over `u`: the row needs the change. */
  changes: string;
  /** Predicate over `u`: the change must not be made from this state (409, audited as `refused`). */
  refuse?: string;
  /** SET list, over `u`. */
  set: string;
  testValues: unknown[];
  setValues: unknown[];
  /** What the change sets, by column, shown by the dry run. */
  preview: Record<string, unknown>;
  words: { would: string; done: string; already: string; refused?: (before: Record<string, unknown> | null) => string };
}

export async function updateUser(ctx: ActionContext, u: UserUpdate, dryRun: boolean): Promise<ActionResult> {
  const id = u.t.columns.id!;
  const where = `u.${id.ident} = $1::${id.type}`;
  const row = maskedRow('u', '$2');
  const refuse = `COALESCE((${u.refuse ?? 'false'}), false)`;
  const who = `user ${u.userId}`;
  try {
    if (dryRun) {
      const { rows } = await ctx.deps.db.query<{ row: Record<string, unknown>; changes: boolean | null; refused: boolean }>(
        `SELECT ${row} AS row, (${u.changes}) AS changes, ${refuse} AS refused FROM ${u.t.table} u WHERE ${where}`,
        [u.userId, u.t.sensitive, ...u.testValues],
      );
      const r = rows[0];
      if (!r) return { status: 'not-found', dryRun, summary: `No ${who}.`, count: 0 };
      if (r.refused) throw new OpsbookError('CONFLICT', refusedMessage(u, r.row));
      const changes = r.changes === true;
      return {
        status: changes ? 'ok' : 'noop',
        dryRun,
        summary: changes ? `Would ${u.words.would} ${who}.` : `User ${u.userId} is already ${u.words.already}.`,
        count: changes ? 1 : 0,
        sample: [r.row],
        ...(changes ? { data: { set: u.preview } } : {}),
      };
    }
    const [res] = await ctx.deps.db.batch(
      [
        audited(ctx, { action: u.action, target: `user:${u.userId}`, params: u.params }, {
          ctes: `target AS (SELECT ${row} AS row, ${refuse} AS refused FROM ${u.t.table} u WHERE ${where} FOR UPDATE),
            changed AS (UPDATE ${u.t.table} u SET ${u.set} WHERE ${where} AND (${u.changes}) AND NOT ${refuse} RETURNING ${row} AS row)`,
          before: '(SELECT row FROM target)',
          after: 'COALESCE((SELECT row FROM changed), (SELECT row FROM target))',
          result: `CASE WHEN NOT EXISTS (SELECT 1 FROM target) THEN 'not-found' WHEN (SELECT refused FROM target) THEN 'refused' WHEN EXISTS (SELECT 1 FROM changed) THEN 'ok' ELSE 'noop' END`,
          params: [u.userId, u.t.sensitive, ...u.testValues, ...u.setValues],
        }),
      ],
      { readOnly: false },
    );
    const r = res!.rows[0] as { audit_id: string; result: 'ok' | 'noop' | 'not-found' | 'refused'; before: Record<string, unknown> | null; after: unknown };
    // Refused: nothing changed, and the attempt is in the audit log.
    if (r.result === 'refused') throw new OpsbookError('CONFLICT', refusedMessage(u, r.before), { details: { auditId: Number(r.audit_id) } });
    return {
      status: r.result,
      dryRun,
      summary: r.result === 'not-found' ? `No ${who}.` : r.result === 'noop' ? `User ${u.userId} was already ${u.words.already}.` : `User ${u.userId} ${u.words.done}.`,
      count: r.result === 'ok' ? 1 : 0,
      sample: r.after ? [r.after] : [],
      auditId: Number(r.audit_id),
    };
  } catch (err) {
    if (err instanceof OpsbookError) throw err;
    return userInputError(err, u.t);
  }
}

function refusedMessage(u: UserUpdate, before: Record<string, unknown> | null): string {
  return u.words.refused?.(before) ?? `User ${u.userId} cannot be changed from its current state.`;
}

/** Driver errors that are the caller's input or the operator's mapping, not ours. */
export function userInputError(err: unknown, t: ResolvedTable, field = 'userId'): never {
  const e = err as { code?: string; message?: string };
  // An enum status column without SUSPENDED / ACTIVE: the operator's schema, not the request.
  const status = t.columns.status;
  if (e.code === '22P02' && status && /enum/.test(e.message ?? '') && new RegExp(`"(${SUSPENDED}|${ACTIVE})"`).test(e.message ?? '') && status.type !== t.columns.id!.type) {
    throw new OpsbookError('MISCONFIGURED', `app.users.columns.status: its type ${status.type} has no value '${SUSPENDED}' or '${ACTIVE}'.`);
  }
  if (e.code === '22001') throw new OpsbookError('BAD_REQUEST', 'A value is longer than its column allows.');
  return invalidInput(err, field);
}

/**
 * `POST /api/admin/users/suspend` `{"userId","reason"}` — runbook 000's suspension: status
 * 'SUSPENDED', suspendedAt = now, suspensionReason = reason, in one audited statement. Suspending a
 * suspended user is a no-op (the first suspension's time and reason stay), still audited.
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
    const t = await usersTable(ctx.deps.db, ctx.config, ['status', 'suspendedAt', 'suspensionReason']);
    const status = t.columns.status!;
    const suspendedAt = t.columns.suspendedAt!;
    const suspensionReason = t.columns.suspensionReason!;
    const names = ctx.config.app.users!.columns;
    const now = ctx.now.toISOString();
    return updateUser(
      ctx,
      {
        action: 'users.suspend',
        t,
        userId: params.userId,
        params,
        changes: `u.${status.ident} IS DISTINCT FROM $3::${status.type}`,
        set: `${status.ident} = $3::${status.type}, ${suspendedAt.ident} = ${timestampValue('$4', suspendedAt)}, ${suspensionReason.ident} = $5::text`,
        testValues: [SUSPENDED],
        setValues: [now, params.reason],
        preview: { [names.status!]: SUSPENDED, [names.suspendedAt!]: now, [names.suspensionReason!]: params.reason },
        words: { would: 'suspend', done: 'suspended', already: 'suspended' },
      },
      dryRun,
    );
  },
};
