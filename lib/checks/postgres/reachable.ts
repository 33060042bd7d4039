import { messageOf } from '../../errors.js';
import { redactSecrets } from '../../env.js';
import { fail, ok } from '../outcome.js';
import type { CheckFamily } from '../types.js';

/**
 * Can Opsbook reach the diagnosed Postgres at all? The root of every check that needs it: while this
 * fails, they report `suppressed: postgres unreachable` instead of twenty copies of the same error.
 * It reads the capabilities every Postgres check shares, so it costs no round trip of its own.
 */
export const family: CheckFamily = {
  family: 'postgres',
  checks: (config) =>
    config.checks.postgres.enabled
      ? [
          {
            id: 'postgres.reachable',
            title: 'Postgres reachable',
            family: 'postgres',
            severity: 'P1',
            needs: [],
            async run(ctx) {
              try {
                const caps = await ctx.pg.caps();
                const version = `${Math.floor(caps.serverVersionNum / 10000)}.${caps.serverVersionNum % 10000}`;
                return ok(`connected to ${caps.database} as ${caps.user} (PostgreSQL ${version}${caps.isReplica ? ', a replica' : ''})`);
              } catch (err) {
                return fail(`postgres unreachable: ${redactSecrets(messageOf(err)).slice(0, 300)}`, {
                  hint: { text: 'Check the database provider’s status page and console, and DATABASE_URL (or checks.postgres.databaseUrlEnv). Procedure: /api/diagnostics?playbook=service-down.' },
                });
              }
            },
          },
        ]
      : [],
};
