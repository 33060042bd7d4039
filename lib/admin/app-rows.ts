import type { ActionContext, ActionResult } from './action.js';
import { audited } from './audit.js';
import { invalidInput, type ResolvedState, type ResolvedTable } from './app-schema.js';
import { OpsbookError } from '../errors.js';

/**
 * The one path by which admin actions read and change rows of the app's own tables (users, API keys):
 * every row that leaves Postgres, in an answer or in an audit row's before/after, is built by
 * `maskedRow`, so no action can return or audit a column whose name looks secret.
 */

/**
 * Column names that look secret, matched case-insensitively anywhere in the name: never returned or
 * audited, whatever `sensitive` lists. Broad on purpose: hiding a harmless column costs a lookup a
 * field, showing `reset_token` or `totp_secret` hands over an account. `key` covers `api_key`,
 * `apiKey`, `hashedKey`; `digest` Rails' `password_digest`; `otp` and `seed` TOTP seeds; `session`,
 * `cookie` and `auth` session and OAuth material.
 */
export const SECRET_COLUMN_PATTERN = 'pass|secret|token|hash|digest|salt|key|otp|seed|credential|private|cookie|session|signature|nonce|recovery|auth|cipher|encrypted';

/** The same names as a JavaScript test, for tests and callers that check rows already read. */
export const SECRET_COLUMN_RE = new RegExp(SECRET_COLUMN_PATTERN, 'i');

/**
 * SQL for the row `alias` as jsonb, masked: without the configured sensitive columns (`sensitiveParam`,
 * a text[] parameter such as `$2`) and without any column whose name matches SECRET_COLUMN_PATTERN.
 */
export function maskedRow(alias: string, sensitiveParam: string): string {
  return `(SELECT COALESCE(jsonb_object_agg(m.key, m.value), '{}'::jsonb) FROM jsonb_each(to_jsonb(${alias}) - ${sensitiveParam}::text[]) m WHERE m.key !~* '${SECRET_COLUMN_PATTERN}')`;
}

/** A row that is not there: 404 in the error shape, so `curl -f` and scripts fail. */
export function notFound(message: string, auditId?: number): OpsbookError {
  return new OpsbookError('NOT_FOUND', message, auditId === undefined ? {} : { details: { auditId } });
}

/**
 * One audited change to one user row, shared by lock, suspend, reinstate and delete: a dry run that
 * reads the row and says whether it would change, or one statement that locks the row, changes it when
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
      if (!r) throw notFound(`No ${who}.`);
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
    // Not found and refused: nothing changed, and the attempt is in the audit log.
    if (r.result === 'not-found') throw notFound(`No ${who}.`, Number(r.audit_id));
    if (r.result === 'refused') throw new OpsbookError('CONFLICT', refusedMessage(u, r.before), { details: { auditId: Number(r.audit_id) } });
    return {
      status: r.result,
      dryRun,
      summary: r.result === 'noop' ? `User ${u.userId} was already ${u.words.already}.` : `User ${u.userId} ${u.words.done}.`,
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
  // A state value its enum column does not have: the operator's schema, not the request. (Normally
  // found before the statement, by inspectTable; this covers an enum altered since.)
  for (const s of Object.values(t.states)) {
    const quoted = [s.value, s.clear].map((v) => `"${v}"`);
    if (e.code === '22P02' && /enum/.test(e.message ?? '') && quoted.some((q) => (e.message ?? '').includes(q)) && s.type !== t.columns.id!.type) {
      throw new OpsbookError('MISCONFIGURED', `${s.path}: its type ${s.type} has no value '${s.value}' or '${s.clear}'.`);
    }
  }
  if (e.code === '22001') throw new OpsbookError('BAD_REQUEST', 'A value is longer than its column allows.');
  return invalidInput(err, field);
}

/**
 * The pieces of a UserUpdate that move a user into a state (`on`) or out of it, the same for lock and
 * suspend: `$3` is the value written, `$4` (not boolean) the one it may come from; further parameters start at
 * `$${3 + testValues.length}`. A boolean column just flips. Any
 * other column moves only between the two configured values: a user in a third state (banned, pending,
 * or another state sharing the column) is refused, so lock / unlock / reinstate never erase it.
 */
export function stateChange(s: ResolvedState, on: boolean): Pick<UserUpdate, 'changes' | 'refuse' | 'set' | 'testValues'> & { to: string; preview: Record<string, unknown> } {
  const to = on ? s.value : s.clear;
  const from = on ? s.clear : s.value;
  const target = `$3::text::${s.type}`;
  return {
    to,
    changes: `u.${s.ident} IS DISTINCT FROM ${target}`,
    // A parameter no statement uses has no type, so the boolean case binds only `$3`.
    ...(s.boolean ? { testValues: [to] } : { refuse: `NOT COALESCE(u.${s.ident} IN (${target}, $4::text::${s.type}), false)`, testValues: [to, from] }),
    set: `${s.ident} = ${target}`,
    preview: { [s.name]: s.boolean ? to === 'true' : to },
  };
}

/** The 409 message for a user in a state that `stateChange` refuses. */
export function refusedState(userId: string, s: ResolvedState, on: boolean, verb: string): (before: Record<string, unknown> | null) => string {
  return (before) => {
    const current = before?.[s.name];
    const from = on ? s.clear : s.value;
    return `User ${userId} has ${s.name} ${current === undefined ? 'unknown' : JSON.stringify(current)}: ${verb} only changes a user whose ${s.name} is '${from}'.`;
  };
}
