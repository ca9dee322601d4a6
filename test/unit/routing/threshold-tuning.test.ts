import { describe, it, expect } from 'vitest';
import { tuneThresholds, type HeldOutPrediction } from '../../../src/routing/index.js';

const right = (top: number, second = 0): HeldOutPrediction => ({ top, second, correct: true, outOfScope: false });
const wrong = (top: number, second = 0): HeldOutPrediction => ({ top, second, correct: false, outOfScope: false });
const oos = (top: number): HeldOutPrediction => ({ top, second: 0, correct: false, outOfScope: true });

describe('tuneThresholds', () => {
  it('without out-of-scope examples, rejects at most the allowed share of correct answers', () => {
    const predictions = Array.from({ length: 100 }, (_, i) => right(0.5 + i / 200));
    const t = tuneThresholds(predictions, { maxAccuracyLoss: 0.03, confidentPrecision: 0.9 });
    const rejected = predictions.filter((p) => p.top < t.outOfScope).length;
    expect(rejected).toBe(3);
    expect(tuneThresholds(predictions, { maxAccuracyLoss: 0, confidentPrecision: 0.9 }).outOfScope).toBeLessThanOrEqual(0.5);
  });

  it('with out-of-scope examples, cuts between them and the in-scope answers', () => {
    const predictions = [...[0.1, 0.2, 0.3].map(oos), ...[0.6, 0.7, 0.8, 0.9].map((s) => right(s))];
    const t = tuneThresholds(predictions, { maxAccuracyLoss: 0, confidentPrecision: 0.9 });
    expect(t.outOfScope).toBeCloseTo(0.45, 6);
  });

  it('never exceeds the accuracy budget to catch more out-of-scope messages', () => {
    const predictions = [oos(0.9), ...[0.5, 0.6, 0.7].map((s) => right(s))];
    expect(tuneThresholds(predictions, { maxAccuracyLoss: 0, confidentPrecision: 0.9 }).outOfScope).toBeLessThanOrEqual(0.5);
  });

  it('counts messages caught by the out-of-scope class as recalled whatever the threshold', () => {
    const byClass: HeldOutPrediction = { ...oos(0.99), rejectedByClass: true };
    const t = tuneThresholds([byClass, oos(0.2), right(0.8)], { maxAccuracyLoss: 0, confidentPrecision: 0.9 });
    expect(t.outOfScope).toBeCloseTo(0.5, 6);
  });

  it('takes the middle of a run of equally good thresholds', () => {
    // The class catches the only out-of-scope message: any threshold up to 0.6 does equally well.
    const byClass: HeldOutPrediction = { ...oos(0.95), rejectedByClass: true };
    const t = tuneThresholds([byClass, right(0.6), right(0.9)], { maxAccuracyLoss: 0, confidentPrecision: 0.9 });
    expect(t.outOfScope).toBeCloseTo(0.3, 6);
  });

  it('puts lowConfidence and closeMargin where accepted answers become precise enough', () => {
    const predictions = [right(0.95, 0.01), right(0.9, 0.05), right(0.85, 0.1), wrong(0.6, 0.35), right(0.55, 0.4), wrong(0.5, 0.45)];
    const t = tuneThresholds(predictions, { maxAccuracyLoss: 0, confidentPrecision: 0.99 });
    expect(t.lowConfidence).toBeCloseTo(0.85, 6);
    expect(t.closeMargin).toBeCloseTo(0.75, 6);
    expect(t.lowConfidence).toBeGreaterThanOrEqual(t.outOfScope);
  });

  it('returns frozen thresholds', () => {
    expect(Object.isFrozen(tuneThresholds([right(0.9)]))).toBe(true);
  });
});
