/**
 * A hand-off desk that lives in the process: requests wait in a queue until a human accepts them
 * (the desk UI sends `handoff.accepted` to the session) or the session's SLA timer gives up.
 * Embedding programs replace it with their own {@link HandoffDesk} (a ticketing system, a pager).
 */
import type { HandoffDesk } from '../../actors/handoff.actor.js';
import type { HandoffInput, HandoffOutput } from '../../machines/actor-contracts.js';

/** A request waiting at the local desk. */
export interface QueuedHandoff {
  readonly session: string;
  readonly tenant: string;
  readonly user: string;
  readonly reason: string;
  readonly transcript: HandoffInput['transcript'];
  readonly summary: HandoffInput['summary'];
}

/** The local desk: the port plus a view of its queue for a desk UI. */
export interface LocalHandoffDesk extends HandoffDesk {
  /** Requests waiting, oldest first. */
  queue(): readonly QueuedHandoff[];
  /** Removes a session's request (accepted or abandoned). */
  take(session: string): QueuedHandoff | undefined;
}

/**
 * Creates the local desk. `available` says whether anyone staffs it (default true: requests are
 * queued); `maxQueue` bounds the queue (default 100; beyond it, `unavailable`).
 *
 * @example
 * ```ts
 * const desk = createLocalHandoffDesk({ available: () => staffOnline() });
 * createDefaultAgent({ ...ports, handoffDesk: desk });
 * ```
 */
export function createLocalHandoffDesk(options: { readonly available?: boolean | (() => boolean); readonly maxQueue?: number } = {}): LocalHandoffDesk {
  const waiting: QueuedHandoff[] = [];
  const maxQueue = options.maxQueue ?? 100;
  if (!Number.isInteger(maxQueue) || maxQueue < 1) throw new TypeError('option maxQueue must be an integer ≥ 1');
  const available = () => (typeof options.available === 'function' ? options.available() : (options.available ?? true));
  return {
    request(req): HandoffOutput {
      if (!available()) return { status: 'unavailable', reason: 'no_agent_online' };
      const existing = waiting.findIndex((q) => q.session === req.session);
      if (existing >= 0) waiting.splice(existing, 1);
      if (waiting.length >= maxQueue) return { status: 'unavailable', reason: 'queue_full' };
      waiting.push({ session: req.session, tenant: req.identity.tenant, user: req.identity.user, reason: req.reason, transcript: req.transcript, summary: req.summary });
      return { status: 'queued', position: waiting.length };
    },
    queue: () => [...waiting],
    take(session) {
      const i = waiting.findIndex((q) => q.session === session);
      return i >= 0 ? waiting.splice(i, 1)[0] : undefined;
    },
  };
}
