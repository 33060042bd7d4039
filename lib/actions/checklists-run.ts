import * as z from 'zod';
import type { ActionDefinition } from '../admin/action.js';
import { auditAfter } from '../admin/audit.js';
import type { runChecklist } from '../checklists/run.js';
import { OpsbookError } from '../errors.js';

/**
 * The checklist runner, handed in by the route file (api/admin/checklists/run.ts). Every admin function
 * imports this registry; if the action imported the runner itself, every one of them would carry the
 * report renderer and the email client (0.4 MB each, past the 10 MB function budget). A type import
 * leaves no trace in the bundle.
 */
let runner: typeof runChecklist | undefined;

/** Called once by the route file that serves checklists.run. */
export function provideChecklistRunner(fn: typeof runChecklist): void {
  runner = fn;
}

export const schema = z.object({
  /** The checklist's id, as in the config (`post-deploy`). */
  checklist: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a checklist id: lower-case letters, digits, _ or -'),
});
export type Params = z.output<typeof schema>;

/**
 * `POST /api/admin/checklists/run` `{"checklist":"post-deploy"}` — run a checklist now, as
 * `npx opsbook run post-deploy` does: its own run (it never takes a scheduled period's slot), results
 * stored, the report emailed as usual, audited with its actor. Meant for `schedule: { type: 'manual' }`
 * checklists called from a deploy or migration hook; any checklist may be run this way. The dry run
 * runs the items without storing or sending anything. Send an `Idempotency-Key` (the deploy's id): a
 * hook that retries then gets the first run's answer instead of a second run and a second email.
 */
export const action: ActionDefinition<typeof schema> = {
  id: 'checklists.run',
  method: 'POST',
  path: '/api/admin/checklists/run',
  role: 'operate',
  summary: 'Run a checklist now (a manual one from a deploy hook): results stored, report emailed, audited',
  schema,
  confirm: false,
  mutates: true,
  async run(ctx, params, { dryRun }) {
    const list = ctx.config.checklists.find((c) => c.id === params.checklist);
    if (!list) throw new OpsbookError('NOT_FOUND', `No checklist named "${params.checklist}".`, { details: { known: ctx.config.checklists.map((c) => c.id) } });
    if (!runner) throw new OpsbookError('INTERNAL', 'checklists.run is served by api/admin/checklists/run, which provides the checklist runner.');
    const result = await runner(ctx.deps, ctx.config, list.id, ctx.now, { mode: 'manual', dryRun, send: !dryRun });
    if (result.status === 'already-ran') {
      throw new OpsbookError('CONFLICT', `A run of ${list.id} started at this same millisecond (run ${result.runId}): try again, and send an Idempotency-Key so a retry never runs it twice.`);
    }
    if (result.status !== 'completed') throw new OpsbookError('INTERNAL', `Checklist ${list.id} did not run: ${result.status}.`);
    const c = result.counts as Record<string, number>;
    const tally = Object.entries(c)
      .filter(([, n]) => n > 0)
      .map(([k, n]) => `${n} ${k}`)
      .join(', ');
    const outcome = { runId: result.runId || null, counts: result.counts, delivery: result.report.delivery, subject: result.report.subject, newFailures: result.transitions.newFailures };
    if (dryRun) {
      return {
        status: 'ok',
        dryRun,
        summary: `Dry run of ${list.id}: ${tally || 'no items'}. A real run stores these results and emails the report to ${list.recipients?.length ?? ctx.config.recipients.length} recipient(s).`,
        count: list.items.length,
        data: { ...outcome, text: result.text },
      };
    }
    const auditId = await auditAfter(ctx, { action: 'checklists.run', target: `checklist:${list.id}`, params, after: outcome, result: 'ok' });
    return {
      status: 'ok',
      dryRun,
      summary: `Ran ${list.id}: ${tally || 'no items'}; report ${result.report.delivery}${result.report.error ? ` (${result.report.error})` : ''}.`,
      count: list.items.length,
      data: { ...outcome, text: result.text },
      auditId,
    };
  },
};
