import { describe, expect, it } from 'vitest';
import { advance, INITIAL, observationOf, thresholdsFor, type ItemState, type Observation, type Step } from '../../lib/alerts/state.js';

const NOW = new Date('2026-11-02T09:00:00Z');
const T = { alertAfter: 2, recoverAfter: 2 };

/** Feed observations in order; what each step says. */
function feed(obs: Array<Observation | [Observation, 'muted']>, t = T): Array<Step & { state: string }> {
  let s: ItemState | undefined;
  const steps: Array<Step & { state: string }> = [];
  for (const o of obs) {
    const [observation, muted] = Array.isArray(o) ? [o[0], true] : [o, false];
    const step = advance(s, observation, t, muted, NOW);
    // Delivery claims the alert (lib/alerts/store.ts claimAlert); mirror it here.
    s = step.alert ? { ...step.next, notifiedSeq: step.alert.seq } : step.next;
    steps.push({ ...step, state: step.next.state });
  }
  return steps;
}

const summary = (steps: ReturnType<typeof feed>) => steps.map((s) => `${s.state}${s.alert ? '!' : ''}${s.resolved ? (s.resolved.notified ? '✓' : '~') : ''}`);

describe('alert thresholds (alertAfter 2, recoverAfter 2)', () => {
  it.each<[string, Array<Observation | [Observation, 'muted']>, string[]]>([
    ['one failure → degraded, no alert', ['fail'], ['degraded']],
    ['two failures in a row → failing, one alert', ['fail', 'fail'], ['degraded', 'failing!']],
    ['still failing → no second alert', ['fail', 'fail', 'fail', 'fail'], ['degraded', 'failing!', 'failing', 'failing']],
    ['flapping ok/fail never alerts', ['fail', 'pass', 'fail', 'pass', 'fail', 'pass'], ['degraded', 'ok', 'degraded', 'ok', 'degraded', 'ok']],
    ['one pass after an incident → degraded (recovering), still open', ['fail', 'fail', 'pass'], ['degraded', 'failing!', 'degraded']],
    ['two passes → resolved, with a resolution note', ['fail', 'fail', 'pass', 'pass'], ['degraded', 'failing!', 'degraded', 'ok✓']],
    ['a failure while recovering → failing again, no new alert', ['fail', 'fail', 'pass', 'fail', 'pass', 'pass'], ['degraded', 'failing!', 'degraded', 'failing', 'degraded', 'ok✓']],
    ['skipped or suppressed runs change nothing', ['fail', 'none', 'fail'], ['degraded', 'degraded', 'failing!']],
    ['an incident opened during maintenance is recorded, not alerted', [['fail', 'muted'], ['fail', 'muted'], ['pass', 'muted'], ['pass', 'muted']], ['degraded', 'failing', 'degraded', 'ok~']],
    ['a muted incident that outlives its window alerts once, late', [['fail', 'muted'], ['fail', 'muted'], 'fail', 'fail'], ['degraded', 'failing', 'failing!', 'failing']],
    ['a second incident after recovery → a second alert', ['fail', 'fail', 'pass', 'pass', 'fail', 'fail'], ['degraded', 'failing!', 'degraded', 'ok✓', 'degraded', 'failing!']],
  ])('%s', (_name, obs, expected) => {
    expect(summary(feed(obs))).toEqual(expected);
  });

  it('incidents are numbered: the second incident of a check has seq 2 (the unit of "one alert")', () => {
    const steps = feed(['fail', 'fail', 'pass', 'pass', 'fail', 'fail']);
    expect(steps.filter((s) => s.alert).map((s) => s.alert!.seq)).toEqual([1, 2]);
  });

  it('alertAfter 1 and recoverAfter 1 → every transition is immediate', () => {
    expect(summary(feed(['fail', 'pass'], { alertAfter: 1, recoverAfter: 1 }))).toEqual(['failing!', 'ok✓']);
  });

  it('the start state is ok with nothing counted', () => {
    expect(advance(undefined, 'none', T, false, NOW).next).toEqual(INITIAL);
  });
});

describe('what a result says', () => {
  it.each([
    ['ok', 'pass'],
    ['warn', 'pass'],
    ['fail', 'fail'],
    ['error', 'fail'],
    ['skipped', 'none'],
  ] as const)('%s → %s', (status, obs) => expect(observationOf(status)).toBe(obs));
});

describe('per-check thresholds', () => {
  const alerts = { alertAfter: 2, recoverAfter: 2, perCheck: { http: { alertAfter: 3 }, 'http.flaky': { recoverAfter: 5 }, 'postgres.reachable': { alertAfter: 1 } } };
  it.each([
    ['redis.ping', { alertAfter: 2, recoverAfter: 2 }],
    ['http.api', { alertAfter: 3, recoverAfter: 2 }],
    ['http.flaky', { alertAfter: 3, recoverAfter: 5 }],
    ['postgres.reachable', { alertAfter: 1, recoverAfter: 2 }],
    ['httpx.other', { alertAfter: 2, recoverAfter: 2 }],
  ])('%s → %j (most specific selector wins, a prefix needs a dot)', (id, expected) => expect(thresholdsFor(id, alerts)).toEqual(expected));
});
