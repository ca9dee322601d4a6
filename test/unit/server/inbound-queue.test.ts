import { describe, expect, it } from 'vitest';
import { createInboundQueue, defaultInboundQueueOptions } from '../../../src/server/inbound-queue.js';

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

function socket() {
  const s = { paused: false, pauses: 0, pause: () => ((s.paused = true), s.pauses++), resume: () => (s.paused = false) };
  return s;
}

describe('inbound queue', () => {
  it('handles frames in arrival order, a slice at a time, with the event loop free between slices', async () => {
    let t = 0;
    const queue = createInboundQueue({ sliceMs: 5, now: () => t });
    const handled: number[] = [];
    const ws = socket();
    // Each frame costs 2 ms of the fake clock: a slice of 5 ms handles three.
    for (let i = 0; i < 7; i++) queue.push(ws, () => (handled.push(i), (t += 2)));
    expect(handled).toEqual([]);
    await tick();
    expect(handled).toEqual([0, 1, 2]);
    let timerRan = false;
    setTimeout(() => (timerRan = true), 0);
    await new Promise((r) => setTimeout(r, 5));
    expect(timerRan).toBe(true);
    expect(handled).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(queue.size).toBe(0);
  });

  it('ends a slice after maxFramesPerSlice frames even when their handling takes no time, and runs their turns before the next slice', async () => {
    const queue = createInboundQueue({ sliceMs: 5, maxFramesPerSlice: 4, now: () => 0 });
    const events: string[] = [];
    const ws = socket();
    // Each frame, like a chat message, only starts its turn: the work runs in microtasks after it.
    for (let i = 0; i < 10; i++) queue.push(ws, () => void Promise.resolve().then(() => events.push(`turn ${i}`)));
    await tick();
    expect(events).toEqual(['turn 0', 'turn 1', 'turn 2', 'turn 3']);
    expect(queue.size).toBe(6);
    await tick();
    expect(events).toHaveLength(8);
    await tick();
    expect(events).toHaveLength(10);
    expect(defaultInboundQueueOptions.maxFramesPerSlice).toBe(32);
    const big = createInboundQueue({ now: () => 0 });
    let handled = 0;
    for (let i = 0; i < 100; i++) big.push(ws, () => void handled++);
    await tick();
    expect(handled).toBe(32);
    for (const bad of [0, -1, 1.5, Number.NaN]) expect(() => createInboundQueue({ maxFramesPerSlice: bad })).toThrow(/maxFramesPerSlice/);
  });

  it('pauses sockets that keep sending past the high-water mark and resumes them once drained', async () => {
    const queue = createInboundQueue({ highWater: 4, lowWater: 1 });
    const noisy = socket();
    const quiet = socket();
    quiet.paused = false;
    for (let i = 0; i < 6; i++) queue.push(noisy, () => undefined);
    expect(noisy.paused).toBe(true);
    expect(noisy.pauses).toBe(1);
    expect(quiet.paused).toBe(false);
    await tick();
    expect(queue.size).toBe(0);
    expect(noisy.paused).toBe(false);
  });

  it('pauses one socket with too many frames waiting, not the others, and resumes it at a quarter of its limit', async () => {
    let t = 0;
    const queue = createInboundQueue({ sliceMs: 5, perSocketHighWater: 8, now: () => t });
    const flooder = socket();
    const other = socket();
    const handled: string[] = [];
    for (let i = 0; i < 20; i++) queue.push(flooder, () => (handled.push(`f${i}`), (t += 1)));
    queue.push(other, () => (handled.push('o'), (t += 1)));
    expect(flooder.paused).toBe(true);
    expect(flooder.pauses).toBe(1);
    expect(other.paused).toBe(false);
    // Five frames a slice: after three slices 6 of its frames wait, more than 8 / 4.
    for (let slice = 0; slice < 3; slice++) await tick();
    expect(queue.size).toBe(6);
    expect(flooder.paused).toBe(true);
    await tick();
    expect(queue.size).toBe(1);
    expect(flooder.paused).toBe(false);
    while (queue.size > 0) await tick();
    expect(handled.at(-1)).toBe('o');
    expect(() => createInboundQueue({ perSocketHighWater: 0 })).toThrow(/perSocketHighWater/);
  });

  it('goes on after a handler throws, and reports it', async () => {
    const errors: unknown[] = [];
    const queue = createInboundQueue({ onError: (err) => errors.push(err) });
    const handled: string[] = [];
    const ws = socket();
    queue.push(ws, () => {
      throw new Error('bad frame handler');
    });
    queue.push(ws, () => handled.push('next'));
    await tick();
    expect(handled).toEqual(['next']);
    expect((errors[0] as Error).message).toBe('bad frame handler');
  });

  it('keeps arrival order across its ring growing and wrapping', async () => {
    const queue = createInboundQueue({ highWater: 100_000, lowWater: 0 });
    const handled: number[] = [];
    const ws = socket();
    for (let i = 0; i < 700; i++) queue.push(ws, () => handled.push(i));
    await tick();
    // The ring's head has moved; the next pushes wrap around it and then make it grow.
    for (let i = 700; i < 3700; i++) queue.push(ws, () => handled.push(i));
    while (queue.size > 0) await tick();
    expect(handled).toEqual(Array.from({ length: 3700 }, (_, i) => i));
  });

  it('validates its options', () => {
    expect(() => createInboundQueue({ sliceMs: 0 })).toThrow(/sliceMs/);
    expect(() => createInboundQueue({ highWater: 0 })).toThrow(/highWater/);
    expect(() => createInboundQueue({ highWater: 4, lowWater: 4 })).toThrow(/lowWater/);
  });
});
