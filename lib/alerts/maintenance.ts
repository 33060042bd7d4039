import { Cron } from 'croner';
import { selectorMatches } from '../checks/selector.js';
import type { MaintenanceWindowConfig } from '../config/index.js';
import type { MaintenanceState } from '../flags-reader.js';

/** A window in force at a given instant. */
export interface OpenWindow {
  id: string;
  title: string;
  from: string;
  until: string;
  /** Selectors muted; undefined = every check. */
  checks?: string[];
}

const DAY_NUMBER = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 } as const;

/** The window's opening schedule as a cron expression (UTC), or its single opening instant. */
function openings(w: MaintenanceWindowConfig): { cron: string } | { at: Date } {
  if (w.at) return { at: new Date(w.at) };
  if (w.cron) return { cron: w.cron };
  const [hh, mm] = w.start.split(':').map(Number);
  if (w.weekday) return { cron: `${mm} ${hh} * * ${w.weekday.map((d) => DAY_NUMBER[d]).join(',')}` };
  return { cron: `${mm} ${hh} ${w.dayOfMonth!.join(',')} * *` };
}

/**
 * Is `w` open at `now`? It is when its latest opening at or before `now` is less than its duration ago.
 * Only openings within one duration back can matter, so croner is asked for the first opening after
 * `now − duration`.
 */
export function openWindowAt(w: MaintenanceWindowConfig, now: Date): OpenWindow | undefined {
  const durationMs = w.durationMinutes * 60_000;
  const o = openings(w);
  let from: Date | undefined;
  if ('at' in o) from = o.at;
  else {
    // `startAt` is exclusive in croner: step one millisecond back so an opening exactly then counts.
    from = new Cron(o.cron, { timezone: 'UTC', paused: true }).nextRun(new Date(now.getTime() - durationMs - 1)) ?? undefined;
  }
  if (!from || from.getTime() > now.getTime() || now.getTime() >= from.getTime() + durationMs) return undefined;
  return { id: w.id, title: w.title ?? w.id, from: from.toISOString(), until: new Date(from.getTime() + durationMs).toISOString(), ...(w.checks ? { checks: w.checks } : {}) };
}

/** The configured windows open at `now`, plus maintenance mode (the admin action) as an ad hoc window over everything. */
export function openWindows(windows: MaintenanceWindowConfig[], now: Date, mode?: MaintenanceState): OpenWindow[] {
  const open = windows.map((w) => openWindowAt(w, now)).filter((w): w is OpenWindow => w !== undefined);
  if (mode?.enabled) {
    open.push({ id: 'maintenance-mode', title: mode.message ? `Maintenance mode: ${mode.message}` : 'Maintenance mode', from: now.toISOString(), until: mode.until ?? '(until turned off)' });
  }
  return open;
}

/** The window muting `checkId`, if any. */
export function mutingWindow(open: OpenWindow[], checkId: string): OpenWindow | undefined {
  return open.find((w) => !w.checks || w.checks.some((sel) => selectorMatches(sel, { id: checkId })));
}
