/**
 * Alert rules on a manual clock: a rate rule fires only with enough turns and at its threshold,
 * holds while above its clearing bound, resolves below it, and forgets turns that leave the
 * window even without traffic; a latency rule watches a quantile; each change is an `alert`
 * event, a log line and a callback.
 */
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/clock.js';
import { createAlertEngine, resolveAlertRules, type AlertRule } from '../../../src/observe/alerts.js';
import type { DecisionEvent, DecisionKind } from '../../../src/ports.js';
import type { SessionId } from '../../../src/types.js';
import { tenantId, userId } from '../../../src/types.js';

let seq = 0;
const turn = (kinds: DecisionKind[], data: DecisionEvent['data'] = {}): DecisionEvent[] => {
  const traceId = `s-1:${++seq}`;
  return kinds.map((kind) => ({ kind, reason: kind, data, time: 0, tenant: tenantId('acme'), session: 's-1' as SessionId, user: userId('u'), traceId }));
};

const rate: AlertRule = { name: 'fallback_rate', type: 'rate', kinds: ['fallback'], threshold: 0.5, clearBelow: 0.25, windowMs: 60_000, minSamples: 4 };

describe('alert rules', () => {
  it('fires a rate rule at its threshold with enough turns, holds it, and resolves it below the clearing bound', () => {
    const clock = createManualClock(1_000_000);
    const emitted: DecisionEvent[] = [];
    const lines: string[] = [];
    const changes: Array<[string, boolean]> = [];
    const engine = createAlertEngine({
      clock, rules: [rate], sink: { emit: (e) => emitted.push(e) },
      logger: { warn: (_o, msg) => lines.push(`warn ${msg}`), info: (_o, msg) => lines.push(`info ${msg}`) },
      onAlert: (a, firing) => changes.push([a.rule, firing]),
    });
    const feed = (kinds: DecisionKind[]) => turn(kinds).forEach((e) => engine.observe(e));
    feed(['route', 'fallback', 'reply']);
    feed(['route', 'fallback', 'reply']);
    feed(['route', 'fallback', 'reply']);
    // 100 % of three turns, but the rule needs four.
    expect(engine.active()).toEqual([]);
    feed(['route', 'reply']);
    expect(engine.active()).toMatchObject([{ rule: 'fallback_rate', value: 0.75, threshold: 0.5, samples: 4 }]);
    // 3/6 = 50 %, still above the clearing bound: no flapping.
    feed(['route', 'reply']);
    feed(['route', 'reply']);
    expect(engine.active()).toHaveLength(1);
    for (let i = 0; i < 7; i++) feed(['route', 'reply']);
    // 3/13 < 25 %: resolved.
    expect(engine.active()).toEqual([]);
    expect(changes).toEqual([['fallback_rate', true], ['fallback_rate', false]]);
    expect(emitted.map((e) => [e.kind, e.reason, e.data.status])).toEqual([['alert', 'fallback_rate firing', 'firing'], ['alert', 'fallback_rate resolved', 'resolved']]);
    expect(emitted[0]).toMatchObject({ tenant: 'keel', session: 'keel:alerts' });
    expect(lines).toEqual(['warn alert fallback_rate firing', 'info alert fallback_rate resolved']);
    engine.close();
  });

  it('forgets turns that leave the window, evaluating on its timer without traffic', () => {
    const clock = createManualClock(0);
    const engine = createAlertEngine({ clock, rules: [rate], evaluateEveryMs: 5_000 });
    for (let i = 0; i < 4; i++) turn(['route', 'fallback']).forEach((e) => engine.observe(e));
    expect(engine.active()).toHaveLength(1);
    clock.advance(30_000);
    expect(engine.active()).toHaveLength(1);
    clock.advance(40_000);
    expect(engine.active()).toEqual([]);
    engine.close();
    expect(clock.pending()).toBe(0);
  });

  it('keeps the newest maxSamples turns, and an engine full of them still costs little per event', () => {
    const clock = createManualClock(0);
    const engine = createAlertEngine({ clock, rules: [rate], maxSamples: 100 });
    const feed = (kinds: DecisionKind[]) => turn(kinds).forEach((e) => engine.observe(e));
    // 100 fallbacks fire the rule; 100 clean turns after them push every fallback out of the window.
    for (let i = 0; i < 100; i++) feed(['route', 'fallback']);
    expect(engine.active()).toMatchObject([{ rule: 'fallback_rate', value: 1, samples: 100 }]);
    for (let i = 0; i < 74; i++) feed(['route', 'reply']);
    // 26 of the newest 100 are fallbacks: above the clearing bound (25 %), still firing.
    expect(engine.active()).toMatchObject([{ value: 0.26, samples: 100 }]);
    feed(['route', 'reply']);
    expect(engine.active()).toMatchObject([{ value: 0.25, samples: 100 }]);
    feed(['route', 'reply']);
    expect(engine.active()).toEqual([]);
    engine.close();

    // Full at the default 10,000 samples per rule, 60,000 more events take tens of ms. (Walking
    // the window's map from its start, over the entries it had deleted, took about a second.)
    const big = createAlertEngine({ clock });
    for (let i = 0; i < 20_000; i++) turn(['route', 'reply'], { latencyMs: 5 }).forEach((e) => big.observe(e));
    const started = performance.now();
    for (let i = 0; i < 30_000; i++) turn(['route', 'reply'], { latencyMs: 5 }).forEach((e) => big.observe(e));
    expect(performance.now() - started).toBeLessThan(400);
    big.close();
  });

  it('watches a latency quantile, and ignores timer steps, alerts and inspection', () => {
    const clock = createManualClock(0);
    const engine = createAlertEngine({
      clock,
      rules: [
        { name: 'turn_latency_p95', type: 'latency', quantile: 0.95, thresholdMs: 1000, windowMs: 60_000, minSamples: 5 },
        { name: 'error_rate', type: 'rate', kinds: ['error'], threshold: 0.5, windowMs: 60_000, minSamples: 2 },
      ],
    });
    for (const ms of [100, 120, 90, 110]) turn(['reply'], { latencyMs: ms }).forEach((e) => engine.observe(e));
    engine.observeTurn(2.5);
    expect(engine.active().map((a) => a.rule)).toEqual([]);
    engine.evaluate();
    expect(engine.active()).toMatchObject([{ rule: 'turn_latency_p95', type: 'latency', value: 2500 }]);
    for (const e of turn(['error'])) engine.observe({ ...e, traceId: 's-1:timer' });
    for (const e of turn(['alert', 'inspect', 'session'])) engine.observe(e);
    expect(engine.active().map((a) => a.rule)).toEqual(['turn_latency_p95']);
    engine.close();
  });

  it('names the bad option of a rule', () => {
    expect(() => resolveAlertRules([{ ...rate, name: 'Bad Name' }])).toThrow(/rules\[0\]\.name/);
    expect(() => resolveAlertRules([rate, rate])).toThrow(/repeats/);
    expect(() => resolveAlertRules([{ ...rate, threshold: 2 }])).toThrow(/threshold/);
    expect(() => resolveAlertRules([{ ...rate, kinds: ['nope' as DecisionKind] }])).toThrow(/kinds/);
    expect(() => resolveAlertRules([{ ...rate, clearBelow: 0.9 }])).toThrow(/clearBelow/);
    expect(() => resolveAlertRules([{ name: 'lat', type: 'latency', thresholdMs: 0, windowMs: 1, minSamples: 1 }])).toThrow(/thresholdMs/);
    expect(resolveAlertRules([{ name: 'lat', type: 'latency', thresholdMs: 100, windowMs: 1, minSamples: 1 }])[0]).toMatchObject({ kinds: ['reply'], quantile: 0.95, clearBelowMs: 80 });
  });
});
