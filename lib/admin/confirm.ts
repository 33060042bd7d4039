import { createHmac, timingSafeEqual } from 'node:crypto';
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

/**
 * A confirm token: an HMAC over the actor, the action, its parameters and an expiry. It proves the
 * caller saw this exact dry run: another actor, other parameters or a late confirm all fail.
 */
export function signConfirm(secret: string, input: { actor: string; action: string; params: unknown; now: Date }): string {
  const exp = input.now.getTime() + CONFIRM_TTL_MS;
  return `${exp.toString(36)}.${mac(secret, `${input.actor}\n${input.action}\n${canonical(input.params)}\n${exp}`)}`;
}

export function verifyConfirm(secret: string, token: string, input: { actor: string; action: string; params: unknown; now: Date }): void {
  const [expPart, sig] = token.split('.');
  const exp = expPart ? parseInt(expPart, 36) : NaN;
  if (!sig || !Number.isFinite(exp)) throw new OpsbookError('CONFIRMATION_REQUIRED', 'The confirm token is malformed. Run the dry run again.');
  const expected = Buffer.from(mac(secret, `${input.actor}\n${input.action}\n${canonical(input.params)}\n${exp}`));
  const given = Buffer.from(sig);
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
    throw new OpsbookError('CONFIRMATION_REQUIRED', 'The confirm token does not match this actor, action and parameters. Run the dry run again with these parameters.');
  }
  if (input.now.getTime() > exp) throw new OpsbookError('CONFIRMATION_REQUIRED', 'The confirm token has expired (10 minutes). Run the dry run again.');
}
