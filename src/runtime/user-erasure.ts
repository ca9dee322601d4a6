/**
 * Erasing a user: everything keel holds about one user of one tenant — their sessions with
 * snapshots and journals, the side-effect outcomes and token counts of those sessions, their
 * decision trace, their structured context, their memories and those memories' vectors in the
 * tenant's index — and one audit record saying it was done. `runtime.forget` and `keel forget`
 * both run this, so the two never differ in what they erase.
 */
import type { UserMemory } from '../memory/user-memory.js';
import type { EventStore } from '../observe/event-store.js';
import type { AuditActor, AuditLog } from '../security/audit-log.js';
import type { SessionTokenMeter } from '../security/session-token-meter.js';
import type { EffectLedgerStore } from '../store/effect-ledger.js';
import type { LmdbEnv } from '../store/lmdb-env.js';
import type { SessionStore } from '../store/session-store.js';
import type { Identity, SessionId, TenantId, UserId } from '../types.js';

/** The stores that hold a user's data. */
export interface UserDataStores {
  readonly env: LmdbEnv;
  readonly sessions: SessionStore;
  readonly effects: Pick<EffectLedgerStore, 'forget'>;
  readonly llmTokens: Pick<SessionTokenMeter, 'forget'>;
  readonly events: Pick<EventStore, 'flush' | 'forgetUser'>;
  /** Absent when memory is off. */
  readonly memory: UserMemory | undefined;
  readonly audit: AuditLog;
}

/** What an erasure removed. */
export interface UserErasure {
  readonly sessions: number;
  /** Decision-trace events. */
  readonly events: number;
  readonly memories: number;
  /** Whether the user had a structured context. */
  readonly context: boolean;
}

/**
 * Erases one user and records it in the audit trail (counts only, never content). Resolves after
 * every removal is flushed to disk.
 *
 * @example
 * ```ts
 * await eraseUser(stores, { tenant, user }, adminIdentity, { beforeSession: (id) => stopLiveSession(id) });
 * ```
 */
export async function eraseUser(
  stores: UserDataStores,
  args: { readonly tenant: TenantId; readonly user: UserId },
  actor: Identity | AuditActor,
  options: { readonly beforeSession?: (id: SessionId) => Promise<void> } = {},
): Promise<UserErasure> {
  const owned = stores.sessions.listSessions({ tenant: args.tenant, user: args.user, limit: Number.MAX_SAFE_INTEGER });
  for (const { id } of owned) {
    await options.beforeSession?.(id);
    await stores.sessions.eraseSession(id);
    // Tool results and token counts are the session's too.
    await stores.effects.forget(`${id}:`);
    stores.llmTokens.forget(id);
  }
  stores.events.flush();
  await stores.env.flushed();
  const events = await stores.events.forgetUser(args.tenant, args.user);
  // Context, memories and their index vectors (the index file is saved again without them).
  const memory = stores.memory ? await stores.memory.forget(args.tenant, args.user) : { memories: 0, context: false };
  await stores.audit.append({
    actor,
    action: 'user.forget',
    target: `user:${args.user}`,
    outcome: 'ok',
    details: { sessions: owned.length, events, memories: memory.memories, context: memory.context },
  });
  await stores.env.flushed();
  return { sessions: owned.length, events, ...memory };
}
