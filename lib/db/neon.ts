import { neon, neonConfig } from '@neondatabase/serverless';
import { withTimeout } from '../timeout.js';
import { OPSBOOK_APPLICATION_NAME, withApplicationName } from './application-name.js';
import type { Db, DbLimits, QueryResult, Statement } from './types.js';

/**
 * Neon's HTTP driver: one HTTPS request per call, no connection to keep. HTTP queries are stateless,
 * so the statement and lock timeouts are set with set_config(…, true) at the head of a one-request
 * transaction; a single query therefore still costs one round trip.
 */
/**
 * The driver's fetchEndpoint is global, so per-client endpoints (a proxy, the local test peer) are kept
 * here by host and looked up per request; any other host goes to Neon's own endpoint beside it.
 */
const endpointsByHost = new Map<string, string>();
let routerInstalled = false;

function routeEndpoint(url: string, endpoint: string | undefined): void {
  if (!endpoint) return;
  endpointsByHost.set(new URL(url).hostname, endpoint);
  if (!routerInstalled) {
    routerInstalled = true;
    neonConfig.fetchEndpoint = (host) => endpointsByHost.get(host) ?? `https://${host}/sql`;
  }
}

export function createNeonDb(url: string, limits: DbLimits, opts: { fetchEndpoint?: string } = {}): Db {
  routeEndpoint(url, opts.fetchEndpoint);
  // Neon's proxy passes the URL's query parameters on as startup parameters: db/terminate knows the session.
  const sql = neon(withApplicationName(url, OPSBOOK_APPLICATION_NAME), { fullResults: true });
  const settings = {
    text: "SELECT set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true)",
    params: [`${limits.statementTimeoutMs}ms`, `${limits.lockTimeoutMs}ms`],
  };

  async function run(statements: Statement[], readOnly: boolean, label: string): Promise<QueryResult[]> {
    const controller = new AbortController();
    const results = await withTimeout(
      sql.transaction(
        [settings, ...statements].map((s) => sql.query(s.text, s.params ?? [])),
        { readOnly, fullResults: true, fetchOptions: { signal: controller.signal } },
      ),
      limits.callTimeoutMs,
      label,
      () => controller.abort(),
    );
    return results.slice(1).map((r) => ({ rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? r.rows.length }));
  }

  return {
    driver: 'neon',
    async query<T>(text: string, params: unknown[] = []) {
      const [res] = await run([{ text, params }], false, 'postgres query');
      return res as QueryResult<T>;
    },
    batch: (statements, opts) => run(statements, opts?.readOnly !== false, 'postgres batch'),
    async exec(text: string, o: { statementTimeoutMs?: number } = {}) {
      // A lone HTTP query runs outside a transaction block, which VACUUM needs; Neon's server-side
      // default timeout applies, and the client-side bound below.
      const controller = new AbortController();
      const ms = o.statementTimeoutMs ?? limits.statementTimeoutMs;
      await withTimeout(sql.query(text, [], { fetchOptions: { signal: controller.signal } }), ms + 2000, 'postgres maintenance', () => controller.abort());
    },
    async close() {
      // Nothing to release: every call was its own HTTP request.
    },
  };
}
