/**
 * Keeps each tenant's HNSW index in step with the `memories` database, which is the source of
 * truth. An index is loaded from its file only when LMDB says the file is current: the
 * `[tenant, '#saved']` marker must carry the same generation as `[tenant, '#meta']` (bumped by
 * every change, in the change's own transaction), the same embedder and live count, and the
 * file's checksums must match. Otherwise the index is rebuilt from LMDB in the background while
 * recall answers exactly from LMDB.
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Database } from 'lmdb';
import { toKeelError } from '../errors.js';
import type { Clock, Embedder, Sealer } from '../ports.js';
import { observeWrite } from '../store/lmdb-env.js';
import type { TenantId } from '../types.js';
import type { HnswHit, HnswIndex, HnswIndexHost, HnswStats, IndexOpenStatus, SearchViewStats } from './hnsw-index.js';
import { encodePayload, memoryKeys, openMemory, ownerTag, readTenantMeta, type SavedIndexMarker, type StoredMemory } from './memory-records.js';

/** Options of {@link createHnswIndexCache}. */
export interface HnswIndexCacheOptions {
  readonly db: Database;
  readonly host: HnswIndexHost;
  readonly embedder: Embedder;
  readonly sealer: Sealer;
  readonly clock: Clock;
  /** Save a tenant's index after this many changes. */
  readonly saveAfterChanges: number;
  /** Save a tenant's index at the latest this long after its first unsaved change. */
  readonly saveDelayMs: number;
  /** Records read from LMDB per step of a rebuild, between yields to the event loop. */
  readonly rebuildBatchSize: number;
}

type Status = 'building' | 'ready' | 'failed';

interface TenantState {
  status: Status;
  index: HnswIndex;
  /** The generation of the last change posted to the worker. */
  generation: number;
  unsaved: number;
  timer: unknown;
  saving: Promise<void>;
  built: Promise<void>;
  /** Inserts posted to the worker and not applied yet, oldest first (the worker applies them in order). */
  adds: Array<{ entries: number; applied: Promise<unknown> }>;
  /**
   * Labels whose removal was posted while the index was being rebuilt. The removal is posted from
   * inside its transaction, before the commit, so the rebuild's reads may still see the record:
   * these labels are never posted by the rebuild (a later occupant is posted by its own insert).
   */
  removedWhileBuilding: Set<number>;
}

/** An index's size and how its file was found when it was opened (`loaded`, or why it was rebuilt). */
export interface IndexStats extends HnswStats {
  readonly opened: IndexOpenStatus;
  /** Where searches were answered: on the event loop (the index's search view) or by the worker. */
  readonly searches: SearchViewStats;
}

/** One vector to index: its label, the user it belongs to, and the embedding. */
export interface IndexEntry {
  readonly label: number;
  readonly user: string;
  readonly embedding: Float32Array;
}

/** The lifecycle of all tenants' indexes; used by the memory store. */
export interface HnswIndexCache {
  /** Opens (loading or starting a rebuild of) the tenant's index. */
  ensure(tenant: TenantId): Promise<void>;
  /** Drops the tenant's index so the next use rebuilds it (after a failed commit whose changes were posted). */
  reset(tenant: TenantId): void;
  /** Resolves when the tenant's index is complete (loaded or rebuilt). */
  whenReady(tenant: TenantId): Promise<void>;
  /** Posts inserts; call inside the transaction that made the change, so posts follow commit order. */
  postAdd(tenant: TenantId, generation: number, entries: readonly IndexEntry[]): void;
  /**
   * Resolves once at most `maxEntries` of the tenant's posted inserts wait for the worker. A bulk
   * insert waits on it between chunks, so it cannot run ahead of the index: a search waits for the
   * inserts posted before it, and an unbounded backlog would make it wait for the whole import.
   */
  backlogAtMost(tenant: TenantId, maxEntries: number): Promise<void>;
  /**
   * Posts deletions, like {@link postAdd}. The vectors are overwritten first, so a deleted memory's
   * vector never outlives it in the index or its files; `erasure` also drops the search view's copy.
   */
  postRemove(tenant: TenantId, generation: number, labels: readonly number[], erasure?: boolean): void;
  /** Candidate labels among one user's vectors, or undefined when the index cannot answer now. */
  search(tenant: TenantId, user: string, query: Float32Array, k: number): Promise<HnswHit[] | undefined>;
  /** The tenant's index size, after every change posted so far is applied (a barrier). */
  stats(tenant: TenantId): Promise<IndexStats>;
  /** Saves one tenant's index now (after the changes posted so far). */
  save(tenant: TenantId): Promise<void>;
  /** Saves every changed index and drops them from the worker. Idempotent. */
  close(): Promise<void>;
}

/** Rebuild batches posted to the worker and not yet applied, at most. */
const REBUILD_BATCHES_IN_FLIGHT = 4;

/** Packs entries into one batch for the worker (its buffers are transferred, not copied). */
function batchOf(entries: readonly IndexEntry[], dimensions: number) {
  const vectors = new Float32Array(entries.length * dimensions);
  entries.forEach((e, i) => vectors.set(e.embedding.subarray(0, dimensions), i * dimensions));
  return { labels: Uint32Array.from(entries, (e) => e.label), owners: Uint32Array.from(entries, (e) => ownerTag(e.user)), vectors };
}

/**
 * Creates the index cache over the `memories` database.
 *
 * @example
 * ```ts
 * const cache = createHnswIndexCache({ db, host, embedder, sealer, clock: systemClock,
 *   saveAfterChanges: 1000, saveDelayMs: 30_000, rebuildBatchSize: 256 });
 * await cache.ensure(tenant);
 * ```
 */
export function createHnswIndexCache(options: HnswIndexCacheOptions): HnswIndexCache {
  const { db, host, embedder, sealer, clock } = options;
  const states = new Map<TenantId, Promise<TenantState>>();
  let closing: Promise<void> | undefined;

  const open = async (tenant: TenantId): Promise<TenantState> => {
    const meta = readTenantMeta(db, tenant);
    const saved = db.get(memoryKeys.saved(tenant)) as SavedIndexMarker | undefined;
    const current =
      saved !== undefined &&
      saved.generation === meta.generation &&
      saved.embedder === embedder.id &&
      saved.dimensions === embedder.dimensions &&
      saved.live === meta.count;
    const index = await host.open(tenant, current ? { indexSha256: saved.indexSha256, ownersSha256: saved.ownersSha256, live: saved.live } : undefined);
    const state: TenantState = { status: 'ready', index, generation: meta.generation, unsaved: 0, timer: undefined, saving: Promise.resolve(), built: Promise.resolve(), adds: [], removedWhileBuilding: new Set() };
    if (index.status !== 'loaded' && meta.count > 0) {
      state.status = 'building';
      state.built = rebuild(tenant, state).then(
        () => {
          state.status = 'ready';
        },
        () => {
          state.status = 'failed';
        },
      );
    }
    return state;
  };

  const rebuild = async (tenant: TenantId, state: TenantState): Promise<void> => {
    const range = memoryKeys.memoryRange(tenant);
    let after: string | undefined;
    const inFlight: Promise<void>[] = [];
    // An invalidated state (worker lost, foreign change) stops rebuilding: its successor rebuilds.
    while (state.status === 'building') {
      // Paged by key rather than one long iterator, so no read snapshot is held across yields.
      const page: Array<{ memoryId: string; stored: StoredMemory }> = [];
      for (const { key, value } of db.getRange({ start: after === undefined ? range.start : [tenant, after], end: range.end, limit: options.rebuildBatchSize + 1 })) {
        const memoryId = (key as unknown[])[1] as string;
        if (memoryId === after) continue;
        if (page.length === options.rebuildBatchSize) break;
        page.push({ memoryId, stored: value as StoredMemory });
      }
      if (page.length === 0) break;
      after = page[page.length - 1]!.memoryId;
      const vectors = await vectorsOf(tenant, page);
      // Re-read after the (possibly asynchronous) re-embedding and post in the same tick: a memory
      // deleted meanwhile, whose removal is already posted, must not come back into the index.
      const live = page.flatMap((p, i) => {
        const now = db.get(memoryKeys.memory(tenant, p.memoryId)) as StoredMemory | undefined;
        const same = now && now.label === p.stored.label && now.time === p.stored.time && !state.removedWhileBuilding.has(p.stored.label);
        return same ? [{ label: p.stored.label, user: p.stored.user, embedding: vectors[i]! }] : [];
      });
      // Not awaited at once: the worker keeps post order, so changes posted meanwhile queue behind
      // this batch. A few batches in flight keep the worker busy without queueing the whole tenant.
      if (live.length > 0) inFlight.push(state.index.add(batchOf(live, embedder.dimensions)).then(() => undefined, () => invalidate(tenant, state)));
      if (inFlight.length > REBUILD_BATCHES_IN_FLIGHT) await inFlight.shift();
      await yieldToLoop();
    }
    await state.index.stats(); // resolves after every batch posted above
    state.removedWhileBuilding.clear();
    await saveNow(tenant, state);
  };

  /** The stored vectors of a page; memories embedded by another embedder are re-embedded and rewritten first. */
  const vectorsOf = async (tenant: TenantId, page: Array<{ memoryId: string; stored: StoredMemory }>): Promise<Float32Array[]> => {
    const payloads = page.map(({ memoryId, stored }) => openMemory(sealer, tenant, memoryId, stored));
    const stale = page.map((p, i) => i).filter((i) => page[i]!.stored.embedder !== embedder.id);
    if (stale.length === 0) return payloads.map((p) => p.embedding);
    const fresh = await embedder.embed(stale.map((i) => payloads[i]!.text));
    const vectors = payloads.map((p) => p.embedding);
    const updates = stale.map((i, j) => {
      vectors[i] = fresh[j]!;
      const { memoryId, stored } = page[i]!;
      const sealed = sealer.seal(tenant, encodePayload({ ...payloads[i]!, embedding: fresh[j]! }));
      return { memoryId, before: stored, after: { ...stored, embedder: embedder.id, sealed } satisfies StoredMemory };
    });
    await observeWrite(db.childTransaction(() => {
      for (const u of updates) {
        const now = db.get(memoryKeys.memory(tenant, u.memoryId)) as StoredMemory | undefined;
        // Only a record nobody changed meanwhile is rewritten; a forgotten one stays forgotten.
        if (now && now.label === u.before.label && now.time === u.before.time) db.putSync(memoryKeys.memory(tenant, u.memoryId), u.after);
      }
    }));
    return vectors;
  };

  const saveNow = (tenant: TenantId, state: TenantState): Promise<void> => {
    if (state.timer !== undefined) {
      clock.clearTimeout(state.timer);
      state.timer = undefined;
    }
    const generation = state.generation;
    const changes = state.unsaved;
    state.unsaved = 0;
    state.saving = state.saving.then(async () => {
      try {
        const fingerprint = await state.index.save();
        const marker: SavedIndexMarker = { generation, embedder: embedder.id, dimensions: embedder.dimensions, ...fingerprint };
        await observeWrite(db.put(memoryKeys.saved(tenant), marker));
      } catch (err) {
        state.unsaved += changes;
        throw toKeelError(err, 'storage_failed');
      }
    });
    return state.saving;
  };

  const noteChange = (tenant: TenantId, state: TenantState, generation: number, changes: number) => {
    state.generation = Math.max(state.generation, generation);
    state.unsaved += Math.max(1, changes);
    if (state.status !== 'ready') return; // the rebuild saves when it ends
    if (state.unsaved >= options.saveAfterChanges) {
      saveNow(tenant, state).catch(() => undefined);
    } else if (state.timer === undefined) {
      state.timer = clock.setTimeout(() => {
        state.timer = undefined;
        saveNow(tenant, state).catch(() => undefined);
      }, options.saveDelayMs);
    }
  };

  const stateOf = (tenant: TenantId): Promise<TenantState> => {
    let state = states.get(tenant);
    if (!state) {
      state = open(tenant);
      states.set(tenant, state);
      // A failed open is forgotten so that the next call tries again.
      state.catch(() => states.delete(tenant));
    }
    return state;
  };

  // Posts happen inside LMDB transaction callbacks, which are synchronous: they need the state now.
  const resolved = new Map<TenantId, TenantState>();
  const track = (tenant: TenantId) =>
    stateOf(tenant).then((s) => {
      resolved.set(tenant, s);
      return s;
    });

  const invalidate = (tenant: TenantId, state: TenantState) => {
    if (resolved.get(tenant) !== state) return;
    // The worker lost or rejected a change: the index can no longer be trusted, so reopen it (a rebuild).
    resolved.delete(tenant);
    states.delete(tenant);
    if (state.timer !== undefined) clock.clearTimeout(state.timer);
    state.status = 'failed';
    state.index.close().catch(() => undefined);
  };

  /**
   * Inside a transaction: true when the tenant's memories changed in LMDB since the last change
   * this process posted (another process committed between `ensure` and this transaction). The
   * index cannot know that change, so it is dropped, and the next use rebuilds it from LMDB with
   * this transaction's change too; posting would hide the foreign change for good, since the
   * generation this process tracks would then be past it.
   */
  const foreignSince = (tenant: TenantId, state: TenantState, generation: number): boolean => {
    if (generation - 1 <= state.generation) return false;
    invalidate(tenant, state);
    return true;
  };

  return {
    async ensure(tenant) {
      const state = await track(tenant);
      // LMDB ahead of what this process posted means another process (`keel forget`, a second
      // runtime on the same directory) changed the tenant's memories: the index cannot know how.
      if (state.status === 'failed' || readTenantMeta(db, tenant).generation > state.generation) {
        invalidate(tenant, state);
        await track(tenant);
      }
    },
    async whenReady(tenant) {
      const state = await track(tenant);
      await state.built;
    },
    reset(tenant) {
      const state = resolved.get(tenant);
      if (state) invalidate(tenant, state);
    },
    postAdd(tenant, generation, entries) {
      const state = resolved.get(tenant);
      if (!state || foreignSince(tenant, state, generation)) return;
      if (entries.length > 0) {
        const add = { entries: entries.length, applied: state.index.add(batchOf(entries, embedder.dimensions)).catch(() => invalidate(tenant, state)) };
        state.adds.push(add);
        void add.applied.then(() => state.adds.splice(state.adds.indexOf(add), 1));
      }
      noteChange(tenant, state, generation, entries.length);
    },
    async backlogAtMost(tenant, maxEntries) {
      const state = resolved.get(tenant);
      // An invalidated state's inserts no longer matter: its successor rebuilds from LMDB.
      const backlog = (s: TenantState) => s.adds.reduce((n, a) => n + a.entries, 0);
      while (state && resolved.get(tenant) === state && state.adds[0] && backlog(state) > maxEntries) await state.adds[0].applied;
    },
    postRemove(tenant, generation, labels, erasure = false) {
      const state = resolved.get(tenant);
      if (!state || foreignSince(tenant, state, generation)) return;
      if (state.status === 'building') for (const label of labels) state.removedWhileBuilding.add(label);
      state.index.remove(labels, { scrub: true, erasure }).catch(() => invalidate(tenant, state));
      noteChange(tenant, state, generation, labels.length);
    },
    async search(tenant, user, query, k) {
      const state = resolved.get(tenant);
      if (!state || state.status !== 'ready') return undefined;
      try {
        return await state.index.search(query, k, { owner: ownerTag(user) });
      } catch {
        invalidate(tenant, state);
        return undefined;
      }
    },
    async stats(tenant) {
      const state = await track(tenant);
      await state.built;
      return { ...(await state.index.stats()), opened: state.index.status, searches: state.index.searchStats() };
    },
    async save(tenant) {
      const state = await track(tenant);
      await state.built;
      await saveNow(tenant, state);
    },
    close() {
      closing ??= (async () => {
        const all = await Promise.allSettled([...states.values()]);
        for (const result of all) {
          if (result.status !== 'fulfilled') continue;
          const state = result.value;
          await state.built;
          if (state.status === 'ready' && (state.unsaved > 0 || state.timer !== undefined)) {
            await saveNow(state.index.tenant, state).catch(() => undefined);
          }
          if (state.timer !== undefined) clock.clearTimeout(state.timer);
          await state.saving.catch(() => undefined);
          await state.index.close();
        }
        states.clear();
        resolved.clear();
      })();
      return closing;
    },
  };
}
