import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type * as z from 'zod';
import { configSchema } from '../../lib/config/schema.js';
import { TASK_PARAMS } from '../../lib/tasks/params.js';
import { unwrapped, type AnySchema } from '../../lib/config/zod-def.js';
import {
  JSON_SCHEMA_PATH,
  MARKDOWN_PATH,
  ROOT,
  configReference,
  configSections,
  undocumented,
  type FieldDoc,
  type Section,
} from '../../lib/config/reference.js';

// docs/config.md is what a person writes a config from (issue 13): it must be current, say what every key
// means, and show examples that the schema accepts, so that copying one never starts with an error.

let ref: Awaited<ReturnType<typeof configReference>>;
let sections: Section[];
beforeAll(async () => {
  ref = await configReference();
  sections = configSections(ref.schema, ref.docs);
}, 120_000);

/** An @example is a JS value as written in a config file (JSON or an object literal). */
const evaluate = (text: string): unknown => new Function(`return (${text});`)();

/** `checklists[].schedule(type=daily)` → ['checklists', '[]', 'schedule', '(type=daily)']. */
function steps(path: string): string[] {
  return path.match(/\[\]|\([a-z]+=[^)]*\)|<name>|[^.[(]+/g) ?? [];
}

/** Steps back to a path: ['checklists', '[]', 'schedule'] → 'checklists[].schedule'. */
const joined = (tokens: string[]) => tokens.join('.').replace(/\.(\[\]|\()/g, '$1');

/**
 * A whole config with `value` at `path`: a list element or a map value around it is the first one of that
 * list's or map's own example, so the other keys it requires are there.
 */
function configWith(path: string, value: unknown, examples: Map<string, unknown>): unknown {
  const tokens = steps(path);
  let result = value;
  while (tokens.length) {
    const last = tokens.pop()!;
    if (last.startsWith('(')) continue;
    if (last === '[]') {
      result = [result];
      continue;
    }
    if (last === '<name>') {
      result = { x: result };
      continue;
    }
    const parent = joined(tokens);
    let base: Record<string, unknown> = {};
    const own = examples.get(parent);
    if (own && typeof own === 'object' && !Array.isArray(own)) base = structuredClone(own as Record<string, unknown>);
    else if (tokens.at(-1) === '[]') {
      const list = examples.get(joined(tokens.slice(0, -1)));
      if (Array.isArray(list) && list[0]) base = structuredClone(list[0]);
    } else if (tokens.at(-1) === '<name>') {
      const map = examples.get(joined(tokens.slice(0, -1)));
      if (map && typeof map === 'object') base = structuredClone(Object.values(map)[0] as Record<string, unknown>);
    }
    result = { ...base, [last]: result };
  }
  return result;
}

/** The zod schemas a reference path can lead to (a union leads to each member that has the path). */
function candidates(schema: AnySchema, tokens: string[]): z.ZodType[] {
  if (tokens.length === 0) return [schema as z.ZodType];
  const def = unwrapped(schema);
  const [step, ...rest] = tokens as [string, ...string[]];
  if (def.type === 'union') return (def.options ?? []).flatMap((o) => candidates(o, tokens));
  if (def.type === 'intersection') return [...candidates(def.left!, tokens), ...candidates(def.right!, tokens)];
  const kind = /^\(([a-z]+)=(.*)\)$/.exec(step);
  if (kind) {
    // Task items are validated by each task's own params (the config schema's item only reads `task`).
    if (kind[1] === 'task') return Object.hasOwn(TASK_PARAMS, kind[2]!) ? candidates(TASK_PARAMS[kind[2]!]! as unknown as AnySchema, rest) : [];
    const literal = def.type === 'object' ? def.shape?.[kind[1]!] : undefined;
    return literal && unwrapped(literal).values?.includes(kind[2]) ? candidates(schema, rest) : [];
  }
  if (step === '[]') return def.type === 'array' ? candidates(def.element!, rest) : [];
  if (step === '<name>') return def.type === 'record' ? candidates(def.valueType!, rest) : [];
  const field = def.type === 'object' ? def.shape?.[step] : undefined;
  return field ? candidates(field, rest) : [];
}

describe('config reference (docs/config.md, docs/config.schema.json)', () => {
  it.each([MARKDOWN_PATH, JSON_SCHEMA_PATH])('%s is what `npm run docs:config` writes from the schema', (path) => {
    const written = readFileSync(resolve(ROOT, path), 'utf8');
    const fresh = path === MARKDOWN_PATH ? ref.markdown : ref.jsonSchema;
    expect(written === fresh, `${path} is stale: run \`npm run docs:config\` and commit it`).toBe(true);
  });

  it('every config field has a meaning written in its JSDoc', () => {
    expect(undocumented(ref.schema, ref.docs)).toEqual([]);
  });

  it('every section down to the second level shows an example (a union kind told apart only by its keys excepted)', () => {
    const missing = sections.filter((s) => s.depth >= 1 && s.depth <= 2 && !s.doc?.example && !(s.key === undefined && !/\((type|task)=/.test(s.path)));
    expect(missing.map((s) => s.path)).toEqual([]);
  });

  it('every section example validates against the config schema, placed where the section says', () => {
    const examples = new Map<string, unknown>();
    for (const s of sections) if (s.doc?.example) examples.set(s.examplePath, evaluate(s.doc.example));
    const problems: string[] = [];
    for (const s of sections) {
      if (!s.doc?.example) continue;
      const config = configWith(s.examplePath, examples.get(s.examplePath), examples);
      const parsed = configSchema.safeParse(config);
      if (!parsed.success) problems.push(`${s.path}: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}\n  as ${JSON.stringify(config)}`);
    }
    expect(problems).toEqual([]);
    expect(examples.size).toBeGreaterThan(20);
  });

  it('every field example is a value its own key accepts', () => {
    const problems: string[] = [];
    // A kind's literal (`…(type=daily).type`) carries the whole kind's example, checked with the sections above.
    const kindDoc = (path: string) => sections.some((s) => s.key === undefined && (path === `${s.path}.type` || path === `${s.path}.task`));
    const leaf = [...ref.docs].filter(([path, doc]: [string, FieldDoc]) => doc.example && !sections.some((s) => s.examplePath === path) && !kindDoc(path));
    for (const [path, doc] of leaf) {
      let value: unknown;
      try {
        value = evaluate(doc.example!);
      } catch (err) {
        problems.push(`${path}: @example ${doc.example} is not a value (${(err as Error).message})`);
        continue;
      }
      const schemas = candidates(configSchema, steps(path));
      if (schemas.length === 0) problems.push(`${path}: no schema at this path`);
      else if (!schemas.some((s) => s.safeParse(value).success)) problems.push(`${path}: ${doc.example} — ${schemas[0]!.safeParse(value).error?.issues[0]?.message}`);
    }
    expect(problems).toEqual([]);
    expect(leaf.length).toBeGreaterThan(30);
  });

  it('the JSON Schema lists every task kind under a checklist item, each with its own keys', () => {
    const item = (ref.schema as any).properties.checklists.items.properties.items.items;
    const tasks = item.anyOf.filter((o: any) => o.properties?.task?.const).map((o: any) => o.properties.task.const);
    expect(tasks.sort()).toEqual(['analyze', 'prune-history', 'retention-delete', 'snapshot', 'vacuum-analyze']);
    expect(item.anyOf.every((o: any) => o.additionalProperties === false)).toBe(true);
  });
});
