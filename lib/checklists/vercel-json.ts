import { readFile, writeFile } from 'node:fs/promises';
import type { OpsbookConfig } from '../config/index.js';
import { vercelCrons } from '../../cron/index.js';
import { describeSchedule } from './schedule.js';

/**
 * vercel.json's `crons` are generated from the config (`npm run crons`): the config is the one place a
 * schedule is written. Everything else in vercel.json is kept as it is.
 */
export async function syncVercelJson(path: string, config: OpsbookConfig, opts: { check?: boolean } = {}): Promise<{ changed: boolean; crons: Array<{ path: string; schedule: string }>; drift: string[] }> {
  const text = await readFile(path, 'utf8');
  const current = JSON.parse(text) as Record<string, unknown>;
  const crons = vercelCrons(config);
  const changed = JSON.stringify(current.crons ?? []) !== JSON.stringify(crons);
  if (changed && !opts.check) await writeFile(path, JSON.stringify({ ...current, crons }, null, 2) + '\n');
  return { changed, crons, drift: changed ? vercelJsonDrift(config, text) : [] };
}

const FIX = 'run `npm run crons` and commit vercel.json';

/**
 * How vercel.json's crons differ from what the config schedules, one line per difference, each naming
 * the checklist, the config's schedule and vercel.json's; empty when Vercel will call every checklist
 * when the config says (the order of the entries does not matter to Vercel). A stale vercel.json is
 * silent in production: Vercel calls on the old schedule, or not at all, and Opsbook reports misses.
 * Used by check-config (a failure), at runner start (a warning) and by the build (a refusal, with its
 * own `fix`: a config away from the project root has no `npm run crons` of its own).
 * @example vercelJsonDrift(config, readFileSync('vercel.json', 'utf8')) // [] when in sync
 */
export function vercelJsonDrift(config: OpsbookConfig, vercelJsonText: string, fix: string = FIX): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(vercelJsonText);
  } catch (err) {
    return [`vercel.json is not valid JSON (${(err as Error).message})`];
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return ['vercel.json is not a JSON object'];
  const raw = (parsed as { crons?: unknown }).crons ?? [];
  if (!Array.isArray(raw)) return [`vercel.json "crons" is not an array: ${fix}`];
  const found = new Map<string, string[]>();
  for (const entry of raw) {
    const { path, schedule } = (entry ?? {}) as { path?: unknown; schedule?: unknown };
    const key = typeof path === 'string' ? path : JSON.stringify(path);
    found.set(key, [...(found.get(key) ?? []), typeof schedule === 'string' ? schedule : JSON.stringify(schedule)]);
  }
  const problems: string[] = [];
  const expected = vercelCrons(config);
  for (const [i, cron] of expected.entries()) {
    const list = config.checklists[i]!;
    const want = `config schedules "${cron.schedule}" (${describeSchedule(list.schedule)})`;
    const have = found.get(cron.path);
    if (!have) problems.push(`checklist "${list.id}": ${want}, but vercel.json has no cron for ${cron.path}: ${fix}`);
    else if (have.length > 1) problems.push(`checklist "${list.id}": ${want}, but vercel.json has ${have.length} crons for ${cron.path} (${have.map((s) => `"${s}"`).join(', ')}): ${fix}`);
    else if (have[0] !== cron.schedule) problems.push(`checklist "${list.id}": ${want}, but vercel.json has "${have[0]}": ${fix}`);
  }
  const paths = new Set(expected.map((c) => c.path));
  for (const [path, schedules] of found) {
    if (!paths.has(path)) problems.push(`vercel.json has a cron for ${path} ("${schedules.join('", "')}") that is no checklist of the config: ${fix}`);
  }
  return problems;
}
