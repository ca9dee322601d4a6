/**
 * The feature pipeline: one seam through which the router gets its vectors, whether they come from
 * the local n-gram vectoriser, from any {@link Embedder} (e.g. an OpenAI-compatible embeddings
 * endpoint), or from both side by side. Classifiers and callers never know which.
 */
import type { Embedder } from '../ports.js';
import type { FeatureSource } from './router-options.js';
import { concatSparse, denseToSparse, embedAll, type SparseVector } from './sparse-vector.js';
import type { TextVectorizer } from './text-features.js';

/** Turns messages into sparse vectors of a fixed dimensionality. */
export interface FeaturePipeline {
  readonly source: FeatureSource;
  /** Features are indices in `[0, dimensions)`. */
  readonly dimensions: number;
  /** The n-gram vectoriser (`local`, `hybrid`). */
  readonly vectorizer: TextVectorizer | undefined;
  /** The embedder (`embedder`, `hybrid`). */
  readonly embedder: Embedder | undefined;
  /** Weight of the embedding block in `hybrid` mode. */
  readonly hybridEmbedderWeight: number;
  /** Vectors for many texts; batches embedder calls. */
  featurizeAll(texts: readonly string[], signal?: AbortSignal): Promise<SparseVector[]>;
  /** The vector of one text: synchronous in `local` mode, a promise when an embedder is involved. */
  featurize(text: string, signal?: AbortSignal): SparseVector | Promise<SparseVector>;
}

/** What a pipeline is built from. */
export interface FeaturePipelineParts {
  readonly source: FeatureSource;
  readonly vectorizer?: TextVectorizer;
  readonly embedder?: Embedder;
  /** Texts per `embed` call in {@link FeaturePipeline.featurizeAll}. */
  readonly embedBatchSize: number;
  /** Weight of the embedding block against the n-gram block (`hybrid`). */
  readonly hybridEmbedderWeight: number;
}

/**
 * Assembles a pipeline. `local` needs a vectoriser, `embedder` an embedder, `hybrid` both; the
 * embedding block sits above the n-gram indices.
 *
 * @example
 * ```ts
 * const pipeline = createFeaturePipeline({ source: 'embedder', embedder, embedBatchSize: 64, hybridEmbedderWeight: 1 });
 * const [x] = await pipeline.featurizeAll(['where is my order']);
 * ```
 */
export function createFeaturePipeline(parts: FeaturePipelineParts): FeaturePipeline {
  const { source, vectorizer, embedder } = parts;
  if (source !== 'embedder' && !vectorizer) throw new TypeError(`features '${source}' need a text vectoriser`);
  if (source !== 'local' && !embedder) throw new TypeError(`features '${source}' need an embedder`);
  const localDimensions = source === 'embedder' ? 0 : vectorizer!.dimensions;
  const dimensions = localDimensions + (source === 'local' ? 0 : embedder!.dimensions);
  // Both blocks are unit length before weighting, so the weight alone sets their balance.
  const combine = (text: string, dense: Float32Array | undefined): SparseVector => {
    if (source === 'local') return vectorizer!.vectorize(text);
    const embedded = denseToSparse(dense!, localDimensions);
    if (source === 'embedder') return embedded;
    return concatSparse(vectorizer!.vectorize(text), embedded, 1, parts.hybridEmbedderWeight);
  };
  return {
    source,
    dimensions,
    vectorizer: source === 'embedder' ? undefined : vectorizer,
    embedder: source === 'local' ? undefined : embedder,
    hybridEmbedderWeight: parts.hybridEmbedderWeight,
    async featurizeAll(texts, signal) {
      if (source === 'local') return texts.map((t) => vectorizer!.vectorize(t));
      const dense = await embedAll(embedder!, texts, parts.embedBatchSize, signal);
      return texts.map((t, i) => combine(t, dense[i]));
    },
    featurize(text, signal) {
      if (source === 'local') return vectorizer!.vectorize(text);
      return embedAll(embedder!, [text], 1, signal).then(([dense]) => combine(text, dense));
    },
  };
}
