import { describe, expect, it } from 'vitest';
import { KeelError } from '../../../src/errors.js';
import { createSessionQuota } from '../../../src/security/session-quota.js';
import { createSessionTokenMeter, TOKEN_COUNT_PREFIX, type TokenCountStore } from '../../../src/security/session-token-meter.js';

/** A store like an lmdb-js database: synchronous reads, writes that complete later. */
function mapStore(): TokenCountStore & { data: Map<string, number>; failPuts: boolean } {
  const data = new Map<string, number>();
  const store = {
    data,
    failPuts: false,
    get: (key: [string, string]) => data.get(key.join('/')),
    put: (key: [string, string], value: number) => {
      if (store.failPuts) return Promise.reject(new Error('disk full'));
      data.set(key.join('/'), value);
      return Promise.resolve(true);
    },
    remove: (key: [string, string]) => Promise.resolve(data.delete(key.join('/'))),
  };
  return store;
}

describe('session token meter', () => {
  it('adds usage per session, keeps it in the store so a new meter (a restart) sees it, and forgets erased sessions', () => {
    const store = mapStore();
    const meter = createSessionTokenMeter({ store });
    meter.add('s-1', 300);
    meter.add('s-1', 200);
    meter.add('s-2', 7);
    expect(meter.used('s-1')).toBe(500);
    expect(store.data.get(`${TOKEN_COUNT_PREFIX}/s-1`)).toBe(500);
    const restarted = createSessionTokenMeter({ store });
    expect(restarted.used('s-1')).toBe(500);
    restarted.forget('s-1');
    expect(restarted.used('s-1')).toBe(0);
    expect(restarted.used('s-2')).toBe(7);
  });

  it('ignores hostile usage numbers and ids, and keeps counting in memory when the store fails', async () => {
    const store = mapStore();
    const errors: unknown[] = [];
    const meter = createSessionTokenMeter({ store, onError: (err) => errors.push(err) });
    for (const bad of [-5, 0, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 1e12]) meter.add('s-1', bad);
    meter.add('../etc', 10);
    expect(meter.used('s-1')).toBe(0);
    expect(meter.used('../etc')).toBe(0);
    store.failPuts = true;
    meter.add('s-1', 40);
    expect(meter.used('s-1')).toBe(40);
    await new Promise((resolve) => setImmediate(resolve));
    expect(errors).toHaveLength(1);
  });

  it('bounds its cache and reads older sessions back from the store', () => {
    const store = mapStore();
    const meter = createSessionTokenMeter({ store, maxCachedSessions: 2 });
    meter.add('a', 1);
    meter.add('b', 2);
    meter.add('c', 3);
    expect(meter.used('a')).toBe(1);
    expect(() => createSessionTokenMeter({ maxCachedSessions: 0 })).toThrow(/maxCachedSessions/);
  });
});

describe('session quota', () => {
  it('counts stored sessions from the index, refuses one over the limit with budget_exceeded, and counts sessions being created', () => {
    const stored = new Map<string, number>([['acme/alice', 1], ['globex/alice', 2]]);
    const reads: number[] = [];
    const quota = createSessionQuota({
      maxSessionsPerUser: 2,
      stored: (tenant, user, atMost) => {
        reads.push(atMost);
        return Math.min(atMost, stored.get(`${tenant}/${user}`) ?? 0);
      },
    });
    const release = quota.reserve('acme', 'alice');
    expect(quota.count('acme', 'alice')).toBe(2);
    let refused: unknown;
    try {
      quota.reserve('acme', 'alice');
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(KeelError);
    expect(refused).toMatchObject({ code: 'budget_exceeded', details: { rule: 'sessions_per_user', limit: 2 } });
    // Another tenant's user of the same id has their own count (already full here).
    expect(() => quota.reserve('globex', 'alice')).toThrow(/at most 2 sessions/);
    expect(() => quota.reserve('acme', 'bob')).not.toThrow();
    // The session is stored: the index counts it and the reservation is given back (twice is harmless).
    stored.set('acme/alice', 2);
    release();
    release();
    expect(quota.count('acme', 'alice')).toBe(2);
    // Erased sessions leave the index, and the count follows with no bookkeeping.
    stored.delete('globex/alice');
    expect(quota.count('globex', 'alice')).toBe(0);
    // Never more than the limit plus one index entries are read.
    expect(Math.max(...reads)).toBe(3);
  });

  it('validates its options', () => {
    expect(() => createSessionQuota({ maxSessionsPerUser: 0, stored: () => 0 })).toThrow(/maxSessionsPerUser/);
    expect(() => createSessionQuota({ maxSessionsPerUser: 1, stored: 'x' as never })).toThrow(/stored/);
  });
});
