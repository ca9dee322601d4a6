/** The resume gate: FIFO, at most `perTask` callers per macrotask. */
import { describe, expect, it } from 'vitest';
import { createResumeGate } from '../../../src/store/resume-gate.js';
import { macrotaskTicker } from '../../support/macrotask-ticker.js';

describe('createResumeGate', () => {
  it('resumes callers in order, at most perTask per macrotask', async () => {
    const gate = createResumeGate(4);
    const clock = macrotaskTicker();
    const order: number[] = [];
    const ticks: number[] = [];
    await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        await gate();
        order.push(i);
        ticks.push(clock.now());
      }),
    );
    clock.stop();
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const perTick = new Map<number, number>();
    for (const t of ticks) perTick.set(t, (perTick.get(t) ?? 0) + 1);
    expect([...perTick.values()]).toEqual([4, 4, 2]);
  });

  it('is ready again once drained, and refuses a slice that is not a positive integer', async () => {
    const gate = createResumeGate(2);
    await gate();
    await Promise.all([gate(), gate(), gate()]);
    await expect(gate()).resolves.toBeUndefined();
    expect(() => createResumeGate(0)).toThrow(TypeError);
    expect(() => createResumeGate(1.5)).toThrow(TypeError);
  });
});
