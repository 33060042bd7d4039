import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from '../db/index.js';
import { OpsbookError } from '../errors.js';

/** How long a dry run's confirm token stays valid. */
export const CONFIRM_TTL_MS = 10 * 60_000;

/** Stable JSON: keys sorted at every level, so equal parameters always sign the same. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value as object)
      .sort()
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function mac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

/** The hash of a plan (what a dry run said it would change), short enough to carry in the token. */
export function planHash(plan: unknown): string {
  return createHash('sha256').update(canonical(plan)).digest('base64url').slice(0, 22);
}

export interface ConfirmInput {
  /** The caller token's id (never its name: a name can be reused by a new token). */
  actor: string;
  action: string;
  params: unknown;
  /** `planHash` of what the dry run showed. */
  plan: string;
  now: Date;
}

const payload = (i: Omit<ConfirmInput, 'now' | 'plan'>, plan: string, exp: number, nonce: string) =>
  `${i.actor}\n${i.action}\n${canonical(i.params)}\n${plan}\n${exp}\n${nonce}`;

/**
 * A confirm token: `<expiry>.<nonce>.<plan hash>.<HMAC>`, the HMAC over the caller token's id, the
 * action, its parameters, the plan hash, the expiry and the nonce. It proves the caller saw this exact
 * dry run: another token, other parameters or a late confirm all fail; the plan hash is in clear so a
 * confirm whose target set has since changed can say so (409) instead of "does not match". The nonce
 * makes each token unique, so it can be spent once (`spendConfirm`).
 */
export function signConfirm(secret: string, input: ConfirmInput): string {
  const exp = input.now.getTime() + CONFIRM_TTL_MS;
  const nonce = randomBytes(9).toString('base64url');
  return `${exp.toString(36)}.${nonce}.${input.plan}.${mac(secret, payload(input, input.plan, exp, nonce))}`;
}

/**
 * Checks a confirm token against this caller, action, parameters and the plan as it is now. Throws
 * CONFIRMATION_REQUIRED (428) when the token is not this request's, CONFLICT (409) when it is but what
 * the action would change is no longer what its dry run showed. `checkPlan: false` checks only that the
 * token is this request's (before the plan is computed again, which costs a dry run).
 */
export function verifyConfirm(secret: string, token: string, input: ConfirmInput, opts: { checkPlan?: boolean } = {}): void {
  const [expPart, nonce, plan, sig, extra] = token.split('.');
  const exp = expPart ? parseInt(expPart, 36) : NaN;
  if (!nonce || !plan || !sig || extra !== undefined || !Number.isFinite(exp)) {
    throw new OpsbookError('CONFIRMATION_REQUIRED', 'The confirm token is malformed. Run the dry run again.');
  }
  const expected = Buffer.from(mac(secret, payload(input, plan, exp, nonce)));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new OpsbookError('CONFIRMATION_REQUIRED', 'The confirm token does not match this token, action and parameters. Run the dry run again with these parameters.');
  }
  if (input.now.getTime() > exp) throw new OpsbookError('CONFIRMATION_REQUIRED', 'The confirm token has expired (10 minutes). Run the dry run again.');
  if (opts.checkPlan !== false && plan !== input.plan) {
    throw new OpsbookError('CONFLICT', 'What this would change has changed since the dry run; run it again (with "dryRun": true) and confirm the new plan.');
  }
}

/**
 * Spends a confirm token: the first call wins, any later one (a replayed request, a second tab, a
 * script that loops) is refused. Kept in Postgres, next to the audit log, so every instance sees it;
 * rows older than the token lifetime are pruned on the way, as those tokens have expired anyway.
 */
export async function spendConfirm(db: Db, token: string, now: Date): Promise<void> {
  const id = createHash('sha256').update(token).digest('hex');
  const { rows } = await db.query<{ spent: boolean }>(
    `WITH pruned AS (DELETE FROM opsbook.confirm_uses WHERE used_at < $3),
     ins AS (INSERT INTO opsbook.confirm_uses (token_hash, used_at) VALUES ($1, $2) ON CONFLICT (token_hash) DO NOTHING RETURNING true AS spent)
     SELECT COALESCE((SELECT spent FROM ins), false) AS spent`,
    [id, now.toISOString(), new Date(now.getTime() - 2 * CONFIRM_TTL_MS).toISOString()],
  );
  if (!rows[0]?.spent) {
    throw new OpsbookError('CONFIRMATION_REQUIRED', 'This confirm token was already used: each one confirms one run. Run the dry run again for a new one.');
  }
}
