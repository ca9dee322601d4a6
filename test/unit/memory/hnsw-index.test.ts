import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHnswIndexHost, type HnswIndexHost } from '../../../src/memory/hnsw-index.js';
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
});
