import { LEX_VARIANTS, tokenize, type Token } from './lexer.js';

/**
 * The one rule for SQL text that leaves Opsbook (other sessions' queries from pg_stat_activity,
 * statements from pg_stat_statements): in diagnostics JSON and text, playbooks, stored and emailed
 * reports, logs and Sentry, it is only ever what `displayQueryText` returns.
 *
 * - Literals become placeholders, as pg_stat_statements writes them: '…', E'…', B'…', X'…', N'…',
 *   U&'…', $tag$…$tag$ and numbers become $n (numbered after the text's own $n parameters).
 *   Comments are dropped (they are free text) and whitespace is folded.
 * - A statement that carries a credential shows only its command tag ("ALTER ROLE — text withheld:
 *   carries a credential"): role and user passwords, user mappings, subscriptions' connection
 *   strings, dblink connections, pgcrypto keys, a SET of a credential-named setting, COPY … PROGRAM.
 * - The text is lexed the way the SQL guard lexes it (lib/sql/lexer.ts), under every reading a server
 *   may have (standard_conforming_strings on and off, PostgreSQL 16 numbers and older ones). If any
 *   reading sees a literal where the shown text would show SQL, the text is withheld. A text cut off
 *   inside a literal (pg_stat_activity's are cut) hides everything after the open quote.
 */

export type QueryTextMode = 'normalized' | 'raw';

/** The note after the command tag when a statement's text is withheld. */
export const WITHHELD_CREDENTIAL = 'text withheld: carries a credential';
export const WITHHELD_AMBIGUOUS = 'text withheld: its quoting reads differently on different servers';

const LITERAL = new Set<Token['kind']>(['string', 'dollar', 'number', 'comment']);
/** Names that say a setting, option or parameter holds a credential. */
export const CREDENTIAL_NAME = /pass(word|wd)?|pwd|secret|token|credential|api_?key|private_?key|auth/i;
/** pgcrypto functions that take a key or a password as an argument. */
const KEYED_FUNCTIONS = new Set(['crypt', 'encrypt', 'decrypt', 'encrypt_iv', 'decrypt_iv', 'hmac']);

/** Significant tokens: what the statement says, without spaces and comments. */
function significant(tokens: Token[]): Token[] {
  return tokens.filter((t) => t.kind !== 'space' && t.kind !== 'comment');
}

const lower = (t: Token | undefined): string => (t?.kind === 'word' ? t.text.toLowerCase() : t?.kind === 'ident' ? (t.name ?? '').toLowerCase() : '');

/** The command tag of a statement: "SELECT", "ALTER ROLE", "CREATE USER MAPPING"; keywords only. */
export function commandTag(sql: string): string {
  const words = significant(tokenize(sql))
    .filter((t) => t.kind === 'word')
    .slice(0, 4)
    .map((t) => t.text.toLowerCase());
  const first = words[0];
  if (!first || !/^[a-z]{2,20}$/.test(first)) return 'statement';
  const tag = [first];
  if (['create', 'alter', 'drop'].includes(first)) {
    let k = 1;
    while (['or', 'replace', 'temp', 'temporary', 'unique', 'materialized'].includes(words[k] ?? '')) k++;
    const object = words[k];
    if (object && /^[a-z]{2,20}$/.test(object)) tag.push(object);
    if (object === 'user' && words[k + 1] === 'mapping') tag.push('mapping');
  }
  return tag.join(' ').toUpperCase();
}

/** Why this statement's text must not be shown at all, or undefined. */
export function credentialReason(tokens: Token[]): string | undefined {
  const sig = significant(tokens);
  const words = sig.map(lower);
  const first = words[0] ?? '';
  const ddl = first === 'create' || first === 'alter';
  const object = ddl ? words.slice(1).find((w) => !['or', 'replace'].includes(w)) : undefined;
  if (ddl && (object === 'role' || object === 'user' || object === 'group') && words.includes('password')) return 'a role password';
  if (ddl && object === 'user' && words.includes('mapping')) return 'a user mapping';
  if (ddl && (object === 'subscription' || object === 'server')) return 'a connection string';
  if (first === 'copy' && words.includes('program')) return 'a shell command';
  for (let i = 0; i < sig.length; i++) {
    const w = words[i]!;
    if (w.startsWith('dblink') || w.startsWith('pgp_')) return 'a connection or a key';
    if (KEYED_FUNCTIONS.has(w) && sig[i + 1]?.text === '(') return 'a key';
    if (w === 'set_config' && sig[i + 1]?.text === '(' && sig[i + 2]?.kind === 'string' && CREDENTIAL_NAME.test(sig[i + 2]!.text)) return 'a credential setting';
  }
  const sets = first === 'set' || first === 'reset' || (first === 'alter' && words.includes('set'));
  if (sets && sig.some((t) => (t.kind === 'word' || t.kind === 'ident') && CREDENTIAL_NAME.test(lower(t)))) return 'a credential setting';
  return undefined;
}

/** Character positions a reading hides (literals, bodies, numbers, comments). */
function hiddenRanges(tokens: Token[]): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let at = 0;
  for (const t of tokens) {
    if (LITERAL.has(t.kind) || ((t.kind === 'ident' || t.kind === 'uident') && !t.terminated)) out.push([at, at + t.text.length]);
    at += t.text.length;
  }
  return out;
}

/** Is every position `other` hides also hidden by `shown`? */
function covers(shown: Array<[number, number]>, other: Array<[number, number]>): boolean {
  let k = 0;
  for (const [s, e] of other) {
    let pos = s;
    while (pos < e) {
      while (k < shown.length && shown[k]![1] <= pos) k++;
      const r = shown[k];
      if (!r || r[0] > pos) return false;
      pos = r[1];
    }
  }
  return true;
}

/**
 * `sql` with every literal a placeholder, or only its command tag when it carries a credential or
 * cannot be read one way. Pure; never throws.
 */
export function normalizeQueryText(sql: string): string {
  const tokens = tokenize(sql);
  if (credentialReason(tokens)) return `${commandTag(sql)} — ${WITHHELD_CREDENTIAL}`;
  const hidden = hiddenRanges(tokens);
  for (const lex of LEX_VARIANTS.slice(1)) {
    const other = tokenize(sql, lex);
    if (credentialReason(other)) return `${commandTag(sql)} — ${WITHHELD_CREDENTIAL}`;
    if (!covers(hidden, hiddenRanges(other))) return `${commandTag(sql)} — ${WITHHELD_AMBIGUOUS}`;
  }
  let next = 1 + Math.max(0, ...tokens.filter((t) => t.kind === 'param').map((t) => Number(t.text.slice(1)) || 0));
  let out = '';
  for (const t of tokens) {
    if (t.kind === 'string' || t.kind === 'dollar' || t.kind === 'number') out += `$${next++}`;
    else if (t.kind === 'comment' || t.kind === 'space') out += ' ';
    else if ((t.kind === 'ident' || t.kind === 'uident') && !t.terminated) out += '"…"';
    else out += t.text;
  }
  return out.replace(/\s+/g, ' ').trim();
}

/** Query text as it may be shown: normalised unless an admin asked for it raw. Null stays null. */
export function displayQueryText(sql: string | null | undefined, mode: QueryTextMode = 'normalized'): string | null {
  if (sql === null || sql === undefined) return null;
  return mode === 'raw' ? sql : normalizeQueryText(sql);
}
