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
  return new SerialMailbox(capacity);
}

const noop = (): undefined => undefined;

// A class, not a closure per method: every live session has a mailbox, and per-instance closures
// cost a few hundred bytes each time.
class SerialMailbox implements Mailbox {
  #tail: Promise<unknown> = Promise.resolve();
  #size = 0;
  #idleWaiters: Array<() => void> | undefined;
  readonly #capacity: number;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#size;
  }

  run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#size >= this.#capacity + 1) {
      return Promise.reject(new KeelError('queue_full', `session queue is full (${this.#capacity} events waiting)`));
    }
    return this.runInternal(task);
  }

  runInternal<T>(task: () => Promise<T>): Promise<T> {
    this.#size++;
    const result = this.#tail.then(task);
    // The chain keeps no result alive: a finished turn's outcome must not stay in memory.
    this.#tail = result.then(noop, noop).finally(() => this.#settled());
    return result;
  }

  idle(): Promise<void> {
    if (this.#size === 0) return Promise.resolve();
    return new Promise((resolve) => (this.#idleWaiters ??= []).push(resolve));
  }

  #settled(): void {
    this.#size--;
    if (this.#size === 0 && this.#idleWaiters) {
      const waiters = this.#idleWaiters;
      this.#idleWaiters = undefined;
      for (const wake of waiters) wake();
    }
  }
}
