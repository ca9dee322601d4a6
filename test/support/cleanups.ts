import { afterEach } from 'vitest';

/** Registers cleanups to run after the current test. */
export type Defer = (...cleanups: Array<() => Promise<void> | void>) => void;

/**
 * Runs what each test deferred once it ends, last deferred first (a server stops before its
 * directory is removed), even when the test failed. Call once, at the top of a test file or of a
 * `describe`.
 *
 * @example
 * ```ts
 * const defer = useCleanups();
 * it('...', async () => {
 *   const t = tempDir();
 *   defer(t.remove);
 * });
 * ```
 */
export function useCleanups(): Defer {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });
  return (...fns) => void cleanups.push(...fns);
}
