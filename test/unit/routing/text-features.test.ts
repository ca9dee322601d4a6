import { describe, it, expect } from 'vitest';
import { createTextVectorizer, defaultTextFeatureOptions, normalizeText } from '../../../src/routing/index.js';
import { extractFeatureHashes, restoreTextVectorizer } from '../../../src/routing/text-features.js';

const norm = (values: Float32Array): number => Math.sqrt(values.reduce((s, v) => s + v * v, 0));

describe('normalizeText', () => {
  it('lower-cases, drops apostrophes, zeroes digits and collapses punctuation', () => {
    expect(normalizeText("Where's  ORDER #12345?!")).toBe('wheres order 00000');
    expect(normalizeText("don’t")).toBe('dont');
    expect(normalizeText('ＦＵＬＬ width')).toBe('full width');
    expect(normalizeText(' ... ')).toBe('');
  });
});

describe('extractFeatureHashes', () => {
  it('is deterministic and yields small non-negative integers', () => {
    const a: number[] = [];
    const b: number[] = [];
    extractFeatureHashes('cancel my order', defaultTextFeatureOptions, a);
    extractFeatureHashes('cancel my order', defaultTextFeatureOptions, b);
    expect(a).toEqual(b);
    for (const h of a) expect(Number.isInteger(h) && h >= 0 && h < 2 ** 30).toBe(true);
  });

  it('counts words, bigrams with boundaries and character n-grams', () => {
    const out: number[] = [];
    extractFeatureHashes('ab cd', { ...defaultTextFeatureOptions, charNgramMax: 0 }, out);
    // 2 words + bigrams (^ ab), (ab cd), (cd $)
    expect(out).toHaveLength(5);
    out.length = 0;
    extractFeatureHashes('ab', { ...defaultTextFeatureOptions, wordNgramMax: 0, charNgramMin: 2, charNgramMax: 3 }, out);
    // " ab " has 3 bigrams and 2 trigrams
    expect(out).toHaveLength(5);
  });

  it('keeps word order apart through bigrams', () => {
    const options = { ...defaultTextFeatureOptions, charNgramMax: 0 };
    const a: number[] = [];
    const b: number[] = [];
    extractFeatureHashes('not working', options, a);
    extractFeatureHashes('working not', options, b);
    expect(new Set(a)).not.toEqual(new Set(b));
  });
});

describe('createTextVectorizer', () => {
  const texts = ['where is my order', 'cancel my order', 'refund my money', 'talk to a human'];
  const vectorizer = createTextVectorizer(texts);

  it('produces sorted, unique indices and unit-length vectors for known text', () => {
    const x = vectorizer.vectorize('cancel my order');
    expect(x.indices.length).toBeGreaterThan(10);
    for (let i = 1; i < x.indices.length; i++) expect(x.indices[i]!).toBeGreaterThan(x.indices[i - 1]!);
    expect(norm(x.values)).toBeCloseTo(1, 5);
  });

  it('weighs rare features above common ones (IDF)', () => {
    const x = vectorizer.vectorize('my refund');
    const hashes: number[] = [];
    extractFeatureHashes('refund', { ...defaultTextFeatureOptions, charNgramMax: 0, wordNgramMax: 1 }, hashes);
    const myHashes: number[] = [];
    extractFeatureHashes('my', { ...defaultTextFeatureOptions, charNgramMax: 0, wordNgramMax: 1 }, myHashes);
    const { hashes: vocabulary } = vectorizer.state();
    const weightOf = (h: number): number => x.values[x.indices.indexOf(vocabulary.indexOf(h))]!;
    expect(weightOf(hashes[0]!)).toBeGreaterThan(weightOf(myHashes[0]!));
  });

  it('shortens the vector of a message that is mostly unseen (unseenInNorm)', () => {
    const familiar = vectorizer.vectorize('cancel my order');
    const mostlyNew = vectorizer.vectorize('cancel my order of quantum chromodynamics lectures');
    expect(norm(familiar.values)).toBeCloseTo(1, 5);
    expect(norm(mostlyNew.values)).toBeLessThan(0.7);
    const plain = createTextVectorizer(texts, { ...defaultTextFeatureOptions, unseenInNorm: false });
    expect(norm(plain.vectorize('cancel my order of quantum chromodynamics lectures').values)).toBeCloseTo(1, 5);
  });

  it('returns an empty vector for entirely unknown or empty text', () => {
    expect(vectorizer.vectorize('').indices).toHaveLength(0);
    expect(vectorizer.vectorize('qqqq').indices.length).toBe(0);
  });

  it('restores from its state to the same vectors', () => {
    const { hashes, idf } = vectorizer.state();
    const again = restoreTextVectorizer(hashes, idf, vectorizer.options);
    expect(again.vectorize('where is my refund')).toEqual(vectorizer.vectorize('where is my refund'));
  });

  it('drops features rarer than minDocumentFrequency', () => {
    const pruned = createTextVectorizer(texts, { ...defaultTextFeatureOptions, minDocumentFrequency: 2 });
    expect(pruned.dimensions).toBeLessThan(vectorizer.dimensions);
    expect(pruned.vectorize('refund money').indices.length).toBeLessThan(vectorizer.vectorize('refund money').indices.length);
  });
});
