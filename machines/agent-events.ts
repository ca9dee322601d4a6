/**
 * Every event an agent chart reacts to, namespaced by origin. The runtime delivers `user.message`
 * with `runtime.send(id, { type: 'user.message', id, text })`; everything else arrives with
 * `runtime.send(id, { type: 'handoff.accepted', agent: 'Sam' })` and is committed like a turn.
 * Payloads from outside are treated as untrusted: a missing or ill-typed field is ignored, never
 * a crash.
 */
import type { UserMessageEvent } from '../src/ports.js';
import type { DraftEvent, SessionIdentity } from './actor-contracts.js';

/**
 * Events from the human agents' desk (P8/P9), in protocol order.
 *
 * - `handoff.queued` `{ position? }`: the request waits in a queue (updates the position).
 * - `handoff.accepted` `{ agent? }`: a human took the conversation; the chart moves to
 *   `handoff.withAgent` and relays from then on.
 * - `handoff.message` `{ text, agent? }`: a human's message, relayed to the customer as a reply
 *   with `meta.from = 'agent'`.
 * - `handoff.completed` `{ summary? }`: the human closed the conversation; the agent takes over again.
 * - `handoff.failed` `{ reason? }` / `handoff.unavailable` `{ reason? }`: nobody can take it; the
 *   chart offers a ticket or a callback and keeps the session.
 *
 * While with a human, each customer message is answered with an empty reply frame carrying
 * `meta: { relayed: true, silent: true }` and traced as decision `handoff` / `relayed_to_agent`
 * with the text, so the desk shows it (the journal's `ack` frame carries the text too).
 *
 * @example
 * ```ts
 * await runtime.send(sessionId, { type: 'handoff.accepted', agent: 'Sam' });
 * await runtime.send(sessionId, { type: 'handoff.message', text: 'Hi, Sam here. Let me check.', agent: 'Sam' });
 * await runtime.send(sessionId, { type: 'handoff.completed' });
 * ```
 */
export type HandoffEvent =
  | { readonly type: 'handoff.queued'; readonly position?: number }
  | { readonly type: 'handoff.accepted'; readonly agent?: string }
  | { readonly type: 'handoff.message'; readonly text: string; readonly agent?: string }
  | { readonly type: 'handoff.completed'; readonly summary?: string }
  | { readonly type: 'handoff.failed'; readonly reason?: string }
  | { readonly type: 'handoff.unavailable'; readonly reason?: string };

/**
 * Commands of an operator (a supervisor in the inspector, an admin tool).
 *
 * - `operator.handoff` `{ reason? }`: hand the conversation to a human now.
 * - `operator.say` `{ text, agent? }`: say something to the customer as the operator.
 * - `operator.release`: end a hand-off and give the conversation back to the agent.
 * - `operator.approve` `{ approver, call? }`: approve the pending high-impact call; the tool guard
 *   re-checks it with the approver's identity. With `call` (from the `guard` /
 *   `awaiting_approval` decision), only that call: another waiting call is not approved.
 * - `operator.reject` `{ reason?, call? }`: refuse the pending call (with `call`, only that one).
 *
 * @example
 * ```ts
 * await runtime.send(sessionId, { type: 'operator.approve', approver: { tenant: 'acme', user: 'sup-1', role: 'agent' } });
 * ```
 */
export type OperatorEvent =
  | { readonly type: 'operator.handoff'; readonly reason?: string }
  | { readonly type: 'operator.say'; readonly text: string; readonly agent?: string }
  | { readonly type: 'operator.release' }
  | { readonly type: 'operator.approve'; readonly approver: SessionIdentity; readonly call?: string }
  | { readonly type: 'operator.reject'; readonly reason?: string; readonly call?: string };

/**
 * Signals the chart reacts to, from the client or monitoring.
 *
 * - `signal.handoff` `{ reason? }`: the user pressed "talk to a human".
 * - `signal.sentiment` `{ score }`: an external sentiment score in [-1, 1] for the last message.
 * - `signal.sla` `{ reason? }`: an SLA breach detected outside (e.g. the case is overdue): escalate.
 *
 * @example
 * ```ts
 * await runtime.send(sessionId, { type: 'signal.handoff', reason: 'button' });
 * ```
 */
export type SignalEvent =
  | { readonly type: 'signal.handoff'; readonly reason?: string }
  | { readonly type: 'signal.sentiment'; readonly score: number }
  | { readonly type: 'signal.sla'; readonly reason?: string };

/** Events the chart raises to itself between its parallel regions. */
export type InternalEvent =
  | { readonly type: 'silence.arm' }
  | { readonly type: 'silence.disarm' }
  | { readonly type: 'silence.park' }
  | { readonly type: 'approval.requested' };

/** Everything an agent chart accepts. */
export type AgentEvent = UserMessageEvent | HandoffEvent | OperatorEvent | SignalEvent | InternalEvent | DraftEvent;
