/**
 * The persisted decision trace: every decision event, already redacted, kept in the LMDB
 * `events` database under `[time, n]` so that time-range queries are range scans. Writes are
 * batched with the turns' commits but never awaited: the trace must not slow the agents.
 */
import type { Database, Key } from 'lmdb';
import { KeelError } from '../errors.js';
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
  /**
   * Stored batches (one tick's events each) read at most before the scan stops: a narrow filter
   * over a long period reads every batch in it, about 2 µs each, all on the event loop. Default:
   * no bound. {@link EventStore.queryPage} says whether the scan stopped early.
   */
  readonly maxBatches?: number;
}

export interface EventStore {
  append(event: DecisionEvent): void;
  /** Writes the events appended in this tick now (before closing or an erasure). */
  flush(): void;
  query(query: EventQuery): DecisionEvent[];
  /** {@link query}, saying whether the scan read every batch it had to (false when `maxBatches` stopped it). */
  queryPage(query: EventQuery): { readonly events: DecisionEvent[]; readonly complete: boolean };
  /**
   * {@link queryPage} in slices: hands the matching events, oldest first, to `onEvents` a slice at
   * a time and gives the event loop back between slices, so a long scan (a report over days) does
   * not hold up the turns. The slices read one snapshot of the trace, and the events not written
   * yet when it starts: the result is the one {@link queryPage} would have given then. `reverse`
   * is not supported. An aborted `signal` ends the scan at its next slice with the signal's reason.
   */
  scan(query: EventQuery, onEvents: (events: readonly DecisionEvent[]) => void, options?: { readonly sliceBatches?: number; readonly signal?: AbortSignal }): Promise<{ readonly count: number; readonly complete: boolean }>;
  /** Removes events older than `retentionMs`; returns how many. */
  prune(): Promise<number>;
  /** Removes every event of one user (erasure). */
  forgetUser(tenant: TenantId, user: UserId): Promise<number>;
  /**
   * Before the environment closes: a {@link scan} running ends at its next slice with
   * `runtime_closed`, later ones are refused; resolves when none runs. Idempotent.
   */
  close(): Promise<void>;
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

/** Stored batches a {@link EventStore.scan} reads before it gives the event loop back. */
const SCAN_SLICE_BATCHES = 64;
/** Stored events a {@link EventStore.scan} examines before it gives the event loop back. */
const SCAN_SLICE_EVENTS = 2_000;
/** Events stored under one key at most: a busy tick's events go in several batches. */
const MAX_BATCH_EVENTS = 2_000;

/** Trace batches removed (pruning) or read (erasure) per commit. */
const PRUNE_SLICE = 1000;

/** An event inside a sealed batch: `reason` and `data` are item `b` of its tenant's blob. */
type BlobEvent = Omit<DecisionEvent, 'reason' | 'data'> & { readonly reason: ''; readonly data: Record<string, never>; readonly b: number };

/** One tick's events with a sealer: one seal per tenant per batch, not one per event. */
interface SealedBatch {
  readonly v: 2;
  readonly events: readonly BlobEvent[];
  readonly blobs: Readonly<Record<string, Uint8Array>>;
}

/** A single event or a plain batch: written without a sealer, or before the trace was sealed. */
type StoredValue = DecisionEvent | readonly DecisionEvent[] | SealedBatch;

/** The data of an event whose data is in the sealed blob. */
const NO_DATA: Record<string, never> = Object.freeze({});

const encoder = new TextEncoder();
const decoder = new TextDecoder();

const isBatch = (value: unknown): value is SealedBatch => value !== null && typeof value === 'object' && (value as { v?: unknown }).v === 2;

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
  let batch: DecisionEvent[] = [];
  // Batches handed to LMDB and not committed yet, by their whole key (the counter starts again in
  // every process, so a stored batch of an earlier run can have the same one): queries read them
  // from here, so a caller sees its own events at once, before the tick's batch is even written.
  // Each with its put: an erasure waits for those (after `env.flushed()` alone a scan can miss one).
  const unwritten = new Map<string, { readonly events: readonly DecisionEvent[]; readonly write: Promise<unknown> }>();
  const unwrittenKey = (key: Key): string => `${(key as [number, number])[0]}:${(key as [number, number])[1]}`;
  const { sealer } = options;
  /** One batch as stored: plain events without a sealer, else one sealed blob per tenant. */
  const pack = (events: readonly DecisionEvent[]): StoredValue => {
    if (!sealer) return events;
    const byTenant = new Map<string, Array<Pick<DecisionEvent, 'reason' | 'data'>>>();
    const packed = events.map((e): BlobEvent => {
      let items = byTenant.get(e.tenant);
      if (!items) byTenant.set(e.tenant, (items = []));
      items.push({ reason: e.reason, data: e.data });
      // A spread, not rest destructuring: V8 copies a spread on its fast path, about 3× faster here.
      return { ...e, reason: '', data: NO_DATA, b: items.length - 1 };
    });
    const blobs: Record<string, Uint8Array> = {};
    let failed: Set<string> | undefined;
    for (const [tenant, items] of byTenant) {
      try {
        blobs[tenant] = sealer.seal(tenant as TenantId, encoder.encode(JSON.stringify(items)));
      } catch (err) {
        // Runs on its own tick: a throw would end the process. The tenant whose events cannot be
        // sealed (its key store failing) loses this batch of its trace, reported; the others keep theirs.
        (failed ??= new Set()).add(tenant);
        options.onError?.(err);
      }
    }
    return { v: 2, events: failed ? packed.filter((e) => !failed.has(e.tenant)) : packed, blobs } satisfies SealedBatch;
  };
  /**
   * The events of a stored batch that pass `keep`, opened; events whose tenant key is gone
   * (erased) are left out. A tenant's blob is opened only when one of its events is wanted.
   */
  const unpack = (value: StoredValue, keep: (e: Omit<DecisionEvent, 'reason' | 'data'>) => boolean): DecisionEvent[] => {
    if (isBatch(value)) {
      const opened = new Map<string, Array<Pick<DecisionEvent, 'reason' | 'data'>> | undefined>();
      const blobOf = (tenant: string) => {
        if (!opened.has(tenant)) {
          let items: Array<Pick<DecisionEvent, 'reason' | 'data'>> | undefined;
          try {
            const blob = value.blobs[tenant];
            items = blob && sealer ? (JSON.parse(decoder.decode(sealer.open(tenant as TenantId, blob))) as typeof items) : undefined;
          } catch (err) {
            // A key store that cannot be used (KEEL_MASTER_KEY missing or wrong) is the reader's
            // problem to hear about, not an empty trace; data that does not open is left out.
            if (err instanceof KeelError && err.code === 'invalid_option') throw err;
            items = undefined;
          }
          opened.set(tenant, items);
        }
        return opened.get(tenant);
      };
      const out: DecisionEvent[] = [];
      for (const e of value.events) {
        if (!keep(e)) continue;
        const item = blobOf(e.tenant)?.[e.b];
        if (!item) continue;
        const { b: _b, ...meta } = e;
        out.push({ ...meta, reason: item.reason, data: item.data });
      }
      return out;
    }
    return (Array.isArray(value) ? value : [value as DecisionEvent]).filter(keep);
  };
  /** How many events a stored batch holds, without opening anything. */
  const sizeOf = (value: StoredValue): number => (isBatch(value) ? value.events.length : Array.isArray(value) ? value.length : 1);
  const flush = (): void => {
    const events = batch;
    batch = [];
    const first = events[0];
    if (!first) return;
    counter = (counter + 1) % 1_000_000_000;
    const key: [number, number] = [first.time, counter];
    const pending = unwrittenKey(key);
    const write = observeWrite(db.put(key, pack(events)))
      .catch((err: unknown) => options.onError?.(err))
      .finally(() => unwritten.delete(pending));
    unwritten.set(pending, { events, write });
  };
  const matches = (e: DecisionEvent, q: EventQuery): boolean =>
    (q.tenant === undefined || e.tenant === q.tenant) &&
    (q.session === undefined || e.session === q.session) &&
    (q.user === undefined || e.user === q.user) &&
    (q.kinds === undefined || q.kinds.includes(e.kind));
  /** The stored keys a query's time range spans (keys are `[time, counter]`). */
  const keysOf = (q: EventQuery): { start: Key; end: Key } => ({ start: [q.since ?? 0], end: [q.until ?? Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER] });
  /** Whether an event is one the query asks for: its filters and time range. */
  const wantedBy = (q: EventQuery): ((e: DecisionEvent) => boolean) => {
    const since = q.since ?? 0;
    const until = q.until ?? Number.MAX_SAFE_INTEGER;
    return (e) => e.time >= since && e.time <= until && matches(e, q);
  };
  /** The wanted events of the batches not committed yet and of this tick's, oldest first. */
  const notWrittenYet = (wanted: (e: DecisionEvent) => boolean): DecisionEvent[] => [...[...unwritten.values()].flatMap((u) => u.events), ...batch].filter(wanted);
  const queryPage = (q: EventQuery): { events: DecisionEvent[]; complete: boolean } => {
    const limit = q.limit ?? 1000;
    const maxBatches = q.maxBatches ?? Number.POSITIVE_INFINITY;
    let batches = 0;
    let complete = true;
    const out: DecisionEvent[] = [];
    const { start, end } = keysOf(q);
    const range = q.reverse ? db.getRange({ start: end, end: start, reverse: true }) : db.getRange({ start, end });
    const wanted = wantedBy(q);
    // Not in LMDB yet, and the newest: after the stored events, or first when newest come first.
    const recent = notWrittenYet(wanted);
    if (q.reverse) out.push(...recent.reverse().slice(0, limit));
    outer: for (const { key, value } of range) {
      if (out.length >= limit) break;
      if (++batches > maxBatches) {
        complete = false;
        break;
      }
      // Committed while its put has not resolved yet: it is already in `recent`.
      if (unwritten.has(unwrittenKey(key))) continue;
      const events = unpack(value as StoredValue, (e) => wanted(e as DecisionEvent));
      for (const e of q.reverse ? events.reverse() : events) {
        out.push(e);
        if (out.length >= limit) break outer;
      }
    }
    if (!q.reverse) out.push(...recent.slice(0, limit - out.length));
    return { events: out, complete };
  };
  // Scans running, so that the environment is not closed under one between its slices.
  const scans = new Set<Promise<unknown>>();
  let closing = false;
  const closedError = () => new KeelError('runtime_closed', 'the decision trace is closed');
  const scan: EventStore['scan'] = (q, onEvents, options) => {
    if (closing) return Promise.reject(closedError());
    const running = scanSlices(q, onEvents, options);
    scans.add(running);
    const done = () => scans.delete(running);
    running.then(done, done);
    return running;
  };
  const scanSlices: EventStore['scan'] = async (q, onEvents, options = {}) => {
    if (q.reverse) throw new TypeError('event scan: reverse is not supported');
    options.signal?.throwIfAborted();
    const sliceBatches = options.sliceBatches ?? SCAN_SLICE_BATCHES;
    if (!Number.isInteger(sliceBatches) || sliceBatches < 1) throw new TypeError('event scan: sliceBatches must be a positive integer');
    const limit = q.limit ?? 1000;
    if (!Number.isInteger(limit) || limit < 0) throw new TypeError('event scan: limit must be a non-negative integer');
    const maxBatches = q.maxBatches ?? Number.POSITIVE_INFINITY;
    const wanted = wantedBy(q);
    // As of now: the events not in LMDB yet, and a read snapshot of those that are. A batch
    // committed while its put has not resolved is in both; it is taken from the first.
    const recent = notWrittenYet(wanted);
    const skip = new Set(unwritten.keys());
    const transaction = db.useReadTransaction();
    let count = 0;
    let batches = 0;
    let complete = true;
    try {
      const { start, end } = keysOf(q);
      let cursor: Key = start;
      let first = true;
      scanning: for (;;) {
        // A slice ends after `sliceBatches` batches or SCAN_SLICE_EVENTS events, whichever first:
        // under load one tick's batch holds hundreds of events.
        let read = 0;
        let examined = 0;
        let more = false;
        for (const { key, value } of db.getRange({ start: cursor, end, exclusiveStart: !first, transaction })) {
          if (count >= limit) break scanning;
          if (read >= sliceBatches || examined >= SCAN_SLICE_EVENTS) {
            more = true;
            break;
          }
          read++;
          examined += sizeOf(value as StoredValue);
          cursor = key;
          if (++batches > maxBatches) {
            complete = false;
            break scanning;
          }
          if (skip.has(unwrittenKey(key))) continue;
          const events = unpack(value as StoredValue, (e) => wanted(e as DecisionEvent)).slice(0, limit - count);
          if (events.length > 0) {
            count += events.length;
            onEvents(events);
          }
        }
        first = false;
        if (!more) break;
        await new Promise<void>((resolve) => setImmediate(resolve));
        if (closing) throw closedError();
        options.signal?.throwIfAborted();
      }
    } finally {
      transaction.done();
    }
    const tail = recent.slice(0, limit - count);
    if (tail.length > 0) {
      count += tail.length;
      onEvents(tail);
    }
    return { count, complete };
  };
  return {
    scan,
    close() {
      closing = true;
      return Promise.allSettled([...scans]).then(() => undefined);
    },
    append(event) {
      // A batch is keyed by its first event's time, so it must not span a jump of the clock.
      const first = batch[0];
      if (first && Math.abs(event.time - first.time) > 1000) flush();
      if (batch.length === 0) setImmediate(flush);
      // Sealed at the flush, one seal per tenant per tick: nothing costly on the agents' path.
      batch.push(event);
      // A busy tick is stored in batches of at most MAX_BATCH_EVENTS: a reader opens a batch at once.
      if (batch.length >= MAX_BATCH_EVENTS) flush();
    },
    flush,
    query: (q) => queryPage(q).events,
    queryPage,
    async prune() {
      const cutoff = options.clock.now() - retentionMs;
      let removed = 0;
      // In slices, each committed before the next is read: an hour of trace at a busy server is
      // millions of batches, and removing them in one loop would hold the event loop for seconds.
      for (;;) {
        const writes: Promise<unknown>[] = [];
        for (const { key, value } of db.getRange({ start: [0], end: [cutoff], limit: PRUNE_SLICE })) {
          writes.push(observeWrite(db.remove(key)));
          removed += sizeOf(value as StoredValue);
        }
        await Promise.all(writes);
        if (writes.length < PRUNE_SLICE) return removed;
      }
    },
    async forgetUser(tenant, user) {
      // Every batch handed to LMDB must be visible to the scan. A batch put in an earlier tick can
      // still be unresolved when `env.flushed()` resolves (12 of 44 erasures in a test loop), and in
      // rare runs the scan did not see it: the user's events in it stayed.
      // Only those in flight now: under load new batches keep coming (the user's sessions are stopped by then).
      flush();
      await Promise.allSettled([...unwritten.values()].map((u) => u.write));
      let removed = 0;
      // The whole trace is read, in slices with a commit between them, so an erasure does not
      // hold the event loop for the seconds a month of trace takes to read. A slice starts at the
      // last key of the previous one: that batch, if still there, no longer holds the user's events.
      let after: Key | undefined;
      for (;;) {
        const writes: Promise<unknown>[] = [];
        let read = 0;
        for (const { key, value } of db.getRange({ ...(after !== undefined ? { start: after } : {}), limit: PRUNE_SLICE })) {
          read++;
          after = key;
          const all = value as StoredValue;
          const theirs = countUserOf(all, tenant, user);
          if (theirs > 0) {
            // The rest is opened and sealed again; events whose tenant key is gone could not be
            // read anyway and are dropped with the rewrite.
            const kept = unpack(all, (e) => !(e.tenant === tenant && e.user === user));
            removed += theirs;
            writes.push(observeWrite(kept.length === 0 ? db.remove(key) : db.put(key, pack(kept))));
          }
        }
        await Promise.all(writes);
        if (read < PRUNE_SLICE) return removed;
      }
    },
  };
}

/** How many events of `user` a stored batch holds (read from the unsealed fields only). */
function countUserOf(value: StoredValue, tenant: TenantId, user: UserId): number {
  const events: ReadonlyArray<{ tenant: string; user: string }> = isBatch(value) ? value.events : Array.isArray(value) ? value : [value as DecisionEvent];
  return events.filter((e) => e.tenant === tenant && e.user === user).length;
}
