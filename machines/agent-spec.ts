/**
 * The declarative description of an agent: the tasks it can do (slots, tool, confirmation,
 * replies), the intents it listens to, and the policies of its fallback patterns. Everything here
 * is plain data plus pure functions (extractors, validators, argument builders, templates), so a
 * chart built from it stays pure.
 */
import type { Json } from '../src/types.js';
import type { Template } from './template.js';

/** What an extractor sees besides the text: the slots filled so far, for context-dependent parsing. */
export interface SlotExtractContext {
  readonly slots: Readonly<Record<string, Json>>;
  /** True when the agent just asked for exactly this slot, so loose answers ("the blue one") count. */
  readonly asked: boolean;
}

/**
 * One piece of information a task needs.
 *
 * @example
 * ```ts
 * const orderId: SlotSpec = {
 *   name: 'orderId',
 *   prompt: 'Which order is it? Order numbers look like 1042.',
 *   extract: extractOrderNumber,
 *   lookup: { tool: 'lookup_order', args: (value) => ({ orderId: value }), fact: 'order' },
 * };
 * ```
 */
export interface SlotSpec {
  readonly name: string;
  /** Asked when the slot is missing. */
  readonly prompt: Template;
  /** Asked after a miss (P4); default: "Sorry, I didn't get that." followed by `prompt`. */
  readonly reprompt?: Template;
  /** Reads a value from a message; `undefined` when the message holds none. Must be pure. */
  readonly extract: (text: string, context: SlotExtractContext) => Json | undefined;
  /** Checks a value's format; returns the problem to tell the user, or `undefined` when fine. */
  readonly validate?: (value: Json, slots: Readonly<Record<string, Json>>) => string | undefined;
  /**
   * Checks existence and ownership with a tool (through the tool guard): the tool's result is kept
   * as `facts[fact]`; a refusal or `{ found: false }` empties the slot and counts a miss.
   */
  readonly lookup?: {
    readonly tool: string;
    readonly args: (value: Json, slots: Readonly<Record<string, Json>>) => Record<string, Json>;
    readonly fact: string;
    /**
     * The task cannot run without the fact (a refund's amount comes from the order): when the
     * lookup fails, the task takes its degraded answer instead of going on unchecked. Default
     * false: the lookup is skipped and the task's own tool checks again.
     */
    readonly required?: boolean;
  };
  /** Carried to later steps of a plan that lack it ("the same new address for both orders"). Default false. */
  readonly shared?: boolean;
  /** Words that name this slot in a correction ("no, the address is ..."). Default: the slot name. */
  readonly aliases?: readonly string[];
}

/** Replies of one task. Templates see `slots`, `facts`, `result`, `task` (its title) and `failure`. */
export interface TaskReplies {
  /** After the tool succeeded. Required. */
  readonly done: Template;
  /** When the tool answered `{ outcome: 'rejected' }` (a business refusal, not a failure). */
  readonly rejected?: Template;
  /** The local answer when the tool and its alternative failed (ladder rung "degraded"). */
  readonly degraded?: Template;
  /** When the task was cancelled by the user. */
  readonly cancelled?: Template;
  /** When a high-impact call waits for a human's approval. */
  readonly approval?: Template;
}

/**
 * One task: an intent that starts it, the slots to fill, the tool to run, and how to reply.
 *
 * @example
 * ```ts
 * const cancel: TaskSpec = {
 *   name: 'cancel_order', intent: 'cancel_order', title: 'order cancellation',
 *   slots: [orderId], tool: 'cancel_order', args: (s) => ({ orderId: s.orderId }),
 *   confirm: 'Cancel order {{slots.orderId}}?', replies: { done: 'Order {{slots.orderId}} is cancelled.' },
 * };
 * ```
 */
export interface TaskSpec {
  /** Unique name, used in states' data, decisions and plans. */
  readonly name: string;
  /** The router intent that starts it. */
  readonly intent: string;
  /** How replies name it ("your refund"). Default: `name` with spaces. */
  readonly title?: string;
  readonly slots: readonly SlotSpec[];
  /** The tool that does the work. */
  readonly tool: string;
  /** Builds the tool's arguments from the filled slots and the lookup facts. */
  readonly args: (slots: Readonly<Record<string, Json>>, facts: Readonly<Record<string, Json>>) => Record<string, Json>;
  /** A second tool tried when the first keeps failing or its breaker is open (ladder rung "alternative"). */
  readonly alternativeTool?: string;
  /** Present for high-impact tasks: asked before the tool runs; "yes" runs it, "no" cancels. */
  readonly confirm?: Template;
  readonly replies: TaskReplies;
  /** After the degraded answer, ask a human to take over. Default: true when there is no `degraded` reply. */
  readonly escalateOnFailure?: boolean;
}

/** Replies of the conversation patterns. Templates see `intent`, `options`, `reason`, `task`... */
export interface AgentReplies {
  readonly outOfScope: Template;
  readonly confirmIntent: Template;
  readonly rephrase: Template;
  readonly clarify: Template;
  readonly offerResume: Template;
  readonly resumed: Template;
  readonly suspended: Template;
  readonly cancelled: Template;
  readonly nothingToCancel: Template;
  readonly noKnowledge: Template;
  readonly offerHuman: Template;
  readonly declinedHuman: Template;
  readonly negativeSentiment: Template;
  readonly handoffRequested: Template;
  readonly handoffQueued: Template;
  readonly handoffAccepted: Template;
  readonly handoffCompleted: Template;
  readonly handoffUnavailable: Template;
  readonly handoffQueuedReminder: Template;
  readonly handoffLeftQueue: Template;
  readonly ticketCreated: Template;
  readonly callbackScheduled: Template;
  readonly gracefulExit: Template;
  readonly silenceNudge: Template;
  readonly silenceWarn: Template;
  readonly silencePark: Template;
  readonly welcomeBack: Template;
  readonly planIntro: Template;
  readonly planStepFailed: Template;
  readonly planDone: Template;
  readonly denied: Template;
  readonly approvalRejected: Template;
  readonly askCorrection: Template;
  readonly acknowledge: Template;
  readonly nothingToResume: Template;
  readonly toolFailed: Template;
}

/** Which intents drive the control flow. Unset ones are simply never matched. */
export interface ControlIntents {
  readonly affirm: string;
  readonly deny: string;
  readonly cancel: string;
  readonly correct: string;
  readonly resume: string;
  readonly human: string;
}

/**
 * Thresholds and limits of the patterns. Units are in the names.
 *
 * @example
 * ```ts
 * resolvePolicies({ maxReprompts: 3, silenceNudgeMs: 30_000 });
 * ```
 */
export interface AgentPolicies {
  /** Misses (unusable answers, failed validations, out-of-scope turns) in a row before a hand-off (P4). Default 2. */
  readonly maxReprompts: number;
  /** Attempts of one tool, the first included, before the ladder moves on (P10). Default 3. */
  readonly maxToolAttempts: number;
  /** Silence before a nudge when the agent waits for an answer (P12). Default 60 000. */
  readonly silenceNudgeMs: number;
  /** Further silence before the warning. Default 120 000. */
  readonly silenceWarnMs: number;
  /** Further silence before the session is parked. Default 300 000. */
  readonly silenceParkMs: number;
  /** Longest wait in the hand-off queue before "unavailable" (P8/P9 SLA). Default 180 000. */
  readonly handoffSlaMs: number;
  /** Sentiment at or below this counts as negative, in [-1, 0]. Default -0.5. */
  readonly negativeSentimentThreshold: number;
  /** Negative turns in a row before a human is offered. Default 2. */
  readonly maxNegativeTurns: number;
  /** Suspended tasks kept (P7); the oldest is dropped beyond it. Default 3. */
  readonly maxSuspendedTasks: number;
  /** Transcript entries kept for the human who takes over. Default 30. */
  readonly maxTranscriptEntries: number;
  /** Steps of one plan. Default 5. */
  readonly maxPlanSteps: number;
  /** Knowledge hits returned to draft an answer. Default 3. */
  readonly knowledgeHits: number;
}

/** The defaults of {@link AgentPolicies}. */
export const defaultPolicies: Readonly<AgentPolicies> = Object.freeze({
  maxReprompts: 2,
  maxToolAttempts: 3,
  silenceNudgeMs: 60_000,
  silenceWarnMs: 120_000,
  silenceParkMs: 300_000,
  handoffSlaMs: 180_000,
  negativeSentimentThreshold: -0.5,
  maxNegativeTurns: 2,
  maxSuspendedTasks: 3,
  maxTranscriptEntries: 30,
  maxPlanSteps: 5,
  knowledgeHits: 3,
});

/**
 * Fills defaults, validates (a TypeError names the bad option) and freezes.
 *
 * @example
 * ```ts
 * resolvePolicies({ maxReprompts: 0 }); // ok
 * resolvePolicies({ silenceNudgeMs: -1 }); // TypeError: option silenceNudgeMs ...
 * ```
 */
export function resolvePolicies(policies: Partial<AgentPolicies> = {}): Readonly<AgentPolicies> {
  const resolved = { ...defaultPolicies } as Record<keyof AgentPolicies, number>;
  for (const [key, value] of Object.entries(policies)) {
    if (value === undefined) continue;
    if (!(key in defaultPolicies)) throw new TypeError(`option ${key} is not an agent policy`);
    resolved[key as keyof AgentPolicies] = value as number;
  }
  const intAtLeast = (name: keyof AgentPolicies, min: number) => {
    const v = resolved[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) throw new TypeError(`option ${name} must be an integer ≥ ${min}, got ${String(v)}`);
  };
  intAtLeast('maxReprompts', 0);
  intAtLeast('maxToolAttempts', 1);
  for (const name of ['silenceNudgeMs', 'silenceWarnMs', 'silenceParkMs', 'handoffSlaMs'] as const) intAtLeast(name, 1);
  intAtLeast('maxNegativeTurns', 1);
  intAtLeast('maxSuspendedTasks', 0);
  intAtLeast('maxTranscriptEntries', 1);
  intAtLeast('maxPlanSteps', 1);
  intAtLeast('knowledgeHits', 1);
  const t = resolved.negativeSentimentThreshold;
  if (typeof t !== 'number' || !(t >= -1 && t <= 0)) throw new TypeError(`option negativeSentimentThreshold must be in [-1, 0], got ${String(t)}`);
  return Object.freeze(resolved as AgentPolicies);
}

/**
 * A whole agent.
 *
 * @example
 * ```ts
 * const machine = createAgentMachine({
 *   id: 'helpdesk', tasks: [resetPassword], questionIntents: ['it_question'],
 *   smalltalk: { greeting: 'Hi! I can reset passwords.' }, policies: { maxReprompts: 1 },
 * });
 * ```
 */
export interface AgentSpec {
  /** Machine id, stored with snapshots. Default `'agent'`. */
  readonly id?: string;
  readonly tasks: readonly TaskSpec[];
  /** Intents answered from the knowledge base (grounded only). Default `[]`. */
  readonly questionIntents?: readonly string[];
  /** Small-talk intents and their templated answers. Default `{}`. */
  readonly smalltalk?: Readonly<Record<string, Template>>;
  /** Names of the control intents. Default: `affirm`, `deny`, `cancel`, `correct`, `resume`, `human_agent`. */
  readonly controlIntents?: Partial<ControlIntents>;
  /** How replies name intents ("check an order's status"). Default: the intent with spaces. */
  readonly intentLabels?: Readonly<Record<string, string>>;
  /** Overrides of the default pattern replies. */
  readonly replies?: Partial<AgentReplies>;
  readonly policies?: Partial<AgentPolicies>;
  /** Tools the LLM may call while answering questions (never task tools). Default `[]`. */
  readonly answerTools?: readonly string[];
  /** Tool that opens a support ticket when no human is available. Default none: the offer is skipped. */
  readonly ticketTool?: string;
  /** Tool that schedules a callback. Default none. */
  readonly callbackTool?: string;
  /** Tool that lists the user's records, for plans over "both/all orders". Default none. */
  readonly listTool?: string;
}
