/**
 * Calibration: turning raw class scores into probabilities that mean what they say. A single
 * temperature T is fitted on held-out data (Guo et al. 2017, "On Calibration of Modern Neural
 * Networks"): p = softmax(logits / T). One parameter cannot overfit a small validation set and
 * keeps the ranking unchanged; the thresholds are then set on these probabilities.
 */

/**
 * Writes softmax(logits / temperature) of the first `classes` logits into `out`.
 *
 * @example
 * ```ts
 * softmaxInto(Float32Array.of(2, 1, 0), 1, new Float32Array(3), 3); // ≈ [0.665, 0.245, 0.090]
 * ```
 */
export function softmaxInto(logits: Float32Array, temperature: number, out: Float32Array, classes = logits.length): Float32Array {
  let max = -Infinity;
  for (let c = 0; c < classes; c++) if (logits[c]! > max) max = logits[c]!;
  let z = 0;
  for (let c = 0; c < classes; c++) {
    const e = Math.exp((logits[c]! - max) / temperature);
    out[c] = e;
    z += e;
  }
  for (let c = 0; c < classes; c++) out[c]! /= z;
  return out;
}

/**
 * Mean cross-entropy under softmax(logits / T): against the true class for a label ≥ 0, and
 * against the uniform distribution for label −1 (an out-of-scope message, which should make no
 * intent confident). The second term is what keeps T from collapsing to 0 on a small validation
 * set that the model gets entirely right.
 *
 * @example
 * ```ts
 * negativeLogLikelihood([Float32Array.of(2, 0)], [0], 1); // ≈ 0.127
 * negativeLogLikelihood([Float32Array.of(0, 0)], [-1], 1); // = ln 2, the best possible for 2 classes
 * ```
 */
export function negativeLogLikelihood(logits: readonly Float32Array[], labels: ArrayLike<number>, temperature: number): number {
  let total = 0;
  for (let i = 0; i < logits.length; i++) {
    const row = logits[i]!;
    let max = -Infinity;
    for (let c = 0; c < row.length; c++) if (row[c]! > max) max = row[c]!;
    let z = 0;
    let mean = 0;
    for (let c = 0; c < row.length; c++) {
      z += Math.exp((row[c]! - max) / temperature);
      mean += (row[c]! - max) / temperature;
    }
    const label = labels[i]!;
    total += Math.log(z) - (label >= 0 ? (row[label]! - max) / temperature : mean / row.length);
  }
  return logits.length === 0 ? 0 : total / logits.length;
}

/**
 * Fits the temperature that minimises the held-out cross-entropy ({@link negativeLogLikelihood}:
 * label −1 = out of scope, uniform target), by golden-section search on log T in [0.01, 100] (the
 * loss is unimodal in T). Returns 1 when there is nothing to fit.
 *
 * @example
 * ```ts
 * const temperature = fitTemperature(validationLogits, validationLabels); // e.g. 0.21
 * ```
 */
export function fitTemperature(logits: readonly Float32Array[], labels: ArrayLike<number>): number {
  if (logits.length === 0) return 1;
  const f = (logT: number): number => negativeLogLikelihood(logits, labels, Math.exp(logT));
  const ratio = (Math.sqrt(5) - 1) / 2;
  let lo = Math.log(0.01);
  let hi = Math.log(100);
  let a = hi - ratio * (hi - lo);
  let b = lo + ratio * (hi - lo);
  let fa = f(a);
  let fb = f(b);
  for (let i = 0; i < 40; i++) {
    if (fa < fb) {
      hi = b;
      b = a;
      fb = fa;
      a = hi - ratio * (hi - lo);
      fa = f(a);
    } else {
      lo = a;
      a = b;
      fa = fb;
      b = lo + ratio * (hi - lo);
      fb = f(b);
    }
  }
  return Math.exp((lo + hi) / 2);
}

/**
 * Expected calibration error: the gap between confidence and accuracy, averaged over `bins`
 * equal-width confidence bins weighted by their size. 0 is perfectly calibrated.
 *
 * @example
 * ```ts
 * expectedCalibrationError([0.9, 0.6], [true, false]); // 0.35
 * ```
 */
export function expectedCalibrationError(confidences: readonly number[], correct: readonly boolean[], bins = 10): number {
  const count = new Float64Array(bins);
  const confidenceSum = new Float64Array(bins);
  const correctSum = new Float64Array(bins);
  for (let i = 0; i < confidences.length; i++) {
    const bin = Math.min(bins - 1, Math.floor(confidences[i]! * bins));
    count[bin]!++;
    confidenceSum[bin]! += confidences[i]!;
    if (correct[i]) correctSum[bin]!++;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    if (count[b]! > 0) ece += Math.abs(confidenceSum[b]! - correctSum[b]!) / confidences.length;
  }
  return ece;
}
