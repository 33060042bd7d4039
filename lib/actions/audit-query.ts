import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { OpsbookError } from '../errors.js';

export const MAX_AUDIT_ROWS = 500;
export const DEFAULT_AUDIT_ROWS = 100;

/** `30m`, `1h`, `7d`: that long before the request's time. */
const DURATION = /^([1-9][0-9]{0,5})(s|m|h|d|w)$/;
const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 } as const;
const ISO = z.union([z.iso.datetime({ offset: true }), z.iso.date()]);
const SINCE_HELP = 'must be an ISO time (2026-11-01T00:00:00Z, or 2026-11-01 for midnight UTC) or a duration back from now (30m, 1h, 7d; units s, m, h, d, w)';

/** The instant `since` names: a duration is relative to `now` (the request's time), a date is midnight UTC. */
export function sinceInstant(since: string, now: Date): Date {
  const d = DURATION.exec(since);
  const at = d ? new Date(now.getTime() - Number(d[1]) * UNIT_MS[d[2] as keyof typeof UNIT_MS]) : new Date(since.length === 10 ? `${since}T00:00:00Z` : since);
  if (Number.isNaN(at.getTime())) throw new OpsbookError('BAD_REQUEST', `since: ${SINCE_HELP}.`);
  return at;
}

/** A filter value: exact, or a prefix when it ends with `*` (`users.*`, `user:42*`). */
const filter = (max: number) => z.string().min(1).max(max).regex(/^[^\0]*$/, 'must not contain NUL');

export const schema = z.object({
  since: z
    .string()
    .max(40)
    .refine((v) => DURATION.test(v) || ISO.safeParse(v).success, { message: SINCE_HELP })
    .optional()
    .describe(`Only rows at or after this time: ${SINCE_HELP.replace(/^must be /, '')}.`),
  actor: filter(200).optional().describe('Token name (bootstrap, a stored token\'s name, cli:<user>); a trailing * matches a prefix.'),
  action: filter(100).optional().describe('Action id, e.g. users.lock; users.* matches every users action.'),
  target: filter(300).optional().describe('Target, e.g. user:42, or just 42 for any kind (user:42, api-key:42); a trailing * matches a prefix.'),
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
 * 500 rows (default 100). `since` is an ISO time or a duration (`1h`, `7d`); `target=u3` also finds `user:u3`. Rows are as stored: parameters were redacted when they were written.
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
      values.push(sinceInstant(params.since, ctx.now).toISOString());
      where.push(`at >= $${values.length}::timestamptz`);
    }
    for (const [column, value] of [['actor', params.actor], ['action', params.action], ['target', params.target]] as const) {
      if (value === undefined) continue;
      const c = condition(column, value, values.length + 1);
      values.push(c.value);
      // Targets are stored as kind:id (user:u3, api-key:k1). A value without a kind matches the id of
      // any kind too, so `target=u3` finds what an operator means by "u3".
      if (column === 'target' && !value.includes(':')) {
        const id = condition(`substr(target, strpos(target, ':') + 1)`, value, values.length);
        where.push(`(${c.sql} OR (strpos(target, ':') > 0 AND ${id.sql}))`);
      } else where.push(c.sql);
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
