import { Counter, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { DecisionEvent, DecisionKind } from '../../../src/ports.js';
import { createMetrics, fallbackRung, resolveMetricsOptions } from '../../../src/observe/metrics.js';
import type { SessionId } from '../../../src/types.js';
import { tenantId, userId } from '../../../src/types.js';
import { parsePromText } from './prom-text.js';

const event = (kind: DecisionKind, reason: string, data: DecisionEvent['data'] = {}, session = 'sess-secret-1'): DecisionEvent => ({
  kind, reason, data, time: 0, tenant: tenantId('acme'), session: session as SessionId, user: userId('user-secret-1'), traceId: `${session}:1`, state: 'idle',
});

describe('metrics', () => {
  it('counts the decision stream into low-cardinality Prometheus series', async () => {
    const metrics = createMetrics({ processMetrics: false });
    metrics.observe(event('route', 'startTask', { chosen: 'refund' }));
    metrics.observe(event('tool', 'ok', { tool: 'lookup_order', latencyMs: 120 }));
    metrics.observe(event('retry', 'timeout', { tool: 'lookup_order' }));
    metrics.observe(event('retry', 'rate_limited', { provider: 'api.example/gpt' }));
    metrics.observe(event('fallback', 'timeout', { tool: 'lookup_order', next: 'alternative' }));
    metrics.observe(event('fallback', 'server_error', { from: 'api.example/gpt', to: 'local' }));
    metrics.observe(event('fallback', 'reprompt', { misses: 1 }));
    metrics.observe(event('escalate', 'user_asked', {}));
    metrics.observe(event('handoff', 'queued', { position: 2 }));
    metrics.observe(event('handoff', 'relayed_to_agent', { text: 'hello' }));
    metrics.observe(event('error', 'actor failed', { code: 'session_failed' }));
    metrics.observe(event('reply', 'drafted', { model: 'gpt-4o-mini', provider: 'openai', latencyMs: 800 }));
    metrics.observe(event('alert', 'fallback_rate firing', { rule: 'fallback_rate', status: 'firing' }));
    metrics.observe(event('alert', 'fallback_rate resolved', { rule: 'fallback_rate', status: 'resolved' }));
    metrics.observeTurn(0.2);
    metrics.observeTurn(0.3, 'failed');

    const text = await metrics.text();
    const p = parsePromText(text);
    expect(p.value('keel_turns_total', { outcome: 'ok' })).toBe(1);
    expect(p.value('keel_turns_total', { outcome: 'failed' })).toBe(1);
    expect(p.value('keel_turn_duration_seconds_count')).toBe(2);
    expect(p.value('keel_turn_duration_seconds_sum')).toBeCloseTo(0.5);
    expect(p.value('keel_routes_total', { verdict: 'startTask' })).toBe(1);
    expect(p.value('keel_tool_calls_total', { tool: 'lookup_order', outcome: 'ok' })).toBe(1);
    expect(p.value('keel_tool_call_duration_seconds_count', { tool: 'lookup_order' })).toBe(1);
    expect(p.value('keel_tool_call_duration_seconds_bucket', { tool: 'lookup_order', le: '0.25' })).toBe(1);
    expect(p.value('keel_tool_call_duration_seconds_bucket', { tool: 'lookup_order', le: '0.1' })).toBe(0);
    expect(p.value('keel_llm_request_duration_seconds_sum', { provider: 'openai' })).toBeCloseTo(0.8);
    expect(p.value('keel_retries_total', { source: 'tool' })).toBe(1);
    expect(p.value('keel_retries_total', { source: 'llm' })).toBe(1);
    expect(p.value('keel_fallbacks_total', { rung: 'alternative' })).toBe(1);
    expect(p.value('keel_fallbacks_total', { rung: 'next_provider' })).toBe(1);
    expect(p.value('keel_fallbacks_total', { rung: 'reprompt' })).toBe(1);
    expect(p.value('keel_escalations_total', { reason: 'user_asked' })).toBe(1);
    expect(p.value('keel_handoffs_total', { status: 'queued' })).toBe(1);
    expect(p.samples.some((s) => s.name === 'keel_handoffs_total' && s.labels.status === 'relayed_to_agent')).toBe(false);
    expect(p.value('keel_errors_total', { code: 'session_failed' })).toBe(1);
    expect(p.value('keel_alerts_total', { rule: 'fallback_rate' })).toBe(1);
    expect(p.value('keel_decisions_total', { kind: 'fallback' })).toBe(3);
    expect(p.types.get('keel_turn_duration_seconds')).toBe('histogram');
    expect(p.types.get('keel_ws_connections')).toBe('gauge');
    // Never an id, never a text.
    expect(text).not.toContain('secret');
    expect(text).not.toContain('hello');
    for (const s of p.samples) expect(Object.keys(s.labels).every((k) => !['session', 'user', 'tenant'].includes(k))).toBe(true);
  });

  it('caps distinct label values so a runaway machine cannot explode the series count', async () => {
    const metrics = createMetrics({ processMetrics: false, maxLabelValues: 3 });
    for (let i = 0; i < 20; i++) metrics.observe(event('escalate', `reason_${i}`));
    const p = parsePromText(await metrics.text());
    const series = p.samples.filter((s) => s.name === 'keel_escalations_total');
    expect(series).toHaveLength(4);
    expect(p.value('keel_escalations_total', { reason: 'other' })).toBe(17);
  });

  it('exposes the WebSocket connections gauge and process metrics with event-loop delay', async () => {
    const metrics = createMetrics();
    metrics.connectionOpened();
    metrics.connectionOpened();
    metrics.connectionClosed();
    const p = parsePromText(await metrics.text());
    expect(p.value('keel_ws_connections')).toBe(1);
    expect(p.types.get('keel_nodejs_eventloop_lag_seconds')).toBe('gauge');
    expect(metrics.contentType).toContain('text/plain');
  });

  it('leaves names another owner registered alone instead of throwing', async () => {
    const registry = new Registry();
    const theirs = new Counter({ name: 'keel_turns_total', help: 'server turns', labelNames: ['outcome'], registers: [registry] });
    theirs.inc({ outcome: 'duplicate' });
    const metrics = createMetrics({ registry, processMetrics: false });
    expect(metrics.skipped).toEqual(['keel_turns_total']);
    metrics.observeTurn(0.1);
    const p = parsePromText(await metrics.text());
    expect(p.value('keel_turns_total', { outcome: 'duplicate' })).toBe(1);
    expect(p.value('keel_turns_total', { outcome: 'ok' })).toBeUndefined();
    expect(p.value('keel_turn_duration_seconds_count')).toBe(1);
  });

  it('names the bad option', () => {
    expect(() => resolveMetricsOptions({ maxLabelValues: 0 })).toThrow(/maxLabelValues/);
    expect(() => resolveMetricsOptions({ turnBucketsSeconds: [1, 0.5] })).toThrow(/turnBucketsSeconds/);
    expect(() => resolveMetricsOptions({ runtime: {} as never })).toThrow(/runtime/);
    expect(() => createMetrics({ processMetrics: false }).observeTurn(-1)).toThrow(TypeError);
    expect(Object.isFrozen(resolveMetricsOptions({}))).toBe(true);
  });

  it('names the fallback rung from the event', () => {
    expect(fallbackRung(event('fallback', 'x', { rung: 'human' }))).toBe('human');
    expect(fallbackRung(event('fallback', 'timeout', { task: 't', from: 'a', to: 'b' }))).toBe('timeout');
    expect(fallbackRung(event('fallback', 'ticket_failed', { next: 'graceful_exit' }))).toBe('graceful_exit');
  });
});
