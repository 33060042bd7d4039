import * as z from 'zod';
import type { Db } from '../db/index.js';
import { messageOf } from '../errors.js';
import { redactSecrets } from '../env.js';

/**
 * Table and column names for maintenance tasks. A name from a config is never pasted into SQL: it is
 * parsed (Postgres' own rules: an unquoted part is folded to lower case, a "quoted" part is kept exactly,
 * `""` inside quotes is one `"`), looked up in the live catalog (pg_class / pg_namespace / pg_attribute),
 * and the SQL quotes the catalog's value. So `users; DROP TABLE x` is not a name at all, and `"a"";DROP"`
 * is the name `a";DROP`, which the catalog does not have.
 *
 * Accepted: `table` (→ schema public), `schema.table`, and any part quoted: `"public"."Order Items"`,
 * `public."AuditLogs"` (what `format('%I.%I')` and the diagnostics hints produce).
 */

export interface QualifiedName {
  schema: string;
  name: string;
}

/** Postgres truncates identifiers at NAMEDATALEN - 1 bytes; a longer name would silently match another. */
const MAX_IDENT_BYTES = 63;
const UNQUOTED = /^[A-Za-z_\u0080-\uFFFF][A-Za-z0-9_$\u0080-\uFFFF]*/;

/** `"x"`: always quoted, `"` doubled. Only ever applied to names read from the catalog. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** `"schema"."table"`, for SQL, summaries and audit rows. */
export function quoteQualified(q: QualifiedName): string {
  return `${quoteIdent(q.schema)}.${quoteIdent(q.name)}`;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** Split a dotted name into identifiers, by Postgres' rules. */
function parseParts(input: string): Parsed<string[]> {
  const parts: string[] = [];
  let i = 0;
  for (;;) {
    if (input[i] === '"') {
      let j = i + 1;
      let value = '';
      for (;;) {
        const end = input.indexOf('"', j);
        if (end < 0) return { ok: false, error: 'unterminated quoted identifier' };
        value += input.slice(j, end);
        if (input[end + 1] === '"') {
          value += '"';
          j = end + 2;
          continue;
        }
        i = end + 1;
        break;
      }
      if (value === '') return { ok: false, error: 'empty quoted identifier' };
      parts.push(value);
    } else {
      const m = UNQUOTED.exec(input.slice(i));
      if (!m) return { ok: false, error: 'a name is letters, digits, _ and $ (starting with a letter or _), or "quoted"' };
      // Postgres folds only ASCII letters of unquoted identifiers.
      parts.push(m[0].replace(/[A-Z]/g, (c) => c.toLowerCase()));
      i += m[0].length;
    }
    if (i === input.length) break;
    if (input[i] !== '.') return { ok: false, error: `unexpected "${input[i]}" after ${JSON.stringify(input.slice(0, i))}` };
    i++;
  }
  for (const p of parts) {
    if (p.includes('\0')) return { ok: false, error: 'a name cannot contain a NUL character' };
    if (Buffer.byteLength(p) > MAX_IDENT_BYTES) return { ok: false, error: `"${p.slice(0, 20)}…" is longer than ${MAX_IDENT_BYTES} bytes` };
  }
  return { ok: true, value: parts };
}

/** `table`, `schema.table` or their quoted forms; the schema defaults to public. */
export function parseTableName(input: string): Parsed<QualifiedName> {
  const parts = parseParts(input);
  if (!parts.ok) return parts;
  if (parts.value.length === 1) return { ok: true, value: { schema: 'public', name: parts.value[0]! } };
  if (parts.value.length === 2) return { ok: true, value: { schema: parts.value[0]!, name: parts.value[1]! } };
  return { ok: false, error: 'expected table or schema.table' };
}

/** One column name, unquoted (folded to lower case) or "quoted". */
export function parseColumnName(input: string): Parsed<string> {
  const parts = parseParts(input);
  if (!parts.ok) return parts;
  if (parts.value.length !== 1) return { ok: false, error: 'expected a single column name' };
  return { ok: true, value: parts.value[0]! };
}

/** Zod fields that reject what can never be a name, so `opsbook check-config` catches it before a run. */
export const tableNameField = z
  .string()
  .min(1)
  .max(300)
  .superRefine((value, ctx) => {
    const parsed = parseTableName(value);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `invalid table name: ${parsed.error}` });
  });

export const columnNameField = z
  .string()
  .min(1)
  .max(150)
  .superRefine((value, ctx) => {
    const parsed = parseColumnName(value);
    if (!parsed.ok) ctx.addIssue({ code: 'custom', message: `invalid column name: ${parsed.error}` });
  });

// ---------------------------------------------------------------------------------------------------------------
// The catalog

export type RelKind = 'r' | 'p' | 'm' | 'v' | 'f' | 'S' | 'i' | 'I' | 'c' | 't';

const RELKIND_NAMES: Record<string, string> = {
  r: 'table',
  p: 'partitioned table',
  m: 'materialized view',
  v: 'view',
  f: 'foreign table',
  S: 'sequence',
  i: 'index',
  I: 'partitioned index',
  c: 'composite type',
  t: 'TOAST table',
};

/** A relation as the catalog names it. `quoted` is the only form that goes into SQL. */
export interface CatalogTable extends QualifiedName {
  oid: string;
  relkind: RelKind;
  quoted: string;
}

const LOOKUP_SQL = `SELECT e.ord::int AS ord, c.oid::text AS oid, n.nspname AS schema, c.relname AS name, c.relkind::text AS relkind,
       alt.nspname AS alt_schema, alt.relname AS alt_name
FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS e(schema, name, ord)
LEFT JOIN pg_namespace n ON n.nspname = e.schema
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = e.name
LEFT JOIN LATERAL (
  SELECT n2.nspname, c2.relname FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace
  WHERE c.oid IS NULL AND lower(n2.nspname) = lower(e.schema) AND lower(c2.relname) = lower(e.name)
    AND c2.relkind IN ('r', 'p', 'm')
  ORDER BY 1, 2 LIMIT 1
) alt ON true
ORDER BY e.ord`;

/** Schemas a retention delete never touches: the catalog, and Opsbook's own history (prune-history owns it). */
export const SYSTEM_SCHEMAS = ['pg_catalog', 'information_schema', 'pg_toast', 'opsbook'];

export type Resolved = { ok: true; tables: CatalogTable[] } | { ok: false; problems: string[] };

/** One name's lookup: the relation it names, or why it names none that may be used. */
export type Lookup = { input: string; ok: true; table: CatalogTable } | { input: string; ok: false; problem: string };

/**
 * Look each name up in the catalog (one round trip for all of them), one answer per input in order, so a
 * caller that acts on each table on its own can go on with the others. Each must name a relation of one
 * of `kinds`; a name that only differs by case gets a "did you mean" with the quoted form to write.
 */
export async function lookupTables(db: Db, inputs: string[], kinds: RelKind[]): Promise<Lookup[]> {
  const answers: Array<Lookup | undefined> = inputs.map(() => undefined);
  const wanted: Array<{ at: number; name: QualifiedName }> = [];
  for (const [at, input] of inputs.entries()) {
    const p = parseTableName(input);
    if (p.ok) wanted.push({ at, name: p.value });
    else answers[at] = { input, ok: false, problem: `${shown(input)}: invalid table name (${p.error})` };
  }
  if (wanted.length) {
    const [res] = await db.batch([{ text: LOOKUP_SQL, params: [wanted.map((w) => w.name.schema), wanted.map((w) => w.name.name)] }]);
    for (const row of res!.rows) {
      const { at, name } = wanted[Number(row.ord) - 1]!;
      const input = inputs[at]!;
      if (row.oid === null || row.oid === undefined) {
        const alt = row.alt_name ? quoteQualified({ schema: String(row.alt_schema), name: String(row.alt_name) }) : undefined;
        answers[at] = { input, ok: false, problem: `${shown(input)}: no table ${quoteQualified(name)}${alt ? ` (did you mean ${alt}? a mixed-case name is written quoted)` : ''}` };
        continue;
      }
      const t: CatalogTable = { oid: String(row.oid), schema: String(row.schema), name: String(row.name), relkind: String(row.relkind) as RelKind, quoted: '' };
      t.quoted = quoteQualified(t);
      answers[at] = kinds.includes(t.relkind)
        ? { input, ok: true, table: t }
        : { input, ok: false, problem: `${t.quoted} is a ${RELKIND_NAMES[t.relkind] ?? t.relkind}, not a ${kinds.map((k) => RELKIND_NAMES[k]).join(' or ')}` };
    }
  }
  return answers.map((a, at) => a ?? { input: inputs[at]!, ok: false, problem: `${shown(inputs[at]!)}: not looked up` });
}

/**
 * Look names up in the catalog for a task that acts on all of them or none: every problem, or the
 * tables (a relation named twice, e.g. `users` and `public.users`, once).
 */
export async function resolveTables(db: Db, inputs: string[], kinds: RelKind[]): Promise<Resolved> {
  const answers = await lookupTables(db, inputs, kinds);
  const problems = answers.flatMap((a) => (a.ok ? [] : [a.problem]));
  if (problems.length) return { ok: false, problems };
  const seen = new Set<string>();
  const tables: CatalogTable[] = [];
  for (const a of answers) {
    if (!a.ok || seen.has(a.table.oid)) continue;
    seen.add(a.table.oid);
    tables.push(a.table);
  }
  return { ok: true, tables };
}

/** A config value echoed back in a message: bounded and JSON-quoted so it cannot pass for SQL. */
export function shown(input: string): string {
  return JSON.stringify(input.length > 80 ? `${input.slice(0, 80)}…` : input);
}

/** A driver error for a summary: one line, no secrets, bounded. */
export function errorText(err: unknown): string {
  return redactSecrets(messageOf(err)).replace(/\s+/g, ' ').slice(0, 300);
}

// ---------------------------------------------------------------------------------------------------------------
// Time budget

/**
 * A task's time limit. The checklist runner stops waiting at `timeoutMs`, but cannot cancel the work:
 * tasks check `canStart()` before each batch or table, so they stop on their own with time to spare,
 * and give long statements `remainingMs()` as their statement timeout.
 */
export function budget(timeoutMs: number): { canStart(): boolean; remainingMs(): number; elapsedMs(): number } {
  const start = performance.now();
  const stopStartingAt = start + timeoutMs * 0.8;
  const hardEnd = start + timeoutMs - Math.min(500, timeoutMs * 0.05);
  return {
    canStart: () => performance.now() < stopStartingAt,
    remainingMs: () => Math.max(1000, Math.floor(hardEnd - performance.now())),
    elapsedMs: () => Math.round(performance.now() - start),
  };
}

/** "850 ms", "3 min 12 s". */
export function took(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}
