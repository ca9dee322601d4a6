import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHnswIndexHost, type HnswHit, type HnswIndex, type HnswIndexHost } from '../../../src/memory/hnsw-index.js';
import { tenantId } from '../../../src/types.js';

const DIM = 16;
const acme = tenantId('acme');

function vector(seed: number): Float32Array {
  const v = new Float32Array(DIM);
  let s = (seed + 1) * 2654435761;
  for (let i = 0; i < DIM; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    v[i] = s / 2 ** 32 - 0.5;
  }
  return v;
}

function batch(labels: number[], ownerOf: (label: number) => number, seedOf: (label: number) => number = (l) => l) {
  const vectors = new Float32Array(labels.length * DIM);
  labels.forEach((label, i) => vectors.set(vector(seedOf(label)), i * DIM));
  return { labels: Uint32Array.from(labels), owners: Uint32Array.from(labels.map(ownerOf)), vectors };
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
// Owner 1 holds most vectors (searched through the graph), owner 2 a few (scanned exactly), owner 3 the rest.
const ownerOf = (label: number) => (label % 10 === 0 ? 2 : label % 3 === 0 ? 3 : 1);

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('hnsw search view (searches on the event loop)', () => {
  let dir: string;
  let onLoop: HnswIndexHost;
  let inWorker: HnswIndexHost;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'keel-hnsw-view-'));
    const common = { dimensions: DIM, initialCapacity: 64, exactScanMaxLabels: 40, searchViewMaxChanges: 64 };
    onLoop = createHnswIndexHost({ ...common, dir: join(dir, 'loop') });
    inWorker = createHnswIndexHost({ ...common, dir: join(dir, 'worker'), searchOnEventLoop: false });
  });
  afterEach(async () => {
    await Promise.all([onLoop.close(), inWorker.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the same operation on both indexes. */
  const both = async (a: HnswIndex, b: HnswIndex, op: (i: HnswIndex) => Promise<unknown>) => Promise.all([op(a), op(b)]);
  const same = (got: HnswHit[], want: HnswHit[]) => {
    expect(got.map((h) => h.label)).toEqual(want.map((h) => h.label));
    got.forEach((h, i) => expect(h.distance).toBeCloseTo(want[i]!.distance, 5));
  };
  const compare = async (a: HnswIndex, b: HnswIndex, seeds: number[]) => {
    for (const seed of seeds) {
      for (const owner of [0, 1, 2, 3]) same(await a.search(vector(seed), 8, { owner }), await b.search(vector(seed), 8, { owner }));
    }
  };

  it('answers what the worker answers, with the changes since its copy, and leaves many changes to the worker', async () => {
    const [a, b] = await Promise.all([onLoop.open(acme), inWorker.open(acme)]);
    await both(a, b, (i) => i.add(batch(range(0, 400), ownerOf)));
    // The first search goes to the worker and asks for the copy.
    same(await a.search(vector(5), 8), await b.search(vector(5), 8));
    expect(a.searchStats()).toMatchObject({ inWorker: 1, onEventLoop: 0 });
    await until('the first copy', () => a.searchStats().loaded);
    await compare(a, b, [3, 77, 1000, 1001]);
    expect(a.searchStats()).toMatchObject({ loaded: true, changes: 0, refreshes: 1 });
    expect(a.searchStats().onEventLoop).toBe(16);

    // Changes after the copy: new labels, replaced vectors (label 12 moves to owner 2), removals.
    await both(a, b, (i) => i.add(batch([400, 401, 402, 12], (l) => (l === 12 ? 2 : 1), (l) => (l === 12 ? 5000 : l))));
    await both(a, b, (i) => i.remove([7, 20, 401]));
    expect(a.searchStats().changes).toBe(6);
    await compare(a, b, [400, 5000, 7, 20, 12, 9]);
    const onLoopBefore = a.searchStats().onEventLoop;
    expect(onLoopBefore).toBe(16 + 24);
    expect((await a.search(vector(7), 400)).map((h) => h.label)).not.toContain(7);
    expect((await a.search(vector(5000), 1, { owner: 2 }))[0]).toMatchObject({ label: 12 });

    // Read-your-writes: a search right after an add (not awaited) finds it.
    const adding = a.add(batch([403], () => 3));
    expect((await a.search(vector(403), 1, { owner: 3 }))[0]).toMatchObject({ label: 403 });
    await adding;
    await b.add(batch([403], () => 3));

    // Past searchViewMaxChanges the worker answers, and a fresh copy is loaded in the background.
    await both(a, b, (i) => i.add(batch(range(500, 600), ownerOf)));
    const before = a.searchStats();
    same(await a.search(vector(550), 8), await b.search(vector(550), 8));
    expect(a.searchStats().inWorker).toBe(before.inWorker + 1);
    await until('a fresh copy', () => a.searchStats().refreshes === 2);
    expect(a.searchStats().changes).toBe(0);
    await compare(a, b, [550, 599, 12, 403]);
    expect(readdirSync(join(dir, 'loop')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('takes no copy while changes stream in (an import), and takes one when they calm down', async () => {
    const a = await onLoop.open(acme);
    await a.add(batch(range(0, 200), ownerOf));
    await a.search(vector(1), 1);
    await until('the first copy', () => a.searchStats().loaded);
    // Thousands of changes a second for 1.2 s (at least 2,000 even if a round takes 100 ms), searched meanwhile.
    let next = 1000;
    let rounds = 0;
    const before = a.searchStats();
    const streamEnd = Date.now() + 1200;
    while (Date.now() < streamEnd) {
      const labels = range(next, next + 200);
      next += 200;
      rounds++;
      await a.add(batch(labels, ownerOf));
      expect((await a.search(vector(labels[0]!), 1, { owner: ownerOf(labels[0]!) }))[0]).toMatchObject({ label: labels[0] });
      await new Promise((r) => setTimeout(r, 20));
    }
    // Every search of the stream went to the worker, however fast this machine ran the rounds.
    const streamed = a.searchStats();
    expect(streamed).toMatchObject({ loaded: false, refreshes: 1, onEventLoop: before.onEventLoop });
    expect(streamed.inWorker - before.inWorker).toBe(rounds);
    // Calm: the next search asks again, and the copy comes after the pause.
    await a.search(vector(3), 1);
    await until('a copy after the import', () => a.searchStats().refreshes === 2);
    expect((await a.search(vector(next - 1), 1))[0]).toMatchObject({ label: next - 1 });
    expect(a.searchStats().onEventLoop).toBeGreaterThan(streamed.onEventLoop);
  });

  it('keeps its copy when vectors are only scrubbed (retention), and never returns a removed one', async () => {
    const [a, b] = await Promise.all([onLoop.open(acme), inWorker.open(acme)]);
    await both(a, b, (i) => i.add(batch(range(0, 200), ownerOf)));
    await a.search(vector(1), 1);
    await until('the first copy', () => a.searchStats().loaded);
    const removed = range(0, 200).filter((l) => l % 10 === 0);
    await both(a, b, (i) => i.remove(removed, { scrub: true }));
    expect(a.searchStats().loaded).toBe(true);
    for (const l of removed) expect((await a.search(vector(l), 5)).map((h) => h.label)).not.toContain(l);
    same(await a.search(vector(11), 5), await b.search(vector(11), 5));
    expect(a.searchStats().loaded).toBe(true);
  });

  it('drops its copy when vectors are erased, and never returns an erased one', async () => {
    const [a, b] = await Promise.all([onLoop.open(acme), inWorker.open(acme)]);
    await both(a, b, (i) => i.add(batch(range(0, 200), ownerOf)));
    await a.search(vector(1), 1);
    await until('the first copy', () => a.searchStats().loaded);
    const erased = range(0, 200).filter((l) => ownerOf(l) === 2);
    await both(a, b, (i) => i.remove(erased, { erasure: true }));
    expect(a.searchStats().loaded).toBe(false);
    for (const l of erased) expect(await a.search(vector(l), 5, { owner: 2 })).toEqual([]);
    same(await a.search(vector(10), 5), await b.search(vector(10), 5));
    expect((await a.search(vector(10), 200)).map((h) => h.label).filter((l) => erased.includes(l))).toEqual([]);
  });

  it('closes while a copy is being read, and leaves no file behind', async () => {
    const a = await onLoop.open(acme);
    await a.add(batch(range(0, 300), ownerOf));
    await a.search(vector(1), 1); // asks for the copy
    await a.close();
    expect(a.searchStats().loaded).toBe(false);
    await expect(a.search(vector(1), 1)).rejects.toMatchObject({ code: 'runtime_closed' });
    expect(readdirSync(join(dir, 'loop')).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('validates its options by name', () => {
    expect(() => createHnswIndexHost({ dir, dimensions: DIM, searchViewMaxChanges: -1 })).toThrow(/searchViewMaxChanges/);
    expect(() => createHnswIndexHost({ dir, dimensions: DIM, searchOnEventLoop: 'yes' as unknown as boolean })).toThrow(/searchOnEventLoop/);
  });
});
