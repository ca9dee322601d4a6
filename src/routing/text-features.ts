/**
 * The local text representation: word uni/bigrams and character n-grams, hashed to integers (no
 * string per n-gram, so a message is featurised in microseconds), mapped to a vocabulary learnt
 * from the training examples, weighted by sublinear TF × IDF and L2-normalised.
 *
 * Character n-grams carry most of the signal for short, misspelt chat messages ("refnd", "cancle");
 * word bigrams keep short phrases ("not working", "talk to") apart from their words.
 */
import { l2NormalizeInPlace, type SparseVector } from './sparse-vector.js';

/** What the local representation extracts from a message. */
export interface TextFeatureOptions {
  /** Longest word n-gram (1 = words only, 2 = words and bigrams, 0 = none). Default 2. */
  readonly wordNgramMax: number;
  /** Shortest character n-gram, counted over the normalised text with its spaces. Default 2. */
  readonly charNgramMin: number;
  /** Longest character n-gram; 0 turns character n-grams off. Default 5. */
  readonly charNgramMax: number;
  /** A feature must occur in at least this many training texts to enter the vocabulary. Default 1. */
  readonly minDocumentFrequency: number;
  /**
   * Unseen n-grams count towards a message's vector length (not its direction), as if the
   * vocabulary were complete: a message made mostly of words no intent uses gets a short vector,
   * hence low scores everywhere, instead of being blown up to unit length by its few familiar
   * n-grams ("write me a python function" matching on "me", "a"). Default true.
   */
  readonly unseenInNorm: boolean;
}

/** The representation that {@link createTextVectorizer} uses when not told otherwise. */
export const defaultTextFeatureOptions: TextFeatureOptions = Object.freeze({
  wordNgramMax: 2,
  charNgramMin: 2,
  charNgramMax: 5,
  minDocumentFrequency: 1,
  unseenInNorm: true,
});

/** A fitted text vectoriser: turns a message into a unit-length sparse vector. */
export interface TextVectorizer {
  /** Size of the vocabulary: feature indices are in `[0, dimensions)`. */
  readonly dimensions: number;
  readonly options: TextFeatureOptions;
  vectorize(text: string): SparseVector;
  /** The vocabulary (feature hashes in index order) and IDF weights, for serialisation. */
  state(): { hashes: Int32Array; idf: Float32Array };
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;
// Distinct seeds keep a word, a bigram and a character n-gram with the same letters apart.
const SEED_WORD = Math.imul(FNV_OFFSET ^ 0x57, FNV_PRIME);
const SEED_BIGRAM = Math.imul(FNV_OFFSET ^ 0x42, FNV_PRIME);
const SEED_CHAR = Math.imul(FNV_OFFSET ^ 0x43, FNV_PRIME);
const BOUNDARY = 0x2400;
// 30 bits keeps hashes small integers in V8, so Map lookups stay on the fast path; with ~10^5
// features the expected number of colliding pairs is below ten.
const HASH_MASK = 0x3fffffff;

const mix = (h: number, c: number): number => Math.imul(h ^ c, FNV_PRIME);

/**
 * Normalises a message for matching: NFKC, lower case, apostrophes dropped ("don't" = "dont"),
 * every digit written as 0 (order numbers and amounts are not the intent), everything that is not
 * a letter or digit turned into one space.
 *
 * @example
 * ```ts
 * normalizeText("Where's order #12?"); // → "wheres order 00"
 * ```
 */
export function normalizeText(text: string): string {
  return text
    .normalize('NFKC')
    .toLowerCase()
    .replace(/['’`]/g, '')
    .replace(/\p{Nd}/gu, '0')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
}

/**
 * Appends the feature hashes of an already normalised text to `out` (duplicates kept: they are
 * term counts).
 *
 * @example
 * ```ts
 * const hashes: number[] = [];
 * extractFeatureHashes(normalizeText('cancel my order'), defaultTextFeatureOptions, hashes);
 * ```
 */
export function extractFeatureHashes(normalized: string, options: TextFeatureOptions, out: number[]): void {
  if (normalized.length === 0) return;
  if (options.wordNgramMax >= 1) {
    let previous = BOUNDARY;
    let word = SEED_WORD;
    let inWord = false;
    for (let i = 0; i <= normalized.length; i++) {
      const c = i < normalized.length ? normalized.charCodeAt(i) : 32;
      if (c !== 32) {
        word = mix(word, c);
        inWord = true;
        continue;
      }
      if (!inWord) continue;
      out.push(word & HASH_MASK);
      if (options.wordNgramMax >= 2) out.push(mix(mix(SEED_BIGRAM, previous), word) & HASH_MASK);
      previous = word;
      word = SEED_WORD;
      inWord = false;
    }
    if (options.wordNgramMax >= 2) out.push(mix(mix(SEED_BIGRAM, previous), BOUNDARY) & HASH_MASK);
  }
  if (options.charNgramMax >= options.charNgramMin && options.charNgramMax > 0) {
    // Padding with spaces lets character n-grams mark where words start and end.
    const length = normalized.length + 2;
    const at = (i: number): number => (i === 0 || i === length - 1 ? 32 : normalized.charCodeAt(i - 1));
    for (let start = 0; start < length; start++) {
      let h = SEED_CHAR;
      const end = Math.min(length, start + options.charNgramMax);
      for (let i = start; i < end; i++) {
        h = mix(h, at(i));
        if (i - start + 1 >= options.charNgramMin) out.push(h & HASH_MASK);
      }
    }
  }
}

/**
 * Fits a vectoriser on training texts: builds the vocabulary and the IDF weights.
 *
 * @example
 * ```ts
 * const vectorizer = createTextVectorizer(['where is my order', 'cancel my order']);
 * vectorizer.vectorize('where is my parcel'); // unit-length SparseVector
 * ```
 */
export function createTextVectorizer(texts: readonly string[], options: TextFeatureOptions = defaultTextFeatureOptions): TextVectorizer {
  const documentFrequency = new Map<number, number>();
  const hashes: number[] = [];
  for (const text of texts) {
    hashes.length = 0;
    extractFeatureHashes(normalizeText(text), options, hashes);
    for (const h of new Set(hashes)) documentFrequency.set(h, (documentFrequency.get(h) ?? 0) + 1);
  }
  const kept: number[] = [];
  const idf: number[] = [];
  for (const [h, df] of documentFrequency) {
    if (df < options.minDocumentFrequency) continue;
    kept.push(h);
    // Smoothed IDF, as in scikit-learn: never zero, so a feature seen everywhere still counts a little.
    idf.push(Math.log((1 + texts.length) / (1 + df)) + 1);
  }
  return restoreTextVectorizer(Int32Array.from(kept), Float32Array.from(idf), options);
}

/**
 * Rebuilds a vectoriser from its serialised vocabulary and IDF weights.
 *
 * @example
 * ```ts
 * const { hashes, idf } = vectorizer.state();
 * const again = restoreTextVectorizer(hashes, idf, vectorizer.options);
 * ```
 */
export function restoreTextVectorizer(hashes: Int32Array, idf: Float32Array, options: TextFeatureOptions): TextVectorizer {
  if (hashes.length !== idf.length) throw new TypeError('vocabulary and idf lengths differ');
  const index = new Map<number, number>();
  for (let i = 0; i < hashes.length; i++) index.set(hashes[i]!, i);
  const scratch: number[] = [];
  let ids = new Int32Array(256);
  // An unseen n-gram weighs like the rarest seen one (document frequency at most 1).
  let unseenIdf = 0;
  for (let i = 0; i < idf.length; i++) if (idf[i]! > unseenIdf) unseenIdf = idf[i]!;
  return {
    dimensions: hashes.length,
    options,
    state: () => ({ hashes: hashes.slice(), idf: idf.slice() }),
    vectorize(text) {
      scratch.length = 0;
      extractFeatureHashes(normalizeText(text), options, scratch);
      if (ids.length < scratch.length) ids = new Int32Array(scratch.length * 2);
      let known = 0;
      for (const h of scratch) {
        const id = index.get(h);
        if (id !== undefined) ids[known++] = id;
      }
      // Sorting turns duplicate ids into runs (their counts) and makes weight reads ascend in memory.
      const sorted = ids.subarray(0, known).sort();
      let unique = 0;
      for (let i = 0; i < known; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) unique++;
      const indices = new Int32Array(unique);
      const values = new Float32Array(unique);
      let k = -1;
      let count = 0;
      for (let i = 0; i <= known; i++) {
        if (i < known && i > 0 && sorted[i] === sorted[i - 1]) {
          count++;
          continue;
        }
        if (k >= 0) values[k] = (1 + Math.log(count)) * idf[indices[k]!]!;
        if (i < known) {
          indices[++k] = sorted[i]!;
          count = 1;
        }
      }
      if (!options.unseenInNorm || known === scratch.length) return { indices, values: l2NormalizeInPlace(values) };
      // Unseen occurrences are counted as distinct n-grams (tf 1 each): repeats of one unseen
      // n-gram in a short message are rare, and telling them apart would need a second map.
      let sum = (scratch.length - known) * unseenIdf * unseenIdf;
      for (let i = 0; i < values.length; i++) sum += values[i]! * values[i]!;
      const inv = sum > 0 ? 1 / Math.sqrt(sum) : 0;
      for (let i = 0; i < values.length; i++) values[i]! *= inv;
      return { indices, values };
    },
  };
}
