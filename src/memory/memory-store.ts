/**
 * Long-term memory of what users said, recalled by meaning across sessions and channels.
 *
 * Memories live in the `memories` database, text and embedding sealed per tenant; each tenant has
 * its own HNSW index (a cache, see `hnsw-index-cache.ts`) searched in a worker thread. Every hit
 * is re-read from LMDB, opened with the tenant's key and checked against the requesting tenant and
 * user before it is returned.
 */
import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { Database, Key } from 'lmdb';
import { KeelError } from '../errors.js';
import { observeWrite, translateCommitError } from '../store/lmdb-env.js';
import { isValidId, type SessionId, type TenantId } from '../types.js';
import { createHnswIndexCache, type HnswIndexCache, type IndexEntry, type IndexStats } from './hnsw-index-cache.js';
import { createHnswIndexHost } from './hnsw-index.js';
import { createMemoryRetention, type RetentionPolicy } from './memory-retention.js';
import { resolveMemoryStoreOptions, type MemoryStoreOptions } from './memory-store-options.js';
import type { MemoryHit, MemoryStore, RememberInput } from './memory-types.js';
import {
  cosineSimilarity,
  encodePayload,
  isMemoryKind,
  memoryKeys,
  newMemoryId,
  openMemory,
  readTenantMeta,
  type MemoryKind,
  type StoredMemory,
  type TenantMemoryMeta,
} from './memory-records.js';

export type { IndexStats, MemoryKind, MemoryStoreOptions, RetentionPolicy };
export type { MemoryHit, MemoryStore, RecallInput, RememberInput } from './memory-types.js';
export { defaultMemoryStoreOptions } from './memory-store-options.js';

/** One memory ready to commit: sealed record plus the plain embedding for the index. */
interface Prepared {
  readonly user: string;
  readonly memoryId: string;
  readonly record: Omit<StoredMemory, 'label'>;
  readonly embedding: Float32Array;
}

const ZERO_RESULT: readonly [] = Object.freeze([]) as readonly [];
/** Memories sealed between two yields to the event loop. */
const SEAL_SLICE = 32;
/** Inputs of `rememberMany` checked between two yields to the event loop. */
const CHECK_SLICE = 1024;

/** One user of one tenant as a map key. */
const userKey = (tenant: string, user: string): string => `${tenant}\u0000${user}`;

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
  const o = resolveMemoryStoreOptions(options);
  const { embedder, sealer, clock } = o;
  const db: Database = o.env.db('memories');
  const host = createHnswIndexHost({ ...o.index, dir: o.indexDir, dimensions: embedder.dimensions });
  const cache: HnswIndexCache = createHnswIndexCache({
    db, host, embedder, sealer, clock,
    saveAfterChanges: o.saveAfterChanges, saveDelayMs: o.saveDelayMs, rebuildBatchSize: o.rebuildBatchSize,
  });
  const inFlight = new Set<Promise<unknown>>();
  let closing: Promise<void> | undefined;
  // Erasures of whole users begun in this process, by tenant and user. A write that started before
  // one and commits after it is refused: nothing of a user is stored after their erasure by work
  // that was already under way (a message being remembered, an import).
  const erasures = new Map<string, number>();
  const erasureMark = (tenant: TenantId, user: string): number => erasures.get(userKey(tenant, user)) ?? 0;
  // No user id in it: an error's details may be shown to a client, and ids can be emails.
  const erasedSince = (): KeelError => new KeelError('forbidden', 'the user was erased while this memory was being stored; it was not kept');

  const metaOf = (tenant: TenantId): TenantMemoryMeta => readTenantMeta(db, tenant);
  const userCount = (tenant: TenantId, user: string) => (db.get(memoryKeys.count(tenant, user)) as number | undefined) ?? 0;

  /** Runs `fn` atomically: a throw rolls every write back. lmdb errors become KeelErrors here, once. */
  const atomically = async <T>(tenant: TenantId, fn: () => T): Promise<T> => {
    try {
      // Observed: a failed commit's `commitError` would otherwise end the process (see observeWrite).
      return await observeWrite(db.childTransaction(fn));
    } catch (err) {
      // The callback may have posted changes to the index that never committed: rebuild it.
      cache.reset(tenant);
      throw err instanceof TypeError ? err : await translateCommitError(err, o.env.dir);
    }
  };

  /** Inside a transaction: stores memories under free or new labels and posts them to the index as one batch. */
  const insert = (tenant: TenantId, items: readonly Prepared[]): void => {
    if (items.length === 0) return;
    const meta = metaOf(tenant);
    // Materialised first: the loop below removes keys of this very range.
    const free = [...db.getKeys({ ...memoryKeys.freeRange(tenant), limit: items.length })] as Key[][];
    let nextLabel = meta.nextLabel;
    const perUser = new Map<string, number>();
    const entries: IndexEntry[] = [];
    items.forEach((item, i) => {
      const freeKey = free[i];
      let label: number;
      if (freeKey) {
        label = freeKey[2] as number;
        db.removeSync(freeKey);
      } else {
        label = nextLabel++;
      }
      db.putSync(memoryKeys.memory(tenant, item.memoryId), { ...item.record, label } satisfies StoredMemory);
      db.putSync(memoryKeys.label(tenant, label), item.memoryId);
      db.putSync(memoryKeys.byUser(tenant, item.user, item.record.time, item.memoryId), label);
      db.putSync(memoryKeys.byTime(tenant, item.record.time, item.memoryId), item.user);
      perUser.set(item.user, (perUser.get(item.user) ?? 0) + 1);
      entries.push({ label, user: item.user, embedding: item.embedding });
    });
    for (const [user, n] of perUser) db.putSync(memoryKeys.count(tenant, user), userCount(tenant, user) + n);
    const generation = meta.generation + 1;
    db.putSync(memoryKeys.meta(tenant), { generation, count: meta.count + items.length, nextLabel } satisfies TenantMemoryMeta);
    cache.postAdd(tenant, generation, entries);
  };

  /**
   * Inside a transaction: deletes memories (absent ones are skipped), frees their labels, posts the
   * deletions (their vectors are overwritten in the index; `erasure` also drops the search copy).
   */
  const remove = (tenant: TenantId, memoryIds: readonly string[], erasure: boolean): number => {
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
      const left = userCount(tenant, user) - n;
      if (left > 0) db.putSync(memoryKeys.count(tenant, user), left);
      else db.removeSync(memoryKeys.count(tenant, user));
    }
    const meta = metaOf(tenant);
    const generation = meta.generation + 1;
    db.putSync(memoryKeys.meta(tenant), { ...meta, generation, count: Math.max(0, meta.count - labels.length) } satisfies TenantMemoryMeta);
    cache.postRemove(tenant, generation, labels, erasure);
    return labels.length;
  };

  /** Embeds and seals memories of one tenant; nothing is written yet. */
  const prepare = async (
    tenant: TenantId,
    items: ReadonlyArray<{ user: string; text: string; kind: MemoryKind; session: string | null; time: number }>,
    signal?: AbortSignal,
  ): Promise<Prepared[]> => {
    const embeddings = await embedder.embed(items.map((item) => item.text), signal);
    if (embeddings.length !== items.length) throw new KeelError('internal', `the embedder returned ${embeddings.length} vectors for ${items.length} texts`);
    // One CSPRNG call for the whole batch's ids.
    const random = randomBytes(6 * items.length);
    const prepared: Prepared[] = [];
    for (let i = 0; i < items.length; i++) {
      // Sealing is CPU work on the event loop: a large batch lets other work in between.
      if (i > 0 && i % SEAL_SLICE === 0) await yieldToLoop();
      const item = items[i]!;
      const embedding = embeddings[i]!;
      if (!(embedding instanceof Float32Array) || embedding.length !== embedder.dimensions) {
        throw new KeelError('internal', `the embedder returned no ${embedder.dimensions}-dimension vector`);
      }
      const memoryId = newMemoryId(item.time, random.subarray(6 * i, 6 * i + 6));
      const sealed = sealer.seal(tenant, encodePayload({ user: item.user, memoryId, text: item.text, embedding }));
      const record: Omit<StoredMemory, 'label'> = { v: 1, user: item.user, kind: item.kind, session: item.session, time: item.time, embedder: embedder.id, sealed };
      prepared.push({ user: item.user, memoryId, record, embedding });
    }
    return prepared;
  };

  const retention = createMemoryRetention({
    policy: o.retention, maxPerUser: o.maxMemoriesPerUser, maxPerTenant: o.maxMemoriesPerTenant, batchSize: o.summariseBatchSize,
    userCount,
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
      return atomically(tenant, () => remove(tenant, memoryIds, false));
    },
    async replace(tenant, user, summary, time, memoryIds) {
      const [prepared] = await prepare(tenant, [{ user, text: summary, kind: 'summary', session: null, time }]);
      await cache.ensure(tenant);
      await atomically(tenant, () => {
        // The summary quotes these memories: if any of them went meanwhile (an erasure, another
        // retention pass), it is not written, and nothing is removed; the next insert tries again.
        if (memoryIds.some((memoryId) => db.get(memoryKeys.memory(tenant, memoryId)) === undefined)) return;
        remove(tenant, memoryIds, false);
        insert(tenant, [prepared!]);
      });
    },
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

  const checkInput = (input: RememberInput) => {
    if (input === null || typeof input !== 'object') throw new TypeError('memory: remember needs an object');
    checkScope(input.tenant, input.user);
    const kind = input.kind ?? 'message';
    if (!isMemoryKind(kind)) throw new TypeError(`memory: unknown kind ${String(kind)}`);
    if (typeof input.text !== 'string') throw new TypeError('memory: text must be a string');
    if (input.text.length > o.maxTextChars) throw new KeelError('too_large', `memory text is over ${o.maxTextChars} characters`);
    if (input.session !== undefined && !isValidId(input.session)) throw new TypeError('memory: session must be a valid id');
    return { user: input.user as string, text: input.text, kind, session: input.session ?? null };
  };

  /** A record that does not open as the requester's (altered, moved, sealed for another tenant) is never shown. */
  const openOrSkip = (tenant: TenantId, memoryId: string, stored: StoredMemory, user: string, embedding = true) => {
    try {
      return openMemory(sealer, tenant, memoryId, stored, user, { embedding });
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
      if (payload) out.push({ memoryId, score: cosineSimilarity(query, payload.embedding) });
    }
    return out.sort((a, b) => b.score - a.score);
  };

  return {
    remember(input) {
      return guard(async () => {
        const item = checkInput(input);
        const mark = erasureMark(input.tenant, item.user);
        const [prepared] = await prepare(input.tenant, [{ ...item, time: clock.now() }]);
        await cache.ensure(input.tenant);
        const kept = await atomically(input.tenant, () => {
          if (erasureMark(input.tenant, item.user) !== mark) return false;
          insert(input.tenant, [prepared!]);
          return true;
        });
        if (!kept) throw erasedSince();
        await retention.enforce(input.tenant, item.user);
        return { memoryId: prepared!.memoryId, time: prepared!.record.time };
      });
    },
    rememberMany(inputs, signal) {
      return guard(async () => {
        if (!Array.isArray(inputs)) throw new TypeError('memory: rememberMany needs an array');
        // Everything is checked before anything is written, in slices: a large import is not one long pause.
        const checked: Array<ReturnType<typeof checkInput> & { index: number; tenant: TenantId }> = [];
        // Erasures as of the call: a user erased while the import runs gets nothing stored after it.
        const marks = new Map<string, number>();
        for (let index = 0; index < inputs.length; index++) {
          if (index > 0 && index % CHECK_SLICE === 0) await yieldToLoop();
          const item = { index, tenant: inputs[index]!.tenant, ...checkInput(inputs[index]!) };
          const key = userKey(item.tenant, item.user);
          if (!marks.has(key)) marks.set(key, erasureMark(item.tenant, item.user));
          checked.push(item);
        }
        const results = new Array<{ memoryId: string; time: number }>(checked.length);
        const touched = new Map<string, { tenant: TenantId; user: string }>();
        for (const tenant of new Set(checked.map((c) => c.tenant))) {
          const mine = checked.filter((c) => c.tenant === tenant);
          await cache.ensure(tenant);
          // The next chunk is embedded and sealed while the previous one commits.
          let committing: Promise<unknown> = Promise.resolve();
          for (let start = 0; start < mine.length; start += o.bulkChunkSize) {
            if (signal?.aborted) throw signal.reason ?? new DOMException('rememberMany aborted', 'AbortError');
            const chunk = mine.slice(start, start + o.bulkChunkSize);
            const time = clock.now();
            const prepared = await prepare(tenant, chunk.map((c) => ({ ...c, time })), signal);
            await committing;
            // At most two chunks wait for the index: the import goes at the index's pace, searches
            // meanwhile wait for little, and the event loop is not kept busy running ahead.
            await cache.backlogAtMost(tenant, o.bulkChunkSize);
            committing = atomically(tenant, () => {
              if (prepared.some((p) => erasureMark(tenant, p.user) !== marks.get(userKey(tenant, p.user)))) return false;
              insert(tenant, prepared);
              return true;
            }).then((kept) => {
              if (!kept) throw erasedSince();
            });
            // Observed now, awaited at the next chunk or the end (a failure must not go unhandled meanwhile).
            committing.catch(() => undefined);
            prepared.forEach((p, i) => {
              results[chunk[i]!.index] = { memoryId: p.memoryId, time: p.record.time };
              touched.set(userKey(tenant, p.user), { tenant, user: p.user });
            });
          }
          await committing;
        }
        for (const { tenant, user } of touched.values()) await retention.enforce(tenant, user);
        return results;
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
        // A text with no features ("?!") is similar to nothing; a zero vector would only yield noise.
        if (!query || !query.some((x) => x !== 0)) return [...ZERO_RESULT];
        await cache.ensure(tenant);
        const fromIndex = await cache.search(tenant, user, query, k * o.searchOverfetch);
        // The index's distances are exact cosine distances to the stored (normalised) vectors.
        const candidates = fromIndex
          ? [...fromIndex].sort((a, b) => a.distance - b.distance).map((hit) => ({ memoryId: db.get(memoryKeys.label(tenant, hit.label)) as string | undefined, score: 1 - hit.distance }))
          : exactCandidates(tenant, user, query).slice(0, k * o.searchOverfetch);
        const hits: MemoryHit[] = [];
        const seen = new Set<string>();
        // Candidates come best first, so only the first k that pass the checks are unsealed; the
        // spares absorb candidates that fail them.
        for (const candidate of candidates) {
          if (hits.length === k) break;
          const memoryId = candidate.memoryId;
          if (memoryId === undefined || seen.has(memoryId)) continue;
          seen.add(memoryId);
          const stored = db.get(memoryKeys.memory(tenant, memoryId)) as StoredMemory | undefined;
          // The scope check: a label can be reused or a record moved; only the requester's own memory passes.
          if (!stored || stored.user !== user) continue;
          if (input.kinds && !input.kinds.includes(stored.kind)) continue;
          if (input.minScore !== undefined && candidate.score < input.minScore) continue;
          const payload = openOrSkip(tenant, memoryId, stored, user, false);
          if (!payload) continue;
          hits.push({ memoryId, text: payload.text, score: candidate.score, kind: stored.kind, time: stored.time, session: stored.session as SessionId | null });
        }
        return hits.sort((a, b) => b.score - a.score || b.time - a.time).slice(0, k);
      });
    },
    forget(input) {
      return guard(async () => {
        checkScope(input.tenant, input.user);
        const { tenant, user, memoryId } = input;
        if (memoryId === undefined) erasures.set(userKey(tenant, user), erasureMark(tenant, user) + 1);
        await cache.ensure(tenant);
        return atomically(tenant, () => {
          if (memoryId !== undefined) {
            const stored = db.get(memoryKeys.memory(tenant, memoryId)) as StoredMemory | undefined;
            return stored && stored.user === user ? remove(tenant, [memoryId], true) : 0;
          }
          const ids = [...db.getKeys(memoryKeys.userRange(tenant, user))].map((key) => (key as unknown[])[4] as string);
          return remove(tenant, ids, true);
        });
      });
    },
    count(tenant, user) {
      return user === undefined ? metaOf(tenant).count : userCount(tenant, user);
    },
    whenIndexed: (tenant) => guard(() => cache.whenReady(tenant)),
    indexStats: (tenant) => guard(() => cache.stats(tenant)),
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
