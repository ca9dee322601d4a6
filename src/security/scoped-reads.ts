/**
 * Reads of the decision trace and the audit trail on behalf of a signed-in person: the role is
 * checked (`events.read`, `audit.read`), the tenant comes from the identity and never from the
 * query, and every refusal is itself audited. The runtime's own `events.query` and `audit.read`
 * are for trusted code on the host (the CLI); anything serving a remote caller goes through here.
 */
import { KeelError } from '../errors.js';
import type { EventQuery } from '../observe/event-store.js';
import type { DecisionEvent } from '../ports.js';
import type { Identity, SessionId, TenantId, UserId } from '../types.js';
import type { AuditLog, AuditRecord } from './audit-log.js';
import { assertCan, type Permission } from './roles.js';

/** A trace query as a remote caller may ask it: no tenant (it is the caller's). */
export interface ScopedEventQuery {
  readonly since?: number;
  readonly until?: number;
  readonly session?: SessionId | string;
  readonly user?: UserId | string;
  readonly kinds?: readonly DecisionEvent['kind'][];
  /** Default 200, at most 1000. */
  readonly limit?: number;
  readonly reverse?: boolean;
  /** Refused unless it is the caller's own tenant: a query naming another tenant is an attack, not a typo. */
  readonly tenant?: TenantId | string;
}

/** What {@link createScopedReads} needs: the runtime fits. */
export interface ScopedReadSources {
  readonly events: { query(q: EventQuery): DecisionEvent[] };
  readonly audit: AuditLog;
}

/** Reads scoped to the caller. */
export interface ScopedReads {
  /** Decision events of the caller's tenant. Throws KeelError `forbidden` (audited) without `events.read` or for another tenant. */
  events(identity: Identity, query?: ScopedEventQuery): Promise<DecisionEvent[]>;
  /** Audit records whose actor belongs to the caller's tenant. Throws KeelError `forbidden` (audited) without `audit.read`. */
  audit(identity: Identity, options?: { readonly fromSeq?: number; readonly limit?: number }): Promise<AuditRecord[]>;
}

const MAX_LIMIT = 1000;

/**
 * Creates scoped reads over a runtime's trace and audit trail.
 *
 * @example
 * ```ts
 * const reads = createScopedReads(runtime);
 * const events = await reads.events(engineer, { since: Date.now() - 7 * 86_400_000 }); // the engineer's tenant only
 * await reads.events(customer); // KeelError forbidden, and an audit record of the attempt
 * ```
 */
export function createScopedReads(sources: ScopedReadSources): ScopedReads {
  if (typeof sources?.events?.query !== 'function' || typeof sources.audit?.append !== 'function') {
    throw new TypeError('sources must have events.query and an audit log');
  }
  const { audit } = sources;

  const demand = async (identity: Identity, permission: Permission, target: string, extra?: () => void): Promise<void> => {
    try {
      assertCan(identity, permission);
      extra?.();
    } catch (err) {
      await audit.append({ actor: identity, action: permission, target, outcome: 'denied', details: { code: (err as KeelError).code ?? 'forbidden' } }).catch(() => undefined);
      throw err;
    }
  };

  const limitOf = (limit: number | undefined, fallback: number): number => {
    if (limit === undefined) return fallback;
    if (!Number.isSafeInteger(limit) || limit < 1) throw new KeelError('bad_frame', 'limit must be a positive integer');
    return Math.min(limit, MAX_LIMIT);
  };

  return Object.freeze({
    async events(identity: Identity, query: ScopedEventQuery = {}) {
      await demand(identity, 'events.read', `tenant:${String(query.tenant ?? identity?.tenant)}`, () => {
        if (query.tenant !== undefined && query.tenant !== identity.tenant) {
          throw new KeelError('forbidden', "'events.read' is refused: the trace belongs to another tenant", { details: { rule: 'tenant' } });
        }
      });
      return sources.events.query({
        tenant: identity.tenant,
        ...(query.since !== undefined ? { since: query.since } : {}),
        ...(query.until !== undefined ? { until: query.until } : {}),
        ...(query.session !== undefined ? { session: query.session as SessionId } : {}),
        ...(query.user !== undefined ? { user: query.user as UserId } : {}),
        ...(query.kinds !== undefined ? { kinds: query.kinds } : {}),
        ...(query.reverse !== undefined ? { reverse: query.reverse } : {}),
        limit: limitOf(query.limit, 200),
      });
    },
    async audit(identity: Identity, options: { readonly fromSeq?: number; readonly limit?: number } = {}) {
      await demand(identity, 'audit.read', `tenant:${String(identity?.tenant)}`);
      return audit.read({ fromSeq: options.fromSeq ?? 1, limit: limitOf(options.limit, 100), tenant: identity.tenant });
    },
  });
}
