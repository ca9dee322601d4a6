/**
 * Training the router at start-up: featurise the intent examples, fit the linear model, then
 * calibrate (temperature) and set the thresholds on held-out predictions — the validation set when
 * one is given, otherwise out-of-fold predictions of a stratified cross-validation.
 */
import { expectedCalibrationError, fitTemperature, softmaxInto } from './calibration.js';
import { createFeaturePipeline, type FeaturePipeline } from './feature-pipeline.js';
import { addScaled, scaleModel, scoreInto, type LinearModel } from './linear-classifier.js';
import { seededRandom, trainMulticlassHinge, trainNearestCentroid, trainSoftmaxRegression, type TrainingSet } from './linear-trainers.js';
import type { ResolvedRouterOptions } from './router-options.js';
import type { SparseVector } from './sparse-vector.js';
import { createTextVectorizer } from './text-features.js';
import { tuneThresholds, type HeldOutPrediction, type RouterThresholds } from './threshold-tuning.js';

/** How the model was calibrated, for logs and the inspector. */
export interface TrainingReport {
  /** Training rows (examples, descriptions, out-of-scope examples). */
  readonly rows: number;
  readonly dimensions: number;
  readonly calibratedOn: 'validation' | 'cross_validation';
  /** Held-out messages the temperature and thresholds were set on. */
  readonly heldOut: number;
  /** Held-out in-scope accuracy after the out-of-scope threshold. */
  readonly heldOutAccuracy: number;
  /** Held-out out-of-scope recall, or null without out-of-scope messages. */
  readonly heldOutOosRecall: number | null;
  /** Expected calibration error of the best score on held-out in-scope messages. */
  readonly expectedCalibrationError: number;
}

/** Everything routing needs, produced by {@link trainRouterModel}. */
export interface TrainedRouterModel {
  /** Intent names; class `i < intents.length` is `intents[i]`. */
  readonly intents: readonly string[];
  /** Whether the last class is an explicit out-of-scope class (trained on `outOfScopeExamples`). */
  readonly hasOutOfScopeClass: boolean;
  readonly pipeline: FeaturePipeline;
  readonly model: LinearModel;
  readonly temperature: number;
  readonly thresholds: RouterThresholds;
  readonly report: TrainingReport;
}

interface Rows {
  readonly texts: string[];
  readonly labels: number[];
  readonly weights: number[];
  /** Rows that may be held out in cross-validation (descriptions always train). */
  readonly holdable: boolean[];
}

function collectRows(options: ResolvedRouterOptions, outOfScopeClass: number): Rows {
  const rows: Rows = { texts: [], labels: [], weights: [], holdable: [] };
  const add = (text: string, label: number, weight: number, holdable: boolean): void => {
    rows.texts.push(text.slice(0, options.maxInputChars));
    rows.labels.push(label);
    rows.weights.push(weight);
    rows.holdable.push(holdable);
  };
  options.intents.intents.forEach((intent, label) => {
    for (const example of intent.examples) add(example, label, 1, true);
    if (options.descriptionWeight > 0) add(intent.description, label, options.descriptionWeight, false);
  });
  for (const example of options.intents.outOfScopeExamples ?? []) add(example, outOfScopeClass, 1, true);
  return rows;
}

/**
 * Fits the configured linear model on a training set.
 *
 * @example
 * ```ts
 * const model = fitClassifier(set, resolveRouterOptions({ intents }));
 * ```
 */
export function fitClassifier(set: TrainingSet, options: ResolvedRouterOptions): LinearModel {
  const sgd = { epochs: options.epochs, learningRate: options.learningRate, l2: options.l2, seed: options.seed };
  switch (options.classifier) {
    case 'softmax':
      return trainSoftmaxRegression(set, sgd);
    case 'hinge':
      return trainMulticlassHinge(set, { ...sgd, l2: 1 / (options.hingeC * set.rows.length) });
    case 'centroid':
      return trainNearestCentroid(set);
    case 'ensemble': {
      // Averaging logits of two linear models is one linear model; each is first put on a common
      // scale (mean absolute training logit = 1) so neither dominates by its units alone.
      const a = trainSoftmaxRegression(set, sgd);
      const b = trainMulticlassHinge(set, { ...sgd, l2: 1 / (options.hingeC * set.rows.length) });
      return addScaled(scaleModel(a, 1 / meanAbsLogit(a, set.rows)), scaleModel(b, 1 / meanAbsLogit(b, set.rows)), 1);
    }
  }
}

function meanAbsLogit(model: LinearModel, rows: readonly SparseVector[]): number {
  const out = new Float32Array(model.classes);
  let sum = 0;
  const step = Math.max(1, Math.floor(rows.length / 500));
  let n = 0;
  for (let r = 0; r < rows.length; r += step, n++) {
    scoreInto(model, rows[r]!, out);
    for (let c = 0; c < model.classes; c++) sum += Math.abs(out[c]!);
  }
  return sum > 0 ? sum / (n * model.classes) : 1;
}

function subset(all: SparseVector[], rows: Rows, keep: (i: number) => boolean, classes: number, dimensions: number): TrainingSet {
  const picked = rows.labels.map((_, i) => i).filter(keep);
  return {
    rows: picked.map((i) => all[i]!),
    labels: Int32Array.from(picked.map((i) => rows.labels[i]!)),
    rowWeights: Float32Array.from(picked.map((i) => rows.weights[i]!)),
    classes,
    dimensions,
  };
}

/** Stratified fold of each holdable row (−1 = always trains), shuffled with the training seed. */
function assignFolds(rows: Rows, folds: number, seed: number): Int32Array {
  const fold = new Int32Array(rows.labels.length).fill(-1);
  const random = seededRandom(seed ^ 0x5eed);
  const byLabel = new Map<number, number[]>();
  rows.labels.forEach((label, i) => {
    if (!rows.holdable[i]) return;
    let list = byLabel.get(label);
    if (!list) byLabel.set(label, (list = []));
    list.push(i);
  });
  let offset = 0;
  for (const list of byLabel.values()) {
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    // Rotating the start keeps small classes from all landing in fold 0.
    list.forEach((row, i) => (fold[row] = (i + offset) % folds));
    offset += list.length;
  }
  return fold;
}

interface HeldOut {
  readonly logits: Float32Array[];
  /** Class index, or −1 for an out-of-scope message when there is no out-of-scope class. */
  readonly labels: number[];
}

/**
 * Trains the router model described by resolved options.
 *
 * @example
 * ```ts
 * const trained = await trainRouterModel(resolveRouterOptions({ intents, validation }));
 * trained.thresholds; // { outOfScope, lowConfidence, closeMargin }
 * ```
 */
export async function trainRouterModel(options: ResolvedRouterOptions, signal?: AbortSignal): Promise<TrainedRouterModel> {
  const intents = options.intents.intents.map((i) => i.name);
  const hasOutOfScopeClass = (options.intents.outOfScopeExamples?.length ?? 0) > 0;
  const classes = intents.length + (hasOutOfScopeClass ? 1 : 0);
  const rows = collectRows(options, intents.length);
  const pipeline = createFeaturePipeline({
    source: options.features,
    ...(options.features === 'embedder' ? {} : { vectorizer: createTextVectorizer(rows.texts, options.text) }),
    ...(options.embedder ? { embedder: options.embedder } : {}),
    embedBatchSize: options.embedBatchSize,
    hybridEmbedderWeight: options.hybridEmbedderWeight,
  });
  const vectors = await pipeline.featurizeAll(rows.texts, signal);
  const model = fitClassifier(subset(vectors, rows, () => true, classes, pipeline.dimensions), options);

  let heldOut: HeldOut;
  if (options.validation && options.validation.length > 0) {
    const index = new Map(intents.map((name, i) => [name, i]));
    const labels = options.validation.map((v) => (v.intent === null ? (hasOutOfScopeClass ? intents.length : -1) : index.get(v.intent) ?? -2));
    const unknown = labels.indexOf(-2);
    if (unknown >= 0) throw new TypeError(`invalid option "validation": examples[${unknown}] names an unknown intent`);
    const validationVectors = await pipeline.featurizeAll(options.validation.map((v) => v.text.slice(0, options.maxInputChars)), signal);
    heldOut = { logits: validationVectors.map((x) => scoreInto(model, x, new Float32Array(classes))), labels };
  } else {
    const fold = assignFolds(rows, options.crossValidationFolds, options.seed);
    const logits: Float32Array[] = [];
    const labels: number[] = [];
    for (let f = 0; f < options.crossValidationFolds; f++) {
      const foldModel = fitClassifier(subset(vectors, rows, (i) => fold[i] !== f, classes, pipeline.dimensions), options);
      fold.forEach((g, i) => {
        if (g !== f) return;
        logits.push(scoreInto(foldModel, vectors[i]!, new Float32Array(classes)));
        labels.push(rows.labels[i]!);
      });
    }
    heldOut = { logits, labels };
  }
  return { intents, hasOutOfScopeClass, pipeline, model, ...calibrate(heldOut, intents.length, options, rows.texts.length, pipeline.dimensions) };
}

function calibrate(heldOut: HeldOut, intentCount: number, options: ResolvedRouterOptions, rowCount: number, dimensions: number): { temperature: number; thresholds: RouterThresholds; report: TrainingReport } {
  // Out-of-scope messages (label −1) pull the temperature towards uncertainty on them.
  const temperature = fitTemperature(heldOut.logits, heldOut.labels);
  const predictions: HeldOutPrediction[] = heldOut.logits.map((logits, i) => heldOutPrediction(logits, heldOut.labels[i]!, intentCount, temperature));
  const thresholds = tuneThresholds(predictions, { maxAccuracyLoss: options.maxAccuracyLoss, confidentPrecision: options.confidentPrecision });
  const inScope = predictions.filter((p) => !p.outOfScope);
  const outOfScope = predictions.filter((p) => p.outOfScope);
  const accepted = (p: HeldOutPrediction): boolean => !p.rejectedByClass && p.top >= thresholds.outOfScope;
  return {
    temperature,
    thresholds,
    report: Object.freeze({
      rows: rowCount,
      dimensions,
      calibratedOn: options.validation && options.validation.length > 0 ? 'validation' : 'cross_validation',
      heldOut: predictions.length,
      heldOutAccuracy: inScope.length === 0 ? 0 : inScope.filter((p) => p.correct && accepted(p)).length / inScope.length,
      heldOutOosRecall: outOfScope.length === 0 ? null : outOfScope.filter((p) => !accepted(p)).length / outOfScope.length,
      expectedCalibrationError: expectedCalibrationError(inScope.map((p) => p.top), inScope.map((p) => p.correct)),
    }),
  };
}

function heldOutPrediction(logits: Float32Array, label: number, intentCount: number, temperature: number): HeldOutPrediction {
  const p = softmaxInto(logits, temperature, new Float32Array(logits.length));
  let best = 0;
  let top = -1;
  let second = 0;
  for (let c = 0; c < intentCount; c++) {
    if (p[c]! > top) {
      second = Math.max(second, top);
      top = p[c]!;
      best = c;
    } else if (p[c]! > second) second = p[c]!;
  }
  const rejectedByClass = logits.length > intentCount && p[intentCount]! > top;
  const outOfScope = label < 0 || label >= intentCount;
  return { top, second, correct: !outOfScope && !rejectedByClass && best === label, outOfScope, rejectedByClass };
}
