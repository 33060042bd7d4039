import pg from 'pg';

/**
 * Inline bound parameters into SQL text as escaped literals, so several statements can travel as one
 * simple-protocol query (one round trip on node-postgres, which otherwise waits for each statement).
 * Values are converted exactly as node-postgres converts bound parameters (arrays → array literals,
 * dates → timestamps, objects → JSON), then quoted with its escapeLiteral. `$n` inside quoted strings,
 * quoted identifiers and comments is left alone.
 */
export function inlineParams(text: string, params: readonly unknown[] = []): string {
  if (params.length === 0) return text;
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = skipQuoted(text, i, c);
      out += text.slice(i, end);
      i = end;
    } else if (c === '-' && text[i + 1] === '-') {
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? text.length : end;
      out += text.slice(i, stop);
      i = stop;
    } else if (c === '$' && /[0-9]/.test(text[i + 1] ?? '') && !/[\w$]/.test(text[i - 1] ?? '')) {
      let j = i + 1;
      while (/[0-9]/.test(text[j] ?? '')) j++;
      const n = Number(text.slice(i + 1, j));
      if (n < 1 || n > params.length) throw new Error(`SQL refers to $${n} but ${params.length} parameter(s) were given`);
      out += literal(params[n - 1]);
      i = j;
    } else {
      out += c;
      i++;
    }
  }
  return out;
}

function skipQuoted(text: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < text.length) {
    if (text[i] === quote) {
      if (text[i + 1] === quote) i += 2;
      else return i + 1;
    } else i++;
  }
  return i;
}

/** node-postgres exports its own value conversion, untyped in @types/pg. */
const prepareValue = (pg as unknown as { utils: { prepareValue(v: unknown): unknown } }).utils.prepareValue;

function literal(value: unknown): string {
  const prepared = prepareValue(value) as string | null | undefined | Buffer;
  if (prepared === null || prepared === undefined) return 'NULL';
  if (Buffer.isBuffer(prepared)) return `'\\x${prepared.toString('hex')}'::bytea`;
  return pg.escapeLiteral(String(prepared));
}
