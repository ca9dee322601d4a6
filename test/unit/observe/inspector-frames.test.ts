/** What the inspector page may send, field by field, and the bounded queue of one page. */
import { describe, expect, it } from 'vitest';
import { createFrameQueue } from '../../../inspector/frame-queue.js';
import { parseInspectorFrame } from '../../../inspector/inspector-frames.js';
import { resolveInspectorOptions } from '../../../inspector/inspector-options.js';

describe('inspector frames', () => {
  const parse = (frame: unknown) => parseInspectorFrame(typeof frame === 'string' ? frame : JSON.stringify(frame), 100);

  it('accepts well-formed requests', () => {
    expect(parse({ type: 'watch', sessionId: 's-1' })).toEqual({ type: 'watch', sessionId: 's-1' });
    expect(parse({ type: 'watch', sessionId: null })).toEqual({ type: 'watch', sessionId: null });
    expect(parse({ type: 'query', id: 'q1', since: 0, until: 10, user: 'alice', kinds: ['route', 'fallback'], limit: 5 }))
      .toEqual({ type: 'query', id: 'q1', since: 0, until: 10, user: 'alice', kinds: ['route', 'fallback'], limit: 5 });
    expect(parse({ type: 'report', id: 'r1', since: 5 })).toEqual({ type: 'report', id: 'r1', since: 5 });
    expect(parse({ type: 'signal', id: 's1', sessionId: 's-1', event: { type: 'operator.handoff', reason: 'vip', extra: 'dropped' } }))
      .toEqual({ type: 'signal', id: 's1', sessionId: 's-1', event: { type: 'operator.handoff', reason: 'vip' } });
    expect(parse({ type: 'signal', id: 's2', sessionId: 's-1', event: { type: 'operator.release' } })).toMatchObject({ event: { type: 'operator.release' } });
  });

  it('names what is wrong, with the request id when there is one', () => {
    expect(parse('not json')).toEqual({ error: 'frames are JSON objects' });
    expect(parse([1])).toEqual({ error: 'frames are JSON objects' });
    expect(parse({ type: 'watch', sessionId: '../etc' })).toMatchObject({ error: expect.stringContaining('sessionId') });
    expect(parse({ type: 'query', since: 0 })).toMatchObject({ error: expect.stringContaining('id') });
    expect(parse({ type: 'query', id: 'q', since: 10, until: 5 })).toEqual({ id: 'q', error: expect.stringContaining('until') });
    expect(parse({ type: 'query', id: 'q', since: 0, kinds: ['nope'] })).toMatchObject({ id: 'q', error: expect.stringContaining('kinds') });
    expect(parse({ type: 'signal', id: 's', sessionId: 's-1', event: { type: 'handoff.accepted' } })).toMatchObject({ error: expect.stringContaining('event.type') });
    expect(parse({ type: 'signal', id: 's', sessionId: 's-1', event: { type: 'operator.say', text: ' ' } })).toMatchObject({ error: expect.stringContaining('text') });
    expect(parse({ type: 'signal', id: 's', sessionId: 's-1', event: { type: 'operator.say', text: 'x'.repeat(101) } })).toMatchObject({ error: expect.stringContaining('100') });
    expect(parse({ type: 'explode' })).toMatchObject({ error: expect.stringContaining('unknown frame type') });
    // A type whose `toString` is not a function cannot be converted to a string: it is named, not converted.
    expect(parse({ type: { toString: '' } })).toMatchObject({ error: 'unknown frame type "object"' });
  });

  it('resolves options and names the bad one', () => {
    expect(resolveInspectorOptions({ maxQueuedFrames: 10 }).healthWindowMs).toBe(300_000);
    expect(() => resolveInspectorOptions({ maxQueuedFrames: 0 })).toThrow(/maxQueuedFrames/);
    expect(() => resolveInspectorOptions({ clock: {} as never })).toThrow(/clock/);
  });
});

describe('frame queue of one page', () => {
  it('drops timeline frames first, coalesces keyed ones, and counts what it lost', () => {
    const q = createFrameQueue(3);
    expect(q.push('event', 'e1')).toBe(true);
    q.push('session', 's-1 v1', 'session:s-1');
    q.push('event', 'e2');
    // Full: a newer row of s-1 replaces the queued one in place.
    q.push('session', 's-1 v2', 'session:s-1');
    expect(q.coalescedTotal).toBe(1);
    // A keyed frame evicts the oldest timeline frame; a timeline frame is dropped.
    expect(q.push('health', 'h', 'health')).toBe(true);
    expect(q.push('event', 'e3')).toBe(false);
    expect(q.takeDropped()).toEqual({ event: 2 });
    expect(q.takeDropped()).toBeUndefined();
    expect([q.shift(), q.shift(), q.shift(), q.shift()]).toEqual(['s-1 v2', 'e2', 'h', undefined]);
    expect(q.droppedTotal).toBe(2);
    expect(() => createFrameQueue(0)).toThrow(/maxQueuedFrames/);
  });
});
