/**
 * A test agent that streams: each message is answered in deltas, `stepMs` apart, then one reply
 * with the whole text. a message naming a `human` or `person` asks for a hand-off (queued), `accept` completes it.
 */
import { assign, emit, fromCallback, setup } from 'xstate';
import type { AgentEmitted, UserMessageEvent } from '../../../../src/ports.js';

type Events = UserMessageEvent | { type: 'chunk'; text: string } | { type: 'finished' };

export function createStreamingMachine(options: { pieces?: number; stepMs?: number; reply?: (text: string) => string } = {}) {
  const pieces = options.pieces ?? 3;
  const stepMs = options.stepMs ?? 10;
  // With `reply`, the answer is streamed word by word; otherwise `text[i] ` pieces.
  const chunksOf = (text: string): string[] =>
    options.reply ? options.reply(text).split(/(?<= )/) : Array.from({ length: pieces }, (_, i) => `${text}[${i}] `);
  return setup({
    types: { context: {} as { text: string; built: string }, events: {} as Events, emitted: {} as AgentEmitted },
    actors: {
      stream: fromCallback<Events, { text: string }>(({ sendBack, input }) => {
        const chunks = chunksOf(input.text);
        let i = 0;
        const timer = setInterval(() => {
          if (i < chunks.length) sendBack({ type: 'chunk', text: chunks[i++] as string });
          else {
            clearInterval(timer);
            sendBack({ type: 'finished' });
          }
        }, stepMs);
        return () => clearInterval(timer);
      }),
    },
  }).createMachine({
    id: 'streaming-agent',
    context: { text: '', built: '' },
    initial: 'idle',
    states: {
      idle: {
        on: {
          'user.message': [
            {
              guard: ({ event }) => /\b(human|person)\b/i.test(event.text),
              target: 'waitingForHuman',
              actions: [
                emit({ type: 'agent.handoff', status: 'queued', reason: 'customer asked for a person', meta: { position: 1 } }),
                emit({ type: 'agent.reply', text: 'A person will join shortly.' }),
              ],
            },
            { target: 'streaming', actions: assign({ text: ({ event }) => event.text, built: '' }) },
          ],
        },
      },
      streaming: {
        tags: ['busy'],
        invoke: { src: 'stream', input: ({ context }) => ({ text: context.text }) },
        on: {
          chunk: {
            actions: [
              assign({ built: ({ context, event }) => context.built + event.text }),
              emit(({ event }) => ({ type: 'agent.delta' as const, text: event.text })),
            ],
          },
          finished: { target: 'idle', actions: emit(({ context }) => ({ type: 'agent.reply' as const, text: context.built.trim() })) },
        },
      },
      waitingForHuman: {
        on: {
          'user.message': {
            target: 'idle',
            actions: [
              emit({ type: 'agent.handoff', status: 'completed', reason: 'conversation handed back' }),
              emit({ type: 'agent.reply', text: 'Back with the assistant.' }),
            ],
          },
        },
      },
    },
  });
}
