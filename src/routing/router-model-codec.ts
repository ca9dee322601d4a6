/**
 * Serialisation of a trained router: vocabulary, weights, temperature and thresholds travel
 * together, so a restored router decides exactly as the trained one did. Typed arrays are stored
 * as base64 of their little-endian bytes.
 */
import { KeelError } from '../errors.js';
import type { Embedder } from '../ports.js';
import { createFeaturePipeline } from './feature-pipeline.js';
import type { FeatureSource } from './router-options.js';
import type { TrainedRouterModel, TrainingReport } from './router-training.js';
import { restoreTextVectorizer, type TextFeatureOptions } from './text-features.js';
import type { RouterThresholds } from './threshold-tuning.js';

/** The format tag of a serialised router. */
export const ROUTER_MODEL_FORMAT = 'keel.local-router/1';

/** A trained router as JSON-safe data (see {@link encodeRouterModel}). */
export interface SerializedLocalRouter {
  readonly format: typeof ROUTER_MODEL_FORMAT;
  readonly intents: readonly string[];
  readonly hasOutOfScopeClass: boolean;
  readonly features: FeatureSource;
  readonly text?: TextFeatureOptions;
  /** base64 Int32 feature hashes and Float32 IDF weights, in feature order. */
  readonly vocabulary?: { readonly hashes: string; readonly idf: string };
  readonly embedder?: { readonly id: string; readonly dimensions: number };
  readonly hybridEmbedderWeight: number;
  readonly model: { readonly classes: number; readonly dimensions: number; readonly weights: string; readonly bias: string };
  readonly temperature: number;
  readonly thresholds: RouterThresholds;
  readonly report: TrainingReport;
  readonly maxRanked: number;
  readonly maxInputChars: number;
}

const toBase64 = (a: Int32Array | Float32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

function fromBase64<T extends Int32Array | Float32Array>(s: unknown, make: (buffer: ArrayBuffer) => T, what: string): T {
  if (typeof s !== 'string') throw bad(`${what} must be a base64 string`);
  const bytes = Buffer.from(s, 'base64');
  if (bytes.byteLength % 4 !== 0) throw bad(`${what} is not a whole number of 32-bit values`);
  // Copy into a fresh, aligned buffer: a Buffer's offset into its pool need not be a multiple of 4.
  const copy = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(copy).set(bytes);
  return make(copy);
}

function bad(problem: string): KeelError<'invalid_option'> {
  return new KeelError('invalid_option', `serialised router: ${problem}`);
}

/**
 * Encodes a trained model.
 *
 * @example
 * ```ts
 * const json = JSON.stringify(encodeRouterModel(trained, 5, 2000));
 * ```
 */
export function encodeRouterModel(trained: TrainedRouterModel, maxRanked: number, maxInputChars: number): SerializedLocalRouter {
  const { pipeline, model } = trained;
  const vocabulary = pipeline.vectorizer?.state();
  return {
    format: ROUTER_MODEL_FORMAT,
    intents: [...trained.intents],
    hasOutOfScopeClass: trained.hasOutOfScopeClass,
    features: pipeline.source,
    ...(pipeline.vectorizer && vocabulary
      ? { text: { ...pipeline.vectorizer.options }, vocabulary: { hashes: toBase64(vocabulary.hashes), idf: toBase64(vocabulary.idf) } }
      : {}),
    ...(pipeline.embedder ? { embedder: { id: pipeline.embedder.id, dimensions: pipeline.embedder.dimensions } } : {}),
    hybridEmbedderWeight: pipeline.hybridEmbedderWeight,
    model: { classes: model.classes, dimensions: model.dimensions, weights: toBase64(model.weights), bias: toBase64(model.bias) },
    temperature: trained.temperature,
    thresholds: { ...trained.thresholds },
    report: { ...trained.report },
    maxRanked,
    maxInputChars,
  };
}

/**
 * Decodes and checks a serialised router; throws a KeelError `invalid_option` when it is not one,
 * or when its embedder is missing or differs from the one it was trained with.
 *
 * @example
 * ```ts
 * const { model } = decodeRouterModel(JSON.parse(json));
 * ```
 */
export function decodeRouterModel(value: unknown, embedder?: Embedder): { model: TrainedRouterModel; maxRanked: number; maxInputChars: number } {
  if (typeof value !== 'object' || value === null) throw bad('not an object');
  const s = value as Partial<SerializedLocalRouter>;
  if (s.format !== ROUTER_MODEL_FORMAT) throw bad(`format must be "${ROUTER_MODEL_FORMAT}"`);
  if (!Array.isArray(s.intents) || s.intents.length < 2 || !s.intents.every((i) => typeof i === 'string')) throw bad('intents must be an array of names');
  if (!s.model || !s.thresholds || !s.report || typeof s.temperature !== 'number' || !(s.temperature > 0)) throw bad('model, thresholds, report or temperature missing');
  if (s.features !== 'local' && s.features !== 'embedder' && s.features !== 'hybrid') throw bad('features must be local, embedder or hybrid');
  if (s.features !== 'local') {
    if (!embedder) throw bad(`it was trained on embedder "${s.embedder?.id}"; pass that embedder to restore it`);
    if (embedder.id !== s.embedder?.id || embedder.dimensions !== s.embedder?.dimensions) {
      throw bad(`it was trained on embedder "${s.embedder?.id}" (${s.embedder?.dimensions} dimensions), not "${embedder.id}" (${embedder.dimensions})`);
    }
  }
  if (s.features !== 'embedder' && (typeof s.text !== 'object' || s.text === null)) throw bad('text options missing');
  const vectorizer =
    s.features === 'embedder'
      ? undefined
      : restoreTextVectorizer(
          fromBase64(s.vocabulary?.hashes, (b) => new Int32Array(b), 'vocabulary.hashes'),
          fromBase64(s.vocabulary?.idf, (b) => new Float32Array(b), 'vocabulary.idf'),
          Object.freeze({ ...(s.text as TextFeatureOptions) }),
        );
  const pipeline = createFeaturePipeline({
    source: s.features,
    ...(vectorizer ? { vectorizer } : {}),
    ...(embedder ? { embedder } : {}),
    embedBatchSize: 64,
    hybridEmbedderWeight: s.hybridEmbedderWeight ?? 1,
  });
  const { classes, dimensions } = s.model;
  const weights = fromBase64(s.model.weights, (b) => new Float32Array(b), 'model.weights');
  const bias = fromBase64(s.model.bias, (b) => new Float32Array(b), 'model.bias');
  const expectedClasses = s.intents.length + (s.hasOutOfScopeClass ? 1 : 0);
  if (classes !== expectedClasses || bias.length !== classes || dimensions !== pipeline.dimensions || weights.length !== classes * dimensions) {
    throw bad('weights do not match the intents and the features');
  }
  return {
    model: {
      intents: Object.freeze([...s.intents]),
      hasOutOfScopeClass: s.hasOutOfScopeClass === true,
      pipeline,
      model: { classes, dimensions, weights, bias },
      temperature: s.temperature,
      thresholds: Object.freeze({ ...s.thresholds }),
      report: Object.freeze({ ...s.report }),
    },
    maxRanked: s.maxRanked ?? 5,
    maxInputChars: s.maxInputChars ?? 2000,
  };
}
