/**
 * Time for one network check. The runner cuts a check off at `ctx.timeoutMs` without aborting its I/O,
 * so a check keeps a little under that for itself: it then reports its own precise "no answer within
 * N ms" and closes its sockets, instead of being abandoned mid-call.
 */
export interface Budget {
  /** Milliseconds left before the check must have answered. */
  remaining(): number;
  /** The limit for the next network call: the configured timeout, or what is left if that is less. */
  callMs(): number;
}

export function checkBudget(runnerTimeoutMs: number, configuredMs: number): Budget {
  const started = performance.now();
  const total = runnerTimeoutMs - Math.min(250, runnerTimeoutMs * 0.1);
  const remaining = () => total - (performance.now() - started);
  return {
    remaining,
    callMs: () => Math.max(1, Math.floor(Math.min(configuredMs, remaining()))),
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
