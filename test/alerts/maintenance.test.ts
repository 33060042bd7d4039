import { describe, expect, it } from 'vitest';
import { mutingWindow, openWindowAt, openWindows } from '../../lib/alerts/maintenance.js';
import { maintenanceWindow } from '../../lib/config/schema.js';

const w = (input: Record<string, unknown>) => maintenanceWindow.parse({ id: 'w', durationMinutes: 120, ...input });
const at = (iso: string) => new Date(iso);

describe('maintenance windows (UTC)', () => {
  it.each<[string, Record<string, unknown>, string, boolean]>([
    ['weekly Sunday 02:00 for 2 h: Sunday 02:00 → open (the opening instant counts)', { weekday: ['sun'], start: '02:00' }, '2026-11-01T02:00:00Z', true],
    ['…Sunday 03:59 → open', { weekday: ['sun'], start: '02:00' }, '2026-11-01T03:59:00Z', true],
    ['…Sunday 04:00 → closed (the end is exclusive)', { weekday: ['sun'], start: '02:00' }, '2026-11-01T04:00:00Z', false],
    ['…Sunday 01:59 → closed', { weekday: ['sun'], start: '02:00' }, '2026-11-01T01:59:00Z', false],
    ['…Monday 02:30 → closed', { weekday: ['sun'], start: '02:00' }, '2026-11-02T02:30:00Z', false],
    ['Saturday 22:00 for 48 h covers Monday 21:59', { weekday: ['sat'], start: '22:00', durationMinutes: 2880 }, '2026-11-02T21:59:00Z', true],
    ['day of month 1 at 00:00 for 2 h: the 1st 01:00 → open', { dayOfMonth: [1] }, '2026-12-01T01:00:00Z', true],
    ['…the 2nd 01:00 → closed', { dayOfMonth: [1] }, '2026-12-02T01:00:00Z', false],
    ['cron "30 3 * * 2" for 2 h: Tuesday 05:00 → open', { cron: '30 3 * * 2' }, '2026-11-03T05:00:00Z', true],
    ['…Tuesday 05:30 → closed', { cron: '30 3 * * 2' }, '2026-11-03T05:30:00Z', false],
    ['one-off at 2026-11-20T10:00Z for 2 h: 11:00 → open', { at: '2026-11-20T10:00:00Z' }, '2026-11-20T11:00:00Z', true],
    ['…a week later → closed', { at: '2026-11-20T10:00:00Z' }, '2026-11-27T11:00:00Z', false],
  ])('%s', (_name, input, now, open) => {
    expect(openWindowAt(w(input), at(now)) !== undefined).toBe(open);
  });

  it('an open window says when it opened and when it closes', () => {
    expect(openWindowAt(w({ weekday: ['sun'], start: '02:00', title: 'Weekly deploy' }), at('2026-11-01T03:00:00Z'))).toEqual({
      id: 'w',
      title: 'Weekly deploy',
      from: '2026-11-01T02:00:00.000Z',
      until: '2026-11-01T04:00:00.000Z',
    });
  });

  it('a window naming checks mutes only those (by id or family); one without mutes every check', () => {
    const open = openWindows([w({ id: 'api', weekday: ['sun'], checks: ['http.api', 'tls'] })], at('2026-11-01T00:30:00Z'));
    expect(mutingWindow(open, 'http.api')?.id).toBe('api');
    expect(mutingWindow(open, 'tls.site')?.id).toBe('api');
    expect(mutingWindow(open, 'http.other')).toBeUndefined();
    const all = openWindows([w({ weekday: ['sun'] })], at('2026-11-01T00:30:00Z'));
    expect(mutingWindow(all, 'postgres.reachable')?.id).toBe('w');
  });

  it('maintenance mode (the admin action) is an ad hoc window over every check', () => {
    const open = openWindows([], at('2026-11-01T00:30:00Z'), { enabled: true, message: 'Upgrading Postgres', until: '2026-11-01T02:00:00Z' });
    expect(open).toEqual([expect.objectContaining({ id: 'maintenance-mode', title: 'Maintenance mode: Upgrading Postgres', until: '2026-11-01T02:00:00Z' })]);
    expect(mutingWindow(open, 'anything.at-all')?.id).toBe('maintenance-mode');
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['no recurrence', {}, /exactly one of weekday, dayOfMonth, cron or at/],
    ['two recurrences', { weekday: ['sun'], dayOfMonth: [1] }, /exactly one of/],
    ['a start that is not HH:MM', { weekday: ['sun'], start: '25:00' }, /HH:MM/],
    ['a bad cron', { cron: '61 * * * *' }, /invalid cron expression/],
  ])('config rejects %s with a clear message', (_name, input, message) => {
    const r = maintenanceWindow.safeParse({ id: 'w', durationMinutes: 60, ...input });
    expect(r.success).toBe(false);
    expect(JSON.stringify(r.error?.issues)).toMatch(message);
  });
});
