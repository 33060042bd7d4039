import * as z from 'zod';
import { OpsbookError } from '../errors.js';
import { PLAYBOOKS } from './playbooks.js';

const flag = z.enum(['1', 'true', '0', 'false']).transform((v) => v === '1' || v === 'true');

/** `GET /api/diagnostics` query parameters. Unknown parameters are rejected, so a typo is not ignored. */
export const diagnosticsQuery = z.strictObject({
  only: z
    .string()
    .max(2000)
    .transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean))
    .pipe(z.array(z.string().max(100).regex(/^[a-z0-9._-]*(@[a-z][a-z0-9-]*)?$/, 'check ids are lower-case letters, digits, . _ -, with an optional @target')).max(50))
    .optional(),
  /** Only the checks on this target (`staging` for `checks.postgres.targets.staging`; `main` for the rest). */
  target: z.string().max(40).regex(/^[a-z][a-z0-9-]*$/, 'a target name: lower-case letters, digits, -').optional(),
  format: z.enum(['json', 'text']).default('json'),
  playbook: z.enum(Object.keys(PLAYBOOKS) as [string, ...string[]]).optional(),
  snapshot: flag.default(false),
  /** `raw` needs the admin role and is audited; otherwise SQL text is normalised (lib/sql/normalize.ts). */
  queryText: z.enum(['normalized', 'raw']).default('normalized'),
});

export type DiagnosticsQuery = z.output<typeof diagnosticsQuery>;

/** Parse a URL's query with a zod schema into a 400 in the one error shape, naming every problem. */
export function parseQuery<T extends z.ZodType>(schema: T, url: URL): z.output<T> {
  const raw: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (k in raw) throw new OpsbookError('BAD_REQUEST', `Query parameter "${k.slice(0, 40)}" is given twice.`);
    raw[k] = v;
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`);
    throw new OpsbookError('BAD_REQUEST', `Invalid query: ${problems.join('; ')}`, { details: problems });
  }
  return parsed.data;
}
