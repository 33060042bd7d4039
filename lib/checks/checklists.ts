import { missedRunsStatement } from '../checklists/missed.js';
import { describeSchedule } from '../checklists/schedule.js';
import { fail, ok } from './outcome.js';
import type { CheckFamily } from './types.js';

/**
 * Missed checklist runs, in diagnostics and in checklists themselves: the next run of any checklist
 * reports that another one did not run (Vercel does not retry a failed cron).
 */
export const family: CheckFamily = {
  family: 'checklists',
  checks: (config) =>
    config.checklists.length === 0
      ? []
      : [
          {
            id: 'checklists.missed',
            title: 'Checklist runs on schedule',
            family: 'checklists',
            severity: 'P2',
            needs: ['store'],
            async run(ctx, now) {
              const { statement, evaluate } = missedRunsStatement(ctx.config, now);
              await ctx.store.caps();
              const [res] = await ctx.store.batch([statement]);
              const missed = evaluate(res!.rows);
              if (missed.length === 0) return ok(`${ctx.config.checklists.length} checklist(s) ran on schedule`);
              return fail(`${missed.length} checklist run(s) missed: ${missed.map((m) => `${m.checklist} (${m.period})`).join(', ')}`, {
                value: missed.length,
                details: missed.map((m) => ({
                  checklist: m.checklist,
                  schedule: describeSchedule(ctx.config.checklists.find((c) => c.id === m.checklist)!.schedule),
                  expectedAt: m.expectedAt,
                  lastRunAt: m.lastRunAt,
                })),
                hint: { text: 'Check the Vercel cron logs for the job; run it by hand with `npx opsbook run <checklist>`.' },
              });
            },
          },
        ],
};
