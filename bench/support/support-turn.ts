/**
 * The three-step support turn both sides of the peer benchmark run: route the message to an
 * intent, do the task (look the order up), respond from a template. No LLM, no I/O: what is
 * measured is each framework's own cost per durable turn. The keel side is a statechart with one
 * state per step; the LangGraph side (langgraph-peer.ts) is a graph with one node per step.
 */
import { assign, emit, setup } from 'xstate';
import type { SessionInput, UserMessageEvent } from '../../src/ports.js';

const ORDERS: Readonly<Record<string, string>> = { '1042': 'shipped', '1043': 'packed', '1044': 'delivered' };

/**
 * Step 1: a keyword router (both sides call the same function).
 *
 * @example
 * ```ts
 * routeStep('where is my order?'); // 'order_status'
 * ```
 */
export function routeStep(text: string): string {
  const t = text.toLowerCase();
  if (t.includes('order')) return 'order_status';
  if (t.includes('refund')) return 'refund_request';
  return 'out_of_scope';
}

/**
 * Step 2: the task: looks the order up in a small table.
 *
 * @example
 * ```ts
 * taskStep('order_status', 'order 1043'); // 'packed'
 * ```
 */
export function taskStep(intent: string, text: string): string {
  if (intent !== 'order_status') return 'none';
  const id = /\b\d{4}\b/.exec(text)?.[0] ?? '1042';
  return ORDERS[id] ?? 'unknown';
}

/**
 * Step 3: the reply from a template.
 *
 * @example
 * ```ts
 * respondStep('order_status', 'shipped'); // 'Your order is shipped.'
 * ```
 */
export function respondStep(intent: string, result: string): string {
  return intent === 'order_status' ? `Your order is ${result}.` : 'I can help with orders and refunds.';
}

/**
 * The keel side: `user.message` → routing → task → responding → idle, each step a state, the
 * reply emitted as `agent.reply`; the context keeps the turn count and the last intent.
 *
 * @example
 * ```ts
 * const runtime = createRuntime({ dataDir, machine: createSupportTurnMachine() });
 * ```
 */
export function createSupportTurnMachine() {
  return setup({
    types: {
      context: {} as { turns: number; text: string; intent: string; result: string },
      input: {} as SessionInput,
      events: {} as UserMessageEvent,
      emitted: {} as { type: 'agent.reply'; text: string },
    },
  }).createMachine({
    id: 'support-turn',
    context: { turns: 0, text: '', intent: '', result: '' },
    initial: 'idle',
    states: {
      idle: { on: { 'user.message': { target: 'routing', actions: assign({ text: ({ event }) => event.text }) } } },
      routing: { entry: assign({ intent: ({ context }) => routeStep(context.text) }), always: 'task' },
      task: { entry: assign({ result: ({ context }) => taskStep(context.intent, context.text) }), always: 'responding' },
      responding: {
        entry: [
          emit(({ context }) => ({ type: 'agent.reply' as const, text: respondStep(context.intent, context.result) })),
          assign({ turns: ({ context }) => context.turns + 1 }),
        ],
        always: 'idle',
      },
    },
  });
}
