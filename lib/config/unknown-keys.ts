import type * as z from 'zod';
import { didYouMean } from '../did-you-mean.js';
import { unwrapped, type AnySchema } from './zod-def.js';
import { TASK_PARAMS } from '../tasks/params.js';

/**
 * A misspelt config key names the right one. Zod reports an unrecognised key with its path only; this
 * walks the config schema along that path (through defaults, optionals, pipes, arrays, intersections and
 * unions, taking the union member that fits the written object best) to the keys valid there, and picks
 * the closest by the CLI's own did-you-mean rule (lib/did-you-mean.ts): "deadTuplesMin" → "deadTuplesMinRows".
 */

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * A task item is a loose `{ task }` whose transform checks it with its task's params schema
 * (lib/tasks/params.ts): for a written item naming a known task, that schema is the one to walk.
 */
function delegate(schema: AnySchema, value: unknown): AnySchema {
  const def = unwrapped(schema);
  const task = isRecord(value) ? value.task : undefined;
  if (def.type !== 'object' || !def.catchall || !def.shape?.task || typeof task !== 'string' || !Object.hasOwn(TASK_PARAMS, task)) return schema;
  return TASK_PARAMS[task] as unknown as AnySchema;
}

/**
 * The object keys a schema accepts for `value`, or undefined when it is not an object schema (or a loose
 * one, which takes any key: its shape is not the list of valid ones).
 */
function keysOf(schema: AnySchema, value: unknown): string[] | undefined {
  const def = unwrapped(delegate(schema, value));
  switch (def.type) {
    case 'object':
      return def.catchall && unwrapped(def.catchall).type !== 'never' ? undefined : Object.keys(def.shape ?? {});
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
  const def = unwrapped(schema);
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
  const def = unwrapped(delegate(schema, value));
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

/**
 * Keys that were renamed, one line each, so the old spelling is refused with the new one and how to write
 * it rather than a bare "unrecognized key". `at` is the path of the object holding the key (`*`: any array
 * index or record key), `when` the values that object must have (the union member: `type: 'cron'`),
 * `value` how the old value is written under the new key (one table becomes a list of one).
 */
export interface RenamedKey {
  at: string;
  when?: Record<string, string>;
  from: string;
  to: string;
  why: string;
  value?: (old: unknown) => unknown;
}

export const RENAMED_KEYS: readonly RenamedKey[] = [
  { at: 'checklists.*.schedule', when: { type: 'cron' }, from: 'expr', to: 'cron', why: 'the same word as heartbeats and maintenance windows' },
  { at: 'checklists.*.items.*', when: { task: 'retention-delete' }, from: 'table', to: 'tables', why: 'a list, as analyze and vacuum-analyze take', value: (v) => [v] },
];

/** The value at `path` in the written config. */
function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const step of path) v = isRecord(v) || Array.isArray(v) ? (v as Record<PropertyKey, unknown>)[step as never] : undefined;
  return v;
}

/** The renames that apply to the object at `path`: the path has the rename's shape and the object is of its kind. */
function renamesAt(input: unknown, path: readonly PropertyKey[]): Array<{ rename: RenamedKey; object: Record<string, unknown> }> {
  const object = valueAt(input, path);
  if (!isRecord(object)) return [];
  return RENAMED_KEYS.filter((r) => {
    const shape = r.at.split('.');
    return (
      shape.length === path.length &&
      shape.every((step, i) => step === '*' || step === String(path[i])) &&
      Object.entries(r.when ?? {}).every(([k, v]) => object[k] === v)
    );
  }).map((rename) => ({ rename, object }));
}

/** `{ type: "cron", cron: "0 3 * * *" }`: the written object with the old key renamed in place, as a config writes it. */
function rewritten(object: Record<string, unknown>, r: RenamedKey): string {
  const key = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : JSON.stringify(k));
  const entries = Object.entries(object).flatMap(([k, v]): Array<[string, unknown]> => {
    if (k !== r.from) return [[k, v]];
    return Object.hasOwn(object, r.to) ? [] : [[r.to, r.value ? r.value(v) : v]];
  });
  const whole = `{ ${entries.map(([k, v]) => `${key(k)}: ${JSON.stringify(v)}`).join(', ')} }`;
  if (whole.length <= 240) return whole;
  // A long object (a task item with many keys) shows its kind and the renamed key only.
  const kept = entries.filter(([k]) => k === r.to || Object.hasOwn(r.when ?? {}, k));
  return `{ ${kept.map(([k, v]) => `${key(k)}: ${JSON.stringify(v)}`.slice(0, 200)).join(', ')}, … }`;
}

/**
 * The problems for an unrecognised-keys issue at `path`: a renamed key names its new name, why, and the
 * object as it is written now; the other keys get the did-you-mean hint.
 * @example unrecognizedKeyProblems(schema, input, ['checklists', 0, 'schedule'], ['expr'], 'Unrecognized key: "expr"')
 *   // ['checklists.0.schedule: "expr" is now "cron" (the same word as heartbeats and maintenance windows): { type: "cron", cron: "0 3 * * *" }']
 */
export function unrecognizedKeyProblems(schema: AnySchema, input: unknown, path: PropertyKey[], keys: string[], message?: string): string[] {
  const where = path.map(String).join('.') || '(root)';
  const renames = renamesAt(input, path);
  const problems: string[] = [];
  const rest: string[] = [];
  for (const k of keys) {
    const hit = renames.find(({ rename }) => rename.from === k);
    if (hit) problems.push(`${where}: "${k}" is now "${hit.rename.to}" (${hit.rename.why}): ${rewritten(hit.object, hit.rename)}`);
    else rest.push(k);
  }
  if (rest.length) {
    // Zod's own message when it is about exactly these keys; the same words otherwise.
    const text = rest.length === keys.length && message ? message : `Unrecognized key${rest.length > 1 ? 's' : ''}: ${rest.map((k) => `"${k}"`).join(', ')}`;
    problems.push(`${where}: ${text}${unknownKeyHint(schema, input, path, rest)}`);
  }
  return problems;
}

/**
 * Is the issue at `path` the new key missing from an object that still has the old one? The rename's
 * problem already says so: one problem, not two.
 */
export function explainedByRename(input: unknown, path: readonly PropertyKey[]): boolean {
  const key = path.at(-1);
  if (typeof key !== 'string') return false;
  return renamesAt(input, path.slice(0, -1)).some(({ rename, object }) => rename.to === key && Object.hasOwn(object, rename.from) && !Object.hasOwn(object, rename.to));
}
