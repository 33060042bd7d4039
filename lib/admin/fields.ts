// Input fields that several admin actions take, defined once so their rules cannot drift apart.
import * as z from 'zod';

// Durations ("30s", "10m", "2h", "7d"): db/terminate's idleLongerThan/runningLongerThan, queues/clean's olderThan.
const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

export const durationField = z.string().regex(/^[1-9][0-9]{0,5}[smhd]$/, 'a duration like "30s", "10m", "2h" or "7d"');

export function durationMs(text: string): number {
  return Number(text.slice(0, -1)) * UNIT_MS[text.slice(-1) as keyof typeof UNIT_MS];
}

/** Token names are what the audit log and the per-token rate limit key on: short, plain, unique while active. */
export const tokenName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/, 'letters, digits, . _ - (at most 63, starting with a letter or digit)')
  .refine((n) => n.toLowerCase() !== 'bootstrap', 'bootstrap is the name of OPSBOOK_ADMIN_TOKEN');
