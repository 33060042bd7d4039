import { createHash } from 'node:crypto';
import type { Db } from '../db/index.js';
import { OpsbookError } from '../errors.js';
import { canonical } from './confirm.js';

/** Stripe's window: a key's stored response is replayed for 24 hours. */
export const IDEMPOTENCY_TTL_MS = 24 * 3600_000;

export type Claim = { kind: 'new' } | { kind: 'replay'; status: number; body: unknown };

export function requestHash(route: string, body: unknown): string {
  return createHash('sha256').update(`${route}\n${canonical(body)}`).digest('hex');
}

/**
 * An in-flight claim older than this belongs to a request that ended without finishing (its instance
 * died, or its answer never came back): the same request may take the key over. Longer than any admin
 * request can run (the longest, VACUUM FULL, is bounded at 4 minutes).
 */
export const IN_FLIGHT_LEASE_MS = 10 * 60_000;

/**
 * Claim an Idempotency-Key for this actor (Stripe semantics). The first request inserts an in-flight
 * row; a retry of a finished one replays its response; the same key with another body, or while the
 * first is still running, is a 409. Only requests that passed validation reach here, so a rejected
 * request never burns a key.
 *
 * `deadline` is when the caller stops waiting for this statement. A database that hangs and later
 * recovers runs the statements it had received: a claim that arrives after its caller answered 503 would
 * leave the key "in progress" for a request that is over, and refuse every retry. Past the deadline the
 * claim therefore inserts nothing (the database's clock decides; clocks within a second of each other
 * are all this needs). A claim lost anyway is taken over once its lease has run out.
 */
export async function claimKey(db: Db, actor: string, key: string, hash: string, now: Date, deadline?: Date): Promise<Claim> {
  const cutoff = new Date(now.getTime() - IDEMPOTENCY_TTL_MS).toISOString();
  const abandoned = new Date(now.getTime() - IN_FLIGHT_LEASE_MS).toISOString();
  const { rows } = await db.query<{ inserted: boolean; request_hash: string; state: string; status: number | null; body: unknown }>(
    `WITH expired AS (DELETE FROM opsbook.idempotency_keys WHERE actor = $1 AND key = $2 AND created_at < $5),
     in_time AS (SELECT $7::timestamptz IS NULL OR clock_timestamp() <= $7::timestamptz AS ok),
     takeover AS (
       UPDATE opsbook.idempotency_keys SET created_at = $4
       WHERE actor = $1 AND key = $2 AND request_hash = $3 AND state = 'in-flight' AND created_at >= $5 AND created_at < $6
         AND (SELECT ok FROM in_time)
       RETURNING true AS inserted),
     ins AS (
       INSERT INTO opsbook.idempotency_keys (actor, key, request_hash, state, created_at)
       SELECT $1, $2, $3, 'in-flight', $4 WHERE (SELECT ok FROM in_time)
       ON CONFLICT (actor, key) DO NOTHING RETURNING true AS inserted)
     SELECT COALESCE((SELECT inserted FROM ins), (SELECT inserted FROM takeover), false) AS inserted, k.request_hash, k.state, k.status, k.body
     FROM (SELECT 1) one LEFT JOIN opsbook.idempotency_keys k ON k.actor = $1 AND k.key = $2 AND k.created_at >= $5`,
    [actor, key, hash, now.toISOString(), cutoff, abandoned, deadline?.toISOString() ?? null],
  );
  const row = rows[0]!;
  if (row.inserted) return { kind: 'new' };
  if (row.request_hash === null || row.request_hash === undefined) return { kind: 'new' };
  if (row.request_hash !== hash) {
    throw new OpsbookError('CONFLICT', 'This Idempotency-Key was used with a different request. Use a new key for a new request.');
  }
  if (row.state !== 'done') throw new OpsbookError('CONFLICT', 'A request with this Idempotency-Key is still in progress.');
  return { kind: 'replay', status: Number(row.status), body: typeof row.body === 'string' ? JSON.parse(row.body) : row.body };
}

export async function completeKey(db: Db, actor: string, key: string, status: number, body: unknown): Promise<void> {
  await db.query(`UPDATE opsbook.idempotency_keys SET state = 'done', status = $3, body = $4::jsonb WHERE actor = $1 AND key = $2`, [actor, key, status, JSON.stringify(body)]);
}

/** A request that failed before it changed anything frees its key, so the client may retry it. */
export async function releaseKey(db: Db, actor: string, key: string): Promise<void> {
  await db.query(`DELETE FROM opsbook.idempotency_keys WHERE actor = $1 AND key = $2 AND state = 'in-flight'`, [actor, key]).catch(() => undefined);
}
