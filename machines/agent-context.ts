/**
 * The context of an agent session. It is persisted with every snapshot, so it is plain JSON:
 * task progress is data (which slots are filled, which step the tool ladder is on), and the chart
 * re-enters the right state from it after an interruption, a park or a restart.
 */
import type { SessionInput } from '../src/ports.js';
import type { Json } from '../src/types.js';
import type { KnowledgeHit, RouteOutput, SessionIdentity } from './actor-contracts.js';

/** How one task ended. */
export type TaskOutcome = 'done' | 'rejected' | 'degraded' | 'failed' | 'denied' | 'cancelled' | 'pending_approval' | 'handed_off';

/** The rung of the tool ladder (P10) the last tool outcome leads to; lookups use `lookup_*`. */
export type LadderRung = 'ok' | 'denied' | 'approval' | 'retry' | 'breaker' | 'alternative' | 'degraded' | 'lookup_ok' | 'lookup_miss' | 'lookup_skipped';

/** A task in progress: what is known, and where its fallback ladder stands. */
export interface TaskFrame {
  readonly task: string;
  readonly slots: Record<string, Json>;
  /** Results of slot lookups (`order` → the order record). */
  readonly facts: Record<string, Json>;
  /** Slots whose lookup succeeded. */
  readonly checked: string[];
  /** Set once the user said yes to the confirmation. */
  readonly confirmed: boolean;
  /** The tool the ladder is on (the task's, then its alternative). */
  readonly tool: string;
  /** Attempt of `tool`, 1-based. */
  readonly attempt: number;
  readonly usedAlternative: boolean;
  /** Backoff before the next attempt, from the last failure. */
  readonly retryInMs: number;
  /** Where the last tool outcome sent the ladder. */
  readonly rung?: LadderRung;
  /** Ordinal of the current logical call in its turn (the `n` of the idempotency key). */
  readonly callIndex: number;
  /** The turn key the current call belongs to. */
  readonly callTurn: string;
  readonly result?: Json;
  readonly outcome?: TaskOutcome;
  readonly failure?: { readonly reason: string; readonly message?: string };
  /** Index of the plan step this task runs, when it runs one. */
  readonly planStep?: number;
}

/** One step of a plan. */
export interface PlanStep {
  readonly task: string;
  readonly slots: Record<string, Json>;
  /** The clause the step came from, read with the task's extractors when it starts. */
  readonly text?: string;
  readonly dependsOn?: number;
  readonly status: 'pending' | 'running' | 'done' | 'failed' | 'skipped' | 'cancelled';
  readonly outcome?: TaskOutcome;
}

/** A plan of tasks run in order, each with its own fallback. */
export interface Plan {
  readonly id: string;
  readonly source: string;
  readonly steps: PlanStep[];
  readonly summary: string[];
}

/** A task (and the plan it belonged to) put on hold by another request (P7) or a park (P12). */
export interface SuspendedFrame {
  readonly frame: TaskFrame;
  readonly plan: Plan | null;
}

/** What the last question of the agent waits for; the triage reads the next message against it. */
export type Awaiting =
  | { readonly kind: 'slot'; readonly slot: string }
  | { readonly kind: 'confirm_task' }
  | { readonly kind: 'confirm_intent'; readonly intent: string; readonly text: string }
  | { readonly kind: 'rephrase' }
  | { readonly kind: 'clarify'; readonly options: string[]; readonly text: string }
  | { readonly kind: 'resume' }
  | { readonly kind: 'offer_human'; readonly reason: string }
  | { readonly kind: 'handoff_alternative' }
  | { readonly kind: 'correction' };

/** The triage's reading of a message: which pattern applies, and its data. */
export interface Verdict {
  readonly kind: VerdictKind;
  readonly intent?: string;
  readonly text?: string;
  readonly slot?: string;
  readonly value?: Json;
  readonly corrections?: Record<string, Json>;
  readonly options?: string[];
  readonly reason?: string;
}

/** The verdict kinds, one per branch of the `triage` state. */
export type VerdictKind =
  | 'handoff'
  | 'offerHuman'
  | 'escalate'
  | 'cancel'
  | 'nothingToCancel'
  | 'fillSlot'
  | 'correct'
  | 'askCorrection'
  | 'confirmTask'
  | 'declineTask'
  | 'startTask'
  | 'resume'
  | 'dropResume'
  | 'nothingToResume'
  | 'declineHuman'
  | 'ticket'
  | 'callback'
  | 'question'
  | 'smalltalk'
  | 'acknowledge'
  | 'outOfScope'
  | 'clarify'
  | 'confirmIntent'
  | 'rephrase'
  | 'plan'
  | 'reprompt';

/** One line of the transcript handed to a human. */
export interface TranscriptEntry {
  readonly role: 'user' | 'agent' | 'human' | 'operator';
  readonly text: string;
  readonly at: number;
}

/** Where the hand-off protocol stands. */
export interface HandoffState {
  readonly status: 'requested' | 'queued' | 'accepted' | 'with_agent' | 'completed' | 'failed' | 'unavailable';
  readonly reason: string;
  readonly agent?: string;
  readonly position?: number;
  /** Why the queue ended without a human (`sla_expired`, the desk's reason...). */
  readonly outcome?: string;
}

/** A high-impact call waiting for a human's approval. */
export interface PendingApproval {
  readonly task: string;
  readonly tool: string;
  readonly args: Record<string, Json>;
  readonly key: string;
  readonly vars: Record<string, Json>;
}

/** The current turn: what the user said and the keys of the side effects it causes. */
export interface TurnState {
  readonly key: string;
  readonly messageId: string;
  readonly at: number;
  readonly text: string;
  /** Logical tool calls made in this turn (for budgets and idempotency keys). */
  readonly toolCalls: number;
}

/** The session context. */
export interface AgentContext {
  readonly identity: SessionIdentity;
  readonly session: string;
  readonly channel: string;
  readonly turn: TurnState | null;
  readonly route: RouteOutput | null;
  readonly verdict: Verdict | null;
  readonly awaiting: Awaiting | null;
  readonly active: TaskFrame | null;
  readonly suspended: SuspendedFrame[];
  readonly plan: Plan | null;
  /** Misses in a row (P4). */
  readonly misses: number;
  /** Negative turns in a row. */
  readonly negativeTurns: number;
  readonly handoff: HandoffState | null;
  readonly pendingApproval: PendingApproval | null;
  readonly knowledge: KnowledgeHit[];
  readonly transcript: TranscriptEntry[];
  /** Set while answering an interruption, so the task's prompt says "back to ...". */
  readonly interrupted: boolean;
  /** Set when a step already told the user what was wrong, so the next prompt skips "sorry". */
  readonly explained: boolean;
  /** Set by a park, so the next reply welcomes the user back. */
  readonly parked: boolean;
  /** Counts plans, for their ids. */
  readonly plans: number;
  /** Context carried over a machine change (see SessionInput.carriedContext). */
  readonly carried: Record<string, Json>;
}

/**
 * The context of a new session. Identity comes from the session input only; a carried context
 * (after a machine change) keeps the transcript and suspended work.
 *
 * @example
 * ```ts
 * initialContext({ sessionId, tenant, user, channel: 'web' }).identity; // { tenant, user, role: 'customer' }
 * ```
 */
export function initialContext(input: SessionInput): AgentContext {
  const carried = (input.carriedContext ?? {}) as Partial<AgentContext>;
  return {
    identity: { tenant: input.tenant, user: input.user, role: 'customer' },
    session: input.sessionId,
    channel: input.channel,
    turn: null,
    route: null,
    verdict: null,
    awaiting: null,
    active: null,
    suspended: Array.isArray(carried.suspended) ? carried.suspended : [],
    plan: null,
    misses: 0,
    negativeTurns: 0,
    handoff: null,
    pendingApproval: null,
    knowledge: [],
    transcript: Array.isArray(carried.transcript) ? carried.transcript : [],
    interrupted: false,
    explained: false,
    parked: false,
    plans: typeof carried.plans === 'number' ? carried.plans : 0,
    carried: {},
  };
}

/**
 * A new task frame.
 *
 * @example
 * ```ts
 * newFrame('refund', 'request_refund', { orderId: '1042' });
 * ```
 */
export function newFrame(task: string, tool: string, slots: Record<string, Json> = {}, planStep?: number): TaskFrame {
  return {
    task,
    slots,
    facts: {},
    checked: [],
    confirmed: false,
    tool,
    attempt: 1,
    usedAlternative: false,
    retryInMs: 0,
    callIndex: 0,
    callTurn: '',
    ...(planStep !== undefined ? { planStep } : {}),
  };
}
