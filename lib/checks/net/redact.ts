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
