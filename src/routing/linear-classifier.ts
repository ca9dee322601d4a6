/**
 * A linear multi-class model over sparse features: one weight per (feature, class) plus a bias per
 * class. Weights are stored feature-major so that scoring a message touches one contiguous run of
 * `classes` floats per present feature, which is what keeps a route under a millisecond.
 */
import type { SparseVector } from './sparse-vector.js';

/**
 * Trained weights. `weights[feature * classes + c]` is the weight of `feature` for class `c`.
 *
 * @example
 * ```ts
 * const model: LinearModel = { classes: 2, dimensions: 3, weights: new Float32Array(6), bias: new Float32Array(2) };
 * ```
 */
export interface LinearModel {
  readonly classes: number;
  readonly dimensions: number;
  readonly weights: Float32Array;
  readonly bias: Float32Array;
}

/**
 * Writes the raw class scores (logits) of `x` into `out` (length ≥ `model.classes`). Features at or
 * above `model.dimensions` are ignored, so a vector from a larger vocabulary cannot read out of range.
 *
 * @example
 * ```ts
 * const logits = new Float32Array(model.classes);
 * scoreInto(model, vectorizer.vectorize('where is my order'), logits);
 * ```
 */
export function scoreInto(model: LinearModel, x: SparseVector, out: Float32Array): Float32Array {
  const { classes, weights, bias, dimensions } = model;
  for (let c = 0; c < classes; c++) out[c] = bias[c]!;
  const { indices, values } = x;
  for (let k = 0; k < indices.length; k++) {
    const feature = indices[k]!;
    if (feature >= dimensions) continue;
    const v = values[k]!;
    const offset = feature * classes;
    for (let c = 0; c < classes; c++) out[c]! += weights[offset + c]! * v;
  }
  return out;
}

/**
 * Adds `scale × other` into `target` (same shape), to combine models trained on the same features:
 * a sum of linear models is again linear, so an ensemble costs nothing extra at routing time.
 *
 * @example
 * ```ts
 * const ensemble = addScaled(softmaxModel, hingeModel, 0.5);
 * ```
 */
export function addScaled(target: LinearModel, other: LinearModel, scale: number): LinearModel {
  if (target.classes !== other.classes || target.dimensions !== other.dimensions) {
    throw new TypeError('models to combine must have the same classes and dimensions');
  }
  const weights = Float32Array.from(target.weights);
  const bias = Float32Array.from(target.bias);
  for (let i = 0; i < weights.length; i++) weights[i]! += scale * other.weights[i]!;
  for (let c = 0; c < bias.length; c++) bias[c]! += scale * other.bias[c]!;
  return { classes: target.classes, dimensions: target.dimensions, weights, bias };
}

/**
 * Multiplies every weight and bias by `factor` (used to put models on a common logit scale).
 *
 * @example
 * ```ts
 * const halved = scaleModel(model, 0.5);
 * ```
 */
export function scaleModel(model: LinearModel, factor: number): LinearModel {
  return {
    classes: model.classes,
    dimensions: model.dimensions,
    weights: model.weights.map((w) => w * factor),
    bias: model.bias.map((b) => b * factor),
  };
}
