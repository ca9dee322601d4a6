/**
 * Steps of the tool ladder (P10): a call's input (idempotency key `${turnKey}:${tool}:${n}`,
 * identity from the session, only the tools the state allows), what each outcome leads to
 * (retry with backoff, alternative tool, degraded answer, hand-off), slot lookups, approvals,
 * and the final report.
 */
import type { Json } from '../src/types.js';
import type { DraftInput, DraftOutput, ToolCallInput, ToolOutcome } from './actor-contracts.js';
import type { AgentContext, LadderRung, TaskFrame } from './agent-context.js';
import type { AgentEvent } from './agent-events.js';
import { outputOf } from './agent-setup.js';
import { callOfKey } from './approval-steps.js';
import { draftInput } from './draft-input.js';
import { taskNamed, type ResolvedAgentSpec } from './resolve-agent-spec.js';
import { step, type StepResult } from './step.js';
import { slotToLookUp, taskVars } from './task-steps.js';
import { renderTemplate } from './template.js';

/** Reads a tool outcome, turning anything malformed into a non-retryable failure. */
function toolOutcome(event: unknown, tool: string): ToolOutcome {
  const out = outputOf<ToolOutcome | undefined>(event);
  if (out && typeof out === 'object' && (out.status === 'ok' || out.status === 'denied' || out.status === 'failed')) return out;
  return { status: 'failed', tool, reason: 'error', message: 'malformed tool outcome', retryable: false, retryInMs: 0, breaker: 'closed' };
}

function isRejected(result: Json | undefined): boolean {
  return typeof result === 'object' && result !== null && !Array.isArray(result) && result.outcome === 'rejected';
}

/** What the customer hears when a high-impact call must wait for another one's approval. */
const APPROVAL_BUSY = 'Another request of yours is already waiting for a colleague\'s approval; I can ask for this one once that is decided.';

/**
 * Creates the tool-ladder steps of an agent.
 *
 * @example
 * ```ts
 * const tools = createToolSteps(spec);
 * invoke: { src: 'callTool', input: ({ context }) => tools.callInput(context) }
 * ```
 */
export function createToolSteps(spec: ResolvedAgentSpec) {
  const p = spec.policies;
  const max = p.maxTranscriptEntries;
  const r = spec.replies;

  /** Opens a new logical call: the `n` of its idempotency key. Retries keep it. */
  const newCall = (ctx: AgentContext): StepResult => {
    const s = step(ctx, max);
    if (!ctx.active) return s.done();
    const turn = ctx.turn ?? { key: `${ctx.session}:call`, messageId: '', at: 0, text: '', toolCalls: 0 };
    const n = turn.toolCalls + 1;
    return s.set({ turn: { ...turn, toolCalls: n }, active: { ...ctx.active, callIndex: n, callTurn: turn.key, attempt: 1, rung: undefined } }).done();
  };

  const baseInput = (ctx: AgentContext, frame: TaskFrame, tool: string, args: Record<string, Json>): ToolCallInput => ({
    tool,
    args,
    key: `${frame.callTurn}:${tool}:${frame.callIndex}`,
    identity: ctx.identity,
    session: ctx.session,
    callsThisTurn: Math.max(0, frame.callIndex - 1),
    allowedTools: [tool],
    attempt: frame.attempt,
  });

  /** Input of the task's tool call. */
  const callInput = (ctx: AgentContext): ToolCallInput => {
    const frame = ctx.active as TaskFrame;
    const task = taskNamed(spec, frame.task);
    let args: Record<string, Json> = {};
    try {
      args = task ? task.args(frame.slots, frame.facts) : {};
    } catch {
      // A throwing argument builder sends no arguments; the guard refuses the call.
    }
    const input = baseInput(ctx, frame, frame.tool, args);
    return ctx.pendingApproval !== null && ctx.pendingApproval.key !== input.key ? { ...input, approvalWaiting: true } : input;
  };

  /** Reads the task tool's outcome and picks the next rung of the ladder. */
  const toolDone = (ctx: AgentContext, event: AgentEvent): StepResult => {
    const s = step(ctx, max);
    const frame = ctx.active;
    const task = taskNamed(spec, frame?.task);
    if (!frame || !task) return s.done();
    const out = toolOutcome(event, frame.tool);
    const base = { task: task.name, tool: frame.tool, attempt: frame.attempt, key: `${frame.callTurn}:${frame.tool}:${frame.callIndex}` };
    if (out.status === 'ok') {
      s.decide('tool', isRejected(out.result) ? 'rejected_by_tool' : 'ok', base);
      return s.set({ active: { ...frame, result: out.result, rung: 'ok' } }).done();
    }
    if (out.status === 'denied') {
      s.decide('guard', out.code, { ...base, reason: out.reason, rule: out.rule ?? null });
      return s.set({ active: { ...frame, failure: { reason: out.code, message: out.reason }, rung: out.code === 'approval_required' ? 'approval' : 'denied' } }).done();
    }
    const failure = { reason: out.reason, message: out.message };
    const canRetry = out.retryable && out.breaker !== 'open' && frame.attempt < p.maxToolAttempts;
    if (canRetry) {
      s.decide('retry', out.reason, { ...base, nextAttempt: frame.attempt + 1, maxAttempts: p.maxToolAttempts, delayMs: out.retryInMs, breaker: out.breaker });
      return s.set({ active: { ...frame, failure, retryInMs: out.retryInMs, rung: 'retry' } }).done();
    }
    const alternative = task.alternativeTool !== undefined && !frame.usedAlternative;
    // An open breaker is a rung of its own (task.circuitOpen): no retry until it half-opens.
    const open = out.reason === 'circuit_open' || out.breaker === 'open';
    const next = open ? 'circuit_open' : alternative ? 'alternative' : 'degraded';
    s.decide('fallback', out.reason, { ...base, breaker: out.breaker, next, ...(alternative && !open ? { to: task.alternativeTool as string } : {}) });
    return s.set({ active: { ...frame, failure, rung: open ? 'breaker' : alternative ? 'alternative' : 'degraded' } }).done();
  };

  /** Input of the final reply: the grounded template, which an LLM may only rephrase. */
  const reportInput = (ctx: AgentContext): DraftInput => {
    const frame = ctx.active as TaskFrame;
    const task = taskNamed(spec, frame.task);
    const rejected = isRejected(frame.result);
    const template = rejected ? (task?.replies.rejected ?? task?.replies.done) : task?.replies.done;
    const draft = template ? renderTemplate(template, taskVars(task, frame)) : 'Done.';
    return draftInput(ctx, {
      purpose: 'task',
      draft,
      grounding: { task: task?.title ?? frame.task, result: frame.result ?? null, slots: frame.slots },
      allowedTools: [],
      key: `${frame.callTurn}:reply:${frame.callIndex}`,
    });
  };

  return {
    newCall,
    callInput,
    /** Input of a slot's lookup (existence and ownership through the guard). */
    lookupInput(ctx: AgentContext): ToolCallInput {
      const frame = ctx.active as TaskFrame;
      const task = taskNamed(spec, frame.task);
      const slot = task ? slotToLookUp(task, frame) : undefined;
      const lookup = slot?.lookup;
      let args: Record<string, Json> = {};
      try {
        args = lookup && slot ? lookup.args(frame.slots[slot.name] as Json, frame.slots) : {};
      } catch {
        // As above: no arguments, refused by the guard, counted as a miss.
      }
      return baseInput(ctx, frame, lookup?.tool ?? 'unknown', args);
    },
    /** Reads a lookup's outcome: a fact, a miss (not found or not theirs), or skipped when the tool is down. */
    lookupDone(ctx: AgentContext, event: AgentEvent): StepResult {
      const s = step(ctx, max);
      const frame = ctx.active;
      const task = taskNamed(spec, frame?.task);
      const slot = task && frame ? slotToLookUp(task, frame) : undefined;
      if (!frame || !task || !slot?.lookup) return s.done();
      const out = toolOutcome(event, slot.lookup.tool);
      const value = frame.slots[slot.name];
      const notFound = out.status === 'ok' && typeof out.result === 'object' && out.result !== null && !Array.isArray(out.result) && out.result.found === false;
      if (out.status === 'denied' || notFound) {
        const slots = { ...frame.slots };
        delete slots[slot.name];
        const rung: LadderRung = 'lookup_miss';
        if (out.status === 'denied') s.decide('guard', out.code, { tool: out.tool, reason: out.reason, rule: out.rule ?? null, slot: slot.name });
        else s.decide('tool', 'lookup_not_found', { tool: out.tool, slot: slot.name });
        return s
          .set({ active: { ...frame, slots, rung }, misses: ctx.misses + 1, explained: true })
          .say(`I couldn't find ${typeof value === 'string' || typeof value === 'number' ? `"${value}"` : 'that'} on your account.`)
          .done();
      }
      if (out.status === 'failed') {
        if (slot.lookup.required === true) {
          // Without the fact the task would act on a guess (a refund of €0 that skips approval).
          s.decide('fallback', 'lookup_unavailable', { tool: out.tool, reason: out.reason, next: 'degraded', slot: slot.name });
          return s.set({ active: { ...frame, failure: { reason: out.reason, message: out.message }, rung: 'degraded' } }).done();
        }
        s.decide('fallback', 'lookup_unavailable', { tool: out.tool, reason: out.reason, next: 'skip_lookup' });
        return s.set({ active: { ...frame, checked: [...frame.checked, slot.name], rung: 'lookup_skipped' } }).done();
      }
      s.decide('tool', 'lookup_ok', { tool: out.tool, slot: slot.name });
      return s.set({ active: { ...frame, facts: { ...frame.facts, [slot.lookup.fact]: out.result }, checked: [...frame.checked, slot.name], rung: 'lookup_ok' } }).done();
    },
    toolDone,
    /** The actor itself threw (a bug or a missing actor): straight to the next fallback. */
    toolError(ctx: AgentContext, event: AgentEvent): StepResult {
      const error = (event as { error?: unknown }).error;
      const message = error instanceof Error ? error.message : 'tool actor failed';
      return toolDone(ctx, { type: 'xstate.done.actor.tool', output: { status: 'failed', tool: ctx.active?.tool ?? 'unknown', reason: 'error', message, retryable: false, retryInMs: 0, breaker: 'closed' } } as never);
    },
    /** Before a retry: the next attempt of the same logical call. */
    nextAttempt(ctx: AgentContext): StepResult {
      if (!ctx.active) return step(ctx, max).done();
      return step(ctx, max).set({ active: { ...ctx.active, attempt: ctx.active.attempt + 1, rung: undefined } }).done();
    },
    /** The tool's breaker is open: skip its retries, go to the alternative tool or the degraded answer. */
    circuitOpen(ctx: AgentContext): StepResult {
      const frame = ctx.active;
      const task = taskNamed(spec, frame?.task);
      if (!frame || !task) return step(ctx, max).done();
      const alternative = task.alternativeTool !== undefined && !frame.usedAlternative;
      return step(ctx, max)
        .set({ active: { ...frame, rung: alternative ? 'alternative' : 'degraded' } })
        .decide('fallback', 'circuit_open', { task: task.name, tool: frame.tool, next: alternative ? 'alternative' : 'degraded', ...(alternative ? { to: task.alternativeTool as string } : {}) })
        .done();
    },
    /** The ladder moves to the alternative tool. */
    useAlternative(ctx: AgentContext): StepResult {
      const frame = ctx.active;
      const task = taskNamed(spec, frame?.task);
      if (!frame || !task?.alternativeTool) return step(ctx, max).done();
      return step(ctx, max)
        .set({ active: { ...frame, tool: task.alternativeTool, usedAlternative: true, attempt: 1, rung: undefined } })
        .decide('fallback', 'alternative_tool', { task: task.name, from: task.tool, to: task.alternativeTool })
        .done();
    },
    /** The degraded local answer; the chart escalates after it when the task says so. */
    degrade(ctx: AgentContext): StepResult {
      const frame = ctx.active;
      const task = taskNamed(spec, frame?.task);
      const s = step(ctx, max);
      if (!frame) return s.done();
      const vars = taskVars(task, frame);
      s.decide('fallback', 'degraded', { task: frame.task, reason: frame.failure?.reason ?? 'unknown', escalate: task?.escalateOnFailure ?? true });
      s.say(renderTemplate(task?.replies.degraded ?? r.toolFailed, vars), { degraded: true, task: frame.task });
      return s.set({ active: { ...frame, outcome: 'degraded' } }).done();
    },
    /** A refusal by the guard: reported, and the conversation goes on. */
    denied(ctx: AgentContext): StepResult {
      const frame = ctx.active;
      const s = step(ctx, max);
      if (!frame) return s.done();
      return s.say(renderTemplate(r.denied, { reason: frame.failure?.message ?? 'not allowed', task: frame.task })).set({ active: { ...frame, outcome: 'denied' } }).done();
    },
    /** A high-impact call waits for a human's approval (`operator.approve`). */
    requestApproval(ctx: AgentContext): StepResult {
      const frame = ctx.active;
      const task = taskNamed(spec, frame?.task);
      const s = step(ctx, max);
      if (!frame || !task) return s.done();
      const input = callInput(ctx);
      const vars = taskVars(task, frame) as Record<string, Json>;
      // One held call at a time. An approval names no call, so replacing the one an operator is
      // looking at (a refund of €129) with a newer one (€900) would have the operator approve a
      // call they never saw: the newer call is refused until the first is decided.
      if (ctx.pendingApproval && ctx.pendingApproval.key !== input.key) {
        s.decide('guard', 'approval_busy', { task: task.name, tool: frame.tool, waiting: ctx.pendingApproval.tool });
        s.set({ active: { ...frame, outcome: 'denied' } });
        return s.say(renderTemplate(APPROVAL_BUSY, vars)).done();
      }
      s.set({ pendingApproval: { task: task.name, tool: frame.tool, args: input.args, key: input.key, vars }, active: { ...frame, outcome: 'pending_approval' } });
      // The call (its key within the session) and its arguments (the runtime redacts a decision's
      // `args` as it does every traced call's) go to the approvals board: the operator sees what
      // they approve, and an approval naming the call runs only that one.
      s.decide('guard', 'awaiting_approval', { task: task.name, tool: frame.tool, reason: frame.failure?.message ?? '', call: callOfKey(ctx, input.key), args: input.args });
      return s.say(renderTemplate(task.replies.approval ?? 'This needs a colleague\'s approval; I\'ve asked for it and will let you know here.', vars)).done();
    },
    reportInput,
    /** Says the drafted reply and closes the task. */
    reported(ctx: AgentContext, event: AgentEvent): StepResult {
      const frame = ctx.active;
      const s = step(ctx, max);
      if (!frame) return s.done();
      const out = (event as { output?: DraftOutput }).output;
      const text = typeof out?.text === 'string' && out.text.trim() !== '' ? out.text : reportInput(ctx).draft;
      s.notes(out?.decisions);
      const outcome = isRejected(frame.result) ? 'rejected' : 'done';
      return s.say(text, { task: frame.task, outcome, source: out?.source ?? 'template' }).set({ active: { ...frame, outcome } }).done();
    },
  };
}
