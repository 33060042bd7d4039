import { clean, line, truncate } from './escape.js';

/** Deterministic formatting for people (no locale, no clock). */

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatNumber(n)} ${n === 1 ? one : many}`;
}

/** 1234567 → "1,234,567"; 0.12345 → "0.12". */
export function formatNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const rounded = Number.isInteger(n) ? n : Math.round(n * 100) / 100;
  const [int, frac] = String(Math.abs(rounded)).split('.');
  const grouped = (int ?? '0').replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${rounded < 0 ? '-' : ''}${grouped}${frac ? `.${frac}` : ''}`;
}

/** "1.2 GB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${n < 0 ? '-' : ''}${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** A metric's value in its unit: bytes in units ("1.2 GB"), others grouped with the unit after ("71 %", "412 sign-ups"). */
export function formatWithUnit(n: number, unit: string | undefined): string {
  const u = line(unit, 20);
  if (/^bytes?$/i.test(u)) return formatBytes(n);
  return u ? `${formatNumber(n)} ${u}` : formatNumber(n);
}

/** "42 s", "5 min", "3 h 12 min", "2 d 4 h". */
export function formatAge(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'unknown';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) {
    const m = Math.floor((s % 3600) / 60);
    return `${Math.floor(s / 3600)} h${m ? ` ${m} min` : ''}`;
  }
  const h = Math.floor((s % 86_400) / 3600);
  return `${Math.floor(s / 86_400)} d${h ? ` ${h} h` : ''}`;
}

/** A signed percentage change, "+3.2%"; undefined when there is no base. */
export function formatChange(from: number, to: number): string | undefined {
  if (!Number.isFinite(from) || !Number.isFinite(to) || from === 0) return undefined;
  const pct = ((to - from) / Math.abs(from)) * 100;
  const r = Math.round(pct * 10) / 10;
  return `${r > 0 ? '+' : ''}${r}%`;
}

/** Columns holding identifiers (pid, id, port, jobId): numbers shown as they are, not grouped. */
const ID_KEY = /(^|[_\s-])(pid|id|oid|port|year)$|[a-z]Id$/i;

/** A detail cell for people: bytes columns in units, numbers grouped, objects as bounded JSON. */
export function formatCell(key: string, value: unknown, max: number): string {
  if (value === undefined || value === null || value === '') return '—';
  if (typeof value === 'number') return /bytes$/i.test(key) ? formatBytes(value) : ID_KEY.test(key) ? String(value) : formatNumber(value);
  if (typeof value === 'bigint') return formatNumber(Number(value));
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'string') {
    // ISO timestamps read (and wrap) better with a space: "2025-03-10 08:41:12Z".
    const iso = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/.exec(value);
    if (iso) return `${iso[1]} ${iso[2]}${iso[3] ?? ''}`;
    return line(value, max);
  }
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'invalid date' : value.toISOString();
  return line(safeJson(value, max * 2), max);
}

export const isNumeric = (value: unknown): boolean => typeof value === 'number' || typeof value === 'bigint';

/** JSON for people: pretty-printed, bounded, never throwing (cycles, BigInt). */
export function safeJson(value: unknown, max: number, indent = 0): string {
  let s: string;
  try {
    const seen = new WeakSet<object>();
    s =
      JSON.stringify(
        value,
        (_k, v: unknown) => {
          if (typeof v === 'bigint') return v.toString();
          if (v && typeof v === 'object') {
            if (seen.has(v)) return '[circular]';
            seen.add(v);
          }
          return v;
        },
        indent,
      ) ?? String(value);
  } catch {
    s = '[unprintable]';
  }
  return truncate(clean(s), max);
}

/**
 * An admin action's body as people copy it: one key per line, each value compact JSON, so a long list
 * stays one line instead of thirty. Valid JSON unless a value had to be shortened (it ends with "…").
 */
export function actionJson(body: unknown, maxValue: number): string {
  if (!body || typeof body !== 'object' || Array.isArray(body)) return safeJson(body ?? {}, maxValue);
  const entries = Object.entries(body as Record<string, unknown>).slice(0, 20);
  if (entries.length === 0) return '{}';
  const lines = entries.map(([k, v], i) => `  ${safeJson(k, 80)}: ${safeJson(v, maxValue)}${i < entries.length - 1 ? ',' : ''}`);
  return `{\n${lines.join('\n')}\n}`;
}
