/**
 * Sparse feature vectors: the one representation every classifier in `src/routing` reads, whether
 * its features came from hashed n-grams, an {@link Embedder}, or both.
 */
import { KeelError } from '../errors.js';
import type { Embedder } from '../ports.js';

/**
 * A sparse vector: parallel arrays of feature indices (ascending, unique) and their values.
 *
 * @example
 * ```ts
 * const x: SparseVector = { indices: Int32Array.of(3, 17), values: Float32Array.of(0.6, 0.8) };
 * ```
 */
export interface SparseVector {
  readonly indices: Int32Array;
  readonly values: Float32Array;
}

/** The empty vector, shared because it is never written. */
export const EMPTY_VECTOR: SparseVector = Object.freeze({ indices: new Int32Array(0), values: new Float32Array(0) });

/**
 * Scales `values` in place to unit Euclidean length, so that long and short messages weigh alike
 * and learning rates do not depend on message length. A zero vector stays zero.
 *
 * @example
 * ```ts
 * l2NormalizeInPlace(Float32Array.of(3, 4)); // → [0.6, 0.8]
 * ```
 */
export function l2NormalizeInPlace(values: Float32Array, from = 0, to = values.length): Float32Array {
  let sum = 0;
  for (let i = from; i < to; i++) sum += values[i]! * values[i]!;
  if (sum > 0) {
    const inv = 1 / Math.sqrt(sum);
    for (let i = from; i < to; i++) values[i]! *= inv;
  }
  return values;
}

/**
 * Turns a dense embedding into a unit-length sparse vector whose indices start at `offset`, so
 * that it can sit next to other features in one weight matrix.
 *
 * @example
 * ```ts
 * denseToSparse(Float32Array.of(1, 0, 1), 100); // indices [100, 101, 102]
 * ```
 */
export function denseToSparse(dense: Float32Array, offset = 0): SparseVector {
  const indices = new Int32Array(dense.length);
  const values = Float32Array.from(dense);
  for (let i = 0; i < dense.length; i++) indices[i] = offset + i;
  return { indices, values: l2NormalizeInPlace(values) };
}

/**
 * Concatenates two vectors whose index ranges do not overlap (`b` above `a`), weighting each block
 * and renormalising the result. Used for hybrid local + embedder features.
 *
 * @example
 * ```ts
 * concatSparse(local, denseToSparse(embedding, localDimensions), 1, 1);
 * ```
 */
export function concatSparse(a: SparseVector, b: SparseVector, weightA: number, weightB: number): SparseVector {
  const n = a.indices.length + b.indices.length;
  const indices = new Int32Array(n);
  const values = new Float32Array(n);
  indices.set(a.indices, 0);
  indices.set(b.indices, a.indices.length);
  for (let i = 0; i < a.values.length; i++) values[i] = a.values[i]! * weightA;
  for (let i = 0; i < b.values.length; i++) values[a.values.length + i] = b.values[i]! * weightB;
  return { indices, values: l2NormalizeInPlace(values) };
}

/**
 * Embeds texts in batches, checking that the {@link Embedder} keeps its promised dimensions (a
 * silent change would feed garbage to the weights); a broken answer is a KeelError
 * `llm_bad_response`, the code for an endpoint whose body keel cannot use.
 *
 * @example
 * ```ts
 * const vectors = await embedAll(embedder, texts, 64);
 * ```
 */
export async function embedAll(embedder: Embedder, texts: readonly string[], batchSize: number, signal?: AbortSignal): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let start = 0; start < texts.length; start += batchSize) {
    const batch = texts.slice(start, start + batchSize);
    const vectors = await embedder.embed(batch, signal);
    if (vectors.length !== batch.length) {
      throw new KeelError('llm_bad_response', `embedder ${embedder.id} returned ${vectors.length} vectors for ${batch.length} texts`);
    }
    for (const vector of vectors) {
      if (vector.length !== embedder.dimensions) {
        throw new KeelError('llm_bad_response', `embedder ${embedder.id} returned a vector of ${vector.length} dimensions, expected ${embedder.dimensions}`);
      }
      out.push(vector);
    }
  }
  return out;
}
