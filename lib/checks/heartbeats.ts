import type { HeartbeatConfig } from '../config/index.js';
import { messageOf } from '../errors.js';
import { redactSecrets } from '../env.js';
import { evaluateHeartbeat, pingPath, type HeartbeatEvaluation, type HeartbeatState, type PingKind } from '../heartbeats.js';
import { duration, errored, fail, grade, ok, warn } from './outcome.js';
import type { Check, CheckContext, CheckFamily, CheckOutcome } from './types.js';

/**
 * One check per configured heartbeat (`heartbeat.<name>`). The latest state of every heartbeat is read
 * by one statement, shared by all of them through a per-run memo: the first heartbeat check to resume
 * from `caps()` queues it in the merged batch, the others wait for the same result.
 */
const STATE_SQL = `SELECT name, last_ping_at, last_ping_kind, last_exit_code, last_success_at, last_start_at, last_fail_at,
  last_fail_exit_code, pings, last_metrics
  FROM opsbook.heartbeats WHERE name IN (SELECT jsonb_array_elements_text($1::jsonb))`;

const loads = new WeakMap<CheckContext, Promise<Map<string, HeartbeatState>>>();

function loadStates(ctx: CheckContext): Promise<Map<string, HeartbeatState>> {
  let load = loads.get(ctx);
  if (!load) {
    const names = ctx.config.heartbeats.map((h) => h.name);
    // After the store's capabilities, so the statement joins the run's merged batch.
    load = ctx.store.caps().then(() => ctx.store.batch([{ text: STATE_SQL, params: [JSON.stringify(names)] }])).then(([res]) => {
      const states = new Map<string, HeartbeatState>();
      for (const r of res!.rows) states.set(String(r.name), stateOf(r));
      return states;
    });
    loads.set(ctx, load);
  }
  return load;
}

const date = (v: unknown): Date | undefined => (v === null || v === undefined ? undefined : new Date(v as string | number | Date));
const int = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));

function stateOf(r: Record<string, unknown>): HeartbeatState {
  return {
    lastPingAt: date(r.last_ping_at)!,
    lastPingKind: String(r.last_ping_kind) as PingKind,
    lastExitCode: int(r.last_exit_code),
    lastSuccessAt: date(r.last_success_at),
    lastStartAt: date(r.last_start_at),
    lastFailAt: date(r.last_fail_at),
    lastFailExitCode: int(r.last_fail_exit_code),
    pings: Number(r.pings),
    ...(r.last_metrics && typeof r.last_metrics === 'object' ? { lastMetrics: r.last_metrics as HeartbeatState['lastMetrics'] } : {}),
  };
}

const iso = (d: Date | undefined) => (d && d.getTime() < 8.64e15 ? d.toISOString() : null);
const ago = (from: Date | undefined, now: Date) => (from ? `${duration(Math.max(0, (now.getTime() - from.getTime()) / 1000))} ago` : 'never');
const schedule = (h: HeartbeatConfig) => (h.periodSeconds !== undefined ? `every ${duration(h.periodSeconds)}` : `cron "${h.cron}" (UTC)`);

function curlHint(h: HeartbeatConfig): string {
  return (
    `Make the job ping when it finishes: curl -fsS -m 10 --retry 5 -H "Authorization: Bearer $OPSBOOK_HEARTBEAT_TOKEN" ` +
    `https://<opsbook-host>${pingPath(h.name)} — or …${pingPath(h.name, '$?')} with its exit code, and …${pingPath(h.name, 'start')} ` +
    `when it starts. The token needs the heartbeat role (the admin token works).`
  );
}

/** Turn the state machine's verdict into a check outcome: up → ok, late and new → warn, down → fail. */
export function heartbeatOutcome(h: HeartbeatConfig, state: HeartbeatState | undefined, e: HeartbeatEvaluation, now: Date): CheckOutcome {
  const grace = duration(h.graceSeconds);
  let summary: string;
  switch (e.reason) {
    case 'never-pinged':
      summary = `never pinged (expected ${schedule(h)})`;
      break;
    case 'first-run-running':
      summary = `first run started ${ago(state?.lastStartAt, now)}, not finished yet`;
      break;
    case 'first-run-overdue':
      summary = `down: the first run started ${ago(state?.lastStartAt, now)} and did not finish within the grace time (${grace})`;
      break;
    case 'failed': {
      const code = state?.lastFailExitCode;
      summary = `down: the last run failed${code !== undefined ? ` (exit code ${code})` : ''} ${ago(state?.lastFailAt, now)}; last success ${ago(state?.lastSuccessAt, now)}`;
      break;
    }
    case 'run-overdue':
      summary = `down: the run started ${ago(state?.lastStartAt, now)} did not finish within the grace time (${grace})`;
      break;
    case 'missed':
      summary = `down: no success since ${ago(state?.lastSuccessAt, now)}; expected by ${iso(e.expectedBy)}, grace (${grace}) passed`;
      break;
    case 'late':
      summary = `late: last success ${ago(state?.lastSuccessAt, now)}, expected by ${iso(e.expectedBy)}; down at ${iso(e.downAt)}`;
      break;
    case 'running':
      summary = `running since ${ago(state?.lastStartAt, now)}; last success ${ago(state?.lastSuccessAt, now)}`;
      break;
    case 'on-time':
      summary = `up: last success ${ago(state?.lastSuccessAt, now)}, next expected by ${iso(e.expectedBy)}`;
      break;
  }
  const detail = {
    state: e.state,
    lastSuccess: iso(state?.lastSuccessAt),
    lastPing: iso(state?.lastPingAt),
    lastPingKind: state?.lastPingKind ?? null,
    expectedBy: iso(e.expectedBy),
    downAt: iso(e.downAt),
    running: e.running,
    lastStart: iso(state?.lastStartAt),
    lastFail: iso(state?.lastFailAt),
    lastFailExitCode: state?.lastFailExitCode ?? null,
    lastSuccessAgeSeconds: e.lastSuccessAgeSeconds === undefined ? null : Math.round(e.lastSuccessAgeSeconds),
    ...(h.rpoSeconds !== undefined ? { rpoSeconds: h.rpoSeconds } : {}),
  };
  const extra: Partial<CheckOutcome> = {
    details: [detail],
    ...(e.lastSuccessAgeSeconds !== undefined ? { value: Math.round(e.lastSuccessAgeSeconds), unit: 's' } : {}),
  };

  if (e.rpoExceeded) {
    return fail(`RPO of ${duration(h.rpoSeconds!)} exceeded (last backup ${ago(state?.lastSuccessAt, now)}); ${summary}`, extra);
  }
  switch (e.state) {
    case 'up':
      return ok(summary, extra);
    case 'late':
      return warn(summary, extra);
    case 'down':
      return fail(summary, extra);
    case 'new': {
      const rpo = h.rpoSeconds !== undefined ? ` No success is recorded, so the RPO of ${duration(h.rpoSeconds)} cannot be confirmed.` : '';
      return warn(summary, { ...extra, hint: { text: `${curlHint(h)}${rpo}` } });
    }
  }
}

function heartbeatCheck(h: HeartbeatConfig): Check {
  return {
    id: `heartbeat.${h.name}`,
    title: h.title ?? `Heartbeat ${h.name}`,
    family: 'heartbeats',
    severity: h.severity,
    needs: ['store'],
    async run(ctx, now) {
      let states: Map<string, HeartbeatState>;
      try {
        states = await loadStates(ctx);
      } catch (err) {
        return errored(`could not read heartbeat pings: ${redactSecrets(messageOf(err)).slice(0, 300)}`);
      }
      const state = states.get(h.name);
      let evaluation: HeartbeatEvaluation;
      try {
        evaluation = evaluateHeartbeat(h, state, now);
      } catch (err) {
        return errored(`cannot compute the schedule: ${messageOf(err).slice(0, 200)}`, { hint: { text: 'Fix the cron expression in opsbook.config.ts (five fields, UTC).' } });
      }
      return heartbeatOutcome(h, state, evaluation, now);
    },
  };
}

/**
 * A pushed metric's verdict: graded by its levels; never reported → warn with the ping to send; older than
 * the heartbeat's period plus grace (the host stopped sending it) → warn, since an old number says nothing
 * about now. Pure.
 */
export function metricOutcome(h: HeartbeatConfig, name: string, state: HeartbeatState | undefined, now: Date): CheckOutcome {
  const m = h.metrics[name]!;
  const unit = m.unit ? ` ${m.unit}` : '';
  const last = state?.lastMetrics?.[name];
  if (!last || typeof last.value !== 'number') {
    return warn(`${name}: never reported by ${h.name}`, {
      hint: {
        text:
          `Send it with the ping: curl -fsS -m 10 --retry 5 -H "Authorization: Bearer $OPSBOOK_HEARTBEAT_TOKEN" -H 'content-type: application/json' ` +
          `-d '{"metrics":{"${name}":<number>}}' https://<opsbook-host>${pingPath(h.name)} (examples/host-agent.sh sends disk, memory, load and process states).`,
      },
    });
  }
  const at = new Date(last.at);
  const ageS = Math.max(0, (now.getTime() - at.getTime()) / 1000);
  const staleAfterS = (h.periodSeconds ?? 86_400) + h.graceSeconds;
  const levels = [m.warn !== undefined ? `warn ${m.direction} ${m.warn}` : '', m.fail !== undefined ? `fail ${m.direction} ${m.fail}` : ''].filter(Boolean).join(', ');
  const head = `${name} ${last.value}${unit}${levels ? ` (${levels})` : ''}, reported ${duration(ageS)} ago`;
  const extra: Partial<CheckOutcome> = { value: last.value, ...(m.unit ? { unit: m.unit } : {}), details: [{ metric: name, value: last.value, reportedAt: at.toISOString(), ageSeconds: Math.round(ageS) }] };
  if (ageS > staleAfterS) {
    return warn(`${head}: stale, nothing newer within the heartbeat's period and grace (${duration(staleAfterS)})`, {
      ...extra,
      hint: { text: `The host stopped sending ${name}: check the agent's cron on it, and that the ping still carries the metric.` },
    });
  }
  const status = grade(last.value, { warn: m.warn, fail: m.fail, direction: m.direction });
  return status === 'ok' ? ok(head, extra) : (status === 'fail' ? fail : warn)(head, extra);
}

function metricCheck(h: HeartbeatConfig, name: string): Check {
  const m = h.metrics[name]!;
  return {
    id: `heartbeat.${h.name}.${name}`,
    title: m.title ?? `${h.title ?? h.name}: ${name}`,
    family: 'heartbeats',
    severity: h.severity,
    needs: ['store'],
    async run(ctx, now) {
      try {
        return metricOutcome(h, name, (await loadStates(ctx)).get(h.name), now);
      } catch (err) {
        return errored(`could not read heartbeat metrics: ${redactSecrets(messageOf(err)).slice(0, 300)}`);
      }
    },
  };
}

export const family: CheckFamily = {
  family: 'heartbeats',
  checks: (config) => config.heartbeats.flatMap((h) => [heartbeatCheck(h), ...Object.keys(h.metrics).map((name) => metricCheck(h, name))]),
};
