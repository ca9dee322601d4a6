/**
 * The offline semantic router (DESIGN §4): ranks intents with calibrated scores and says "I don't
 * know" when no intent covers a message. It implements the {@link Router} port, trains at start-up
 * in seconds, and routes a message in tens of microseconds with local features.
 */
import { KeelError } from '../errors.js';
import type { Embedder, IntentScore, OutOfScopeReason, RouteResult, Router } from '../ports.js';
import { softmaxInto } from './calibration.js';
import { parseIntentDefinitions, parseValidationSet } from './intent-definitions.js';
import { scoreInto } from './linear-classifier.js';
import { decodeRouterModel, encodeRouterModel, type SerializedLocalRouter } from './router-model-codec.js';
import { resolveRouterOptions, type LocalRouterOptions } from './router-options.js';
import { trainRouterModel, type TrainedRouterModel, type TrainingReport } from './router-training.js';
import type { SparseVector } from './sparse-vector.js';
import { normalizeText } from './text-features.js';
import type { RouterThresholds } from './threshold-tuning.js';

/** The value of `RouteResult.source` for this router. */
export const LOCAL_ROUTER_SOURCE = 'local';

/** A trained local router. */
export interface LocalRouter extends Router {
  /** The intents it recognises, in training order. */
  readonly intents: readonly string[];
  /** The thresholds set on held-out data (also in every {@link RouteResult}). */
  readonly thresholds: RouterThresholds;
  /** The softmax temperature fitted on held-out data. */
  readonly temperature: number;
  /** How it was trained and calibrated. */
  readonly report: TrainingReport;
  /** Routes one message; with an embedder the `signal` aborts its call. */
  route(text: string, signal?: AbortSignal): Promise<RouteResult>;
  /** Routes synchronously; only with local features (throws `invalid_option` otherwise). */
  routeSync(text: string): RouteResult;
  /** The whole model (vocabulary, weights, temperature, thresholds) as JSON-safe data. */
  toJSON(): SerializedLocalRouter;
}

/**
 * Trains a router from intent definitions. With a `validation` set the temperature and thresholds
 * are set on it; otherwise on cross-validation over the examples.
 *
 * @example
 * ```ts
 * const intents = await loadIntentDefinitions('src/demo/intents.json');
 * const validation = await loadValidationSet('src/demo/intents.validation.json');
 * const router = await createLocalRouter({ intents, validation });
 * const result = await router.route('where is my parcel?');
 * // result.ranked[0] → { intent: 'order_status', score: 0.99 }, result.outOfScope → false
 * ```
 *
 * Defaults: see {@link defaultRouterOptions} (local n-gram features, multi-class SVM, 12 epochs).
 */
export async function createLocalRouter(options: LocalRouterOptions, signal?: AbortSignal): Promise<LocalRouter> {
  resolveRouterOptions(options);
  // Definitions built in code get the same checks as a file, so a bad one fails here with its path.
  const intents = parseIntentDefinitions(options.intents, 'options.intents');
  const validation = options.validation && parseValidationSet({ examples: options.validation }, intents.intents.map((i) => i.name), 'options.validation');
  const resolved = resolveRouterOptions({ ...options, intents, ...(validation ? { validation } : {}) });
  const trained = await trainRouterModel(resolved, signal);
  return routerFromModel(trained, resolved.maxRanked, resolved.maxInputChars);
}

/**
 * Rebuilds a router from {@link LocalRouter.toJSON} output without training. A model trained on
 * embedder features needs the same embedder (same `id` and `dimensions`) again.
 *
 * @example
 * ```ts
 * const again = restoreLocalRouter(JSON.parse(JSON.stringify(router)));
 * ```
 */
export function restoreLocalRouter(serialized: unknown, options: { embedder?: Embedder } = {}): LocalRouter {
  const decoded = decodeRouterModel(serialized, options.embedder);
  return routerFromModel(decoded.model, decoded.maxRanked, decoded.maxInputChars);
}

function routerFromModel(trained: TrainedRouterModel, maxRanked: number, maxInputChars: number): LocalRouter {
  const { intents, model, temperature, thresholds, pipeline } = trained;
  const classes = model.classes;
  const intentCount = intents.length;
  const shown = Math.min(maxRanked, intentCount);
  const logits = new Float32Array(classes);
  const probabilities = new Float32Array(classes);
  const taken = new Uint8Array(intentCount);

  const outOfScope = (reason: OutOfScopeReason, ranked: readonly IntentScore[]): RouteResult =>
    Object.freeze({ ranked, outOfScope: true, outOfScopeReason: reason, thresholds, source: LOCAL_ROUTER_SOURCE });

  // Scratch buffers are reused: routing is synchronous from here on, so calls cannot interleave.
  const decide = (x: SparseVector): RouteResult => {
    scoreInto(model, x, logits);
    softmaxInto(logits, temperature, probabilities, classes);
    taken.fill(0);
    const ranked: IntentScore[] = [];
    for (let k = 0; k < shown; k++) {
      let best = -1;
      for (let c = 0; c < intentCount; c++) if (!taken[c] && (best < 0 || probabilities[c]! > probabilities[best]!)) best = c;
      taken[best] = 1;
      ranked.push(Object.freeze({ intent: intents[best]!, score: probabilities[best]! }));
    }
    Object.freeze(ranked);
    const top = ranked[0]!.score;
    if (trained.hasOutOfScopeClass && probabilities[intentCount]! > top) return outOfScope('oos_class', ranked);
    // A message none of whose features was ever seen carries no evidence for any intent.
    if (x.indices.length === 0 || top < thresholds.outOfScope) return outOfScope('below_threshold', ranked);
    return Object.freeze({ ranked, outOfScope: false, thresholds, source: LOCAL_ROUTER_SOURCE });
  };

  const prepare = (text: string): string | undefined => {
    if (typeof text !== 'string') throw new KeelError('bad_frame', 'a message to route must be a string');
    const clipped = text.length > maxInputChars ? text.slice(0, maxInputChars) : text;
    return normalizeText(clipped).length === 0 ? undefined : clipped;
  };
  const empty = (): RouteResult => outOfScope('empty_input', Object.freeze([]));

  return {
    intents,
    thresholds,
    temperature,
    report: trained.report,
    routeSync(text) {
      if (pipeline.source !== 'local') {
        throw new KeelError('invalid_option', `routeSync needs local features; this router uses '${pipeline.source}'`);
      }
      const clipped = prepare(text);
      return clipped === undefined ? empty() : decide(pipeline.featurize(clipped) as SparseVector);
    },
    async route(text, signal) {
      signal?.throwIfAborted();
      const clipped = prepare(text);
      if (clipped === undefined) return empty();
      const x = pipeline.featurize(clipped, signal);
      return decide(x instanceof Promise ? await x : x);
    },
    toJSON: () => encodeRouterModel(trained, maxRanked, maxInputChars),
  };
}
