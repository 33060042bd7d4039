/**
 * Everything the report shows from data (summaries, details, ids, hints, links) passes through here.
 * Data may hold markup, quotes, SQL, control characters or bidi overrides: it is cleaned, bounded and
 * escaped, never trusted.
 */

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
  // "=" too, so `onerror=` from data never appears literally, even as text.
  '=': '&#61;',
};

/** Escape for HTML text and double- or single-quoted attribute values. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"'`=]/g, (c) => HTML_ESCAPES[c]!);
}

// C0/C1 controls (but tab and newline), zero-width and bidi-override characters, BOM.
const INVISIBLE = /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u200B-\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

/** Any value as a string without invisible or control characters (tabs and newlines kept). */
export function clean(value: unknown): string {
  if (value === undefined || value === null) return '';
  const s = typeof value === 'string' ? value : String(value);
  return s.replace(/\r\n?|[\u2028\u2029]/g, '\n').replace(INVISIBLE, '');
}

/** One line: cleaned, whitespace runs collapsed. */
export function oneLine(value: unknown): string {
  return clean(value).replace(/\s+/g, ' ').trim();
}

/** At most `max` code points (never splitting a surrogate pair), ending with "…" when shortened. */
export function truncate(value: string, max: number): string {
  if (max <= 0) return '';
  if (value.length <= max) return value;
  // Look at no more than 2·max UTF-16 units: a huge string costs no more than a short one.
  const points = Array.from(value.slice(0, max * 2 + 2));
  if (points.length <= max && value.length <= max * 2 + 2) return value;
  return `${points.slice(0, max - 1).join('').trimEnd()}…`;
}

/**
 * One line of at most `max` code points. Cheap on huge input (a 1 MB summary): only a bounded
 * prefix is cleaned.
 */
export function line(value: unknown, max: number): string {
  const s = typeof value === 'string' ? value : clean(value);
  const limit = max * 4 + 64;
  if (s.length <= limit) return truncate(oneLine(s), max);
  const out = truncate(oneLine(s.slice(0, limit)), max);
  return out.endsWith('…') ? out : `${truncate(out, max - 1)}…`;
}

/** One line, bounded, escaped: the usual treatment for a data string in HTML. */
export function htmlLine(value: unknown, max: number): string {
  return escapeHtml(line(value, max));
}

/** Longer URLs are shown as text, not links: they cost bytes and are rarely what they seem. */
export const MAX_URL = 500;

/**
 * A link target, or undefined when it is not one we let a reader click: only absolute http(s) and
 * mailto URLs, without whitespace, quotes or angle brackets. Returned escaped for an attribute.
 */
export function safeHref(value: unknown): string | undefined {
  const url = clean(value).trim();
  if (url.length === 0 || url.length > MAX_URL) return undefined;
  if (!/^(https?:\/\/[^\s/?#]+|mailto:[^\s]+)/i.test(url)) return undefined;
  if (/[\s"'<>\\`]/.test(url)) return undefined;
  return escapeHtml(url);
}
