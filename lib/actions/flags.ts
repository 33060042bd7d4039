import * as z from 'zod';
import type { ActionContext, ActionDefinition } from '../admin/action.js';
import { audited } from '../admin/audit.js';
import { FLAG_KEY_PREFIX, FLAG_NAME, flagValue } from '../flags-reader.js';

const flagName = z.string().max(64).regex(FLAG_NAME, 'a flag name is upper-case letters, digits and _, starting with a letter (like PLAID_ENABLED), at most 64 characters');

export const schema = z.object({
  name: flagName,
  enabled: z.boolean(),
});
export type Params = z.output<typeof schema>;

export const getSchema = z.object({
  /** One flag; every flag when omitted. */
  name: flagName.optional(),
});

/**
 * One settings row changed, and its audit row, in ONE statement: the upsert only writes when the value
 * differs, so a repeat is a no-op (still audited). `before`/`after` are the stored values.
 * Shared with maintenance mode (lib/actions/maintenance-mode.ts): same table, same shape of change.
 */
export async function writeSetting(
  ctx: ActionContext,
  entry: { action: string; key: string; value: unknown; params: unknown },
): Promise<{ result: 'ok' | 'noop'; before: unknown; after: unknown; auditId: number }> {
  const [res] = await ctx.deps.db.batch(
    [
      audited(ctx, { action: entry.action, target: entry.key, params: entry.params }, {
        ctes: `prev AS (SELECT value FROM opsbook.settings WHERE key = $1 FOR UPDATE),
          up AS (
            INSERT INTO opsbook.settings (key, value, updated_at, updated_by) VALUES ($1, $2::jsonb, $3::timestamptz, $4)
            ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at, updated_by = EXCLUDED.updated_by
              WHERE opsbook.settings.value IS DISTINCT FROM EXCLUDED.value
            RETURNING value)`,
        before: '(SELECT value FROM prev)',
        after: 'COALESCE((SELECT value FROM up), (SELECT value FROM prev))',
        result: `CASE WHEN EXISTS (SELECT 1 FROM up) THEN 'ok' ELSE 'noop' END`,
        params: [entry.key, JSON.stringify(entry.value), ctx.now.toISOString(), ctx.actor.name],
      }),
    ],
    { readOnly: false },
  );
  const row = res!.rows[0] as { audit_id: string; result: 'ok' | 'noop'; before: unknown; after: unknown };
  return { result: row.result, before: row.before ?? null, after: row.after ?? null, auditId: Number(row.audit_id) };
}

export async function readSetting(ctx: ActionContext, key: string): Promise<{ value: unknown; updatedAt: string; updatedBy: string } | undefined> {
  const { rows } = await ctx.deps.db.query<{ value: unknown; updated_at: Date | string; updated_by: string }>(
    `SELECT value, updated_at, updated_by FROM opsbook.settings WHERE key = $1`,
    [key],
  );
  const r = rows[0];
  return r ? { value: r.value, updatedAt: new Date(r.updated_at).toISOString(), updatedBy: r.updated_by } : undefined;
}

/**
 * `POST /api/admin/flags` `{"name":"PLAID_ENABLED","enabled":false}` — runbook 004's fallback switch
 * (`PLAID_ENABLED=false` in .env, then a restart), without the edit or the restart: the app reads the flag
 * through lib/flags-reader.ts within its cache time (5 s). Stored as `flag:<NAME>` → `{"enabled":…}`.
 */
export const setAction: ActionDefinition<typeof schema> = {
  id: 'flags.set',
  method: 'POST',
  path: '/api/admin/flags',
  role: 'operate',
  summary: 'Turn a feature flag on or off (read by the app through lib/flags-reader.ts)',
  schema,
  confirm: false,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const key = `${FLAG_KEY_PREFIX}${params.name}`;
    const value = { enabled: params.enabled };
    const state = params.enabled ? 'on' : 'off';
    if (dryRun) {
      const current = await readSetting(ctx, key);
      const before = current ? flagValue(current.value) : undefined;
      const changes = before !== params.enabled;
      return {
        status: changes ? 'ok' : 'noop',
        dryRun,
        summary: changes ? `Would turn ${params.name} ${state}${before === undefined ? ' (never set: the app uses its default now)' : ''}.` : `${params.name} is already ${state}.`,
        count: changes ? 1 : 0,
        sample: [{ name: params.name, before: current?.value ?? null, after: value }],
      };
    }
    const w = await writeSetting(ctx, { action: 'flags.set', key, value, params });
    return {
      status: w.result,
      dryRun,
      summary: w.result === 'ok' ? `${params.name} turned ${state}.` : `${params.name} was already ${state}.`,
      count: w.result === 'ok' ? 1 : 0,
      sample: [{ name: params.name, before: w.before, after: w.after }],
      auditId: w.auditId,
    };
  },
};

/** `GET /api/admin/flags[?name=PLAID_ENABLED]` — every flag that has been set, with who set it and when. */
export const getAction: ActionDefinition<typeof getSchema> = {
  id: 'flags.get',
  method: 'GET',
  path: '/api/admin/flags',
  role: 'read',
  summary: 'List feature flags',
  schema: getSchema,
  confirm: false,
  mutates: false,
  async run(ctx, params) {
    const { rows } = await ctx.deps.db.query<{ key: string; value: unknown; updated_at: Date | string; updated_by: string }>(
      `SELECT key, value, updated_at, updated_by FROM opsbook.settings
       WHERE ($1::text IS NULL AND starts_with(key, 'flag:')) OR key = 'flag:' || $1::text
       ORDER BY key LIMIT 1000`,
      [params.name ?? null],
    );
    const flags = rows.map((r) => ({
      name: r.key.slice(FLAG_KEY_PREFIX.length),
      enabled: flagValue(r.value) ?? null,
      updatedAt: new Date(r.updated_at).toISOString(),
      updatedBy: r.updated_by,
    }));
    if (params.name && flags.length === 0) {
      return { status: 'not-found', dryRun: false, summary: `${params.name} has never been set: the app uses its default.`, count: 0, data: { flags } };
    }
    return { status: 'ok', dryRun: false, summary: `${flags.length} flag(s) set.`, count: flags.length, data: { flags } };
  },
};
