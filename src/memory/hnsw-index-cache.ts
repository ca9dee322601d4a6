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
import type { TenantId } from '../types.js';
import type { HnswHit, HnswIndex, HnswIndexHost } from './hnsw-index.js';
import { encodePayload, memoryKeys, openMemory, ownerTag, type SavedIndexMarker, type StoredMemory, type TenantMemoryMeta } from './memory-records.js';

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
}

/** The lifecycle of all tenants' indexes; used by the memory store. */
export interface HnswIndexCache {
  /** Opens (loading or starting a rebuild of) the tenant's index. */
  ensure(tenant: TenantId): Promise<void>;
  /** Resolves when the tenant's index is complete (loaded or rebuilt). */
  whenReady(tenant: TenantId): Promise<void>;
  /** Whether searches may use the index (false while it is rebuilt). */
  isReady(tenant: TenantId): boolean;
  /** Posts an insert; call inside the transaction that made the change, so posts follow commit order. */
  postAdd(tenant: TenantId, generation: number, label: number, user: string, embedding: Float32Array): void;
  /** Posts deletions, like {@link postAdd}. */
  postRemove(tenant: TenantId, generation: number, labels: readonly number[]): void;
  /** Candidate labels among one user's vectors, or undefined when the index cannot answer now. */
  search(tenant: TenantId, user: string, query: Float32Array, k: number): Promise<HnswHit[] | undefined>;
  /** Saves one tenant's index now (after the changes posted so far). */
  save(tenant: TenantId): Promise<void>;
  /** Saves every changed index and drops them from the worker. Idempotent. */
  close(): Promise<void>;
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

  const metaOf = (tenant: TenantId): TenantMemoryMeta =>
    (db.get(memoryKeys.meta(tenant)) as TenantMemoryMeta | undefined) ?? { generation: 0, count: 0, nextLabel: 0 };

  const open = async (tenant: TenantId): Promise<TenantState> => {
    const meta = metaOf(tenant);
    const saved = db.get(memoryKeys.saved(tenant)) as SavedIndexMarker | undefined;
    const current =
      saved !== undefined &&
      saved.generation === meta.generation &&
      saved.embedder === embedder.id &&
      saved.dimensions === embedder.dimensions &&
      saved.live === meta.count;
    const index = await host.open(tenant, current ? { indexSha256: saved.indexSha256, ownersSha256: saved.ownersSha256, live: saved.live } : undefined);
    const state: TenantState = { status: 'ready', index, generation: meta.generation, unsaved: 0, timer: undefined, saving: Promise.resolve(), built: Promise.resolve() };
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
    for (;;) {
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
      const flat = new Float32Array(page.length * embedder.dimensions);
      vectors.forEach((v, i) => flat.set(v, i * embedder.dimensions));
      const batch = { labels: Uint32Array.from(page, (p) => p.stored.label), owners: Uint32Array.from(page, (p) => ownerTag(p.stored.user)), vectors: flat };
      // Not awaited: the worker keeps post order, so changes posted meanwhile queue behind this batch.
      state.index.add(batch).catch(() => undefined);
      await yieldToLoop();
    }
    await state.index.stats(); // resolves after every batch posted above
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
    await db.childTransaction(() => {
      for (const u of updates) {
        const now = db.get(memoryKeys.memory(tenant, u.memoryId)) as StoredMemory | undefined;
        // Only a record nobody changed meanwhile is rewritten; a forgotten one stays forgotten.
        if (now && now.label === u.before.label && now.time === u.before.time) db.putSync(memoryKeys.memory(tenant, u.memoryId), u.after);
      }
    });
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
        await db.put(memoryKeys.saved(tenant), marker);
      } catch (err) {
        state.unsaved += changes;
        throw toKeelError(err, 'storage_failed');
      }
    });
    return state.saving;
  };

  const noteChange = (tenant: TenantId, state: TenantState, generation: number) => {
    state.generation = Math.max(state.generation, generation);
    state.unsaved++;
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

  return {
    async ensure(tenant) {
      const state = await track(tenant);
      if (state.status === 'failed') {
        invalidate(tenant, state);
        await track(tenant);
      }
    },
    async whenReady(tenant) {
      const state = await track(tenant);
      await state.built;
    },
    isReady: (tenant) => resolved.get(tenant)?.status === 'ready',
    postAdd(tenant, generation, label, user, embedding) {
      const state = resolved.get(tenant);
      if (!state) return;
      const vectors = Float32Array.from(embedding);
      state.index.add({ labels: Uint32Array.of(label), owners: Uint32Array.of(ownerTag(user)), vectors }).catch(() => invalidate(tenant, state));
      noteChange(tenant, state, generation);
    },
    postRemove(tenant, generation, labels) {
      const state = resolved.get(tenant);
      if (!state) return;
      state.index.remove(labels).catch(() => invalidate(tenant, state));
      noteChange(tenant, state, generation);
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
