import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHnswIndexHost, hnswIndexFiles, type HnswIndexHost } from '../../../src/memory/hnsw-index.js';
import { tenantId } from '../../../src/types.js';

const DIM = 8;
const acme = tenantId('acme');

function unit(seed: number): Float32Array {
  const v = new Float32Array(DIM);
  let s = seed * 2654435761;
  for (let i = 0; i < DIM; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
  }
  return v;
}

function batch(labels: number[], owner: number | number[]) {
  const vectors = new Float32Array(labels.length * DIM);
  labels.forEach((label, i) => vectors.set(unit(label), i * DIM));
  return {
    labels: Uint32Array.from(labels),
    owners: Uint32Array.from(labels.map((_, i) => (Array.isArray(owner) ? owner[i]! : owner))),
    vectors,
  };
}

describe('hnsw index host', () => {
  let dir: string;
  let host: HnswIndexHost;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keel-hnsw-'));
    host = createHnswIndexHost({ dir, dimensions: DIM, initialCapacity: 4, exactScanMaxLabels: 0 });
  });
  afterEach(async () => {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('finds an added vector as its own nearest neighbour and grows past its initial capacity', async () => {
    const index = await host.open(acme);
    expect(index.status).toBe('created');
    await index.add(batch([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 1));
    const hits = await index.search(unit(7), 3);
    expect(hits[0]).toMatchObject({ label: 7 });
    expect(hits[0]!.distance).toBeCloseTo(0, 5);
    expect((await index.stats()).capacity).toBeGreaterThanOrEqual(10);
  });

  it('a close that reaches the worker after a reopen of the same tenant leaves the reopened index alone', async () => {
    const first = await host.open(acme);
    await first.add(batch([0, 1, 2], 1));
    await first.search(unit(1), 1);
    // Not awaited: the reopen is posted while the first index is still closing (its drop comes later).
    const closing = first.close();
    const second = await host.open(acme);
    await closing;
    expect(await second.add(batch([3, 4], 1))).toBe(2);
    expect((await second.stats()).live).toBe(2);
    expect((await second.search(unit(4), 1))[0]).toMatchObject({ label: 4 });
  });
});

describe('hnsw index host: owners, deletions, files', () => {
  let dir: string;
  let host: HnswIndexHost;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keel-hnsw-'));
    host = createHnswIndexHost({ dir, dimensions: DIM, initialCapacity: 8, exactScanMaxLabels: 0 });
  });
  afterEach(async () => {
    await host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('searches one owner’s vectors only, through the graph and by exact scan alike', async () => {
    const index = await host.open(acme);
    await index.add(batch([0, 1, 2, 3, 4, 5], [1, 2, 1, 2, 1, 2]));
    const graph = await index.search(unit(1), 3, { owner: 1 });
    expect(graph.map((h) => h.label).sort()).toEqual([0, 2, 4]);
    // A small owner is scanned exactly instead: same answer, exact distances.
    const exactHost = createHnswIndexHost({ dir, dimensions: DIM, exactScanMaxLabels: 100 });
    try {
      const other = await exactHost.open(tenantId('other'));
      await other.add(batch([0, 1, 2], [5, 6, 5]));
      const exact = await other.search(unit(2), 5, { owner: 5 });
      expect(exact.map((h) => h.label)).toEqual([2, 0]);
      expect(exact[0]!.distance).toBeCloseTo(0, 5);
    } finally {
      await exactHost.close();
    }
  });

  it('gives the graph’s distances in every space when it scans an owner exactly', async () => {
    for (const space of ['cosine', 'ip', 'l2'] as const) {
      const labels = [0, 1, 2, 3, 4, 5];
      const distances = async (exactScanMaxLabels: number) => {
        // The searches run in the worker here, where the exact scan is.
        const h = createHnswIndexHost({ dir: join(dir, `${space}-${exactScanMaxLabels}`), dimensions: DIM, space, exactScanMaxLabels, searchOnEventLoop: false });
        try {
          const index = await h.open(acme);
          await index.add(batch(labels, [1, 1, 1, 2, 2, 2]));
          return await index.search(unit(9), 3, { owner: 1 });
        } finally {
          await h.close();
        }
      };
      const [graph, exact] = [await distances(0), await distances(100)];
      expect(exact.map((h) => h.label), space).toEqual(graph.map((h) => h.label));
      exact.forEach((h, i) => expect(h.distance, space).toBeCloseTo(graph[i]!.distance, 5));
    }
  });

  it('marks deletions, reuses a deleted label’s slot, and scrubs vectors on request', async () => {
    const index = await host.open(acme);
    await index.add(batch([0, 1, 2, 3], 1));
    expect(await index.remove([1, 99])).toBe(1);
    expect((await index.search(unit(1), 4)).map((h) => h.label)).not.toContain(1);
    await index.add(batch([1], 1));
    expect(await index.stats()).toMatchObject({ live: 4, count: 4 });
    expect((await index.search(unit(1), 1))[0]).toMatchObject({ label: 1 });
    expect(await index.remove([2], { scrub: true })).toBe(1);
    await index.save();
    const bytes = readFileSync(hnswIndexFiles(dir, acme).file);
    expect(bytes.includes(Buffer.from(normalised(unit(2)).buffer))).toBe(false);
    expect(bytes.includes(Buffer.from(normalised(unit(3)).buffer))).toBe(true);
  });

  it('loads a saved index only with its fingerprint; a missing or altered file opens empty', async () => {
    const index = await host.open(acme);
    await index.add(batch([0, 1, 2], 1));
    const fingerprint = await index.save();
    expect(readdirSync(dir).some((n) => n.endsWith('.tmp'))).toBe(false);
    expect((await host.open(acme, fingerprint)).status).toBe('loaded');
    expect((await host.open(acme)).status).toBe('created');
    const { file, ownersFile } = hnswIndexFiles(dir, acme);
    const owners = readFileSync(ownersFile);
    owners[owners.length - 1] = owners[owners.length - 1]! ^ 0x01;
    writeFileSync(ownersFile, owners);
    expect((await host.open(acme, fingerprint)).status).toBe('corrupt');
    rmSync(file);
    expect((await host.open(acme, fingerprint)).status).toBe('missing');
  });

  it('rejects malformed batches and queries with TypeErrors, and options by name', async () => {
    const index = await host.open(acme);
    await expect(index.add({ labels: Uint32Array.of(0), owners: Uint32Array.of(0), vectors: unit(0) })).rejects.toThrow(/owner tags must be non-zero/);
    await expect(index.add({ labels: Uint32Array.of(0, 1), owners: Uint32Array.of(1), vectors: unit(0) })).rejects.toThrow(/expected 2 owners/);
    await expect(index.search(new Float32Array(3), 1)).rejects.toThrow(/8-dimension/);
    expect(() => createHnswIndexHost({ dir, dimensions: DIM, m: 1 })).toThrow(/option m/);
    expect(() => createHnswIndexHost({ dir, dimensions: DIM, workerNice: 40 })).toThrow(/workerNice/);
    await index.close();
    await expect(index.stats()).rejects.toMatchObject({ code: 'runtime_closed' });
  });
});

/** The vector as hnswlib stores it in a cosine space (normalised in single precision). */
function normalised(v: Float32Array): Float32Array {
  const f = Math.fround;
  let acc = 0;
  for (const x of v) acc = f(acc + f(x * x));
  const norm = f(Math.sqrt(acc));
  return Float32Array.from(v, (x) => f(x / norm));
}
