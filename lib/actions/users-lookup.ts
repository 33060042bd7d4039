import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { maskedRow, notFound } from '../admin/app-rows.js';
import { apiKeysTable, invalidInput, usersTable } from '../admin/app-schema.js';

/** At most this many users are returned for one email (case variants of one address). */
const MAX_MATCHES = 10;

export const schema = z
  .object({
    email: z.string().min(1).max(320).optional(),
    id: z.string().min(1).max(128).optional(),
  })
  .superRefine((q, ctx) => {
    if ((q.email === undefined) === (q.id === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of email or id' });
  });
export type Params = z.output<typeof schema>;

export interface LookupMatch {
  /** The user's row, without sensitive columns or any column whose name looks secret. */
  user: Record<string, unknown>;
  /** Present when app.apiKeys is mapped; `active` when it maps revokedAt. */
  apiKeys?: { total: number; active?: number };
}

/**
 * `GET /api/admin/users?email=…` or `?id=…` — runbook 001's user lookup. Email matches
 * case-insensitively (`lower(email) = lower($1)`), so it may find more than one row; id matches
 * exactly, cast to the id column's type. No match is 404. Read-only: no audit row, no dry run.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'users.lookup',
  method: 'GET',
  path: '/api/admin/users',
  role: 'read',
  summary: 'Look up a user by email or id (secrets masked), with their API key count',
  schema,
  confirm: false,
  mutates: false,
  async run(ctx, params) {
    const [t, k] = await Promise.all([
      usersTable(ctx.deps.db, ctx.config, 'users.lookup', params.email !== undefined ? ['email'] : []),
      ctx.config.app.apiKeys ? apiKeysTable(ctx.deps.db, ctx.config, 'users.lookup', ['userId']) : Promise.resolve(undefined),
    ]);
    const id = t.columns.id!;
    const where = params.email !== undefined ? `lower(u.${t.columns.email!.ident}) = lower($1::text)` : `u.${id.ident} = $1::${id.type}`;
    let keys = '';
    if (k) {
      const owner = k.columns.userId!;
      const revoked = k.columns.revokedAt;
      const mine = `k.${owner.ident} = u.${id.ident}::${owner.type}`;
      keys = `, (SELECT count(*) FROM ${k.table} k WHERE ${mine}) AS keys_total`;
      if (revoked) keys += `, (SELECT count(*) FROM ${k.table} k WHERE ${mine} AND k.${revoked.ident} IS NULL) AS keys_active`;
    }
    let rows: Array<{ row: Record<string, unknown>; keys_total?: string | number; keys_active?: string | number }>;
    try {
      ({ rows } = await ctx.deps.db.query(
        `SELECT ${maskedRow('u', '$2')} AS row${keys} FROM ${t.table} u WHERE ${where} ORDER BY u.${id.ident} LIMIT ${MAX_MATCHES + 1}`,
        [params.email ?? params.id, t.sensitive],
      ));
    } catch (err) {
      invalidInput(err, params.email !== undefined ? 'email' : 'id');
    }
    const truncated = rows.length > MAX_MATCHES;
    const users: LookupMatch[] = rows.slice(0, MAX_MATCHES).map((r) => ({
      user: r.row,
      ...(r.keys_total !== undefined ? { apiKeys: { total: Number(r.keys_total), ...(r.keys_active !== undefined ? { active: Number(r.keys_active) } : {}) } } : {}),
    }));
    const by = params.email !== undefined ? `email ${params.email}` : `id ${params.id}`;
    if (users.length === 0) throw notFound(`No user with ${by}.`);
    return {
      status: 'ok',
      dryRun: false,
      summary: users.length === 1 ? `One user with ${by}.` : `${users.length}${truncated ? '+' : ''} users with ${by}.`,
      count: users.length,
      data: { users, ...(truncated ? { truncated: true } : {}) },
    };
  },
};
