import type { CheckOutcome, CheckStatus, Hint } from './types.js';

/** Shorthands so every family builds outcomes the same way. */
export const ok = (summary: string, extra: Partial<CheckOutcome> = {}): CheckOutcome => ({ status: 'ok', summary, ...extra });
export const warn = (summary: string, extra: Partial<CheckOutcome> = {}): CheckOutcome => ({ status: 'warn', summary, ...extra });
export const fail = (summary: string, extra: Partial<CheckOutcome> = {}): CheckOutcome => ({ status: 'fail', summary, ...extra });
export const errored = (summary: string, extra: Partial<CheckOutcome> = {}): CheckOutcome => ({ status: 'error', summary, ...extra });

/** `skipped` always says why and how to fix it. */
export function skipped(reason: string, fix: string): CheckOutcome {
  return { status: 'skipped', summary: reason, hint: { text: fix } };
}

/** The first `n` rows and a count of the rest: findings stay bounded however big the system is. */
export function topN<T extends Record<string, unknown>>(rows: T[], n: number): { details: T[]; more?: number } {
  return rows.length > n ? { details: rows.slice(0, n), more: rows.length - n } : { details: rows };
}

/** A hint that names the admin action fixing the finding, with a dry-run body to try first. */
export function actionHint(text: string, path: string, body: Record<string, unknown>): Hint {
  return { text, action: { method: 'POST', path, body: { ...body, dryRun: true } } };
}

/** Status from a value and warn/fail thresholds, where `above` means higher is worse. */
export function grade(value: number, t: { warn?: number; fail?: number; direction?: 'above' | 'below' }): CheckStatus {
  const worse = (limit: number) => (t.direction === 'below' ? value < limit : value > limit);
  if (t.fail !== undefined && worse(t.fail)) return 'fail';
  if (t.warn !== undefined && worse(t.warn)) return 'warn';
  return 'ok';
}

/** Worst of several statuses, for a run or a section: fail > error > warn > ok > skipped. */
export function worst(statuses: CheckStatus[]): CheckStatus {
  const order: CheckStatus[] = ['skipped', 'ok', 'warn', 'error', 'fail'];
  return statuses.reduce<CheckStatus>((w, s) => (order.indexOf(s) > order.indexOf(w) ? s : w), 'ok');
}

/** "1.2 GB", for people. */
export function bytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v >= 10 || i === 0 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** "3 min 12 s", for people. */
export function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}
