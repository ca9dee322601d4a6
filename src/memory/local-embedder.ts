/**
 * The local embedder: a deterministic, dependency-free text encoder for short customer-service
 * sentences, so that memory and recall work offline with no model download.
 *
 * It is a feature-hashing encoder: stemmed word unigrams, word bigrams and character n-grams of the
 * content words are weighted (sublinear term frequency times a fixed IDF-like weight that damps
 * function words), hashed with a sign bit into a fixed number of dimensions and L2-normalised.
 * Cosine similarity between two vectors then approximates a TF-IDF cosine between the texts.
 */
import type { Embedder } from '../ports.js';
import { KeelError } from '../errors.js';
import { FUNCTION_WORDS, NEGATIONS, stem, tokenize } from './text-features.js';

/** Options of {@link createLocalEmbedder}. */
export interface LocalEmbedderOptions {
  /** Vector length. Default 384. */
  readonly dimensions?: number;
  /** Hash buckets per feature; two halve the variance that collisions add. Default 2. */
  readonly bucketsPerFeature?: number;
  /** Weight of a word bigram relative to a content-word unigram. Default 0.6. */
  readonly bigramWeight?: number;
  /** Weight of all character n-grams of one content word together. Default 0.8. */
  readonly charGramWeight?: number;
  /** Smallest and largest character n-gram length. Default [3, 4]. */
  readonly charGramSizes?: readonly [number, number];
  /** Weight of a function word ("the", "my", "how") relative to a content word. Default 0.5. */
  readonly functionWordWeight?: number;
  /** Texts are cut at this many characters before encoding, bounding the cost of one call. Default 4096. */
  readonly maxTextChars?: number;
  /** Texts encoded between two yields to the event loop in a large batch. Default 128. */
  readonly yieldEveryTexts?: number;
}

/** The defaults of {@link LocalEmbedderOptions}. */
export const defaultLocalEmbedderOptions = Object.freeze({
  dimensions: 384,
  bucketsPerFeature: 2,
  bigramWeight: 0.6,
  charGramWeight: 0.8,
  charGramSizes: Object.freeze([3, 4]) as readonly [number, number],
  functionWordWeight: 0.5,
  maxTextChars: 4096,
  yieldEveryTexts: 128,
});

type ResolvedOptions = Readonly<Required<LocalEmbedderOptions>>;

function resolveOptions(options: LocalEmbedderOptions = {}): ResolvedOptions {
  const o = { ...defaultLocalEmbedderOptions, ...options };
  const intIn = (name: keyof LocalEmbedderOptions, value: number, min: number, max: number) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new TypeError(`local embedder option ${name} must be an integer in [${min}, ${max}]`);
    }
  };
  const weight = (name: keyof LocalEmbedderOptions, value: number) => {
    if (!Number.isFinite(value) || value < 0 || value > 10) throw new TypeError(`local embedder option ${name} must be a number in [0, 10]`);
  };
  intIn('dimensions', o.dimensions, 16, 8192);
  intIn('bucketsPerFeature', o.bucketsPerFeature, 1, 4);
  intIn('maxTextChars', o.maxTextChars, 16, 1_000_000);
  intIn('yieldEveryTexts', o.yieldEveryTexts, 1, 1_000_000);
  weight('bigramWeight', o.bigramWeight);
  weight('charGramWeight', o.charGramWeight);
  weight('functionWordWeight', o.functionWordWeight);
  const sizes = o.charGramSizes;
  if (!Array.isArray(sizes) || sizes.length !== 2 || !Number.isInteger(sizes[0]) || !Number.isInteger(sizes[1]) || sizes[0] < 2 || sizes[1] < sizes[0] || sizes[1] > 8) {
    throw new TypeError('local embedder option charGramSizes must be [min, max] with 2 <= min <= max <= 8');
  }
  return Object.freeze({ ...o, charGramSizes: Object.freeze([sizes[0], sizes[1]]) as readonly [number, number] });
}

// Feature-kind seeds keep a word, a bigram and an n-gram with the same characters apart.
const SEED_WORD = 0x9e3779b1;
const SEED_BIGRAM = 0x85ebca77;
const SEED_GRAM = 0xc2b2ae3d;
const SEED_BUCKET = 0x27d4eb2f;

/** FNV-1a over a substring, finished with murmur3's avalanche so low bits are usable for `mod dim`. */
function hashRange(text: string, start: number, end: number, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = start; i < end; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix(h);
}

function fmix(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function combine(a: number, b: number, seed: number): number {
  return fmix((Math.imul(a, 0x01000193) ^ b ^ seed) >>> 0);
}

/** Accumulates weighted features with sublinear term frequency: weight × (1 + ln tf). */
class FeatureBag {
  private readonly counts = new Map<number, { weight: number; tf: number }>();

  add(hash: number, weight: number): void {
    if (weight <= 0) return;
    const entry = this.counts.get(hash);
    if (entry) {
      entry.tf += 1;
      // The heaviest occurrence sets the weight: a word seen once as content and once inside a bigram stays a content word.
      if (weight > entry.weight) entry.weight = weight;
    } else {
      this.counts.set(hash, { weight, tf: 1 });
    }
  }

  project(out: Float32Array, buckets: number): void {
    const dim = out.length;
    const share = 1 / Math.sqrt(buckets);
    for (const [hash, { weight, tf }] of this.counts) {
      const value = weight * (1 + Math.log(tf)) * share;
      let h = hash;
      for (let b = 0; b < buckets; b++) {
        // The top bit carries the sign so collisions cancel in expectation instead of piling up.
        const sign = h & 0x80000000 ? -1 : 1;
        const slot = (h & 0x7fffffff) % dim;
        out[slot] = out[slot]! + sign * value;
        h = combine(h, b + 1, SEED_BUCKET);
      }
    }
  }
}

/** The embedder returned by {@link createLocalEmbedder}; `embedSync` is the same encoder without batching. */
export interface LocalEmbedder extends Embedder {
  /** Encodes one text on the calling thread (about 10-30 µs for a sentence). */
  embedSync(text: string): Float32Array;
}

/**
 * Creates the local feature-hashing embedder.
 *
 * Its `id` encodes every option that changes the vectors (`local-hash-v1:384:...`), so stores can
 * tell when stored vectors came from another representation and must be re-embedded.
 * Empty or symbol-only texts give the zero vector. Large batches yield to the event loop every
 * `yieldEveryTexts` texts, and an aborted `signal` rejects with `AbortError`.
 *
 * @example
 * ```ts
 * const embedder = createLocalEmbedder();            // 384 dimensions
 * const [a, b] = await embedder.embed(['my card was declined', 'why was my card refused?']);
 * ```
 */
export function createLocalEmbedder(options?: LocalEmbedderOptions): LocalEmbedder {
  const o = resolveOptions(options);
  const [minGram, maxGram] = o.charGramSizes;
  const id = `local-hash-v1:${o.dimensions}:${o.bucketsPerFeature}:${o.bigramWeight}:${o.charGramWeight}:${minGram}-${maxGram}:${o.functionWordWeight}`;

  const encodeInto = (text: string, out: Float32Array): Float32Array => {
    const tokens = tokenize(text.length > o.maxTextChars ? text.slice(0, o.maxTextChars) : text);
    if (tokens.length === 0) return out;
    const bag = new FeatureBag();
    const stems = tokens.map(stem);
    const weights = tokens.map((t) => (NEGATIONS.has(t) ? 0.6 : FUNCTION_WORDS.has(t) ? o.functionWordWeight : 1));
    const hashes = stems.map((s) => hashRange(s, 0, s.length, SEED_WORD));
    for (let i = 0; i < stems.length; i++) {
      const w = weights[i]!;
      bag.add(hashes[i]!, w);
      if (i > 0) {
        // Bigrams of two function words ("i am") carry almost nothing; weight by the stronger word.
        const pair = Math.max(w, weights[i - 1]!);
        bag.add(combine(hashes[i - 1]!, hashes[i]!, SEED_BIGRAM), o.bigramWeight * pair);
      }
      if (w === 1 && o.charGramWeight > 0) addCharGrams(bag, stems[i]!, minGram, maxGram, o.charGramWeight);
    }
    bag.project(out, o.bucketsPerFeature);
    let norm = 0;
    for (let i = 0; i < out.length; i++) norm += out[i]! * out[i]!;
    if (norm > 0) {
      const inv = 1 / Math.sqrt(norm);
      for (let i = 0; i < out.length; i++) out[i]! *= inv;
    }
    return out;
  };

  const embedSync = (text: string): Float32Array => encodeInto(text, new Float32Array(o.dimensions));

  return Object.freeze({
    id,
    dimensions: o.dimensions,
    embedSync,
    async embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
      const vectors: Float32Array[] = [];
      // One buffer for the whole batch, viewed per text: a bulk insert makes one allocation per
      // batch instead of one per text, which keeps the garbage collector's full pauses rare.
      const slab = new Float32Array(texts.length * o.dimensions);
      for (let i = 0; i < texts.length; i++) {
        if (signal?.aborted) throw signal.reason ?? new DOMException('embedding aborted', 'AbortError');
        const text = texts[i];
        if (typeof text !== 'string') throw new KeelError('bad_frame', `embed: texts[${i}] is not a string`);
        vectors.push(encodeInto(text, slab.subarray(i * o.dimensions, (i + 1) * o.dimensions)));
        if ((i + 1) % o.yieldEveryTexts === 0 && i + 1 < texts.length) await new Promise<void>((r) => setImmediate(r));
      }
      return vectors;
    },
  });
}

/** Character n-grams of `<word>` so that misspellings and inflections still overlap. */
function addCharGrams(bag: FeatureBag, word: string, minGram: number, maxGram: number, totalWeight: number): void {
  const padded = `<${word}>`;
  let count = 0;
  for (let n = minGram; n <= maxGram; n++) count += Math.max(0, padded.length - n + 1);
  if (count === 0) return;
  // Spread a fixed budget over the word's n-grams so long words do not drown short ones.
  const each = totalWeight / Math.sqrt(count);
  for (let n = minGram; n <= maxGram; n++) {
    for (let i = 0; i + n <= padded.length; i++) bag.add(hashRange(padded, i, i + n, SEED_GRAM + n), each);
  }
}
