import type { Clock } from './ports.js';

/**
 * The system clock.
 *
 * @example
 * ```ts
 * createRuntime({ clock: systemClock });
 * ```
 */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number) => {
    const handle = setTimeout(fn, ms);
    handle.unref?.();
    return handle;
  },
  clearTimeout: (handle: unknown) => clearTimeout(handle as NodeJS.Timeout),
});

/** A clock that moves only when told to; for tests and simulations. */
export interface ManualClock extends Clock {
  /** Moves time forward, firing due timers in deadline order. */
  advance(ms: number): void;
  /** Number of timers waiting. */
  pending(): number;
}

/**
 * Creates a {@link ManualClock} starting at `startMs`.
 *
 * @example
 * ```ts
 * const clock = createManualClock(0);
 * clock.setTimeout(() => console.log('fired'), 1000);
 * clock.advance(1000); // fired
 * ```
 */
export function createManualClock(startMs = 0): ManualClock {
  let current = startMs;
  let nextId = 1;
  const timers = new Map<number, { at: number; fn: () => void }>();
  return {
    now: () => current,
    setTimeout(fn, ms) {
      const id = nextId++;
      timers.set(id, { at: current + Math.max(0, ms), fn });
      return id;
    },
    clearTimeout(handle) {
      timers.delete(handle as number);
    },
    advance(ms) {
      const target = current + ms;
      for (;;) {
        let dueId: number | undefined;
        let due: { at: number; fn: () => void } | undefined;
        for (const [id, timer] of timers) {
          if (timer.at <= target && (due === undefined || timer.at < due.at)) {
            dueId = id;
            due = timer;
          }
        }
        if (due === undefined || dueId === undefined) break;
        timers.delete(dueId);
        current = Math.max(current, due.at);
        due.fn();
      }
      current = target;
    },
    pending: () => timers.size,
  };
}

/**
 * A budget of real time for one pass of a loop on the event loop: `spent()` turns true once `ms`
 * have passed since the budget was made, so that long work goes in passes with the loop free
 * between them. Reading the time costs a little: with `every` > 1 it is read on every `every`-th
 * call only (for loops whose steps are cheap).
 *
 * @example
 * ```ts
 * const spent = passBudget(5, { every: 64 });
 * for (const item of items) { if (spent()) return later(); work(item); }
 * ```
 */
export function passBudget(ms: number, options: { readonly every?: number; readonly now?: () => number } = {}): () => boolean {
  const now = options.now ?? (() => performance.now());
  const every = options.every ?? 1;
  const until = now() + ms;
  let calls = 0;
  return () => ++calls % every === 0 && now() >= until;
}
