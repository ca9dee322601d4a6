/**
 * Steps of the hand-off protocol (P8/P9): requested → queued → accepted → with agent →
 * completed, or unavailable / failed with an offer of a ticket or a callback. Each step emits an
 * `agent.handoff` update for the client and a decision for the trace; the session is never left
 * at a dead end.
 */
import type { Json } from '../src/types.js';
import type { HandoffInput, HandoffOutput, ToolCallInput, ToolOutcome } from './actor-contracts.js';
import type { AgentContext } from './agent-context.js';
import type { AgentEvent } from './agent-events.js';
import { outputOf } from './agent-setup.js';
import { taskNamed, type ResolvedAgentSpec } from './resolve-agent-spec.js';
import { step, type StepResult } from './step.js';
import { renderTemplate } from './template.js';

const str = (value: unknown, fallback: string, maxChars = 200): string =>
  typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, maxChars) : fallback;

/** The reason an event gives (`signal.handoff`, `handoff.unavailable`...), if any. */
const reasonIn = (event: AgentEvent): string | undefined => {
  const own = (event as { reason?: unknown }).reason;
  return typeof own === 'string' && own !== '' ? own.slice(0, 100) : undefined;
};

/** The reference a ticket or callback tool answered with, if it did. */
const ticketOf = (event: unknown): string | undefined => {
  const out = outputOf<ToolOutcome | undefined>(event);
  return out?.status === 'ok' && typeof out.result === 'object' && out.result !== null && !Array.isArray(out.result) && typeof out.result.ticket === 'string' ? out.result.ticket : undefined;
};

/**
 * Creates the hand-off steps of an agent.
 *
 * @example
 * ```ts
 * const handoff = createHandoffSteps(spec);
 * kit.act(handoff.begin('user_asked'));
 * ```
 */
export function createHandoffSteps(spec: ResolvedAgentSpec) {
  const p = spec.policies;
  const max = p.maxTranscriptEntries;
  const r = spec.replies;

  const unavailable = (status: 'unavailable' | 'failed', reasonOf: (ctx: AgentContext, event: AgentEvent) => string) =>
    (ctx: AgentContext, event: AgentEvent): StepResult => {
      const reason = reasonOf(ctx, event);
      const canTicket = spec.ticketTool !== undefined;
      const canCallback = spec.callbackTool !== undefined;
      const s = step(ctx, max)
        .set({ handoff: { status, reason: ctx.handoff?.reason ?? 'unknown', outcome: reason }, awaiting: canTicket || canCallback ? { kind: 'handoff_alternative' } : null })
        .handoff(status, reason, { offered: [...(canTicket ? ['ticket'] : []), ...(canCallback ? ['callback'] : [])] })
        .decide('handoff', status, { reason, pattern: 'P9', offered: canTicket || canCallback });
      return s.say(renderTemplate(r.handoffUnavailable, { reason, canTicket, canCallback }), { handoff: status }).done();
    };

  return {
    /**
     * Opens a hand-off. The reason is `explicit`, else the event's `reason`, else the verdict's.
     * The task in progress and any plan go to the human with the transcript.
     */
    begin(explicit?: string) {
      return (ctx: AgentContext, event: AgentEvent): StepResult => {
        const reason = explicit ?? reasonIn(event) ?? ctx.verdict?.reason ?? 'user_asked';
        const s = step(ctx, max);
        if (ctx.plan) s.decide('plan', 'plan_abandoned', { plan: ctx.plan.id, why: 'handoff' });
        s.set({ handoff: { status: 'requested', reason }, awaiting: null, misses: 0, negativeTurns: 0, plan: null });
        if (ctx.active) s.set({ active: { ...ctx.active, outcome: 'handed_off' } });
        s.decide('escalate', reason, { pattern: 'P8', task: ctx.active?.task ?? null, misses: ctx.misses });
        s.handoff('requested', reason);
        return s.say(renderTemplate(r.handoffRequested, { reason }), { handoff: 'requested' }).done();
      };
    },
    /** What the human gets: the transcript, the context and the reason. */
    handoffInput(ctx: AgentContext): HandoffInput {
      const active = ctx.active;
      const summary: Record<string, Json> = {
        task: active?.task ?? null,
        taskTitle: taskNamed(spec, active?.task)?.title ?? null,
        slots: active?.slots ?? {},
        facts: active?.facts ?? {},
        failure: active?.failure ? { reason: active.failure.reason } : null,
        suspended: ctx.suspended.map((f) => f.frame.task),
        channel: ctx.channel,
      };
      return {
        reason: ctx.handoff?.reason ?? 'user_asked',
        session: ctx.session,
        identity: ctx.identity,
        transcript: ctx.transcript.map((t) => ({ role: t.role, text: t.text, at: t.at })),
        summary,
        key: `${ctx.turn?.key ?? ctx.session}:handoff`,
      };
    },
    /** The desk answered the request. */
    requested(ctx: AgentContext, event: AgentEvent): StepResult {
      const out = outputOf<HandoffOutput | undefined>(event);
      const s = step(ctx, max).set({ active: null });
      const position = typeof out?.position === 'number' ? out.position : undefined;
      const status = out?.status === 'queued' ? 'queued' : out?.status === 'failed' ? 'failed' : 'unavailable';
      s.set({ handoff: { status, reason: ctx.handoff?.reason ?? 'user_asked', ...(position !== undefined ? { position } : {}), ...(out?.reason ? { outcome: out.reason } : {}) } });
      return s.done();
    },
    /** The request waits in a queue. */
    queued(ctx: AgentContext): StepResult {
      const position = ctx.handoff?.position;
      return step(ctx, max)
        .handoff('queued', ctx.handoff?.reason ?? '', position !== undefined ? { position } : undefined)
        .decide('handoff', 'queued', { reason: ctx.handoff?.reason ?? '', position: position ?? null, slaMs: p.handoffSlaMs })
        .say(renderTemplate(r.handoffQueued, { position }), { handoff: 'queued' })
        .done();
    },
    /** A queue position update from the desk. */
    position(ctx: AgentContext, event: AgentEvent): StepResult {
      const position = (event as { position?: unknown }).position;
      if (typeof position !== 'number' || !ctx.handoff) return step(ctx, max).done();
      return step(ctx, max).set({ handoff: { ...ctx.handoff, position } }).handoff('queued', ctx.handoff.reason, { position }).done();
    },
    /** Nobody can take the conversation (the desk said so, or the queue's SLA ran out). */
    unavailable: unavailable('unavailable', (ctx, event) => reasonIn(event) ?? ctx.handoff?.outcome ?? 'no_agent_available'),
    slaExpired: unavailable('unavailable', () => 'sla_expired'),
    failed: unavailable('failed', (ctx, event) => reasonIn(event) ?? ctx.handoff?.outcome ?? 'desk_failed'),
    /** A human took the conversation. */
    accepted(ctx: AgentContext, event: AgentEvent): StepResult {
      const agent = str((event as { agent?: unknown }).agent, '', 80);
      // Who took it, as the runtime verified them: the conversation is theirs until it is released.
      const agentUser = str((event as { agentUser?: unknown }).agentUser, '', 128);
      const meta = { ...(agent ? { agent } : {}), ...(agentUser ? { agentUser } : {}) };
      const reason = ctx.handoff?.reason ?? '';
      return step(ctx, max)
        .set({ handoff: { status: 'with_agent', reason, ...(agent ? { agent } : {}) } })
        .handoff('accepted', reason, meta)
        .decide('handoff', 'accepted', { agent: agent || null })
        .say(renderTemplate(r.handoffAccepted, { agent }), { handoff: 'accepted' })
        .handoff('with_agent', reason, meta)
        .done();
    },
    /** A customer message while a human has the conversation: relayed, not answered by the agent. */
    relayCustomer(ctx: AgentContext): StepResult {
      const text = ctx.turn?.text ?? '';
      return step(ctx, max)
        .decide('handoff', 'relayed_to_agent', { text, agent: ctx.handoff?.agent ?? null })
        .emitRaw({ type: 'agent.reply', text: '', meta: { relayed: true, silent: true, handoff: 'with_agent' } })
        .done();
    },
    /** A customer message while queued: passed on, with a reminder. */
    queuedReminder(ctx: AgentContext): StepResult {
      return step(ctx, max)
        .decide('handoff', 'relayed_to_queue', { text: ctx.turn?.text ?? '' })
        .say(renderTemplate(r.handoffQueuedReminder, {}), { handoff: 'queued', relayed: true })
        .done();
    },
    /** A human's message, relayed to the customer. */
    relayAgent(ctx: AgentContext, event: AgentEvent): StepResult {
      const e = event as { text?: unknown; agent?: unknown };
      const text = str(e.text, '', 4000);
      if (text === '') return step(ctx, max).decide('handoff', 'empty_agent_message', {}).done();
      const agent = str(e.agent, ctx.handoff?.agent ?? '', 80);
      return step(ctx, max)
        .decide('handoff', 'agent_message', { agent: agent || null })
        .emitRaw({ type: 'agent.reply', text, meta: { from: 'human', ...(agent ? { agent } : {}) } })
        .done();
    },
    /** The human closed the conversation (or an operator released it). */
    completed(ctx: AgentContext, event: AgentEvent): StepResult {
      const summary = str((event as { summary?: unknown }).summary, '', 500);
      return step(ctx, max)
        .set({ handoff: null, awaiting: null })
        .handoff('completed', ctx.handoff?.reason ?? '', summary ? { summary } : undefined)
        .decide('handoff', 'completed', { agent: ctx.handoff?.agent ?? null })
        .say(renderTemplate(r.handoffCompleted, { agent: ctx.handoff?.agent ?? '' }), { handoff: 'completed' })
        .done();
    },
    /** The customer left the queue ("never mind"): the agent carries on. */
    leftQueue(ctx: AgentContext): StepResult {
      return step(ctx, max)
        .set({ handoff: null, awaiting: null })
        .handoff('completed', 'withdrawn_by_customer')
        .decide('handoff', 'withdrawn_by_customer', {})
        .say(renderTemplate(r.handoffLeftQueue, {}))
        .done();
    },
    /** Input of the ticket or callback tool (the graceful exit). */
    ticketInput(kind: 'ticket' | 'callback') {
      return (ctx: AgentContext): ToolCallInput => {
        const tool = (kind === 'ticket' ? spec.ticketTool : spec.callbackTool) ?? 'unknown';
        const turn = ctx.turn;
        const n = (turn?.toolCalls ?? 0) + 1;
        const lastUser = [...ctx.transcript].reverse().find((t) => t.role === 'user')?.text ?? '';
        return {
          tool,
          args: { reason: (ctx.handoff?.reason ?? 'support').slice(0, 100), summary: lastUser.slice(0, 500) },
          key: `${turn?.key ?? ctx.session}:${tool}:${n}`,
          identity: ctx.identity,
          session: ctx.session,
          callsThisTurn: n - 1,
          allowedTools: [tool],
          attempt: 1,
        };
      };
    },
    /** True when a ticket or callback tool answered with a reference. */
    arranged(event: unknown): boolean {
      return ticketOf(event) !== undefined;
    },
    /**
     * The last rung of the ladder: no human, no ticket, no callback. The customer has already been
     * told so; the session is kept, and nothing of theirs is lost.
     */
    gracefulExit(ctx: AgentContext): StepResult {
      return step(ctx, max)
        .set({ handoff: null, awaiting: null })
        .decide('fallback', 'graceful_exit', { pattern: 'P10', reason: ctx.handoff?.outcome ?? ctx.handoff?.reason ?? 'no_alternative', suspended: ctx.suspended.length })
        .done();
    },
    /** The ticket or callback was (or could not be) arranged; the session goes on either way. */
    ticketDone(kind: 'ticket' | 'callback') {
      return (ctx: AgentContext, event: AgentEvent): StepResult => {
        const s = step(ctx, max).set({ handoff: null, awaiting: null });
        if (ctx.turn) s.set({ turn: { ...ctx.turn, toolCalls: ctx.turn.toolCalls + 1 } });
        const ticket = ticketOf(event);
        if (ticket === undefined) {
          s.decide('fallback', `${kind}_failed`, { status: outputOf<ToolOutcome | undefined>(event)?.status ?? 'error', next: 'graceful_exit' });
          return s.say(renderTemplate(r.gracefulExit, { task: 'request' })).done();
        }
        s.decide('handoff', kind === 'ticket' ? 'ticket_created' : 'callback_scheduled', { ticket });
        return s.say(renderTemplate(kind === 'ticket' ? r.ticketCreated : r.callbackScheduled, { ticket })).done();
      };
    },
  };
}
