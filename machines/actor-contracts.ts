/**
 * The contract between the agent chart and the actors the runtime provides: what each declared
 * actor receives and what it must resolve with. Everything is JSON, because inputs and outputs
 * are persisted with snapshots. Actors never throw for expected failures: they resolve with a
 * typed outcome the chart branches on, and any `decisions` they carry are emitted by the chart
 * as `agent.decision` (an actor cannot emit on the session actor itself).
 */
import type { DecisionKind } from '../src/ports.js';
import type { Json } from '../src/types.js';

/** A decision an actor wants in the trace; the chart emits it. */
export interface DecisionNote {
  readonly kind: DecisionKind;
  readonly reason: string;
  readonly data: Record<string, Json>;
}

/** Who the session acts for, copied from the session input (never from a message or a model). */
export interface SessionIdentity {
  readonly tenant: string;
  readonly user: string;
  readonly role: 'customer' | 'agent' | 'engineer' | 'admin';
}

/** How sure a route is, as the orchestration reads it (DESIGN §4). */
export type RouteConfidenceLevel = 'out_of_scope' | 'ambiguous' | 'low_confidence' | 'confident';

/** One routed clause of a message that may hold several requests. */
export interface RoutedClause {
  readonly text: string;
  readonly intent: string;
  readonly score: number;
  readonly confidence: RouteConfidenceLevel;
}

/** Input of `routeMessage`. */
export interface RouteInput {
  readonly text: string;
  /** The session, for its LLM token budget. */
  readonly session?: string;
}

/** Output of `routeMessage`: the router's verdict plus what the orchestration needs around it. */
export interface RouteOutput {
  readonly ranked: { intent: string; score: number }[];
  readonly outOfScope: boolean;
  readonly outOfScopeReason?: string;
  readonly thresholds: { outOfScope: number; lowConfidence: number; closeMargin: number };
  readonly source: string;
  readonly confidence: RouteConfidenceLevel;
  /** Clauses of a multi-request message, each routed; empty for a single clause. */
  readonly clauses: RoutedClause[];
  /** Local lexicon sentiment in [-1, 1]. */
  readonly sentiment: number;
  readonly decisions: DecisionNote[];
}

/** Input of `callTool`. The idempotency key is `${turnKey}:${tool}:${n}`. */
export interface ToolCallInput {
  readonly tool: string;
  readonly args: Record<string, Json>;
  readonly key: string;
  readonly identity: SessionIdentity;
  readonly session: string;
  readonly callsThisTurn: number;
  /** The tools the current state allows; the guard refuses any other. */
  readonly allowedTools: string[];
  /** 1 for the first attempt. */
  readonly attempt: number;
  /** Set when a human approved this call (`operator.approve`). */
  readonly approver?: SessionIdentity;
  /**
   * True when another call of the session waits for a human's approval: a call that would need
   * one too is refused by the chart (`approval_busy`), not held, since one call waits at a time;
   * its audit record says so.
   */
  readonly approvalWaiting?: boolean;
}

/**
 * Output of `callTool`: `ok` with the tool's result; `denied` by the tool guard (never retried);
 * `failed` after one attempt (timeout, error, or an open breaker), with the backoff to wait
 * before the next attempt.
 */
export type ToolOutcome =
  | { readonly status: 'ok'; readonly tool: string; readonly result: Json }
  | {
      readonly status: 'denied';
      readonly tool: string;
      readonly code: 'tool_denied' | 'budget_exceeded' | 'approval_required' | 'forbidden';
      readonly reason: string;
      readonly rule?: string;
    }
  | {
      readonly status: 'failed';
      readonly tool: string;
      readonly reason: 'timeout' | 'error' | 'circuit_open' | 'unknown_tool';
      readonly message: string;
      readonly retryable: boolean;
      /** Backoff with jitter before the next attempt, in milliseconds. */
      readonly retryInMs: number;
      readonly breaker: 'closed' | 'open' | 'half_open' | 'isolated';
    };

/** Input of `searchKnowledge`. */
export interface KnowledgeInput {
  readonly query: string;
  readonly limit: number;
}

/** One knowledge-base passage with its similarity score in [0, 1]. */
export interface KnowledgeHit {
  readonly id: string;
  readonly title: string;
  readonly text: string;
  readonly score: number;
}

/** Output of `searchKnowledge`: hits best first, and the score a hit needs to ground an answer. */
export interface KnowledgeOutput {
  readonly hits: KnowledgeHit[];
  readonly minScore: number;
}

/** Why a reply is drafted. */
export type DraftPurpose = 'answer' | 'task' | 'smalltalk';

/**
 * Input of `draftReply`. `draft` is the grounded, templated reply: the LLM (when configured) may
 * only rephrase it with the `grounding` facts; without an LLM, `draft` is the reply.
 */
export interface DraftInput {
  readonly purpose: DraftPurpose;
  readonly userText: string;
  readonly draft: string;
  readonly grounding: Json;
  readonly allowedTools: string[];
  readonly key: string;
  readonly identity: SessionIdentity;
  readonly session: string;
  readonly callsThisTurn: number;
  readonly transcript: { role: string; text: string }[];
}

/** Output of `draftReply`. */
export interface DraftOutput {
  readonly text: string;
  /** `template`, or `llm:<provider>`. */
  readonly source: string;
  readonly toolCalls: number;
  readonly decisions: DecisionNote[];
}

/**
 * Events `draftReply` (a callback actor) sends its parent: streamed pieces, then exactly one of
 * `draft.done` / `draft.failed`.
 */
export type DraftEvent =
  | { readonly type: 'llm.delta'; readonly text: string }
  | { readonly type: 'draft.done'; readonly output: DraftOutput }
  | { readonly type: 'draft.failed'; readonly message: string };

/** One step the planner proposes. */
export interface PlanStepDraft {
  readonly task: string;
  readonly slots: Record<string, Json>;
  /** Index of an earlier step this one needs; when that step fails, this one is dropped. */
  readonly dependsOn?: number;
  /** The clause this step came from; the chart reads its slot values with the task's extractors. */
  readonly text?: string;
}

/** Input of `planTasks`. */
export interface PlanInput {
  readonly text: string;
  readonly clauses: RoutedClause[];
  readonly topIntent: string | null;
  /** Task intents and names the plan may use; `recordSlot` is the slot a listed record fills. */
  readonly tasks: { name: string; intent: string; recordSlot?: string }[];
  readonly key: string;
  readonly identity: SessionIdentity;
  readonly session: string;
  readonly callsThisTurn: number;
  /** The tool listing the user's records ("both orders"), when the agent has one. */
  readonly listTool?: string;
}

/** Output of `planTasks`. An empty plan means "not a multi-step request after all". */
export interface PlanOutput {
  readonly steps: PlanStepDraft[];
  /** `local` (clauses), `local:quantifier` (list tool), or `llm:<provider>`. */
  readonly source: string;
  readonly reason: string;
  readonly toolCalls: number;
  readonly decisions: DecisionNote[];
}

/** Input of `requestHandoff`: the human gets the transcript, the context and the reason. */
export interface HandoffInput {
  readonly reason: string;
  readonly session: string;
  readonly identity: SessionIdentity;
  readonly transcript: { role: string; text: string; at: number }[];
  readonly summary: Record<string, Json>;
  readonly key: string;
}

/** Output of `requestHandoff`. */
export interface HandoffOutput {
  readonly status: 'queued' | 'unavailable' | 'failed';
  readonly position?: number;
  readonly reason?: string;
  readonly ticket?: string;
}
