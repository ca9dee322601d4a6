/**
 * Options of the local router: one `defaultRouterOptions` literal and one `resolveRouterOptions()`
 * that validates, names the bad option in a TypeError, and freezes the result.
 */
import type { Embedder } from '../ports.js';
import type { IntentDefinitions, ValidationExample } from './intent-definitions.js';
import { defaultTextFeatureOptions, type TextFeatureOptions } from './text-features.js';

/** Where the router's features come from. */
export type FeatureSource = 'local' | 'embedder' | 'hybrid';
/** Which linear model the router trains (docs/routing.md compares them). */
export type ClassifierKind = 'softmax' | 'hinge' | 'centroid' | 'ensemble';

/** Everything {@link createLocalRouter} accepts; only `intents` is required. */
export interface LocalRouterOptions {
  /** The intents to recognise (see {@link parseIntentDefinitions}). Required. */
  readonly intents: IntentDefinitions;
  /**
   * Labelled held-out messages (`intent: null` = out of scope) on which the temperature and the
   * thresholds are set. Without it, `crossValidationFolds`-fold cross-validation over the examples
   * is used instead. Default: none.
   */
  readonly validation?: readonly ValidationExample[];
  /** An embedder for `features: 'embedder' | 'hybrid'`. Default: none. */
  readonly embedder?: Embedder;
  /** Feature source. Default `'local'`, or `'embedder'` when an `embedder` is given. */
  readonly features?: FeatureSource;
  /** Linear model. Default `'hinge'` (multi-class linear SVM, averaged SGD). */
  readonly classifier?: ClassifierKind;
  /** The local text representation. Default {@link defaultTextFeatureOptions}. */
  readonly text?: Partial<TextFeatureOptions>;
  /** SGD passes over the examples. Default 12. */
  readonly epochs?: number;
  /** Initial SGD step of the logistic regression. Default 2. */
  readonly learningRate?: number;
  /** L2 strength of the logistic regression. Default 1e-6. */
  readonly l2?: number;
  /**
   * Cost C of the hinge (SVM) model: λ = 1 / (C × training rows), the usual SVM trade-off, so one
   * value suits 300 examples and 15,000 alike. Default 2.
   */
  readonly hingeC?: number;
  /** Seed of the training shuffle. Default 1. */
  readonly seed?: number;
  /** Training weight of an intent's description relative to one example; 0 leaves it out. Default 1. */
  readonly descriptionWeight?: number;
  /** In-scope accuracy the out-of-scope threshold may cost on held-out data. Default 0.01. */
  readonly maxAccuracyLoss?: number;
  /** Precision a "confident" answer must reach on held-out data. Default 0.95. */
  readonly confidentPrecision?: number;
  /** Folds of the cross-validation used when no `validation` is given. Default 5. */
  readonly crossValidationFolds?: number;
  /** Intents returned in `ranked`, best first. Default 5. */
  readonly maxRanked?: number;
  /** Characters of a message that are routed; the rest is ignored, which bounds the cost. Default 2000. */
  readonly maxInputChars?: number;
  /** Texts per `embed` call while training. Default 64. */
  readonly embedBatchSize?: number;
  /** Weight of the embedding block against the n-gram block in `'hybrid'` mode. Default 1. */
  readonly hybridEmbedderWeight?: number;
}

/** Options after defaults and validation. */
export interface ResolvedRouterOptions extends Required<Omit<LocalRouterOptions, 'validation' | 'embedder' | 'text'>> {
  readonly validation: readonly ValidationExample[] | undefined;
  readonly embedder: Embedder | undefined;
  readonly text: TextFeatureOptions;
}

/** Defaults of every optional router option (see {@link LocalRouterOptions} for their meaning). */
export const defaultRouterOptions = Object.freeze({
  features: 'local' as FeatureSource,
  classifier: 'hinge' as ClassifierKind,
  epochs: 12,
  learningRate: 2,
  l2: 1e-6,
  hingeC: 2,
  seed: 1,
  descriptionWeight: 1,
  maxAccuracyLoss: 0.01,
  confidentPrecision: 0.95,
  crossValidationFolds: 5,
  maxRanked: 5,
  maxInputChars: 2000,
  embedBatchSize: 64,
  hybridEmbedderWeight: 1,
});

function check(name: string, ok: boolean, expected: string): void {
  if (!ok) throw new TypeError(`invalid option "${name}": expected ${expected}`);
}

const isInt = (v: number, min: number, max = Number.MAX_SAFE_INTEGER): boolean => Number.isInteger(v) && v >= min && v <= max;
const isIn = (v: number, min: number, max: number): boolean => Number.isFinite(v) && v >= min && v <= max;

/**
 * Applies the defaults and validates; throws a TypeError naming the first bad option.
 *
 * @example
 * ```ts
 * const resolved = resolveRouterOptions({ intents, epochs: 4 });
 * resolved.classifier; // 'softmax'
 * ```
 */
export function resolveRouterOptions(options: LocalRouterOptions): ResolvedRouterOptions {
  check('intents', typeof options === 'object' && options !== null && Array.isArray(options.intents?.intents), 'parsed intent definitions');
  const features = options.features ?? (options.embedder ? 'embedder' : defaultRouterOptions.features);
  const text: TextFeatureOptions = { ...defaultTextFeatureOptions, ...options.text };
  const r: ResolvedRouterOptions = {
    ...defaultRouterOptions,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
    features,
    text: Object.freeze(text),
    validation: options.validation,
    embedder: options.embedder,
  } as ResolvedRouterOptions;
  check('features', ['local', 'embedder', 'hybrid'].includes(r.features), "'local', 'embedder' or 'hybrid'");
  check('embedder', r.features === 'local' || (typeof r.embedder?.embed === 'function' && isInt(r.embedder.dimensions, 1)), `an Embedder for features '${r.features}'`);
  check('classifier', ['softmax', 'hinge', 'centroid', 'ensemble'].includes(r.classifier), "'softmax', 'hinge', 'centroid' or 'ensemble'");
  check('text.wordNgramMax', isInt(text.wordNgramMax, 0, 2), 'an integer in [0, 2]');
  check('text.charNgramMin', isInt(text.charNgramMin, 1, 8), 'an integer in [1, 8]');
  check('text.charNgramMax', text.charNgramMax === 0 || isInt(text.charNgramMax, text.charNgramMin, 8), '0 or an integer in [charNgramMin, 8]');
  check('text', text.wordNgramMax > 0 || text.charNgramMax > 0, 'word or character n-grams (both are off)');
  check('text.minDocumentFrequency', isInt(text.minDocumentFrequency, 1), 'an integer ≥ 1');
  check('text.unseenInNorm', typeof text.unseenInNorm === 'boolean', 'a boolean');
  check('epochs', isInt(r.epochs, 1, 1000), 'an integer in [1, 1000]');
  check('learningRate', isIn(r.learningRate, 1e-6, 1e3), 'a number in [1e-6, 1000]');
  check('l2', isIn(r.l2, 0, 1), 'a number in [0, 1]');
  check('hingeC', isIn(r.hingeC, 1e-3, 1e6), 'a number in [0.001, 1e6]');
  check('seed', isInt(r.seed, 0, 2 ** 32 - 1), 'an integer in [0, 2^32)');
  check('descriptionWeight', isIn(r.descriptionWeight, 0, 100), 'a number in [0, 100]');
  check('maxAccuracyLoss', isIn(r.maxAccuracyLoss, 0, 1), 'a fraction in [0, 1]');
  check('confidentPrecision', isIn(r.confidentPrecision, 0, 1), 'a fraction in [0, 1]');
  check('crossValidationFolds', isInt(r.crossValidationFolds, 2, 20), 'an integer in [2, 20]');
  check('maxRanked', isInt(r.maxRanked, 1), 'an integer ≥ 1');
  check('maxInputChars', isInt(r.maxInputChars, 1), 'an integer ≥ 1');
  check('embedBatchSize', isInt(r.embedBatchSize, 1), 'an integer ≥ 1');
  check('hybridEmbedderWeight', isIn(r.hybridEmbedderWeight, 0, 100), 'a number in [0, 100]');
  check('validation', r.validation === undefined || Array.isArray(r.validation), 'an array of validation examples');
  return Object.freeze(r);
}
