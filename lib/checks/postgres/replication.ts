import type { PostgresThresholds } from '../../config/index.js';
import type { Statement } from '../../db/index.js';
import { bytes, duration, fail, ok, warn } from '../outcome.js';
import type { CheckContext, CheckFamily, CheckOutcome, PgCapabilities } from '../types.js';
import { bounded, grantMonitorFix, num, pgCheck, plural, round1, secs, unsupportedVersion } from './activity.js';

/**
 * Replication health (PgHero's replication lag and inactive slots).
 *
 * Lag is a replica's figure: on a replica it is the time since the last replayed transaction, or 0
 * when everything received is replayed (an idle primary sends nothing, which is not lag). Connected to
 * a primary, the check answers `ok` "primary: no replay lag" rather than `skipped`: nothing is missing
 * or misconfigured, and a primary is where Opsbook usually runs. When standbys stream from that
 * primary, their replay_lag (pg_stat_replication) is shown and graded with the same threshold.
 *
 * Slots are a primary's concern: an inactive slot keeps every WAL segment since its restart_lsn, and
 * can fill the disk. On a replica pg_current_wal_lsn() is not available, so the check says so.
 */

const FAMILY = 'postgres.replication';

/** On a replica: lag in seconds (0 when all received WAL is replayed), null before anything was replayed. */
export function replicaLagSql(): Statement {
  return {
    text: `SELECT
  CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0::float8
       ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 END AS lag_s,
  extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS since_replay_s,
  pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8 AS replay_behind_bytes,
  pg_last_wal_receive_lsn() IS NOT NULL AS streaming,
  CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() END AS paused`,
  };
}

/** On a primary: the standbys streaming from it, most behind first. */
export function standbysSql(topn: number): Statement {
  return {
    text: `SELECT application_name, client_addr::text AS client_addr, state, sync_state,
  extract(epoch FROM replay_lag)::float8 AS replay_lag_s, (count(*) OVER ())::int AS n,
  (max(extract(epoch FROM replay_lag)) OVER ())::float8 AS max_lag_s
FROM pg_stat_replication
ORDER BY replay_lag DESC NULLS LAST, pid LIMIT $1::int`,
    params: [topn],
  };
}

async function replicationLag(ctx: CheckContext, t: PostgresThresholds): Promise<CheckOutcome> {
  const caps = await ctx.pg.caps();
  const old = unsupportedVersion(caps);
  if (old) return old;
  if (caps.isReplica) {
    const [res] = await ctx.pg.batch([replicaLagSql()]);
    const r = res!.rows[0] ?? {};
    const paused = r.paused === true;
    const pausedHint = { text: 'WAL replay is paused on this replica: resume it with SELECT pg_wal_replay_resume();' };
    if (r.lag_s === null || r.lag_s === undefined) {
      const summary = 'replica: no transaction replayed since it started, so no lag to measure yet';
      return paused ? warn(`${summary}; replay is paused`, { hint: pausedHint }) : ok(summary, { value: 0, unit: 's' });
    }
    const lag = Math.max(0, num(r.lag_s));
    const details = [
      {
        lagSeconds: round1(lag),
        secondsSinceLastReplay: round1(num(r.since_replay_s)),
        replayBehindBytes: r.replay_behind_bytes === null ? null : num(r.replay_behind_bytes),
        streaming: r.streaming === true,
        replayPaused: paused,
      },
    ];
    if (lag <= t.replicationLagWarnSeconds && !paused) {
      return ok(lag === 0 ? 'replica: everything received is replayed' : `replica: ${duration(lag)} behind the primary`, { value: round1(lag), unit: 's', details });
    }
    const failing = lag > t.replicationLagFailSeconds;
    return (failing ? fail : warn)(
      `replica: ${duration(lag)} behind the primary` +
        (failing ? ` (fail above ${secs(t.replicationLagFailSeconds)})` : lag > t.replicationLagWarnSeconds ? ` (warn above ${secs(t.replicationLagWarnSeconds)})` : '') +
        (paused ? '; replay is paused' : ''),
      {
        value: round1(lag),
        unit: 's',
        details,
        hint: paused
          ? pausedHint
          : {
              text:
                'Reads from this replica are stale. Look for long queries on the replica holding replay back (hot_standby_feedback, ' +
                'max_standby_streaming_delay), a saturated network or disk, or a burst of writes on the primary.',
            },
      },
    );
  }

  const [res] = await ctx.pg.batch([standbysSql(t.topN + 1)]);
  const rows = res!.rows;
  const count = num(rows[0]?.n ?? 0);
  if (count === 0) return ok('primary: no replay lag (no standby streams from it)', { value: 0, unit: 's' });
  const maxLag = rows[0]?.max_lag_s === null || rows[0]?.max_lag_s === undefined ? null : num(rows[0].max_lag_s);
  const details = rows.map((r) => ({
    standby: r.application_name === null ? null : String(r.application_name),
    clientAddr: r.client_addr === null ? null : String(r.client_addr),
    state: r.state === null ? null : String(r.state),
    syncState: r.sync_state === null ? null : String(r.sync_state),
    replayLagSeconds: r.replay_lag_s === null || r.replay_lag_s === undefined ? null : round1(num(r.replay_lag_s)),
  }));
  const page = bounded(details, count, t.topN);
  const hidden = !caps.canMonitor && rows.every((r) => r.state === null);
  const standbys = plural(count, 'standby', 'standbys');
  if (maxLag !== null && maxLag > t.replicationLagWarnSeconds) {
    const failing = maxLag > t.replicationLagFailSeconds;
    const level = failing ? `fail above ${secs(t.replicationLagFailSeconds)}` : `warn above ${secs(t.replicationLagWarnSeconds)}`;
    return (failing ? fail : warn)(`primary: a standby is ${duration(maxLag)} behind (${level}); ${standbys} streaming`, {
      value: round1(maxLag),
      unit: 's',
      ...page,
      hint: { text: 'Reads from that standby are stale: check its disk and network, and long queries on it holding replay back.' },
    });
  }
  return ok(
    `primary: no replay lag; ${standbys} streaming` +
      (hidden ? ' (their lag is hidden without pg_monitor)' : maxLag === null || maxLag < 0.5 ? ', all caught up' : `, at most ${duration(maxLag)} behind`),
    { value: round1(maxLag ?? 0), unit: 's', ...page, ...(hidden ? { hint: { text: `${grantMonitorFix(caps)} to see standby lag.` } } : {}) },
  );
}

/** On a primary: slot totals, and the inactive slots by retained WAL. */
export function slotsSql(caps: PgCapabilities, topn: number): Statement[] {
  const walStatus = caps.serverVersionNum >= 130_000 ? 'wal_status' : 'NULL::text AS wal_status';
  return [
    {
      text: `SELECT count(*)::int AS slots, (count(*) FILTER (WHERE NOT active))::int AS inactive,
  COALESCE(sum(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) FILTER (WHERE NOT active), 0)::float8 AS inactive_retained_bytes
FROM pg_replication_slots`,
    },
    {
      text: `SELECT slot_name::text AS slot_name, slot_type, plugin::text AS plugin, database::text AS database, temporary, ${walStatus},
  pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::float8 AS retained_bytes
FROM pg_replication_slots WHERE NOT active
ORDER BY pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn) DESC NULLS LAST, slot_name LIMIT $1::int`,
      params: [topn],
    },
  ];
}

async function replicationSlots(ctx: CheckContext, t: PostgresThresholds): Promise<CheckOutcome> {
  const caps = await ctx.pg.caps();
  const old = unsupportedVersion(caps);
  if (old) return old;
  if (caps.isReplica) {
    return ok('replica: replication slots are checked on the primary (pg_current_wal_lsn() is not available during recovery)');
  }
  const [totals, inactive] = await ctx.pg.batch(slotsSql(caps, t.topN + 1));
  const a = totals!.rows[0] ?? {};
  const slots = num(a.slots);
  const count = num(a.inactive);
  if (count === 0) {
    return ok(slots === 0 ? 'no replication slot' : `${plural(slots, 'replication slot')}, all active`, { value: 0, unit: 'slots' });
  }
  const details = inactive!.rows.map((r) => ({
    slot: String(r.slot_name),
    type: r.slot_type === null ? null : String(r.slot_type),
    plugin: r.plugin === null ? null : String(r.plugin),
    database: r.database === null ? null : String(r.database),
    walStatus: r.wal_status === null || r.wal_status === undefined ? null : String(r.wal_status),
    retainedBytes: r.retained_bytes === null ? null : num(r.retained_bytes),
    retained: r.retained_bytes === null ? null : bytes(num(r.retained_bytes)),
  }));
  const retained = num(a.inactive_retained_bytes);
  const first = details[0]!;
  return warn(`${plural(count, 'inactive replication slot')} of ${slots}, retaining ${bytes(retained)} of WAL`, {
    value: count,
    unit: 'slots',
    ...bounded(details, count, t.topN),
    hint: {
      text:
        `An inactive slot keeps WAL until its consumer comes back, and can fill the disk. Restart the consumer, or drop the slot if it is gone: ` +
        `SELECT pg_drop_replication_slot('${first.slot.replace(/'/g, "''")}');`,
    },
  });
}

export const family: CheckFamily = {
  family: FAMILY,
  checks(config) {
    if (!config.checks.postgres.enabled) return [];
    return [
      pgCheck(FAMILY, { id: 'postgres.replication-lag', title: 'Replication lag', severity: 'P2' }, replicationLag),
      pgCheck(FAMILY, { id: 'postgres.replication-slots', title: 'Replication slots', severity: 'P2' }, replicationSlots),
    ];
  },
};
