import { readFile, writeFile } from 'node:fs/promises';
import type { OpsbookConfig } from '../config/index.js';
import { vercelCrons } from '../../cron/index.js';

/**
 * vercel.json's `crons` are generated from the config (`npm run crons`): the config is the one place a
 * schedule is written. Everything else in vercel.json is kept as it is.
 */
export async function syncVercelJson(path: string, config: OpsbookConfig, opts: { check?: boolean } = {}): Promise<{ changed: boolean; crons: Array<{ path: string; schedule: string }> }> {
  const current = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  const crons = vercelCrons(config);
  const changed = JSON.stringify(current.crons ?? []) !== JSON.stringify(crons);
  if (changed && !opts.check) await writeFile(path, JSON.stringify({ ...current, crons }, null, 2) + '\n');
  return { changed, crons };
}
