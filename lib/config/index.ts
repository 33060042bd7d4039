import { OpsbookError } from '../errors.js';
import { configWithNeeds as configSchema, type OpsbookConfig, type OpsbookConfigInput } from './schema.js';

export * from './schema.js';

export { defineConfig } from './define.js';

/** Validate a config; an invalid one fails with every problem named by its path. */
export function parseConfig(input: unknown): OpsbookConfig {
  const parsed = configSchema.safeParse(input ?? {});
  if (parsed.success) {
    const ids = new Map<string, number>();
    const c = parsed.data.checks;
    for (const item of [...c.http, ...c.tls, ...c.dns, ...c.tcp, ...c.statusPages, ...c.sqlMetrics]) ids.set(item.id, (ids.get(item.id) ?? 0) + 1);
    const problems: string[] = [];
    const dup = [...ids].filter(([, n]) => n > 1).map(([id]) => id);
    if (dup.length) problems.push(`checks: duplicate ids ${dup.join(', ')}`);
    const lists = new Map<string, number>();
    for (const c of parsed.data.checklists) lists.set(c.id, (lists.get(c.id) ?? 0) + 1);
    const dupLists = [...lists].filter(([, n]) => n > 1).map(([id]) => id);
    if (dupLists.length) problems.push(`checklists: duplicate ids ${dupLists.join(', ')}`);
    if (problems.length === 0) return parsed.data;
    throw new OpsbookError('MISCONFIGURED', `Invalid config:\n  - ${problems.join('\n  - ')}`, { details: problems });
  }
  const problems = parsed.error.issues.map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  throw new OpsbookError('MISCONFIGURED', `Invalid config:\n  - ${problems.join('\n  - ')}`, { details: problems });
}

let cached: OpsbookConfig | undefined;

/**
 * The deployed config: `opsbook.config.ts` at the project root, imported statically so Vercel bundles
 * it into every function that needs it.
 */
export async function getConfig(): Promise<OpsbookConfig> {
  if (!cached) {
    const mod = (await import('../../opsbook.config.js')) as { default: unknown };
    cached = parseConfig(mod.default);
  }
  return cached;
}

export function setConfig(config: OpsbookConfig | undefined): void {
  cached = config;
}
