/**
 * The knowledge index grounds answers only above a score: on a set of customer questions about the
 * demo store's policies (and some it cannot answer), enough are grounded in the right article,
 * few in a wrong one, and none of the unanswerable ones.
 */
import { describe, expect, it } from 'vitest';
import { createKnowledgeIndex, stemWords, type KnowledgeArticle } from '../../../actors/knowledge-index.js';
import { createKnowledgeSearchActor } from '../../../actors/knowledge-search.actor.js';
import { createActor, toPromise } from 'xstate';
import knowledgeJson from '../../../src/demo/knowledge-base.json' with { type: 'json' };

const SYNONYMS = { refund: ['money back', 'reimburse'], return: ['send back'], delivery: ['shipping', 'postage', 'courier'], cost: ['price', 'fee', 'how much'] };
const MIN_SCORE = 0.25;

const QUESTIONS: readonly (readonly [string, string | null])[] = [
  ['what is your return policy', 'returns'], ['how many days do I have to return something', 'returns'], ['do I have to pay for the return label', 'returns'], ['can I return sale items', 'returns'],
  ['how long do refunds take', 'refunds'], ['when will I get my money back', 'refunds'], ['where does the refund go', 'refunds'],
  ['how much is shipping', 'shipping'], ['how long does delivery take', 'shipping'], ['do you offer express delivery', 'shipping'], ['is shipping free', 'shipping'], ['when will my order be dispatched', 'shipping'],
  ['do you ship to europe', 'international'], ['do I have to pay customs', 'international'], ['can you deliver to the usa', 'international'],
  ['what is the warranty', 'warranty'], ['my item arrived damaged what do I do', 'warranty'], ['is there a guarantee', 'warranty'],
  ['can I pay with paypal', 'payment'], ['do you take klarna', 'payment'], ['when is my card charged', 'payment'],
  ['how do you use my data', 'privacy'], ['how do I unsubscribe from marketing emails', 'privacy'], ['can you delete my data', 'privacy'],
  ['can I still cancel after it ships', 'order-changes'], ['until when can I change the delivery address', 'order-changes'],
  ['how long are gift cards valid', 'gift-cards'], ['my discount code does not work', 'gift-cards'], ['can I use two promo codes', 'gift-cards'],
  ['what are your opening hours', 'contact'], ['what is your phone number', 'contact'], ['how can I email you', 'contact'],
  ['which size should I take', 'sizing'], ['is there a size guide', 'sizing'], ['can I exchange for another size', 'sizing'],
  ['do you sell bicycles', null], ['what is the meaning of life', null], ['who won the football', null], ['are you a robot', null], ['tell me a joke', null], ['can I bring my dog to the store', null], ['do you have a student discount', null],
];

const articles = (knowledgeJson as { articles: KnowledgeArticle[] }).articles;

describe('knowledge index', () => {
  const index = createKnowledgeIndex(articles, { synonyms: SYNONYMS });

  it('grounds most policy questions in the right article, few in a wrong one, and no unanswerable one', () => {
    let right = 0;
    let wrong = 0;
    let invented = 0;
    for (const [question, want] of QUESTIONS) {
      const best = index.search(question, 1)[0];
      if (!best || best.score < MIN_SCORE) continue;
      const article = best.id.split('#')[0];
      if (want === null) invented++;
      else if (article === want) right++;
      else wrong++;
    }
    const answerable = QUESTIONS.filter(([, want]) => want !== null).length;
    expect(invented).toBe(0);
    expect(wrong).toBeLessThanOrEqual(2);
    expect(right / answerable).toBeGreaterThanOrEqual(0.6);
  });

  it('ranks the right article first for most questions, whatever the score', () => {
    const top = QUESTIONS.filter(([q, want]) => want !== null && index.search(q, 1)[0]?.id.split('#')[0] === want).length;
    expect(top).toBeGreaterThanOrEqual(30);
  });

  it('words the base has never seen lower the score (a "student discount" is not a discount code)', () => {
    const plain = index.search('discount code', 1)[0]!;
    const student = index.search('student discount code', 1)[0]!;
    expect(student.id).toBe(plain.id);
    expect(student.score).toBeLessThan(plain.score);
  });

  it('synonyms find articles in other words; empty or stop-word-only questions find nothing', () => {
    expect(index.search('money back', 1)[0]?.id).toMatch(/^refunds#/);
    expect(index.search('', 3)).toEqual([]);
    expect(index.search('what is it', 3)).toEqual([]);
    expect(stemWords('Refunds are processed')).toEqual(['refund', 'process']);
  });

  it('rejects malformed articles with a TypeError', () => {
    expect(() => createKnowledgeIndex([{ id: 'x', title: 'X' } as unknown as KnowledgeArticle])).toThrow(TypeError);
    expect(() => createKnowledgeIndex('nope' as unknown as KnowledgeArticle[])).toThrow(TypeError);
  });
});

describe('knowledge search actor', () => {
  it('returns the hits with the grounding threshold, and validates its options', async () => {
    const index = createKnowledgeIndex(articles);
    const actor = createActor(createKnowledgeSearchActor({ index, minScore: 0.3 }), { input: { query: 'can I pay with paypal', limit: 2 } }).start();
    const out = await toPromise(actor);
    expect(out.minScore).toBe(0.3);
    expect(out.hits[0]?.id).toMatch(/^payment#/);
    expect(out.hits.length).toBeLessThanOrEqual(2);
    expect(() => createKnowledgeSearchActor({ index, minScore: 0 })).toThrow(/minScore/);
    expect(() => createKnowledgeSearchActor({ index: {} as never })).toThrow(/index/);
  });
});
