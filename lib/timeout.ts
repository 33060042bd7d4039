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
 */
export async function withTimeout<T>(work: Promise<T> | (() => Promise<T>), ms: number, label: string, onTimeout?: () => void): Promise<T> {
  const promise = typeof work === 'function' ? work() : work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new TimeoutError(label, ms));
    }, ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
    // The losing promise may still reject later; observe it so it is never an unhandled rejection.
    promise.catch(() => undefined);
  }
}

/** Milliseconds elapsed since `start` (a `performance.now()` reading), rounded to 0.1 ms. */
export function elapsedMs(start: number): number {
  return Math.round((performance.now() - start) * 10) / 10;
}
