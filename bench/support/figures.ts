/**
 * The contract between `bench/run.ts` and the benchmark modules (`bench/*.bench.ts`).
 *
 * A module exports `name` and `run(ctx)`, which returns the figures it measured. A figure with a goal
 * carries its verdict (`pass`); an informational figure has `goal: null, pass: null`. A MISS is a result,
 * not an error: `run()` throws only when it could not measure (a service is down, a check answered wrong).
 */
export interface Figure {
  /** What was measured, short: "health ÷ slowest dependency (runHealth)". */
  name: string;
  value: number;
  /** "ratio", "ms", "KB", "files"… */
  unit: string;
  /** Human-readable goal, e.g. "≤ 1.15"; null for an informational figure. */
  goal: string | null;
  /** Whether the value meets the goal; null for an informational figure. */
  pass: boolean | null;
}

export interface BenchContext {
  /** Progress, to stderr, so a long run shows what it is doing. */
  progress(message: string): void;
  /** A detail line printed under the table and stored in the JSON (method, spread, attribution). */
  note(message: string): void;
  /** Root of the repository (absolute path, no trailing slash). */
  readonly repoRoot: string;
}

export interface BenchModule {
  /** Group name shown in the table, e.g. "health-latency". */
  name: string;
  /** One line on what the group measures. */
  description?: string;
  run(ctx: BenchContext): Promise<Figure[]>;
}

export type Goal = { max: number } | { min: number } | { equals: number };

/** A figure judged against its goal. */
export function judged(name: string, value: number, unit: string, goal: Goal): Figure {
  if ('max' in goal) return { name, value, unit, goal: `≤ ${goal.max}`, pass: value <= goal.max };
  if ('min' in goal) return { name, value, unit, goal: `≥ ${goal.min}`, pass: value >= goal.min };
  return { name, value, unit, goal: `= ${goal.equals}`, pass: value === goal.equals };
}

/** A figure reported for context, without a goal. */
export function info(name: string, value: number, unit: string): Figure {
  return { name, value, unit, goal: null, pass: null };
}
