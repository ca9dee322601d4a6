import { describe, it, expect, beforeAll } from 'vitest';
import { isKeelError } from '../../../src/errors.js';
import {
  createLocalRouter,
  restoreLocalRouter,
  resolveRouterOptions,
  routeConfidence,
  type IntentDefinitions,
  type LocalRouter,
} from '../../../src/routing/index.js';

const INTENTS: IntentDefinitions = {
  intents: [
    {
      name: 'book_flight',
      description: 'Book a plane ticket or flight.',
      examples: ['book a flight to paris', 'I need a plane ticket to rome', 'get me a flight tomorrow', 'reserve a seat on a flight', 'fly me to berlin', 'buy airline tickets', 'find flights to london', 'I want to fly to madrid next week'],
    },
    {
      name: 'hotel',
      description: 'Book a hotel room.',
      examples: ['book a hotel room', 'I need a room for two nights', 'find me a hotel in paris', 'reserve a hotel near the station', 'get a double room', 'any hotels available in rome', 'I want to stay at a hotel', 'book accommodation for friday'],
    },
    {
      name: 'weather',
      description: 'Ask about the weather forecast.',
      examples: ['what is the weather like', 'will it rain tomorrow', 'is it sunny in paris', 'weather forecast for the weekend', 'how cold is it outside', 'do I need an umbrella today', 'temperature in rome', 'is it going to snow'],
    },
  ],
};

const VALIDATION = [
  { text: 'book me a flight to oslo', intent: 'book_flight' },
  { text: 'plane tickets to vienna please', intent: 'book_flight' },
  { text: 'a hotel room for tonight', intent: 'hotel' },
  { text: 'find a place to stay in berlin', intent: 'hotel' },
  { text: 'will it be windy tomorrow', intent: 'weather' },
  { text: "what's the forecast", intent: 'weather' },
  { text: 'how do I bake bread', intent: null },
  { text: 'play some jazz music', intent: null },
];

describe('createLocalRouter', () => {
  let router: LocalRouter;
  beforeAll(async () => {
    router = await createLocalRouter({ intents: INTENTS, validation: VALIDATION });
  });

  it('ranks every intent best first with scores that sum to at most 1', async () => {
    const result = await router.route('please book a flight to lisbon');
    expect(result.ranked.map((r) => r.intent)).toEqual(expect.arrayContaining(['book_flight', 'hotel', 'weather']));
    expect(result.ranked[0]!.intent).toBe('book_flight');
    for (let i = 1; i < result.ranked.length; i++) expect(result.ranked[i - 1]!.score).toBeGreaterThanOrEqual(result.ranked[i]!.score);
    const total = result.ranked.reduce((sum, r) => sum + r.score, 0);
    expect(total).toBeLessThanOrEqual(1 + 1e-6);
    expect(result.thresholds).toEqual(router.thresholds);
    expect(result.source).toBe('local');
  });

  it('caps the ranked list at maxRanked', async () => {
    const small = await createLocalRouter({ intents: INTENTS, validation: VALIDATION, maxRanked: 1 });
    expect((await small.route('hotel room')).ranked).toHaveLength(1);
  });

  it('routes synchronously with local features, identically to route()', async () => {
    const text = 'is it raining in paris';
    expect(router.routeSync(text)).toEqual(await router.route(text));
  });

  it('marks a message made only of unseen words as below_threshold', async () => {
    const result = await router.route('zxqv wplk');
    expect(result.outOfScope).toBe(true);
    expect(result.outOfScopeReason).toBe('below_threshold');
  });

  it('rejects a non-string message as bad_frame and honours an aborted signal', async () => {
    await expect(router.route(42 as unknown as string)).rejects.toSatisfy((e) => isKeelError(e, 'bad_frame'));
    const controller = new AbortController();
    controller.abort();
    await expect(router.route('book a flight', controller.signal)).rejects.toThrow();
  });

  it('survives a JSON round trip with identical decisions', async () => {
    const restored = restoreLocalRouter(JSON.parse(JSON.stringify(router)));
    expect(restored.thresholds).toEqual(router.thresholds);
    expect(restored.temperature).toBe(router.temperature);
    for (const text of ['fly to rome', 'a room for two', 'rain tomorrow?', 'how do I knit a scarf', '']) {
      expect(await restored.route(text)).toEqual(await router.route(text));
    }
  });

  it('refuses a damaged serialised model with invalid_option', () => {
    const json = JSON.parse(JSON.stringify(router)) as Record<string, unknown>;
    expect(() => restoreLocalRouter({ ...json, format: 'other' })).toThrow(expect.objectContaining({ code: 'invalid_option' }));
    expect(() => restoreLocalRouter({ ...json, intents: ['a', 'b'] })).toThrow(expect.objectContaining({ code: 'invalid_option' }));
    expect(() => restoreLocalRouter(null)).toThrow(expect.objectContaining({ code: 'invalid_option' }));
  });

  it('is reproducible: the same seed gives the same model', async () => {
    const again = await createLocalRouter({ intents: INTENTS, validation: VALIDATION });
    expect(JSON.stringify(again)).toBe(JSON.stringify(router));
  });

  it('calibrates on cross-validation when no validation set is given', async () => {
    const cv = await createLocalRouter({ intents: INTENTS, crossValidationFolds: 4 });
    expect(cv.report.calibratedOn).toBe('cross_validation');
    expect(cv.report.heldOut).toBe(24); // every example held out once; descriptions always train
    expect((await cv.route('book a flight to rome')).ranked[0]!.intent).toBe('book_flight');
  });

  it('trains an explicit out-of-scope class from outOfScopeExamples', async () => {
    const withOos = await createLocalRouter({
      intents: { ...INTENTS, outOfScopeExamples: ['tell me a joke', 'who won the game', 'how do I cook rice', 'play a song', 'what is 2 plus 2', 'write some code'] },
      validation: VALIDATION,
    });
    const result = await withOos.route('tell me a funny joke');
    expect(result.outOfScope).toBe(true);
    expect(result.outOfScopeReason).toBe('oos_class');
    // The out-of-scope class is a decision, never a ranked intent.
    expect(result.ranked.map((r) => r.intent).sort()).toEqual(['book_flight', 'hotel', 'weather']);
    expect((await withOos.route('book a flight to rome')).outOfScope).toBe(false);
  });

  it.each(['softmax', 'hinge', 'centroid', 'ensemble'] as const)('works with the %s classifier', async (classifier) => {
    const r = await createLocalRouter({ intents: INTENTS, validation: VALIDATION, classifier });
    expect((await r.route('find me a hotel room')).ranked[0]!.intent).toBe('hotel');
    expect((await r.route('is it going to rain')).ranked[0]!.intent).toBe('weather');
  });

  it('checks definitions and validation built in code like a file', async () => {
    await expect(createLocalRouter({ intents: INTENTS, validation: [{ text: 'x', intent: 'nope' }] })).rejects.toMatchObject({
      code: 'invalid_option',
      message: expect.stringContaining('options.validation: examples[0].intent names an unknown intent'),
    });
    const duplicate = { intents: [INTENTS.intents[0]!, INTENTS.intents[0]!] };
    await expect(createLocalRouter({ intents: duplicate })).rejects.toMatchObject({ code: 'invalid_option', details: { path: 'intents[1].name' } });
  });
});

describe('resolveRouterOptions', () => {
  it('applies the documented defaults', () => {
    const r = resolveRouterOptions({ intents: INTENTS });
    expect(r).toMatchObject({ features: 'local', classifier: 'hinge', epochs: 12, maxRanked: 5, maxAccuracyLoss: 0.01 });
    expect(Object.isFrozen(r)).toBe(true);
  });

  it.each([
    [{ epochs: 0 }, 'epochs'],
    [{ classifier: 'forest' }, 'classifier'],
    [{ maxAccuracyLoss: 2 }, 'maxAccuracyLoss'],
    [{ features: 'embedder' }, 'embedder'],
    [{ text: { charNgramMin: 4, charNgramMax: 3 } }, 'text.charNgramMax'],
    [{ text: { wordNgramMax: 0, charNgramMax: 0 } }, 'text'],
    [{ maxRanked: 1.5 }, 'maxRanked'],
  ])('throws a TypeError naming the bad option for %j', (patch, name) => {
    expect(() => resolveRouterOptions({ intents: INTENTS, ...(patch as object) })).toThrow(new RegExp(`invalid option "${name.replace('.', '\\.')}"`));
    expect(() => resolveRouterOptions({ intents: INTENTS, ...(patch as object) })).toThrow(TypeError);
  });
});

describe('routeConfidence', () => {
  const thresholds = { outOfScope: 0.3, lowConfidence: 0.6, closeMargin: 0.15 };
  const result = (scores: number[], outOfScope = false) => ({
    ranked: scores.map((score, i) => ({ intent: `i${i}`, score })),
    outOfScope,
    thresholds,
    source: 'local',
  });
  it('maps scores to the fallback patterns', () => {
    expect(routeConfidence(result([0.9, 0.05]))).toBe('confident');
    expect(routeConfidence(result([0.5, 0.1]))).toBe('low_confidence');
    expect(routeConfidence(result([0.45, 0.4]))).toBe('ambiguous');
    // A close runner-up that is itself out of scope is not a real alternative.
    expect(routeConfidence(result([0.35, 0.25]))).toBe('low_confidence');
    expect(routeConfidence(result([0.2, 0.1], true))).toBe('out_of_scope');
  });
});
