/**
 * What a session's decision trace learns from XState's inspection API (`actor.system.inspect`),
 * which sees every invoked actor start and finish without the machine's help:
 *
 * - each tool call's latency, outcome and (redacted) arguments, added to the decision the chart
 *   makes about it (`tool`, `retry`, `fallback`, `guard`), or traced on its own when the chart
 *   made none;
 * - the time spent in steps answered by a language model (their output's `source` is
 *   `llm:<provider>`), for the turn's `reply` event and the LLM latency metric;
 * - when inspection is on for the session, a simplified inspection stream: events the session
 *   received (type only), state changes between microsteps, invoked actors started and finished.
 *   No snapshot, context or event payload ever leaves: those hold personal data.
 */
import type { AnyActor, InspectionEvent } from 'xstate';
import type { Clock, DecisionKind } from '../ports.js';
import { stateToString } from '../sessions/session-frames.js';
import type { Json } from '../types.js';
import { redactToolArgs } from './tool-args.js';

/** One step answered by a language model during a turn. */
export interface LlmStep {
  /** The invoked actor (`draftReply`, `routeMessage`, `planTasks`). */
  readonly step: string;
  readonly provider: string;
  readonly latencyMs: number;
  /** When the step finished (clock milliseconds). */
  readonly endedAt: number;
}

/** Options of {@link createActorTracer}. */
export interface ActorTracerOptions {
  readonly clock: Clock;
  /** Records a decision in the session's trace (the session host's `decide`), made in `state`. */
  readonly decide: (kind: DecisionKind, reason: string, data: Record<string, Json>, state?: string) => void;
  /** True while simplified inspection events are wanted for this session (checked per event). */
  readonly inspecting: () => boolean;
}

/** The tracer of one session; it follows whichever actor the session currently runs. */
export interface ActorTracer {
  /**
   * Follows `actor` (and its invoked children); stops following the previous one. Children the
   * actor already has are timed from now: the session host attaches right after the step that
   * started them.
   */
  attach(actor: AnyActor): void;
  /** Adds the latency, outcome and arguments of the tool call that `data` is about, if known. */
  enrich(kind: DecisionKind, data: Record<string, Json>): Record<string, Json>;
  /** The model-answered steps finished since the last call. */
  takeLlmSteps(): LlmStep[];
  /**
   * The state the session's actor was in when it took the event it is handling (or last
   * handled): the state a decision of this step was made in. XState defers emitted events to
   * the end of the step, when the actor already stands in the step's target state.
   */
  state(): string | undefined;
  /** True when no invoked actor is being timed and no tool call waits for its decision. */
  idle(): boolean;
  /** Stops following. Idempotent. */
  detach(): void;
}

interface Span {
  readonly actor: string;
  readonly startedAt: number;
  readonly input: unknown;
}

interface ToolCall {
  readonly tool: string;
  readonly key?: string;
  readonly data: Record<string, Json>;
}

/** Decisions a tool call's facts belong to. */
const TOOL_KINDS = new Set<DecisionKind>(['tool', 'retry', 'fallback', 'guard']);
/** Steps in one turn kept for the reply event; more are left out. */
const MAX_LLM_STEPS = 16;

const record = (v: unknown): Record<string, unknown> | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;

const srcOf = (ref: unknown): string => {
  const a = ref as { src?: unknown; id?: unknown };
  return typeof a.src === 'string' ? a.src : typeof a.id === 'string' ? a.id : 'actor';
};

/** The tool call an invoked actor made, when its input has the shape of one (`tool`, `args`, `key`). */
function toolInput(input: unknown): { tool: string; key: string; args: unknown; attempt?: number } | undefined {
  const i = record(input);
  if (!i || typeof i.tool !== 'string' || typeof i.key !== 'string' || record(i.args) === undefined) return undefined;
  return { tool: i.tool, key: i.key, args: i.args, ...(typeof i.attempt === 'number' ? { attempt: i.attempt } : {}) };
}

/** `ok`, `rejected` (the tool said no), `failed:<reason>`, `denied:<code>`, or `error`. */
function toolOutcome(output: unknown, failed: boolean): { outcome: string; reason?: string } {
  const o = record(output);
  if (failed || !o) return { outcome: 'error' };
  if (o.status === 'ok') return { outcome: record(o.result)?.outcome === 'rejected' ? 'rejected' : 'ok' };
  if (o.status === 'denied') return { outcome: 'denied', ...(typeof o.code === 'string' ? { reason: o.code } : {}) };
  if (o.status === 'failed') return { outcome: 'failed', ...(typeof o.reason === 'string' ? { reason: o.reason } : {}) };
  return { outcome: 'unknown' };
}

/**
 * Creates the tracer of one session.
 *
 * @example
 * ```ts
 * const tracer = createActorTracer({ clock, decide, inspecting: () => false });
 * tracer.attach(actor);
 * sink.emit({ ...event, data: tracer.enrich(kind, data) });
 * ```
 */
export function createActorTracer(options: ActorTracerOptions): ActorTracer {
  return new SessionTracer(options);
}

// A class, not a closure per method: every live session has a tracer, and per-instance closures
// cost 56 bytes each (docs/benchmarks.md, heap per live session).
class SessionTracer implements ActorTracer {
  readonly #options: ActorTracerOptions;
  #root: AnyActor | undefined;
  #subscription: { unsubscribe(): void } | undefined;
  #spans: Map<string, Span> | undefined;
  #pendingTool: ToolCall | undefined;
  #llmSteps: LlmStep[] | undefined;
  #lastMicroState: string | undefined;
  #stepStart: string | undefined;

  constructor(options: ActorTracerOptions) {
    this.#options = options;
  }

  attach(actor: AnyActor): void {
    this.detach();
    this.#root = actor;
    this.#subscription = actor.system.inspect((ev: InspectionEvent) => this.#observe(ev));
    const snapshot = actor.getSnapshot() as { value?: unknown; children?: Record<string, unknown> };
    this.#lastMicroState = stateToString(snapshot.value);
    for (const id in snapshot.children) this.#startSpan(snapshot.children[id] as { sessionId: string; options?: { input?: unknown } });
  }

  idle(): boolean {
    return (this.#spans === undefined || this.#spans.size === 0) && this.#pendingTool === undefined;
  }

  enrich(kind: DecisionKind, data: Record<string, Json>): Record<string, Json> {
    const call = this.#pendingTool;
    if (!call || !TOOL_KINDS.has(kind) || data.tool !== call.tool) return data;
    if (typeof data.key === 'string' && data.key !== call.key) return data;
    this.#pendingTool = undefined;
    return { ...data, ...call.data };
  }

  state(): string | undefined {
    return this.#stepStart ?? this.#lastMicroState;
  }

  takeLlmSteps(): LlmStep[] {
    const out = this.#llmSteps ?? [];
    this.#llmSteps = undefined;
    return out;
  }

  detach(): void {
    this.#subscription?.unsubscribe();
    this.#subscription = undefined;
    this.#root = undefined;
    this.#spans = undefined;
    this.#pendingTool = undefined;
    this.#lastMicroState = undefined;
    this.#stepStart = undefined;
  }

  #startSpan(ref: { sessionId: string; options?: { input?: unknown } }): void {
    const actor = srcOf(ref);
    (this.#spans ??= new Map()).set(ref.sessionId, { actor, startedAt: this.#options.clock.now(), input: ref.options?.input });
    if (this.#options.inspecting()) this.#inspect('actor.started', { actor });
  }

  // Callers check `inspecting()` first: most sessions are not inspected, and the event's data is
  // then not worth building.
  #inspect(reason: string, data: Record<string, Json>): void {
    this.#options.decide('inspect', reason, data, this.#lastMicroState);
  }

  /** A tool call nobody decided about still belongs in the trace. */
  #flushTool(): void {
    const call = this.#pendingTool;
    if (!call) return;
    this.#pendingTool = undefined;
    this.#options.decide('tool', String(call.data.outcome ?? 'done'), { tool: call.tool, ...call.data }, this.#stepStart);
  }

  #finish(ref: { sessionId: string }, output: unknown, failed: boolean): void {
    const span = this.#spans?.get(ref.sessionId);
    if (!span) return;
    this.#spans!.delete(ref.sessionId);
    const { clock } = this.#options;
    const latencyMs = Math.max(0, clock.now() - span.startedAt);
    const call = toolInput(span.input);
    if (call) {
      this.#flushTool();
      const { outcome, reason } = toolOutcome(output, failed);
      this.#pendingTool = {
        tool: call.tool,
        key: call.key,
        data: { args: redactToolArgs(call.args), latencyMs, outcome, ...(reason !== undefined ? { outcomeReason: reason } : {}), ...(call.attempt !== undefined ? { attempt: call.attempt } : {}) },
      };
    }
    const source = record(output)?.source;
    if (!failed && typeof source === 'string' && source.startsWith('llm:')) {
      const step = { step: span.actor, provider: source.slice(4, 68) || 'unknown', latencyMs, endedAt: clock.now() };
      const steps = (this.#llmSteps ??= []);
      if (steps.length < MAX_LLM_STEPS) steps.push(step);
    }
    if (this.#options.inspecting()) this.#inspect('actor.done', { actor: span.actor, latencyMs, status: failed ? 'error' : 'done' });
  }

  #observe(ev: InspectionEvent): void {
    const current = this.#root;
    if (!current) return;
    switch (ev.type) {
      case '@xstate.actor': {
        if (ev.actorRef === current) return;
        this.#startSpan(ev.actorRef as unknown as { sessionId: string; options?: { input?: unknown } });
        return;
      }
      case '@xstate.event': {
        if (ev.actorRef !== current) return;
        const type = ev.event.type;
        const source = ev.sourceRef as unknown as { sessionId: string } | undefined;
        this.#stepStart = this.#lastMicroState;
        if (source && (source as unknown) !== current && this.#spans?.has(source.sessionId)) {
          if (type.startsWith('xstate.done.actor.')) this.#finish(source, (ev.event as { output?: unknown }).output, false);
          else if (type.startsWith('xstate.error.actor.')) this.#finish(source, undefined, true);
          // Callback actors report their end with an event of their own (`draft.done`).
          else if (type.endsWith('.done')) this.#finish(source, (ev.event as { output?: unknown }).output, false);
        }
        // Streamed reply pieces are many and say nothing about the flow.
        if (type !== 'xstate.init' && !type.endsWith('.delta') && this.#options.inspecting()) {
          this.#inspect('event', { event: type.slice(0, 80), from: !source ? 'outside' : (source as unknown) === current ? 'self' : srcOf(source) });
        }
        return;
      }
      case '@xstate.microstep': {
        if (ev.actorRef !== current) return;
        const state = stateToString((ev.snapshot as { value?: unknown }).value);
        if (state === this.#lastMicroState) return;
        this.#lastMicroState = state;
        if (this.#options.inspecting()) this.#options.decide('inspect', 'microstep', { event: ev.event.type.slice(0, 80), state }, state);
        return;
      }
      case '@xstate.snapshot':
        // The session actor finished a step: every decision about the step's tool call is made.
        if (ev.actorRef === current) this.#flushTool();
        return;
      default:
        return;
    }
  }
}
