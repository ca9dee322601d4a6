// Index building runs in the worker thread: during a bulk insert of thousands of memories the
// event loop keeps ticking (chat turns go on), and another tenant's recall is answered between
// the build's slices instead of after the whole build. Bounds are generous: the machine is shared.
import { afterEach, describe, expect, it } from 'vitest';
import { tenantId, userId } from '../../../src/types.js';
import { openMemoryFixture, type MemoryFixture } from './support/memory-fixture.js';

const acme = tenantId('acme');
const globex = tenantId('globex');
const ada = userId('ada');

const SUBJECTS = ['parcel', 'refund', 'invoice', 'jacket', 'tent', 'boots', 'card', 'address', 'voucher', 'delivery', 'stove', 'backpack'];
const VERBS = ['arrived late', 'was damaged', 'is missing', 'was charged twice', 'needs changing', 'never came', 'looks wrong', 'was cancelled'];
const text = (i: number) => `Note ${i}: my ${SUBJECTS[i % SUBJECTS.length]} ${VERBS[(i * 7) % VERBS.length]} on day ${i % 31} of month ${(i % 12) + 1}, reference ${i * 13}`;

let fixture: MemoryFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

describe('the event loop during a bulk insert', () => {
  it('keeps ticking while the worker builds the index, and serves other tenants between slices', { timeout: 120_000 }, async () => {
    // A slow build (high efConstruction) so that the worker is busy for a long stretch.
    fixture = await openMemoryFixture({ maxMemoriesPerUser: 100_000, index: { efConstruction: 400, m: 24 } });
    const { memories } = fixture.memory;
    await memories.remember({ tenant: globex, user: ada, text: 'My order from globex was lost' });
    await memories.indexStats(globex);

    const gaps: number[] = [];
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }, 5);
    const n = 12_000;
    const started = performance.now();
    await memories.rememberMany(Array.from({ length: n }, (_, i) => ({ tenant: acme, user: ada, text: text(i) })));
    const committed = performance.now();
    // While acme's index is still being built, globex's recall is answered from its own index.
    const searchLatencies: number[] = [];
    let pending = true;
    const indexed = memories.indexStats(acme).finally(() => {
      pending = false;
    });
    while (pending) {
      const t0 = performance.now();
      const hits = await memories.recall({ tenant: globex, user: ada, query: 'lost order', k: 1 });
      searchLatencies.push(performance.now() - t0);
      expect(hits[0]?.text).toBe('My order from globex was lost');
      await new Promise((r) => setTimeout(r, 20));
    }
    const stats = await indexed;
    const finished = performance.now();
    clearInterval(ticker);

    expect(stats.live).toBe(n);
    const buildMs = finished - committed;
    const totalMs = finished - started;
    // The worker needed a noticeable time on its own; meanwhile the loop ticked all along.
    expect(buildMs).toBeGreaterThan(300);
    expect(gaps.length).toBeGreaterThan(totalMs / 50);
    expect(Math.max(...gaps)).toBeLessThan(Math.max(1_000, totalMs / 4));
    // Searches went through during the build, each far quicker than the build itself.
    expect(searchLatencies.length).toBeGreaterThan(2);
    expect(Math.max(...searchLatencies)).toBeLessThan(Math.max(500, buildMs / 4));
    // And the result is a working index.
    const [hit] = await memories.recall({ tenant: acme, user: ada, query: text(4321), k: 1 });
    expect(hit?.text).toBe(text(4321));
  });
});
