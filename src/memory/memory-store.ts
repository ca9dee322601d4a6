/**
 * Long-term memory of what users said, recalled by meaning across sessions and channels.
 *
 * Memories live in the `memories` database, text and embedding sealed per tenant; each tenant has
 * its own HNSW index (a cache, see `hnsw-index-cache.ts`) searched in a worker thread. Every hit
 * is re-read from LMDB, opened with the tenant's key and checked against the requesting tenant and
 * user before it is returned, and its score is recomputed from the stored embedding.
 */
import { randomBytes } from 'node:crypto';
import type { Database } from 'lmdb';
import { KeelError } from '../errors.js';
import type { Clock, Embedder, Sealer } from '../ports.js';
import type { LmdbEnv } from '../store/lmdb-env.js';
import { translateLmdbError } from '../store/lmdb-env.js';
import { isValidId, type SessionId, type TenantId, type UserId } from '../types.js';
import { createHnswIndexCache, type HnswIndexCache } from './hnsw-index-cache.js';
import { createHnswIndexHost, type HnswIndexHostOptions } from './hnsw-index.js';
import { createMemoryRetention, type RetentionPolicy } from './memory-retention.js';
import {
  encodePayload,
  isMemoryKind,
  memoryKeys,
  newMemoryId,
  openMemory,
  type MemoryKind,
  type StoredMemory,
  type TenantMemoryMeta,
} from './memory-records.js';

export type { MemoryKind, RetentionPolicy };

/** Options of {@link createMemoryStore}. */
export interface MemoryStoreOptions {
  /** The opened LMDB environment; the store uses its `memories` database. Required. */
  readonly env: LmdbEnv;
  /** Turns texts into vectors. Required. */
  readonly embedder: Embedder;
  /** Seals texts and embeddings at rest with the tenant's key. Required. */
  readonly sealer: Sealer;
  /** Source of time for memory timestamps and save timers. Required. */
  readonly clock: Clock;
  /** Directory of the per-tenant index files (caches). Required. */
  readonly indexDir: string;
  /** Memories kept per user before the oldest are summarised or dropped. Default 1000. */
  readonly maxMemoriesPerUser?: number;
  /** Memories kept per tenant before the oldest are summarised or dropped. Default 100 000. */
  readonly maxMemoriesPerTenant?: number;
  /** What happens to memories over a limit. Default `'summarise'`. */
  readonly retention?: RetentionPolicy;
  /** Oldest memories folded into one summary at a time. Default 20. */
  readonly summariseBatchSize?: number;
  /** Longest text accepted by `remember`, in characters. Default 8192. */
  readonly maxTextChars?: number;
  /** Largest `k` of a recall. Default 50. */
  readonly maxRecallK?: number;
  /** Candidates fetched from the index per requested hit, to absorb filtered-out candidates. Default 2. */
  readonly searchOverfetch?: number;
  /** Save an index after this many changes. Default 1000. */
  readonly saveAfterChanges?: number;
  /** Save an index at the latest this long after its first unsaved change. Default 30 000 ms. */
  readonly saveDelayMs?: number;
  /** Records read per step of an index rebuild. Default 256. */
  readonly rebuildBatchSize?: number;
  /** HNSW parameters (`m`, `efConstruction`, `efSearch`, ...); `dir` and `dimensions` come from above. */
  readonly index?: Omit<HnswIndexHostOptions, 'dir' | 'dimensions'>;
}

/** The defaults of {@link MemoryStoreOptions}. */
export const defaultMemoryStoreOptions = Object.freeze({
  maxMemoriesPerUser: 1000,
  maxMemoriesPerTenant: 100_000,
  retention: 'summarise' as RetentionPolicy,
  summariseBatchSize: 20,
  maxTextChars: 8192,
  maxRecallK: 50,
  searchOverfetch: 2,
  saveAfterChanges: 1000,
  saveDelayMs: 30_000,
  rebuildBatchSize: 256,
});

type Resolved = MemoryStoreOptions & typeof defaultMemoryStoreOptions;

function resolveOptions(options: MemoryStoreOptions): Readonly<Resolved> {
  if (options === null || typeof options !== 'object') throw new TypeError('memory store options must be an object');
  const o = { ...defaultMemoryStoreOptions, ...options } as Resolved;
  for (const name of ['env', 'embedder', 'sealer', 'clock'] as const) {
    if (o[name] === null || typeof o[name] !== 'object') throw new TypeError(`memory store option ${name} is required`);
  }
  if (typeof o.indexDir !== 'string' || o.indexDir === '') throw new TypeError('memory store option indexDir must be a non-empty path');
  const int = (name: keyof typeof defaultMemoryStoreOptions, min: number, max: number) => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new TypeError(`memory store option ${name} must be an integer in [${min}, ${max}]`);
  };
  int('maxMemoriesPerUser', 1, 10_000_000);
  int('maxMemoriesPerTenant', 1, 100_000_000);
  int('summariseBatchSize', 2, 10_000);
  int('maxTextChars', 1, 1_000_000);
  int('maxRecallK', 1, 10_000);
  int('searchOverfetch', 1, 100);
  int('saveAfterChanges', 1, 100_000_000);
  int('saveDelayMs', 0, 86_400_000);
  int('rebuildBatchSize', 1, 100_000);
  if (o.retention !== 'summarise' && o.retention !== 'drop') throw new TypeError("memory store option retention must be 'summarise' or 'drop'");
  return Object.freeze(o);
}

/** What to remember. */
export interface RememberInput {
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly text: string;
  /** Default `'message'`. */
  readonly kind?: MemoryKind;
  /** The session it was said in. */
  readonly session?: SessionId;
}

/** A memory as returned by recall. */
export interface MemoryHit {
  readonly memoryId: string;
  readonly text: string;
  /** Cosine similarity to the query, recomputed from the stored embedding. */
  readonly score: number;
  readonly kind: MemoryKind;
  /** When it was remembered (ms since the epoch, from the store's clock). */
  readonly time: number;
  readonly session: SessionId | null;
}

/** A recall request; always scoped to one user of one tenant. */
export interface RecallInput {
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly query: string;
  /** Hits wanted. Default 5. */
  readonly k?: number;
  /** Only these kinds. Default: all. */
  readonly kinds?: readonly MemoryKind[];
  /** Hits below this similarity are left out. Default: none. */
  readonly minScore?: number;
  readonly signal?: AbortSignal;
}

/** The memory store. */
export interface MemoryStore {
  /** Stores a memory and indexes it; resolves after the commit and after retention ran. */
  remember(input: RememberInput): Promise<{ memoryId: string; time: number }>;
  /** The user's memories most similar to `query`, best first. */
  recall(input: RecallInput): Promise<MemoryHit[]>;
  /** Deletes one memory of the user, or all of them; returns how many were deleted. */
  forget(input: { tenant: TenantId; user: UserId; memoryId?: string }): Promise<number>;
  /** Number of memories of a user, or of the tenant. */
  count(tenant: TenantId, user?: UserId): number;
  /** Resolves when the tenant's index is loaded or rebuilt (recall is exact from LMDB meanwhile). */
  whenIndexed(tenant: TenantId): Promise<void>;
  /** Saves the tenant's index now. */
  saveIndex(tenant: TenantId): Promise<void>;
  /** Stops taking work, waits for work in flight, saves changed indexes, stops the index worker. Idempotent. */
  close(): Promise<void>;
}

/**
 * Creates the memory store.
 *
 * @example
 * ```ts
 * const memories = createMemoryStore({ env, embedder: createLocalEmbedder(), sealer, clock: systemClock, indexDir: '.keel/index' });
 * await memories.remember({ tenant, user, text: 'My card ending 4242 was declined in Lisbon', session });
 * const hits = await memories.recall({ tenant, user, query: 'declined card', k: 3 });
 * ```
 */
export function createMemoryStore(options: MemoryStoreOptions): MemoryStore {
  const o = resolveOptions(options);
  const { embedder, sealer, clock } = o;
  const db: Database = o.env.db('memories');
  const host = createHnswIndexHost({ ...o.index, dir: o.indexDir, dimensions: embedder.dimensions });
  const cache: HnswIndexCache = createHnswIndexCache({
    db, host, embedder, sealer, clock,
    saveAfterChanges: o.saveAfterChanges, saveDelayMs: o.saveDelayMs, rebuildBatchSize: o.rebuildBatchSize,
  });
  const inFlight = new Set<Promise<unknown>>();
  let closing: Promise<void> | undefined;

  const metaOf = (tenant: TenantId): TenantMemoryMeta =>
    (db.get(memoryKeys.meta(tenant)) as TenantMemoryMeta | undefined) ?? { generation: 0, count: 0, nextLabel: 0 };

  /** Runs `fn` atomically: a throw rolls every write back. lmdb errors become KeelErrors here, once. */
  const atomically = async <T>(fn: () => T): Promise<T> => {
    try {
      return await db.childTransaction(fn);
    } catch (err) {
      throw err instanceof KeelError || err instanceof TypeError ? err : translateLmdbError(err);
    }
  };

  /** Inside a transaction: stores one memory under a free or new label and posts it to the index. */
  const insert = (tenant: TenantId, user: string, memoryId: string, record: Omit<StoredMemory, 'label'>, embedding: Float32Array): void => {
    const meta = metaOf(tenant);
    let label = meta.nextLabel;
    let fresh = true;
    for (const { key } of db.getRange({ ...memoryKeys.freeRange(tenant), limit: 1 })) {
      label = (key as unknown[])[2] as number;
      fresh = false;
      db.removeSync(key);
    }
    db.putSync(memoryKeys.memory(tenant, memoryId), { ...record, label } satisfies StoredMemory);
    db.putSync(memoryKeys.label(tenant, label), memoryId);
    db.putSync(memoryKeys.byUser(tenant, user, record.time, memoryId), label);
    db.putSync(memoryKeys.byTime(tenant, record.time, memoryId), user);
    db.putSync(memoryKeys.count(tenant, user), ((db.get(memoryKeys.count(tenant, user)) as number | undefined) ?? 0) + 1);
    const generation = meta.generation + 1;
    db.putSync(memoryKeys.meta(tenant), { generation, count: meta.count + 1, nextLabel: fresh ? label + 1 : meta.nextLabel } satisfies TenantMemoryMeta);
    cache.postAdd(tenant, generation, label, user, embedding);
  };

  /** Inside a transaction: deletes memories (absent ones are skipped), frees their labels, posts the deletions. */
  const remove = (tenant: TenantId, memoryIds: readonly string[]): number => {
    const labels: number[] = [];
    const perUser = new Map<string, number>();
    for (const memoryId of memoryIds) {
      const stored = db.get(memoryKeys.memory(tenant, memoryId)) as StoredMemory | undefined;
      if (!stored) continue;
      db.removeSync(memoryKeys.memory(tenant, memoryId));
      db.removeSync(memoryKeys.label(tenant, stored.label));
      db.removeSync(memoryKeys.byUser(tenant, stored.user, stored.time, memoryId));
      db.removeSync(memoryKeys.byTime(tenant, stored.time, memoryId));
      db.putSync(memoryKeys.free(tenant, stored.label), 1);
      perUser.set(stored.user, (perUser.get(stored.user) ?? 0) + 1);
      labels.push(stored.label);
    }
    if (labels.length === 0) return 0;
    for (const [user, n] of perUser) {
      const left = ((db.get(memoryKeys.count(tenant, user)) as number | undefined) ?? n) - n;
      if (left > 0) db.putSync(memoryKeys.count(tenant, user), left);
      else db.removeSync(memoryKeys.count(tenant, user));
    }
    const meta = metaOf(tenant);
    const generation = meta.generation + 1;
    db.putSync(memoryKeys.meta(tenant), { ...meta, generation, count: Math.max(0, meta.count - labels.length) } satisfies TenantMemoryMeta);
    cache.postRemove(tenant, generation, labels);
    return labels.length;
  };

  /** Embeds, seals and stores one memory (used by remember and by summaries). */
  const store = async (tenant: TenantId, user: string, text: string, kind: MemoryKind, session: string | null, time: number, replaces: readonly string[] = []) => {
    const [embedding] = await embedder.embed([text]);
    if (!embedding || embedding.length !== embedder.dimensions) throw new KeelError('internal', `the embedder returned no ${embedder.dimensions}-dimension vector`);
    const memoryId = newMemoryId(time, randomBytes(6));
    const sealed = sealer.seal(tenant, encodePayload({ user, memoryId, text, embedding }));
    await cache.ensure(tenant);
    await atomically(() => {
      if (replaces.length > 0) remove(tenant, replaces);
      insert(tenant, user, memoryId, { v: 1, user, kind, session, time, embedder: embedder.id, sealed }, embedding);
    });
    return { memoryId, time };
  };

  const retention = createMemoryRetention({
    policy: o.retention, maxPerUser: o.maxMemoriesPerUser, maxPerTenant: o.maxMemoriesPerTenant, batchSize: o.summariseBatchSize,
    userCount: (tenant, user) => (db.get(memoryKeys.count(tenant, user)) as number | undefined) ?? 0,
    tenantCount: (tenant) => metaOf(tenant).count,
    oldest(tenant, user, n) {
      const range = user === undefined ? memoryKeys.timeRange(tenant) : memoryKeys.userRange(tenant, user);
      return [...db.getRange({ ...range, limit: n })].map(({ key, value }) => {
        const k = key as unknown[];
        return user === undefined
          ? { memoryId: k[3] as string, user: value as string, time: k[2] as number }
          : { memoryId: k[4] as string, user, time: k[3] as number };
      });
    },
    read(tenant, memoryIds) {
      return memoryIds.flatMap((memoryId) => {
        const stored = db.get(memoryKeys.memory(tenant, memoryId)) as StoredMemory | undefined;
        if (!stored) return [];
        const payload = openMemory(sealer, tenant, memoryId, stored);
        return [{ memoryId, user: stored.user, time: stored.time, text: payload.text, embedding: payload.embedding }];
      });
    },
    drop: async (tenant, memoryIds) => {
      await cache.ensure(tenant);
      return atomically(() => remove(tenant, memoryIds));
    },
    replace: (tenant, user, summary, time, memoryIds) => store(tenant, user, summary, 'summary', null, time, memoryIds),
  });

  const guard = <T>(work: () => Promise<T>): Promise<T> => {
    if (closing) return Promise.reject(new KeelError('runtime_closed', 'the memory store is closed'));
    const run = work();
    inFlight.add(run);
    const done = () => inFlight.delete(run);
    run.then(done, done);
    return run;
  };

  const checkScope = (tenant: unknown, user: unknown) => {
    if (!isValidId(tenant)) throw new TypeError('memory: tenant must be a valid id');
    if (!isValidId(user)) throw new TypeError('memory: user must be a valid id');
  };

  /** A record that does not open as the requester's (altered, moved, sealed for another tenant) is never shown. */
  const openOrSkip = (tenant: TenantId, memoryId: string, stored: StoredMemory, user: string) => {
    try {
      return openMemory(sealer, tenant, memoryId, stored, user);
    } catch (err) {
      if (err instanceof KeelError && err.code === 'forbidden') return undefined;
      throw err;
    }
  };

  /** Exact recall from LMDB over the user's memories, while the index is being rebuilt. */
  const exactCandidates = (tenant: TenantId, user: string, query: Float32Array) => {
    const out: Array<{ memoryId: string; score: number }> = [];
    for (const { key } of db.getRange(memoryKeys.userRange(tenant, user))) {
      const memoryId = (key as unknown[])[4] as string;
      const stored = db.get(memoryKeys.memory(tenant, memoryId)) as StoredMemory | undefined;
      if (!stored || stored.user !== user || stored.embedder !== embedder.id) continue;
      const payload = openOrSkip(tenant, memoryId, stored, user);
      if (payload) out.push({ memoryId, score: cosine(query, payload.embedding) });
    }
    return out.sort((a, b) => b.score - a.score);
  };

  return {
    remember(input) {
      return guard(async () => {
        checkScope(input.tenant, input.user);
        const kind = input.kind ?? 'message';
        if (!isMemoryKind(kind)) throw new TypeError(`memory: unknown kind ${String(kind)}`);
        if (typeof input.text !== 'string') throw new TypeError('memory: text must be a string');
        if (input.text.length > o.maxTextChars) throw new KeelError('too_large', `memory text is over ${o.maxTextChars} characters`);
        if (input.session !== undefined && !isValidId(input.session)) throw new TypeError('memory: session must be a valid id');
        const result = await store(input.tenant, input.user, input.text, kind, input.session ?? null, clock.now());
        await retention.enforce(input.tenant, input.user);
        return result;
      });
    },
    recall(input) {
      return guard(async () => {
        checkScope(input.tenant, input.user);
        const k = input.k ?? 5;
        if (!Number.isInteger(k) || k < 1 || k > o.maxRecallK) throw new TypeError(`memory: k must be an integer in [1, ${o.maxRecallK}]`);
        if (typeof input.query !== 'string') throw new TypeError('memory: query must be a string');
        const { tenant, user } = input;
        const [query] = await embedder.embed([input.query.slice(0, o.maxTextChars)], input.signal);
        await cache.ensure(tenant);
        const fromIndex = await cache.search(tenant, user, query!, k * o.searchOverfetch);
        const candidates = fromIndex
          ? fromIndex.map((hit) => ({ memoryId: db.get(memoryKeys.label(tenant, hit.label)) as string | undefined, score: 1 - hit.distance }))
          : exactCandidates(tenant, user, query!).slice(0, k * o.searchOverfetch);
        const hits: MemoryHit[] = [];
        const seen = new Set<string>();
        for (const candidate of candidates) {
          const memoryId = candidate.memoryId;
          if (memoryId === undefined || seen.has(memoryId)) continue;
          seen.add(memoryId);
          const stored = db.get(memoryKeys.memory(tenant, memoryId)) as StoredMemory | undefined;
          // The scope check: a label can be reused or a record moved; only the requester's own memory passes.
          if (!stored || stored.user !== user) continue;
          if (input.kinds && !input.kinds.includes(stored.kind)) continue;
          const payload = openOrSkip(tenant, memoryId, stored, user);
          if (!payload) continue;
          const score = cosine(query!, payload.embedding);
          if (input.minScore !== undefined && score < input.minScore) continue;
          hits.push({ memoryId, text: payload.text, score, kind: stored.kind, time: stored.time, session: stored.session as SessionId | null });
        }
        return hits.sort((a, b) => b.score - a.score || b.time - a.time).slice(0, k);
      });
    },
    forget(input) {
      return guard(async () => {
        checkScope(input.tenant, input.user);
        const { tenant, user, memoryId } = input;
        await cache.ensure(tenant);
        return atomically(() => {
          if (memoryId !== undefined) {
            const stored = db.get(memoryKeys.memory(tenant, memoryId)) as StoredMemory | undefined;
            return stored && stored.user === user ? remove(tenant, [memoryId]) : 0;
          }
          const ids = [...db.getRange(memoryKeys.userRange(tenant, user))].map(({ key }) => (key as unknown[])[4] as string);
          return remove(tenant, ids);
        });
      });
    },
    count(tenant, user) {
      return user === undefined ? metaOf(tenant).count : ((db.get(memoryKeys.count(tenant, user)) as number | undefined) ?? 0);
    },
    whenIndexed: (tenant) => guard(() => cache.whenReady(tenant)),
    saveIndex: (tenant) => guard(() => cache.save(tenant)),
    close() {
      closing ??= (async () => {
        await Promise.allSettled([...inFlight]);
        await retention.idle();
        await cache.close();
        await host.close();
      })();
      return closing;
    },
  };
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na > 0 && nb > 0 ? dot / Math.sqrt(na * nb) : 0;
}
