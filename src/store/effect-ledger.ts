import type { EffectLedger } from '../ports.js';
import type { Json } from '../types.js';
import { observeWrite, translateLmdbError, type LmdbEnv } from './lmdb-env.js';

/**
 * Creates the effect ledger over the `effects` database: the outcome of a side effect is stored
 * under its idempotency key before the turn that caused it commits, so a turn re-run after a
 * crash finds the outcome and does not act twice. Concurrent calls with one key share one run.
 *
 * @example
 * ```ts
 * const ledger = createEffectLedger(env);
 * const refund = await ledger.once(`${turnKey}:refund`, () => payments.refund(order));
 * ```
 */
export function createEffectLedger(env: LmdbEnv): EffectLedger {
  const db = env.db('effects');
  const inFlight = new Map<string, Promise<unknown>>();
  return {
    once<T extends Json>(key: string, run: () => Promise<T>): Promise<T> {
      const stored = db.get(key) as { value: T } | undefined;
      if (stored) return Promise.resolve(stored.value);
      const running = inFlight.get(key);
      if (running) return running as Promise<T>;
      const p = (async () => {
        try {
          const value = await run();
          try {
            await observeWrite(db.put(key, { value }));
          } catch (err) {
            throw translateLmdbError(err);
          }
          return value;
        } finally {
          inFlight.delete(key);
        }
      })();
      inFlight.set(key, p);
      return p;
    },
  };
}
