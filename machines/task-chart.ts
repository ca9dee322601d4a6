/**
 * The task sub-chart: one task at a time, driven by its frame in the context.
 *
 * ```
 * task
 * ├─ dispatch        (transient) picks the next step from the frame; too many misses → hand-off (P4)
 * ├─ collecting      asks for the first missing slot (counted reprompts)
 * ├─ validating      [busy] slot lookup through the tool guard (existence, ownership)
 * ├─ confirming      high-impact tasks: "shall I go ahead?"
 * ├─ executing       [busy] the tool call                           ┐
 * ├─ outcome         (transient) the ladder decides (P10):          │
 * ├─ retrying        [busy] backoff with jitter, then executing     │ fallback ladder
 * ├─ circuitOpen     (transient) the breaker is open: no more tries │
 * ├─ alternative     (transient) switches to the alternative tool   │
 * ├─ degraded        local answer, then hand-off or a graceful end  ┘
 * ├─ reporting       [busy] the grounded reply (an LLM may rephrase it, streaming deltas)
 * ├─ finished        → afterTask (plan progress, resume offers)
 * └─ hist            history: where a digression (question, small talk) returns to (P6)
 * ```
 */
import type { AgentContext } from './agent-context.js';
import type { AgentKit } from './agent-setup.js';
import type { AgentSteps } from './agent-steps.js';
import { taskNamed } from './resolve-agent-spec.js';
import { nextMissingSlot, slotToLookUp } from './task-steps.js';

/**
 * Creates the task sub-chart of an agent.
 *
 * @example
 * ```ts
 * states: { task: createTaskChart(kit, steps) }
 * ```
 */
export function createTaskChart(kit: AgentKit, steps: AgentSteps) {
  const { s, spec, act, relayDelta } = kit;
  const { tasks, tools, handoff, turn } = steps;
  const taskOf = (ctx: AgentContext) => taskNamed(spec, ctx.active?.task);
  const armSilence = s.raise({ type: 'silence.arm' });
  const toRouting = { target: '#routing', actions: act(turn.beginTurn) } as const;
  const draftEvents = {
    'llm.delta': { actions: relayDelta },
    'draft.done': { target: 'finished', actions: act(tools.reported) },
    'draft.failed': { target: 'finished', actions: act(tools.reported) },
  } as const;

  return s.createStateConfig({
    id: 'task',
    initial: 'dispatch',
    states: {
      dispatch: {
        always: [
          { guard: ({ context }) => context.active === null || taskOf(context) === undefined, target: '#afterTask' },
          { guard: 'taskFinished', target: '#afterTask' },
          { guard: 'tooManyMisses', target: '#handoff', actions: act(handoff.begin('max_reprompts')) },
          // A lookup the task cannot do without failed: its degraded answer, as a failed tool's.
          { guard: { type: 'ladderIs', params: { rung: 'degraded' } }, target: 'degraded' },
          {
            guard: ({ context }) => {
              const task = taskOf(context);
              return task !== undefined && context.active !== null && slotToLookUp(task, context.active) !== undefined;
            },
            target: 'validating',
            actions: act(tools.newCall),
          },
          {
            guard: ({ context }) => {
              const task = taskOf(context);
              return task !== undefined && context.active !== null && nextMissingSlot(task, context.active) !== undefined;
            },
            target: 'collecting',
          },
          { guard: ({ context }) => taskOf(context)?.confirm !== undefined && context.active?.confirmed !== true, target: 'confirming' },
          { target: 'executing', actions: act(tools.newCall) },
        ],
      },
      collecting: {
        entry: [act(tasks.promptSlot), armSilence],
        on: { 'user.message': toRouting },
      },
      validating: {
        tags: ['busy'],
        invoke: {
          src: 'callTool',
          input: ({ context }) => tools.lookupInput(context),
          onDone: { target: 'dispatch', actions: act(tools.lookupDone) },
          onError: { target: 'dispatch', actions: act(tools.lookupDone) },
        },
      },
      confirming: {
        entry: [act(tasks.promptConfirm), armSilence],
        on: { 'user.message': toRouting },
      },
      executing: {
        tags: ['busy'],
        invoke: {
          src: 'callTool',
          input: ({ context }) => tools.callInput(context),
          onDone: { target: 'outcome', actions: act(tools.toolDone) },
          onError: { target: 'outcome', actions: act(tools.toolError) },
        },
      },
      outcome: {
        always: [
          { guard: { type: 'ladderIs', params: { rung: 'ok' } }, target: 'reporting' },
          { guard: { type: 'ladderIs', params: { rung: 'approval' } }, target: 'finished', actions: [act(tools.requestApproval), s.raise({ type: 'approval.requested' })] },
          { guard: { type: 'ladderIs', params: { rung: 'denied' } }, target: 'finished', actions: act(tools.denied) },
          { guard: { type: 'ladderIs', params: { rung: 'retry' } }, target: 'retrying' },
          { guard: { type: 'ladderIs', params: { rung: 'breaker' } }, target: 'circuitOpen' },
          { guard: { type: 'ladderIs', params: { rung: 'alternative' } }, target: 'alternative' },
          { target: 'degraded' },
        ],
      },
      circuitOpen: {
        entry: act(tools.circuitOpen),
        always: [{ guard: { type: 'ladderIs', params: { rung: 'alternative' } }, target: 'alternative' }, { target: 'degraded' }],
      },
      retrying: {
        tags: ['busy'],
        after: { toolRetry: { target: 'executing', actions: act(tools.nextAttempt) } },
      },
      alternative: {
        entry: act(tools.useAlternative),
        always: { target: 'executing', actions: act(tools.newCall) },
      },
      degraded: {
        entry: act(tools.degrade),
        always: [
          { guard: 'escalatesOnFailure', target: '#handoff', actions: act(handoff.begin('tool_failed')) },
          { target: 'finished' },
        ],
      },
      reporting: {
        tags: ['busy'],
        invoke: {
          src: 'draftReply',
          input: ({ context }) => tools.reportInput(context),
          onError: { target: 'finished', actions: act(tools.reported) },
        },
        on: draftEvents,
      },
      finished: {
        always: { target: '#afterTask' },
      },
      hist: { type: 'history', history: 'shallow', target: 'dispatch' },
    },
  });
}
