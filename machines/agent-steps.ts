/**
 * All the steps of one agent, built once from its resolved spec and shared by its sub-charts.
 */
import { createAnswerSteps } from './answer-steps.js';
import { createApprovalSteps } from './approval-steps.js';
import { createDialogSteps } from './dialog-steps.js';
import { createHandoffSteps } from './handoff-steps.js';
import { createPlanSteps } from './plan-steps.js';
import type { ResolvedAgentSpec } from './resolve-agent-spec.js';
import { createTaskSteps } from './task-steps.js';
import { createToolSteps } from './tool-steps.js';
import { createTurnSteps } from './turn-steps.js';

/**
 * Creates every step family of an agent.
 *
 * @example
 * ```ts
 * const steps = createAgentSteps(resolveAgentSpec(spec));
 * steps.dialog.cancel(context);
 * ```
 */
export function createAgentSteps(spec: ResolvedAgentSpec) {
  const tasks = createTaskSteps(spec);
  return {
    turn: createTurnSteps(spec),
    dialog: createDialogSteps(spec),
    tasks,
    tools: createToolSteps(spec),
    plans: createPlanSteps(spec, tasks),
    handoff: createHandoffSteps(spec),
    answers: createAnswerSteps(spec),
    approvals: createApprovalSteps(spec),
  };
}

/** The steps of an agent. */
export type AgentSteps = ReturnType<typeof createAgentSteps>;
