/**
 * The `requestHandoff` actor: asks the human agents' desk to take a conversation. The desk is a
 * port; what it does (a queue, a ticketing system, a pager) is the embedding program's business.
 */
import { fromPromise } from 'xstate';
import type { HandoffInput, HandoffOutput } from '../machines/actor-contracts.js';

/**
 * Where hand-off requests go. Answer `queued` when a human will pick the conversation up (the
 * desk then sends `handoff.accepted` / `handoff.message` / `handoff.completed` events to the
 * session), or `unavailable` when nobody can.
 *
 * @example
 * ```ts
 * const desk: HandoffDesk = { request: async (req) => ({ status: 'queued', position: queue.push(req) }) };
 * ```
 */
export interface HandoffDesk {
  request(request: HandoffInput, signal?: AbortSignal): Promise<HandoffOutput> | HandoffOutput;
}

/**
 * Creates the `requestHandoff` actor logic. A desk that throws counts as `failed`: the chart then
 * offers a ticket or a callback and keeps the session.
 *
 * @example
 * ```ts
 * machine.provide({ actors: { requestHandoff: createHandoffActor({ desk }) } });
 * ```
 */
export function createHandoffActor(options: { readonly desk: HandoffDesk }) {
  if (typeof options?.desk?.request !== 'function') throw new TypeError('option desk must implement request()');
  return fromPromise<HandoffOutput, HandoffInput>(async ({ input, signal }) => {
    try {
      const out = await options.desk.request(input, signal);
      if (out?.status === 'queued' || out?.status === 'unavailable' || out?.status === 'failed') return out;
      return { status: 'failed', reason: 'desk_bad_answer' };
    } catch {
      return { status: 'failed', reason: 'desk_error' };
    }
  });
}
