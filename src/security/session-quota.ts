/**
 * The number of sessions one user may hold (OWASP LLM10 unbounded consumption): every session
 * is durable state and, while live, an actor in memory, so a script that opens session after
 * session must be stopped by a count, not only by a rate. Counts are built from the stored
 * sessions on first use and kept up to date as sessions are created and erased.
 */
import { KeelError } from '../errors.js';

/** Counts sessions per tenant and user and refuses new ones over the limit. */
export interface SessionQuota {
  /**
   * Takes one slot for a new session of `user`, or throws KeelError `budget_exceeded`. Returns a
   * function that gives the slot back: call it once the session is stored (the stored count then
   * holds it) or when creating it failed.
   */
  reserve(tenant: string, user: string): () => void;
  /** Sessions counted for `user`: stored ones plus those being created. */
  count(tenant: string, user: string): number;
}

/** Options of {@link createSessionQuota}. */
export interface SessionQuotaOptions {
  /** Sessions one user may hold. Required, a positive integer. */
  readonly maxSessionsPerUser: number;
  /** How many sessions `user` has stored, counting up to `atMost` (an index read, not a scan). */
  readonly stored: (tenant: string, user: string, atMost: number) => number;
}

/**
 * Creates the quota. Stored sessions are counted from the store's owner index on every
 * reservation (at most `maxSessionsPerUser` keys are read), so nothing is scanned at start-up and
 * erasures need no bookkeeping; sessions being created are counted in memory until stored.
 *
 * @example
 * ```ts
 * const quota = createSessionQuota({ maxSessionsPerUser: 100, stored: (t, u, n) => store.countSessions(t, u, n) });
 * const release = quota.reserve('acme', 'u-1'); // throws budget_exceeded past 100
 * ```
 */
export function createSessionQuota(options: SessionQuotaOptions): SessionQuota {
  const max = options?.maxSessionsPerUser;
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('maxSessionsPerUser must be a positive integer');
  if (typeof options.stored !== 'function') throw new TypeError('stored must be a function');
  const creating = new Map<string, number>();
  const keyOf = (tenant: string, user: string): string => `${tenant}\u0000${user}`;
  const count = (tenant: string, user: string): number => options.stored(tenant, user, max + 1) + (creating.get(keyOf(tenant, user)) ?? 0);
  return Object.freeze({
    reserve(tenant: string, user: string) {
      if (count(tenant, user) >= max) {
        throw new KeelError('budget_exceeded', `at most ${max} sessions per user: resume one of them (hello with its sessionId)`, {
          details: { rule: 'sessions_per_user', limit: max },
        });
      }
      const key = keyOf(tenant, user);
      creating.set(key, (creating.get(key) ?? 0) + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (creating.get(key) ?? 1) - 1;
        if (left <= 0) creating.delete(key);
        else creating.set(key, left);
      };
    },
    count,
  });
}
