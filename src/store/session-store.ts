/**
 * Durable session records, the per-session journal, the message-id index and the wake index,
 * over one LMDB environment. Writes issued in the same event-loop turn share one transaction
 * (lmdb-js event-turn batching), so many sessions' turns commit and flush together.
 */
import type { Database } from 'lmdb';
import type { Sealer } from '../ports.js';
import type { SessionId, TenantId, UserId } from '../types.js';
import { countEntries, observeWrite, translateCommitError, type LmdbEnv } from './lmdb-env.js';
import { createResumeGate } from './resume-gate.js';

/** A delayed event pending in a session, re-armed on hydration. */
export interface StoredTimer {
  /** XState's scheduled-event id. */
  readonly id: string;
  /** Absolute deadline on the runtime clock, in ms. */
  readonly deadline: number;
  readonly event: Readonly<Record<string, unknown>>;
  /** Invoke-id path from the root actor to the source and target actors ([] = root). */
  readonly sourcePath: readonly string[];
  readonly targetPath: readonly string[];
}

/** What is stored per session. The snapshot is sealed for the tenant. */
export interface SessionRecord {
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly channel: string;
  readonly machineId: string;
  readonly machineVersion: string;
  /** The persisted XState snapshot, JSON, sealed. */
  readonly snapshot: Uint8Array;
  /** Last journal seq used. */
  readonly seq: number;
  readonly timers: readonly StoredTimer[];
  /** Inbound seqs accepted but not yet answered (re-run on restore). */
  readonly pending: readonly number[];
  /** The current state, for listings (no personal data). */
  readonly state: string;
  readonly createdAt: number;
  readonly updatedAt: number;
  /**
   * The session's entry in the wake index when it is not its earliest timer's: a turn under way
   * holds one due at once (so that a restart answers it), and whoever runs the session next must
   * move that entry, not the timer's. Absent otherwise.
   */
  readonly wakeAt?: number;
}

/** One journal record: an accepted inbound message or an outbound frame. Text is sealed. */
export interface JournalRecord {
  readonly seq: number;
  readonly dir: 'in' | 'out';
  /** `message` for inbound; `reply`, `handoff` or `notice` for outbound. */
  readonly type: string;
  /** The client message id (inbound) or the message id this frame answers (outbound). */
  readonly messageId?: string;
  readonly text: string;
  readonly state?: string;
  readonly meta?: Readonly<Record<string, unknown>>;
  readonly time: number;
}

/** A stored group: the records without their texts, and the texts sealed together as a JSON array. */
interface StoredGroup {
  readonly records: ReadonlyArray<Omit<JournalRecord, 'text'>>;
  readonly sealed: Uint8Array;
}

/** The message-id index entry: where the message and its replies sit in the journal. */
export interface MessageIndexEntry {
  readonly inSeq: number;
  /** Seqs of the outbound frames that answered it; absent while the turn is in flight. */
  readonly outSeqs?: readonly number[];
}

export interface SessionStore {
  getSession(id: SessionId): SessionRecord | undefined;
  putSession(id: SessionId, record: SessionRecord): Promise<unknown>;
  deleteSession(id: SessionId): Promise<unknown>;
  /** Removes a session's record, journal, message index and wake entry. */
  eraseSession(id: SessionId): Promise<void>;
  getMessage(id: SessionId, messageId: string): MessageIndexEntry | undefined;
  putMessage(id: SessionId, messageId: string, entry: MessageIndexEntry): Promise<unknown>;
  /**
   * Writes the journal records of one step (an accepted message and its answer, or an unprompted
   * output) as one group under the first record's seq, sealed together: one put and one seal per
   * step. Writing a group again under the same first seq replaces it (the answer completing the
   * group of a message that was accepted earlier).
   */
  appendJournal(id: SessionId, tenant: TenantId, records: readonly JournalRecord[]): Promise<unknown>;
  /**
   * The session's latest hand-off frame: its status (`requested`, `queued`, `with_agent`,
   * `completed`...) and, when the frame names one, the user id of the human agent who accepted it
   * (`agentUser`). Read from the journal's clear metadata: nothing is unsealed. Only the newest
   * `maxGroups` journal groups are read; none there means `undefined`.
   */
  lastHandoff(id: SessionId, maxGroups?: number): { readonly status: string; readonly agentUser?: string } | undefined;
  /** Journal records with `fromSeq <= seq <= toSeq`, text unsealed. */
  readJournal(id: SessionId, tenant: TenantId, fromSeq: number, toSeq?: number): JournalRecord[];
  /** Moves the session's wake-up entry (earliest timer deadline) in the wake index. */
  setWake(id: SessionId, previous: number | undefined, next: number | undefined): Promise<unknown>[];
  /** Wake entries with deadline <= `until`, earliest first; strictly after `after` when given (paging). */
  dueWakes(until: number, limit: number, after?: { deadline: number; session: SessionId }): Array<{ deadline: number; session: SessionId }>;
  /** The earliest wake entry with a deadline after `time`, if any. */
  nextWakeAfter(time: number): { deadline: number; session: SessionId } | undefined;
  /** Records a new session under its owner (one write, at creation), for per-user counts and listings. */
  putOwner(id: SessionId, tenant: TenantId, user: UserId): Promise<unknown>;
  /** How many sessions are stored (live or passivated), from LMDB's own statistics: no scan. */
  countAll(): number;
  /** How many sessions `user` holds, counting up to `atMost` (reads the owner index, not the sessions). */
  countSessions(tenant: TenantId, user: UserId, atMost?: number): number;
  /** Session ids, optionally only one user's (a user's come from the owner index). */
  listSessions(filter?: { tenant?: TenantId; user?: UserId; limit?: number }): Array<{ id: SessionId; record: SessionRecord }>;
  /**
   * Waits for the given writes to commit and for the commit to be synced to disk; throws a
   * KeelError (`storage_full` / `storage_failed`) if any write failed.
   */
  commit(writes: readonly Promise<unknown>[]): Promise<void>;
  sealJson(tenant: TenantId, value: unknown): Uint8Array;
  openJson<T>(tenant: TenantId, sealed: Uint8Array): T;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A sealer that only encodes; for embedding programs that opt out of encryption at rest. */
export const plainSealer: Sealer = Object.freeze({
  seal: (_tenant: TenantId, plaintext: Uint8Array) => plaintext,
  open: (_tenant: TenantId, sealed: Uint8Array) => sealed,
});

/**
 * Creates the session store over `env`.
 *
 * @example
 * ```ts
 * const store = createSessionStore(openEnv({ dir }), plainSealer);
 * ```
 */
export function createSessionStore(env: LmdbEnv, sealer: Sealer): SessionStore {
  const sessions: Database = env.db('sessions');
  const journal: Database = env.db('journal');
  const messages: Database = env.db('messages');
  const wakes: Database = env.db('timers');
  const owners: Database = env.db('owners');
  buildOwnerIndexOnce(env, sessions, owners);
  /** Session ids from the owner index: one user's, or a whole tenant's without `user`. */
  const ownedBy = function* (tenant: TenantId, user?: UserId): Generator<SessionId> {
    for (const key of owners.getKeys({ start: user === undefined ? [tenant] : [tenant, user] })) {
      const [t, u, id] = key as [string, string, SessionId];
      if (t !== tenant || (user !== undefined && u !== user)) return;
      yield id;
    }
  };
  const lastHandoff = (id: SessionId, maxGroups = 1000): { status: string; agentUser?: string } | undefined => {
    for (const { key, value } of journal.getRange({ start: [id, Number.MAX_SAFE_INTEGER], end: [id, -1], reverse: true, limit: maxGroups })) {
      if ((key as [string, number])[0] !== id) break;
      const records = (value as StoredGroup).records;
      for (let i = records.length - 1; i >= 0; i--) {
        const r = records[i]!;
        if (r.type !== 'handoff') continue;
        if (typeof r.meta?.status !== 'string') return undefined;
        const agentUser = r.meta.agentUser;
        return typeof agentUser === 'string' ? { status: r.meta.status, agentUser } : { status: r.meta.status };
      }
    }
    return undefined;
  };
  const resume = createResumeGate();
  return {
    getSession: (id) => sessions.get(id) as SessionRecord | undefined,
    putSession: (id, record) => observeWrite(sessions.put(id, record)),
    deleteSession: (id) => observeWrite(sessions.remove(id)),
    async eraseSession(id) {
      const record = sessions.get(id) as SessionRecord | undefined;
      const writes: Promise<unknown>[] = [];
      for (const key of journal.getKeys({ start: [id, 0], end: [id, Number.MAX_SAFE_INTEGER] })) writes.push(observeWrite(journal.remove(key)));
      for (const key of messages.getKeys({ start: [id, ''], end: [id, '\uffff'] })) writes.push(observeWrite(messages.remove(key)));
      for (const t of record?.timers ?? []) writes.push(observeWrite(wakes.remove([t.deadline, id])));
      if (record?.wakeAt !== undefined) writes.push(observeWrite(wakes.remove([record.wakeAt, id])));
      if (record) writes.push(observeWrite(owners.remove([record.tenant, record.user, id])));
      writes.push(observeWrite(sessions.remove(id)));
      await this.commit(writes);
    },
    getMessage: (id, messageId) => messages.get([id, messageId]) as MessageIndexEntry | undefined,
    putMessage: (id, messageId, entry) => observeWrite(messages.put([id, messageId], entry)),
    appendJournal(id, tenant, records) {
      const first = records[0];
      if (!first) return Promise.resolve();
      const texts: string[] = [];
      const metas = records.map((r) => {
        texts.push(r.text);
        return withoutText(r);
      });
      const stored: StoredGroup = { records: metas, sealed: sealer.seal(tenant, encoder.encode(JSON.stringify(texts))) };
      return observeWrite(journal.put([id, first.seq], stored));
    },
    lastHandoff,
    readJournal(id, tenant, fromSeq, toSeq = Number.MAX_SAFE_INTEGER) {
      const out: JournalRecord[] = [];
      // The group holding fromSeq may start before it: begin at the last group key <= fromSeq.
      let startSeq = fromSeq;
      for (const key of journal.getKeys({ start: [id, fromSeq], end: [id, -1], reverse: true, limit: 1 })) {
        startSeq = (key as [string, number])[1];
      }
      for (const { key, value } of journal.getRange({ start: [id, startSeq], end: [id, toSeq + 0.5] })) {
        if ((key as [string, number])[0] !== id) break;
        const group = value as StoredGroup;
        const texts = JSON.parse(decoder.decode(sealer.open(tenant, group.sealed))) as string[];
        group.records.forEach((meta, i) => {
          if (meta.seq >= fromSeq && meta.seq <= toSeq) out.push({ ...meta, text: texts[i] ?? '' });
        });
      }
      return out;
    },
    setWake(id, previous, next) {
      const writes: Promise<unknown>[] = [];
      if (previous === next) return writes;
      if (previous !== undefined) writes.push(observeWrite(wakes.remove([previous, id])));
      if (next !== undefined) writes.push(observeWrite(wakes.put([next, id], 1)));
      return writes;
    },
    dueWakes(until, limit, after) {
      const out: Array<{ deadline: number; session: SessionId }> = [];
      for (const { key } of wakes.getRange({ start: after ? [after.deadline, after.session] : [0], end: [until, '\uffff'], limit: limit + 1 })) {
        const [deadline, session] = key as [number, SessionId];
        if (after && deadline === after.deadline && session === after.session) continue;
        out.push({ deadline, session });
        if (out.length >= limit) break;
      }
      return out;
    },
    nextWakeAfter(time) {
      for (const { key } of wakes.getRange({ start: [time, '\uffff'], limit: 1 })) {
        const [deadline, session] = key as [number, SessionId];
        return { deadline, session };
      }
      return undefined;
    },
    countAll: () => countEntries(sessions),
    putOwner: (id, tenant, user) => observeWrite(owners.put([tenant, user, id], 1)),
    countSessions(tenant, user, atMost = Number.MAX_SAFE_INTEGER) {
      let n = 0;
      for (const _ of ownedBy(tenant, user)) if (++n >= atMost) break;
      return n;
    },
    listSessions(filter = {}) {
      const out: Array<{ id: SessionId; record: SessionRecord }> = [];
      const limit = filter.limit ?? 1000;
      if (filter.tenant !== undefined) {
        // A tenant's (or one user's) sessions from the owner index: not a scan of every stored session.
        for (const id of ownedBy(filter.tenant, filter.user)) {
          const record = sessions.get(id) as SessionRecord | undefined;
          if (record) out.push({ id, record });
          if (out.length >= limit) break;
        }
        return out;
      }
      for (const { key, value } of sessions.getRange({})) {
        const record = value as SessionRecord;
        if (filter.user !== undefined && record.user !== filter.user) continue;
        out.push({ id: key as SessionId, record });
        if (out.length >= limit) break;
      }
      return out;
    },
    async commit(writes) {
      // lmdb-js answers every unconditional write of one transaction with the same promise, and
      // (with `separateFlushed`) hangs the sync of that transaction on it: a turn's writes usually
      // need one await for the commit and one for their own sync, shared by the transaction's turns.
      const first = writes[0];
      const shared = first !== undefined && writes.every((w) => w === first);
      let failure: { reason: unknown } | undefined;
      if (shared) {
        await first.then(undefined, (reason: unknown) => void (failure = { reason }));
      } else {
        const rejected = (await Promise.allSettled(writes)).find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (rejected) failure = { reason: rejected.reason };
      }
      if (failure) {
        // The same failed transaction also rejects the flush; observe it so nothing goes unhandled.
        env.flushed().catch(() => undefined);
        throw await translateCommitError(failure.reason, env.dir);
      }
      const own = shared ? (first as { flushed?: Promise<unknown> }).flushed : undefined;
      // Writes spread over transactions (or a promise without its own sync) wait for the latest one.
      await (own ?? env.flushed());
      await resume();
    },
    sealJson: (tenant, value) => sealer.seal(tenant, encoder.encode(JSON.stringify(value))),
    openJson: <T>(tenant: TenantId, sealed: Uint8Array) => JSON.parse(decoder.decode(sealer.open(tenant, sealed))) as T,
  };
}

/**
 * A record's fields but its text, in the record's order; absent fields stay absent. Built field by
 * field: rest destructuring (`{ text, ...rest }`) took V8's slow generic copy, about 3 µs a record.
 */
function withoutText(r: JournalRecord): Omit<JournalRecord, 'text'> {
  const out: Record<string, unknown> = { seq: r.seq, dir: r.dir, type: r.type };
  if (r.messageId !== undefined) out.messageId = r.messageId;
  if (r.state !== undefined) out.state = r.state;
  if (r.meta !== undefined) out.meta = r.meta;
  out.time = r.time;
  return out as unknown as Omit<JournalRecord, 'text'>;
}

/**
 * Data written before the owner index existed gets it once: one scan of the sessions, then a
 * marker in `meta` so later starts skip it.
 */
function buildOwnerIndexOnce(env: LmdbEnv, sessions: Database, owners: Database): void {
  const meta = env.db('meta');
  if (meta.get('owners.index') === 1) return;
  meta.transactionSync(() => {
    for (const { key, value } of sessions.getRange({})) {
      const record = value as SessionRecord;
      owners.putSync([record.tenant, record.user, key as string], 1);
    }
    meta.putSync('owners.index', 1);
  });
}
