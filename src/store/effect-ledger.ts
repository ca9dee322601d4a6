import type { EffectLedger, Sealer } from '../ports.js';
import type { Json, TenantId } from '../types.js';
import { observeWrite, translateLmdbError, type LmdbEnv } from './lmdb-env.js';

/** Encryption at rest of recorded outcomes (tool results carry orders, addresses, amounts). */
export interface EffectSealing {
  readonly sealer: Sealer;
  /** The tenant an idempotency key belongs to; `undefined` stores that outcome unsealed. */
  readonly tenantOf: (key: string) => TenantId | undefined;
}

/** The ledger with what the runtime needs besides the port. */
export interface EffectLedgerStore extends EffectLedger {
  /** Removes every outcome whose key starts with `prefix` (a session's `<sessionId>:`), for erasure. */
  forget(prefix: string): Promise<number>;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

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
export function createEffectLedger(env: LmdbEnv, sealing?: EffectSealing): EffectLedgerStore {
  const db = env.db('effects');
  const inFlight = new Map<string, Promise<unknown>>();
  const encode = (key: string, value: Json): { value: Json } | { tenant: TenantId; sealed: Uint8Array } => {
    const tenant = sealing?.tenantOf(key);
    if (!sealing || tenant === undefined) return { value };
    return { tenant, sealed: sealing.sealer.seal(tenant, encoder.encode(JSON.stringify(value))) };
  };
  const decode = (stored: { value?: Json; tenant?: TenantId; sealed?: Uint8Array }): Json =>
    stored.sealed !== undefined && sealing
      ? (JSON.parse(decoder.decode(sealing.sealer.open(stored.tenant as TenantId, stored.sealed))) as Json)
      : (stored.value as Json);
  return {
    async forget(prefix: string): Promise<number> {
      const writes: Promise<unknown>[] = [];
      for (const key of db.getKeys({ start: prefix, end: `${prefix}\uffff` })) writes.push(observeWrite(db.remove(key)));
      await Promise.all(writes);
      return writes.length;
    },
    once<T extends Json>(key: string, run: () => Promise<T>): Promise<T> {
      const stored = db.get(key) as { value?: T; tenant?: TenantId; sealed?: Uint8Array } | undefined;
      if (stored) {
        try {
          return Promise.resolve(decode(stored) as T);
        } catch (err) {
          return Promise.reject(err);
        }
      }
      const running = inFlight.get(key);
      if (running) return running as Promise<T>;
      const p = (async () => {
        try {
          const value = await run();
          try {
            await observeWrite(db.put(key, encode(key, value)));
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
