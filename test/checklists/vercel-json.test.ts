// vercel.json's crons are generated from opsbook.config.ts: the committed file must match the committed
// config (this test fails when they differ: run `npm run crons`), and every generated cron must be one
// Vercel accepts and that fires on every day the schedule runs.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Cron } from 'croner';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import defaultConfig from '../../opsbook.config.js';
import { vercelCrons } from '../../cron/index.js';
import { runsOn, runTimeOn, toVercelCron, utcDay, vercelCronProblem, type ScheduleInput } from '../../lib/checklists/schedule.js';
import { syncVercelJson, vercelJsonDrift } from '../../lib/checklists/vercel-json.js';
import { parseConfig } from '../../lib/config/index.js';

const ROOT = resolve(import.meta.dirname, '../..');
const DAY = 86_400_000;

describe('the committed vercel.json', () => {
  it('crons equal vercelCrons(opsbook.config.ts) — when this fails, run `npm run crons` and commit vercel.json', async () => {
    const committed = JSON.parse(await readFile(join(ROOT, 'vercel.json'), 'utf8')) as { crons?: unknown };
    expect(committed.crons).toEqual(vercelCrons(parseConfig(defaultConfig)));
  });

  it('has one cron per checklist of the committed config, at /api/cron/<id>', () => {
    const config = parseConfig(defaultConfig);
    expect(vercelCrons(config).map((c) => c.path)).toEqual(config.checklists.map((c) => `/api/cron/${c.id}`));
  });

  it.each(vercelCrons(parseConfig(defaultConfig)).map((c) => [c.path, c.schedule]))('%s "%s" is a valid Vercel cron: five fields, at most daily, never both day-of-month and day-of-week', (_path, schedule) => {
    expect(vercelCronProblem(schedule)).toBeUndefined();
    const fields = schedule.split(' ');
    expect(fields).toHaveLength(5);
    expect(fields[0]).toMatch(/^\d{1,2}$/);
    expect(fields[1]).toMatch(/^\d{1,2}$/);
    expect(fields[2] === '*' || fields[4] === '*').toBe(true);
  });
});

// Every schedule type: its cron is valid for Vercel and fires on every day the schedule runs, at the
// run's time (where Vercel cannot say "first Monday", it fires on candidate days and isDue decides).
const SCHEDULES: Array<[string, ScheduleInput]> = [
  ['daily', { type: 'daily', at: '09:00' }],
  ['weekly on three days', { type: 'weekly', days: ['fri', 'mon', 'wed'], at: '07:45' }],
  ['monthly on day 15', { type: 'monthly', day: 15, at: '10:00' }],
  ['monthly on day 31 (short months run on their last day)', { type: 'monthly', day: 31, at: '23:59' }],
  ['second Tuesday', { type: 'nth-weekday', nth: 2, weekday: 'tue', at: '06:00' }],
  ['quarterly', { type: 'quarterly', at: '10:00' }],
  ['a cron expression', { type: 'cron', cron: ' 5  4 * * 0 ' }],
];

describe.each(SCHEDULES)('toVercelCron: %s', (_name, input) => {
  const schedule = parseConfig({ checklists: [{ id: 'x', title: 'x', schedule: input, items: [{ manual: 'x' }] }] }).checklists[0]!.schedule;
  const cron = toVercelCron(schedule)!;

  it('passes vercelCronProblem (five fields, at most daily, not both dom and dow)', () => {
    expect(vercelCronProblem(cron)).toBeUndefined();
    const fields = cron.split(' ');
    expect(fields).toHaveLength(5);
    expect(fields[2] === '*' || fields[4] === '*').toBe(true);
  });

  it('fires at the run time on every day of 2026–2027 the schedule runs', () => {
    const job = new Cron(cron, { timezone: 'UTC', paused: true });
    const start = Date.UTC(2026, 0, 1);
    let runs = 0;
    for (let t = start; t < Date.UTC(2028, 0, 1); t += DAY) {
      const day = utcDay(new Date(t));
      if (!runsOn(schedule, day)) continue;
      runs++;
      const fired = job.nextRun(new Date(day.getTime() - 1));
      expect(fired?.toISOString(), `${day.toISOString().slice(0, 10)}`).toBe(runTimeOn(schedule, day).toISOString());
    }
    expect(runs).toBeGreaterThanOrEqual(8);
  });
});

describe('vercelCronProblem', () => {
  it.each([
    ['0 9 * *', /five fields/],
    ['0 9 * * * *', /five fields/],
    ['*/5 * * * *', /at most once a day/],
    ['0 */2 * * *', /at most once a day/],
    ['0 9 1 * 1', /both day-of-month and day-of-week/],
    ['0 9 * 13 *', /not a valid cron expression/],
  ])('"%s" → %s', (expr, problem) => {
    expect(vercelCronProblem(expr)).toMatch(problem);
  });
});

describe('syncVercelJson', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'opsbook-vercel-json-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  const config = parseConfig({
    checklists: [
      { id: 'daily', title: 'D', schedule: { type: 'daily', at: '08:30' }, items: [{ manual: 'x' }] },
      { id: 'weekly', title: 'W', schedule: { type: 'weekly', days: ['mon'], at: '10:00' }, items: [{ manual: 'x' }] },
    ],
  });
  const stale = { $schema: 'https://openapi.vercel.sh/vercel.json', functions: { 'api/**/*.ts': { maxDuration: 60 } }, crons: [{ path: '/api/cron/daily', schedule: '0 9 * * *' }] };

  it('--check with crons that differ → changed, and the file is left as it was', async () => {
    const path = join(dir, 'check.json');
    const text = JSON.stringify(stale, null, 2);
    await writeFile(path, text);
    const res = await syncVercelJson(path, config, { check: true });
    expect(res.changed).toBe(true);
    expect(await readFile(path, 'utf8')).toBe(text);
  });

  it('a sync writes the generated crons and keeps every other key; a second sync changes nothing', async () => {
    const path = join(dir, 'sync.json');
    await writeFile(path, JSON.stringify(stale, null, 2));
    expect((await syncVercelJson(path, config)).changed).toBe(true);
    const written = JSON.parse(await readFile(path, 'utf8'));
    expect(written).toEqual({
      ...stale,
      crons: [
        { path: '/api/cron/daily', schedule: '30 8 * * *' },
        { path: '/api/cron/weekly', schedule: '0 10 * * 1' },
      ],
    });
    expect((await syncVercelJson(path, config, { check: true })).changed).toBe(false);
  });
});

// A vercel.json whose crons differ from the config: Vercel calls on the old schedule (or never), so
// check-config fails and the runner warns. Each line names the checklist and both schedules.
describe('vercelJsonDrift', () => {
  const config = parseConfig({
    checklists: [
      { id: 'daily', title: 'D', schedule: { type: 'daily', at: '08:30' }, items: [{ manual: 'x' }] },
      { id: 'weekly', title: 'W', schedule: { type: 'weekly', days: ['mon'], at: '10:00' }, items: [{ manual: 'x' }] },
    ],
  });
  const json = (crons: unknown) => JSON.stringify({ $schema: 'https://openapi.vercel.sh/vercel.json', crons }, null, 2);
  const daily = { path: '/api/cron/daily', schedule: '30 8 * * *' };
  const weekly = { path: '/api/cron/weekly', schedule: '0 10 * * 1' };

  it.each([
    ['the generated crons', json([daily, weekly])],
    ['the same crons in another order (Vercel does not care)', json([weekly, daily])],
  ])('%s → no problems', (_what, text) => {
    expect(vercelJsonDrift(config, text)).toEqual([]);
  });

  it.each([
    ['another schedule', json([{ ...daily, schedule: '0 9 * * *' }, weekly]), [/^checklist "daily": config schedules "30 8 \* \* \*" \(daily at 08:30 UTC\), but vercel\.json has "0 9 \* \* \*": run `npm run crons`/]],
    ['a checklist missing', json([daily]), [/^checklist "weekly": config schedules "0 10 \* \* 1" \(every Monday at 10:00 UTC\), but vercel\.json has no cron for \/api\/cron\/weekly/]],
    ['no crons at all', json(undefined), [/^checklist "daily": .*no cron/, /^checklist "weekly": .*no cron/]],
    ['a cron the config does not have', json([daily, weekly, { path: '/api/cron/old', schedule: '0 3 * * *' }]), [/^vercel\.json has a cron for \/api\/cron\/old \("0 3 \* \* \*"\) that is no checklist of the config/]],
    ['a checklist listed twice', json([daily, weekly, { ...weekly, schedule: '0 11 * * 1' }]), [/^checklist "weekly": .*2 crons for \/api\/cron\/weekly \("0 10 \* \* 1", "0 11 \* \* 1"\)/]],
    ['text that is not JSON', '{ "crons": [', [/^vercel\.json is not valid JSON/]],
    ['crons that are not an array', json({ daily: '30 8 * * *' }), [/^vercel\.json "crons" is not an array/]],
  ])('%s → one line per difference', (_what, text, expected) => {
    const problems = vercelJsonDrift(config, text);
    expect(problems).toHaveLength(expected.length);
    expected.forEach((re, i) => expect(problems[i]).toMatch(re));
  });
});
