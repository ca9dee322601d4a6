import { describe, expect, it } from 'vitest';
import type { HandoffInput } from '../../../machines/actor-contracts.js';
import { createLocalHandoffDesk, type DeskChange } from '../../../src/agent/local-handoff-desk.js';

const request = (session: string, tenant = 'acme'): HandoffInput => ({
  reason: 'user_asked', session, identity: { tenant, user: `u-${session}`, role: 'customer' },
  transcript: [{ role: 'user', text: 'a person please', at: 1 }], summary: { task: null }, key: `${session}:k`,
});

describe('local hand-off desk', () => {
  it('queues per tenant, with positions counted within the tenant', () => {
    let now = 100;
    const desk = createLocalHandoffDesk({ now: () => now });
    expect(desk.request(request('a'))).toEqual({ status: 'queued', position: 1 });
    now = 200;
    expect(desk.request(request('x', 'globex'))).toEqual({ status: 'queued', position: 1 });
    expect(desk.request(request('b'))).toEqual({ status: 'queued', position: 2 });
    expect(desk.queue('acme').map((q) => [q.session, q.queuedAt])).toEqual([['a', 100], ['b', 200]]);
    expect(desk.queue().map((q) => q.session)).toEqual(['a', 'x', 'b']);
  });

  it('takes, restores in place, and reports every change', () => {
    const desk = createLocalHandoffDesk({ now: (() => { let t = 0; return () => ++t; })() });
    const changes: DeskChange[] = [];
    desk.watch((c) => changes.push(c));
    desk.request(request('a'));
    desk.request(request('b'));
    const a = desk.take('a')!;
    expect(desk.take('a')).toBeUndefined();
    desk.restore(a);
    expect(desk.queue().map((q) => q.session)).toEqual(['a', 'b']);
    expect(changes.map((c) => `${c.kind}:${c.session}`)).toEqual(['queued:a', 'queued:b', 'removed:a', 'queued:a']);
  });

  it('once staff is required, queues a tenant only while one of its agents is on duty', () => {
    const desk = createLocalHandoffDesk();
    expect(desk.request(request('a')).status).toBe('queued');
    desk.requireStaff();
    expect(desk.request(request('b'))).toEqual({ status: 'unavailable', reason: 'no_agent_online' });
    const off = desk.onDuty('acme');
    expect(desk.request(request('c')).status).toBe('queued');
    expect(desk.request(request('y', 'globex'))).toEqual({ status: 'unavailable', reason: 'no_agent_online' });
    off();
    off();
    expect(desk.staffOf('acme')).toBe(0);
    expect(desk.request(request('d')).status).toBe('unavailable');
  });

  it('answers queue_full per tenant and validates its options', () => {
    const desk = createLocalHandoffDesk({ maxQueue: 1 });
    desk.request(request('a'));
    expect(desk.request(request('b'))).toEqual({ status: 'unavailable', reason: 'queue_full' });
    expect(desk.request(request('x', 'globex')).status).toBe('queued');
    // Asking again from the same session replaces its request rather than counting twice.
    expect(desk.request(request('a'))).toEqual({ status: 'queued', position: 1 });
    expect(() => createLocalHandoffDesk({ maxQueue: 0 })).toThrow(/maxQueue/);
  });

  it('a failing watcher does not fail the request', () => {
    const desk = createLocalHandoffDesk();
    desk.watch(() => {
      throw new Error('view broke');
    });
    expect(desk.request(request('a')).status).toBe('queued');
  });
});
