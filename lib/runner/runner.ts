import { join } from 'node:path';
import type { Server } from 'node:http';
import { createDeps, setDeps, type Deps } from '../deps.js';
import { ensureSchema } from '../db/schema.js';
import { selectDriver } from '../db/index.js';
import { getEnv, resetEnvCache, type Env } from '../env.js';
import { selectRedisDriver } from '../redis/index.js';
import { readCrons, scheduleCrons } from './crons.js';
import { createRunnerServer, listen, loadRoutes } from './server.js';
import { discoverRoutes } from './routes.js';

export interface RunnerOptions {
  /** Project root holding api/ and vercel.json. */
  root: string;
  /** @default 3000; 0 picks a free port. */
  port: number;
  /** Fire vercel.json crons on schedule. @default true */
  crons?: boolean;
  log: (line: string) => void;
}

export interface Runner {
  url: string;
  port: number;
  deps: Deps;
  routes: string[];
  close(): Promise<void>;
}

/** What the environment makes Opsbook use, in words, so the first screen says where data goes. */
export function describeDefaults(env: Env): string[] {
  const db = selectDriver(env);
  const redis = selectRedisDriver(env);
  return [
    `  Database  ${db === 'pglite' ? `PGlite (embedded) in ${join(env.OPSBOOK_DATA_DIR, 'pglite')} — set DATABASE_URL to use your Postgres` : db === 'neon' ? 'Neon (HTTP driver)' : 'Postgres (node-postgres)'}`,
    `  Redis     ${redis === 'memory' ? 'in-memory fallback — set REDIS_URL or UPSTASH_REDIS_REST_URL to share state' : redis === 'upstash' ? 'Upstash (REST)' : 'Redis (TCP)'}`,
    `  Email     ${env.RESEND_API_KEY ? 'Resend' : `written to ${join(env.OPSBOOK_DATA_DIR, 'outbox')}/ — set RESEND_API_KEY to send`}`,
    `  Sentry    ${env.SENTRY_DSN ? 'on' : 'off — set SENTRY_DSN to report errors and cron check-ins'}`,
  ];
}

export async function startRunner(opts: RunnerOptions): Promise<Runner> {
  resetEnvCache();
  const env = getEnv();
  const deps = await createDeps(env);
  setDeps(deps);
  // Open the database and create Opsbook's schema before serving: PGlite's first start runs initdb,
  // which would otherwise eat the first health check's budget.
  await ensureSchema(deps.db);

  const routes = discoverRoutes(join(opts.root, 'api'));
  const modules = await loadRoutes(routes);
  const server: Server = createRunnerServer(modules, (line) => opts.log(`  ${line}`));
  const port = await listen(server, opts.port);
  const url = `http://localhost:${port}`;

  opts.log(`Opsbook is running at ${url}`);
  opts.log(describeDefaults(env).join('\n'));
  opts.log('  Routes:');
  for (const r of routes) opts.log(`    ${url}${r.pattern}`);

  let crons: ReturnType<typeof scheduleCrons> | undefined;
  if (opts.crons !== false) {
    crons = scheduleCrons(readCrons(join(opts.root, 'vercel.json')), {
      baseUrl: `http://127.0.0.1:${port}`,
      secret: env.CRON_SECRET ?? '',
      log: (line) => opts.log(`  ${line}`),
    });
    opts.log('  Crons (UTC):');
    for (const c of crons.next()) opts.log(`    ${c.path}  "${c.schedule}"  next ${c.next?.toISOString() ?? 'never'}`);
  }

  return {
    url,
    port,
    deps,
    routes: routes.map((r) => r.pattern),
    async close() {
      crons?.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await Promise.allSettled([deps.db.close(), deps.redis.close()]);
      setDeps(undefined);
    },
  };
}
