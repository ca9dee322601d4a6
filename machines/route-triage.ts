/**
 * The triage: reads one routed message against what the agent is waiting for and picks the
 * pattern that applies (DESIGN §4), in this order: an explicit answer to a choice ("the second",
 * "neither", "a ticket") → the user asks for a human (P8) → cancel (P13)
 * → the answer to the pending question (slot, confirmation, P1, P2, P7 offer, human offer) →
 * sustained negative sentiment → resume (P7) → correction (P13) → several requests (planner) →
 * out of scope (P5) → top two close (P2) → low confidence (P1) → the intent's handler. A message
 * that answers nothing while a question is pending is a miss (P4), counted by the chart.
 */
import type { Json } from '../src/types.js';
import type { RouteOutput } from './actor-contracts.js';
import type { AgentContext, Awaiting, Verdict } from './agent-context.js';
import { taskForIntent, taskNamed, type ResolvedAgentSpec, type ResolvedTask } from './resolve-agent-spec.js';

const ORDINAL_FIRST = /\b(first|former|1st|the one before|option (1|one|a))\b|^\s*(1|one|a)\s*[.!]?\s*$/i;
const ORDINAL_SECOND = /\b(second|latter|2nd|the other( one)?|option (2|two|b))\b|^\s*(2|two|b)\s*[.!]?\s*$/i;
const NEITHER = /\b(neither|none( of (them|those|these))?)\b/i;
/** "Both", "all my", "each of": a request over several of the user's records (the planner lists them). */
export const QUANTIFIER = /\b(both|all( of)?( my)?|each( of)?|every)\b/i;
const TICKET = /\b(ticket|e-?mail|write)\b/i;
const CALLBACK = /\b(call ?back|call me|phone|ring me)\b/i;

/** Values the text gives for the task's slots, other than those already held. */
function extractCorrections(task: ResolvedTask, slots: Readonly<Record<string, Json>>, text: string): Record<string, Json> {
  const found: Record<string, Json> = {};
  for (const slot of task.slots) {
    let value: Json | undefined;
    try {
      value = slot.extract(text, { slots, asked: false });
    } catch {
      value = undefined;
    }
    if (value !== undefined && JSON.stringify(value) !== JSON.stringify(slots[slot.name])) found[slot.name] = value;
  }
  return found;
}

/** Slot values a message carries when it starts a task ("refund order 1042"). */
export function extractInitialSlots(task: ResolvedTask, text: string, seed: Readonly<Record<string, Json>> = {}): Record<string, Json> {
  const slots: Record<string, Json> = { ...seed };
  for (const slot of task.slots) {
    if (slots[slot.name] !== undefined) continue;
    try {
      const value = slot.extract(text, { slots, asked: false });
      if (value !== undefined && (slot.validate?.(value, slots) ?? undefined) === undefined) slots[slot.name] = value;
    } catch {
      // A throwing extractor leaves the slot to be asked for.
    }
  }
  return slots;
}

function inScope(r: RouteOutput): boolean {
  return !r.outOfScope && r.ranked.length > 0 && r.confidence !== 'out_of_scope';
}

/**
 * True when the router settled on `intent`: the in-scope top candidate, read as confident or low
 * confidence (control intents act on this reading, with no confirmation asked).
 *
 * @example
 * ```ts
 * settledOn(route, spec.control.cancel); // "never mind" while queued for a human
 * ```
 */
export function settledOn(r: RouteOutput, intent: string): boolean {
  return inScope(r) && r.ranked[0]?.intent === intent && (r.confidence === 'confident' || r.confidence === 'low_confidence');
}

/** The handler of an intent once it is settled (confirmed, clarified or confident). */
function verdictForIntent(ctx: AgentContext, spec: ResolvedAgentSpec, intent: string, text: string): Verdict {
  const c = spec.control;
  if (taskForIntent(spec, intent)) return { kind: 'startTask', intent, text };
  if (spec.questionIntents.includes(intent)) return { kind: 'question', intent, text };
  if (Object.hasOwn(spec.smalltalk, intent)) return { kind: 'smalltalk', intent, text };
  if (intent === c.human) return { kind: 'handoff', reason: 'user_asked' };
  if (intent === c.cancel) return hasWork(ctx) ? { kind: 'cancel' } : { kind: 'nothingToCancel' };
  if (intent === c.resume) return ctx.suspended.length > 0 ? { kind: 'resume' } : { kind: 'nothingToResume' };
  if (intent === c.affirm || intent === c.deny) return { kind: 'acknowledge', intent };
  if (intent === c.correct) return { kind: 'askCorrection' };
  return { kind: 'outOfScope', reason: 'no_handler', intent };
}

function hasWork(ctx: AgentContext): boolean {
  return ctx.active !== null || ctx.plan !== null;
}

/**
 * True when a message that holds a value for the asked slot is still better read as a new request
 * (P7): the router is confident of another, non-control intent, and either the value was only a
 * loose reading ("where is my parcel" as a free-text reason) or the message would start that
 * other task with values of its own ("where is order 1042?" while a refund asks for its order).
 * A clear answer ("it arrived damaged" for a refund reason) fills the slot whatever the router says.
 */
function movesElsewhere(spec: ResolvedAgentSpec, r: RouteOutput, task: ResolvedTask, text: string, clearValue: boolean): boolean {
  const top = inScope(r) ? r.ranked[0]?.intent : undefined;
  if (r.confidence !== 'confident' || top === undefined || top === task.intent || Object.values(spec.control).includes(top)) return false;
  if (!clearValue) return true;
  const other = taskForIntent(spec, top);
  return other !== undefined && Object.keys(extractInitialSlots(other, text)).length > 0;
}

/** Reads the message as the answer to the pending question; undefined when it is not one. */
function readAnswer(ctx: AgentContext, r: RouteOutput, spec: ResolvedAgentSpec, a: Awaiting, text: string): Verdict | undefined {
  const top = inScope(r) ? r.ranked[0]?.intent : undefined;
  const c = spec.control;
  const yes = top === c.affirm;
  const no = top === c.deny;
  const task = taskNamed(spec, ctx.active?.task);
  const corrections = () => (task && ctx.active ? extractCorrections(task, ctx.active.slots, text) : {});
  switch (a.kind) {
    case 'slot': {
      const slot = task?.slots.find((s) => s.name === a.slot);
      if (!task || !slot || !ctx.active) return undefined;
      const read = (asked: boolean): Json | undefined => {
        try {
          return slot.extract(text, { slots: ctx.active?.slots ?? {}, asked });
        } catch {
          return undefined;
        }
      };
      const value = read(true);
      if (value !== undefined && !movesElsewhere(spec, r, task, text, read(false) !== undefined)) return { kind: 'fillSlot', slot: slot.name, value };
      if (top === c.correct) {
        const found = corrections();
        return Object.keys(found).length > 0 ? { kind: 'correct', corrections: found } : { kind: 'reprompt', reason: 'no_value' };
      }
      return undefined;
    }
    case 'confirm_task': {
      if (yes) return { kind: 'confirmTask' };
      const found = corrections();
      if (Object.keys(found).length > 0 && (no || top === c.correct || r.confidence !== 'confident' || top === task?.intent)) {
        return { kind: 'correct', corrections: found };
      }
      if (no) return { kind: 'declineTask' };
      if (top === c.correct) return { kind: 'askCorrection' };
      return undefined;
    }
    case 'confirm_intent':
      if (yes) return verdictForIntent(ctx, spec, a.intent, a.text);
      if (no) return { kind: 'rephrase', intent: a.intent };
      return undefined;
    case 'clarify': {
      const [first, second] = a.options;
      let chosen: string | undefined;
      if (top !== undefined && a.options.includes(top) && r.confidence !== 'ambiguous') chosen = top;
      else if (ORDINAL_FIRST.test(text)) chosen = first;
      else if (ORDINAL_SECOND.test(text)) chosen = second;
      else if (top !== undefined && a.options.includes(top)) chosen = top;
      if (chosen !== undefined) return verdictForIntent(ctx, spec, chosen, a.text);
      if (no || NEITHER.test(text)) return { kind: 'rephrase' };
      return undefined;
    }
    case 'resume':
      if (yes || top === c.resume) return { kind: 'resume' };
      if (no) return { kind: 'dropResume' };
      return undefined;
    case 'offer_human':
      if (yes) return { kind: 'handoff', reason: a.reason };
      if (no) return { kind: 'declineHuman' };
      return undefined;
    case 'handoff_alternative':
      if (spec.ticketTool && TICKET.test(text)) return { kind: 'ticket' };
      if (spec.callbackTool && CALLBACK.test(text)) return { kind: 'callback' };
      if (yes) return spec.ticketTool ? { kind: 'ticket' } : spec.callbackTool ? { kind: 'callback' } : { kind: 'declineHuman' };
      if (no) return { kind: 'declineHuman' };
      return undefined;
    case 'correction': {
      const found = corrections();
      return Object.keys(found).length > 0 ? { kind: 'correct', corrections: found } : undefined;
    }
    case 'rephrase':
      return undefined;
  }
}

/** True when the message holds several task requests, or one over "both/all" records. */
function multiRequest(ctx: AgentContext, r: RouteOutput, spec: ResolvedAgentSpec, text: string): boolean {
  const taskClauses = r.clauses.filter((cl) => cl.confidence !== 'out_of_scope' && taskForIntent(spec, cl.intent));
  if (taskClauses.length >= 2) return true;
  const top = r.ranked[0];
  const task = inScope(r) && r.confidence === 'confident' ? taskForIntent(spec, top?.intent) : undefined;
  return spec.listTool !== undefined && task !== undefined && task.slots.some((s) => s.lookup) && QUANTIFIER.test(text) && ctx.plan === null;
}

/** Misses while a question is pending: the general reading is not an answer, so reprompt (P4). */
const NOT_AN_ANSWER = new Set(['outOfScope', 'acknowledge', 'askCorrection', 'nothingToResume', 'nothingToCancel', 'confirmIntent', 'clarify']);

/**
 * Picks the verdict for the current turn's message. Pure; the chart branches on `kind`.
 *
 * @example
 * ```ts
 * triage(ctx, route, spec); // { kind: 'confirmIntent', intent: 'refund_request', text: 'money back?' }
 * triage(ctx, route, spec, { plan: false }); // the same reading without multi-request detection
 * ```
 */
export function triage(ctx: AgentContext, r: RouteOutput, spec: ResolvedAgentSpec, options: { readonly plan?: boolean } = {}): Verdict {
  const text = ctx.turn?.text ?? '';
  const a = ctx.awaiting;
  const c = spec.control;

  // "Neither" or "the second" while choosing between two intents, "a ticket" while a ticket or a
  // callback is offered, are answers, whatever the router reads.
  const explicit =
    (a?.kind === 'clarify' && (NEITHER.test(text) || ORDINAL_FIRST.test(text) || ORDINAL_SECOND.test(text))) ||
    (a?.kind === 'handoff_alternative' && (TICKET.test(text) || CALLBACK.test(text)));
  if (a && explicit) {
    const answer = readAnswer(ctx, r, spec, a, text);
    if (answer) return answer;
  }
  if (settledOn(r, c.human)) return { kind: 'handoff', reason: 'user_asked' };
  if (settledOn(r, c.cancel)) {
    // "Stop" to an offer of a human, a ticket or a callback declines the offer.
    if (a?.kind === 'offer_human' || a?.kind === 'handoff_alternative') return { kind: 'declineHuman' };
    return hasWork(ctx) ? { kind: 'cancel' } : a !== null ? { kind: 'cancel' } : { kind: 'nothingToCancel' };
  }
  if (a !== null) {
    const answer = readAnswer(ctx, r, spec, a, text);
    if (answer) return answer;
  }
  if (ctx.negativeTurns >= spec.policies.maxNegativeTurns && a?.kind !== 'offer_human') {
    return { kind: 'offerHuman', reason: 'negative_sentiment' };
  }
  if (settledOn(r, c.resume)) return ctx.suspended.length > 0 ? { kind: 'resume' } : { kind: 'nothingToResume' };
  if (settledOn(r, c.correct) && ctx.active) {
    const task = taskNamed(spec, ctx.active.task);
    const found = task ? extractCorrections(task, ctx.active.slots, text) : {};
    return Object.keys(found).length > 0 ? { kind: 'correct', corrections: found } : { kind: 'askCorrection' };
  }
  if (options.plan !== false && multiRequest(ctx, r, spec, text)) return { kind: 'plan', text };

  let general: Verdict;
  const first = r.ranked[0];
  const second = r.ranked[1];
  if (r.confidence === 'out_of_scope' || first === undefined) general = { kind: 'outOfScope', reason: r.outOfScopeReason ?? 'below_threshold' };
  else if (r.confidence === 'ambiguous' && second !== undefined) general = { kind: 'clarify', options: [first.intent, second.intent], text };
  else if (r.confidence === 'low_confidence') general = { kind: 'confirmIntent', intent: first.intent, text };
  else general = verdictForIntent(ctx, spec, first.intent, text);

  // While a slot or a confirmation is pending, only a clear new request interrupts (P7).
  const strict = a?.kind === 'slot' || a?.kind === 'confirm_task' || a?.kind === 'correction';
  if (strict && (r.confidence !== 'confident' || NOT_AN_ANSWER.has(general.kind))) return { kind: 'reprompt', reason: 'no_usable_answer' };
  if ((a?.kind === 'confirm_intent' || a?.kind === 'clarify') && NOT_AN_ANSWER.has(general.kind)) return { kind: 'reprompt', reason: 'no_usable_answer' };
  return general;
}
