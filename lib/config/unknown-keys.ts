import type * as z from 'zod';
import { didYouMean } from '../did-you-mean.js';

/**
 * A misspelt config key names the right one. Zod reports an unrecognised key with its path only; this
 * walks the config schema along that path (through defaults, optionals, pipes, arrays, intersections and
 * unions, taking the union member that fits the written object best) to the keys valid there, and picks
 * the closest by the CLI's own did-you-mean rule (lib/did-you-mean.ts): "deadTuplesMin" → "deadTuplesMinRows".
 */

type AnySchema = z.core.$ZodType;
interface Def {
  type: string;
  shape?: Record<string, AnySchema>;
  innerType?: AnySchema;
  in?: AnySchema;
  out?: AnySchema;
  element?: AnySchema;
  options?: AnySchema[];
  left?: AnySchema;
  right?: AnySchema;
  valueType?: AnySchema;
}
const defOf = (s: AnySchema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Wrappers that accept what their inner schema accepts: defaults, optionals, pipes (their input side). */
const WRAPPERS = new Set(['default', 'optional', 'nullable', 'prefault', 'readonly', 'catch']);

/** The definition under every wrapper. */
function unwrapped(schema: AnySchema): Def {
  let def = defOf(schema);
  for (;;) {
    const inner = WRAPPERS.has(def.type) ? def.innerType : def.type === 'pipe' ? def.in : undefined;
    if (!inner) return def;
    def = defOf(inner);
  }
}

/** The object keys a schema accepts for `value`, or undefined when it is not an object schema. */
function keysOf(schema: AnySchema, value: unknown): string[] | undefined {
  const def = unwrapped(schema);
  switch (def.type) {
    case 'object':
      return Object.keys(def.shape ?? {});
    case 'intersection': {
      const l = def.left ? keysOf(def.left, value) : undefined;
      const r = def.right ? keysOf(def.right, value) : undefined;
      return l || r ? [...(l ?? []), ...(r ?? [])] : undefined;
    }
    case 'union':
      return bestMember(def.options ?? [], value, (o) => keysOf(o, value));
    default:
      return undefined;
  }
}

/** The literal values a schema allows, when it is a literal (a union's discriminator: `type: 'weekly'`). */
function literalValues(schema: AnySchema | undefined): unknown[] | undefined {
  if (!schema) return undefined;
  const def = unwrapped(schema) as Def & { values?: unknown[] };
  return def.type === 'literal' ? def.values : undefined;
}

/**
 * The union member meant by the written object: one whose discriminator literal it matches, else the one
 * sharing the most keys with it (ties: the first).
 */
function bestMember<T>(options: AnySchema[], value: unknown, pick: (o: AnySchema) => T | undefined): T | undefined {
  const written = isRecord(value) ? Object.keys(value) : [];
  let best: { score: number; result: T } | undefined;
  for (const o of options) {
    const result = pick(o);
    if (result === undefined) continue;
    const keys = keysOf(o, value) ?? [];
    let score = written.filter((k) => keys.includes(k)).length;
    for (const k of written) {
      const literals = literalValues(child(o, k, value));
      if (literals) score += literals.includes((value as Record<string, unknown>)[k]) ? 100 : -100;
    }
    if (!best || score > best.score) best = { score, result };
  }
  return best?.result;
}

/** The schema at one step of a path into `value`. */
function child(schema: AnySchema, step: PropertyKey, value: unknown): AnySchema | undefined {
  const def = unwrapped(schema);
  switch (def.type) {
    case 'object':
      return def.shape?.[String(step)];
    case 'array':
      return def.element;
    case 'record':
      return def.valueType;
    case 'intersection':
      return (def.left && child(def.left, step, value)) ?? (def.right && child(def.right, step, value));
    case 'union':
      return bestMember(def.options ?? [], value, (o) => child(o, step, value));
    default:
      return undefined;
  }
}

/**
 * The suffix for an unrecognised-keys problem: the nearest valid key and every key valid at that path.
 * @example unknownKeyHint(schema, input, ['checks', 'postgres', 'thresholds'], ['deadTuplesMin'])
 *   // ' — did you mean "deadTuplesMinRows"? Valid here: connectionsWarnPct, …'
 */
export function unknownKeyHint(schema: AnySchema, input: unknown, path: PropertyKey[], keys: string[]): string {
  let s: AnySchema | undefined = schema;
  let v: unknown = input;
  for (const step of path) {
    if (!s) return '';
    s = child(s, step, v);
    v = isRecord(v) || Array.isArray(v) ? (v as Record<PropertyKey, unknown>)[step as never] : undefined;
  }
  const valid = s ? keysOf(s, v) : undefined;
  if (!valid || valid.length === 0) return '';
  const guesses = keys.map((k) => [k, didYouMean(k, valid)] as const).filter(([, g]) => g !== undefined);
  const meant = guesses.length ? ` — did you mean ${guesses.map(([k, g]) => (keys.length > 1 ? `"${g}" for "${k}"` : `"${g}"`)).join(', ')}?` : '';
  return `${meant || ' —'} ${meant ? 'Valid' : 'valid'} here: ${valid.join(', ')}`;
}
