// Retention: per-user and per-tenant limits; over a limit the oldest memories are folded into an
// extractive summary (default) or dropped.
import { afterEach, describe, expect, it } from 'vitest';
import { summariseExtractively } from '../../../src/memory/extractive-summary.js';
import { createLocalEmbedder } from '../../../src/memory/local-embedder.js';
import { tenantId, userId } from '../../../src/types.js';
import { indexBytes, openMemoryFixture, storedVectorBytes, type MemoryFixture } from './support/memory-fixture.js';

const acme = tenantId('acme');
const ada = userId('ada');
const bo = userId('bo');

const SAYINGS = [
  'My first order was a pair of red hiking boots',
  'The red hiking boots were too small for me',
  'I returned the red hiking boots last spring',
  'I live at 4 Rue Colbert in Lyon',
  'Please call me after six in the evening',
  'I want the blue rain jacket in size M',
  'Is the tent waterproof for heavy rain?',
  'My card ending 4242 was declined',
];

let fixture: MemoryFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

async function say(f: MemoryFixture, user: typeof ada, texts: readonly string[]) {
  for (const text of texts) {
    await f.memory.memories.remember({ tenant: acme, user, text });
    f.clock.advance(60_000);
  }
}

describe('memory retention', () => {
  it('folds the oldest memories of a user over the limit into one summary that still recalls', async () => {
    fixture = await openMemoryFixture({ maxMemoriesPerUser: 5, summariseBatchSize: 3 });
    const f = fixture;
    await say(f, ada, SAYINGS);
    expect(f.memory.memories.count(acme, ada)).toBeLessThanOrEqual(5);
    const summaries = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'red hiking boots', kinds: ['summary'], k: 5 });
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.text).toMatch(/^Summary of \d+ earlier memories/);
    expect(summaries[0]!.text).toContain('red hiking boots');
    // The newest memories are untouched.
    const newest = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'card 4242 declined', k: 1 });
    expect(newest[0]).toMatchObject({ text: 'My card ending 4242 was declined', kind: 'message' });
    // Nothing of the summarised originals is left as a message of its own.
    const originals = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'My first order was a pair of red hiking boots', kinds: ['message'], k: 10 });
    expect(originals.map((h) => h.text)).not.toContain('My first order was a pair of red hiking boots');
  });

  it("drops the oldest memories with retention 'drop'", async () => {
    fixture = await openMemoryFixture({ maxMemoriesPerUser: 3, retention: 'drop' });
    const f = fixture;
    await say(f, ada, SAYINGS);
    expect(f.memory.memories.count(acme, ada)).toBe(3);
    const all = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'boots jacket tent card rain', k: 10 });
    expect(all.map((h) => h.text).sort()).toEqual(SAYINGS.slice(-3).sort());
  });

  it('overwrites the vectors of the memories it removes, so a later erasure leaves none of them in the index files', async () => {
    for (const retention of ['summarise', 'drop'] as const) {
      fixture = await openMemoryFixture({ maxMemoriesPerUser: 3, summariseBatchSize: 2, retention }, { plain: true });
      const f = fixture;
      const texts = SAYINGS.slice(0, 4);
      await say(f, ada, texts);
      expect(f.memory.memories.count(acme, ada)).toBeLessThanOrEqual(3);
      const embedder = createLocalEmbedder();
      const needles = texts.map((t) => storedVectorBytes(embedder.embedSync(t)));
      await f.memory.memories.saveIndex(acme);
      // Removed by retention (the two oldest, folded into a summary; or the oldest, dropped): their
      // vectors are gone from the saved file at once.
      const saved = indexBytes(f.indexDir);
      expect(needles.map((n) => saved.includes(n)), retention).toEqual(retention === 'summarise' ? [false, false, true, true] : [false, true, true, true]);
      await f.memory.forget(acme, ada);
      await f.reopen();
      await f.memory.memories.indexStats(acme);
      expect(needles.some((n) => indexBytes(f.indexDir).includes(n)), retention).toBe(false);
      await f.close();
      fixture = undefined;
    }
  });

  it('keeps a tenant under its limit without mixing users in a summary', async () => {
    fixture = await openMemoryFixture({ maxMemoriesPerTenant: 6, summariseBatchSize: 2 });
    const f = fixture;
    await say(f, ada, SAYINGS.slice(0, 4));
    await say(f, bo, ['Bo likes green tents', 'Bo lives in Oslo', 'Bo ordered a stove', 'Bo needs a refund for the stove']);
    expect(f.memory.memories.count(acme)).toBeLessThanOrEqual(6);
    for (const user of [ada, bo]) {
      const mine = await f.memory.memories.recall({ tenant: acme, user, query: 'anything at all boots tents stove Lyon Oslo', k: 20 });
      const other = user === ada ? 'Bo ' : 'hiking boots';
      expect(mine.some((h) => h.text.includes(other))).toBe(false);
    }
  });

  it('summaries quote the most central memories, skip repetitions and stay within their length', () => {
    const embedder = createLocalEmbedder();
    const texts = ['my boots are too small', 'the boots are too small', 'my boots are too small', 'I live in Lyon', 'x'.repeat(600)];
    const items = texts.map((text, i) => ({ text, embedding: embedder.embedSync(text), time: Date.UTC(2024, 0, 1 + i) }));
    const summary = summariseExtractively(items, { maxQuotes: 3, maxChars: 300 });
    expect(summary.startsWith('Summary of 5 earlier memories (2024-01-01 to 2024-01-05): ')).toBe(true);
    expect(summary.length).toBeLessThanOrEqual(300);
    expect(summary.match(/my boots are too small/g)?.length ?? 0).toBeLessThanOrEqual(1);
    expect(summariseExtractively([])).toBe('');
  });
});
