/**
 * Token buckets: a steady rate with a burst allowance, refilled from an injected clock so tests
 * move time by hand instead of sleeping.
 */
import type { Clock } from '../ports.js';

/** Options of a token bucket. */
export interface TokenBucketOptions {
  /** Tokens added per second. */
  readonly ratePerSecond: number;
  /** Bucket size: how many takes may happen back to back after a quiet period. */
  readonly burst: number;
  readonly clock: Clock;
}

/** One bucket. */
export interface TokenBucket {
  /** Takes one token; false when none is left (nothing is taken then). */
  take(): boolean;
}

/** A bucket per key (a user), bounded in how many keys it remembers. */
export interface KeyedRateLimiter {
  /** Takes one token from `key`'s bucket; false when it is empty. */
  take(key: string): boolean;
  /** Keys currently remembered. */
  readonly size: number;
}

interface BucketState {
  tokens: number;
  at: number;
}

function validate(options: TokenBucketOptions): void {
  if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) throw new TypeError('ratePerSecond must be a positive number');
  if (!Number.isInteger(options.burst) || options.burst < 1) throw new TypeError('burst must be an integer >= 1');
}

function refill(state: BucketState, options: TokenBucketOptions, now: number): void {
  // A clock going backwards (manual clocks in tests, NTP steps) must not mint or burn tokens.
  const elapsed = Math.max(0, now - state.at);
  state.tokens = Math.min(options.burst, state.tokens + (elapsed * options.ratePerSecond) / 1000);
  state.at = now;
}

/**
 * Creates a token bucket, full at first.
 *
 * @example
 * ```ts
 * const bucket = createTokenBucket({ ratePerSecond: 5, burst: 10, clock: systemClock });
 * if (!bucket.take()) send(errorFrame('rate_limited', 'slow down'));
 * ```
 */
export function createTokenBucket(options: TokenBucketOptions): TokenBucket {
  validate(options);
  const state: BucketState = { tokens: options.burst, at: options.clock.now() };
  return {
    take() {
      refill(state, options, options.clock.now());
      if (state.tokens < 1) return false;
      state.tokens -= 1;
      return true;
    },
  };
}

/**
 * Creates a bucket per key. Beyond `maxKeys`, buckets that have refilled completely are forgotten
 * first (forgetting a full bucket changes nothing), then the oldest.
 *
 * @example
 * ```ts
 * const perUser = createKeyedRateLimiter({ ratePerSecond: 10, burst: 20, clock: systemClock });
 * perUser.take('acme/u-42');
 * ```
 */
export function createKeyedRateLimiter(options: TokenBucketOptions & { readonly maxKeys?: number }): KeyedRateLimiter {
  validate(options);
  const maxKeys = options.maxKeys ?? 100_000;
  if (!Number.isInteger(maxKeys) || maxKeys < 1) throw new TypeError('maxKeys must be an integer >= 1');
  const buckets = new Map<string, BucketState>();

  const prune = (now: number): void => {
    for (const [key, state] of buckets) {
      refill(state, options, now);
      if (state.tokens >= options.burst) buckets.delete(key);
    }
    for (const key of buckets.keys()) {
      if (buckets.size <= maxKeys * 0.9) break;
      buckets.delete(key);
    }
  };

  return {
    take(key) {
      const now = options.clock.now();
      let state = buckets.get(key);
      if (!state) {
        if (buckets.size >= maxKeys) prune(now);
        state = { tokens: options.burst, at: now };
        buckets.set(key, state);
      }
      refill(state, options, now);
      if (state.tokens < 1) return false;
      state.tokens -= 1;
      return true;
    },
    get size() {
      return buckets.size;
    },
  };
}
