/**
 * Who may do what to a session, and the audit records of it: the runtime's deny-by-default rules
 * for opening, reading, writing and signalling a session (DESIGN §5), and the hand-off protocol
 * as the session lived it.
 */
import { KeelError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { HANDOFF_HELD, HANDOFF_OPEN } from '../ports.js';
import { systemActor, type AuditLog } from '../security/audit-log.js';
import type { SessionFrame } from '../sessions/session-frames.js';
import type { Identity, SessionId } from '../types.js';

/** What a caller does to a session. */
export type SessionAction = 'message' | 'read' | 'signal';

/** The session rules of one runtime. */
export interface SessionAccess {
  /**
   * Throws KeelError `forbidden` (and audits the refusal) unless `as` may do `action` to a session
   * owned by `session`; a signal names its event type. No `as` means trusted embedding code: allowed.
   */
  authorize(session: { readonly tenant: string; readonly user: string }, as: Identity | undefined, action: SessionAction, id: SessionId, eventType?: string): void;
  /** Audits the `handoff` frames of a commit, as keel itself acting in the session's tenant. */
  auditHandoffs(id: SessionId, frames: readonly SessionFrame[]): void;
}

/** Options of {@link createSessionAccess}. */
export interface SessionAccessOptions {
  readonly audit: AuditLog;
  readonly logger: Logger;
  /** The owner of a session, `undefined` when it does not exist. */
  readonly ownerOf: (id: SessionId) => { readonly tenant: string; readonly user: string } | undefined;
  /**
   * The session's latest hand-off (its status, and the user id of the agent who accepted it when
   * one did), `undefined` when it was never handed off.
   */
  readonly handoffOf: (id: SessionId) => { readonly status: string; readonly agentUser?: string } | undefined;
}

/** Signals any agent of the tenant may send whoever holds the conversation: decisions on held tool calls. */
const ANY_AGENT_SIGNALS: ReadonlySet<string> = new Set(['operator.approve', 'operator.reject']);


/**
 * Creates the rules. A customer reaches only their own sessions and only with messages; an agent
 * (a human on a hand-off) signals (approvals, hand-off events), and reads and writes only a
 * conversation handed to humans, while it is; once one agent has accepted it, only that agent
 * reads, writes and sends it hand-off signals (any agent may still decide on held tool calls); an
 * admin signals but never speaks in a customer's conversation; an engineer only reads. No role
 * crosses tenants.
 *
 * @example
 * ```ts
 * const access = createSessionAccess({ audit, logger, ownerOf: (id) => store.getSession(id), handoffOf: (id) => store.lastHandoff(id) });
 * access.authorize(record, engineer, 'message', id); // KeelError forbidden, audited
 * ```
 */
export function createSessionAccess(options: SessionAccessOptions): SessionAccess {
  const { audit, logger, ownerOf, handoffOf } = options;

  /** Fire and forget: an audit failure must not change the outcome it records. */
  const append = (entry: Parameters<AuditLog['append']>[0]): void => {
    audit.append(entry).catch((err: unknown) => logger.warn({ err }, 'audit append failed'));
  };

  return Object.freeze({
    authorize(session: { readonly tenant: string; readonly user: string }, as: Identity | undefined, action: SessionAction, id: SessionId, eventType?: string) {
      if (!as) return;
      let why: string | undefined;
      let rule = 'role';
      if (as.tenant !== session.tenant) [why, rule] = ['this session belongs to another user', 'tenant'];
      else if (as.role === 'customer' && as.user !== session.user) [why, rule] = ['this session belongs to another user', 'ownership'];
      else if (as.role === 'customer' && action === 'signal') why = 'customers send messages; signals come from staff';
      else if (as.role === 'engineer' && action !== 'read') why = 'engineers observe sessions; they do not write to them';
      else if (as.role === 'admin' && action === 'message') why = "admins do not write in customers' conversations";
      else if (as.role === 'agent') {
        const handoff = action === 'signal' && ANY_AGENT_SIGNALS.has(eventType ?? '') ? undefined : handoffOf(id);
        if (action !== 'signal' && !HANDOFF_OPEN.has(handoff?.status ?? '')) {
          [why, rule] = ['human agents reach a conversation only while it is handed to humans', 'handoff'];
        } else if (handoff && HANDOFF_HELD.has(handoff.status) && handoff.agentUser !== undefined && handoff.agentUser !== as.user) {
          [why, rule] = ['another agent has taken this conversation', 'handoff_taken'];
        }
      }
      if (why === undefined) return;
      append({ actor: as, action: `session.${action}`, target: `session:${id}`, outcome: 'denied', details: { rule } });
      throw new KeelError('forbidden', why, { details: { rule } });
    },
    auditHandoffs(id: SessionId, frames: readonly SessionFrame[]) {
      for (const f of frames) {
        if (f.type !== 'handoff') continue;
        const owner = ownerOf(id);
        if (!owner) continue;
        const status = typeof f.status === 'string' && /^[a-z_]{1,32}$/.test(f.status) ? f.status : 'unknown';
        append({
          actor: systemActor(owner.tenant),
          action: `handoff.${status}`,
          target: `session:${id}`,
          outcome: status === 'failed' || status === 'unavailable' ? 'failed' : 'ok',
          details: { user: owner.user, seq: f.seq },
        });
      }
    },
  });
}
