import { describe, expect, it } from 'vitest';
import { createLocalEmbedder } from '../../../src/memory/local-embedder.js';
import { stem, tokenize } from '../../../src/memory/text-features.js';

const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => s + v * b[i]!, 0);

describe('local embedder', () => {
  const embedder = createLocalEmbedder();

  it('gives deterministic, unit-length vectors of the configured size', async () => {
    const [a, b] = await embedder.embed(['My card was declined', 'My card was declined']);
    expect(a).toHaveLength(384);
    expect(Array.from(a!)).toEqual(Array.from(b!));
    expect(dot(a!, a!)).toBeCloseTo(1, 5);
    expect(embedder.id).toBe('local-hash-v1:384:2:0.6:0.8:3-4:0.5');
  });

  it('puts paraphrases closer than unrelated texts', () => {
    const declined = embedder.embedSync('why was my card declined at the shop?');
    const refused = embedder.embedSync('my card got declined when paying');
    const parcel = embedder.embedSync('where is my parcel, it has not arrived');
    expect(dot(declined, refused)).toBeGreaterThan(dot(declined, parcel) + 0.2);
  });

  it('keeps negations apart and joins inflections', () => {
    const working = embedder.embedSync('the card is working');
    const notWorking = embedder.embedSync('the card is not working');
    expect(dot(working, notWorking)).toBeLessThan(0.95);
    expect(stem('charging')).toBe(stem('charges'));
    expect(tokenize("I can't log-in!")).toEqual(['i', 'can', 'not', 'log', 'in']);
  });

  it('gives the zero vector for text without words, and honours an aborted signal', async () => {
    expect(embedder.embedSync('?! …').every((x) => x === 0)).toBe(true);
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(embedder.embed(['a'], controller.signal)).rejects.toThrow('stop');
    await expect(embedder.embed([42 as never])).rejects.toMatchObject({ code: 'bad_frame' });
  });

  it('validates its options by name and encodes them in its id', () => {
    expect(() => createLocalEmbedder({ dimensions: 8 })).toThrow(/dimensions/);
    expect(() => createLocalEmbedder({ charGramSizes: [5, 3] })).toThrow(/charGramSizes/);
    expect(createLocalEmbedder({ dimensions: 128 }).id).not.toBe(embedder.id);
  });
});
