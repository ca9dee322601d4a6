/**
 * Steps of the conversation patterns outside a task: confirm a guess (P1) or ask to rephrase
 * (P3), clarify between two intents (P2), out of scope (P5), counted misses (P4), resume offers
 * (P7), cancels (P13), offers of a human, and the silence ladder (P12).
 */
import type { Json } from '../src/types.js';
import type { AgentContext, SuspendedFrame } from './agent-context.js';
import type { AgentEvent } from './agent-events.js';
import { labelOf, taskNamed, type ResolvedAgentSpec } from './resolve-agent-spec.js';
import { step, type StepResult } from './step.js';
import { renderTemplate, type Template } from './template.js';

const SORRY = "Sorry, I didn't catch that.";

/**
 * Creates the dialog steps of an agent.
 *
 * @example
 * ```ts
 * const dialog = createDialogSteps(spec);
 * kit.act(dialog.promptConfirmIntent);
 * ```
 */
export function createDialogSteps(spec: ResolvedAgentSpec) {
  const p = spec.policies;
  const max = p.maxTranscriptEntries;
  const r = spec.replies;
  const say = (t: Template, vars: Record<string, unknown> = {}) => renderTemplate(t, { capabilities: spec.capabilities, ...vars });
  const titleOf = (task: string | undefined) => taskNamed(spec, task)?.title ?? task ?? 'request';
  const sorry = (ctx: AgentContext) => (ctx.misses > 0 ? `${SORRY} ` : '');

  /** What the agent is waiting for, in words (for nudges). */
  const question = (ctx: AgentContext): string => {
    const a = ctx.awaiting;
    const task = taskNamed(spec, ctx.active?.task);
    switch (a?.kind) {
      case 'slot': {
        const slot = task?.slots.find((s) => s.name === a.slot);
        return slot ? say(slot.prompt, { slots: ctx.active?.slots ?? {}, facts: ctx.active?.facts ?? {}, task: task?.title }) : '';
      }
      case 'confirm_task':
        return 'Shall I go ahead?';
      case 'confirm_intent':
        return say(r.confirmIntent, { label: labelOf(spec, a.intent) });
      case 'clarify':
        return say(r.clarify, { options: a.options.map((o) => labelOf(spec, o)) });
      case 'resume':
        return say(r.offerResume, { task: titleOf(ctx.suspended[ctx.suspended.length - 1]?.frame.task) });
      case 'offer_human':
        return say(r.offerHuman);
      default:
        return '';
    }
  };

  return {
    question,
    /** P1, stage 1: confirm the best guess. */
    promptConfirmIntent(ctx: AgentContext): StepResult {
      const v = ctx.verdict;
      const s = step(ctx, max);
      if (v?.kind === 'confirmIntent' && v.intent !== undefined) s.set({ awaiting: { kind: 'confirm_intent', intent: v.intent, text: v.text ?? '' } });
      const a = s.ctx.awaiting;
      const intent = a?.kind === 'confirm_intent' ? a.intent : '';
      return s.say(`${sorry(ctx)}${say(r.confirmIntent, { label: labelOf(spec, intent), intent })}`).done();
    },
    /** P1, stage 2 (P3): the guess was wrong, ask to rephrase. */
    promptRephrase(ctx: AgentContext): StepResult {
      return step(ctx, max).set({ awaiting: { kind: 'rephrase' } }).say(say(r.rephrase)).done();
    },
    /** P2: the top two are close, ask which one. */
    promptClarify(ctx: AgentContext): StepResult {
      const v = ctx.verdict;
      const s = step(ctx, max);
      if (v?.kind === 'clarify' && v.options) s.set({ awaiting: { kind: 'clarify', options: v.options.slice(0, 2), text: v.text ?? '' } });
      const a = s.ctx.awaiting;
      const options = a?.kind === 'clarify' ? a.options : [];
      return s.say(`${sorry(ctx)}${say(r.clarify, { options: options.map((o) => labelOf(spec, o)), intents: options })}`).done();
    },
    /** P5: never an invented answer; a typed reason and an offer of a human. */
    outOfScope(ctx: AgentContext): StepResult {
      const reason = ctx.verdict?.reason ?? 'below_threshold';
      return step(ctx, max)
        .set({ awaiting: { kind: 'offer_human', reason: 'out_of_scope' } })
        .decide('fallback', 'out_of_scope', { reason, pattern: 'P5', misses: ctx.misses })
        .say(say(r.outOfScope, { reason }), { reason: `out_of_scope:${reason}` })
        .done();
    },
    /** Offers a human (negative sentiment); after a miss, offers it again. Other paths said it already. */
    promptOfferHuman(ctx: AgentContext): StepResult {
      const v = ctx.verdict;
      const s = step(ctx, max);
      if (v?.kind === 'offerHuman') {
        s.set({ awaiting: { kind: 'offer_human', reason: v.reason ?? 'offered' }, negativeTurns: 0 });
        s.decide('escalate', v.reason ?? 'offered', { offered: 'human' });
        return s.say(say(v.reason === 'negative_sentiment' ? r.negativeSentiment : r.offerHuman)).done();
      }
      if (v?.kind === 'reprompt') return s.say(`${SORRY} ${say(r.offerHuman)}`).done();
      return s.done();
    },
    /** After a miss while a ticket or callback was offered: offer again. */
    promptAlternatives(ctx: AgentContext): StepResult {
      if (ctx.verdict?.kind !== 'reprompt') return step(ctx, max).done();
      return step(ctx, max).say(`${SORRY} ${say(r.handoffUnavailable, { canTicket: spec.ticketTool !== undefined, canCallback: spec.callbackTool !== undefined })}`).done();
    },
    /** P4: a miss is counted; the pending question is asked again by the state it returns to. */
    miss(ctx: AgentContext): StepResult {
      return step(ctx, max)
        .decide('fallback', 'reprompt', { misses: ctx.misses, maxReprompts: p.maxReprompts, awaiting: ctx.awaiting?.kind ?? null, pattern: 'P4' })
        .done();
    },
    /** P7: offers to resume the most recent suspended task. */
    promptResume(ctx: AgentContext): StepResult {
      const top = ctx.suspended[ctx.suspended.length - 1];
      return step(ctx, max)
        .set({ awaiting: { kind: 'resume' } })
        .decide('plan', 'offer_resume', { task: top?.frame.task ?? null, suspended: ctx.suspended.length, pattern: 'P7' })
        .say(`${sorry(ctx)}${say(r.offerResume, { task: titleOf(top?.frame.task) })}`)
        .done();
    },
    /** P7: the user does not want the suspended task back. */
    dropResume(ctx: AgentContext): StepResult {
      const top = ctx.suspended[ctx.suspended.length - 1];
      return step(ctx, max)
        .set({ suspended: ctx.suspended.slice(0, -1), awaiting: null })
        .decide('plan', 'resume_declined', { task: top?.frame.task ?? null, pattern: 'P7' })
        .say(say(r.acknowledge))
        .done();
    },
    /** P13: cancel whatever is in progress (task, plan) and say so. */
    cancel(ctx: AgentContext): StepResult {
      const s = step(ctx, max).set({ awaiting: null });
      const active = ctx.active;
      if (ctx.plan) {
        s.decide('plan', 'plan_cancelled', { plan: ctx.plan.id, pattern: 'P13' });
        s.set({ plan: null });
      }
      if (active) {
        const task = taskNamed(spec, active.task);
        s.set({ active: { ...active, outcome: 'cancelled' } });
        s.decide('transition', 'task_cancelled', { task: active.task, pattern: 'P13' });
        s.say(say(task?.replies.cancelled ?? r.cancelled, { task: task?.title ?? active.task, slots: active.slots }));
        return s.done();
      }
      // "Stop" to "shall we get back to your refund?" cancels that suspended task for good.
      const offered = ctx.awaiting?.kind === 'resume' ? ctx.suspended[ctx.suspended.length - 1] : undefined;
      if (offered) {
        const task = taskNamed(spec, offered.frame.task);
        s.set({ suspended: ctx.suspended.slice(0, -1) });
        s.decide('transition', 'task_cancelled', { task: offered.frame.task, pattern: 'P13', suspended: true });
        return s.say(say(task?.replies.cancelled ?? r.cancelled, { task: task?.title ?? offered.frame.task, slots: offered.frame.slots })).done();
      }
      return s.say(say(r.acknowledge)).done();
    },
    /** Replies that need no state of their own. */
    say(template: keyof typeof r) {
      return (ctx: AgentContext): StepResult => step(ctx, max).set({ awaiting: null }).say(say(r[template])).done();
    },
    /** The user declined a human: carry on. */
    declineHuman(ctx: AgentContext): StepResult {
      return step(ctx, max).set({ awaiting: null }).decide('escalate', 'declined_by_user', {}).say(say(r.declinedHuman)).done();
    },
    /** P12: the first silence step. */
    nudge(ctx: AgentContext): StepResult {
      return step(ctx, max).decide('signal', 'silence_nudge', { pattern: 'P12', awaiting: ctx.awaiting?.kind ?? null }).say(say(r.silenceNudge, { question: question(ctx) }), { silence: 'nudge' }).done();
    },
    /** P12: the warning before parking. */
    warn(ctx: AgentContext): StepResult {
      return step(ctx, max).decide('signal', 'silence_warn', { pattern: 'P12' }).say(say(r.silenceWarn), { silence: 'warn' }).done();
    },
    /** P12: park: the task in progress is kept as suspended work, resumable with "continue". */
    park(ctx: AgentContext): StepResult {
      const s = step(ctx, max).set({ awaiting: null, parked: true, misses: 0 });
      if (ctx.active) {
        const frame: SuspendedFrame = { frame: { ...ctx.active, outcome: undefined, rung: undefined }, plan: ctx.plan };
        const suspended = [...ctx.suspended, frame].slice(-Math.max(1, p.maxSuspendedTasks));
        s.set({ suspended, active: null, plan: null });
      }
      const data: Record<string, Json> = { pattern: 'P12', suspended: s.ctx.suspended.length };
      return s.decide('signal', 'silence_park', data).say(say(r.silencePark), { silence: 'park' }).done();
    },
    /** An operator's words, relayed as they are. */
    operatorSay(ctx: AgentContext, event: AgentEvent): StepResult {
      const e = event as { text?: unknown; agent?: unknown };
      if (typeof e.text !== 'string' || e.text.trim() === '') return step(ctx, max).decide('signal', 'operator_say_ignored', { why: 'no text' }).done();
      const meta: Record<string, Json> = { from: 'operator', ...(typeof e.agent === 'string' ? { agent: e.agent } : {}) };
      return step(ctx, max).decide('signal', 'operator_say', {}).emitRaw({ type: 'agent.reply', text: e.text.slice(0, 4000), meta }).done();
    },
    /** True when an external sentiment score makes the negative turns reach the policy's limit. */
    sentimentReachesLimit(ctx: AgentContext, event: AgentEvent): boolean {
      const score = (event as { score?: unknown }).score;
      return typeof score === 'number' && Number.isFinite(score) && score <= p.negativeSentimentThreshold && ctx.negativeTurns + 1 >= p.maxNegativeTurns;
    },
    /** P14: the external score reached the limit: the chart offers a human now (promptOfferHuman says it). */
    sentimentOffer(ctx: AgentContext, event: AgentEvent): StepResult {
      const score = (event as { score?: unknown }).score as number;
      return step(ctx, max)
        .set({ negativeTurns: ctx.negativeTurns + 1, verdict: { kind: 'offerHuman', reason: 'negative_sentiment' } })
        .decide('signal', 'sentiment', { pattern: 'P14', score, negativeTurns: ctx.negativeTurns + 1, maxNegativeTurns: p.maxNegativeTurns })
        .done();
    },
    /** An external sentiment signal counts like a negative turn. */
    sentimentSignal(ctx: AgentContext, event: AgentEvent): StepResult {
      const score = (event as { score?: unknown }).score;
      if (typeof score !== 'number' || !Number.isFinite(score)) return step(ctx, max).decide('signal', 'sentiment_ignored', { why: 'no score' }).done();
      const negativeTurns = score <= p.negativeSentimentThreshold ? ctx.negativeTurns + 1 : 0;
      return step(ctx, max).set({ negativeTurns }).decide('signal', 'sentiment', { pattern: 'P14', score, negativeTurns, maxNegativeTurns: p.maxNegativeTurns }).done();
    },
  };
}
