/**
 * A hand-off desk that lives in the process: requests wait in a per-tenant queue until a human
 * agent takes them (the server's `/desk` endpoint sends `handoff.accepted` to the session) or the
 * session's SLA timer gives up. Embedding programs replace it with their own {@link HandoffDesk}
 * (a ticketing system, a pager).
 *
 * Once a desk endpoint calls {@link LocalHandoffDesk.requireStaff}, a tenant's requests are
 * queued only while at least one of its human agents is on duty; otherwise the desk answers
 * `unavailable` at once, so the chart offers a ticket or a callback instead of a queue nobody
 * reads.
 */
import type { HandoffDesk } from '../../actors/handoff.actor.js';
import type { HandoffInput, HandoffOutput } from '../../machines/actor-contracts.js';
import { systemClock } from '../clock.js';

/** A request waiting at the local desk. */
export interface QueuedHandoff {
  readonly session: string;
  readonly tenant: string;
  readonly user: string;
  readonly reason: string;
  readonly transcript: HandoffInput['transcript'];
  readonly summary: HandoffInput['summary'];
  /** When it joined the queue (ms since the epoch, from the desk's `now`). */
  readonly queuedAt: number;
}

/** What changed at the desk, for a desk UI to refresh one tenant's view. */
export interface DeskChange {
  /** `queued`: a request joined; `removed`: one left (taken or withdrawn); `duty`: agents on duty changed. */
  readonly kind: 'queued' | 'removed' | 'duty';
  readonly tenant: string;
  /** The session, for `queued` and `removed`. */
  readonly session?: string;
}

/** The local desk: the port, plus its queue and roster for a desk UI. */
export interface LocalHandoffDesk extends HandoffDesk {
  /** Answers at once: the local desk never waits. */
  request(request: HandoffInput): HandoffOutput;
  /** Requests waiting, oldest first; only `tenant`'s when given. */
  queue(tenant?: string): readonly QueuedHandoff[];
  /** Removes a session's request and returns it (accepted, withdrawn or expired). */
  take(session: string): QueuedHandoff | undefined;
  /** Puts a request back in its place by `queuedAt` (an acceptance that failed, a restart). */
  restore(entry: QueuedHandoff): void;
  /** From now on a tenant's requests are queued only while one of its agents is on duty. Idempotent. */
  requireStaff(): void;
  /** Counts one human agent of `tenant` on duty; the returned function ends that duty (idempotent). */
  onDuty(tenant: string): () => void;
  /** Agents of `tenant` on duty. */
  staffOf(tenant: string): number;
  /** Calls `listener` after every change; returns the function that stops it. */
  watch(listener: (change: DeskChange) => void): () => void;
}

/** Options of {@link createLocalHandoffDesk}. */
export interface LocalHandoffDeskOptions {
  /** Whether anyone staffs the desk at all. Default true (see also `requireStaff`). */
  readonly available?: boolean | (() => boolean);
  /** Requests waiting per tenant; beyond it, `unavailable` with reason `queue_full`. Default 100. */
  readonly maxQueue?: number;
  /** Time source for `queuedAt`. Default: the system clock. */
  readonly now?: () => number;
}

/**
 * Creates the local desk.
 *
 * @example
 * ```ts
 * const desk = createLocalHandoffDesk({ maxQueue: 50 });
 * createDefaultAgent({ ...ports, desk });
 * desk.requireStaff();
 * const offDuty = desk.onDuty('acme'); // an agent of acme connected
 * ```
 */
export function createLocalHandoffDesk(options: LocalHandoffDeskOptions = {}): LocalHandoffDesk {
  const waiting: QueuedHandoff[] = [];
  const staff = new Map<string, number>();
  const listeners = new Set<(change: DeskChange) => void>();
  const maxQueue = options.maxQueue ?? 100;
  if (!Number.isInteger(maxQueue) || maxQueue < 1) throw new TypeError('option maxQueue must be an integer ≥ 1');
  if (options.now !== undefined && typeof options.now !== 'function') throw new TypeError('option now must be a function');
  const now = options.now ?? (() => systemClock.now());
  let staffRequired = false;
  const configured = () => (typeof options.available === 'function' ? options.available() : (options.available ?? true));
  const staffOf = (tenant: string) => staff.get(tenant) ?? 0;

  const notify = (change: DeskChange): void => {
    for (const listener of [...listeners]) {
      try {
        listener(change);
      } catch {
        // A failing desk view must not fail the session that asked for a human.
      }
    }
  };

  const remove = (session: string): QueuedHandoff | undefined => {
    const i = waiting.findIndex((q) => q.session === session);
    if (i < 0) return undefined;
    const [entry] = waiting.splice(i, 1) as [QueuedHandoff];
    notify({ kind: 'removed', tenant: entry.tenant, session });
    return entry;
  };

  const insert = (entry: QueuedHandoff): void => {
    // Oldest first: a restored request goes back where it was, not to the end.
    const at = waiting.findIndex((q) => q.queuedAt > entry.queuedAt);
    if (at < 0) waiting.push(entry);
    else waiting.splice(at, 0, entry);
    notify({ kind: 'queued', tenant: entry.tenant, session: entry.session });
  };

  return {
    request(req): HandoffOutput {
      const tenant = req.identity.tenant;
      if (!configured() || (staffRequired && staffOf(tenant) === 0)) return { status: 'unavailable', reason: 'no_agent_online' };
      remove(req.session);
      const ahead = waiting.filter((q) => q.tenant === tenant).length;
      if (ahead >= maxQueue) return { status: 'unavailable', reason: 'queue_full' };
      insert({ session: req.session, tenant, user: req.identity.user, reason: req.reason, transcript: req.transcript, summary: req.summary, queuedAt: now() });
      return { status: 'queued', position: ahead + 1 };
    },
    queue: (tenant) => waiting.filter((q) => tenant === undefined || q.tenant === tenant),
    take: remove,
    restore(entry) {
      remove(entry.session);
      insert(entry);
    },
    requireStaff() {
      staffRequired = true;
    },
    onDuty(tenant) {
      staff.set(tenant, staffOf(tenant) + 1);
      notify({ kind: 'duty', tenant });
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        const left = staffOf(tenant) - 1;
        if (left <= 0) staff.delete(tenant);
        else staff.set(tenant, left);
        notify({ kind: 'duty', tenant });
      };
    },
    staffOf,
    watch(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
