/**
 * Routing benchmark: trains the local router on a public intent dataset, tunes its thresholds on the
 * validation split, scores a test file (default: the validation split) and prints a table, the
 * most-confused intent pairs, and as its last line one JSON object.
 *
 *   npm run bench:routing -- --dataset clinc150|banking77 [--test PATH] [--data DIR]
 *     [--classifier softmax|hinge|centroid|ensemble] [--epochs N] [--no-oos-train]
 *     [--word-max N] [--char-min N] [--char-max N] [--learning-rate X] [--l2 X] [--hinge-c X]
 *     [--description-weight X] [--max-accuracy-loss X] [--confident-precision X] [--seed N]
 *
 * Never point --test at a split used for tuning anything but this final score.
 */
import { parseArgs } from 'node:util';
import type { RouteResult } from '../src/ports.js';
import {
  createLocalRouter,
  expectedCalibrationError,
  routeConfidence,
  tuneThresholds,
  type ClassifierKind,
  type HeldOutPrediction,
  type LocalRouterOptions,
} from '../src/routing/index.js';
import { loadDataset, loadTestSplit, resolveDataDir, toIntentDefinitions, type DatasetName, type LabelledText } from './datasets.js';

const { values: args } = parseArgs({
  options: {
    dataset: { type: 'string' },
    test: { type: 'string' },
    data: { type: 'string' },
    classifier: { type: 'string' },
    epochs: { type: 'string' },
    'no-oos-train': { type: 'boolean', default: false },
    'no-unseen-in-norm': { type: 'boolean', default: false },
    'word-max': { type: 'string' },
    'char-min': { type: 'string' },
    'char-max': { type: 'string' },
    'learning-rate': { type: 'string' },
    l2: { type: 'string' },
    'hinge-c': { type: 'string' },
    'description-weight': { type: 'string' },
    'max-accuracy-loss': { type: 'string' },
    'confident-precision': { type: 'string' },
    seed: { type: 'string' },
  },
  strict: true,
});

const dataset = args.dataset as DatasetName | undefined;
if (dataset !== 'clinc150' && dataset !== 'banking77') {
  console.error('usage: routing.bench --dataset clinc150|banking77 [--test PATH] [--data DIR]');
  process.exit(2);
}
const num = (v: string | undefined): number | undefined => (v === undefined ? undefined : Number(v));
const pct = (x: number | null): string => (x === null ? 'n/a' : `${(x * 100).toFixed(2)}%`);

const dataDir = resolveDataDir(args.data);
const data = loadDataset(dataset, dataDir);
const useOosTrain = !args['no-oos-train'] && data.trainOutOfScope.length > 0;
const options: LocalRouterOptions = {
  intents: toIntentDefinitions(data.train, useOosTrain ? data.trainOutOfScope : []),
  validation: data.validation,
  classifier: args.classifier as ClassifierKind | undefined,
  epochs: num(args.epochs),
  learningRate: num(args['learning-rate']),
  l2: num(args.l2),
  hingeC: num(args['hinge-c']),
  descriptionWeight: num(args['description-weight']),
  maxAccuracyLoss: num(args['max-accuracy-loss']),
  confidentPrecision: num(args['confident-precision']),
  seed: num(args.seed),
  text: {
    ...(args['word-max'] ? { wordNgramMax: Number(args['word-max']) } : {}),
    ...(args['char-min'] ? { charNgramMin: Number(args['char-min']) } : {}),
    ...(args['char-max'] ? { charNgramMax: Number(args['char-max']) } : {}),
    ...(args['no-unseen-in-norm'] ? { unseenInNorm: false } : {}),
  },
};

const trainStart = performance.now();
const router = await createLocalRouter(options);
const trainSeconds = (performance.now() - trainStart) / 1000;

const test: readonly LabelledText[] = args.test ? loadTestSplit(dataset, args.test) : data.validation;
const testNote = args.test
  ? `test file ${args.test}`
  : `the validation split (${data.validationNote}); thresholds were tuned on this same split, so this is an optimistic proxy, not a test score`;

// Warm the JIT first, so latencies describe the steady state a long-running server sees.
for (const row of test.slice(0, 300)) router.routeSync(row.text);
const latenciesUs = new Float64Array(test.length);
const results: RouteResult[] = [];
for (let i = 0; i < test.length; i++) {
  const start = process.hrtime.bigint();
  results.push(await router.route(test[i]!.text));
  latenciesUs[i] = Number(process.hrtime.bigint() - start) / 1000;
}
latenciesUs.sort();
const quantile = (q: number): number => latenciesUs[Math.min(latenciesUs.length - 1, Math.floor(q * latenciesUs.length))]!;

let inScope = 0;
let inScopeCorrect = 0;
let top1Correct = 0;
let oos = 0;
let oosCaught = 0;
let rejected = 0;
const confusions = new Map<string, number>();
const bands = new Map<string, { n: number; right: number }>();
const confidences: number[] = [];
const rights: boolean[] = [];
results.forEach((result, i) => {
  const truth = test[i]!.intent;
  const best = result.ranked[0]?.intent;
  if (result.outOfScope) rejected++;
  const band = routeConfidence(result);
  const entry = bands.get(band) ?? { n: 0, right: 0 };
  bands.set(band, entry);
  entry.n++;
  if (truth === null) {
    oos++;
    if (result.outOfScope) {
      oosCaught++;
      entry.right++;
    }
    return;
  }
  inScope++;
  confidences.push(result.ranked[0]?.score ?? 0);
  rights.push(best === truth);
  if (best === truth) top1Correct++;
  if (best === truth && !result.outOfScope) {
    inScopeCorrect++;
    entry.right++;
  }
  if (best !== undefined && best !== truth) {
    const key = `${truth} → ${best}`;
    confusions.set(key, (confusions.get(key) ?? 0) + 1);
  }
});

const inScopeAccuracy = inScope === 0 ? 0 : inScopeCorrect / inScope;
const oosRecall = oos === 0 ? null : oosCaught / oos;
const oosPrecision = oos === 0 ? null : rejected === 0 ? 0 : oosCaught / rejected;
const { thresholds, temperature, report } = router;

const lines: [string, string][] = [
  ['dataset', `${dataset} (${data.intents.length} intents, ${data.train.length} training examples${useOosTrain ? ` + ${data.trainOutOfScope.length} out-of-scope` : ''})`],
  ['scored on', `${testNote}`],
  ['model', `${options.classifier ?? 'hinge'} over local features, ${report.dimensions} dimensions, temperature ${temperature.toFixed(3)}`],
  ['thresholds', `outOfScope ${thresholds.outOfScope.toFixed(3)}, lowConfidence ${thresholds.lowConfidence.toFixed(3)}, closeMargin ${thresholds.closeMargin.toFixed(3)} (set on ${data.validationNote})`],
  ['messages', `${test.length} (${inScope} in scope, ${oos} out of scope)`],
  ['in-scope accuracy', `${pct(inScopeAccuracy)} (correct and not rejected)`],
  ['top-1 accuracy', `${pct(inScope === 0 ? 0 : top1Correct / inScope)} (ignoring the out-of-scope threshold)`],
  ['out-of-scope recall', pct(oosRecall)],
  ['out-of-scope precision', pct(oosPrecision)],
  ['calibration (ECE)', `${(expectedCalibrationError(confidences, rights) * 100).toFixed(2)}% (best score vs top-1 correctness, in scope, 10 bins)`],
  ['train', `${trainSeconds.toFixed(2)} s (featurise, fit, calibrate, tune)`],
  ['latency per route()', `p50 ${quantile(0.5).toFixed(1)} µs, p99 ${quantile(0.99).toFixed(1)} µs, max ${quantile(1).toFixed(1)} µs`],
];
if (!args.test) {
  // Scoring the split the thresholds were tuned on flatters them. As a check, tune on one half of it
  // and score the other half, both ways (the temperature, one parameter, still comes from all of it).
  const predictions: HeldOutPrediction[] = results.map((r, i) => ({
    top: r.ranked[0]?.score ?? 0,
    second: r.ranked[1]?.score ?? 0,
    correct: test[i]!.intent !== null && r.ranked[0]?.intent === test[i]!.intent,
    outOfScope: test[i]!.intent === null,
    // Empty input is rejected before any threshold applies, like the out-of-scope class.
    rejectedByClass: r.outOfScopeReason === 'oos_class' || r.outOfScopeReason === 'empty_input',
  }));
  let right = 0;
  let caught = 0;
  for (const half of [0, 1]) {
    const tuneOn = predictions.filter((_, i) => i % 2 !== half);
    const t = tuneThresholds(tuneOn, { maxAccuracyLoss: options.maxAccuracyLoss ?? 0.01, confidentPrecision: options.confidentPrecision ?? 0.95 });
    predictions.forEach((p, i) => {
      if (i % 2 !== half) return;
      const rejected = p.rejectedByClass === true || p.top < t.outOfScope;
      if (!p.outOfScope && p.correct && !rejected) right++;
      if (p.outOfScope && rejected) caught++;
    });
  }
  lines.push([
    'held-out threshold check',
    `in-scope accuracy ${pct(inScope === 0 ? 0 : right / inScope)}, out-of-scope recall ${pct(oos === 0 ? null : caught / oos)} (thresholds tuned on alternate halves of the split, each scored on the other)`,
  ]);
}
for (const band of ['confident', 'ambiguous', 'low_confidence', 'out_of_scope']) {
  const b = bands.get(band) ?? { n: 0, right: 0 };
  lines.push([`verdict ${band}`, `${b.n} messages (${pct(b.n / test.length)}), right ${pct(b.n === 0 ? 0 : b.right / b.n)}`]);
}
const width = Math.max(...lines.map(([k]) => k.length));
console.log(`\nrouting benchmark — ${dataset}`);
for (const [k, v] of lines) console.log(`  ${k.padEnd(width)}  ${v}`);
console.log('\n  most-confused intent pairs (true → predicted, count):');
const pairs = [...confusions].sort((a, b) => b[1] - a[1]).slice(0, 10);
for (const [pair, count] of pairs) console.log(`    ${String(count).padStart(4)}  ${pair}`);
if (pairs.length === 0) console.log('    none');
console.log(
  JSON.stringify({
    dataset,
    n: test.length,
    inScopeAccuracy: Number(inScopeAccuracy.toFixed(4)),
    oosRecall: oosRecall === null ? null : Number(oosRecall.toFixed(4)),
    oosPrecision: oosPrecision === null ? null : Number(oosPrecision.toFixed(4)),
    trainSeconds: Number(trainSeconds.toFixed(2)),
    p50Us: Number(quantile(0.5).toFixed(1)),
    p99Us: Number(quantile(0.99).toFixed(1)),
  }),
);
