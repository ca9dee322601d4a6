/**
 * Counts the LLM tokens each session has used, for the per-session token budget (OWASP LLM10
 * unbounded consumption): once a session has spent its budget, the agent stops calling the model
 * and answers from its grounded drafts. Counts are kept in a key-value store (the runtime passes
 * its LMDB `meta` database) so passivation and restarts do not reset them.
 */
import { isValidId } from '../types.js';

/** Where counts are kept: synchronous reads, writes that may complete later (an lmdb-js database fits). */
export interface TokenCountStore {
  get(key: [string, string]): unknown;
  put(key: [string, string], value: number): unknown;
  remove(key: [string, string]): unknown;
}

/** The meter the LLM path reads before each model call and adds to after it. */
export interface SessionTokenMeter {
  /** Tokens (prompt + completion) the session has used so far; 0 for an unknown session. */
  used(session: string): number;
  /** Adds the usage of one model call. Negative, fractional or absurd numbers are ignored. */
  add(session: string, tokens: number): void;
  /** Drops a session's count (the session was erased). */
  forget(session: string): void;
}

/** Options of {@link createSessionTokenMeter}. */
export interface SessionTokenMeterOptions {
  /** Durable store; default none (counts live in memory only). */
  readonly store?: TokenCountStore;
  /** Counts cached in memory at most. Default 10 000 (older ones are read back from the store). */
  readonly maxCachedSessions?: number;
  /** Told when a write to the store fails; the count in memory still holds. Default: ignored. */
  readonly onError?: (err: unknown) => void;
}

/** The key prefix under which counts live in the store. */
export const TOKEN_COUNT_PREFIX = 'llm-tokens';

/** One model call cannot plausibly use more than this; larger usage numbers are a hostile or broken endpoint. */
const MAX_TOKENS_PER_CALL = 10_000_000;

/**
 * Creates a meter.
 *
 * @example
 * ```ts
 * const meter = createSessionTokenMeter({ store: env.db('meta') });
 * if (meter.used(session) >= 100_000) return draft; // budget spent: no model call
 * meter.add(session, response.usage.promptTokens + response.usage.completionTokens);
 * ```
 */
export function createSessionTokenMeter(options: SessionTokenMeterOptions = {}): SessionTokenMeter {
  const { store, onError } = options;
  const maxCached = options.maxCachedSessions ?? 10_000;
  if (!Number.isSafeInteger(maxCached) || maxCached < 1) throw new TypeError('maxCachedSessions must be a positive integer');
  if (store !== undefined && (typeof store.get !== 'function' || typeof store.put !== 'function' || typeof store.remove !== 'function')) {
    throw new TypeError('store must implement get, put and remove');
  }
  // Insertion order makes the Map an LRU: a touched entry is re-inserted at the end.
  const cache = new Map<string, number>();
  const keyOf = (session: string): [string, string] => [TOKEN_COUNT_PREFIX, session];

  const observe = (write: unknown): void => {
    if (write && typeof (write as Promise<unknown>).then === 'function') {
      (write as Promise<unknown>).then(undefined, (err: unknown) => onError?.(err));
    }
  };

  const read = (session: string): number => {
    const cached = cache.get(session);
    if (cached !== undefined) return cached;
    const stored = store?.get(keyOf(session));
    return typeof stored === 'number' && Number.isFinite(stored) && stored >= 0 ? stored : 0;
  };

  const remember = (session: string, value: number): void => {
    cache.delete(session);
    cache.set(session, value);
    if (cache.size > maxCached) cache.delete(cache.keys().next().value as string);
  };

  return Object.freeze({
    used: (session: string) => (isValidId(session) ? read(session) : 0),
    add(session: string, tokens: number) {
      if (!isValidId(session) || !Number.isSafeInteger(tokens) || tokens <= 0 || tokens > MAX_TOKENS_PER_CALL) return;
      const next = read(session) + tokens;
      remember(session, next);
      if (store) {
        try {
          observe(store.put(keyOf(session), next));
        } catch (err) {
          onError?.(err);
        }
      }
    },
    forget(session: string) {
      cache.delete(session);
      if (store && isValidId(session)) {
        try {
          observe(store.remove(keyOf(session)));
        } catch (err) {
          onError?.(err);
        }
      }
    },
  });
}
