import type * as z from 'zod';

/**
 * Reading a zod schema's definition, for the code that walks the config schema by path: the unknown-key
 * hints (lib/config/unknown-keys.ts) and the reference's example checks. One copy of which wrappers a walk
 * looks through, so the two never disagree about where a key lives.
 */

export type AnySchema = z.core.$ZodType;

export interface Def {
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
  catchall?: AnySchema;
  /** A literal's allowed values. */
  values?: unknown[];
}

export const defOf = (s: AnySchema): Def => (s as unknown as { _zod: { def: Def } })._zod.def;

/** Wrappers that accept what their inner schema accepts: defaults, optionals, pipes (their input side). */
const WRAPPERS = new Set(['default', 'optional', 'nullable', 'prefault', 'readonly', 'catch']);

/** The definition under every wrapper. */
export function unwrapped(schema: AnySchema): Def {
  let def = defOf(schema);
  for (;;) {
    const inner = WRAPPERS.has(def.type) ? def.innerType : def.type === 'pipe' ? def.in : undefined;
    if (!inner) return def;
    def = defOf(inner);
  }
}
