import { createDb, type Db } from './db/index.js';
import { lazyEmailSender, type EmailSender } from './email/index.js';
import { OpsbookError } from './errors.js';
import { getEnv, productionProblems, type Env } from './env.js';
import { log, type Logger } from './log.js';
import { createRedis, type RedisClient } from './redis/index.js';
import { createErrorReporter, type ErrorReporter } from './sentry.js';

/** Everything with a side effect, behind one object: handlers and jobs take it, tests build their own. */
export interface Deps {
  env: Env;
  db: Db;
  redis: RedisClient;
  email: EmailSender;
  errors: ErrorReporter;
  log: Logger;
}

/** Build the dependencies an environment names. Clients connect lazily, on their first call. */
export async function createDeps(env: Env, overrides: Partial<Omit<Deps, 'env'>> = {}): Promise<Deps> {
  const problems = productionProblems(env, { db: !overrides.db, email: !overrides.email });
  if (problems.length) throw new OpsbookError('MISCONFIGURED', `Invalid environment:\n  - ${problems.join('\n  - ')}`, { details: problems });
  const [db, redis] = await Promise.all([overrides.db ?? createDb(env), overrides.redis ?? createRedis(env)]);
  const email = overrides.email ?? lazyEmailSender(env);
  return {
    env,
    db,
    redis,
    email,
    errors: overrides.errors ?? createErrorReporter(env),
    log: overrides.log ?? log,
  };
}

let instance: Promise<Deps> | undefined;

/**
 * The dependencies of this serverless instance, created once and reused by every request it serves
 * (a warm instance keeps its pool and clients).
 */
export function getDeps(): Promise<Deps> {
  if (!instance) {
    instance = (async () => createDeps(getEnv()))();
    instance.catch(() => (instance = undefined));
  }
  return instance;
}

/** Replace the instance's dependencies (the local runner and tests). */
export function setDeps(deps: Deps | undefined): void {
  instance = deps ? Promise.resolve(deps) : undefined;
}
