/**
 * The conversation region: every message is routed, then the triage picks one pattern, each a
 * visible state or guarded transition (DESIGN §4).
 *
 * ```
 * conversation
 * ├─ idle                nothing pending
 * ├─ routing             [busy] the router ranks intents (an LLM first when configured)
 * ├─ recalling           [busy] the user's context and memories; may answer from them (recall-chart.ts)
 * ├─ triage              (transient) one guarded branch per pattern:
 * │                        handoff (P8) · cancel/correct (P13) · slot, confirm · startTask (P7 suspends)
 * │                        · resume (P7) · question · small talk · plan · too many misses → handoff (P4)
 * │                        · reprompt (P4) · outOfScope (P5) · clarify (P2) · confirmIntent (P1) · rephrase (P3)
 * ├─ confirmingIntent    P1: "did you mean ...?"       ├─ rephrasing      P3: "could you rephrase?"
 * ├─ clarifying          P2: "A or B?"                 ├─ offeringHuman   P5/P4/sentiment: "a human?"
 * ├─ offeringResume      P7: "back to your refund?"    ├─ askingCorrection P13: "what should I change?"
 * ├─ resumeWaiting       (transient) after a miss, back to the pending question
 * ├─ task                the task sub-chart (with the P10 ladder)
 * ├─ afterTask           (transient) settle the task: plan progress, re-plan, resume offers
 * ├─ afterAnswer         (transient) back to an interrupted task via its history, or resume offer
 * ├─ planning            [busy] the planner splits a multi-request message into a plan
 * ├─ answering           grounded answers and small talk
 * ├─ handoff             the hand-off protocol (P8/P9)
 * ├─ offeringAlternatives no human: ticket or callback (the graceful exit)
 * ├─ ticketing / schedulingCallback [busy]
 * ├─ gracefulExit        (transient) the ladder's last rung: nothing more to try; the session is kept
 * └─ parked              P12: parked after silence; work kept as suspended
 * ```
 */
import { and } from 'xstate';
import type { Awaiting, VerdictKind } from './agent-context.js';
import type { AgentKit } from './agent-setup.js';
import type { AgentSteps } from './agent-steps.js';
import { createAnswerChart } from './answer-chart.js';
import { createHandoffChart } from './handoff-chart.js';
import { createRecallState } from './recall-chart.js';
import { createTaskChart } from './task-chart.js';

/**
 * Creates the conversation region of an agent.
 *
 * @example
 * ```ts
 * states: { conversation: createConversationChart(kit, steps), silence, approvals }
 * ```
 */
export function createConversationChart(kit: AgentKit, steps: AgentSteps) {
  const { s, act } = kit;
  const { turn, dialog, tasks, plans, handoff, answers } = steps;
  const is = (kind: VerdictKind) => ({ type: 'verdictIs' as const, params: { kind } });
  const awaiting = (kind: Awaiting['kind']) => ({ type: 'awaitingIs' as const, params: { kind } });
  const arm = s.raise({ type: 'silence.arm' });
  const disarm = s.raise({ type: 'silence.disarm' });
  const toRouting = { target: '#routing', actions: act(turn.beginTurn) } as const;
  const waiting = (prompt: Parameters<typeof act>[0]) => ({ entry: [act(prompt), arm], on: { 'user.message': toRouting } });
  const escalate = act(handoff.begin('max_reprompts'));
  const handoffOpen = ({ context }: { context: { handoff: { status: string } | null } }) =>
    context.handoff === null || ['unavailable', 'failed', 'completed'].includes(context.handoff.status);

  return s.createStateConfig({
    initial: 'idle',
    on: {
      'user.message': toRouting,
      'operator.handoff': { guard: handoffOpen, target: '#handoff', actions: act(handoff.begin('operator')) },
      'signal.handoff': { guard: handoffOpen, target: '#handoff', actions: act(handoff.begin('user_signal')) },
      'signal.sla': { guard: handoffOpen, target: '#handoff', actions: act(handoff.begin('sla_breach')) },
      // P14: an outside sentiment score; enough negative turns in a row offer a human at once.
      'signal.sentiment': [
        {
          guard: ({ context, event }) => handoffOpen({ context }) && context.awaiting?.kind !== 'offer_human' && dialog.sentimentReachesLimit(context, event),
          target: '.offeringHuman',
          actions: act(dialog.sentimentOffer),
        },
        { actions: act(dialog.sentimentSignal) },
      ],
      'silence.park': { target: '.parked', actions: act(dialog.park) },
    },
    states: {
      idle: { entry: disarm },
      routing: {
        id: 'routing',
        tags: ['busy'],
        invoke: {
          src: 'routeMessage',
          input: ({ context }) => turn.routeInput(context),
          onDone: { target: 'recalling', actions: act(turn.routed) },
          onError: { target: 'recalling', actions: act(turn.routeFailed) },
        },
      },
      recalling: createRecallState(kit),
      triage: {
        id: 'triage',
        always: [
          { guard: is('handoff'), target: '#handoff', actions: act(handoff.begin()) },
          { guard: is('cancel'), target: 'afterTask', actions: act(dialog.cancel) },
          { guard: is('nothingToCancel'), target: 'afterAnswer', actions: act(dialog.say('nothingToCancel')) },
          { guard: is('fillSlot'), target: 'task', actions: act(tasks.fillSlot) },
          { guard: is('correct'), target: 'task', actions: act(tasks.correct) },
          { guard: is('askCorrection'), target: 'askingCorrection' },
          { guard: is('confirmTask'), target: 'task', actions: act(tasks.confirmTask) },
          { guard: is('declineTask'), target: 'afterTask', actions: act(tasks.declineTask) },
          { guard: is('startTask'), target: 'task', actions: act(tasks.startTask) },
          { guard: is('resume'), target: 'task', actions: act(tasks.resume) },
          { guard: is('dropResume'), target: 'idle', actions: act(dialog.dropResume) },
          { guard: is('nothingToResume'), target: 'afterAnswer', actions: act(dialog.say('nothingToResume')) },
          { guard: is('declineHuman'), target: 'afterAnswer', actions: act(dialog.declineHuman) },
          { guard: is('ticket'), target: 'ticketing' },
          { guard: is('callback'), target: 'schedulingCallback' },
          { guard: is('question'), target: 'answering' },
          { guard: is('smalltalk'), target: 'answering.chatting' },
          { guard: is('acknowledge'), target: 'afterAnswer', actions: act(dialog.say('acknowledge')) },
          { guard: is('offerHuman'), target: 'offeringHuman' },
          { guard: is('plan'), target: 'planning' },
          { guard: and([is('reprompt'), 'tooManyMisses']), target: '#handoff', actions: escalate },
          { guard: and([is('outOfScope'), 'tooManyMisses']), target: '#handoff', actions: escalate },
          { guard: and([is('rephrase'), 'tooManyMisses']), target: '#handoff', actions: escalate },
          { guard: is('reprompt'), target: 'resumeWaiting', actions: act(dialog.miss) },
          { guard: is('outOfScope'), target: 'offeringHuman', actions: act(dialog.outOfScope) },
          { guard: is('clarify'), target: 'clarifying' },
          { guard: is('confirmIntent'), target: 'confirmingIntent' },
          { guard: is('rephrase'), target: 'rephrasing' },
          { target: 'afterAnswer', actions: act(dialog.say('acknowledge')) },
        ],
      },
      confirmingIntent: waiting(dialog.promptConfirmIntent),
      rephrasing: waiting(dialog.promptRephrase),
      clarifying: waiting(dialog.promptClarify),
      offeringHuman: { id: 'offeringHuman', ...waiting(dialog.promptOfferHuman) },
      offeringResume: waiting(dialog.promptResume),
      askingCorrection: waiting(tasks.askCorrection),
      offeringAlternatives: { id: 'offeringAlternatives', ...waiting(dialog.promptAlternatives) },
      resumeWaiting: {
        always: [
          { guard: awaiting('slot'), target: 'task' },
          { guard: awaiting('confirm_task'), target: 'task' },
          { guard: awaiting('correction'), target: 'askingCorrection' },
          { guard: awaiting('confirm_intent'), target: 'confirmingIntent' },
          { guard: awaiting('clarify'), target: 'clarifying' },
          { guard: awaiting('resume'), target: 'offeringResume' },
          { guard: awaiting('offer_human'), target: 'offeringHuman' },
          { guard: awaiting('handoff_alternative'), target: 'offeringAlternatives' },
          { target: 'afterAnswer' },
        ],
      },
      task: createTaskChart(kit, steps),
      afterTask: {
        id: 'afterTask',
        entry: [act(plans.settleTask), act(plans.finishPlan)],
        always: [
          { guard: 'hasNextPlanStep', target: 'task', actions: act(plans.startPlanStep) },
          { guard: 'hasSuspended', target: 'offeringResume' },
          { target: 'idle' },
        ],
      },
      afterAnswer: {
        id: 'afterAnswer',
        always: [
          { guard: ({ context }) => context.active !== null && context.active.outcome === undefined, target: '#task.hist', actions: act(answers.markInterrupted) },
          { guard: ({ context }) => context.active !== null, target: 'afterTask' },
          { guard: 'hasSuspended', target: 'offeringResume' },
          { target: 'idle' },
        ],
      },
      planning: {
        tags: ['busy'],
        invoke: {
          src: 'planTasks',
          input: ({ context }) => plans.planInput(context),
          onDone: { target: 'planned', actions: act(plans.planned) },
          onError: { target: 'planned', actions: act(plans.planned) },
        },
      },
      planned: {
        // On whether this turn made a plan, not on whether one exists: an earlier plan still under
        // way must not take over when the planner found no plan in this message.
        always: [{ guard: ({ context }) => context.plan !== null && context.verdict?.kind === 'plan', target: 'afterTask' }, { target: 'triage' }],
      },
      answering: createAnswerChart(kit, steps),
      handoff: createHandoffChart(kit, steps),
      ticketing: {
        tags: ['busy'],
        invoke: {
          src: 'callTool',
          input: ({ context }) => handoff.ticketInput('ticket')(context),
          onDone: [
            { guard: ({ event }) => handoff.arranged(event), target: 'afterAnswer', actions: act(handoff.ticketDone('ticket')) },
            { target: 'gracefulExit', actions: act(handoff.ticketDone('ticket')) },
          ],
          onError: { target: 'gracefulExit', actions: act(handoff.ticketDone('ticket')) },
        },
      },
      schedulingCallback: {
        tags: ['busy'],
        invoke: {
          src: 'callTool',
          input: ({ context }) => handoff.ticketInput('callback')(context),
          onDone: [
            { guard: ({ event }) => handoff.arranged(event), target: 'afterAnswer', actions: act(handoff.ticketDone('callback')) },
            { target: 'gracefulExit', actions: act(handoff.ticketDone('callback')) },
          ],
          onError: { target: 'gracefulExit', actions: act(handoff.ticketDone('callback')) },
        },
      },
      gracefulExit: {
        id: 'gracefulExit',
        entry: act(handoff.gracefulExit),
        always: { target: 'afterAnswer' },
      },
      parked: { entry: disarm },
    },
  });
}
