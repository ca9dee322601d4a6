/**
 * The answer sub-chart: grounded answers to questions and small talk.
 *
 * ```
 * answering
 * ├─ searching   [busy] knowledge-base search
 * ├─ grounding   (transient) a passage above the threshold? → drafting, else → unknown
 * ├─ unknown     "I don't know" with a typed reason → offeringHuman
 * ├─ drafting    [busy] the grounded reply (an LLM may rephrase it, streaming deltas)
 * ├─ chatting    [busy] small talk
 * └─ answered    → afterAnswer (back to an interrupted task through its history, P7)
 * ```
 */
import type { AgentKit } from './agent-setup.js';
import type { AgentSteps } from './agent-steps.js';

/**
 * Creates the answer sub-chart of an agent.
 *
 * @example
 * ```ts
 * states: { answering: createAnswerChart(kit, steps) }
 * ```
 */
export function createAnswerChart(kit: AgentKit, steps: AgentSteps) {
  const { s, act, relayDelta } = kit;
  const { answers } = steps;
  const delta = { actions: relayDelta };
  return s.createStateConfig({
    id: 'answering',
    initial: 'searching',
    states: {
      searching: {
        tags: ['busy'],
        invoke: {
          src: 'searchKnowledge',
          input: ({ context }) => answers.knowledgeInput(context),
          onDone: { target: 'grounding', actions: act(answers.knowledgeDone) },
          onError: { target: 'unknown', actions: act(answers.knowledgeFailed) },
        },
      },
      grounding: {
        always: [{ guard: ({ context }) => context.knowledge.length > 0, target: 'drafting' }, { target: 'unknown' }],
      },
      unknown: {
        entry: act(answers.noKnowledge),
        always: { target: '#offeringHuman' },
      },
      drafting: {
        tags: ['busy'],
        invoke: { src: 'draftReply', input: ({ context }) => answers.answerInput(context), onError: { target: 'answered', actions: act(answers.answered) } },
        on: {
          'llm.delta': delta,
          'draft.done': { target: 'answered', actions: act(answers.answered) },
          'draft.failed': { target: 'answered', actions: act(answers.answered) },
        },
      },
      chatting: {
        tags: ['busy'],
        invoke: { src: 'draftReply', input: ({ context }) => answers.smalltalkInput(context), onError: { target: 'answered', actions: act(answers.chatted) } },
        on: {
          'llm.delta': delta,
          'draft.done': { target: 'answered', actions: act(answers.chatted) },
          'draft.failed': { target: 'answered', actions: act(answers.chatted) },
        },
      },
      answered: {
        always: { target: '#afterAnswer' },
      },
    },
  });
}
