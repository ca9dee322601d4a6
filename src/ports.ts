/**
 * Ports: the narrow interfaces through which actors and the runtime reach the outside world.
 * Actors receive these through factory arguments and never import an adapter; tests pass real
 * adapters (real LMDB, real HTTP) through the same seams.
 */
import type { Identity, Json, SessionId, TenantId, UserId } from './types.js';

/** A source of time and timers. Logic never reads the wall clock directly. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Turns texts into fixed-length vectors (local by default, an OpenAI-compatible endpoint when configured). */
export interface Embedder {
  /** Stable id of the representation (vectors from different embedders never share an index). */
  readonly id: string;
  readonly dimensions: number;
  embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]>;
}

/** One scored intent from a router. */
export interface IntentScore {
  readonly intent: string;
  /** Calibrated probability-like score in [0, 1]. */
  readonly score: number;
}

/** Why a router declined to pick an intent. */
export type OutOfScopeReason = 'below_threshold' | 'oos_class' | 'empty_input';

/** A router's verdict on one message. */
export interface RouteResult {
  /** Intents best first. */
  readonly ranked: readonly IntentScore[];
  /** True when no intent covers the message ("I don't know"). */
  readonly outOfScope: boolean;
  readonly outOfScopeReason?: OutOfScopeReason;
  /** The thresholds the decision used, so the trace can show them. */
  readonly thresholds: Readonly<{ outOfScope: number; lowConfidence: number; closeMargin: number }>;
  /** Which router produced this (`local`, `llm:<model>`, ...). */
  readonly source: string;
}

/** Ranks intents for one message. */
export interface Router {
  route(text: string, signal?: AbortSignal): Promise<RouteResult>;
}

/** A chat message for an LLM. */
export interface LlmMessage {
  readonly role: 'system' | 'user' | 'assistant' | 'tool';
  readonly content: string;
  /** For `tool` messages: the call this answers. */
  readonly toolCallId?: string;
  /** For `assistant` messages: the tool calls it made (OpenAI requires them before `tool` messages). */
  readonly toolCalls?: readonly ProposedToolCall[];
}

/** A tool the model may choose, as JSON Schema parameters. */
export interface LlmTool {
  readonly name: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, Json>>;
}

/** A tool call proposed by a model; only a proposal until the tool guard allows it. */
export interface ProposedToolCall {
  readonly id: string;
  readonly name: string;
  /** Raw arguments as the model sent them; parsed and validated by the guard, never trusted. */
  readonly arguments: string;
}

export interface LlmRequest {
  readonly messages: readonly LlmMessage[];
  /** Only the tools the current state allows. */
  readonly tools?: readonly LlmTool[];
  readonly maxTokens?: number;
  readonly temperature?: number;
  /** Called with each streamed piece of text, when the provider streams. */
  readonly onDelta?: (text: string) => void;
}

export interface LlmResponse {
  readonly text: string;
  readonly toolCalls: readonly ProposedToolCall[];
  readonly provider: string;
  readonly model: string;
  readonly usage: { readonly promptTokens: number; readonly completionTokens: number };
  /**
   * Requests to providers that carried this prompt, the answering one included (retries and
   * failovers each send it again); set by the failover ladder, which token budgets charge by.
   */
  readonly requests?: number;
}

/** A language model behind a failover chain. Every call takes an AbortSignal. */
export interface LlmClient {
  complete(request: LlmRequest, signal: AbortSignal): Promise<LlmResponse>;
}

/** Who asks for a tool call, from the session (never from model output). */
export interface ToolContext {
  readonly identity: Identity;
  readonly session: SessionId;
  /** Tool calls already made in this turn, for budgets. */
  readonly callsThisTurn: number;
  /** The state the session is in; a tool is only allowed in states that declare it. */
  readonly allowedTools: readonly string[];
}

export type GuardDecision =
  | { readonly allow: true }
  | { readonly allow: false; readonly code: 'tool_denied' | 'budget_exceeded' | 'approval_required' | 'forbidden'; readonly reason: string };

/** Checks every tool call outside the model: role scope, tenant, ownership, budgets, approvals. */
export interface ToolGuard {
  check(tool: string, args: Readonly<Record<string, unknown>>, context: ToolContext): Promise<GuardDecision> | GuardDecision;
}

/** Kinds of decision events in the trace. */
export const DECISION_KINDS = [
  'session', 'route', 'transition', 'tool', 'retry', 'fallback', 'escalate', 'handoff', 'error',
  'reply', 'recall', 'plan', 'signal', 'guard', 'alert', 'inspect',
] as const;
export type DecisionKind = (typeof DECISION_KINDS)[number];

/** One decision in the trace, with who, where and why. Text in `data` is redacted before it leaves the runtime. */
export interface DecisionEvent {
  readonly kind: DecisionKind;
  readonly time: number;
  readonly tenant: TenantId;
  readonly session: SessionId;
  readonly user: UserId;
  /** Correlates the events of one turn. */
  readonly traceId: string;
  /** The machine state when the decision was made. */
  readonly state?: string;
  readonly reason: string;
  readonly data: Readonly<Record<string, Json>>;
}

/** Where decision events go: the live inspector stream, the LMDB trace, metrics. */
export interface DecisionSink {
  emit(event: DecisionEvent): void;
}

/**
 * Records the outcome of a side effect once, under an idempotency key, so work re-run after a
 * crash returns the recorded outcome instead of acting twice.
 */
export interface EffectLedger {
  once<T extends Json>(key: string, run: () => Promise<T>): Promise<T>;
}

/**
 * Encrypts data at rest with a per-tenant key. Deleting a tenant's key makes everything sealed
 * for it unreadable (erasure by key deletion).
 */
export interface Sealer {
  seal(tenant: TenantId, plaintext: Uint8Array): Uint8Array;
  /** Throws a KeelError (`forbidden`) when the data was not sealed for this tenant or was altered. */
  open(tenant: TenantId, sealed: Uint8Array): Uint8Array;
}

/* ------------------------------------------------------------------------------------------
 * The session-machine contract: what any keel agent machine receives and emits.
 * ---------------------------------------------------------------------------------------- */

/** Input every session machine is created with. `carriedContext` is set when a flow restarts after a version change. */
export interface SessionInput {
  readonly sessionId: SessionId;
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly channel: string;
  readonly carriedContext?: Readonly<Record<string, unknown>>;
}

/** A user's chat message as the machine receives it. `turnKey` prefixes idempotency keys of side effects. */
export interface UserMessageEvent {
  readonly type: 'user.message';
  readonly text: string;
  readonly messageId: string;
  readonly turnKey: string;
  readonly at: number;
}

/** Tag for states in which the machine does asynchronous work; a turn settles when no active state has it. */
export const BUSY_TAG = 'busy';

/** What a machine emits (XState `emit`) for the runtime to journal, stream and trace. */
export type AgentEmitted =
  | { readonly type: 'agent.reply'; readonly text: string; readonly meta?: Readonly<Record<string, Json>> }
  | { readonly type: 'agent.delta'; readonly text: string }
  | { readonly type: 'agent.handoff'; readonly status: HandoffStatus; readonly reason?: string; readonly meta?: Readonly<Record<string, Json>> }
  | { readonly type: 'agent.decision'; readonly kind: DecisionKind; readonly reason: string; readonly data?: Readonly<Record<string, Json>> };

/** Statuses of the hand-off protocol (DESIGN §4). */
export type HandoffStatus = 'requested' | 'queued' | 'accepted' | 'with_agent' | 'completed' | 'failed' | 'unavailable';

/** Hand-off statuses during which the conversation is in human hands: asked for, waiting, taken. */
export const HANDOFF_OPEN: ReadonlySet<string> = new Set<HandoffStatus>(['requested', 'queued', 'accepted', 'with_agent']);
/** Hand-off statuses in which one human agent holds the conversation. */
export const HANDOFF_HELD: ReadonlySet<string> = new Set<HandoffStatus>(['accepted', 'with_agent']);
/** Hand-off statuses after which the conversation is no longer with a human (nor waiting for one). */
export const HANDOFF_ENDED: ReadonlySet<string> = new Set<HandoffStatus>(['completed', 'unavailable', 'failed']);
