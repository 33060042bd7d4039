import { parseConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { createDeps, type Deps } from '../../lib/deps.js';
import { parseEnv } from '../../lib/env.js';
import { runDiagnostics, type DiagnosticsOptions, type DiagnosticsReport } from '../../lib/diagnostics/run.js';
import type { CheckResult } from '../../lib/checks/types.js';
import type { Db } from '../../lib/db/index.js';
import type { RedisClient } from '../../lib/redis/index.js';
import { createMemoryRedis } from '../../lib/redis/memory.js';

/** Deps over the given real Db/Redis, with a silent log. */
export async function depsFor(db: Db, redis: RedisClient = createMemoryRedis(), env: Record<string, string> = {}): Promise<Deps> {
  return createDeps(parseEnv(env), { db, redis, log: () => undefined });
}

/** Run diagnostics through the production runner with a config written as in opsbook.config.ts. */
export async function diagnose(
  deps: Deps,
  config: OpsbookConfigInput = {},
  opts: DiagnosticsOptions = {},
  now = new Date(),
): Promise<DiagnosticsReport & { byId(id: string): CheckResult }> {
  const report = await runDiagnostics(deps, parseConfig(config), opts, now);
  return {
    ...report,
    byId(id: string) {
      const r = report.checks.find((c) => c.id === id);
      if (!r) throw new Error(`no result for ${id}; got ${report.checks.map((c) => c.id).join(', ')}`);
      return r;
    },
  };
}
