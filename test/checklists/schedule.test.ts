import { describe, expect, it } from 'vitest';
import {
  isDue,
  nextRun,
  previousRun,
  scheduleSchema,
  toVercelCron,
  vercelCronProblem,
  type ScheduleInput,
} from '../../lib/checklists/schedule.js';

const s = (input: ScheduleInput) => scheduleSchema.parse(input);
const at = (iso: string) => new Date(iso);

describe('is a run due?', () => {
  it.each([
    // daily
    ['daily 09:00, at 09:00 → due', { type: 'daily', at: '09:00' }, '2026-11-22T09:00:00Z', '2026-11-22'],
    ['daily 09:00, called 7 minutes late → still due', { type: 'daily', at: '09:00' }, '2026-11-22T09:07:00Z', '2026-11-22'],
    ['daily 23:59 run belongs to its own day', { type: 'daily', at: '23:59' }, '2026-12-31T23:59:00Z', '2026-12-31'],
    ['daily 00:01 run belongs to the new year', { type: 'daily', at: '00:01' }, '2027-01-01T00:01:00Z', '2027-01-01'],
    ['daily on a leap day', { type: 'daily' }, '2028-02-29T09:00:00Z', '2028-02-29'],
    // weekly
    ['Mon/Wed/Fri on a Wednesday', { type: 'weekly', days: ['mon', 'wed', 'fri'], at: '10:00' }, '2026-11-25T10:00:00Z', '2026-11-25'],
    // nth weekday: November 2026 starts on a Sunday → Mondays are 2, 9, 16, 23, 30
    ['first Monday: Nov 2', { type: 'nth-weekday', nth: 1, weekday: 'mon' }, '2026-11-02T09:00:00Z', '2026-11-02'],
    ['fourth Monday: Nov 23', { type: 'nth-weekday', nth: 4, weekday: 'mon' }, '2026-11-23T09:00:00Z', '2026-11-23'],
    ['first Monday on the 1st (June 2026)', { type: 'nth-weekday', nth: 1, weekday: 'mon' }, '2026-06-01T09:00:00Z', '2026-06-01'],
    ['first Monday on the 7th (Sept 2026)', { type: 'nth-weekday', nth: 1, weekday: 'mon' }, '2026-09-07T09:00:00Z', '2026-09-07'],
    // quarterly: first Monday of Jan/Apr/Jul/Oct
    ['quarter start Jan 5 2026', { type: 'quarterly' }, '2026-01-05T09:00:00Z', '2026-01-05'],
    ['quarter start Apr 6 2026', { type: 'quarterly' }, '2026-04-06T09:00:00Z', '2026-04-06'],
    ['quarter start Jul 6 2026', { type: 'quarterly' }, '2026-07-06T09:00:00Z', '2026-07-06'],
    ['quarter start Oct 5 2026', { type: 'quarterly' }, '2026-10-05T09:00:00Z', '2026-10-05'],
    // monthly, clamped to the last day
    ['monthly day 31 in February → Feb 28', { type: 'monthly', day: 31 }, '2027-02-28T09:00:00Z', '2027-02-28'],
    ['monthly day 31 in a leap February → Feb 29', { type: 'monthly', day: 31 }, '2028-02-29T09:00:00Z', '2028-02-29'],
    ['monthly day 30 in April', { type: 'monthly', day: 30 }, '2026-04-30T09:00:00Z', '2026-04-30'],
    // cron
    ['cron 30 6 * * 1-5 on a Friday', { type: 'cron', cron: '30 6 * * 1-5' }, '2026-11-27T06:30:00Z', '2026-11-27'],
  ] as Array<[string, ScheduleInput, string, string]>)('%s', (_name, schedule, now, period) => {
    expect(isDue(s(schedule), at(now))).toMatchObject({ due: true, period });
  });

  it.each([
    ['first Monday, on the second Monday', { type: 'nth-weekday', nth: 1, weekday: 'mon' }, '2026-11-09T09:00:00Z', /not scheduled on 2026-11-09/],
    ['fourth Monday, on a fifth Monday', { type: 'nth-weekday', nth: 4, weekday: 'mon' }, '2026-11-30T09:00:00Z', /not scheduled/],
    ['quarterly, on the first Monday of February', { type: 'quarterly' }, '2026-02-02T09:00:00Z', /not scheduled/],
    ['quarterly, on the second Monday of April', { type: 'quarterly' }, '2026-04-13T09:00:00Z', /not scheduled/],
    ['daily 09:00, at 08:00', { type: 'daily', at: '09:00' }, '2026-11-22T08:00:00Z', /not time yet/],
    ['monthly day 31 on Feb 27', { type: 'monthly', day: 31 }, '2027-02-27T09:00:00Z', /not scheduled/],
    ['weekly Monday, on a Sunday', { type: 'weekly', days: ['mon'] }, '2026-11-22T09:00:00Z', /not scheduled/],
  ] as Array<[string, ScheduleInput, string, RegExp]>)('%s → not due, with the reason', (_name, schedule, now, reason) => {
    const due = isDue(s(schedule), at(now));
    expect(due.due).toBe(false);
    if (!due.due) {
      expect(due.reason).toMatch(reason);
      expect(due.next).toBeInstanceOf(Date);
    }
  });
});

describe('previous and next runs', () => {
  it.each([
    [{ type: 'daily', at: '09:00' }, '2026-11-22T08:59:00Z', '2026-11-21T09:00:00.000Z', '2026-11-22T09:00:00.000Z'],
    [{ type: 'nth-weekday', nth: 1, weekday: 'mon' }, '2026-11-22T12:00:00Z', '2026-11-02T09:00:00.000Z', '2026-12-07T09:00:00.000Z'],
    [{ type: 'quarterly' }, '2026-11-22T12:00:00Z', '2026-10-05T09:00:00.000Z', '2027-01-04T09:00:00.000Z'],
    [{ type: 'monthly', day: 31 }, '2027-03-01T00:00:00Z', '2027-02-28T09:00:00.000Z', '2027-03-31T09:00:00.000Z'],
    [{ type: 'daily', at: '23:59' }, '2026-12-31T23:59:30Z', '2026-12-31T23:59:00.000Z', '2027-01-01T23:59:00.000Z'],
  ] as Array<[ScheduleInput, string, string, string]>)('%j at %s: previous %s, next %s', (schedule, now, prev, next) => {
    expect(previousRun(s(schedule), at(now))?.toISOString()).toBe(prev);
    expect(nextRun(s(schedule), at(now))?.toISOString()).toBe(next);
  });
});

describe('vercel.json crons', () => {
  it.each([
    [{ type: 'daily', at: '09:00' }, '0 9 * * *'],
    [{ type: 'weekly', days: ['fri', 'mon', 'wed'], at: '10:30' }, '30 10 * * 1,3,5'],
    [{ type: 'monthly', day: 1, at: '02:00' }, '0 2 1 * *'],
    [{ type: 'monthly', day: 31, at: '02:00' }, '0 2 28-31 * *'],
    [{ type: 'nth-weekday', nth: 1, weekday: 'mon', at: '09:00' }, '0 9 * * 1'],
    [{ type: 'quarterly', at: '09:00' }, '0 9 * 1,4,7,10 1'],
    [{ type: 'cron', cron: '15  6 * * 1-5' }, '15 6 * * 1-5'],
  ] as Array<[ScheduleInput, string]>)('%j → "%s", which Vercel accepts', (schedule, cron) => {
    expect(toVercelCron(s(schedule))).toBe(cron);
    expect(vercelCronProblem(cron)).toBeUndefined();
  });

  it.each([
    ['*/5 * * * *', /at most once a day/],
    ['0 * * * *', /at most once a day/],
    ['0 9 1 * 1', /both day-of-month and day-of-week/],
    ['0 9 * *', /five fields/],
    ['0 0 9 * * *', /five fields/],
    ['0 25 * * *', /not a valid cron/],
  ])('cron "%s" is refused: %s', (expr, problem) => {
    expect(vercelCronProblem(expr)).toMatch(problem);
    expect(scheduleSchema.safeParse({ type: 'cron', cron: expr }).success).toBe(false);
  });
});

// What Vercel's cron syntax refuses (vercel.com/docs/cron-jobs, "Cron expression limitations": no
// MON/SUN/JAN/DEC; numbers minute 0-59, hour 0-23, day 1-31, month 1-12, weekday 0-6) but croner would
// accept: a deploy with such a vercel.json fails, so the config is refused first, saying why.
describe('a checklist cron that Vercel does not support is refused by the config', () => {
  it.each([
    ['a named month', '0 9 1 JAN *', /month "JAN": Vercel does not support named months \("JAN"\); use numbers 1-12/],
    ['a named month range', '0 9 1 jan-mar *', /month "jan-mar": Vercel does not support named months/],
    ['a named weekday', '0 9 * * MON', /day-of-week "MON": Vercel does not support named weekdays \("MON"\); use numbers 0-6 \(Sunday is 0\)/],
    ['a named weekday list', '0 9 * * mon,wed,fri', /Vercel does not support named weekdays/],
    ['"L" (last day of the month)', '0 9 L * *', /day-of-month "L": Vercel does not support "L".*type "monthly" with day 31/],
    ['"5L" (last Friday)', '0 9 * * 5L', /day-of-week "5L": Vercel does not support "L"/],
    ['"W" (nearest weekday)', '0 9 15W * *', /day-of-month "15W": Vercel does not support "W"/],
    ['"#" (second Monday)', '0 9 * * 1#2', /day-of-week "1#2": Vercel does not support "#".*"nth-weekday"/],
    ['"?" (no specific value)', '0 9 ? * 1', /day-of-month "\?": Vercel does not support "\?"; use "\*"/],
    ['Sunday as 7', '0 9 * * 7', /day-of-week "7": Vercel's day of week is 0-6 \(Sunday is 0\), it does not support 7/],
    ['Sunday as 7 in a range', '0 9 * * 5-7', /Vercel's day of week is 0-6/],
    ['an hour out of range', '0 24 * * *', /not a valid cron expression: hour 24 is out of range 0-23/],
    ['a day out of range', '0 9 0 * *', /not a valid cron expression: day-of-month 0 is out of range 1-31/],
  ])('%s: "%s" → %s', (_what, expr, problem) => {
    expect(vercelCronProblem(expr)).toMatch(problem);
    const parsed = scheduleSchema.safeParse({ type: 'cron', cron: expr });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.message).toMatch(problem);
  });

  it.each([
    ['a weekday range', '0 9 * * 1-5'],
    ['a weekday list', '30 6 * * 0,6'],
    ['a stepped weekday range', '0 9 * * 1-5/2'],
    ['a month list', '0 9 1 1,4,7,10 *'],
    ['a stepped day of month', '0 9 */2 * *'],
    ['a stepped day range', '0 9 1-31/7 * *'],
    ['Sunday as 0', '0 9 * * 0'],
  ])('%s: "%s" is accepted', (_what, expr) => {
    expect(vercelCronProblem(expr)).toBeUndefined();
    expect(scheduleSchema.safeParse({ type: 'cron', cron: expr }).success).toBe(true);
  });
});
