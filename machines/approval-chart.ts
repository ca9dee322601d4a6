/**
 * The approvals region, parallel to the conversation: a high-impact call the tool guard held
 * (`approval_required`) waits here for an operator, while the customer carries on.
 *
 * ```
 * approvals
 * ├─ none
 * ├─ waiting     operator.approve → executing; operator.reject → none (naming the waiting call's key, or none)
 * └─ executing   [busy] the call, re-checked by the guard with the approver's identity; an
 *                approver the guard refuses sends it back to waiting
 * ```
 */
import type { AgentKit } from './agent-setup.js';
import type { AgentSteps } from './agent-steps.js';
import { approverWasRefused, namesPendingCall, validApprover } from './approval-steps.js';

/**
 * Creates the approvals region of an agent.
 *
 * @example
 * ```ts
 * states: { conversation, silence, approvals: createApprovalChart(kit, steps) }
 * ```
 */
export function createApprovalChart(kit: AgentKit, steps: AgentSteps) {
  const { s, act } = kit;
  const { approvals } = steps;
  return s.createStateConfig({
    initial: 'none',
    states: {
      none: {
        on: {
          'approval.requested': { target: 'waiting' },
          'operator.approve': { actions: act(approvals.ignored) },
          'operator.reject': { actions: act(approvals.ignored) },
        },
      },
      waiting: {
        on: {
          'approval.requested': { target: 'waiting', reenter: true },
          'operator.approve': [
            { guard: ({ context, event }) => context.pendingApproval !== null && validApprover(event) && namesPendingCall(context, event), target: 'executing' },
            { actions: act(approvals.ignored) },
          ],
          'operator.reject': [
            { guard: ({ context, event }) => namesPendingCall(context, event), target: 'none', actions: act(approvals.rejected) },
            { actions: act(approvals.ignored) },
          ],
        },
      },
      executing: {
        tags: ['busy'],
        invoke: {
          src: 'callTool',
          input: ({ context, event }) => approvals.approvedInput(context, event),
          onDone: [
            // An approver the guard refuses does not decide the call: it waits for one who may.
            { guard: ({ event }) => approverWasRefused(event), target: 'waiting', actions: act(approvals.approverRefused) },
            { target: 'none', actions: act(approvals.approvedDone) },
          ],
          onError: { target: 'none', actions: act(approvals.approvedDone) },
        },
      },
    },
  });
}
