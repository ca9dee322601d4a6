/**
 * Counts macrotasks: `now()` tells which macrotask the caller runs in (one `setImmediate` step per
 * event-loop turn), so a test can see how many callers went on in the same one.
 */
export function macrotaskTicker(): { readonly now: () => number; readonly stop: () => void } {
  let tick = 0;
  let on = true;
  const step = (): void => {
    tick++;
    if (on) setImmediate(step);
  };
  setImmediate(step);
  return { now: () => tick, stop: () => void (on = false) };
}
