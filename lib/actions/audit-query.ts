import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { OpsbookError } from '../errors.js';

export const MAX_AUDIT_ROWS = 500;
export const DEFAULT_AUDIT_ROWS = 100;

/** A filter value: exact, or a prefix when it ends with `*` (`users.*`, `user:42*`). */
const filter = (max: number) => z.string().min(1).max(max).regex(/^[^\0]*$/, 'must not contain NUL');

export const schema = z.object({
  since: z
    .union([z.iso.datetime({ offset: true }), z.iso.date()])
    .optional()
    .describe('Only rows at or after this time (ISO 8601, e.g. 2026-11-01T00:00:00Z or 2026-11-01 for midnight UTC).'),
  actor: filter(200).optional().describe('Token name (bootstrap, a stored token\'s name, cli:<user>); a trailing * matches a prefix.'),
  action: filter(100).optional().describe('Action id, e.g. users.lock; users.* matches every users action.'),
  target: filter(300).optional().describe('Target, e.g. user:42; a trailing * matches a prefix.'),
  limit: z.coerce.number().int().min(1).max(MAX_AUDIT_ROWS).default(DEFAULT_AUDIT_ROWS).describe(`Rows to return, newest first (1-${MAX_AUDIT_ROWS}).`),
});
export type Params = z.output<typeof schema>;

export interface AuditRow {
  id: number;
  at: string;
  actor: string;
  role: string;
  action: string;
  target: string | null;
  params: unknown;
  before: unknown;
  after: unknown;
  result: string;
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

/** `value*` → a LIKE prefix (with LIKE's own wildcards escaped); anything else is compared exactly. */
function condition(column: string, value: string, param: number): { sql: string; value: string } {
  if (value.endsWith('*')) {
    return { sql: `${column} LIKE $${param} ESCAPE '\\'`, value: `${value.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%` };
  }
  return { sql: `${column} = $${param}`, value };
}

/**
 * `GET /api/admin/audit?since=&actor=&action=&target=&limit=` — the audit log, newest first, at most
 * 500 rows (default 100). Rows are as stored: parameters were redacted when they were written.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'audit.query',
  method: 'GET',
  path: '/api/admin/audit',
  role: 'read',
  summary: 'Read the audit log, newest first',
  schema,
  confirm: false,
  mutates: false,
  async run(ctx, params) {
    const where: string[] = [];
    const values: unknown[] = [];
    if (params.since !== undefined) {
      const since = new Date(params.since.length === 10 ? `${params.since}T00:00:00Z` : params.since);
      if (Number.isNaN(since.getTime())) throw new OpsbookError('BAD_REQUEST', 'since: not a valid date.');
      values.push(since.toISOString());
      where.push(`at >= $${values.length}::timestamptz`);
    }
    for (const [column, value] of [['actor', params.actor], ['action', params.action], ['target', params.target]] as const) {
      if (value === undefined) continue;
      const c = condition(column, value, values.length + 1);
      values.push(c.value);
      where.push(c.sql);
    }
    values.push(params.limit + 1);
    const { rows } = await ctx.deps.db.query<{
      id: string; at: string | Date; actor: string; role: string; action: string; target: string | null; params: unknown; before: unknown; after: unknown;
      result: string; request_id: string | null; ip: string | null; user_agent: string | null;
    }>(
      `SELECT id, at, actor, role, action, target, params, before, after, result, request_id, ip, user_agent
       FROM opsbook.audit_log ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY at DESC, id DESC LIMIT $${values.length}`,
      values,
    );
    const more = rows.length > params.limit;
    const out: AuditRow[] = rows.slice(0, params.limit).map((r) => ({
      id: Number(r.id),
      at: new Date(r.at).toISOString(),
      actor: r.actor,
      role: r.role,
      action: r.action,
      target: r.target,
      params: parseJson(r.params),
      before: parseJson(r.before),
      after: parseJson(r.after),
      result: r.result,
      requestId: r.request_id,
      ip: r.ip,
      userAgent: r.user_agent,
    }));
    return {
      status: 'ok',
      dryRun: false,
      summary: `${out.length} audit row${out.length === 1 ? '' : 's'}${more ? ` (more match: narrow with since/actor/action/target or raise limit, at most ${MAX_AUDIT_ROWS})` : ''}.`,
      count: out.length,
      data: { rows: out, limit: params.limit, more },
    };
  },
};

/** jsonb comes back parsed from pg and PGlite, as text from some proxies. */
function parseJson(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}
