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
   * function that gives the slot back (when creating the session failed).
   */
  reserve(tenant: string, user: string): () => void;
  /** The user's sessions were erased. */
  forget(tenant: string, user: string): void;
  /** Sessions counted for `user`. */
  count(tenant: string, user: string): number;
}

/** Options of {@link createSessionQuota}. */
export interface SessionQuotaOptions {
  /** Sessions one user may hold. Required, a positive integer. */
  readonly maxSessionsPerUser: number;
  /** The owners of every stored session, read once on first use. */
  readonly owners: () => Iterable<{ readonly tenant: string; readonly user: string }>;
}

/**
 * Creates the quota.
 *
 * @example
 * ```ts
 * const quota = createSessionQuota({ maxSessionsPerUser: 100, owners: () => store.listSessions({ limit: Infinity }).map((s) => s.record) });
 * const release = quota.reserve('acme', 'u-1'); // throws budget_exceeded past 100
 * ```
 */
export function createSessionQuota(options: SessionQuotaOptions): SessionQuota {
  const max = options?.maxSessionsPerUser;
  if (!Number.isSafeInteger(max) || max < 1) throw new TypeError('maxSessionsPerUser must be a positive integer');
  if (typeof options.owners !== 'function') throw new TypeError('owners must be a function');
  let counts: Map<string, number> | undefined;
  const keyOf = (tenant: string, user: string): string => `${tenant}\u0000${user}`;
  const all = (): Map<string, number> => {
    if (counts) return counts;
    const built = new Map<string, number>();
    for (const { tenant, user } of options.owners()) {
      const key = keyOf(tenant, user);
      built.set(key, (built.get(key) ?? 0) + 1);
    }
    counts = built;
    return built;
  };
  return Object.freeze({
    reserve(tenant: string, user: string) {
      const map = all();
      const key = keyOf(tenant, user);
      const used = map.get(key) ?? 0;
      if (used >= max) {
        throw new KeelError('budget_exceeded', `at most ${max} sessions per user: resume one of them (hello with its sessionId)`, {
          details: { rule: 'sessions_per_user', limit: max },
        });
      }
      map.set(key, used + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        const left = (map.get(key) ?? 1) - 1;
        if (left <= 0) map.delete(key);
        else map.set(key, left);
      };
    },
    forget(tenant: string, user: string) {
      all().delete(keyOf(tenant, user));
    },
    count: (tenant: string, user: string) => all().get(keyOf(tenant, user)) ?? 0,
  });
}
