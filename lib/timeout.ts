/**
 * Every dependency call in Opsbook goes through `withTimeout`, so a dependency that accepts the
 * connection and never answers costs at most its budget, never a hung function.
 */
export class TimeoutError extends Error {
  constructor(readonly label: string, readonly ms: number) {
    super(`${label} timed out after ${ms} ms`);
    this.name = 'TimeoutError';
  }
}

/**
 * Race `work` against a timer. The timer is cleared as soon as the work settles, so no timer keeps the
 * event loop (or a serverless instance) alive. `onTimeout` lets the caller abort the underlying I/O.
 *
 * A deadline is declared only after the event loop has had one more turn to deliver I/O: on a busy
 * process (the local runner serving 50 diagnostics beside health) the timers phase runs before the poll
 * phase, so an answer that reached the socket in time would otherwise lose to a timer that fired late.
 * That turn is the only grace: a dependency that has not answered still times out.
 */
export async function withTimeout<T>(work: Promise<T> | (() => Promise<T>), ms: number, label: string, onTimeout?: () => void): Promise<T> {
  const promise = typeof work === 'function' ? work() : work;
  let timer: NodeJS.Timeout | undefined;
  let grace: NodeJS.Immediate | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      grace = setImmediate(() => {
        onTimeout?.();
        reject(new TimeoutError(label, ms));
      });
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    if (grace) clearImmediate(grace);
    // The losing promise may still reject later; observe it so it is never an unhandled rejection.
    promise.catch(() => undefined);
  }
}

/** Milliseconds elapsed since `start` (a `performance.now()` reading), rounded to 0.1 ms. */
export function elapsedMs(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}
