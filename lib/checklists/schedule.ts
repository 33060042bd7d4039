import { Cron } from 'croner';
import * as z from 'zod';

/**
 * When a checklist runs, in UTC. Every schedule is at most daily (Vercel Hobby's limit), so a run is
 * identified by its UTC date: that date is the period a run claims exactly once.
 */
const time = z
  .string()
  .regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (UTC, 24-hour)')
  .default('09:00');
export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const weekday = z.enum(WEEKDAYS);

export const scheduleSchema = z.discriminatedUnion('type', [
  z.strictObject({
    /** Every day at `at` (UTC). @example { "type": "daily", "at": "06:30" } */
    type: z.literal('daily'),
    /** Time of day it runs, HH:MM in UTC (24-hour). @default "09:00" @example "06:30" */
    at: time,
  }),
  z.strictObject({
    /** On the given weekdays at `at` (UTC), e.g. runbook 002's Monday / Wednesday / Friday items. @example { "type": "weekly", "days": ["mon", "wed", "fri"], "at": "10:00" } */
    type: z.literal('weekly'),
    /** Weekdays it runs on, lower-case three-letter names (UTC). @example ["mon", "wed", "fri"] */
    days: z.array(weekday).min(1).max(7),
    /** Time of day it runs, HH:MM in UTC (24-hour). @default "09:00" @example "10:00" */
    at: time,
  }),
  z.strictObject({
    /** On day `day` of each month at `at` (UTC); a month without that day runs on its last day. @example { "type": "monthly", "day": 1, "at": "10:00" } */
    type: z.literal('monthly'),
    /** Day of the month it runs on; 29, 30 or 31 runs on the last day of a shorter month. @example 1 */
    day: z.number().int().min(1).max(31),
    /** Time of day it runs, HH:MM in UTC (24-hour). @default "09:00" @example "10:00" */
    at: time,
  }),
  z.strictObject({
    /** The `nth` `weekday` of each month at `at` (UTC), e.g. runbook 002's "First Monday" … "Fourth Monday". @example { "type": "nth-weekday", "nth": 1, "weekday": "mon", "at": "10:00" } */
    type: z.literal('nth-weekday'),
    /** Which occurrence of `weekday` in the month: 1 (the first) to 4 (the fourth). @example 1 */
    nth: z.number().int().min(1).max(4),
    /** The weekday, a lower-case three-letter name (UTC). @example "mon" */
    weekday,
    /** Time of day it runs, HH:MM in UTC (24-hour). @default "09:00" @example "10:00" */
    at: time,
  }),
  z.strictObject({
    /** The first Monday of January, April, July and October at `at` (UTC): a quarterly DR drill, secret rotation. @example { "type": "quarterly", "at": "10:00" } */
    type: z.literal('quarterly'),
    /** Time of day it runs, HH:MM in UTC (24-hour). @default "09:00" @example "10:00" */
    at: time,
  }),
  z.strictObject({
    /**
     * On demand only, never missed and with no vercel.json cron: `npx opsbook run <id>` or `POST /api/admin/checklists/run {"checklist":"<id>"}` (role operate), e.g. from a deploy hook for post-deploy checks.
     * @example { "type": "manual" }
     */
    type: z.literal('manual'),
  }),
  z.strictObject({
    /** On a cron expression (UTC), for what the other kinds cannot say; the key is `cron`, as on heartbeats and maintenance windows. @example { "type": "cron", "cron": "0 3 * * *" } */
    type: z.literal('cron'),
    /**
     * Five-field cron expression in UTC (minute hour day-of-month month day-of-week, Sunday 0) as Vercel accepts it: numbers, `*`, lists, ranges and steps, no names, at most once a day.
     * @example "0 3 * * *"
     */
    cron: z.string().superRefine((value, ctx) => {
      const problem = vercelCronProblem(value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    }),
  }),
]);

export type Schedule = z.output<typeof scheduleSchema>;
export type ScheduleInput = z.input<typeof scheduleSchema>;

const DAY_MS = 86_400_000;

/** UTC midnight of the day `d` falls on. */
export function utcDay(d: Date): Date {
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()));
}

/** The period key of a run: its UTC date. */
export function periodOf(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function atOn(day: Date, at: string): Date {
  const [h, m] = at.split(':').map(Number);
  return new Date(day.getTime() + (h! * 60 + m!) * 60_000);
}

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
}

const CRON_FIELDS = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day-of-week', min: 0, max: 6 },
] as const;

/**
 * What Vercel's cron syntax refuses in one field, which croner (and most crons) would accept. Vercel
 * documents numbers only (minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-6 with
 * Sunday 0), with `*`, lists, ranges and steps, and says it does not support alternative expressions
 * like MON, SUN, JAN or DEC (vercel.com/docs/cron-jobs, "Cron expression limitations"). The Quartz
 * extensions `L`, `W`, `#` and `?` are not in that syntax either.
 */
function vercelFieldProblem(value: string, index: number): string | undefined {
  const field = CRON_FIELDS[index]!;
  const where = `${field.name} "${value}"`;
  const named = /[a-z]{3,}/i.exec(value);
  if (named) {
    const what = index === 3 ? 'named months' : index === 4 ? 'named weekdays' : 'names';
    return `${where}: Vercel does not support ${what} ("${named[0]}"); use numbers ${field.min}-${field.max}${index === 4 ? ' (Sunday is 0)' : ''}`;
  }
  if (value.includes('#')) return `${where}: Vercel does not support "#" (the nth weekday of a month); use a schedule of type "nth-weekday"`;
  if (/l/i.test(value)) return `${where}: Vercel does not support "L" (the last day)${index === 2 ? '; use a schedule of type "monthly" with day 31, which runs on the last day of shorter months' : ''}`;
  if (/w/i.test(value)) return `${where}: Vercel does not support "W" (the nearest weekday)`;
  if (value.includes('?')) return `${where}: Vercel does not support "?"; use "*"`;
  const other = /[^0-9*,/-]/.exec(value);
  if (other) return `${where}: Vercel does not support "${other[0]}" (only numbers, "*", ",", "-" and "/")`;
  for (const part of value.split(',')) {
    const [range = ''] = part.split('/');
    for (const n of range.split('-').filter((x) => /^\d+$/.test(x)).map(Number)) {
      if (index === 4 && n === 7) return `${where}: Vercel's day of week is 0-6 (Sunday is 0), it does not support 7`;
      if (n < field.min || n > field.max) return `is not a valid cron expression: ${field.name} ${n} is out of range ${field.min}-${field.max}`;
    }
  }
  return undefined;
}

/** Why a cron expression cannot be a Vercel (Hobby) cron, or undefined when it can. */
export function vercelCronProblem(expr: string): string | undefined {
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5) return 'must have exactly five fields (minute hour day-of-month month day-of-week)';
  for (const [i, value] of fields.entries()) {
    const problem = vercelFieldProblem(value, i);
    if (problem) return problem;
  }
  const [minute, hour, dom, , dow] = fields as [string, string, string, string, string];
  if (!/^\d{1,2}$/.test(minute) || !/^\d{1,2}$/.test(hour)) return 'must run at most once a day: minute and hour must be single numbers';
  if (dom !== '*' && dow !== '*') return 'Vercel does not allow both day-of-month and day-of-week';
  try {
    new Cron(expr, { timezone: 'UTC', paused: true });
  } catch (err) {
    return `is not a valid cron expression: ${(err as Error).message}`;
  }
  return undefined;
}

/** Does the schedule have a run on this UTC day? */
export function runsOn(schedule: Schedule, day: Date): boolean {
  const y = day.getUTCFullYear();
  const m = day.getUTCMonth();
  const d = day.getUTCDate();
  const wd = WEEKDAYS[day.getUTCDay()]!;
  switch (schedule.type) {
    case 'manual':
      return false;
    case 'daily':
      return true;
    case 'weekly':
      return schedule.days.includes(wd);
    case 'monthly':
      return d === Math.min(schedule.day, daysInMonth(y, m));
    case 'nth-weekday':
      return wd === schedule.weekday && Math.ceil(d / 7) === schedule.nth;
    case 'quarterly':
      return m % 3 === 0 && wd === 'mon' && d <= 7;
    case 'cron': {
      const first = new Cron(schedule.cron, { timezone: 'UTC', paused: true }).nextRun(new Date(day.getTime() - 1));
      return first !== null && first.getTime() < day.getTime() + DAY_MS;
    }
  }
}

/** The time of the run on a day the schedule runs. */
export function runTimeOn(schedule: Schedule, day: Date): Date {
  if (schedule.type === 'manual') return day;
  if (schedule.type === 'cron') {
    return new Cron(schedule.cron, { timezone: 'UTC', paused: true }).nextRun(new Date(day.getTime() - 1)) ?? day;
  }
  return atOn(day, schedule.at);
}

export type Due = { due: true; period: string; scheduledAt: Date } | { due: false; reason: string; next?: Date };

/**
 * Is a run due at `now`? A run is due on a scheduled day from its time on (Vercel may call a few
 * minutes late; the local runner calls on time). Called early or on another day, the answer says when
 * the next run is.
 */
export function isDue(schedule: Schedule, now: Date): Due {
  if (schedule.type === 'manual') return { due: false, reason: 'runs on demand only (schedule manual): npx opsbook run, or POST /api/admin/checklists/run' };
  const today = utcDay(now);
  if (runsOn(schedule, today)) {
    const at = runTimeOn(schedule, today);
    // One minute of tolerance for a platform clock a little ahead of ours.
    if (now.getTime() >= at.getTime() - 60_000) return { due: true, period: periodOf(today), scheduledAt: at };
    return { due: false, reason: `scheduled for ${at.toISOString()}, it is not time yet`, next: at };
  }
  const next = nextRun(schedule, now);
  return { due: false, reason: `not scheduled on ${periodOf(today)} (${describeSchedule(schedule)})`, next };
}

/** The most recent scheduled run at or before `now` (within ~13 months), for missed-run detection. */
export function previousRun(schedule: Schedule, now: Date): Date | undefined {
  if (schedule.type === 'manual') return undefined;
  const today = utcDay(now);
  for (let i = 0; i <= 400; i++) {
    const day = new Date(today.getTime() - i * DAY_MS);
    if (!runsOn(schedule, day)) continue;
    const at = runTimeOn(schedule, day);
    if (at.getTime() <= now.getTime()) return at;
  }
  return undefined;
}

/** The next scheduled run after `now`. */
export function nextRun(schedule: Schedule, now: Date): Date | undefined {
  if (schedule.type === 'manual') return undefined;
  const today = utcDay(now);
  for (let i = 0; i <= 400; i++) {
    const day = new Date(today.getTime() + i * DAY_MS);
    if (!runsOn(schedule, day)) continue;
    const at = runTimeOn(schedule, day);
    if (at.getTime() > now.getTime()) return at;
  }
  return undefined;
}

/** The usual gap between runs, for "missed within one period plus grace". */
export function periodLengthMs(schedule: Schedule): number {
  switch (schedule.type) {
    case 'daily':
      return DAY_MS;
    case 'weekly':
      return (7 / schedule.days.length) * DAY_MS;
    case 'monthly':
    case 'nth-weekday':
      return 31 * DAY_MS;
    case 'quarterly':
      return 92 * DAY_MS;
    case 'cron':
      return DAY_MS;
    case 'manual':
      return Infinity;
  }
}

const DOW_NUM: Record<(typeof WEEKDAYS)[number], number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };

/**
 * The vercel.json cron for a schedule: five fields, UTC, never both day-of-month and day-of-week, at most
 * daily. Where Vercel cannot express a rule ("first Monday"), the cron fires on every candidate day and
 * `isDue` decides in code. A manual checklist has none.
 */
export function toVercelCron(schedule: Schedule): string | undefined {
  if (schedule.type === 'manual') return undefined;
  if (schedule.type === 'cron') return schedule.cron.trim().split(/\s+/).join(' ');
  const [h, m] = schedule.at.split(':').map(Number);
  const hm = `${m} ${h}`;
  switch (schedule.type) {
    case 'daily':
      return `${hm} * * *`;
    case 'weekly':
      return `${hm} * * ${[...new Set(schedule.days.map((d) => DOW_NUM[d]))].sort((a, b) => a - b).join(',')}`;
    case 'monthly':
      return schedule.day <= 28 ? `${hm} ${schedule.day} * *` : `${hm} 28-31 * *`;
    case 'nth-weekday':
      return `${hm} * * ${DOW_NUM[schedule.weekday]}`;
    case 'quarterly':
      return `${hm} * 1,4,7,10 1`;
  }
}

const ORD = ['first', 'second', 'third', 'fourth'];

/** "first Monday of the month at 09:00 UTC", for reports and errors. */
export function describeSchedule(schedule: Schedule): string {
  const cap = (d: string) => ({ sun: 'Sunday', mon: 'Monday', tue: 'Tuesday', wed: 'Wednesday', thu: 'Thursday', fri: 'Friday', sat: 'Saturday' })[d];
  switch (schedule.type) {
    case 'daily':
      return `daily at ${schedule.at} UTC`;
    case 'weekly':
      return `every ${schedule.days.map(cap).join(', ')} at ${schedule.at} UTC`;
    case 'monthly':
      return `monthly on day ${schedule.day} at ${schedule.at} UTC`;
    case 'nth-weekday':
      return `${ORD[schedule.nth - 1]} ${cap(schedule.weekday)} of the month at ${schedule.at} UTC`;
    case 'quarterly':
      return `first Monday of January, April, July and October at ${schedule.at} UTC`;
    case 'cron':
      return `cron "${schedule.cron}" (UTC)`;
    case 'manual':
      return 'on demand (manual)';
  }
}
