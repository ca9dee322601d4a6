/**
 * Setting the router's three thresholds on held-out predictions (a validation split, or
 * cross-validation when there is none). The rules, documented in docs/routing.md:
 *
 * - `outOfScope`: rejecting a message whose best calibrated score is below it may cost at most
 *   `maxAccuracyLoss` of in-scope accuracy (correct answers turned into "I don't know"); within that
 *   budget, the threshold that best separates the out-of-scope examples (recall + accuracy) wins (the
 *   middle of the best run when several do equally well), and without out-of-scope examples the
 *   largest threshold in budget does.
 * - `lowConfidence`: the smallest best score above which the accepted answers were right at least
 *   `confidentPrecision` of the time. Below it, the agent confirms its guess (P1/P3).
 * - `closeMargin`: the smallest gap between the two best scores above which the accepted answers
 *   were right at least `confidentPrecision` of the time. Below it, the agent asks which one (P2).
 */

/** One held-out prediction, after calibration. */
export interface HeldOutPrediction {
  /** Best intent's calibrated score. */
  readonly top: number;
  /** Second-best intent's calibrated score (0 with a single intent). */
  readonly second: number;
  /** The best intent is the true one (always false for an out-of-scope example). */
  readonly correct: boolean;
  /** The example belongs to no intent. */
  readonly outOfScope: boolean;
  /** The model's own out-of-scope class won (the message is rejected whatever the threshold). */
  readonly rejectedByClass?: boolean;
}

/** The thresholds a {@link RouteResult} carries. */
export interface RouterThresholds {
  readonly outOfScope: number;
  readonly lowConfidence: number;
  readonly closeMargin: number;
}

/** The tuning rules' parameters. */
export interface ThresholdTuningOptions {
  /** In-scope accuracy the out-of-scope threshold may cost on validation, as a fraction. Default 0.01. */
  readonly maxAccuracyLoss: number;
  /** Precision that "confident" answers must reach on validation. Default 0.95. */
  readonly confidentPrecision: number;
}

/** Defaults of {@link tuneThresholds}. */
export const defaultThresholdTuningOptions: ThresholdTuningOptions = Object.freeze({ maxAccuracyLoss: 0.01, confidentPrecision: 0.95 });

/**
 * Chooses the three thresholds from held-out predictions with the rules above.
 *
 * @example
 * ```ts
 * const thresholds = tuneThresholds(heldOut, { maxAccuracyLoss: 0.01, confidentPrecision: 0.95 });
 * // → { outOfScope: 0.31, lowConfidence: 0.55, closeMargin: 0.2 }
 * ```
 */
export function tuneThresholds(predictions: readonly HeldOutPrediction[], options: ThresholdTuningOptions = defaultThresholdTuningOptions): RouterThresholds {
  const outOfScope = tuneOutOfScope(predictions, options.maxAccuracyLoss);
  const accepted = predictions.filter((p) => !p.rejectedByClass && p.top >= outOfScope);
  const lowConfidence = Math.max(outOfScope, smallestPreciseCut(accepted, (p) => p.top, options.confidentPrecision));
  const closeMargin = smallestPreciseCut(accepted, (p) => p.top - p.second, options.confidentPrecision);
  return Object.freeze({ outOfScope, lowConfidence, closeMargin });
}

function tuneOutOfScope(predictions: readonly HeldOutPrediction[], maxAccuracyLoss: number): number {
  const inScopeTotal = predictions.filter((p) => !p.outOfScope).length;
  if (inScopeTotal === 0) return 0;
  const oosTotal = predictions.length - inScopeTotal;
  const correctTops = predictions.filter((p) => p.correct && !p.rejectedByClass).map((p) => p.top).sort((a, b) => a - b);
  const oosTops = predictions.filter((p) => p.outOfScope && !p.rejectedByClass).map((p) => p.top).sort((a, b) => a - b);
  const caughtByClass = predictions.filter((p) => p.outOfScope && p.rejectedByClass).length;
  const budget = Math.floor(maxAccuracyLoss * inScopeTotal + 1e-9);
  // Cuts sit halfway between neighbouring observed scores, not on one: a threshold equal to a
  // validation score would hinge on that one example.
  const values = [...new Set([...correctTops, ...oosTops])].sort((a, b) => a - b);
  const cuts = [0];
  for (let i = 0; i < values.length; i++) cuts.push(i + 1 < values.length ? (values[i]! + values[i + 1]!) / 2 : (values[i]! + 1) / 2);
  // Cut k stands for every threshold in (values[k - 1], values[k]]: all of them reject the same examples.
  const low = (k: number): number => (k === 0 ? 0 : values[k - 1]!);
  const high = (k: number): number => (k < values.length ? values[k]! : 1);
  let first = 0;
  let last = 0;
  let bestGain = -Infinity;
  let onPlateau = false;
  let lost = 0;
  let caught = 0;
  for (let k = 0; k < cuts.length; k++) {
    const cut = cuts[k]!;
    while (lost < correctTops.length && correctTops[lost]! < cut) lost++;
    while (caught < oosTops.length && oosTops[caught]! < cut) caught++;
    if (lost > budget) break;
    // Without out-of-scope examples every cut gains nothing, so the largest one in budget wins.
    const gain = oosTotal === 0 ? cut : (caught + caughtByClass) / oosTotal - lost / inScopeTotal;
    if (gain > bestGain) {
      bestGain = gain;
      first = last = k;
      onPlateau = true;
    } else if (gain === bestGain && onPlateau) {
      last = k;
    } else {
      onPlateau = false;
    }
  }
  if (oosTotal === 0) return cuts[first]!;
  // Among equally good thresholds take the middle: the widest margin to the examples on either side,
  // rather than hugging the in-scope or the out-of-scope ones.
  return (low(first) + high(last)) / 2;
}

function smallestPreciseCut(predictions: readonly HeldOutPrediction[], statistic: (p: HeldOutPrediction) => number, precision: number): number {
  const sorted = predictions.map((p) => ({ value: statistic(p), correct: p.correct })).sort((a, b) => b.value - a.value);
  let right = 0;
  let cut = sorted.length > 0 ? sorted[0]!.value : 0;
  for (let i = 0; i < sorted.length; i++) {
    if (sorted[i]!.correct) right++;
    // Only cut between distinct values: a threshold cannot split tied scores.
    const atBoundary = i === sorted.length - 1 || sorted[i + 1]!.value < sorted[i]!.value;
    if (atBoundary && right / (i + 1) >= precision) cut = sorted[i]!.value;
  }
  return cut;
}
