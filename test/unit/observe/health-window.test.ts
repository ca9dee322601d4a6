/** The inspector's health over a sliding window: turn rate, latency quantiles and rates of trouble. */
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/clock.js';
import { createHealthWindow } from '../../../src/observe/health-window.js';
import type { DecisionEvent, DecisionKind } from '../../../src/ports.js';
import type { SessionId } from '../../../src/types.js';
import { tenantId, userId } from '../../../src/types.js';

describe('health window', () => {
  it('counts turns, their latency and the share that fell back, escalated or failed', () => {
    const clock = createManualClock(0);
    const health = createHealthWindow({ clock, windowMs: 300_000 });
    let n = 0;
    const turn = (latencyMs: number, ...kinds: DecisionKind[]) => {
      const traceId = `s:${++n}`;
      for (const kind of [...kinds, 'reply' as const]) {
        const e: DecisionEvent = { kind, reason: kind, time: clock.now(), tenant: tenantId('a'), session: 's' as SessionId, user: userId('u'), traceId, data: kind === 'reply' ? { latencyMs } : {} };
        health.observe(e);
      }
      clock.advance(10_000);
    };
    turn(100, 'route');
    turn(200, 'route', 'fallback', 'retry', 'fallback');
    turn(300, 'escalate');
    turn(4000, 'error');
    const h = health.snapshot();
    expect(h).toMatchObject({ turns: 4, latencyP50Ms: 200, latencyP95Ms: 4000, fallbackRate: 0.25, escalationRate: 0.25, errorRate: 0.25 });
    // Four turns in 40 s count as four a minute, not six: the rate is over at least a minute.
    expect(h.turnsPerMinute).toBe(4);
    clock.advance(300_000);
    expect(health.snapshot()).toMatchObject({ turns: 0, latencyP95Ms: 0, fallbackRate: 0 });
    expect(() => createHealthWindow({ clock, windowMs: 0 })).toThrow(/windowMs/);
  });
});
