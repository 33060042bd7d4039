import type { Db, Statement } from '../db/index.js';
import type { Incident, ItemState } from './state.js';

/** A check's state as stored, with the version its next write must follow. */
export interface StoredState extends ItemState {
  version: number;
}

export async function loadStates(db: Db, keys: string[]): Promise<Map<string, StoredState>> {
  if (keys.length === 0) return new Map();
  const { rows } = await db.query<Record<string, unknown>>(
    `SELECT key, state, failures, successes, seq, incident, notified_seq, version FROM opsbook.alert_state WHERE key = ANY($1::text[])`,
    [keys],
  );
  return new Map(
    rows.map((r) => {
      const incident = (typeof r.incident === 'string' ? JSON.parse(r.incident) : r.incident) as Incident | null;
      return [
        String(r.key),
        {
          state: r.state as ItemState['state'],
          failures: Number(r.failures),
          successes: Number(r.successes),
          seq: Number(r.seq),
          notifiedSeq: Number(r.notified_seq),
          version: Number(r.version),
          ...(incident ? { incident } : {}),
        },
      ];
    }),
  );
}

/**
 * Write a check's next state if nobody wrote it since we read it (optimistic: two checklists observing
 * the same check at the same moment keep one observation, never a torn state). `RETURNING key` tells the
 * caller whether its write is the one that counts, and so whether its alert is its to send.
 */
export function writeStateStatement(key: string, next: ItemState, prevVersion: number, checklist: string, now: Date): Statement {
  return {
    text: `INSERT INTO opsbook.alert_state (key, state, failures, successes, seq, incident, notified_seq, version, updated_at, checklist)
           VALUES ($1, $2, $3, $4, $5, $6::jsonb, 0, $7, $8, $9)
           ON CONFLICT (key) DO UPDATE SET state = EXCLUDED.state, failures = EXCLUDED.failures, successes = EXCLUDED.successes,
             seq = EXCLUDED.seq, incident = EXCLUDED.incident, version = EXCLUDED.version, updated_at = EXCLUDED.updated_at, checklist = EXCLUDED.checklist
           WHERE opsbook.alert_state.version = EXCLUDED.version - 1
           RETURNING key`,
    params: [key, next.state, next.failures, next.successes, next.seq, next.incident ? JSON.stringify(next.incident) : null, prevVersion + 1, now.toISOString(), checklist],
  };
}

/**
 * Claim an incident's alert: a conditional update, as Healthchecks.io does, so of two instances that
 * both saw the incident open exactly one sends it.
 */
export async function claimAlert(db: Db, key: string, seq: number, now: Date): Promise<boolean> {
  const { rows } = await db.query(`UPDATE opsbook.alert_state SET notified_seq = $2, notified_at = $3 WHERE key = $1 AND notified_seq < $2 RETURNING key`, [
    key,
    seq,
    now.toISOString(),
  ]);
  return rows.length > 0;
}
