/**
 * The catalogue of conversation patterns (DESIGN §4) and where each lives in the agent chart: a
 * state you can see in the inspector, or a guard/verdict the triage branches on. The `route`
 * decision of every message names the pattern that applied (`data.pattern`), so the trace reads
 * in the catalogue's terms.
 */

/** A pattern's id. */
export type PatternId = 'P1' | 'P2' | 'P3' | 'P4' | 'P5' | 'P6' | 'P7' | 'P8' | 'P9' | 'P10' | 'P11' | 'P12' | 'P13' | 'P14';

/** One pattern: what it is, and the state ids (`#id` or `region.path`) and guards that implement it. */
export interface PatternEntry {
  readonly id: PatternId;
  readonly name: string;
  /** State paths from the machine root, e.g. `conversation.confirmingIntent`. */
  readonly states: readonly string[];
  /** Named guards of the setup, or triage verdict kinds (`verdict:clarify`). */
  readonly guards: readonly string[];
}

/**
 * Every pattern, in catalogue order.
 *
 * @example
 * ```ts
 * PATTERNS.find((p) => p.id === 'P2')?.states; // ['conversation.clarifying']
 * ```
 */
export const PATTERNS: readonly PatternEntry[] = Object.freeze([
  { id: 'P1', name: 'low confidence: confirm the best guess (two-stage with P3)', states: ['conversation.confirmingIntent'], guards: ['verdict:confirmIntent'] },
  { id: 'P2', name: 'top two close: clarify between them', states: ['conversation.clarifying'], guards: ['verdict:clarify'] },
  { id: 'P3', name: 'rephrase after a denied guess', states: ['conversation.rephrasing'], guards: ['verdict:rephrase'] },
  { id: 'P4', name: 'counted reprompts that escalate after maxReprompts misses', states: ['conversation.resumeWaiting', 'conversation.task.dispatch'], guards: ['verdict:reprompt', 'tooManyMisses'] },
  { id: 'P5', name: 'out of scope: typed reason, "I can\'t help with that", offer a human', states: ['conversation.offeringHuman'], guards: ['verdict:outOfScope'] },
  { id: 'P6', name: 'digression: a question or small talk inside a task, then back to it', states: ['conversation.answering', 'conversation.afterAnswer', 'conversation.task.hist'], guards: ['verdict:question', 'verdict:smalltalk'] },
  { id: 'P7', name: 'interruption: a new task suspends the current one and offers to resume it', states: ['conversation.offeringResume'], guards: ['verdict:startTask', 'verdict:resume', 'hasSuspended'] },
  { id: 'P8', name: 'hand-off protocol: requested → queued → accepted → with agent → completed', states: ['conversation.handoff.requested', 'conversation.handoff.queued', 'conversation.handoff.withAgent', 'conversation.handoff.completed'], guards: ['verdict:handoff'] },
  { id: 'P9', name: 'no human available: offer a ticket or a callback, keep the session', states: ['conversation.handoff.unavailable', 'conversation.handoff.failed', 'conversation.offeringAlternatives', 'conversation.ticketing', 'conversation.schedulingCallback'], guards: ['canOfferAlternatives'] },
  { id: 'P10', name: 'technical-failure ladder: timeout → retry → breaker → alternative → degraded → human → graceful exit', states: ['conversation.task.executing', 'conversation.task.retrying', 'conversation.task.circuitOpen', 'conversation.task.alternative', 'conversation.task.degraded', 'conversation.handoff', 'conversation.gracefulExit'], guards: ['ladderIs', 'escalatesOnFailure'] },
  { id: 'P11', name: 'multi-intent plans: several tasks in order, re-planned on failure or a change of course', states: ['conversation.planning', 'conversation.afterTask'], guards: ['verdict:plan', 'hasNextPlanStep'] },
  { id: 'P12', name: 'silence: nudge, warn, park', states: ['silence.watching', 'silence.nudged', 'silence.warned', 'conversation.parked'], guards: [] },
  { id: 'P13', name: 'corrections and cancel in every flow', states: ['conversation.askingCorrection'], guards: ['verdict:cancel', 'verdict:correct', 'verdict:askCorrection'] },
  { id: 'P14', name: 'sentiment and signals: negative turns, operator and SLA signals lead to a human', states: ['conversation.offeringHuman', 'approvals.waiting'], guards: ['verdict:offerHuman'] },
] as const satisfies readonly PatternEntry[]);
