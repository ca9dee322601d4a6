import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/index.js';
import { createKeyedRateLimiter, createTokenBucket } from '../../../src/server/rate-limiter.js';

describe('token bucket', () => {
  it('allows a burst, then the steady rate', () => {
    const clock = createManualClock(0);
    const bucket = createTokenBucket({ ratePerSecond: 2, burst: 3, clock });
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
    clock.advance(499);
    expect(bucket.take()).toBe(false);
    clock.advance(1);
    expect(bucket.take()).toBe(true);
    clock.advance(10_000);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([true, true, true, false]);
  });

  it('neither mints nor burns tokens when the clock goes backwards', () => {
    let now = 1000;
    const clock = { now: () => now, setTimeout: () => 0, clearTimeout: () => undefined };
    const bucket = createTokenBucket({ ratePerSecond: 1, burst: 1, clock });
    expect(bucket.take()).toBe(true);
    now = 0;
    expect(bucket.take()).toBe(false);
    now = 1000;
    expect(bucket.take()).toBe(true);
  });

  it('rejects bad options naming them', () => {
    const clock = createManualClock(0);
    expect(() => createTokenBucket({ ratePerSecond: 0, burst: 1, clock })).toThrow(/ratePerSecond/);
    expect(() => createTokenBucket({ ratePerSecond: 1, burst: 0.5, clock })).toThrow(/burst/);
  });
});

describe('keyed rate limiter', () => {
  it('keeps one bucket per key', () => {
    const clock = createManualClock(0);
    const limiter = createKeyedRateLimiter({ ratePerSecond: 1, burst: 1, clock });
    expect([limiter.take('a'), limiter.take('a'), limiter.take('b')]).toEqual([true, false, true]);
  });

  it('stays bounded, forgetting refilled buckets first', () => {
    const clock = createManualClock(0);
    const limiter = createKeyedRateLimiter({ ratePerSecond: 1, burst: 1, clock, maxKeys: 10 });
    for (let i = 0; i < 10; i++) limiter.take(`k${i}`);
    clock.advance(5000);
    limiter.take('hot');
    expect(limiter.size).toBeLessThanOrEqual(10);
    for (let i = 0; i < 100; i++) limiter.take(`more${i}`);
    expect(limiter.size).toBeLessThanOrEqual(10);
  });
});
