/**
 * The hand-off sub-chart (P8/P9), a protocol rather than a message:
 *
 * ```
 * handoff
 * ├─ requested    [busy] the desk gets the transcript, the context and the reason
 * ├─ routed       (transient) queued, unavailable, or failed (the desk broke)
 * ├─ queued       waiting for a human; SLA timer → unavailable; customer messages are screened:
 * │  ├─ waiting     "cancel" leaves the queue, anything else is passed on with a reminder
 * │  └─ screening   [busy]
 * ├─ withAgent    a human has the conversation: both sides are relayed
 * ├─ completed    → afterAnswer (the agent takes over again, offering to resume suspended work)
 * ├─ unavailable  → offeringAlternatives (ticket or callback), or gracefulExit; the session is kept
 * └─ failed       → offeringAlternatives, or gracefulExit
 * ```
 *
 * Events from the desk are documented in {@link HandoffEvent}.
 */
import type { RouteOutput } from './actor-contracts.js';
import { outputOf, type AgentKit } from './agent-setup.js';
import type { AgentSteps } from './agent-steps.js';
import { settledOn } from './route-triage.js';

/**
 * Creates the hand-off sub-chart of an agent.
 *
 * @example
 * ```ts
 * states: { handoff: createHandoffChart(kit, steps) }
 * ```
 */
export function createHandoffChart(kit: AgentKit, steps: AgentSteps) {
  const { s, spec, act } = kit;
  const { handoff, turn } = steps;
  const leaving = ({ event }: { event: unknown }) => {
    const out = outputOf<RouteOutput | undefined>(event);
    return Array.isArray(out?.ranked) && settledOn(out, spec.control.cancel);
  };
  const after = [{ guard: 'canOfferAlternatives' as const, target: '#offeringAlternatives' }, { target: '#gracefulExit' }];
  return s.createStateConfig({
    id: 'handoff',
    initial: 'requested',
    entry: s.raise({ type: 'silence.disarm' }),
    states: {
      requested: {
        tags: ['busy'],
        invoke: {
          src: 'requestHandoff',
          input: ({ context }) => handoff.handoffInput(context),
          onDone: { target: 'routed', actions: act(handoff.requested) },
          onError: { target: 'failed', actions: act(handoff.failed) },
        },
      },
      routed: {
        always: [
          { guard: ({ context }) => context.handoff?.status === 'queued', target: 'queued' },
          { guard: ({ context }) => context.handoff?.status === 'failed', target: 'failed', actions: act(handoff.failed) },
          { target: 'unavailable', actions: act(handoff.unavailable) },
        ],
      },
      queued: {
        entry: act(handoff.queued),
        initial: 'waiting',
        after: { handoffSla: { target: 'unavailable', actions: act(handoff.slaExpired) } },
        on: {
          'handoff.queued': { actions: act(handoff.position) },
          'handoff.accepted': { target: 'withAgent', actions: act(handoff.accepted) },
          'handoff.message': { actions: act(handoff.relayAgent) },
          'handoff.unavailable': { target: 'unavailable', actions: act(handoff.unavailable) },
          'handoff.failed': { target: 'failed', actions: act(handoff.failed) },
          'operator.release': { target: 'completed', actions: act(handoff.leftQueue) },
        },
        states: {
          waiting: {
            on: { 'user.message': { target: 'screening', actions: act(turn.beginTurn) } },
          },
          screening: {
            tags: ['busy'],
            invoke: {
              src: 'routeMessage',
              input: ({ context }) => turn.routeInput(context),
              onDone: [
                { guard: leaving, target: '#afterAnswer', actions: act(handoff.leftQueue) },
                { target: 'waiting', actions: act(handoff.queuedReminder) },
              ],
              onError: { target: 'waiting', actions: act(handoff.queuedReminder) },
            },
          },
        },
      },
      withAgent: {
        on: {
          'user.message': { actions: [act(turn.beginTurn), act(handoff.relayCustomer)] },
          'handoff.message': { actions: act(handoff.relayAgent) },
          'handoff.completed': { target: 'completed', actions: act(handoff.completed) },
          'operator.release': { target: 'completed', actions: act(handoff.completed) },
          'handoff.failed': { target: 'failed', actions: act(handoff.failed) },
          'handoff.unavailable': { target: 'unavailable', actions: act(handoff.unavailable) },
        },
      },
      completed: { always: { target: '#afterAnswer' } },
      unavailable: { always: after },
      failed: { always: after },
    },
  });
}
