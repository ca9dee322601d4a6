/**
 * The typed XState setup every agent chart is built on: context, events, emitted events, the
 * actors the runtime must provide, the named guards the patterns branch on, and the delays of
 * the timers. Sub-charts take the kit and return `createStateConfig` fragments.
 */
import { fromCallback, fromPromise, setup } from 'xstate';
import type { ActionFunction, EventObject } from 'xstate';
import type { AgentEmitted, SessionInput } from '../src/ports.js';
import type {
  DraftEvent,
  DraftInput,
  HandoffInput,
  HandoffOutput,
  KnowledgeInput,
  KnowledgeOutput,
  PlanInput,
  PlanOutput,
  RouteInput,
  RouteOutput,
  ToolCallInput,
  ToolOutcome,
} from './actor-contracts.js';
import type { AgentContext, Awaiting, LadderRung, VerdictKind } from './agent-context.js';
import type { AgentEvent } from './agent-events.js';
import { NO_RECALL, type RecallInput, type RecallOutput } from './recall-contracts.js';
import { taskNamed, type ResolvedAgentSpec } from './resolve-agent-spec.js';
import type { StepResult } from './step.js';

/** The same action type, accepting any expression event (actions on `onDone`, `after`, `always`...). */
type AnyEventAction<A> =
  A extends ActionFunction<infer C, infer _X, infer E, infer P, infer Ac, infer TA, infer G, infer D, infer Em> ? ActionFunction<C, EventObject, E, P, Ac, TA, G, D, Em> : never;

/** Placeholder logic: a machine used without `provide` fails soft through each state's `onError`. */
function missing(name: string) {
  return async (): Promise<never> => {
    throw new Error(`actor ${name} was not provided; build the machine with provide({ actors })`);
  };
}

/** Without an LLM, the drafted reply is the grounded template itself. */
const templateDraft = fromCallback<DraftEvent, DraftInput>(({ sendBack, input }) => {
  sendBack({ type: 'draft.done', output: { text: input.draft, source: 'template', toolCalls: 0, decisions: [] } });
});

/**
 * Creates the kit of an agent: the setup (`s`), the resolved spec, `act`, which turns a pure
 * step into an action, and `relayDelta`, the action that streams a draft's pieces.
 *
 * @example
 * ```ts
 * const kit = createAgentKit(resolveAgentSpec(spec));
 * const idle = kit.s.createStateConfig({ on: { 'user.message': { target: 'routing', actions: kit.act(beginTurn) } } });
 * ```
 */
export function createAgentKit(spec: ResolvedAgentSpec) {
  const p = spec.policies;
  const s = setup({
    types: {
      context: {} as AgentContext,
      input: {} as SessionInput,
      events: {} as AgentEvent,
      emitted: {} as AgentEmitted,
      tags: {} as 'busy',
    },
    actors: {
      routeMessage: fromPromise<RouteOutput, RouteInput>(missing('routeMessage')),
      callTool: fromPromise<ToolOutcome, ToolCallInput>(missing('callTool')),
      searchKnowledge: fromPromise<KnowledgeOutput, KnowledgeInput>(missing('searchKnowledge')),
      draftReply: templateDraft,
      planTasks: fromPromise<PlanOutput, PlanInput>(missing('planTasks')),
      requestHandoff: fromPromise<HandoffOutput, HandoffInput>(missing('requestHandoff')),
      /** Without memory provided, nothing is recalled and nothing is kept. */
      recallMemory: fromPromise<RecallOutput, RecallInput>(async () => NO_RECALL),
    },
    guards: {
      /** The triage's verdict is of this kind (one branch per pattern). */
      verdictIs: ({ context }, params: { kind: VerdictKind }) => context.verdict?.kind === params.kind,
      /** The last tool outcome leads to this rung of the ladder. */
      ladderIs: ({ context }, params: { rung: LadderRung }) => context.active?.rung === params.rung,
      /** The pending question is of this kind. */
      awaitingIs: ({ context }, params: { kind: Awaiting['kind'] }) => context.awaiting?.kind === params.kind,
      /** P4: more misses in a row than the policy allows. */
      tooManyMisses: ({ context }) => context.misses > p.maxReprompts,
      hasActiveTask: ({ context }) => context.active !== null,
      hasSuspended: ({ context }) => context.suspended.length > 0,
      hasNextPlanStep: ({ context }) => context.plan !== null && context.plan.steps.some((st) => st.status === 'pending'),
      hasPlan: ({ context }) => context.plan !== null,
      taskFinished: ({ context }) => context.active?.outcome !== undefined,
      escalatesOnFailure: ({ context }) => taskNamed(spec, context.active?.task)?.escalateOnFailure === true,
      canOfferAlternatives: () => spec.ticketTool !== undefined || spec.callbackTool !== undefined,
      hasPendingApproval: ({ context }) => context.pendingApproval !== null,
    },
    delays: {
      toolRetry: ({ context }) => Math.max(0, Math.min(60_000, context.active?.retryInMs ?? 0)),
      silenceNudge: p.silenceNudgeMs,
      silenceWarn: p.silenceWarnMs,
      silencePark: p.silenceParkMs,
      handoffSla: p.handoffSlaMs,
    },
  });

  /**
   * Applies a pure step: assigns its patch, then emits what it produced, in order. The action
   * accepts any event (done events of actors included); steps read what they need defensively.
   */
  const act = (fn: (ctx: AgentContext, event: AgentEvent) => StepResult) =>
    s.enqueueActions(({ context, event, enqueue }) => {
      const result = fn(context, event);
      if (Object.keys(result.patch).length > 0) enqueue.assign(result.patch as Partial<AgentContext>);
      for (const e of result.emits) enqueue.emit(e);
    }) as unknown as AnyEventAction<Parameters<(typeof s)['createAction']>[0]>;

  /** Relays a streamed piece of a drafted reply (`llm.delta`) to the client as `agent.delta`. */
  const relayDelta = s.emit(({ event }) => ({ type: 'agent.delta' as const, text: String((event as { text?: unknown }).text ?? '') }));

  return { s, spec, act, relayDelta };
}

/** The kit sub-charts are built from. */
export type AgentKit = ReturnType<typeof createAgentKit>;

/** Reads the output of a done actor event inside a step. */
export function outputOf<T>(event: unknown): T {
  return (event as { output: T }).output;
}
