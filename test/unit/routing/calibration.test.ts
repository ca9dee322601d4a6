import { describe, it, expect } from 'vitest';
import { expectedCalibrationError, fitTemperature, softmaxInto } from '../../../src/routing/index.js';
import { negativeLogLikelihood } from '../../../src/routing/calibration.js';
import { seededRandom } from '../../../src/routing/linear-trainers.js';

describe('softmaxInto', () => {
  it('normalises and sharpens with a lower temperature', () => {
    const logits = Float32Array.of(2, 1, 0);
    const p1 = softmaxInto(logits, 1, new Float32Array(3));
    expect(p1.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(p1[0]).toBeCloseTo(0.665, 3);
    const sharp = softmaxInto(logits, 0.5, new Float32Array(3));
    expect(sharp[0]!).toBeGreaterThan(p1[0]!);
  });
});

describe('fitTemperature', () => {
  it('recovers the temperature that generated the labels', () => {
    // Labels drawn from softmax(z / 2): the fitted temperature must come out near 2.
    const random = seededRandom(3);
    const logits: Float32Array[] = [];
    const labels: number[] = [];
    const p = new Float32Array(4);
    for (let i = 0; i < 4000; i++) {
      const z = Float32Array.from({ length: 4 }, () => random() * 8);
      softmaxInto(z, 2, p);
      let u = random();
      let label = 0;
      while (label < 3 && u > p[label]!) u -= p[label++]!;
      logits.push(z);
      labels.push(label);
    }
    expect(fitTemperature(logits, labels)).toBeGreaterThan(1.8);
    expect(fitTemperature(logits, labels)).toBeLessThan(2.2);
  });

  it('is kept from collapsing by out-of-scope examples (label -1, uniform target)', () => {
    const logits = [Float32Array.of(5, 0, 0), Float32Array.of(0, 5, 0), Float32Array.of(4, 0, 0)];
    const allRight = fitTemperature(logits.slice(0, 2), [0, 1]);
    const withOos = fitTemperature(logits, [0, 1, -1]);
    // All right: sharper is always better, so T runs towards the lower bound.
    expect(allRight).toBeLessThan(0.2);
    expect(withOos).toBeGreaterThan(0.5);
    // Against a uniform target the best achievable cross-entropy is the entropy, log 2 for two classes.
    expect(negativeLogLikelihood([Float32Array.of(0, 0)], [-1], 1)).toBeCloseTo(Math.log(2), 6);
    expect(negativeLogLikelihood([Float32Array.of(3, 0)], [-1], 1)).toBeGreaterThan(Math.log(2));
  });

  it('returns 1 with nothing to fit', () => {
    expect(fitTemperature([], [])).toBe(1);
  });
});

describe('expectedCalibrationError', () => {
  it('is 0 when confidence matches accuracy and grows with overconfidence', () => {
    expect(expectedCalibrationError([0.75, 0.75, 0.75, 0.75], [true, true, true, false])).toBeCloseTo(0, 6);
    expect(expectedCalibrationError([0.95, 0.95], [true, false])).toBeCloseTo(0.45, 6);
  });
});
