import { describe, it, expect } from 'vitest';
import { addScaled, scoreInto, type LinearModel } from '../../../src/routing/linear-classifier.js';
import { seededRandom, trainMulticlassHinge, trainNearestCentroid, trainSoftmaxRegression, type TrainingSet } from '../../../src/routing/linear-trainers.js';
import { l2NormalizeInPlace, type SparseVector } from '../../../src/routing/sparse-vector.js';

/** Noisy synthetic classes: each class owns a few features, every row also gets shared noise features. */
function syntheticSet(classes: number, rowsPerClass: number, seed: number): TrainingSet {
  const random = seededRandom(seed);
  const dimensions = classes * 4 + 20;
  const rows: SparseVector[] = [];
  const labels: number[] = [];
  for (let c = 0; c < classes; c++) {
    for (let r = 0; r < rowsPerClass; r++) {
      const features = new Set<number>([c * 4 + Math.floor(random() * 4), c * 4 + Math.floor(random() * 4)]);
      for (let k = 0; k < 3; k++) features.add(classes * 4 + Math.floor(random() * 20));
      const indices = Int32Array.from([...features].sort((a, b) => a - b));
      rows.push({ indices, values: l2NormalizeInPlace(Float32Array.from(indices, () => 0.5 + random())) });
      labels.push(c);
    }
  }
  return { rows, labels: Int32Array.from(labels), classes, dimensions };
}

function accuracy(model: LinearModel, set: TrainingSet): number {
  const out = new Float32Array(model.classes);
  let right = 0;
  set.rows.forEach((x, i) => {
    scoreInto(model, x, out);
    let best = 0;
    for (let c = 1; c < model.classes; c++) if (out[c]! > out[best]!) best = c;
    if (best === set.labels[i]) right++;
  });
  return right / set.rows.length;
}

// 40 classes exceed the candidate-list width, so the cheap epochs that score only candidates run too.
const train = syntheticSet(40, 20, 1);
const test = syntheticSet(40, 10, 2);
const sgd = { epochs: 10, learningRate: 2, l2: 1e-6, seed: 7 };

describe('linear trainers', () => {
  it.each([
    ['softmax regression', () => trainSoftmaxRegression(train, sgd)],
    ['multi-class hinge', () => trainMulticlassHinge(train, { ...sgd, l2: 1 / (2 * train.rows.length) })],
    ['nearest centroid', () => trainNearestCentroid(train)],
  ])('%s generalises on a separable synthetic task', (_name, fit) => {
    const model = fit();
    expect(accuracy(model, train)).toBeGreaterThan(0.95);
    expect(accuracy(model, test)).toBeGreaterThan(0.9);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const a = trainMulticlassHinge(train, { ...sgd, l2: 1e-3 });
    const b = trainMulticlassHinge(train, { ...sgd, l2: 1e-3 });
    const c = trainMulticlassHinge(train, { ...sgd, l2: 1e-3, seed: 8 });
    expect(a.weights).toEqual(b.weights);
    expect(a.weights).not.toEqual(c.weights);
  });

  it('honours row weights: a zero-weight row teaches nothing', () => {
    const only = (weight: number): LinearModel =>
      trainSoftmaxRegression({ ...train, rows: train.rows.slice(0, 2), labels: Int32Array.of(0, 1), rowWeights: Float32Array.of(1, weight), classes: 2 }, sgd);
    const x = train.rows[1]!;
    const out = new Float32Array(2);
    scoreInto(only(0), x, out);
    const withoutSecond = out[1]! - out[0]!;
    scoreInto(only(1), x, out);
    expect(out[1]! - out[0]!).toBeGreaterThan(withoutSecond);
  });

  it('ignores features beyond the model when scoring', () => {
    const model = trainNearestCentroid(train);
    const out = new Float32Array(model.classes);
    expect(() => scoreInto(model, { indices: Int32Array.of(model.dimensions + 5), values: Float32Array.of(1) }, out)).not.toThrow();
    expect([...out].every((v) => v === 0)).toBe(true);
  });

  it('adds models of the same shape and refuses mismatched ones', () => {
    const a = trainNearestCentroid(train);
    const sum = addScaled(a, a, 1);
    expect(sum.weights[0]).toBeCloseTo(2 * a.weights[0]!, 6);
    expect(() => addScaled(a, { ...a, classes: 3 }, 1)).toThrow(TypeError);
  });
});
