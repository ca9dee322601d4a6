/**
 * Paces the turns a commit answers. One flush answers every turn of its transaction at once; if
 * they all resumed in the same macrotask, all of their next writes would form one transaction that
 * starts only when every one of them is done: the LMDB write thread would idle while the event loop
 * works, then the event loop while the write thread commits. Resumed in slices, one per macrotask,
 * each slice's writes start committing while the event loop runs the next slice
 * (docs/benchmarks.md, runtime throughput).
 */

/** Turns resumed per macrotask. Slices of 8, 16, 32 and 64 measured alike (docs/benchmarks.md). */
export const RESUME_SLICE = 32;

/**
 * Creates a gate: `await gate()` resolves in FIFO order, at most `perTask` callers per macrotask.
 *
 * @example
 * ```ts
 * const resume = createResumeGate();
 * await env.flushed();
 * await resume(); // at most 32 turns go on in this macrotask
 * ```
 */
export function createResumeGate(perTask: number = RESUME_SLICE): () => Promise<void> {
  if (!Number.isInteger(perTask) || perTask < 1) throw new TypeError('perTask must be a positive integer');
  let queue: Array<() => void> = [];
  let head = 0;
  let scheduled = false;
  const drain = (): void => {
    const end = Math.min(queue.length, head + perTask);
    while (head < end) queue[head++]!();
    if (head < queue.length) {
      setImmediate(drain);
      return;
    }
    queue = [];
    head = 0;
    scheduled = false;
  };
  // The first `perTask` callers of a macrotask go on at once, with no hop: a commit that answers
  // few turns (heavy turns, light load) is not delayed.
  let goneOn = 0;
  let counting = false;
  const resetCount = (): void => {
    goneOn = 0;
    counting = false;
  };
  return () => {
    if (head === queue.length && goneOn < perTask) {
      goneOn++;
      if (!counting) {
        counting = true;
        setImmediate(resetCount);
      }
      return Promise.resolve();
    }
    return new Promise<void>((resolve) => {
      queue.push(resolve);
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
    });
  };
}
