import { existsSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Server } from 'node:http';
import { createDeps, setDeps, type Deps } from '../deps.js';
import { validateActionMappings } from '../admin/app-schema.js';
import { importConfigModule } from '../config/file.js';
import { ensureSchema } from '../db/schema.js';
import { createDb, selectDriver } from '../db/index.js';
import { getEnv, redactSecrets, resetEnvCache, type Env } from '../env.js';
import { isDependencyFailure, messageOf, OpsbookError } from '../errors.js';
import { checkServedConfig, setConfigSource } from '../config/index.js';
import { vercelJsonDrift } from '../checklists/vercel-json.js';
import { selectRedisDriver } from '../redis/index.js';
import { vercelCrons } from '../../cron/index.js';
import { scheduleCrons } from './crons.js';
import { createRunnerServer, listen, loadRoutes } from './server.js';
import { discoverRoutes } from './routes.js';

export interface RunnerOptions {
  /** Project root holding api/ and vercel.json. */
  root: string;
  /** @default 3000; 0 picks a free port. */
  port: number;
  /** Fire the config's checklist crons on schedule, as Vercel fires vercel.json's. @default true */
  crons?: boolean;
  /**
   * A config file to serve instead of the deployed one (relative to root).
   * @default the deployed opsbook.config.ts (or the config a test set with setConfig)
   * @example "examples/saas/opsbook.config.ts"
   */
  configPath?: string;
  /**
   * The module to load for a route's source file. The compiled runner (bin/start.js) serves the routes
   * esbuild compiled beside it, which share its lib/ modules (deps, config) as the sources would.
   * @default the source file itself (under tsx or vitest)
   */
  routeModule?: (sourceFile: string) => string;
  log: (line: string) => void;
}

export interface Runner {
  url: string;
  port: number;
  deps: Deps;
  routes: string[];
  /** The checklist ids of the served config, in its order. */
  checklists: string[];
  /** Whether the database answered at start (if not, Opsbook serves 503s and retries on each request). */
  databaseReady: boolean;
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

/** A config file's default export, unvalidated; a file that does not load is named with why. */
async function importConfigFile(path: string): Promise<unknown> {
  const shown = relative(process.cwd(), path) || path;
  if (!existsSync(path)) throw new OpsbookError('MISCONFIGURED', `Invalid config ${shown}: the file does not exist.`);
  let raw: unknown;
  try {
    raw = (await importConfigModule(path)).default;
  } catch (err) {
    throw new OpsbookError('MISCONFIGURED', `Invalid config ${shown}: it does not load: ${messageOf(err)}`, { cause: err });
  }
  if (raw === undefined) throw new OpsbookError('MISCONFIGURED', `Invalid config ${shown}: no default export (export default defineConfig({...})).`);
  return raw;
}

export async function startRunner(opts: RunnerOptions): Promise<Runner> {
  // The config is validated as check-config validates it, before anything is opened: an invalid one
  // stops the runner before it listens, naming every problem (path: message).
  const shown = opts.configPath ? relative(process.cwd(), resolve(opts.root, opts.configPath)) || opts.configPath : 'opsbook.config.ts';
  opts.log(`Checking the config (${shown})…`);
  if (opts.configPath) setConfigSource(await importConfigFile(resolve(opts.root, opts.configPath)));
  const forgetConfig = () => {
    if (opts.configPath) setConfigSource(undefined);
  };
  const state = await checkServedConfig();
  if (!state.ok) {
    forgetConfig();
    throw new OpsbookError('MISCONFIGURED', `Invalid config ${shown} (Opsbook does not serve it):\n  - ${state.problems.join('\n  - ')}`, { details: state.problems });
  }
  const config = state.config;

  resetEnvCache();
  const env = getEnv();
  const vercelJson = join(opts.root, 'vercel.json');
  // The runner schedules the config's checklists (the config is where a schedule is written, and a
  // --config from elsewhere has no vercel.json of its own). A vercel.json that differs is what Vercel
  // would call in production: loud, but not fatal here; check-config fails on it.
  const drift = existsSync(vercelJson) ? vercelJsonDrift(config, readFileSync(vercelJson, 'utf8')) : [];
  if (drift.length) {
    opts.log('');
    opts.log("  WARNING: vercel.json's crons differ from the config. This runner schedules the config's; Vercel would call vercel.json's until you run `npm run crons` and deploy it:");
    for (const d of drift) opts.log(`    - ${d}`);
    opts.log('');
  }

  const driver = selectDriver(env);
  const db = await createDb(env, { owner: 'the Opsbook runner' });
  const deps = await createDeps(env, { db });
  setDeps(deps);

  let databaseReady = false;
  const release = async () => {
    await Promise.allSettled([deps.db.close(), deps.redis.close()]);
    setDeps(undefined);
    forgetConfig();
  };
  try {
    // Open the database and create Opsbook's schema before serving: PGlite's first start runs initdb,
    // which would otherwise eat the first health check's budget.
    opts.log(driver === 'pglite' ? `Opening the database (PGlite in ${join(env.OPSBOOK_DATA_DIR, 'pglite')}; the first start runs initdb)…` : `Opening the database (${driver})…`);
    await deps.db.query('SELECT 1');
    opts.log('Migrating Opsbook\'s schema…');
    await ensureSchema(deps.db);
    databaseReady = true;
  } catch (err) {
    // A database that is down is an outage, not a reason to stay down with it: serve, answer 503
    // (health, cron, admin) until it is back; the schema is migrated by the first request that finds
    // it up (ensureSchema retries after a failure). PGlite is this process: its failure is fatal.
    if (driver === 'pglite' || !isDependencyFailure(err)) {
      await release();
      throw err;
    }
    opts.log(`  Database unavailable (${redactSecrets(messageOf(err)).slice(0, 300)}).`);
    opts.log('  Serving anyway: health, cron and admin routes answer 503 until it is back; the schema is migrated then.');
  }
  if (databaseReady && (config.app.users || config.app.apiKeys)) {
    // The users and API key mappings are checked against the live tables now, so a wrong column
    // name stops the runner with every problem named instead of answering 500 at 3 a.m. in
    // users/lock. A database that went away in between is handled like one down at start.
    opts.log('Checking the app table mappings…');
    let problems: string[] = [];
    try {
      problems = await validateActionMappings({ db: deps.db }, config);
    } catch (err) {
      if (!isDependencyFailure(err)) {
        await release();
        throw err;
      }
    }
    if (problems.length) {
      await release();
      throw new OpsbookError('MISCONFIGURED', `Invalid config ${shown}: the app table mappings do not fit the database:\n  - ${problems.join('\n  - ')}`, { details: problems });
    }
  }

  let server: Server;
  let port: number;
  let routes: ReturnType<typeof discoverRoutes>;
  try {
    routes = discoverRoutes(join(opts.root, 'api'));
    const modules = await loadRoutes(routes, opts.routeModule);
    server = createRunnerServer(modules, (line) => opts.log(`  ${line}`));
    opts.log(`Listening on 127.0.0.1:${opts.port || '(a free port)'}…`);
    port = await listen(server, opts.port);
  } catch (err) {
    await release();
    throw err;
  }
  const url = `http://localhost:${port}`;
  if (driver === 'pglite') {
    const { announcePgliteUrl } = await import('../db/pglite.js');
    announcePgliteUrl(env.OPSBOOK_DATA_DIR, url);
  }

  opts.log(`Opsbook is running at ${url}`);
  opts.log(describeDefaults(env).join('\n'));
  opts.log('  Routes:');
  for (const r of routes) opts.log(`    ${url}${r.pattern}`);

  let crons: ReturnType<typeof scheduleCrons> | undefined;
  if (opts.crons !== false) {
    crons = scheduleCrons(vercelCrons(config), {
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
    databaseReady,
    checklists: config.checklists.map((c) => c.id),
    routes: routes.map((r) => r.pattern),
    async close() {
      crons?.stop();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await release();
    },
  };
}
