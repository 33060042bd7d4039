/**
 * Postgres's lexical rules, once: the SQL guard (lib/config/sql-guard.ts) and the query-text
 * normaliser (lib/sql/normalize.ts) both read SQL through this, so what the guard takes for a string
 * literal is exactly what the normaliser hides.
 *
 * One left-to-right pass: '…' strings ('' escapes; backslash escapes in E'…' strings, and in every
 * string when `backslashQuotes`, as with standard_conforming_strings off), B'…' X'…' N'…' U&'…'
 * strings, "…" and U&"…" identifiers, $tag$…$tag$ bodies, -- comments (ending at \n or \r) and nested
 * /* … *\/ comments, $n parameters and numbers. Regex replacements applied one kind after the other
 * cannot do this: a quote inside a comment (or an escaped quote) would pair with a later one and hide
 * what is in between. Unterminated strings, identifiers, bodies and comments run to the end of the
 * text (as a cut-off query text does), so nothing after an open quote is ever read as SQL.
 */

export type TokenKind = 'word' | 'string' | 'dollar' | 'ident' | 'uident' | 'comment' | 'param' | 'number' | 'space' | 'other';

export interface Token {
  kind: TokenKind;
  /** The token's text as written (quotes, prefix and all). */
  text: string;
  /** For `ident`: the name, unquoted. */
  name?: string;
  /** False for a string, identifier, body or comment the text ends inside of. */
  terminated: boolean;
}

const IDENT_START = /[A-Za-z_\u0080-\uffff]/;
const IDENT_CONT = /[A-Za-z0-9_$\u0080-\uffff]/;
const DOLLAR_TAG = /^\$(?:[A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/;
/** Decimal (with PG16's 1_000 separators), fraction, exponent; PG16's 0x/0o/0b integers. */
const NUMBER = /^(?:0[xX][0-9A-Fa-f]+(?:_[0-9A-Fa-f]+)*|0[oO][0-7]+(?:_[0-7]+)*|0[bB][01]+(?:_[01]+)*|(?:\d+(?:_\d+)*(?:\.(?:\d+(?:_\d+)*)?)?|\.\d+(?:_\d+)*)(?:[eE][+-]?\d+)?)/;
/** Before PostgreSQL 16 a number is digits, and `1_000` or `0x1F` is a number followed by an identifier. */
const LEGACY_NUMBER = /^\d+/;
const SPACE = /\s/;

export interface LexOptions {
  /** Backslash escapes in every '…' string, as with standard_conforming_strings off. @default false */
  backslashQuotes?: boolean;
  /**
   * `pg16` reads 1_000, 0x1F, 0o17, 0b101 and 1.5e3 as one number; `legacy` reads digits only, as older
   * servers (and a trailing `$` then continues an identifier: `_000$$`). @default 'pg16'
   */
  numbers?: 'pg16' | 'legacy';
}

/** Every way a server may read a text: readers that must be safe under all of them try each. */
export const LEX_VARIANTS: ReadonlyArray<Required<LexOptions>> = [
  { backslashQuotes: false, numbers: 'pg16' },
  { backslashQuotes: true, numbers: 'pg16' },
  { backslashQuotes: false, numbers: 'legacy' },
  { backslashQuotes: true, numbers: 'legacy' },
];

/** The tokens of `sql`; concatenating their texts gives `sql` back. */
export function tokenize(sql: string, opts: LexOptions = {}): Token[] {
  const backslashQuotes = opts.backslashQuotes ?? false;
  const legacy = opts.numbers === 'legacy';
  const out: Token[] = [];
  const n = sql.length;
  /** End of a '…' string whose opening quote is at `quote`, and whether it was closed. */
  const stringEnd = (quote: number, backslash: boolean): [number, boolean] => {
    let i = quote + 1;
    while (i < n) {
      const c = sql[i]!;
      if (backslash && c === '\\') i += 2;
      else if (c === "'") {
        if (sql[i + 1] === "'") i += 2;
        else return [i + 1, true];
      } else i++;
    }
    return [n, false];
  };
  const identEnd = (quote: number): [number, boolean] => {
    let i = quote + 1;
    while (i < n) {
      if (sql[i] === '"') {
        if (sql[i + 1] === '"') i += 2;
        else return [i + 1, true];
      } else i++;
    }
    return [n, false];
  };
  const push = (kind: TokenKind, start: number, end: number, terminated = true, name?: string) => {
    out.push({ kind, text: sql.slice(start, Math.min(end, n)), terminated, ...(name !== undefined ? { name } : {}) });
  };
  let i = 0;
  while (i < n) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < n && IDENT_CONT.test(sql[j]!)) j++;
      const word = sql.slice(i, j);
      if (sql[j] === "'" && /^[eEbBxXnN]$/.test(word)) {
        const [end, closed] = stringEnd(j, backslashQuotes || /^[eE]$/.test(word));
        push('string', i, end, closed);
        i = end;
      } else if (/^[uU]$/.test(word) && sql[j] === '&' && sql[j + 1] === "'") {
        const [end, closed] = stringEnd(j + 1, backslashQuotes);
        push('string', i, end, closed);
        i = end;
      } else if (/^[uU]$/.test(word) && sql[j] === '&' && sql[j + 1] === '"') {
        const [end, closed] = identEnd(j + 1);
        push('uident', i, end, closed);
        i = end;
      } else {
        push('word', i, j);
        i = j;
      }
    } else if (c === "'") {
      const [end, closed] = stringEnd(i, backslashQuotes);
      push('string', i, end, closed);
      i = end;
    } else if (c === '"') {
      const [end, closed] = identEnd(i);
      push('ident', i, end, closed, sql.slice(i + 1, closed ? end - 1 : end).replace(/""/g, '"'));
      i = end;
    } else if (c === '-' && next === '-') {
      let j = i + 2;
      while (j < n && sql[j] !== '\n' && sql[j] !== '\r') j++;
      push('comment', i, j);
      i = j;
    } else if (c === '/' && next === '*') {
      let depth = 1;
      let j = i + 2;
      while (j < n && depth > 0) {
        if (sql[j] === '/' && sql[j + 1] === '*') {
          depth++;
          j += 2;
        } else if (sql[j] === '*' && sql[j + 1] === '/') {
          depth--;
          j += 2;
        } else j++;
      }
      push('comment', i, j, depth === 0);
      i = j;
    } else if (c === '$' && /[0-9]/.test(next ?? '')) {
      let j = i + 1;
      while (j < n && /[0-9]/.test(sql[j]!)) j++;
      push('param', i, j);
      i = j;
    } else if (c === '$') {
      const tag = sql.slice(i).match(DOLLAR_TAG)?.[0];
      if (tag) {
        const close = sql.indexOf(tag, i + tag.length);
        const end = close === -1 ? n : close + tag.length;
        push('dollar', i, end, close !== -1);
        i = end;
      } else {
        push('other', i, i + 1);
        i++;
      }
    } else if (/[0-9]/.test(c) || (!legacy && c === '.' && /[0-9]/.test(next ?? ''))) {
      const m = sql.slice(i, i + 400).match(legacy ? LEGACY_NUMBER : NUMBER)![0];
      push('number', i, i + m.length);
      i += m.length;
    } else if (SPACE.test(c)) {
      let j = i + 1;
      while (j < n && SPACE.test(sql[j]!)) j++;
      push('space', i, j);
      i = j;
    } else {
      push('other', i, i + 1);
      i++;
    }
  }
  return out;
}
