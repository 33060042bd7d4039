import { describe, expect, it } from 'vitest';
import { parseConfig, type HeartbeatConfig } from '../../lib/config/index.js';
import {
  cronProblem,
  evaluateHeartbeat,
  nextExpected,
  outcomeOf,
  parseAction,
  pingTarget,
  readPingBody,
  PING_BODY_LIMIT,
  type HeartbeatState,
  type PingKind,
} from '../../lib/heartbeats.js';
import { OpsbookError } from '../../lib/errors.js';

const at = (hhmm: string, day = '2026-03-01') => new Date(`${day}T${hhmm}:00Z`);
const hb = (input: Record<string, unknown>): HeartbeatConfig => parseConfig({ heartbeats: [{ name: 'job', ...input }] }).heartbeats[0]!;

/** A stored state from the latest timestamps of each kind ("HH:MM" on 2026-03-01, or full ISO). */
function state(s: { success?: string; fail?: string; start?: string; last?: PingKind; exit?: number; failExit?: number }): HeartbeatState {
  const d = (v?: string) => (v === undefined ? undefined : v.includes('T') ? new Date(v) : at(v));
  const times = [d(s.success), d(s.fail), d(s.start)].filter((x): x is Date => x !== undefined);
  const lastPingAt = new Date(Math.max(...times.map((t) => t.getTime())));
  const lastPingKind: PingKind = s.last ?? (lastPingAt.getTime() === d(s.fail)?.getTime() ? 'fail' : lastPingAt.getTime() === d(s.start)?.getTime() ? 'start' : 'success');
  return {
    lastPingAt,
    lastPingKind,
    lastExitCode: s.exit,
    lastSuccessAt: d(s.success),
    lastFailAt: d(s.fail),
    lastStartAt: d(s.start),
    lastFailExitCode: s.failExit,
    pings: times.length,
  };
}

const hourly = hb({ periodSeconds: 3600, graceSeconds: 600 });
const nightly = hb({ cron: '0 3 * * *', graceSeconds: 3600 });

describe('heartbeat state machine', () => {
  it.each([
    ['never pinged → new', hourly, undefined, at('10:00'), 'new', 'never-pinged'],
    ['success within period → up', hourly, state({ success: '10:00' }), at('10:30'), 'up', 'on-time'],
    ['success exactly one period ago → late (due now)', hourly, state({ success: '10:00' }), at('11:00'), 'late', 'late'],
    ['past expected, within grace → late', hourly, state({ success: '10:00' }), at('11:05'), 'late', 'late'],
    ['late heartbeat past grace → down', hourly, state({ success: '10:00' }), at('11:15'), 'down', 'missed'],
    ['fail ping after success → down', hourly, state({ success: '10:00', fail: '10:20' }), at('10:30'), 'down', 'failed'],
    ['non-zero exit after success → down', hourly, state({ success: '10:00', fail: '10:20', last: 'exit', exit: 3, failExit: 3 }), at('10:21'), 'down', 'failed'],
    ['success after a failure → up again', hourly, state({ success: '10:40', fail: '10:20' }), at('10:50'), 'up', 'on-time'],
    ['a retry started after a failure does not clear it → down', hourly, state({ success: '09:00', fail: '10:20', start: '10:25' }), at('10:26'), 'down', 'failed'],
    ['a run started before the due time and still running within grace → up (not late)', hourly, state({ success: '10:00', start: '10:58' }), at('11:05'), 'up', 'running'],
    ['a started run exceeding grace → down', hourly, state({ success: '10:00', start: '10:30' }), at('10:45'), 'down', 'run-overdue'],
    ['a start followed by success → up, not running', hourly, state({ success: '10:31', start: '10:30' }), at('10:45'), 'up', 'on-time'],
    ['first run started, within grace → new', hourly, state({ start: '10:00' }), at('10:05'), 'new', 'first-run-running'],
    ['first run started, past grace → down', hourly, state({ start: '10:00' }), at('10:11'), 'down', 'first-run-overdue'],
    ['only failures so far → down', hourly, state({ fail: '10:00' }), at('10:01'), 'down', 'failed'],
    ['success and failure at the same instant, failure stored last → down', hourly, state({ success: '10:00', fail: '10:00', last: 'fail' }), at('10:01'), 'down', 'failed'],
    ['success and failure at the same instant, success stored last → up', hourly, state({ success: '10:00', fail: '10:00', last: 'success' }), at('10:01'), 'up', 'on-time'],
    ['cron: after last night’s run, before tonight’s → up', nightly, state({ success: '03:02' }), at('02:00', '2026-03-02'), 'up', 'on-time'],
    ['cron: scheduled time passed, within grace → late', nightly, state({ success: '03:02' }), at('03:30', '2026-03-02'), 'late', 'late'],
    ['cron schedule missed by more than grace → down', nightly, state({ success: '03:02' }), at('04:01', '2026-03-02'), 'down', 'missed'],
    ['cron: a run that pinged early (02:59) is still due at 03:00 the same night', nightly, state({ success: '02:59' }), at('03:30'), 'late', 'late'],
  ] as const)('%s', (_name, config, st, now, expected, reason) => {
    const e = evaluateHeartbeat(config, st, now);
    expect(e.state).toBe(expected);
    expect(e.reason).toBe(reason);
  });

  it('expectedBy and downAt follow the period and grace', () => {
    const e = evaluateHeartbeat(hourly, state({ success: '10:00' }), at('10:30'));
    expect(e.expectedBy).toEqual(at('11:00'));
    expect(e.downAt).toEqual(at('11:10'));
    expect(e.lastSuccessAgeSeconds).toBe(1800);
  });

  it('a running job must finish within grace of its start, or by the schedule deadline if that comes first', () => {
    const late = evaluateHeartbeat(hourly, state({ success: '10:00', start: '11:05' }), at('11:06'));
    expect(late.downAt).toEqual(at('11:10'));
    const early = evaluateHeartbeat(hourly, state({ success: '10:00', start: '10:30' }), at('10:31'));
    expect(early.downAt).toEqual(at('10:40'));
  });

  it.each([
    ['RPO exceeded → flagged even when the schedule says up', hb({ periodSeconds: 86_400, rpoSeconds: 3600 }), state({ success: '08:00' }), at('10:00'), true],
    ['last success within RPO → not flagged', hb({ periodSeconds: 86_400, rpoSeconds: 3 * 3600 }), state({ success: '08:00' }), at('10:00'), false],
    ['never pinged → RPO not evaluated', hb({ periodSeconds: 86_400, rpoSeconds: 3600 }), undefined, at('10:00'), false],
  ] as const)('%s', (_name, config, st, now, exceeded) => {
    expect(evaluateHeartbeat(config, st, now).rpoExceeded).toBe(exceeded);
  });
});

describe('heartbeat schedule math', () => {
  it('period: the last success plus the period', () => {
    expect(nextExpected({ periodSeconds: 90 }, at('10:00'))).toEqual(new Date('2026-03-01T10:01:30Z'));
  });

  it.each([
    ['0 3 * * *', '2026-03-01T03:00:00Z', '2026-03-02T03:00:00Z'],
    ['0 3 * * *', '2026-03-01T02:59:59.500Z', '2026-03-01T03:00:00Z'],
    ['*/15 * * * *', '2026-03-01T10:07:00Z', '2026-03-01T10:15:00Z'],
    ['0 0 * * 1', '2026-03-01T12:00:00Z', '2026-03-02T00:00:00Z'],
  ])('cron %s after %s → %s (UTC, strictly after)', (cron, from, expected) => {
    expect(nextExpected({ cron }, new Date(from))).toEqual(new Date(expected));
  });

  it.each([
    ['61 * * * *', /minute/],
    ['* * * * * *', /5 parts/],
    ['every day', /part/],
  ])('cron %j is rejected: %s', (cron, why) => {
    expect(cronProblem(cron)).toMatch(why);
  });

  it('an invalid cron is rejected at config load, naming its path', () => {
    expect(() => parseConfig({ heartbeats: [{ name: 'backup', cron: '0 25 * * *' }] })).toThrow(/heartbeats\.0\.cron: invalid cron expression/);
  });
});

describe('heartbeat pings', () => {
  it.each([
    [undefined, { kind: 'success' }],
    ['start', { kind: 'start' }],
    ['fail', { kind: 'fail' }],
    ['0', { kind: 'exit', exitCode: 0 }],
    ['255', { kind: 'exit', exitCode: 255 }],
    ['007', { kind: 'exit', exitCode: 7 }],
  ])('action %j → %j', (segment, expected) => {
    expect(parseAction(segment)).toEqual(expected);
  });

  it.each([['256'], ['-1'], ['1000'], ['log'], ['START']])('action %j → 400', (segment) => {
    expect(() => parseAction(segment)).toThrow(OpsbookError);
    try {
      parseAction(segment);
    } catch (err) {
      expect((err as OpsbookError).status).toBe(400);
    }
  });

  it.each([
    [{ kind: 'success' }, 'success'],
    [{ kind: 'start' }, 'start'],
    [{ kind: 'fail' }, 'fail'],
    [{ kind: 'exit', exitCode: 0 }, 'success'],
    [{ kind: 'exit', exitCode: 1 }, 'fail'],
  ] as const)('%j counts as %s', (action, outcome) => {
    expect(outcomeOf(action)).toBe(outcome);
  });

  it.each([
    ['http://x/api/heartbeats/db-backup', { name: 'db-backup' }],
    ['http://x/api/heartbeats/db-backup/start?name=other', { name: 'db-backup', action: 'start' }],
    ['http://x/api/heartbeats/db-backup/3/', { name: 'db-backup', action: '3' }],
    ['http://x/somewhere-else?name=db-backup&action=fail', { name: 'db-backup', action: 'fail' }],
  ])('%s → %j (the path wins over the query)', (url, expected) => {
    expect(pingTarget(new URL(url))).toEqual(expected);
  });

  const post = (body: BodyInit | null) => new Request('http://x/api/heartbeats/job', { method: 'POST', body });

  it('a body within 10 KB is kept whole', async () => {
    expect(await readPingBody(post('backup done: 12 GB'))).toEqual({ text: 'backup done: 12 GB', truncated: false });
  });

  it('no body → nothing stored', async () => {
    expect(await readPingBody(new Request('http://x/api/heartbeats/job'))).toEqual({ truncated: false });
  });

  it('a body over 10 KB is cut to its first 10 KB', async () => {
    const r = await readPingBody(post('a'.repeat(PING_BODY_LIMIT + 500)));
    expect(r.truncated).toBe(true);
    expect(r.text).toBe('a'.repeat(PING_BODY_LIMIT));
  });

  it('the cut never splits a UTF-8 character', async () => {
    const r = await readPingBody(post('ab' + '€'.repeat(PING_BODY_LIMIT)));
    expect(r.truncated).toBe(true);
    expect(r.text).not.toContain('\uFFFD');
    expect(Buffer.byteLength(r.text!)).toBeLessThanOrEqual(PING_BODY_LIMIT);
    expect(Buffer.byteLength(r.text!)).toBe(PING_BODY_LIMIT - 2);
  });

  it('NUL bytes (which Postgres text refuses) are replaced, and the result still fits', async () => {
    const r = await readPingBody(post(new Uint8Array(PING_BODY_LIMIT).fill(0)));
    expect(r.text).not.toContain('\u0000');
    expect(Buffer.byteLength(r.text!)).toBeLessThanOrEqual(PING_BODY_LIMIT);
    expect(r.truncated).toBe(true);
  });

  it('a huge streamed body is not read past the limit', async () => {
    let pulled = 0;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++;
        controller.enqueue(new Uint8Array(4096).fill(0x61));
        if (pulled > 10_000) controller.close();
      },
    });
    const r = await readPingBody(new Request('http://x/api/heartbeats/job', { method: 'POST', body: stream, duplex: 'half' } as RequestInit));
    expect(r.truncated).toBe(true);
    expect(pulled).toBeLessThan(10);
  });
});
