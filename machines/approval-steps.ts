/**
 * Steps of approvals: a high-impact call the tool guard held for a human runs once an operator
 * approves it (the guard re-checks it with the approver's identity), or is dropped when refused.
 * The customer hears the outcome whenever it comes, as an unprompted reply.
 */
import type { Json } from '../src/types.js';
import type { SessionIdentity, ToolCallInput, ToolOutcome } from './actor-contracts.js';
import type { AgentContext } from './agent-context.js';
import type { AgentEvent } from './agent-events.js';
import { outputOf } from './agent-setup.js';
import { taskNamed, type ResolvedAgentSpec } from './resolve-agent-spec.js';
import { step, type StepResult } from './step.js';
import { renderTemplate } from './template.js';

const ROLES = new Set(['customer', 'agent', 'engineer', 'admin']);

/**
 * A call as the approvals board names it: its idempotency key without the session id in front
 * (`<seq>:<tool>:<index>`), so nothing a session id may hold is shown.
 */
export function callOfKey(ctx: AgentContext, key: string): string {
  return key.startsWith(`${ctx.session}:`) ? key.slice(ctx.session.length + 1) : key;
}

/**
 * True when the event names no call, or names the one waiting (`call`, from the approvals
 * board): an operator who approved a call they saw never runs another.
 */
export function namesPendingCall(ctx: AgentContext, event: AgentEvent): boolean {
  const call = (event as { call?: unknown }).call;
  return call === undefined || (ctx.pendingApproval !== null && call === callOfKey(ctx, ctx.pendingApproval.key));
}

/** True when the approved call's outcome is the guard refusing the approver (rule `approver`). */
export function approverWasRefused(event: { readonly output?: unknown }): boolean {
  const out = event.output as ToolOutcome | undefined;
  return out?.status === 'denied' && out.rule === 'approver';
}

/** True when an `operator.approve` event names a plausible approver (the guard checks the rest). */
export function validApprover(event: AgentEvent): boolean {
  const a = (event as { approver?: Partial<SessionIdentity> }).approver;
  return typeof a === 'object' && a !== null && typeof a.tenant === 'string' && typeof a.user === 'string' && typeof a.role === 'string' && ROLES.has(a.role);
}

/**
 * Creates the approval steps of an agent.
 *
 * @example
 * ```ts
 * const approvals = createApprovalSteps(spec);
 * invoke: { src: 'callTool', input: ({ context, event }) => approvals.approvedInput(context, event) }
 * ```
 */
export function createApprovalSteps(spec: ResolvedAgentSpec) {
  const max = spec.policies.maxTranscriptEntries;
  const r = spec.replies;
  return {
    /** The held call, now with its approver. */
    approvedInput(ctx: AgentContext, event: AgentEvent): ToolCallInput {
      const pending = ctx.pendingApproval;
      const a = (event as { approver?: SessionIdentity }).approver;
      return {
        tool: pending?.tool ?? 'unknown',
        args: pending?.args ?? {},
        key: `${pending?.key ?? ctx.session}:approved`,
        identity: ctx.identity,
        session: ctx.session,
        callsThisTurn: 0,
        allowedTools: pending ? [pending.tool] : [],
        attempt: 1,
        ...(a ? { approver: { tenant: a.tenant, user: a.user, role: a.role } } : {}),
      };
    },
    /** Says how the approved call went. */
    approvedDone(ctx: AgentContext, event: AgentEvent): StepResult {
      const pending = ctx.pendingApproval;
      const out = outputOf<ToolOutcome | undefined>(event);
      const task = taskNamed(spec, pending?.task);
      const s = step(ctx, max).set({ pendingApproval: null });
      if (!pending) return s.done();
      if (out?.status === 'ok') {
        s.decide('tool', 'approved_call_ok', { task: pending.task, tool: pending.tool });
        const vars = { ...pending.vars, result: out.result as Json };
        return s.say(renderTemplate(task?.replies.done ?? 'Done.', vars), { task: pending.task, approved: true }).done();
      }
      if (out?.status === 'denied') {
        s.decide('guard', out.code, { task: pending.task, tool: pending.tool, reason: out.reason, rule: out.rule ?? null, approved: true });
        return s.say(renderTemplate(r.denied, { reason: out.reason }), { task: pending.task }).done();
      }
      s.decide('fallback', 'approved_call_failed', { task: pending.task, tool: pending.tool, reason: out?.status === 'failed' ? out.reason : 'error' });
      return s.say(renderTemplate(r.gracefulExit, { task: task?.title ?? pending.task })).done();
    },
    /**
     * The guard refused the approver (the customer themself, another tenant, a role that may not
     * approve): the call stays held for someone who may, and the customer is not told anything.
     */
    approverRefused(ctx: AgentContext, event: AgentEvent): StepResult {
      const pending = ctx.pendingApproval;
      const out = outputOf<ToolOutcome | undefined>(event);
      const reason = out?.status === 'denied' ? out.reason : 'refused';
      return step(ctx, max)
        .decide('signal', 'approval_event_ignored', { type: 'operator.approve', pending: pending !== null, reason: 'approver', message: reason.slice(0, 200) })
        .done();
    },
    /** An operator refused the held call. */
    rejected(ctx: AgentContext, event: AgentEvent): StepResult {
      const pending = ctx.pendingApproval;
      const reason = (event as { reason?: unknown }).reason;
      const task = taskNamed(spec, pending?.task);
      return step(ctx, max)
        .set({ pendingApproval: null })
        .decide('guard', 'approval_rejected', { task: pending?.task ?? null })
        .say(renderTemplate(r.approvalRejected, { task: task?.title ?? pending?.task ?? 'request', reason: typeof reason === 'string' ? reason.slice(0, 300) : '' }))
        .done();
    },
    /** An approval event that cannot be used (no pending call, no approver). */
    ignored(ctx: AgentContext, event: AgentEvent): StepResult {
      const stale = ctx.pendingApproval !== null && !namesPendingCall(ctx, event);
      return step(ctx, max).decide('signal', 'approval_event_ignored', { type: event.type, pending: ctx.pendingApproval !== null, ...(stale ? { reason: 'another_call' } : {}) }).done();
    },
  };
}
