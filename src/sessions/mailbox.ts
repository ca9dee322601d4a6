import { KeelError } from '../errors.js';

/**
 * A bounded, serial task queue: one task at a time, in arrival order. A session's events go
 * through its mailbox so no two turns of one session ever interleave, while different sessions'
 * mailboxes run concurrently.
 */
export interface Mailbox {
  /** Queues `task`; rejects with `queue_full` when `capacity` tasks are already waiting. */
  run<T>(task: () => Promise<T>): Promise<T>;
  /** Queues a task that bypasses the capacity limit (internal work: timers, recovery). */
  runInternal<T>(task: () => Promise<T>): Promise<T>;
  /** Tasks waiting or running. */
  readonly size: number;
  /** Resolves when nothing is waiting or running. */
  idle(): Promise<void>;
}

/**
 * Creates a mailbox holding at most `capacity` waiting tasks.
 *
 * @example
 * ```ts
 * const box = createMailbox(64);
 * await box.run(async () => turn());
 * ```
 */
export function createMailbox(capacity: number): Mailbox {
  let tail: Promise<unknown> = Promise.resolve();
  let size = 0;
  let idleWaiters: Array<() => void> = [];
  const enqueue = <T>(task: () => Promise<T>): Promise<T> => {
    size++;
    const result = tail.then(task);
    tail = result.then(
      () => undefined,
      () => undefined,
    ).finally(() => {
      size--;
      if (size === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const wake of waiters) wake();
      }
    });
    return result;
  };
  return {
    run(task) {
      if (size >= capacity + 1) {
        return Promise.reject(new KeelError('queue_full', `session queue is full (${capacity} events waiting)`));
      }
      return enqueue(task);
    },
    runInternal: enqueue,
    get size() {
      return size;
    },
    idle() {
      return size === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
    },
  };
}
