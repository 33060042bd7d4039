import { parseConfig, setConfig, type OpsbookConfigInput } from '../../lib/config/index.js';
import { createDeps, setDeps, type Deps } from '../../lib/deps.js';
import { parseEnv } from '../../lib/env.js';
import { testDataDir } from './data-dir.js';
import type { Db } from '../../lib/db/index.js';
import type { RedisClient } from '../../lib/redis/index.js';

export const ADMIN_TOKEN = 'admin-bootstrap-token-for-tests-0123456789';

/** Install deps and config for route handlers (getDeps/getConfig), as a deployment would have them. */
export async function useAdminDeps(db: Db, redis: RedisClient, config: OpsbookConfigInput = {}, env: Record<string, string> = {}): Promise<Deps> {
  const deps = await createDeps(parseEnv({ OPSBOOK_ADMIN_TOKEN: ADMIN_TOKEN, OPSBOOK_DATA_DIR: testDataDir(), ...env }), { db, redis, log: () => undefined });
  setDeps(deps);
  // Per-token and per-IP limits live in the shared Redis across test files: raise them unless the test is
  // about them (it then passes its own `admin` section). Failed-auth limiting keeps its default.
  setConfig(parseConfig({ admin: { rateLimit: { perTokenPerMinute: 100_000, perIpPerMinute: 100_000 } }, ...config }));
  return deps;
}

export function resetAdminDeps(): void {
  setDeps(undefined);
  setConfig(undefined);
}

let ipCounter = 0;
/**
 * A request to an admin route. Each call comes from its own client address unless `ip` is given, so
 * per-IP rate limits only bite in the tests that are about them.
 */
export function adminRequest(
  path: string,
  opts: { method?: 'GET' | 'POST'; body?: unknown; token?: string | null; headers?: Record<string, string>; ip?: string; query?: Record<string, string> } = {},
): Request {
  const url = new URL(`http://localhost${path}`);
  for (const [k, v] of Object.entries(opts.query ?? {})) url.searchParams.set(k, v);
  const headers: Record<string, string> = { 'x-forwarded-for': opts.ip ?? `10.0.${Math.floor(++ipCounter / 250) % 250}.${ipCounter % 250}`, 'user-agent': 'opsbook-tests', ...opts.headers };
  if (opts.token !== null) headers.authorization = `Bearer ${opts.token ?? ADMIN_TOKEN}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  return new Request(url, { method: opts.method ?? 'POST', headers, body: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body) });
}
