import type { OpsbookConfig } from '../config/index.js';
import type { Check, CheckFamily } from './types.js';
import { targetChecks } from './target.js';
import { family as pgReachable } from './postgres/reachable.js';
import { family as pgActivity } from './postgres/activity.js';
import { family as pgStatements } from './postgres/statements.js';
import { family as pgStorage } from './postgres/storage.js';
import { family as pgIntegrity } from './postgres/integrity.js';
import { family as pgReplication } from './postgres/replication.js';
import { family as redis } from './redis.js';
import { family as queues } from './queues.js';
import { family as http } from './http.js';
import { family as tls } from './tls.js';
import { family as dns } from './dns.js';
import { family as tcp } from './tcp.js';
import { family as statusPages } from './statuspage.js';
import { family as env } from './env.js';
import { family as sqlMetrics } from './sql-metrics.js';
import { family as heartbeats } from './heartbeats.js';
import { family as checklists } from './checklists.js';

/** Every check family. Adding a family is one file and one line here. */
export const FAMILIES: CheckFamily[] = [
  pgReachable,
  pgActivity,
  pgStatements,
  pgStorage,
  pgIntegrity,
  pgReplication,
  redis,
  queues,
  http,
  tls,
  dns,
  tcp,
  statusPages,
  env,
  sqlMetrics,
  heartbeats,
  checklists,
];

/** The families that run again on every Postgres target (`checks.postgres.targets`), as `id@target`. */
const POSTGRES_FAMILIES = [pgReachable, pgActivity, pgStatements, pgStorage, pgIntegrity, pgReplication];
/** The family that runs again on every Redis target (`checks.redis.targets`). */
const REDIS_FAMILIES = [redis];

/** The checks a config defines, in registry order, then each target's; ids are unique. */
export function allChecks(config: OpsbookConfig): Check[] {
  const checks = [
    ...FAMILIES.flatMap((f) => f.checks(config)),
    ...targetChecks(config, 'postgres', POSTGRES_FAMILIES),
    ...targetChecks(config, 'redis', REDIS_FAMILIES),
  ];
  const seen = new Set<string>();
  for (const c of checks) {
    if (seen.has(c.id)) throw new Error(`Two checks share the id ${c.id}`);
    seen.add(c.id);
  }
  return checks;
}
