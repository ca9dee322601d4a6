// The index cache against LMDB when changes race with it. A removal is posted to the index from
// inside its transaction, before the commit, so for a moment a rebuild still reads the record: the
// rebuild must not bring such a label back (an erased user's vectors would return to the index
// and its saved file); the window is held open here by posting the removal without deleting the
// records, as a transaction callback does before its commit. And a change committed by another
// process between this process's check and its own transaction must not go unnoticed.
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { createHnswIndexCache } from '../../../src/memory/hnsw-index-cache.js';
import { createHnswIndexHost } from '../../../src/memory/hnsw-index.js';
import { createLocalEmbedder } from '../../../src/memory/local-embedder.js';
import { memoryKeys, readTenantMeta, type StoredMemory } from '../../../src/memory/memory-records.js';
import { openEnv } from '../../../src/store/lmdb-env.js';
import { plainSealer } from '../../../src/store/session-store.js';
import { tenantId, userId } from '../../../src/types.js';
import { openMemoryFixture, type MemoryFixture } from './support/memory-fixture.js';

const acme = tenantId('acme');
const ada = userId('ada');
const bob = userId('bob');

let fixture: MemoryFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

/** The fixture's data directory opened again, with an index cache of its own over it (the store closed). */
function openCache(f: MemoryFixture) {
  const env = openEnv({ dir: f.dir });
  const db = env.db('memories');
  const embedder = createLocalEmbedder();
  const host = createHnswIndexHost({ dir: f.indexDir, dimensions: embedder.dimensions });
  const cache = createHnswIndexCache({ db, host, embedder, sealer: plainSealer, clock: f.clock, saveAfterChanges: 100_000, saveDelayMs: 86_400_000, rebuildBatchSize: 32 });
  const close = async () => {
    await cache.close();
    await host.close();
    await env.close();
  };
  return { db, embedder, cache, close };
}

describe('index rebuild', () => {
  it('never posts a label whose removal was posted while it ran, even before the removal commits', async () => {
    fixture = await openMemoryFixture({ maxMemoriesPerUser: 10_000 }, { plain: true });
    const f = fixture;
    const inputs = Array.from({ length: 600 }, (_, i) => ({ tenant: acme, user: i % 2 ? ada : bob, text: `note ${i} about ${i % 2 ? 'wool allergy boots' : 'parcel door lyon'} number ${i}` }));
    await f.memory.memories.rememberMany(inputs);
    await f.memory.close();
    await f.env.close();
    rmSync(f.indexDir, { recursive: true, force: true });

    const { db, embedder, cache, close } = openCache(f);
    try {
      await cache.ensure(acme); // no index file: a rebuild starts, a page at a time
      const adaLabels = [...db.getRange(memoryKeys.userRange(acme, ada))].map(({ value }) => value as number);
      expect(adaLabels).toHaveLength(300);
      cache.postRemove(acme, readTenantMeta(db, acme).generation + 1, adaLabels, true);
      await cache.whenReady(acme);
      const stats = await cache.stats(acme);
      expect(stats.opened).not.toBe('loaded');
      expect(stats.live).toBe(300);
      const query = embedder.embedSync('wool allergy boots');
      expect(await cache.search(acme, ada, query, 10)).toEqual([]);
      expect((await cache.search(acme, bob, query, 10))?.length).toBe(10);
    } finally {
      await close();
    }
  });

  it('drops the index when another process changed the tenant between its check and this transaction', async () => {
    fixture = await openMemoryFixture({ maxMemoriesPerUser: 10_000 }, { plain: true });
    const f = fixture;
    await f.memory.memories.rememberMany(Array.from({ length: 40 }, (_, i) => ({ tenant: acme, user: i % 2 ? ada : bob, text: `note ${i} about ${i % 2 ? 'wool allergy boots' : 'parcel door lyon'}` })));
    await f.memory.close();
    await f.env.close();

    const { db, embedder, cache, close } = openCache(f);
    try {
      await cache.ensure(acme); // this process's check: the index matches LMDB
      await cache.whenReady(acme);
      expect((await cache.stats(acme)).live).toBe(40);
      // Another process erases one of Ada's memories (its own commit, with its generation).
      const [gone] = [...db.getRange(memoryKeys.userRange(acme, ada))].map(({ key, value }) => ({ memoryId: (key as unknown[])[4] as string, label: value as number }));
      const stored = db.get(memoryKeys.memory(acme, gone!.memoryId)) as StoredMemory;
      await db.childTransaction(() => {
        db.removeSync(memoryKeys.memory(acme, gone!.memoryId));
        db.removeSync(memoryKeys.label(acme, gone!.label));
        db.removeSync(memoryKeys.byUser(acme, ada, stored.time, gone!.memoryId));
        db.removeSync(memoryKeys.byTime(acme, stored.time, gone!.memoryId));
        const meta = readTenantMeta(db, acme);
        db.putSync(memoryKeys.meta(acme), { ...meta, generation: meta.generation + 1, count: meta.count - 1 });
      });
      // Then this process commits a change of its own, computed from what LMDB holds now.
      await db.childTransaction(() => {
        const meta = readTenantMeta(db, acme);
        db.putSync(memoryKeys.meta(acme), { ...meta, generation: meta.generation + 1 });
        cache.postAdd(acme, meta.generation + 1, []);
      });
      await cache.ensure(acme);
      await cache.whenReady(acme);
      const stats = await cache.stats(acme);
      expect(stats.live).toBe(39);
      const hits = (await cache.search(acme, ada, embedder.embedSync('wool allergy boots'), 40)) ?? [];
      expect(hits.map((h) => h.label)).not.toContain(gone!.label);
    } finally {
      await close();
    }
  });
});

