/**
 * The persisted decision trace: every decision event, already redacted, kept in the LMDB
 * `events` database under `[time, n]` so that time-range queries are range scans. Writes are
 * batched with the turns' commits but never awaited: the trace must not slow the agents.
 */
import type { Database } from 'lmdb';
import type { Clock, DecisionEvent, DecisionKind, Sealer } from '../ports.js';
import { observeWrite, type LmdbEnv } from '../store/lmdb-env.js';
import type { SessionId, TenantId, UserId } from '../types.js';

/** A query over the trace. All filters are optional; `tenant` is required for non-admin callers. */
export interface EventQuery {
  readonly since?: number;
  readonly until?: number;
  readonly tenant?: TenantId;
  readonly session?: SessionId;
  readonly user?: UserId;
  readonly kinds?: readonly DecisionKind[];
  /** Default 1000. */
  readonly limit?: number;
  /** Newest first. Default false. */
  readonly reverse?: boolean;
}

export interface EventStore {
  append(event: DecisionEvent): void;
  /** Writes the events appended in this tick now (before closing). */
  flush(): void;
  query(query: EventQuery): DecisionEvent[];
  /** Removes events older than `retentionMs`; returns how many. */
  prune(): Promise<number>;
  /** Removes every event of one user (erasure). */
  forgetUser(tenant: TenantId, user: UserId): Promise<number>;
}

export interface EventStoreOptions {
  readonly env: LmdbEnv;
  readonly clock: Clock;
  /** How long events are kept. Default 30 days. */
  readonly retentionMs?: number;
  /** Called when a write fails (the trace is best effort; the agent goes on). */
  readonly onError?: (err: unknown) => void;
  /**
   * Seals each event's `reason` and `data` for its tenant (they can quote what customers said,
   * such as recalled memories); the fields queries filter on stay readable. Events of a tenant
   * whose key was deleted are left out of query results. Default none (stored as they come).
   */
  readonly sealer?: Sealer;
}

/** An event as stored with a sealer: `reason` and `data` are inside `sealed`. */
type SealedEvent = Omit<DecisionEvent, 'reason' | 'data'> & { readonly reason: ''; readonly data: Record<string, never>; readonly sealed: Uint8Array };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Creates the event store.
 *
 * @example
 * ```ts
 * const events = createEventStore({ env, clock: systemClock });
 * runtime.decisions.subscribe((e) => events.append(e));
 * events.query({ tenant, user, since: Date.now() - 7 * 86_400_000 });
 * ```
 */
export function createEventStore(options: EventStoreOptions): EventStore {
  const db: Database = options.env.db('events');
  const retentionMs = options.retentionMs ?? 30 * 86_400_000;
  if (!Number.isFinite(retentionMs) || retentionMs <= 0) throw new TypeError('option retentionMs must be a positive number');
  let counter = 0;
  // Events of one tick are stored as one batch under one key: a put per tick, not per event.
  let batch: Array<DecisionEvent | SealedEvent> = [];
  const { sealer } = options;
  const seal = (e: DecisionEvent): DecisionEvent | SealedEvent =>
    sealer ? { ...e, reason: '', data: {}, sealed: sealer.seal(e.tenant, encoder.encode(JSON.stringify({ reason: e.reason, data: e.data }))) } : e;
  /** The event as appended, or undefined when it cannot be opened any more (erased tenant key). */
  const unseal = (e: DecisionEvent | SealedEvent): DecisionEvent | undefined => {
    if (!('sealed' in e) || !(e.sealed instanceof Uint8Array)) return e as DecisionEvent;
    if (!sealer) return undefined;
    try {
      const { sealed: _sealed, ...rest } = e;
      const inner = JSON.parse(decoder.decode(sealer.open(e.tenant, e.sealed))) as Pick<DecisionEvent, 'reason' | 'data'>;
      return { ...rest, reason: inner.reason, data: inner.data };
    } catch {
      return undefined;
    }
  };
  const flush = (): void => {
    const events = batch;
    batch = [];
    const first = events[0];
    if (!first) return;
    counter = (counter + 1) % 1_000_000_000;
    observeWrite(db.put([first.time, counter], events)).catch((err: unknown) => options.onError?.(err));
  };
  const matches = (e: DecisionEvent, q: EventQuery): boolean =>
    (q.tenant === undefined || e.tenant === q.tenant) &&
    (q.session === undefined || e.session === q.session) &&
    (q.user === undefined || e.user === q.user) &&
    (q.kinds === undefined || q.kinds.includes(e.kind));
  const stored = (value: unknown): DecisionEvent[] => (Array.isArray(value) ? (value as DecisionEvent[]) : [value as DecisionEvent]);
  return {
    append(event) {
      // A batch is keyed by its first event's time, so it must not span a jump of the clock.
      const first = batch[0];
      if (first && Math.abs(event.time - first.time) > 1000) flush();
      if (batch.length === 0) setImmediate(flush);
      batch.push(seal(event));
    },
    flush,
    query(q) {
      const limit = q.limit ?? 1000;
      const out: DecisionEvent[] = [];
      const start = [q.since ?? 0];
      const end = [q.until ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
      const range = q.reverse ? db.getRange({ start: end, end: start, reverse: true }) : db.getRange({ start, end });
      const since = q.since ?? 0;
      const until = q.until ?? Number.MAX_SAFE_INTEGER;
      outer: for (const { value } of range) {
        const events = stored(value);
        for (const e of q.reverse ? [...events].reverse() : events) {
          if (e.time < since || e.time > until || !matches(e, q)) continue;
          const open = unseal(e);
          if (!open) continue;
          out.push(open);
          if (out.length >= limit) break outer;
        }
      }
      return out;
    },
    async prune() {
      const cutoff = options.clock.now() - retentionMs;
      let removed = 0;
      const writes: Promise<unknown>[] = [];
      for (const { key, value } of db.getRange({ start: [0], end: [cutoff] })) {
        writes.push(observeWrite(db.remove(key)));
        removed += stored(value).length;
      }
      await Promise.all(writes);
      return removed;
    },
    async forgetUser(tenant, user) {
      const writes: Promise<unknown>[] = [];
      let removed = 0;
      for (const { key, value } of db.getRange({})) {
        const events = stored(value);
        const kept = events.filter((e) => !(e.tenant === tenant && e.user === user));
        if (kept.length === events.length) continue;
        removed += events.length - kept.length;
        writes.push(observeWrite(kept.length === 0 ? db.remove(key) : db.put(key, kept)));
      }
      await Promise.all(writes);
      return removed;
    },
  };
}
