/**
 * Finds a request the trained demo router reads as P2 "ambiguous" between changing an address and
 * cancelling an order. The router is retrained whenever the demo intents change, so tests pick the
 * phrase from the model they run against instead of hard-coding one that a new example can tip over.
 */
import { trainDemoRouter } from '../../../../src/agent/default-agent.js';
import { routeConfidence } from '../../../../src/routing/index.js';

const CANDIDATES = [
  'can you change my order',
  'change the order',
  'I want to change or cancel something',
  'change my order please',
  'do something with my order',
  'I want to change an order',
];

const LABELS: Readonly<Record<string, string>> = { change_address: 'change a delivery address', cancel_order: 'cancel an order' };

/** An ambiguous request with its two intents in the router's order and the clarifying question. */
export interface AmbiguousRequest {
  readonly text: string;
  readonly first: string;
  readonly second: string;
  readonly question: string;
}

/** The first candidate phrase the demo router finds ambiguous between the two order tasks. */
export async function ambiguousOrderRequest(): Promise<AmbiguousRequest> {
  const router = await trainDemoRouter();
  for (const text of CANDIDATES) {
    const result = await router.route(text);
    const [a, b] = result.ranked;
    if (routeConfidence(result) !== 'ambiguous' || !a || !b) continue;
    if (!LABELS[a.intent] || !LABELS[b.intent]) continue;
    return { text, first: a.intent, second: b.intent, question: `Do you want to ${LABELS[a.intent]}, or to ${LABELS[b.intent]}?` };
  }
  throw new Error('no candidate phrase is ambiguous between change_address and cancel_order for the demo router');
}
