// Index building runs in the worker thread: during a bulk insert of thousands of memories the
// event loop keeps ticking (chat turns go on), another tenant's recall is answered between the
// build's slices, and the import goes at the index's pace, so a recall in the same tenant waits
// for a chunk or two of inserts instead of the whole import. Bounds are generous: the machine is shared.
import { afterEach, describe, expect, it } from 'vitest';
import { tenantId, userId } from '../../../src/types.js';
import { openMemoryFixture, type MemoryFixture } from './support/memory-fixture.js';

const acme = tenantId('acme');
const globex = tenantId('globex');
const ada = userId('ada');
const bob = userId('bob');

const SUBJECTS = ['parcel', 'refund', 'invoice', 'jacket', 'tent', 'boots', 'card', 'address', 'voucher', 'delivery', 'stove', 'backpack'];
const VERBS = ['arrived late', 'was damaged', 'is missing', 'was charged twice', 'needs changing', 'never came', 'looks wrong', 'was cancelled'];
const text = (i: number) => `Note ${i}: my ${SUBJECTS[i % SUBJECTS.length]} ${VERBS[(i * 7) % VERBS.length]} on day ${i % 31} of month ${(i % 12) + 1}, reference ${i * 13}`;

let fixture: MemoryFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

describe('the event loop during a bulk insert', () => {
  it('keeps ticking while the worker builds the index, and serves recalls of every tenant meanwhile', { timeout: 120_000 }, async () => {
    // A slow build (high efConstruction) so that the worker is busy for a long stretch.
    fixture = await openMemoryFixture({ maxMemoriesPerUser: 100_000, index: { efConstruction: 400, m: 24 } });
    const { memories } = fixture.memory;
    await memories.remember({ tenant: globex, user: ada, text: 'My order from globex was lost' });
    await memories.remember({ tenant: acme, user: bob, text: 'My parcel to Leeds never came' });
    await memories.indexStats(globex);
    await memories.indexStats(acme);

    const gaps: number[] = [];
    let last = performance.now();
    const ticker = setInterval(() => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
    }, 5);
    const n = 12_000;
    const started = performance.now();
    let importing = true;
    const imported = memories
      .rememberMany(Array.from({ length: n }, (_, i) => ({ tenant: acme, user: ada, text: text(i) })))
      .then(() => memories.indexStats(acme))
      .finally(() => {
        importing = false;
      });
    // While acme's import is indexed, globex's recall is answered from its own index, and another
    // acme user's recall waits only for the few inserts queued before it, not for the whole import.
    const otherTenant: number[] = [];
    const sameTenant: number[] = [];
    while (importing) {
      let t0 = performance.now();
      const [globexHit] = await memories.recall({ tenant: globex, user: ada, query: 'lost order', k: 1 });
      otherTenant.push(performance.now() - t0);
      expect(globexHit?.text).toBe('My order from globex was lost');
      t0 = performance.now();
      const [acmeHit] = await memories.recall({ tenant: acme, user: bob, query: 'parcel Leeds', k: 1 });
      sameTenant.push(performance.now() - t0);
      expect(acmeHit?.text).toBe('My parcel to Leeds never came');
      await new Promise((r) => setTimeout(r, 20));
    }
    const stats = await imported;
    const totalMs = performance.now() - started;
    clearInterval(ticker);

    expect(stats.live).toBe(n + 1);
    // The worker needed a noticeable time; meanwhile the loop ticked all along.
    expect(totalMs).toBeGreaterThan(300);
    expect(gaps.length).toBeGreaterThan(totalMs / 50);
    expect(Math.max(...gaps)).toBeLessThan(Math.max(1_000, totalMs / 4));
    // Recalls went through during the import, each far quicker than the import itself.
    expect(otherTenant.length).toBeGreaterThan(2);
    expect(Math.max(...otherTenant)).toBeLessThan(Math.max(500, totalMs / 4));
    expect(Math.max(...sameTenant)).toBeLessThan(Math.max(500, totalMs / 4));
    // And the result is a working index.
    const [hit] = await memories.recall({ tenant: acme, user: ada, query: text(4321), k: 1 });
    expect(hit?.text).toBe(text(4321));
  });
});
