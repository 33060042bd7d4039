import type { AppSchemaMapping, OpsbookConfig } from '../config/index.js';
import type { Db } from '../db/index.js';
import { OpsbookError } from '../errors.js';

/** A Postgres identifier, double-quoted (camelCase like "suspendedAt" keeps its case). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export interface ResolvedTable {
  /** `"schema"."table"`, quoted from the catalog's own names. */
  table: string;
  /** Logical column → quoted name and its SQL type (from the catalog, safe to inline as a cast). */
  columns: Record<string, { ident: string; type: string }>;
  /** Column names never returned or audited (masked). */
  sensitive: string[];
}

const COLUMNS_SQL = `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`;

/**
 * Check a mapped table against the live catalog: the table and every mapped column must exist. The
 * identifiers used in SQL are the catalog's, quoted; values are always bound parameters.
 */
export async function resolveTable(
  db: Db,
  kind: 'users' | 'apiKeys',
  mapping: NonNullable<AppSchemaMapping['users']> | NonNullable<AppSchemaMapping['apiKeys']> | undefined,
  required: string[],
): Promise<ResolvedTable> {
  const path = kind === 'users' ? 'app.users' : 'app.apiKeys';
  if (!mapping) throw new OpsbookError('MISCONFIGURED', `This action needs ${path} in opsbook.config.ts (the table and its columns).`);
  const { rows } = await db.query<{ name: string; type: string }>(COLUMNS_SQL, [mapping.schema, mapping.table]);
  if (rows.length === 0) throw new OpsbookError('MISCONFIGURED', `${path}: table ${mapping.schema}.${mapping.table} does not exist.`);
  const byName = new Map(rows.map((r) => [r.name, r.type]));
  const columns: ResolvedTable['columns'] = {};
  const missing: string[] = [];
  for (const [logical, name] of Object.entries(mapping.columns as Record<string, string | undefined>)) {
    if (!name) continue;
    const type = byName.get(name);
    if (type === undefined) missing.push(`${path}.columns.${logical} = "${name}"`);
    else columns[logical] = { ident: quoteIdent(name), type };
  }
  if (missing.length) throw new OpsbookError('MISCONFIGURED', `Columns not found in ${mapping.schema}.${mapping.table}: ${missing.join(', ')}.`);
  const absent = required.filter((r) => !columns[r]);
  if (absent.length) throw new OpsbookError('MISCONFIGURED', `This action needs ${absent.map((a) => `${path}.columns.${a}`).join(', ')} in opsbook.config.ts.`);
  const sensitive = 'sensitive' in mapping ? mapping.sensitive.filter((s) => byName.has(s)) : [];
  return { table: `${quoteIdent(mapping.schema)}.${quoteIdent(mapping.table)}`, columns, sensitive };
}

export function usersTable(db: Db, config: OpsbookConfig, required: string[]): Promise<ResolvedTable> {
  return resolveTable(db, 'users', config.app.users, ['id', ...required]);
}

export function apiKeysTable(db: Db, config: OpsbookConfig, required: string[]): Promise<ResolvedTable> {
  return resolveTable(db, 'apiKeys', config.app.apiKeys, ['id', ...required]);
}

/** Bad input for the column's type (a non-numeric id for an integer column) is the caller's error. */
export function invalidInput(err: unknown, what: string): never {
  const code = (err as { code?: string }).code;
  if (code === '22P02' || code === '22003' || code === '22007' || code === '22008') {
    throw new OpsbookError('BAD_REQUEST', `${what} is not valid for its column type.`);
  }
  throw err;
}

/** Column names that look secret: never returned or audited, whatever `sensitive` lists. */
export const SECRET_COLUMN_PATTERN = 'pass|secret|token|hash|salt';

/**
 * SQL for the row `alias` as jsonb, masked: without the configured sensitive columns (`sensitiveParam`,
 * a text[] parameter such as `$2`) and without any column whose name matches `pattern` (case-insensitive).
 * The pattern is SQL text, so it must be a constant of the code, never input.
 */
export function maskedRow(alias: string, sensitiveParam: string, pattern: string = SECRET_COLUMN_PATTERN): string {
  if (!/^[A-Za-z0-9_|^$]+$/.test(pattern)) throw new Error(`maskedRow: pattern ${JSON.stringify(pattern)} must be names joined by |`);
  return `(SELECT COALESCE(jsonb_object_agg(m.key, m.value), '{}'::jsonb) FROM jsonb_each(to_jsonb(${alias}) - ${sensitiveParam}::text[]) m WHERE m.key !~* '${pattern}')`;
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
