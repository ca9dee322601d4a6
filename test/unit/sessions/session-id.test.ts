import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/clock.js';
import { createRuntime, silentLogger, tenantId, userId, type Runtime } from '../../../src/index.js';
import { newSessionId } from '../../../src/sessions/session-id.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const timeOf = (id: string): number => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

describe('newSessionId', () => {
  it('is a version 7 UUID carrying its creation time in its first 48 bits', () => {
    const t = Date.UTC(2026, 10, 30, 12, 0, 0, 123);
    const id = newSessionId(t);
    expect(id).toMatch(V7);
    expect(timeOf(id)).toBe(t);
  });

  it('sorts by creation time, and ids of one millisecond still differ', () => {
    const ids = [5, 1_000, 1_001, 2 ** 40, 2 ** 47 + 3].map((t) => newSessionId(t));
    expect([...ids].sort()).toEqual(ids);
    const same = new Set(Array.from({ length: 2_000 }, () => newSessionId(42)));
    expect(same.size).toBe(2_000);
    // 74 random bits: every random position takes both values over 2,000 ids.
    const bits = (id: string) => BigInt(`0x${id.replace(/-/g, '')}`);
    let or = 0n;
    let and = (1n << 128n) - 1n;
    for (const id of same) {
      or |= bits(id);
      and &= bits(id);
    }
    const randomMask = ((1n << 80n) - 1n) & ~(0xfn << 76n) & ~(0x3n << 62n);
    expect(or & randomMask).toBe(randomMask);
    expect(and & randomMask).toBe(0n);
  });

  it('clamps times outside what 48 bits hold', () => {
    expect(timeOf(newSessionId(-5))).toBe(0);
    expect(timeOf(newSessionId(2 ** 50))).toBe(2 ** 48 - 1);
    expect(timeOf(newSessionId(7.9))).toBe(7);
  });
});

describe('runtime.open without an id', () => {
  let runtime: Runtime | undefined;
  let remove: (() => void) | undefined;
  afterEach(async () => {
    await runtime?.close();
    remove?.();
  });

  it("names new sessions with time-ordered ids from the runtime's clock", async () => {
    const temp = tempDir('keel-sid-');
    remove = temp.remove;
    const clock = createManualClock(Date.UTC(2026, 0, 1));
    runtime = createRuntime({ dataDir: temp.dir, machine: createTestMachine(), logger: silentLogger, clock });
    const opened: string[] = [];
    for (let i = 0; i < 3; i++) {
      opened.push((await runtime.open({ tenant: tenantId('t'), user: userId(`u${i}`) })).sessionId);
      clock.advance(1_000);
    }
    for (const [i, id] of opened.entries()) {
      expect(id).toMatch(V7);
      expect(timeOf(id)).toBe(Date.UTC(2026, 0, 1) + i * 1_000);
    }
    expect([...opened].sort()).toEqual(opened);
    // A caller's own id is kept as given.
    expect((await runtime.open({ tenant: tenantId('t'), user: userId('u9'), sessionId: 'my-own-id' })).sessionId).toBe('my-own-id');
  });
});
