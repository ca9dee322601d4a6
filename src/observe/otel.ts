/**
 * Optional OpenTelemetry spans built from decision events, following the GenAI semantic
 * conventions: a turn becomes `invoke_agent`, an LLM request `chat` (from a ladder event with a
 * model, or a step of the turn's `reply.llmSteps`), a tool call `execute_tool`, with `gen_ai.*`
 * attributes. keel does not depend on OpenTelemetry: it talks to a minimal tracer
 * interface that `trace.getTracer('keel')` from `@opentelemetry/api` satisfies structurally, so
 * the embedding program brings (or leaves out) the SDK. No message content is recorded unless
 * `captureContent` is set, and even then only the already-redacted event data.
 */
import type { DecisionEvent } from '../ports.js';

/** An attribute value as OpenTelemetry accepts it. */
export type SpanAttributeValue = string | number | boolean | readonly string[] | readonly number[] | readonly boolean[];

/** Status codes as in `@opentelemetry/api`'s `SpanStatusCode`. */
export const SPAN_STATUS = Object.freeze({ unset: 0, ok: 1, error: 2 } as const);
/** Span kinds as in `@opentelemetry/api`'s `SpanKind`. */
const SPAN_KIND = Object.freeze({ internal: 0, client: 2 } as const);

/** The part of an OpenTelemetry `Span` keel uses. */
export interface SpanLike {
  setAttribute(key: string, value: SpanAttributeValue): unknown;
  setStatus(status: { code: number; message?: string }): unknown;
  /** `endTime` in epoch milliseconds. */
  end(endTime?: number): void;
}

/** The part of an OpenTelemetry `Tracer` keel uses; `trace.getTracer('keel')` fits. */
export interface TracerLike {
  startSpan(name: string, options?: { attributes?: Record<string, SpanAttributeValue>; startTime?: number; kind?: number }, context?: unknown): SpanLike;
}

/** Options of {@link createOtelTracing}. */
export interface OtelTracingOptions {
  readonly tracer: TracerLike;
  /** Source to subscribe to (the runtime's `decisions`). Default none: feed with `observe`. */
  readonly decisions?: { subscribe(fn: (event: DecisionEvent) => void): () => void };
  /** `gen_ai.agent.name`. Default `'keel'`. */
  readonly agentName?: string;
  /**
   * Makes a parent context for child spans, e.g. `(span) => trace.setSpan(context.active(), span)`.
   * Default none: `chat` and `execute_tool` spans are linked to their turn by `keel.trace_id` only.
   */
  readonly parentContext?: (parent: SpanLike) => unknown;
  /** Adds each event's (redacted) data as `keel.data`. Default false: no content leaves. */
  readonly captureContent?: boolean;
  /** Turns without a reply yet that are kept open; the oldest is ended beyond it. Default 10000. */
  readonly maxOpenTurns?: number;
}

export interface OtelTracing {
  /** Feeds one event (done automatically with `decisions`). */
  observe(event: DecisionEvent): void;
  /** Turn spans still open. */
  readonly openTurns: number;
  /** Ends open spans and unsubscribes. Idempotent. */
  close(): void;
}

/** The defaults, frozen. */
export const defaultOtelTracingOptions = Object.freeze({ agentName: 'keel', captureContent: false, maxOpenTurns: 10_000 });

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const TOOL_FAILURES = new Set(['failure', 'failed', 'error', 'timeout', 'unavailable']);

/**
 * Creates the span builder.
 *
 * @example
 * ```ts
 * import { context, trace } from '@opentelemetry/api';
 * createOtelTracing({
 *   tracer: trace.getTracer('keel'),
 *   decisions: runtime.decisions,
 *   parentContext: (span) => trace.setSpan(context.active(), span as never),
 * });
 * ```
 */
export function createOtelTracing(options: OtelTracingOptions): OtelTracing {
  if (typeof options?.tracer?.startSpan !== 'function') throw new TypeError('option tracer must have startSpan() (an OpenTelemetry Tracer)');
  const o = Object.freeze({ ...defaultOtelTracingOptions, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) }) as OtelTracingOptions & { agentName: string; captureContent: boolean; maxOpenTurns: number };
  if (typeof o.agentName !== 'string' || o.agentName === '') throw new TypeError('option agentName must be a non-empty string');
  if (typeof o.captureContent !== 'boolean') throw new TypeError('option captureContent must be a boolean');
  if (!Number.isInteger(o.maxOpenTurns) || o.maxOpenTurns < 1) throw new TypeError('option maxOpenTurns must be a positive integer');
  if (o.parentContext !== undefined && typeof o.parentContext !== 'function') throw new TypeError('option parentContext must be a function');

  /** Open `invoke_agent` spans by session and trace id; insertion order is age. */
  const turns = new Map<string, { span: SpanLike; failed: boolean }>();
  let closed = false;

  const content = (e: DecisionEvent): Record<string, SpanAttributeValue> => (o.captureContent ? { 'keel.data': JSON.stringify(e.data) } : {});

  const child = (parent: { span: SpanLike } | undefined, name: string, attributes: Record<string, SpanAttributeValue>, startTime: number): SpanLike => {
    const ctx = parent && o.parentContext ? o.parentContext(parent.span) : undefined;
    return o.tracer.startSpan(name, { attributes, startTime, kind: SPAN_KIND.client }, ...(ctx !== undefined ? [ctx] : []));
  };

  const turnFor = (e: DecisionEvent): { span: SpanLike; failed: boolean } | undefined => {
    // Timer-driven decisions and session bookkeeping belong to no user turn.
    if (e.traceId.endsWith(':timer') || e.kind === 'session' || e.kind === 'alert') return undefined;
    const key = `${e.session}\u0000${e.traceId}`;
    let turn = turns.get(key);
    if (!turn) {
      if (turns.size >= o.maxOpenTurns) {
        const [oldest, open] = turns.entries().next().value as [string, { span: SpanLike }];
        turns.delete(oldest);
        open.span.end(e.time);
      }
      const span = o.tracer.startSpan(`invoke_agent ${o.agentName}`, {
        attributes: {
          'gen_ai.operation.name': 'invoke_agent',
          'gen_ai.agent.name': o.agentName,
          'gen_ai.conversation.id': e.session,
          'keel.tenant': e.tenant,
          'keel.trace_id': e.traceId,
        },
        startTime: e.time,
        kind: SPAN_KIND.internal,
      });
      turns.set(key, (turn = { span, failed: false }));
    }
    return turn;
  };

  const observe = (e: DecisionEvent): void => {
    if (closed) return;
    const d = e.data;
    const turn = turnFor(e);
    const latencyMs = num(d.latencyMs) ?? 0;
    const tool = str(d.tool);
    const provider = str(d.provider);
    const model = str(d.model);
    if (e.kind === 'tool' && tool) {
      const outcome = str(d.outcome) ?? e.reason;
      const span = child(turn, `execute_tool ${tool}`, {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': tool,
        ...(str(d.key) ? { 'gen_ai.tool.call.id': str(d.key) as string } : {}),
        'keel.outcome': outcome,
        'keel.trace_id': e.traceId,
        ...content(e),
      }, e.time - latencyMs);
      if (TOOL_FAILURES.has(outcome)) {
        span.setAttribute('error.type', str(d.reason) ?? outcome);
        span.setStatus({ code: SPAN_STATUS.error, message: outcome });
      }
      span.end(e.time);
    } else if ((e.kind === 'retry' || e.kind === 'fallback') && tool) {
      // A failed attempt of the tool ladder: the call happened and broke.
      const span = child(turn, `execute_tool ${tool}`, {
        'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool, 'error.type': e.reason, 'keel.trace_id': e.traceId, ...content(e),
      }, e.time - latencyMs);
      span.setStatus({ code: SPAN_STATUS.error, message: `${e.kind}: ${e.reason}` });
      span.end(e.time);
    } else if (model !== undefined || ((e.kind === 'retry' || e.kind === 'fallback' || e.kind === 'error') && (provider ?? str(d.from)))) {
      const prov = provider ?? str(d.from) ?? 'unknown';
      const usage = (d.usage !== null && typeof d.usage === 'object' && !Array.isArray(d.usage) ? d.usage : {}) as Record<string, unknown>;
      const input = num(d.promptTokens) ?? num(usage.promptTokens);
      const output = num(d.completionTokens) ?? num(usage.completionTokens);
      const span = child(turn, model ? `chat ${model}` : 'chat', {
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': prov,
        ...(model ? { 'gen_ai.request.model': model, 'gen_ai.response.model': str(d.responseModel) ?? model } : {}),
        ...(input !== undefined ? { 'gen_ai.usage.input_tokens': input } : {}),
        ...(output !== undefined ? { 'gen_ai.usage.output_tokens': output } : {}),
        'keel.trace_id': e.traceId,
        ...content(e),
      }, e.time - latencyMs);
      if (e.kind === 'retry' || e.kind === 'fallback' || e.kind === 'error') {
        span.setAttribute('error.type', e.reason);
        span.setStatus({ code: SPAN_STATUS.error, message: `${e.kind}: ${e.reason}` });
      }
      span.end(e.time);
    }
    if (!turn) return;
    if (e.kind === 'error') {
      turn.failed = true;
      turn.span.setAttribute('error.type', str(d.code) ?? e.reason);
    }
    if (e.kind === 'route') turn.span.setAttribute('keel.route.verdict', e.reason);
    if (e.kind === 'escalate') turn.span.setAttribute('keel.escalated', true);
    if (e.kind === 'reply') {
      for (const step of Array.isArray(d.llmSteps) ? d.llmSteps : []) {
        const s = step !== null && typeof step === 'object' && !Array.isArray(step) ? step : {};
        const ms = num(s.latencyMs) ?? 0;
        const end = num(s.endedAt) ?? e.time;
        const span = child(turn, 'chat', {
          'gen_ai.operation.name': 'chat', 'gen_ai.provider.name': str(s.provider) ?? 'unknown', 'keel.step': str(s.step) ?? 'unknown', 'keel.trace_id': e.traceId,
        }, end - ms);
        span.end(end);
      }
      if (e.state) turn.span.setAttribute('keel.state', e.state);
      turn.span.setStatus(turn.failed ? { code: SPAN_STATUS.error, message: 'turn failed' } : { code: SPAN_STATUS.ok });
      turn.span.end(e.time);
      turns.delete(`${e.session}\u0000${e.traceId}`);
    }
  };

  const unsubscribe = o.decisions?.subscribe(observe);
  return {
    observe,
    get openTurns() {
      return turns.size;
    },
    close() {
      if (closed) return;
      closed = true;
      unsubscribe?.();
      for (const { span } of turns.values()) span.end();
      turns.clear();
    },
  };
}
