/**
 * Trainers for {@link LinearModel}: multinomial logistic regression and a Crammer–Singer multi-class
 * linear SVM, both by stochastic gradient descent over sparse rows, plus a nearest-centroid baseline.
 * docs/routing.md compares them; the router uses the multi-class SVM by default.
 *
 * Both SGD trainers keep L2 regularisation lazy (one global scale factor instead of shrinking every
 * weight on every step), score only a row's candidate classes between full passes, and return the
 * average of their later epochs' weights.
 */
import type { LinearModel } from './linear-classifier.js';
import type { SparseVector } from './sparse-vector.js';

/** Labelled rows to learn from. */
export interface TrainingSet {
  readonly rows: readonly SparseVector[];
  /** Class index of each row, in `[0, classes)`. */
  readonly labels: Int32Array;
  /** Optional weight of each row (default 1), e.g. to count an intent description less than an example. */
  readonly rowWeights?: Float32Array;
  readonly classes: number;
  readonly dimensions: number;
}

/** SGD settings shared by the trainers. */
export interface SgdOptions {
  /** Passes over the training rows. */
  readonly epochs: number;
  /** Initial step size (logistic regression; the SVM derives its own from `l2`). */
  readonly learningRate: number;
  /** L2 regularisation strength λ. */
  readonly l2: number;
  /** Seed of the shuffling, so that training is reproducible. */
  readonly seed: number;
}

/**
 * A small, fast, seedable PRNG (mulberry32); training must be reproducible, so no Math.random.
 *
 * @example
 * ```ts
 * const next = seededRandom(42); next(); // in [0, 1)
 * ```
 */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function shuffleInPlace(order: Int32Array, random: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const tmp = order[i]!;
    order[i] = order[j]!;
    order[j] = tmp;
  }
}

function forward(weights: Float32Array, bias: Float32Array, classes: number, x: SparseVector, scale: number, out: Float32Array): void {
  for (let c = 0; c < classes; c++) out[c] = bias[c]!;
  const { indices, values } = x;
  for (let k = 0; k < indices.length; k++) {
    const offset = indices[k]! * classes;
    const v = values[k]! * scale;
    for (let c = 0; c < classes; c++) out[c]! += weights[offset + c]! * v;
  }
}

/** Scores of the classes listed in `subset[0, count)` only, written to `out[0, count)`. */
function forwardSubset(weights: Float32Array, bias: Float32Array, classes: number, x: SparseVector, scale: number, subset: Int32Array, count: number, out: Float32Array): void {
  for (let j = 0; j < count; j++) out[j] = bias[subset[j]!]!;
  const { indices, values } = x;
  for (let k = 0; k < indices.length; k++) {
    const offset = indices[k]! * classes;
    const v = values[k]! * scale;
    for (let j = 0; j < count; j++) out[j]! += weights[offset + subset[j]!]! * v;
  }
}

/**
 * Candidate classes per row, for the cheap epochs. After a full pass, the classes that matter for a
 * row (its own, and the ones scoring near it) change slowly, so scoring only the row's top
 * `CANDIDATES` classes between full passes gives nearly the same updates at a fraction of the cost
 * (the scores, not the updates, dominate a step). Full passes refresh the lists.
 */
const CANDIDATES = 16;
/** Every `FULL_PASS_EVERY`-th epoch (and the first) scores every class. */
const FULL_PASS_EVERY = 4;

interface CandidateTable {
  readonly list: Int32Array;
  isFullPass(epoch: number): boolean;
  /** Records the top classes of `row` from full scores (the true class always included). */
  record(row: number, label: number, scores: Float32Array): void;
  /** Copies the row's candidates into `subset` and returns how many there are. */
  load(row: number, subset: Int32Array): number;
}

function createCandidateTable(rows: number, classes: number): CandidateTable {
  const width = Math.min(CANDIDATES, classes);
  const list = new Int32Array(rows * width);
  const top = new Int32Array(width - 1);
  const topScores = new Float32Array(width - 1);
  return {
    list,
    // With few classes a full pass is as cheap as a subset one.
    isFullPass: (epoch) => classes <= 2 * CANDIDATES || epoch % FULL_PASS_EVERY === 0,
    record(row, label, scores) {
      const base = row * width;
      list[base] = label;
      // Insertion into a short sorted list: most classes fail the first comparison.
      let filled = 0;
      for (let c = 0; c < classes; c++) {
        if (c === label) continue;
        const v = scores[c]!;
        if (filled === top.length && v <= topScores[filled - 1]!) continue;
        let j = filled === top.length ? filled - 1 : filled++;
        while (j > 0 && topScores[j - 1]! < v) {
          topScores[j] = topScores[j - 1]!;
          top[j] = top[j - 1]!;
          j--;
        }
        topScores[j] = v;
        top[j] = c;
      }
      list.set(top.subarray(0, filled), base + 1);
    },
    load(row, subset) {
      subset.set(list.subarray(row * width, row * width + width));
      return width;
    },
  };
}

// Gradients below this are skipped: after the first epoch almost every class has a vanishing
// probability, and skipping them makes an update touch a handful of classes instead of all.
const GRADIENT_SKIP = 1e-4;
// The bias learns more slowly than the weights: it sees every row, a feature only a few.
const BIAS_RATE = 0.1;

/**
 * Multinomial logistic regression (softmax) with L2, by SGD with a decaying step
 * `learningRate / (1 + learningRate · l2 · t)`. Its logits are log-odds, which is why its scores
 * calibrate with a single temperature.
 *
 * @example
 * ```ts
 * const model = trainSoftmaxRegression(set, { epochs: 8, learningRate: 2, l2: 1e-6, seed: 1 });
 * ```
 */
export function trainSoftmaxRegression(set: TrainingSet, options: SgdOptions): LinearModel {
  const { classes, dimensions, rows, labels, rowWeights } = set;
  const weights = new Float32Array(dimensions * classes);
  const bias = new Float32Array(classes);
  const scores = new Float32Array(classes);
  const subset = new Int32Array(classes);
  const p = new Float32Array(classes);
  const order = Int32Array.from({ length: rows.length }, (_, i) => i);
  const random = seededRandom(options.seed);
  const candidates = createCandidateTable(rows.length, classes);
  const average = createTailAverage(weights, bias, options.epochs);
  let scale = 1;
  let t = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    shuffleInPlace(order, random);
    const full = candidates.isFullPass(epoch);
    for (const r of order) {
      const x = rows[r]!;
      const y = labels[r]!;
      const eta = (options.learningRate / (1 + options.learningRate * options.l2 * t++)) * (rowWeights ? rowWeights[r]! : 1);
      let count = classes;
      if (full) {
        forward(weights, bias, classes, x, scale, scores);
        candidates.record(r, y, scores);
        for (let c = 0; c < classes; c++) subset[c] = c;
        p.set(scores);
      } else {
        count = candidates.load(r, subset);
        forwardSubset(weights, bias, classes, x, scale, subset, count, p);
      }
      let max = -Infinity;
      for (let j = 0; j < count; j++) if (p[j]! > max) max = p[j]!;
      let z = 0;
      for (let j = 0; j < count; j++) {
        const e = Math.exp(p[j]! - max);
        p[j] = e;
        z += e;
      }
      scale *= 1 - eta * options.l2;
      if (scale < 1e-6) scale = rescale(weights, scale);
      const { indices, values } = x;
      for (let j = 0; j < count; j++) {
        const c = subset[j]!;
        const g = p[j]! / z - (c === y ? 1 : 0);
        if (g > -GRADIENT_SKIP && g < GRADIENT_SKIP) continue;
        const step = (eta * g) / scale;
        for (let k = 0; k < indices.length; k++) weights[indices[k]! * classes + c]! -= step * values[k]!;
        bias[c]! -= eta * g * BIAS_RATE;
      }
    }
    average.endEpoch(epoch, scale);
  }
  rescale(weights, scale);
  return { classes, dimensions, ...average.result() };
}

/**
 * Crammer–Singer multi-class linear SVM trained with Pegasos-style SGD (step `1 / (l2 · (t + t0))`):
 * each step pushes the true class up and the most violating other class down, so it touches only
 * two classes per row.
 *
 * @example
 * ```ts
 * const model = trainMulticlassHinge(set, { epochs: 8, learningRate: 1, l2: 3e-5, seed: 1 });
 * ```
 */
export function trainMulticlassHinge(set: TrainingSet, options: SgdOptions): LinearModel {
  const { classes, dimensions, rows, labels, rowWeights } = set;
  const weights = new Float32Array(dimensions * classes);
  const bias = new Float32Array(classes);
  const s = new Float32Array(classes);
  const subset = new Int32Array(classes);
  const order = Int32Array.from({ length: rows.length }, (_, i) => i);
  const random = seededRandom(options.seed);
  const candidates = createCandidateTable(rows.length, classes);
  const average = createTailAverage(weights, bias, options.epochs);
  // t0 bounds the first steps (1 / (λ t) is huge at t = 1 for small λ).
  const t0 = 1000;
  let scale = 1;
  let t = 0;
  for (let epoch = 0; epoch < options.epochs; epoch++) {
    shuffleInPlace(order, random);
    const full = candidates.isFullPass(epoch);
    for (const r of order) {
      const x = rows[r]!;
      const y = labels[r]!;
      const eta = 1 / (options.l2 * (t0 + t++));
      let count = classes;
      if (full) {
        forward(weights, bias, classes, x, scale, s);
        candidates.record(r, y, s);
        for (let c = 0; c < classes; c++) subset[c] = c;
      } else {
        count = candidates.load(r, subset);
        forwardSubset(weights, bias, classes, x, scale, subset, count, s);
      }
      let own = 0;
      let rival = -1;
      let rivalScore = -Infinity;
      for (let j = 0; j < count; j++) {
        const c = subset[j]!;
        if (c === y) own = s[j]!;
        else if (s[j]! > rivalScore) {
          rivalScore = s[j]!;
          rival = c;
        }
      }
      scale *= 1 - eta * options.l2;
      if (scale < 1e-6) scale = rescale(weights, scale);
      if (rival < 0 || rivalScore + 1 <= own) continue;
      const step = (eta * (rowWeights ? rowWeights[r]! : 1)) / scale;
      const { indices, values } = x;
      for (let k = 0; k < indices.length; k++) {
        const offset = indices[k]! * classes;
        weights[offset + y]! += step * values[k]!;
        weights[offset + rival]! -= step * values[k]!;
      }
      bias[y]! += step * scale * BIAS_RATE;
      bias[rival]! -= step * scale * BIAS_RATE;
    }
    average.endEpoch(epoch, scale);
  }
  rescale(weights, scale);
  return { classes, dimensions, ...average.result() };
}

/**
 * Nearest centroid (Rocchio): each class is the normalised mean of its rows; the score is the
 * cosine to it. Trains in one pass; kept as the baseline the other trainers must beat.
 *
 * @example
 * ```ts
 * const model = trainNearestCentroid(set);
 * ```
 */
export function trainNearestCentroid(set: TrainingSet): LinearModel {
  const { classes, dimensions, rows, labels, rowWeights } = set;
  const weights = new Float32Array(dimensions * classes);
  for (let r = 0; r < rows.length; r++) {
    const { indices, values } = rows[r]!;
    const w = rowWeights ? rowWeights[r]! : 1;
    for (let k = 0; k < indices.length; k++) weights[indices[k]! * classes + labels[r]!]! += values[k]! * w;
  }
  const norms = new Float64Array(classes);
  for (let i = 0; i < weights.length; i++) norms[i % classes]! += weights[i]! * weights[i]!;
  for (let i = 0; i < weights.length; i++) {
    const n = norms[i % classes]!;
    if (n > 0) weights[i]! /= Math.sqrt(n);
  }
  return { classes, dimensions, weights, bias: new Float32Array(classes) };
}

/**
 * Averages the weights at the end of the later epochs (tail averaging, Polyak–Ruppert style): SGD's
 * last iterate jitters around the optimum, the mean of the last few sits closer to it.
 */
function createTailAverage(weights: Float32Array, bias: Float32Array, epochs: number): { endEpoch(epoch: number, scale: number): void; result(): { weights: Float32Array; bias: Float32Array } } {
  const from = Math.floor(epochs / 2);
  let sumW: Float32Array | undefined;
  let sumB: Float64Array | undefined;
  let n = 0;
  return {
    endEpoch(epoch, scale) {
      if (epoch < from) return;
      sumW ??= new Float32Array(weights.length);
      sumB ??= new Float64Array(bias.length);
      for (let i = 0; i < weights.length; i++) sumW[i]! += weights[i]! * scale;
      for (let c = 0; c < bias.length; c++) sumB[c]! += bias[c]!;
      n++;
    },
    result() {
      if (!sumW || !sumB || n === 0) return { weights, bias };
      for (let i = 0; i < sumW.length; i++) sumW[i]! /= n;
      return { weights: sumW, bias: Float32Array.from(sumB, (b) => b / n) };
    },
  };
}

function rescale(weights: Float32Array, scale: number): number {
  if (scale !== 1) for (let i = 0; i < weights.length; i++) weights[i]! *= scale;
  return 1;
}
