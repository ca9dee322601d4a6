/**
 * `createAgentMachine(spec)`: builds a session machine from a declarative agent spec. The chart
 * has three parallel regions: the conversation (routing, the patterns, tasks with their fallback
 * ladder, hand-off), the silence timers (P12), and approvals of high-impact calls. It is pure:
 * its actors are placeholders the runtime replaces with `machine.provide({ actors })`.
 */
import { initialContext } from './agent-context.js';
import { createAgentKit } from './agent-setup.js';
import type { AgentSpec } from './agent-spec.js';
import { createAgentSteps } from './agent-steps.js';
import { createApprovalChart } from './approval-chart.js';
import { createConversationChart } from './conversation-chart.js';
import { resolveAgentSpec } from './resolve-agent-spec.js';
import { createSilenceChart } from './silence-chart.js';

/** The names of the actors an agent machine declares; provide all of them. */
export const AGENT_ACTORS = Object.freeze(['routeMessage', 'callTool', 'searchKnowledge', 'draftReply', 'planTasks', 'requestHandoff', 'recallMemory'] as const);

/**
 * Builds the session machine of an agent. Throws a TypeError naming a bad field of the spec.
 *
 * Actors to provide (see machines/actor-contracts.ts): `routeMessage`, `callTool`,
 * `searchKnowledge`, `draftReply` (default: the templated draft, no LLM), `planTasks`,
 * `requestHandoff`, `recallMemory` (default: no memory). The machine's id is `spec.id` (default `'agent'`).
 *
 * @example
 * ```ts
 * const machine = createAgentMachine(spec).provide({
 *   actors: { routeMessage: fromRouter(router), callTool: fromToolCalls({ tools, guard, effects }), ... },
 * });
 * const runtime = createRuntime({ dataDir, machine });
 * ```
 */
export function createAgentMachine(spec: AgentSpec) {
  const resolved = resolveAgentSpec(spec);
  const kit = createAgentKit(resolved);
  const steps = createAgentSteps(resolved);
  const { s, act } = kit;
  return s.createMachine({
    id: resolved.id,
    type: 'parallel',
    context: ({ input }) => initialContext(input),
    on: {
      'operator.say': { actions: act(steps.dialog.operatorSay) },
    },
    states: {
      conversation: createConversationChart(kit, steps),
      silence: createSilenceChart(kit, steps),
      approvals: createApprovalChart(kit, steps),
    },
  });
}

/** The machine type {@link createAgentMachine} returns. */
export type AgentMachine = ReturnType<typeof createAgentMachine>;
