import { describe, it, expect, beforeAll } from 'vitest';
import { isKeelError } from '../../../src/errors.js';
import type { Embedder } from '../../../src/ports.js';
import { createLocalRouter, restoreLocalRouter, type IntentDefinitions, type LocalRouter, type ValidationExample } from '../../../src/routing/index.js';
import { loadDemoDataset } from './demo-dataset.js';
import { createHashingEmbedder, type HashingEmbedder } from './hashing-embedder.js';

const PROBES: readonly [string, string][] = [
  ['where is my order right now?', 'order_status'],
  ['please refund me', 'refund_request'],
  ['I need to update the delivery address on my order', 'change_address'],
  ['I want to cancel the order I placed today', 'cancel_order'],
  ['what is your returns policy?', 'policy_question'],
  ['thank you so much for the help', 'thanks'],
  ['I want to speak to a human agent', 'human_agent'],
  ['no, I meant the other order', 'correct'],
  ["let's continue where we left off", 'resume'],
  ['never mind, forget it', 'cancel'],
];

describe('router over the Embedder port', () => {
  let intents: IntentDefinitions;
  let validation: ValidationExample[];
  let embedder: HashingEmbedder;
  let router: LocalRouter;

  beforeAll(async () => {
    ({ intents, validation } = await loadDemoDataset());
    embedder = createHashingEmbedder(384);
    router = await createLocalRouter({ intents, validation, embedder, embedBatchSize: 50 });
  });

  it('takes its features from the embedder, in batches', () => {
    const rows = intents.intents.reduce((n, i) => n + i.examples.length + 1, 0) + (intents.outOfScopeExamples?.length ?? 0);
    expect(embedder.textsEmbedded).toBe(rows + validation.length);
    expect(router.report.dimensions).toBe(384);
  });

  it('routes held-out phrasings with the same RouteResult shape as local features', async () => {
    let right = 0;
    for (const [text, intent] of PROBES) {
      const before = embedder.textsEmbedded;
      const result = await router.route(text);
      expect(embedder.textsEmbedded).toBe(before + 1);
      expect(result.source).toBe('local');
      expect(result.thresholds).toEqual(router.thresholds);
      if (!result.outOfScope && result.ranked[0]!.intent === intent) right++;
    }
    // A hashing embedder is a weak representation: allow one miss.
    expect(right).toBeGreaterThanOrEqual(9);
  });

  it('sends clearly out-of-scope messages to outOfScope', async () => {
    const texts = ['tell me a joke about dogs', 'how do I sort an array in javascript', 'what will the weather be like on saturday'];
    const verdicts = await Promise.all(texts.map((t) => router.route(t)));
    expect(verdicts.map((r) => r.outOfScope)).toEqual([true, true, true]);
  });

  it('passes the abort signal to the embedder and cannot route synchronously', async () => {
    const controller = new AbortController();
    await router.route('where is my order', controller.signal);
    expect(embedder.signals.at(-1)).toBe(controller.signal);
    controller.abort();
    await expect(router.route('where is my order', controller.signal)).rejects.toThrow();
    expect(() => router.routeSync('where is my order')).toThrow(expect.objectContaining({ code: 'invalid_option' }));
  });

  it('restores only with the embedder it was trained on', async () => {
    const json = JSON.parse(JSON.stringify(router)) as unknown;
    expect(() => restoreLocalRouter(json)).toThrow(expect.objectContaining({ code: 'invalid_option' }));
    expect(() => restoreLocalRouter(json, { embedder: createHashingEmbedder(256) })).toThrow(/hashing-384/);
    const restored = restoreLocalRouter(json, { embedder });
    expect(await restored.route('please refund me')).toEqual(await router.route('please refund me'));
  });

  it('combines n-grams and embeddings in hybrid mode', async () => {
    const hybrid = await createLocalRouter({ intents, validation, embedder: createHashingEmbedder(128), features: 'hybrid' });
    expect(hybrid.report.dimensions).toBeGreaterThan(128);
    for (const [text, intent] of PROBES.slice(0, 5)) expect((await hybrid.route(text)).ranked[0]!.intent).toBe(intent);
  });

  it('turns an embedder that breaks its promised dimensions into llm_bad_response', async () => {
    const liar: Embedder = { id: 'liar', dimensions: 8, embed: async (texts) => texts.map(() => new Float32Array(4)) };
    const small: IntentDefinitions = { intents: intents.intents.slice(0, 2) };
    await expect(createLocalRouter({ intents: small, embedder: liar })).rejects.toSatisfy((e) => isKeelError(e, 'llm_bad_response'));
  });
});
