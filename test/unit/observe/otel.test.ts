/**
 * GenAI spans from decision events, through the real `@opentelemetry/api` (a recording tracer
 * provider stands in for an SDK): a turn is `invoke_agent`, its model steps `chat`, its tool
 * calls `execute_tool`, nested under the turn, and no message content leaves by default.
 */
import { context, trace, type Context, type Span, type SpanOptions, type Tracer } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { createOtelTracing, SPAN_STATUS } from '../../../src/observe/otel.js';
import type { DecisionEvent, DecisionKind } from '../../../src/ports.js';
import type { SessionId } from '../../../src/types.js';
import { tenantId, userId } from '../../../src/types.js';

interface Recorded {
  name: string;
  attributes: Record<string, unknown>;
  start?: number;
  end?: number;
  ended?: boolean;
  status?: { code: number; message?: string };
  parent?: Recorded;
}

/** A tracer provider that keeps every span, as an SDK's in-memory exporter would. */
function recordingProvider() {
  const spans: Recorded[] = [];
  const byApiSpan = new WeakMap<Span, Recorded>();
  const tracer: Tracer = {
    startSpan(name: string, options: SpanOptions = {}, ctx?: Context): Span {
      const parentSpan = ctx ? trace.getSpan(ctx) : undefined;
      const rec: Recorded = { name, attributes: { ...options.attributes }, start: options.startTime as number | undefined, ...(parentSpan && byApiSpan.get(parentSpan) ? { parent: byApiSpan.get(parentSpan) } : {}) };
      spans.push(rec);
      const span: Span = {
        spanContext: () => ({ traceId: '0'.repeat(32), spanId: String(spans.length).padStart(16, '0'), traceFlags: 1 }),
        setAttribute(key, value) { rec.attributes[key] = value; return span; },
        setAttributes(attrs) { Object.assign(rec.attributes, attrs); return span; },
        addEvent() { return span; },
        addLink() { return span; },
        addLinks() { return span; },
        setStatus(status) { rec.status = status; return span; },
        updateName(n) { rec.name = n; return span; },
        end(endTime) { rec.end = endTime as number | undefined; rec.ended = true; },
        isRecording: () => true,
        recordException() {},
      };
      byApiSpan.set(span, rec);
      return span;
    },
    startActiveSpan: (() => { throw new Error('not used'); }) as Tracer['startActiveSpan'],
  };
  return { spans, provider: { getTracer: () => tracer } };
}

const recorder = recordingProvider();
trace.setGlobalTracerProvider(recorder.provider);
afterAll(() => trace.disable());

const event = (kind: DecisionKind, reason: string, data: DecisionEvent['data'], time: number, traceId = 's-1:1'): DecisionEvent => ({
  kind, reason, data, time, tenant: tenantId('acme'), session: 's-1' as SessionId, user: userId('alice'), traceId, state: 'conversation.task.executing',
});

describe('OpenTelemetry spans', () => {
  it('maps a turn, its tool calls and its model steps to GenAI spans nested under the turn, without content', () => {
    const tracing = createOtelTracing({ tracer: trace.getTracer('keel'), parentContext: (span) => trace.setSpan(context.active(), span as Span) });
    tracing.observe(event('route', 'startTask', { chosen: 'order_status', candidates: [{ intent: 'order_status', score: 0.97 }] }, 1000));
    tracing.observe(event('retry', 'error', { tool: 'track_order', args: { orderId: '1042' }, latencyMs: 40, outcome: 'failed', attempt: 1 }, 1100));
    tracing.observe(event('tool', 'ok', { tool: 'order_status_cache', key: 's-1:1:order_status_cache:3', latencyMs: 12, outcome: 'ok' }, 1200));
    tracing.observe(event('reply', 'turn answered', { seq: 1, latencyMs: 300, llmSteps: [{ step: 'draftReply', provider: 'api.example', latencyMs: 150, endedAt: 1290 }] }, 1300));
    expect(tracing.openTurns).toBe(0);

    const [turn, failedCall, call, chat] = recorder.spans;
    expect(turn).toMatchObject({ name: 'invoke_agent keel', start: 1000, end: 1300, status: { code: SPAN_STATUS.ok } });
    expect(turn!.attributes).toMatchObject({ 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'keel', 'gen_ai.conversation.id': 's-1', 'keel.route.verdict': 'startTask' });
    expect(failedCall).toMatchObject({ name: 'execute_tool track_order', start: 1060, end: 1100, status: { code: SPAN_STATUS.error } });
    expect(failedCall!.attributes).toMatchObject({ 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'track_order', 'error.type': 'error' });
    expect(call).toMatchObject({ name: 'execute_tool order_status_cache', start: 1188, end: 1200 });
    expect(call!.attributes['gen_ai.tool.call.id']).toBe('s-1:1:order_status_cache:3');
    expect(chat).toMatchObject({ name: 'chat', start: 1140, end: 1290 });
    expect(chat!.attributes).toMatchObject({ 'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': 'api.example' });
    for (const child of [failedCall, call, chat]) expect(child!.parent).toBe(turn);
    // No content by default: neither arguments nor any event data are attributes.
    expect(JSON.stringify(recorder.spans.map((s) => s.attributes))).not.toContain('1042');
    tracing.close();
  });

  it('adds redacted event data only when asked, and ends open turns on close', () => {
    recorder.spans.length = 0;
    const tracing = createOtelTracing({ tracer: trace.getTracer('keel'), captureContent: true });
    tracing.observe(event('tool', 'ok', { tool: 'lookup_order', args: { orderId: '1042' }, latencyMs: 5 }, 10, 's-1:2'));
    expect(recorder.spans[1]!.attributes['keel.data']).toContain('1042');
    expect(tracing.openTurns).toBe(1);
    expect(recorder.spans[0]!.ended).toBeUndefined();
    tracing.close();
    expect(recorder.spans[0]!.ended).toBe(true);
    expect(tracing.openTurns).toBe(0);
    expect(() => createOtelTracing({ tracer: {} as never })).toThrow(/tracer/);
  });
});
