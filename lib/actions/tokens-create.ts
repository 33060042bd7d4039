import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { audited } from '../admin/audit.js';
import { generateToken, hashToken, tokenPrefix } from '../admin/tokens.js';
import { ROLES } from '../auth.js';
import { OpsbookError } from '../errors.js';
import { tokenName } from '../admin/fields.js';


export const schema = z.object({
  name: tokenName,
  role: z.enum(ROLES),
});
export type Params = z.output<typeof schema>;

/**
 * `POST /api/admin/tokens` `{"name","role"}` — creates a stored token and answers it ONCE in
 * `data.token`. Only its SHA-256 and its first characters (the prefix) are kept; the audit row holds the
 * name, role and prefix, never the token. A name held by an active token is a 409: the audit log and the
 * per-token rate limit know callers by name, so two live tokens must not share one.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'tokens.create',
  method: 'POST',
  path: '/api/admin/tokens',
  role: 'admin',
  summary: 'Create an API token (shown once)',
  schema,
  confirm: false,
  mutates: true,
  secretResponse: true,
  async run(ctx, params, { dryRun }) {
    const { db } = ctx.deps;
    if (dryRun) {
      const { rows } = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM opsbook.tokens WHERE name = $1 AND revoked_at IS NULL`, [params.name]);
      if (rows[0]!.n > 0) throw nameTaken(params.name);
      return { status: 'ok', dryRun, summary: `Would create a ${params.role} token named "${params.name}".`, count: 1, sample: [{ name: params.name, role: params.role }] };
    }
    const token = generateToken();
    const prefix = tokenPrefix(token);
    // The advisory lock serialises creates of one name, so "no active token has this name" holds.
    const [, res] = await db.batch(
      [
        { text: `SELECT pg_advisory_xact_lock(hashtext('opsbook.tokens.name'), hashtext($1))`, params: [params.name] },
        audited(ctx, { action: 'tokens.create', target: `token:${params.name}`, params: { name: params.name, role: params.role, prefix } }, {
          ctes: `created AS (
              INSERT INTO opsbook.tokens (name, role, hash, prefix, created_by, created_at)
              SELECT $1, $2, $3, $4, $5, $6::timestamptz
              WHERE NOT EXISTS (SELECT 1 FROM opsbook.tokens WHERE name = $1 AND revoked_at IS NULL)
              RETURNING id, name, role, prefix, created_at)`,
          before: 'NULL::jsonb',
          after: `(SELECT jsonb_build_object('id', id, 'name', name, 'role', role, 'prefix', prefix, 'createdAt', created_at) FROM created)`,
          result: `CASE WHEN EXISTS (SELECT 1 FROM created) THEN 'ok' ELSE 'conflict' END`,
          params: [params.name, params.role, hashToken(token), prefix, ctx.actor.name, ctx.now.toISOString()],
          select: '(SELECT id FROM created) AS token_id, (SELECT created_at FROM created) AS created_at',
        }),
      ],
      { readOnly: false },
    );
    const row = res!.rows[0] as { audit_id: string; result: string; token_id: string | null; created_at: string | Date | null };
    if (row.result !== 'ok' || row.token_id === null) throw nameTaken(params.name);
    const stored = { id: Number(row.token_id), name: params.name, role: params.role, prefix, createdAt: new Date(row.created_at!).toISOString() };
    return {
      status: 'ok',
      dryRun,
      summary: `Created ${params.role} token "${params.name}" (${prefix}…). Store it now: it is shown once and cannot be recovered.`,
      count: 1,
      sample: [stored],
      data: { ...stored, token },
      auditId: Number(row.audit_id),
    };
  },
};

function nameTaken(name: string): OpsbookError {
  return new OpsbookError('CONFLICT', `An active token is already named "${name}". Revoke it first or choose another name.`);
}
