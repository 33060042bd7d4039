import { redactSecrets } from '../../env.js';
import type { CheckOutcome } from '../types.js';

/** A secret a check used (a header read from the environment), by the variable it came from. */
export interface Secret {
  name: string;
  value: string;
}

/** Shorter values are not replaced: a one-character "secret" would rewrite every number in the report. */
const MIN_SECRET_LENGTH = 4;

/** Replace every secret (as is and JSON-escaped) with `[NAME]`, then apply the global redaction. */
export function redactText(text: string, secrets: Secret[]): string {
  let out = text;
  for (const { name, value } of secrets) {
    if (value.length < MIN_SECRET_LENGTH) continue;
    // The value, its JSON-escaped form, and its long parts: "Bearer <token>" must not leak the token alone.
    const parts = value.split(/\s+/).filter((p) => p.length >= 8 && p !== value);
    for (const form of new Set([value, JSON.stringify(value).slice(1, -1), ...parts])) out = out.split(form).join(`[${name}]`);
  }
  return redactSecrets(out);
}

function redactDeep(v: unknown, secrets: Secret[]): unknown {
  if (typeof v === 'string') return redactText(v, secrets);
  if (Array.isArray(v)) return v.map((x) => redactDeep(x, secrets));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactDeep(x, secrets)]));
  return v;
}

/** The outcome with every string in it redacted: summary, details, hint. */
export function redactOutcome(outcome: CheckOutcome, secrets: Secret[]): CheckOutcome {
  return redactDeep(outcome, secrets) as CheckOutcome;
}

/** Cut a string to `max` characters, marking the cut. Redact before truncating, or a cut secret escapes. */
export function truncate(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * Query parameter names that carry a credential, judged on the name's parts (`api_key`, `X-Api-Key`,
 * `accessToken`, `sig`): a part containing one of the long words, or equal to one of the short ones.
 */
const CREDENTIAL_PART = /key|token|secret|passw|pwd|signature|auth|credential|session|jwt|bearer|cookie/;
const CREDENTIAL_WORD = new Set(['sig', 'pass', 'pw', 'sid', 'otp']);

/** Does a query parameter of this name hold a credential? Case-insensitive, on the name's parts. */
export function isCredentialParam(name: string): boolean {
  let decoded = name;
  try {
    decoded = decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    // A malformed escape is judged as written.
  }
  const whole = decoded.toLowerCase();
  if (CREDENTIAL_PART.test(whole.replace(/[^a-z0-9]/g, ''))) return true;
  const parts = decoded.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase().split(/[^a-z0-9]+/).filter(Boolean);
  return parts.some((p) => CREDENTIAL_WORD.has(p) || CREDENTIAL_PART.test(p));
}

/** `a=1&apikey=x` with credential values as [redacted], everything else exactly as written. */
function redactParams(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return eq !== -1 && isCredentialParam(name) ? `${name}=[redacted]` : pair;
    })
    .join('&');
}

/**
 * The one way a URL is shown (check titles, details, hints, errors, reports): no userinfo
 * (`user:pass@`), and credential-named query (and fragment) parameters as `[redacted]`. Other
 * parameters stay as written, so `?x=1` still reads `?x=1`. Never throws: text that is not a URL is
 * redacted by pattern.
 * @example redactUrl('https://u:pw@api.example.com/v1?apikey=abc&x=1') // 'https://api.example.com/v1?apikey=[redacted]&x=1'
 */
export function redactUrl(text: string): string {
  let url = text;
  try {
    url = new URL(text).href; // the form the checks have always shown (a host gets its trailing slash)
  } catch {
    // Not a URL: redacted by pattern below.
  }
  const m = url.match(/^([a-z][a-z0-9+.-]*:\/\/)([^/?#]*)([^?#]*)(\?[^#]*)?(#.*)?$/i);
  if (!m) return redactSecrets(url).replace(/([?&#][^=&#\s]+=)([^&#\s]*)/g, (all, head: string) => (isCredentialParam(head.slice(1, -1)) ? `${head}[redacted]` : all));
  const [, scheme, authority, path, query, fragment] = m as unknown as [string, string, string, string, string | undefined, string | undefined];
  const at = authority.lastIndexOf('@');
  const host = at === -1 ? authority : authority.slice(at + 1);
  return `${scheme}${host}${path}${query ? `?${redactParams(query.slice(1))}` : ''}${fragment ? `#${redactParams(fragment.slice(1))}` : ''}`;
}

/**
 * The credentials a URL carries (its password and credential-named parameter values, as written and
 * decoded), as secrets for `redactText`: an error from fetch may quote the URL in any form.
 */
export function urlSecrets(url: string): Secret[] {
  const out: Secret[] = [];
  const add = (name: string, value: string) => {
    for (const v of new Set([value, safeDecode(value)])) if (v.length >= MIN_SECRET_LENGTH) out.push({ name, value: v });
  };
  const m = url.match(/^[a-z][a-z0-9+.-]*:\/\/([^/?#]*)/i);
  const at = m ? m[1]!.lastIndexOf('@') : -1;
  if (m && at !== -1) {
    const userinfo = m[1]!.slice(0, at);
    const colon = userinfo.indexOf(':');
    if (colon !== -1) add('url password', userinfo.slice(colon + 1));
  }
  for (const part of url.split(/[?#]/).slice(1)) {
    for (const pair of part.split('&')) {
      const eq = pair.indexOf('=');
      if (eq !== -1 && isCredentialParam(pair.slice(0, eq))) add('url credential', pair.slice(eq + 1));
    }
  }
  return out;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return s;
  }
}
