/**
 * Feature flags and maintenance mode, read by the APP (not by Opsbook's admin routes). Copy this file
 * into the app or import it: it has no dependencies, and takes the app's own query function.
 *
 * Contract (docs/flags.md has the long form). Opsbook writes, the app reads:
 *   table  opsbook.settings (key text PRIMARY KEY, value jsonb NOT NULL, updated_at timestamptz NOT NULL,
 *          updated_by text NOT NULL), created by Opsbook's migrations.
 *   key    `flag:<NAME>`, NAME matching /^[A-Z][A-Z0-9_]{0,63}$/ (e.g. `flag:PLAID_ENABLED`)
 *   value  {"enabled": true | false}
 *   key    `maintenance`
 *   value  {"enabled": true | false, "message": string | null, "until": ISO 8601 timestamp | null}
 *          Maintenance is on while `enabled` is true and `until` is null or still in the future.
 * Rows are written only by POST /api/admin/flags and POST /api/admin/maintenance, each change with its
 * audit row in the same statement. A flag that has never been set has no row: the caller's default holds.
 *
 * Reading: one query loads every flag and the maintenance row, and the answer is cached for `cacheMs`
 * (default 5 s), so a request path costs at most one query per instance per 5 s. Any failure (no table
 * yet, database down, a timeout, a malformed value) answers the caller's default: the app chooses
 * defaults that are safe when Opsbook cannot be read. A failed read is cached like a good one, so a
 * database outage does not add a failing query to every request.
 *
 * ```ts
 * import pg from 'pg';
 * const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
 * const flags = createFlagReader((sql, params) => pool.query(sql, params));
 * if (await flags.isEnabled('PLAID_ENABLED', true)) { … }  // true unless an operator turned it off
 * const m = await flags.maintenance();                    // { enabled, message, until }
 * ```
 * With Neon's HTTP driver: `createFlagReader((sql, params) => neonSql.query(sql, params))` (a plain
 * array of rows is accepted as well as `{ rows }`).
 */

export type FlagRow = Record<string, unknown>;
/** The app's query function: node-postgres' `pool.query`, PGlite's `db.query`, Neon's `sql.query`. */
export type FlagQuery = (sql: string, params: unknown[]) => Promise<{ rows: FlagRow[] } | FlagRow[]>;

export interface FlagReaderOptions {
  /** How long one read is reused, ms. @default 5000 */
  cacheMs?: number;
  /** Longest a read may take before the defaults answer, ms. @default 1000 */
  timeoutMs?: number;
  /** The clock (ms since epoch), for `until` and the cache. @default Date.now */
  now?: () => number;
  /** Told about a failed read (the answer is still the default). */
  onError?: (err: unknown) => void;
}

export interface MaintenanceState {
  enabled: boolean;
  message: string | null;
  /** ISO 8601, or null for "until turned off". */
  until: string | null;
}

export interface FlagReader {
  /** The flag's value, or `defaultValue` when it was never set or cannot be read. */
  isEnabled(name: string, defaultValue: boolean): Promise<boolean>;
  /** Maintenance mode; off when it cannot be read. */
  maintenance(): Promise<MaintenanceState>;
  /** Drop the cache (after a change the app made itself, or in tests). */
  clear(): void;
}

export const FLAG_NAME = /^[A-Z][A-Z0-9_]{0,63}$/;
export const FLAG_KEY_PREFIX = 'flag:';
export const MAINTENANCE_KEY = 'maintenance';
export const SETTINGS_SQL = `SELECT key, value FROM opsbook.settings WHERE key = 'maintenance' OR key LIKE 'flag:%' LIMIT 10000`;

const OFF: MaintenanceState = { enabled: false, message: null, until: null };

function parsed(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return undefined;
  }
}

/** A stored `{enabled}` value → its boolean, or undefined when it is not that shape. */
export function flagValue(value: unknown): boolean | undefined {
  const v = parsed(value) as { enabled?: unknown } | null | undefined;
  return v && typeof v === 'object' && typeof v.enabled === 'boolean' ? v.enabled : undefined;
}

/** A stored maintenance value → the state in force at `nowMs` (an `until` in the past means off). */
export function maintenanceState(value: unknown, nowMs: number): MaintenanceState {
  const v = parsed(value) as { enabled?: unknown; message?: unknown; until?: unknown } | null | undefined;
  if (!v || typeof v !== 'object' || v.enabled !== true) return OFF;
  const until = typeof v.until === 'string' && Number.isFinite(Date.parse(v.until)) ? v.until : null;
  if (until !== null && Date.parse(until) <= nowMs) return OFF;
  return { enabled: true, message: typeof v.message === 'string' ? v.message : null, until };
}

interface Snapshot {
  at: number;
  flags: Map<string, boolean>;
  maintenance: unknown;
}

export function createFlagReader(query: FlagQuery, opts: FlagReaderOptions = {}): FlagReader {
  const cacheMs = opts.cacheMs ?? 5000;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const now = opts.now ?? Date.now;
  let cached: Snapshot | undefined;
  let inFlight: Promise<Snapshot> | undefined;

  async function read(): Promise<Snapshot> {
    const at = now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      const res = await Promise.race([
        query(SETTINGS_SQL, []),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`reading opsbook.settings timed out after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
      const rows = Array.isArray(res) ? res : res.rows;
      const flags = new Map<string, boolean>();
      let maintenance: unknown;
      for (const row of rows) {
        const key = String(row.key);
        if (key === MAINTENANCE_KEY) maintenance = row.value;
        else if (key.startsWith(FLAG_KEY_PREFIX)) {
          const enabled = flagValue(row.value);
          if (enabled !== undefined) flags.set(key.slice(FLAG_KEY_PREFIX.length), enabled);
        }
      }
      return { at, flags, maintenance };
    } catch (err) {
      opts.onError?.(err);
      // Fail safe: nothing known, so every caller gets its default until the next read.
      return { at, flags: new Map(), maintenance: undefined };
    } finally {
      clearTimeout(timer);
    }
  }

  function snapshot(): Promise<Snapshot> {
    if (cached && now() - cached.at < cacheMs) return Promise.resolve(cached);
    inFlight ??= read().then((s) => {
      cached = s;
      inFlight = undefined;
      return s;
    });
    return inFlight;
  }

  return {
    async isEnabled(name, defaultValue) {
      if (!FLAG_NAME.test(name)) return defaultValue;
      return (await snapshot()).flags.get(name) ?? defaultValue;
    },
    async maintenance() {
      return maintenanceState((await snapshot()).maintenance, now());
    },
    clear() {
      cached = undefined;
    },
  };
}
