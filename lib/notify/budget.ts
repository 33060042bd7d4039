import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * One invocation's notification deadline. A cron invocation delivers up to three times (the missed-run
 * alerts, the sweep of what earlier invocations left pending, and the run's own transitions), and health
 * may raise several missed runs after its answer; they share one `notifications.budgetMs`, so a hanging
 * channel costs an invocation that budget once, not once per delivery. Its own small module: the missed-run
 * path loads the delivery code only when there is a miss to tell.
 */
const invocation = new AsyncLocalStorage<{ until: number }>();

/** Run `fn` as one invocation (inside one already running, it shares that one's deadline). */
export function withNotificationBudget<T>(budgetMs: number, fn: () => Promise<T>): Promise<T> {
  return invocation.getStore() ? fn() : invocation.run({ until: performance.now() + budgetMs }, fn);
}

/** The running invocation's deadline (performance.now() time), if any. */
export function invocationDeadline(): number | undefined {
  return invocation.getStore()?.until;
}
