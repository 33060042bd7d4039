import * as z from 'zod';
import type { ActionDefinition, ActionResult } from '../admin/action.js';
import { audited } from '../admin/audit.js';
import { maskedRow, notFound } from '../admin/app-rows.js';
import { apiKeysTable, invalidInput, timestampValue } from '../admin/app-schema.js';
import { OpsbookError } from '../errors.js';

/** Rows shown by a dry run or an answer; the count is always exact. */
const SAMPLE = 20;
/** Rows kept in the audit row's before/after for a bulk revoke; the count is always exact. */
const AUDIT_ROWS = 100;

export const schema = z
  .object({
    keyId: z.string().min(1).max(128).optional(),
    userId: z.string().min(1).max(128).optional(),
  })
  .superRefine((p, ctx) => {
    if ((p.keyId === undefined) === (p.userId === undefined)) ctx.addIssue({ code: 'custom', message: 'give exactly one of keyId or userId' });
  });
export type Params = z.output<typeof schema>;

/**
 * `POST /api/admin/api-keys/revoke` `{"keyId"}` or `{"userId"}` — runbook 000's key revocation.
 * With app.apiKeys.columns.revokedAt mapped it is a soft revoke (revokedAt = now; an already revoked
 * key is a no-op); without it, runbook 000's `DELETE FROM api_keys WHERE id = …` (a key that is
 * already gone is 404 not-found: a deleted key leaves nothing to tell "revoked" from "never existed").
 * By userId it revokes every key of that user: bulk, so it needs the confirm token of its dry run.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'api-keys.revoke',
  method: 'POST',
  path: '/api/admin/api-keys/revoke',
  role: 'operate',
  summary: "Revoke one API key, or (bulk, with confirmation) all of a user's keys",
  schema,
  confirm: (p) => p.userId !== undefined,
  mutates: true,
  async run(ctx, params, { dryRun }): Promise<ActionResult> {
    const t = await apiKeysTable(ctx.deps.db, ctx.config, 'api-keys.revoke');
    const revokedAt = t.columns.revokedAt;
    const bulk = params.userId !== undefined;
    const value = (bulk ? params.userId : params.keyId)!;
    const col = bulk ? t.columns.userId! : t.columns.id!;
    const where = `k.${col.ident} = $1::${col.type}`;
    const live = revokedAt ? `${where} AND k.${revokedAt.ident} IS NULL` : where;
    // The key table's own secret (`key`, `hashedKey`, `key_hash`…) matches the shared secret pattern.
    const row = maskedRow('k', '$2');
    const set = revokedAt ? `${revokedAt.ident} = ${timestampValue('$3', revokedAt)}` : '';
    const what = bulk ? `the API keys of user ${value}` : `API key ${value}`;
    const db = ctx.deps.db;
    try {
      if (dryRun && bulk) {
        const { rows } = await db.query<{ n: string; sample: unknown[] }>(
          `SELECT (SELECT count(*) FROM ${t.table} k WHERE ${live}) AS n,
                  (SELECT COALESCE(jsonb_agg(s.row), '[]'::jsonb) FROM (SELECT ${row} AS row FROM ${t.table} k WHERE ${live} ORDER BY k.${t.columns.id!.ident} LIMIT ${SAMPLE}) s) AS sample`,
          [value, t.sensitive],
        );
        const n = Number(rows[0]!.n);
        return { status: n ? 'ok' : 'noop', dryRun, summary: n ? `Would revoke ${n} API key(s) of user ${value}.` : `User ${value} has no ${revokedAt ? 'active ' : ''}API keys.`, count: n, sample: rows[0]!.sample };
      }
      if (dryRun) {
        const { rows } = await db.query<{ row: unknown; changes: boolean }>(
          `SELECT ${row} AS row, ${revokedAt ? `(k.${revokedAt.ident} IS NULL)` : 'true'} AS changes FROM ${t.table} k WHERE ${where}`,
          [value, t.sensitive],
        );
        const r = rows[0];
        if (!r) throw notFound(`No ${what}.`);
        return { status: r.changes ? 'ok' : 'noop', dryRun, summary: r.changes ? `Would revoke ${what}.` : `${cap(what)} is already revoked.`, count: r.changes ? 1 : 0, sample: [r.row] };
      }

      // One statement: the change and its audit row. Soft revoke is an UPDATE, otherwise a DELETE.
      const change = revokedAt
        ? `UPDATE ${t.table} k SET ${set} WHERE ${live} RETURNING ${row} AS row`
        : `DELETE FROM ${t.table} k WHERE ${where} RETURNING ${row} AS row`;
      const values = revokedAt ? [value, t.sensitive, ctx.now.toISOString()] : [value, t.sensitive];
      const entry = { action: 'api-keys.revoke', target: bulk ? `user:${value}` : `api-key:${value}`, params };
      const sample = `(SELECT COALESCE(jsonb_agg(s.row), '[]'::jsonb) FROM (SELECT row FROM changed LIMIT ${SAMPLE}) s) AS sample, (SELECT count(*) FROM changed) AS n`;
      const stmt = bulk
        ? audited(ctx, entry, {
            ctes: `target AS (SELECT ${row} AS row FROM ${t.table} k WHERE ${live} FOR UPDATE), changed AS (${change})`,
            before: `jsonb_build_object('count', (SELECT count(*) FROM target), 'keys', (SELECT COALESCE(jsonb_agg(s.row), '[]'::jsonb) FROM (SELECT row FROM target LIMIT ${AUDIT_ROWS}) s))`,
            after: revokedAt
              ? `jsonb_build_object('count', (SELECT count(*) FROM changed), 'keys', (SELECT COALESCE(jsonb_agg(s.row), '[]'::jsonb) FROM (SELECT row FROM changed LIMIT ${AUDIT_ROWS}) s))`
              : 'NULL::jsonb',
            result: `CASE WHEN EXISTS (SELECT 1 FROM changed) THEN 'ok' ELSE 'noop' END`,
            params: values,
            select: sample,
          })
        : audited(ctx, entry, {
            ctes: `target AS (SELECT ${row} AS row FROM ${t.table} k WHERE ${where} FOR UPDATE), changed AS (${change})`,
            before: '(SELECT row FROM target)',
            after: revokedAt ? 'COALESCE((SELECT row FROM changed), (SELECT row FROM target))' : 'NULL::jsonb',
            result: `CASE WHEN NOT EXISTS (SELECT 1 FROM target) THEN 'not-found' WHEN EXISTS (SELECT 1 FROM changed) THEN 'ok' ELSE 'noop' END`,
            params: values,
            select: sample,
          });
      const [res] = await db.batch([stmt], { readOnly: false });
      const r = res!.rows[0] as { audit_id: string; result: 'ok' | 'noop' | 'not-found'; before: unknown; after: unknown; sample: unknown[]; n: string };
      const n = Number(r.n);
      if (r.result === 'not-found') throw notFound(`No ${what}${revokedAt ? '' : ' (already deleted, or never existed)'}.`, Number(r.audit_id));
      const verb = revokedAt ? 'Revoked' : 'Deleted';
      const summary =
        r.result === 'noop'
          ? bulk
            ? `User ${value} has no ${revokedAt ? 'active ' : ''}API keys.`
            : `${cap(what)} was already revoked.`
          : bulk
            ? `${verb} ${n} API key(s) of user ${value}.`
            : `${verb} ${what}.`;
      return {
        status: r.result,
        dryRun,
        summary,
        count: n,
        sample: bulk ? r.sample : [revokedAt ? r.after : r.before].filter((x) => x !== null && x !== undefined),
        auditId: Number(r.audit_id),
      };
    } catch (err) {
      if (err instanceof OpsbookError) throw err;
      invalidInput(err, bulk ? 'userId' : 'keyId');
    }
  },
};

function cap(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
