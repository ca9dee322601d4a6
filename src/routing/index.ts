/**
 * The offline semantic router with a calibrated "I don't know" (DESIGN §4). See docs/routing.md.
 *
 * @example
 * ```ts
 * import { createLocalRouter, loadIntentDefinitions, loadValidationSet, routeConfidence } from './routing/index.js';
 * const intents = await loadIntentDefinitions('src/demo/intents.json');
 * const router = await createLocalRouter({ intents, validation: await loadValidationSet('src/demo/intents.validation.json') });
 * routeConfidence(await router.route('where is my order?')); // 'confident'
 * ```
 */
export { createLocalRouter, restoreLocalRouter, LOCAL_ROUTER_SOURCE, type LocalRouter } from './local-router.js';
export { defaultRouterOptions, resolveRouterOptions, type LocalRouterOptions, type ResolvedRouterOptions, type FeatureSource, type ClassifierKind } from './router-options.js';
export {
  parseIntentDefinitions,
  parseValidationSet,
  loadIntentDefinitions,
  loadValidationSet,
  MAX_EXAMPLE_CHARS,
  type IntentDefinition,
  type IntentDefinitions,
  type ValidationExample,
} from './intent-definitions.js';
export { routeConfidence, type RouteConfidence } from './route-confidence.js';
export { tuneThresholds, defaultThresholdTuningOptions, type RouterThresholds, type HeldOutPrediction, type ThresholdTuningOptions } from './threshold-tuning.js';
export { fitTemperature, softmaxInto, expectedCalibrationError } from './calibration.js';
export { normalizeText, createTextVectorizer, defaultTextFeatureOptions, type TextFeatureOptions, type TextVectorizer } from './text-features.js';
export { ROUTER_MODEL_FORMAT, type SerializedLocalRouter } from './router-model-codec.js';
export type { TrainingReport } from './router-training.js';
export type { SparseVector } from './sparse-vector.js';
