import type { AppSchemaMapping, OpsbookConfig } from '../config/index.js';
import type { Db } from '../db/index.js';
import { OpsbookError } from '../errors.js';

/** A Postgres identifier, double-quoted (camelCase like "suspendedAt" keeps its case). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export interface ResolvedColumn {
  /** The catalog's name, quoted. */
  ident: string;
  /** Its SQL type (from the catalog, safe to inline as a cast). */
  type: string;
}

/** A user state (locked, suspended) as one column's value. Values are text, cast to the column's type. */
export interface ResolvedState extends ResolvedColumn {
  /** The column's own name, for previews. */
  name: string;
  value: string;
  clear: string;
  /** A boolean column has only the two states, so nothing is refused. */
  boolean: boolean;
  /** The config path that defines it, for MISCONFIGURED messages. */
  path: string;
}

export type UserState = 'locked' | 'suspended';

export interface ResolvedTable {
  /** `"schema"."table"`, quoted from the catalog's own names. */
  table: string;
  /** Logical column → quoted name and its SQL type. */
  columns: Record<string, ResolvedColumn>;
  /** The user states that are mapped (users only). */
  states: Partial<Record<UserState, ResolvedState>>;
  /** Column names never returned or audited (masked). */
  sensitive: string[];
}

const COLUMNS_SQL = `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
    (SELECT string_agg(e.enumlabel::text, E'\\n' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = a.atttypid) AS labels
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`;

type UsersMapping = NonNullable<AppSchemaMapping['users']>;
type KeysMapping = NonNullable<AppSchemaMapping['apiKeys']>;
type StateConfig = NonNullable<UsersMapping['locked']>;

/** The values the suspend / reinstate pair writes by default (runbook 000's, VIVIM: `status = 'SUSPENDED'`). */
export const SUSPENDED = 'SUSPENDED';
export const ACTIVE = 'ACTIVE';

/**
 * How a user state is configured: `users.locked` / `users.suspended` when given, else the older
 * spellings (`columns.locked` a boolean column, `columns.status` with SUSPENDED / ACTIVE).
 */
export function stateConfig(mapping: UsersMapping, state: UserState): (StateConfig & { path: string }) | undefined {
  const explicit = mapping[state];
  if (explicit) return { ...explicit, path: `app.users.${state}` };
  if (state === 'locked' && mapping.columns.locked) return { column: mapping.columns.locked, value: true, clear: false, path: 'app.users.columns.locked' };
  if (state === 'suspended' && mapping.columns.status) return { column: mapping.columns.status, value: SUSPENDED, clear: ACTIVE, path: 'app.users.columns.status' };
  return undefined;
}

function clearOf(s: StateConfig): string {
  if (s.clear !== undefined) return String(s.clear);
  return typeof s.value === 'boolean' ? String(!s.value) : ACTIVE;
}

export interface TableInspection {
  /** Present when the table exists; columns that do not exist are left out (and listed in problems). */
  resolved?: ResolvedTable;
  problems: string[];
}

/**
 * Compare a mapped table with the live catalog, without throwing: the table, every mapped column and
 * every state column must exist, and a state value must be a label of an enum column. Used at call
 * time (resolveTable) and at start (validateActionMappings), so both report the same problems.
 */
export async function inspectTable(db: Db, kind: 'users' | 'apiKeys', mapping: UsersMapping | KeysMapping): Promise<TableInspection> {
  const path = kind === 'users' ? 'app.users' : 'app.apiKeys';
  const { rows } = await db.query<{ name: string; type: string; labels: string | null }>(COLUMNS_SQL, [mapping.schema, mapping.table]);
  if (rows.length === 0) return { problems: [`${path}: table ${mapping.schema}.${mapping.table} does not exist.`] };
  const byName = new Map(rows.map((r) => [r.name, { type: r.type, labels: enumLabels(r.labels) }]));
  const columns: ResolvedTable['columns'] = {};
  const problems: string[] = [];
  const missing: string[] = [];
  for (const [logical, name] of Object.entries(mapping.columns as Record<string, string | undefined>)) {
    if (!name) continue;
    const col = byName.get(name);
    if (col === undefined) missing.push(`${path}.columns.${logical} = "${name}"`);
    else columns[logical] = { ident: quoteIdent(name), type: col.type };
  }
  if (missing.length) problems.push(`Columns not found in ${mapping.schema}.${mapping.table}: ${missing.join(', ')}.`);
  const states: ResolvedTable['states'] = {};
  if (kind === 'users') {
    for (const state of ['locked', 'suspended'] as const) {
      const s = stateConfig(mapping as UsersMapping, state);
      if (!s) continue;
      const col = byName.get(s.column);
      if (col === undefined) {
        // The older spellings are columns, already reported above.
        if (!s.path.startsWith(`${path}.columns.`)) problems.push(`Columns not found in ${mapping.schema}.${mapping.table}: ${s.path}.column = "${s.column}".`);
        continue;
      }
      const value = String(s.value);
      const clear = clearOf(s);
      const absent = col.labels ? [value, clear].filter((v) => !col.labels!.includes(v)) : [];
      if (absent.length) problems.push(`${s.path}: its type ${col.type} has no value ${absent.map((v) => `'${v}'`).join(' or ')} (it has ${col.labels!.map((v) => `'${v}'`).join(', ')}).`);
      else if (col.type === 'boolean' && [value, clear].some((v) => v !== 'true' && v !== 'false')) problems.push(`${s.path}: "${s.column}" is boolean, so its values must be true and false.`);
      states[state] = { ident: quoteIdent(s.column), type: col.type, name: s.column, value, clear, boolean: col.type === 'boolean', path: s.path };
    }
  }
  const sensitive = 'sensitive' in mapping ? mapping.sensitive.filter((s) => byName.has(s)) : [];
  return { resolved: { table: `${quoteIdent(mapping.schema)}.${quoteIdent(mapping.table)}`, columns, states, sensitive }, problems };
}

/** An enum's labels, one a line (text, so every driver returns it alike); null for any other type. */
function enumLabels(v: string | null): string[] | null {
  return v === null ? null : v.split('\n');
}

/**
 * Check a mapped table against the live catalog: the table and every mapped column must exist. The
 * identifiers used in SQL are the catalog's, quoted; values are always bound parameters.
 */
export async function resolveTable(db: Db, kind: 'users' | 'apiKeys', mapping: UsersMapping | KeysMapping | undefined, required: string[], needStates: UserState[] = []): Promise<ResolvedTable> {
  const path = kind === 'users' ? 'app.users' : 'app.apiKeys';
  if (!mapping) throw new OpsbookError('MISCONFIGURED', `This action needs ${path} in opsbook.config.ts (the table and its columns).`);
  const { resolved, problems } = await inspectTable(db, kind, mapping);
  if (problems.length) throw new OpsbookError('MISCONFIGURED', problems.join(' '));
  const absent = required.filter((r) => !resolved!.columns[r]);
  if (absent.length) throw new OpsbookError('MISCONFIGURED', `This action needs ${absent.map((a) => `${path}.columns.${a}`).join(', ')} in opsbook.config.ts.`);
  for (const state of needStates) {
    if (!resolved!.states[state]) {
      const how = state === 'locked' ? 'app.users.locked (e.g. { column: "status", value: "LOCKED" }) or app.users.columns.locked (a boolean column)' : 'app.users.suspended (e.g. { column: "status", value: "SUSPENDED" }) or app.users.columns.status';
      throw new OpsbookError('MISCONFIGURED', `This action needs ${how} in opsbook.config.ts.`);
    }
  }
  return resolved!;
}

/**
 * What each user or key action needs of its mapping, beyond the id: one table, read by the actions
 * (at call time) and by validateActionMappings (at start), so the two never disagree.
 */
export const ACTION_NEEDS = {
  'users.lock': { table: 'users', columns: [], states: ['locked'] },
  'users.suspend': { table: 'users', columns: ['suspendedAt', 'suspensionReason'], states: ['suspended'] },
  'users.reinstate': { table: 'users', columns: [], states: ['suspended'] },
  'users.delete': { table: 'users', columns: ['deletedAt'], states: [] },
  'users.lookup': { table: 'users', columns: [], states: [] },
  'api-keys.revoke': { table: 'apiKeys', columns: ['userId'], states: [] },
} as const satisfies Record<string, { table: 'users' | 'apiKeys'; columns: readonly string[]; states: readonly UserState[] }>;
export type MappedAction = keyof typeof ACTION_NEEDS;

/** The app's users table, resolved for `action` (its needs from ACTION_NEEDS, plus `extra` columns). */
export function usersTable(db: Db, config: OpsbookConfig, action: MappedAction, extra: string[] = []): Promise<ResolvedTable> {
  const needs = ACTION_NEEDS[action];
  return resolveTable(db, 'users', config.app.users, ['id', ...needs.columns, ...extra], [...needs.states]);
}

export function apiKeysTable(db: Db, config: OpsbookConfig, action: MappedAction, extra: string[] = []): Promise<ResolvedTable> {
  return resolveTable(db, 'apiKeys', config.app.apiKeys, ['id', ...ACTION_NEEDS[action].columns, ...extra]);
}

/**
 * Check the configured users and API key mappings against the live catalog, for start-up: every
 * problem an action would otherwise answer with 500 MISCONFIGURED at call time. Returns one line per
 * problem, each naming its config path; empty when the mappings fit (or none is configured: the
 * actions then refuse with a message naming the missing section). Throws only when the database
 * cannot be reached (each query is bounded by the Db's own call timeout).
 * @example const problems = await validateActionMappings(deps, config); // [] when all is well
 */
export async function validateActionMappings(deps: { db: Db }, config: OpsbookConfig): Promise<string[]> {
  const problems: string[] = [];
  const users = config.app.users;
  const keys = config.app.apiKeys;
  const inspected = await Promise.all([users ? inspectTable(deps.db, 'users', users) : undefined, keys ? inspectTable(deps.db, 'apiKeys', keys) : undefined]);
  for (const i of inspected) if (i) problems.push(...i.problems);
  if (users) {
    // An action counts as intended when its states are mapped; it then needs all of its columns.
    for (const [id, needs] of Object.entries(ACTION_NEEDS)) {
      if (needs.table !== 'users' || needs.states.length === 0) continue;
      if (!needs.states.every((s) => stateConfig(users, s))) continue;
      const unmapped = needs.columns.filter((c) => !(users.columns as Record<string, string | undefined>)[c]);
      if (unmapped.length) problems.push(`${id}: its state is mapped, but it also needs ${unmapped.map((c) => `app.users.columns.${c}`).join(', ')}.`);
    }
  }
  return problems;
}

/** Bad input for the column's type (a non-numeric id for an integer column) is the caller's error. */
export function invalidInput(err: unknown, what: string): never {
  const code = (err as { code?: string }).code;
  if (code === '22P02' || code === '22003' || code === '22007' || code === '22008') {
    throw new OpsbookError('BAD_REQUEST', `${what} is not valid for its column type.`);
  }
  throw err;
}

/**
 * SQL assigning a timestamp parameter (an ISO string in UTC) to `col`: a column without time zone
 * (Prisma's `DateTime`, `timestamp(3)`) gets the UTC wall time, whatever the session's TimeZone.
 */
export function timestampValue(param: string, col: { type: string }): string {
  if (/^timestamp\b.*\bwithout time zone$/.test(col.type)) return `(${param}::timestamptz AT TIME ZONE 'UTC')::${col.type}`;
  if (/^timestamp\b.*\bwith time zone$/.test(col.type)) return `${param}::timestamptz::${col.type}`;
  return `${param}::${col.type}`;
}
