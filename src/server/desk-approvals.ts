/**
 * The approvals board of the desk: high-impact tool calls the tool guard held for a human
 * (decision `guard` / `awaiting_approval`), per tenant, until one is approved, refused or done.
 * It reads the runtime's decision stream, which is already redacted.
 */
import type { DecisionEvent } from '../ports.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Json } from '../types.js';
import type { DeskApproval } from './desk-frames.js';

/** Pending approvals, per tenant. */
export interface ApprovalBoard {
  /** Pending approvals of `tenant`, oldest first. */
  list(tenant: string): DeskApproval[];
  /** The session's pending approval, if any. */
  get(sessionId: string): DeskApproval | undefined;
  /** Forgets a session's pending approval (approved or refused at the desk). */
  clear(sessionId: string): void;
  /**
   * Puts back the calls a previous run left waiting (the desk's start-up sweep finds the sessions
   * in `approvals.waiting`); their task, call and arguments come from the trace when it still has
   * them, read in one bounded scan for all of them.
   */
  restore(sessions: ReadonlyArray<{ readonly sessionId: string; readonly tenant: string; readonly user: string; readonly updatedAt: number }>): void;
  stop(): void;
}

/** Trace batches read at most to find the restored approvals' details (about 2 µs each). */
const RESTORE_SCAN_BATCHES = 5_000;

/** Decisions after which a session has no call waiting any more. */
const SETTLED = new Set(['approved_call_ok', 'approved_call_failed', 'approval_rejected']);

/**
 * Creates the board; `changed(tenant)` runs after each change of a tenant's list.
 *
 * @example
 * ```ts
 * const board = createApprovalBoard({ runtime, changed: (tenant) => broadcastApprovals(tenant) });
 * board.list('acme'); // [{ sessionId, user, task: 'refund', tool: 'issue_refund', since }]
 * ```
 */
export function createApprovalBoard(args: { readonly runtime: Runtime; readonly changed: (tenant: string) => void }): ApprovalBoard {
  const pending = new Map<string, DeskApproval & { readonly tenant: string }>();
  const text = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v.slice(0, 100) : null);
  const callOf = (v: unknown): string | null => (typeof v === 'string' && v !== '' && v.length <= 200 ? v : null);
  const argsOf = (v: unknown): Record<string, Json> | null => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, Json>) : null);
  const entryOf = (e: DecisionEvent | undefined, at: { tenant: string; sessionId: string; user: string; since: number }) => ({
    tenant: at.tenant, sessionId: at.sessionId, user: at.user, task: text(e?.data.task), tool: text(e?.data.tool),
    call: callOf(e?.data.call), args: argsOf(e?.data.args), since: e?.time ?? at.since,
  });
  const withoutTenant = ({ tenant: _tenant, ...rest }: DeskApproval & { readonly tenant: string }): DeskApproval => rest;

  const onDecision = (e: DecisionEvent): void => {
    if (e.kind === 'session' && e.reason === 'erased') {
      if (pending.delete(e.session)) args.changed(e.tenant);
    } else if (e.reason === 'awaiting_approval' && e.kind === 'guard') {
      pending.set(e.session, entryOf(e, { tenant: e.tenant, sessionId: e.session, user: e.user, since: e.time }));
      args.changed(e.tenant);
    } else if (pending.has(e.session) && (SETTLED.has(e.reason) || (e.kind === 'guard' && e.data.approved === true))) {
      pending.delete(e.session);
      args.changed(e.tenant);
    }
  };
  const unsubscribe = args.runtime.decisions.subscribe(onDecision);

  return {
    list(tenant) {
      return [...pending.values()].filter((p) => p.tenant === tenant).map(withoutTenant);
    },
    get(sessionId) {
      const entry = pending.get(sessionId);
      return entry ? withoutTenant(entry) : undefined;
    },
    restore(sessions) {
      const missing = sessions.filter((s) => !pending.has(s.sessionId));
      if (missing.length === 0) return;
      // One scan, newest first, for every session: bounded, since the trace is read on the event loop.
      const latest = Math.max(...missing.map((s) => s.updatedAt));
      const { events } = args.runtime.events.queryPage({ kinds: ['guard'], until: latest + 1, reverse: true, limit: 10_000, maxBatches: RESTORE_SCAN_BATCHES });
      const held = new Map<string, DecisionEvent>();
      for (const e of events) if (e.reason === 'awaiting_approval' && !held.has(e.session)) held.set(e.session, e);
      const tenants = new Set<string>();
      for (const { sessionId, tenant, user, updatedAt } of missing) {
        const e = held.get(sessionId);
        pending.set(sessionId, entryOf(e !== undefined && e.tenant === tenant && e.time <= updatedAt ? e : undefined, { tenant, sessionId, user, since: updatedAt }));
        tenants.add(tenant);
      }
      for (const tenant of tenants) args.changed(tenant);
    },
    clear(sessionId) {
      const entry = pending.get(sessionId);
      if (!entry) return;
      pending.delete(sessionId);
      args.changed(entry.tenant);
    },
    stop: unsubscribe,
  };
}
