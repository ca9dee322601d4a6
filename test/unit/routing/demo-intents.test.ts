import { describe, it, expect, beforeAll } from 'vitest';
import { createLocalRouter, routeConfidence, type IntentDefinitions, type LocalRouter, type ValidationExample } from '../../../src/routing/index.js';
import { loadDemoDataset } from './demo-dataset.js';

// Phrasings that appear neither in intents.json nor in its validation file.
const HELD_OUT: readonly [string, string][] = [
  ['where is my order right now?', 'order_status'],
  ['my parcel was supposed to come yesterday', 'order_status'],
  ['has order 99120 been shipped', 'order_status'],
  ['I want my money back for the broken lamp', 'refund_request'],
  ['please refund me', 'refund_request'],
  ['how do I get a refund for my order', 'refund_request'],
  ['I need to update the delivery address on my order', 'change_address'],
  ['can you send my package to a new address', 'change_address'],
  ['cancel my order please', 'cancel_order'],
  ['I want to cancel the order I placed today', 'cancel_order'],
  ['what is your returns policy?', 'policy_question'],
  ['do you offer free shipping', 'policy_question'],
  ['which cards do you accept', 'policy_question'],
  ['hi there, good morning', 'greeting'],
  ['thank you so much for the help', 'thanks'],
  ['goodbye and have a nice day', 'goodbye'],
  ['I want to speak to a human agent', 'human_agent'],
  ['can I talk to a real person please', 'human_agent'],
  ['yes, please', 'affirm'],
  ['yeah sure', 'affirm'],
  ['no thanks', 'deny'],
  ['nope', 'deny'],
  ['never mind, forget it', 'cancel'],
  ['stop', 'cancel'],
  ['no, I meant the other order', 'correct'],
  ['sorry, I meant the green one', 'correct'],
  ["let's continue where we left off", 'resume'],
  ['can we go back to my question', 'resume'],
];

const CLEARLY_OUT_OF_SCOPE = [
  'what will the weather be like on saturday',
  'tell me a joke about dogs',
  'how do I sort an array in javascript',
  'what is the square root of 144',
  'who painted the mona lisa',
  'recommend a podcast about history',
  'how do I fix a segmentation fault in c',
];

describe('demo store intents', () => {
  let intents: IntentDefinitions;
  let validation: ValidationExample[];
  let router: LocalRouter;

  beforeAll(async () => {
    ({ intents, validation } = await loadDemoDataset());
    router = await createLocalRouter({ intents, validation });
  });

  it('defines the support agent intents with 15-40 examples and a description each', () => {
    const names = intents.intents.map((i) => i.name);
    for (const required of ['order_status', 'refund_request', 'change_address', 'cancel_order', 'policy_question', 'human_agent', 'affirm', 'deny', 'cancel', 'correct', 'resume']) {
      expect(names).toContain(required);
    }
    expect(names).toEqual(expect.arrayContaining(['greeting', 'thanks', 'goodbye']));
    for (const intent of intents.intents) {
      expect(intent.examples.length, intent.name).toBeGreaterThanOrEqual(15);
      expect(intent.examples.length, intent.name).toBeLessThanOrEqual(40);
      expect(intent.description.length, intent.name).toBeGreaterThan(20);
    }
  });

  it('keeps the validation set apart from the training examples and covers out of scope', () => {
    const training = new Set(intents.intents.flatMap((i) => i.examples.map((e) => e.toLowerCase())));
    for (const v of validation) expect(training.has(v.text.toLowerCase()), v.text).toBe(false);
    expect(validation.filter((v) => v.intent === null).length).toBeGreaterThanOrEqual(10);
  });

  it('sets its thresholds on the validation file', () => {
    expect(router.report.calibratedOn).toBe('validation');
    expect(router.report.heldOut).toBe(validation.length);
    const { outOfScope, lowConfidence, closeMargin } = router.thresholds;
    expect(lowConfidence).toBeGreaterThanOrEqual(outOfScope);
    for (const t of [outOfScope, lowConfidence, closeMargin]) {
      expect(t).toBeGreaterThanOrEqual(0);
      expect(t).toBeLessThanOrEqual(1);
    }
  });

  it.each(HELD_OUT)('routes the held-out phrasing %j to %s', async (text, intent) => {
    const result = await router.route(text);
    expect(result.outOfScope).toBe(false);
    expect(result.ranked[0]!.intent).toBe(intent);
    expect(result.source).toBe('local');
  });

  it.each(CLEARLY_OUT_OF_SCOPE)('says "I don\'t know" to %j', async (text) => {
    const result = await router.route(text);
    expect(result.outOfScope).toBe(true);
    expect(['below_threshold', 'oos_class']).toContain(result.outOfScopeReason);
    expect(routeConfidence(result)).toBe('out_of_scope');
  });

  it('answers empty or punctuation-only input as empty_input', async () => {
    for (const text of ['', '   ', '?!…']) {
      const result = await router.route(text);
      expect(result).toMatchObject({ outOfScope: true, outOfScopeReason: 'empty_input', ranked: [] });
    }
  });
});
