/**
 * The recall state of the conversation region, between routing and the triage:
 *
 * ```
 * routing → recalling [busy] the user's context and memories for this message
 *           ├─ answered from memory ("what was my order number again?") → afterAnswer
 *           └─ otherwise → triage, with a remembered value in the verdict where the message refers to one
 * ```
 *
 * Without memory the `recallMemory` actor answers "nothing known" and the turn goes on as before.
 */
import type { AgentKit } from './agent-setup.js';
import type { AgentEvent } from './agent-events.js';
import { createRecallSteps } from './recall-steps.js';

/**
 * Creates the `recalling` state of an agent.
 *
 * @example
 * ```ts
 * states: { routing: { invoke: { src: 'routeMessage', onDone: { target: 'recalling' } } }, recalling: createRecallState(kit) }
 * ```
 */
export function createRecallState(kit: AgentKit) {
  const { s, spec, act } = kit;
  const recall = createRecallSteps(spec);
  return s.createStateConfig({
    id: 'recalling',
    tags: ['busy'],
    invoke: {
      src: 'recallMemory',
      input: ({ context }) => recall.recallInput(context),
      onDone: [
        { guard: ({ context, event }) => recall.answers(context, event as unknown as AgentEvent), target: '#afterAnswer', actions: act(recall.answer) },
        { target: '#triage', actions: act(recall.recalled) },
      ],
      onError: { target: '#triage', actions: act(recall.recallFailed) },
    },
  });
}
