/**
 * Gatus-style conditions on a JSON body: `{ path: "data.items[0].state", op: "eq", value: "running" }`.
 *
 * Paths: dotted keys and list indexes, `[n]` or `.n` (`[-1]` / `.-1` is the last element), `["key.with.dots"]` for odd keys,
 * an optional `$.` or Gatus' `[BODY].` prefix, and `.length` on a list for its size.
 */

export type Op = 'eq' | 'neq' | 'lt' | 'lte' | 'gt' | 'gte' | 'contains' | 'exists';
export type Scalar = string | number | boolean | null;

export interface Condition {
  path: string;
  op: Op;
  value?: Scalar;
}

export type Segment = { key: string } | { index: number };

/** The path's segments, or a message saying what is wrong with it. */
export function parsePath(path: string): Segment[] | { error: string } {
  let s = path.trim();
  if (s.startsWith('[BODY]')) s = s.slice(6);
  else if (s.startsWith('$')) s = s.slice(1);
  const segments: Segment[] = [];
  const token = /\.?([^.[\]'"\s]+)|\[(-?\d+)\]|\[(["'])(.*?)\3\]/y;
  let i = 0;
  while (i < s.length) {
    token.lastIndex = i;
    const m = token.exec(s);
    // A key needs its dot, except as the first segment.
    if (!m || (m[1] !== undefined && i > 0 && s[i] !== '.')) return { error: `cannot read "${path}" at character ${i + 1}` };
    if (m[1] !== undefined) segments.push({ key: m[1] });
    else if (m[2] !== undefined) segments.push({ index: Number(m[2]) });
    else segments.push({ key: m[4] ?? '' });
    i = token.lastIndex;
  }
  return segments;
}

/** Follow segments into a JSON value; `found` is false when any step is missing. */
export function select(root: unknown, segments: Segment[]): { found: boolean; value?: unknown } {
  let v: unknown = root;
  for (const seg of segments) {
    if ('index' in seg) {
      if (!Array.isArray(v)) return { found: false };
      const i = seg.index < 0 ? v.length + seg.index : seg.index;
      if (i < 0 || i >= v.length) return { found: false };
      v = v[i];
    } else if (Array.isArray(v) && seg.key === 'length') {
      v = v.length;
    } else if (Array.isArray(v) && /^-?\d+$/.test(seg.key)) {
      // `items.0.state` reads like `items[0].state`: the dotted form is how most tools (and the config
      // reference) write a list index, and refusing it would fail a healthy endpoint forever.
      const n = Number(seg.key);
      const i = n < 0 ? v.length + n : n;
      if (i < 0 || i >= v.length) return { found: false };
      v = v[i];
    } else if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.hasOwn(v, seg.key)) {
      v = (v as Record<string, unknown>)[seg.key];
    } else {
      return { found: false };
    }
  }
  return { found: true, value: v };
}

/** A problem with a condition itself (bad path, missing value), found before any request is sent. */
export function conditionProblem(c: Condition): string | undefined {
  const parsed = parsePath(c.path);
  if ('error' in parsed) return parsed.error;
  if (c.op !== 'exists' && c.value === undefined) return `"${c.path}" ${c.op} needs a value`;
  if (['lt', 'lte', 'gt', 'gte'].includes(c.op) && toNumber(c.value) === undefined) return `"${c.path}" ${c.op} needs a number, got ${JSON.stringify(c.value)}`;
  return undefined;
}

export interface ConditionFailure {
  path: string;
  op: Op;
  expected?: Scalar;
  /** Whether the path exists in the body; the actual value stays raw for the caller to redact and format. */
  found: boolean;
  actual?: unknown;
  /** How the expectation reads: "'ok'", "< 100", "to contain 'x'". */
  expectation: string;
}

/** Evaluate one (valid) condition against a parsed body; undefined when it holds. */
export function evaluate(body: unknown, c: Condition): ConditionFailure | undefined {
  const segments = parsePath(c.path);
  if ('error' in segments) throw new Error(segments.error);
  const { found, value } = select(body, segments);
  const fail = (expectation: string): ConditionFailure => ({ path: c.path, op: c.op, expected: c.value, found, actual: value, expectation });
  const shown = (v: unknown) => formatValue(v, 80);
  switch (c.op) {
    case 'exists': {
      const wantAbsent = c.value === false || c.value === 'false';
      if (found === !wantAbsent) return undefined;
      return fail(wantAbsent ? 'to be absent' : 'to exist');
    }
    case 'eq':
      return found && looseEqual(value, c.value) ? undefined : fail(shown(c.value));
    case 'neq':
      return found && !looseEqual(value, c.value) ? undefined : fail(`anything but ${shown(c.value)}`);
    case 'contains':
      return found && contains(value, c.value) ? undefined : fail(`to contain ${shown(c.value)}`);
    default: {
      const symbol = { lt: '<', lte: '<=', gt: '>', gte: '>=' }[c.op];
      const a = found ? toNumber(value) : undefined;
      const e = toNumber(c.value);
      if (a === undefined || e === undefined) return fail(`a number ${symbol} ${e}`);
      const holds = c.op === 'lt' ? a < e : c.op === 'lte' ? a <= e : c.op === 'gt' ? a > e : a >= e;
      return holds ? undefined : fail(`${symbol} ${e}`);
    }
  }
}

/** Numbers and numeric strings compare as numbers; null equals only null; other scalars compare as text. */
function looseEqual(actual: unknown, expected: unknown): boolean {
  if (actual === expected) return true;
  if (actual === null || expected === null || actual === undefined || typeof actual === 'object') return false;
  const a = toNumber(actual);
  const e = toNumber(expected);
  if (a !== undefined && e !== undefined) return a === e;
  return String(actual) === String(expected);
}

function contains(actual: unknown, expected: unknown): boolean {
  if (typeof actual === 'string') return actual.includes(String(expected));
  if (Array.isArray(actual)) return actual.some((x) => looseEqual(x, expected));
  if (actual !== null && typeof actual === 'object') return Object.hasOwn(actual, String(expected));
  return false;
}

function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return undefined;
}

/** `'text'` for strings, JSON otherwise, cut to `max` characters. */
export function formatValue(v: unknown, max: number): string {
  const text = typeof v === 'string' ? `'${v}'` : v === undefined ? 'undefined' : JSON.stringify(v);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}
