import { readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as z from 'zod';
import { configSchema, taskItem } from './schema.js';
import { TASK_PARAMS } from '../tasks/params.js';
import { parseConfig } from './index.js';
import { allChecks } from '../checks/registry.js';

/**
 * The config reference, generated from the schema a config is validated with: `docs/config.md` for people
 * and `docs/config.schema.json` for editors. Types, limits, defaults and required keys come from the zod
 * schemas (through `z.toJSONSchema`); meanings, `@default` wording, `@example`s and units come from the
 * JSDoc on each field, read with the TypeScript compiler, so the comment a developer writes beside a field
 * is the line a user reads. `npm run docs:config` writes both files; test/lib/config-reference.test.ts fails
 * when they are stale, when a field has no meaning, or when a section's example does not validate.
 *
 * A field is named by its path: `checks.postgres.thresholds.cacheHitWarnPct`; `[]` is an element of a list,
 * `<name>` a value of a map keyed by a name, and `(type=daily)` one kind of a union told apart by its
 * `type` (or `task`) literal.
 */

/** What the JSDoc of one field says. */
export interface FieldDoc {
  /** The comment's text, on one line. */
  text: string;
  /** `@default`, as written (a phrase such as "config.retentionDays (90)" beats the bare value). */
  default?: string;
  /** `@example`, as written: a value for this key. */
  example?: string;
  /** `@unit`, when the key's name does not say it. */
  unit?: string;
}

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const MARKDOWN_PATH = 'docs/config.md';
export const JSON_SCHEMA_PATH = 'docs/config.schema.json';

/** The discriminators a union's kinds are told apart by. */
const DISCRIMINATORS = ['type', 'task'] as const;
const ANY_KEY = '<name>';

const oneLine = (s: string) => s.replace(/\s*\n\s*/g, ' ').trim();

/**
 * Every config field's JSDoc, by path, read from the types the schemas infer (`z.input<typeof
 * configSchema>` and each task's params): TypeScript keeps a property's declaration, and with it its
 * comment, through zod's inferred object types.
 */
export async function readFieldDocs(root = ROOT): Promise<Map<string, FieldDoc>> {
  const { default: ts } = await import('typescript');
  const files = ['lib/config/schema.ts', 'lib/tasks/params.ts'].map((f) => resolve(root, f));
  const program = ts.createProgram(files, {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const docs = new Map<string, FieldDoc>();

  /** The input type a zod schema's TS type carries (`schema._zod.input`). */
  const inputOf = (schemaType: import('typescript').Type) => {
    const internals = schemaType.getProperty('_zod');
    const input = internals && checker.getTypeOfSymbol(internals).getProperty('input');
    return input ? checker.getTypeOfSymbol(input) : undefined;
  };
  const docOf = (symbol: import('typescript').Symbol): FieldDoc | undefined => {
    const text = oneLine(ts.displayPartsToString(symbol.getDocumentationComment(checker)));
    const doc: FieldDoc = { text };
    for (const tag of symbol.getJsDocTags(checker)) {
      const value = oneLine(ts.displayPartsToString(tag.text ?? []));
      if (tag.name === 'default' || tag.name === 'example' || tag.name === 'unit') doc[tag.name] ??= value;
    }
    return text || doc.default || doc.example || doc.unit ? doc : undefined;
  };
  const literalOf = (type: import('typescript').Type, key: string): string | undefined => {
    const prop = type.getProperty(key);
    const t = prop && checker.getNonNullableType(checker.getTypeOfSymbol(prop));
    return t?.isStringLiteral() ? t.value : undefined;
  };
  const walk = (type: import('typescript').Type, path: string, depth: number): void => {
    if (depth > 12) return;
    const t = checker.getNonNullableType(type);
    if (t.isUnion()) {
      for (const member of t.types) {
        const tag = DISCRIMINATORS.map((d) => [d, literalOf(member, d)] as const).find(([, v]) => v !== undefined);
        walk(member, tag ? `${path}(${tag[0]}=${tag[1]})` : path, depth + 1);
      }
      return;
    }
    if (checker.isArrayType(t)) {
      const [element] = checker.getTypeArguments(t as import('typescript').TypeReference);
      if (element) walk(element, `${path}[]`, depth + 1);
      return;
    }
    if (!(t.flags & ts.TypeFlags.Object) && !t.isIntersection()) return;
    const props = checker.getPropertiesOfType(t);
    const index = checker.getIndexTypeOfType(t, ts.IndexKind.String);
    if (props.length === 0 && index) return walk(index, `${path}.${ANY_KEY}`, depth + 1);
    for (const prop of props) {
      const at = path ? `${path}.${prop.name}` : prop.name;
      const doc = docOf(prop);
      if (doc && !docs.has(at)) docs.set(at, doc);
      walk(checker.getTypeOfSymbol(prop), at, depth + 1);
    }
  };

  const schemaFile = program.getSourceFile(files[0]!)!;
  const configInput = checker
    .getExportsOfModule(checker.getSymbolAtLocation(schemaFile)!)
    .find((s) => s.name === 'configSchema');
  walk(inputOf(checker.getTypeOfSymbol(configInput!))!, '', 0);
  // Task items are validated by each task's own params schema (the config schema sees `{ task: string }`).
  const paramsFile = program.getSourceFile(files[1]!)!;
  for (const symbol of checker.getExportsOfModule(checker.getSymbolAtLocation(paramsFile)!)) {
    const input = inputOf(checker.getTypeOfSymbol(symbol));
    const task = input && literalOf(input, 'task');
    if (task) walk(input, `checklists[].items[](task=${task})`, 1);
  }
  return docs;
}

type Json = Record<string, any>;

/** A path with its union qualifiers removed, the fallback a field's doc is looked up by. */
const plain = (path: string) => path.replace(/\([a-z]+=[^)]*\)/g, '');

/**
 * Keys documented under another path: a target's thresholds are the main thresholds' keys, none
 * defaulted (schema.ts builds them with overridesOf, which TypeScript cannot trace back to the comments).
 */
const DOC_ALIASES: Array<[string, string]> = [
  ['checks.postgres.targets.<name>.thresholds.', 'checks.postgres.thresholds.'],
  ['checks.redis.targets.<name>.thresholds.', 'checks.redis.thresholds.'],
];

function docAt(docs: Map<string, FieldDoc>, path: string): FieldDoc | undefined {
  const found = docs.get(path) ?? docs.get(plain(path));
  if (found) return found;
  const alias = DOC_ALIASES.find(([from]) => path.startsWith(from));
  const aliased = alias && docAt(docs, alias[1] + path.slice(alias[0].length));
  // The main key's default does not apply: a key left out inherits the main target's value.
  return aliased ? { text: aliased.text, ...(aliased.unit ? { unit: aliased.unit } : {}) } : undefined;
}

/** Every field of the schema that has no meaning written (its JSDoc), by path: the test lists them. */
export function undocumented(schema: Json, docs: Map<string, FieldDoc>): string[] {
  const missing: string[] = [];
  const walk = (node: Json, path: string): void => {
    for (const o of optionsOf(node) ?? []) {
      const kind = kindOf(o);
      walk(o, kind ? `${path}(${kind})` : path);
    }
    for (const part of node.allOf ?? []) walk(part, path);
    if (node.items && typeof node.items === 'object') walk(node.items, `${path}[]`);
    if (node.additionalProperties && typeof node.additionalProperties === 'object') walk(node.additionalProperties, `${path}.${ANY_KEY}`);
    for (const [key, child] of Object.entries<Json>(node.properties ?? {})) {
      const at = path ? `${path}.${key}` : key;
      const isKind = DISCRIMINATORS.includes(key as never) && child.const !== undefined;
      if (!isKind && !docAt(docs, at)?.text) missing.push(at);
      walk(child, at);
    }
  };
  walk(schema, '');
  return [...new Set(missing)];
}

/** The union kind an object schema is (`type=daily`), from its discriminator's const. */
function kindOf(schema: Json): string | undefined {
  for (const d of DISCRIMINATORS) {
    const c = schema.properties?.[d]?.const;
    if (typeof c === 'string') return `${d}=${c}`;
  }
  return undefined;
}

const optionsOf = (schema: Json): Json[] | undefined => schema.anyOf ?? schema.oneOf;

/**
 * The config's JSON Schema (draft 2020-12), input side: what may be written, with defaults. Task items are
 * shown as the union of the tasks' own params, and every field carries its JSDoc as `description`.
 */
export function configJsonSchema(docs: Map<string, FieldDoc>): Json {
  const schema = z.toJSONSchema(configSchema, {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      if (ctx.zodSchema !== (taskItem as unknown)) return;
      for (const key of Object.keys(ctx.jsonSchema)) delete (ctx.jsonSchema as Json)[key];
      Object.assign(ctx.jsonSchema, {
        anyOf: Object.values(TASK_PARAMS).map((params) => {
          const { $schema: _drop, ...rest } = z.toJSONSchema(params, { io: 'input', unrepresentable: 'any' }) as Json;
          return rest;
        }),
      });
    },
  }) as Json;
  const describe = (node: Json, path: string): void => {
    // A union inside a union (the task kinds among the item kinds) reads as one list of kinds.
    for (const key of ['anyOf', 'oneOf'] as const) {
      if (node[key]) node[key] = node[key].flatMap((o: Json) => (Object.keys(o).length === 1 && (o.anyOf ?? o.oneOf)) || [o]);
    }
    const options = optionsOf(node);
    if (options) {
      for (const o of options) {
        const kind = kindOf(o);
        describe(o, kind ? `${path}(${kind})` : path);
      }
    }
    for (const part of node.allOf ?? []) describe(part, path);
    if (node.items && typeof node.items === 'object') describe(node.items, `${path}[]`);
    if (node.additionalProperties && typeof node.additionalProperties === 'object') describe(node.additionalProperties, `${path}.${ANY_KEY}`);
    for (const [key, child] of Object.entries<Json>(node.properties ?? {})) {
      const at = path ? `${path}.${key}` : key;
      const doc = docAt(docs, at);
      if (doc?.text) child.description = doc.text;
      describe(child, at);
    }
  };
  describe(schema, '');
  return {
    $schema: schema.$schema,
    $id: 'https://opsbook.dev/config.schema.json',
    title: 'Opsbook config',
    description: 'What opsbook.config.ts exports (generated from lib/config/schema.ts by `npm run docs:config`; see docs/config.md).',
    ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== '$schema')),
  };
}

// ---------------------------------------------------------------------------------------------------
// Markdown.

/** A unit from the key's name, when the JSDoc names none: `timeoutMs` is in ms, `warnDays` in days. */
export function unitOf(key: string, doc: FieldDoc | undefined): string {
  if (doc?.unit) return doc.unit;
  const rules: Array<[RegExp, string]> = [
    [/Ms$/, 'ms'],
    [/Seconds$/, 's'],
    [/Minutes$/, 'min'],
    [/Days$/, 'days'],
    [/Pct$/, '%'],
    [/Bytes$/, 'bytes'],
    [/Rows$/, 'rows'],
    [/PerMinute$/, 'per minute'],
    [/Per5Minutes$/, 'per 5 min'],
  ];
  return rules.find(([re]) => re.test(key))?.[1] ?? '';
}

const code = (s: string) => '`' + s.replace(/`/g, "'") + '`';
const cell = (s: string) => s.replace(/\|/g, '\\|');

function isObjectSchema(s: Json): boolean {
  return s.type === 'object' && !!s.properties;
}

/** Whether a schema gets a section of its own (an object, a list or map of them, a union of kinds). */
function sectionOf(s: Json): Json | undefined {
  if (isObjectSchema(s) || (optionsOf(s)?.every(isObjectSchema) ?? false)) return s;
  if (s.type === 'array' && s.items && sectionOf(s.items)) return s;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object' && sectionOf(s.additionalProperties)) return s;
  if (s.allOf?.some(isObjectSchema)) return s;
  return undefined;
}

function range(min: number | undefined, max: number | undefined, exclusiveMin?: number, exclusiveMax?: number): string {
  // zod's .int() bounds an integer by the safe range, which says nothing to a reader.
  if (max !== undefined && max >= Number.MAX_SAFE_INTEGER) max = undefined;
  if (min !== undefined && min <= Number.MIN_SAFE_INTEGER) min = undefined;
  const lo = exclusiveMin !== undefined ? `> ${exclusiveMin}` : min !== undefined ? `≥ ${min}` : '';
  const hi = exclusiveMax !== undefined ? `< ${exclusiveMax}` : max !== undefined ? `≤ ${max}` : '';
  if (min !== undefined && max !== undefined && exclusiveMin === undefined && exclusiveMax === undefined) return `${min}–${max}`;
  return [lo, hi].filter(Boolean).join(', ');
}

const FORMATS: Record<string, string> = { email: 'email address', uri: 'URL', 'date-time': 'ISO 8601 date-time with offset' };

/** A short type, such as `integer 1–100`, `list of string (1–200)` or `"GET" | "HEAD"`. */
export function typeOf(s: Json, link?: string): string {
  if (link) return link;
  if (s.const !== undefined) return code(JSON.stringify(s.const));
  if (s.enum) return s.enum.map((v: unknown) => code(JSON.stringify(v))).join(' | ');
  const options = optionsOf(s);
  if (options) return options.map((o) => typeOf(o)).join(' or ');
  switch (s.type) {
    case 'string': {
      if (s.format && FORMATS[s.format]) return FORMATS[s.format]!;
      const len = s.minLength !== undefined || s.maxLength !== undefined ? ` (${range(s.minLength, s.maxLength)} chars)` : '';
      const pattern = s.pattern && s.pattern.length <= 48 ? ` ${code(s.pattern)}` : '';
      return `string${pattern || len}`;
    }
    case 'number':
    case 'integer': {
      const r = range(s.minimum, s.maximum, s.exclusiveMinimum, s.exclusiveMaximum);
      return `${s.type === 'integer' ? 'integer' : 'number'}${r ? ` ${r}` : ''}`;
    }
    case 'boolean':
      return 'boolean';
    case 'null':
      return 'null';
    case 'array': {
      const n = s.minItems !== undefined || s.maxItems !== undefined ? ` (${range(s.minItems, s.maxItems)} items)` : '';
      return `list of ${s.items ? typeOf(s.items) : 'any'}${n}`;
    }
    case 'object':
      if (s.additionalProperties && typeof s.additionalProperties === 'object') return `map of name → ${typeOf(s.additionalProperties)}`;
      // A small object inside a union of values (a header's `{ env: "NAME" }`) is shown by its keys.
      return s.properties ? `{ ${Object.entries<Json>(s.properties).map(([k, v]) => `${k}: ${typeOf(v)}`).join(', ')} }` : 'object';
    default:
      return 'any';
  }
}

/** The default shown for a key: its JSDoc `@default`, else the schema's default when it reads in a cell. */
function defaultOf(s: Json, doc: FieldDoc | undefined): string {
  if (doc?.default) return code(doc.default);
  if (s.default === undefined) return '';
  const text = JSON.stringify(s.default);
  if (typeof s.default === 'object' && s.default !== null && Object.keys(s.default).length > 0) return 'its keys’ defaults';
  return code(text);
}

export interface Section {
  /** Where its example is written: `checks.http` for `checks.http[]`; a union kind's own path. */
  examplePath: string;
  /** The key its example is written under (`http: […]`), or undefined for a union kind (a whole value). */
  key: string | undefined;
  path: string;
  title: string;
  doc: FieldDoc | undefined;
  schema: Json;
  depth: number;
}

/** Anchors GitHub makes from a heading: lower case, punctuation dropped, spaces to hyphens. */
export function anchorOf(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^a-z0-9 _-]/g, '')
    .replace(/ /g, '-');
}

/** The sections of the page, in order: the top level, then each object, list or map of objects, and union kind. */
export function configSections(schema: Json, docs: Map<string, FieldDoc>): Section[] {
  const sections: Section[] = [];
  const headingOf = (path: string, kind?: string) => (path ? code(path) : 'Top level') + (kind ? ` — ${kind.replace('=', ' ')}` : '');

  const collect = (s: Json, path: string, depth: number): void => {
    // The object a section's table lists: a list's element, a map's value, an intersection's parts.
    const target = s.type === 'array' ? s.items : s.type === 'object' && !s.properties && s.additionalProperties ? s.additionalProperties : s;
    const suffix = s.type === 'array' ? '[]' : target !== s ? `.${ANY_KEY}` : '';
    const at = path + suffix;
    const options = optionsOf(target);
    if (options?.every(isObjectSchema)) {
      for (const o of options) {
        const kind = kindOf(o);
        const p = kind ? `${at}(${kind})` : at;
        const discriminator = kind?.split('=')[0];
        // A kind told apart by a literal is described by that literal's JSDoc; one told apart only by its keys
        // (a check item, a manual item) by the table alone.
        sections.push({ examplePath: p, key: undefined, path: p, title: headingOf(at, kind ?? Object.keys(o.properties)[0]), doc: discriminator ? docAt(docs, `${p}.${discriminator}`) : undefined, schema: o, depth });
        childrenOf(o, p, depth + 1);
      }
      return;
    }
    const merged = target.allOf ? { type: 'object', properties: Object.assign({}, ...target.allOf.map((p: Json) => p.properties ?? {})), required: target.allOf.flatMap((p: Json) => p.required ?? []) } : target;
    if (!isObjectSchema(merged)) return;
    sections.push({ examplePath: path, key: path ? path.split('.').pop()!.replace(/\[\]$/, '') : undefined, path: at, title: headingOf(at), doc: docAt(docs, path), schema: merged, depth });
    childrenOf(merged, at, depth + 1);
  };
  const childrenOf = (s: Json, path: string, depth: number) => {
    for (const [key, child] of Object.entries<Json>(s.properties ?? {})) {
      if (sectionOf(child)) collect(child, path ? `${path}.${key}` : key, depth);
    }
  };
  collect(schema, '', 0);
  return sections;
}

/**
 * The page: a section per object (the top level, each key holding an object, a list of them, or a
 * map of them, and each kind of a union), each with its description, an example, and a table of its keys.
 */
export function configMarkdown(schema: Json, docs: Map<string, FieldDoc>): string {
  const sections = configSections(schema, docs);
  // The sections a key's value is described in: its object's, or each kind of its union.
  const sectionsFor = (path: string) => {
    const own = [path, `${path}[]`, `${path}.${ANY_KEY}`];
    return sections.filter((x) => own.includes(x.path) || own.some((o) => x.path.startsWith(`${o}(`)) || (own.includes(x.path) && false));
  };
  const link = (x: Section, short = false) => `[${short ? x.title.split(' — ').pop()! : x.title.replace(/`/g, '')}](#${anchorOf(x.title)})`;
  const out: string[] = [];
  out.push(
    '# Opsbook config reference',
    '',
    '<!-- Generated by `npm run docs:config` from lib/config/schema.ts and lib/tasks/params.ts (their zod schemas and JSDoc). Do not edit: test/lib/config-reference.test.ts fails when this page is stale. -->',
    '',
    'A config is a TypeScript file that default-exports `defineConfig({ … })` (from `lib/config/define.ts`): `opsbook.config.ts` at the',
    "project root, or the file named by `--config` / `OPSBOOK_CONFIG`. Every key has a default, so `defineConfig({})` is valid. A key",
    "the schema does not know is refused (with the nearest valid key), so a typo never falls back to a default silently. `npx opsbook",
    "check-config` validates a config, its references and vercel.json. Editors can use [`config.schema.json`](config.schema.json).",
    '',
    'How to read the tables: **required** keys must be written; every other key may be left out and takes its default. `[]` in a path is',
    'an element of a list, `<name>` a value of a map whose keys you choose, and "— type daily" one kind of a union, chosen by its `type`',
    '(or `task`). Durations and sizes carry their unit in the key name (`timeoutMs`, `graceSeconds`, `sizeLimitBytes`), repeated in the',
    'Unit column.',
    '',
    '## Contents',
    '',
    ...sections.map((s) => `${'  '.repeat(Math.min(Math.max(s.depth - 1, 0), 3))}- [${s.title.replace(/`/g, '')}](#${anchorOf(s.title)})`),
    '',
  );
  for (const s of sections) {
    out.push(`${'#'.repeat(Math.min(2 + Math.max(s.depth - 1, 0), 5))} ${s.title}`, '');
    if (s.doc?.text) out.push(s.doc.text, '');
    if (s.doc?.example) out.push('```ts', `${s.key ? `${s.key}: ` : ''}${s.doc.example}`, '```', '');
    out.push('| Key | Type | Default | Unit | Meaning |', '|---|---|---|---|---|');
    const required = new Set<string>(s.schema.required ?? []);
    for (const [key, child] of Object.entries<Json>(s.schema.properties ?? {})) {
      const at = s.path ? `${s.path}.${key}` : key;
      const doc = docAt(docs, at);
      const subs = sectionOf(child) ? sectionsFor(at) : [];
      const sub = subs[0];
      const shape = child.type === 'array' ? 'list, ' : child.additionalProperties ? 'map, ' : '';
      const type = typeOf(child, subs.length > 1 ? `${shape}one of ${subs.map((x) => link(x, true)).join(', ')}` : sub ? `${shape}see ${link(sub)}` : undefined);
      const isKind = DISCRIMINATORS.includes(key as never) && child.const !== undefined;
      const meaning = isKind ? 'Selects this kind.' : (doc?.text ?? '');
      const example = doc?.example && !sub && !isKind ? ` Example: ${code(doc.example)}.` : '';
      out.push(`| ${code(key)}${required.has(key) ? ' **required**' : ''} | ${cell(type)} | ${cell(defaultOf(child, doc))} | ${unitOf(key, doc)} | ${cell(meaning + example)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

/**
 * Every check id a config can name (in checklist items, `only`, alerts.perCheck, baselines, maintenance
 * windows, needs), from the check registry itself: the built-in ones with the default config, and one of
 * each configurable kind with its id shown as a placeholder. A selector is an id, a family (its part before
 * the first dot, or a longer prefix such as `postgres.activity`) or `@target`.
 */
export function checkCatalogue(): string {
  const P = 'zzid';
  const sample = parseConfig({
    checks: {
      http: [{ id: `${P}1`, url: 'https://example.com' }],
      tls: [{ id: `${P}2`, host: 'example.com' }],
      dns: [{ id: `${P}3`, name: 'example.com' }],
      tcp: [{ id: `${P}4`, host: 'example.com', port: 1 }],
      statusPages: [{ id: `${P}5`, url: 'https://status.example.com' }],
      sqlMetrics: [{ id: `${P}6`, title: 'A number', sql: 'SELECT 1' }],
      requiredEnv: ['EXAMPLE'],
      postgres: { targets: { zztarget: { urlEnv: 'EXAMPLE_URL' } } },
    },
    heartbeats: [{ name: 'zzname', periodSeconds: 60, metrics: { zzmetric: { warn: 1 } } }],
    checklists: [{ id: P, title: 'A checklist', schedule: { type: 'manual' }, items: [{ manual: 'x' }] }],
  });
  const shown = (id: string) => id.replace(/zzid\d?/g, '<id>').replace('zzname', '<name>').replace('zzmetric', '<metric>').replace('zztarget', '<target>');
  const checks = allChecks(sample).filter((c) => !c.id.includes('@'));
  const rows = checks.map((c) => `| ${code(shown(c.id))} | ${c.family} | ${cell(shown(c.title))} | ${c.severity} |`);
  return [
    '## Check ids',
    '',
    'What a checklist item (`{ check }`), `alerts.perCheck`, `baselines`, `maintenanceWindows[].checks` and `needs` can name. A selector',
    'is a check id, a family (`postgres`, `http`) or a longer prefix (`postgres.activity`, `heartbeat.db-backup`), optionally with',
    '`@<target>` for a target of `checks.postgres.targets` / `checks.redis.targets` (`postgres.vacuum@staging`, `postgres@staging`); a',
    "selector without `@` matches every target. Each target runs the Postgres (or Redis) checks again as `<id>@<target>`. Ids with `<id>`,",
    '`<name>` or `<metric>` come from your config. `npx opsbook check-config` refuses a selector that matches nothing.',
    '',
    '| Id | Family | Title | Default severity |',
    '|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

/** Both files' contents, as `npm run docs:config` writes them. */
export async function configReference(root = ROOT): Promise<{ markdown: string; jsonSchema: string; docs: Map<string, FieldDoc>; schema: Json }> {
  const docs = await readFieldDocs(root);
  const schema = configJsonSchema(docs);
  return { markdown: `${configMarkdown(schema, docs)}\n${checkCatalogue()}`, jsonSchema: `${JSON.stringify(schema, null, 2)}\n`, docs, schema };
}

/** `npm run docs:config`: write both files (or, with --check, say whether they are current). */
async function main(argv: string[]): Promise<number> {
  const check = argv.includes('--check');
  const unknown = argv.filter((a) => a !== '--check');
  if (unknown.length) {
    console.error(`Unknown argument${unknown.length > 1 ? 's' : ''}: ${unknown.join(' ')}\nUsage: npm run docs:config [-- --check]`);
    return 2;
  }
  const { markdown, jsonSchema } = await configReference();
  const files: Array<[string, string]> = [
    [MARKDOWN_PATH, markdown],
    [JSON_SCHEMA_PATH, jsonSchema],
  ];
  let stale = 0;
  for (const [path, content] of files) {
    const full = resolve(ROOT, path);
    let current: string | undefined;
    try {
      current = readFileSync(full, 'utf8');
    } catch {
      current = undefined;
    }
    if (current === content) console.log(`${path}: up to date`);
    else if (check) {
      stale++;
      console.log(`${path}: stale (run npm run docs:config)`);
    } else {
      writeFileSync(full, content);
      console.log(`${path}: written`);
    }
  }
  return stale ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code), (err) => {
    console.error(err);
    process.exit(1);
  });
}
