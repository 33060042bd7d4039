import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { OpsbookError } from '../errors.js';
import { MAINTENANCE_KEY, maintenanceState, type MaintenanceState } from '../flags-reader.js';
import { readSetting, writeSetting } from './flags.js';

export const schema = z.object({
  enabled: z.boolean(),
  /** Shown to users (and on /api/health) while maintenance is on. */
  message: z.string().min(1).max(500).optional(),
  /** When maintenance ends by itself (ISO 8601 with a time zone); until turned off when omitted. */
  until: z.iso.datetime({ offset: true }).optional(),
});
export type Params = z.output<typeof schema>;

/**
 * `POST /api/admin/maintenance` `{"enabled":true,"message":"…","until":"2025-06-01T14:00:00Z"}` — runbook
 * 001's "enable maintenance mode / show maintenance page" and 004's emergency maintenance page, as one
 * switch the app reads (lib/flags-reader.ts `maintenance()`) and /api/health shows. Stored as key
 * `maintenance` → `{"enabled","message","until"}`; turning it off clears message and until.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'maintenance.set',
  method: 'POST',
  path: '/api/admin/maintenance',
  role: 'operate',
  summary: 'Turn maintenance mode on (with a message and an optional end) or off',
  schema,
  confirm: false,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    let until: string | null = null;
    if (params.enabled && params.until !== undefined) {
      const t = Date.parse(params.until);
      if (t <= ctx.now.getTime()) throw new OpsbookError('BAD_REQUEST', `until (${params.until}) is not in the future: maintenance would end at once.`);
      until = new Date(t).toISOString();
    }
    const value = params.enabled ? { enabled: true, message: params.message ?? null, until } : { enabled: false, message: null, until: null };
    const describe = (v: { enabled: boolean; message: string | null; until: string | null }) =>
      v.enabled ? `on${v.until ? ` until ${v.until}` : ''}${v.message ? ` ("${v.message.slice(0, 80)}")` : ''}` : 'off';

    if (dryRun) {
      const current = await readSetting(ctx, MAINTENANCE_KEY);
      const stored = (current?.value ?? null) as Partial<typeof value> | null;
      const same = stored ? stored.enabled === value.enabled && (stored.message ?? null) === value.message && (stored.until ?? null) === value.until : !value.enabled;
      // Never set and turned off: the upsert still writes the row (so the app sees an explicit "off").
      const changes = !same || current === undefined;
      const inForce = maintenanceState(current?.value, ctx.now.getTime());
      return {
        status: changes ? 'ok' : 'noop',
        dryRun,
        summary: changes ? `Would turn maintenance mode ${describe(value)} (now ${describe(inForce)}).` : `Maintenance mode is already ${describe(value)}.`,
        count: changes ? 1 : 0,
        sample: [{ before: current?.value ?? null, after: value }],
      };
    }
    const w = await writeSetting(ctx, { action: 'maintenance.set', key: MAINTENANCE_KEY, value, params });
    return {
      status: w.result,
      dryRun,
      summary: w.result === 'ok' ? `Maintenance mode ${describe(value)}.` : `Maintenance mode was already ${describe(value)}.`,
      count: w.result === 'ok' ? 1 : 0,
      sample: [{ before: w.before, after: w.after }],
      auditId: w.auditId,
    };
  },
};

