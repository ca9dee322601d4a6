/**
 * A small local sentiment lexicon: enough to notice a customer getting angry ("this is
 * ridiculous", "worst service ever") without any model. Scores are in [-1, 1]; negations flip the
 * next word, intensifiers and exclamation marks strengthen.
 */

const NEGATIVE: Readonly<Record<string, number>> = {
  angry: -0.8, annoyed: -0.6, annoying: -0.6, awful: -0.9, bad: -0.5, broken: -0.3, complain: -0.5, complaint: -0.5,
  disappointed: -0.7, disappointing: -0.7, disgusting: -0.9, fed: -0.4, frustrated: -0.8, frustrating: -0.8, furious: -1,
  garbage: -0.9, hate: -0.9, horrible: -0.9, incompetent: -0.9, joke: -0.4, lied: -0.8, liar: -0.9, mad: -0.6,
  nightmare: -0.9, pathetic: -0.9, poor: -0.5, rediculous: -0.8, ridiculous: -0.8, rubbish: -0.8, scam: -1, shame: -0.6,
  shocking: -0.7, sick: -0.5, stupid: -0.8, terrible: -0.9, unacceptable: -0.9, upset: -0.7, useless: -0.9, waste: -0.7,
  worse: -0.7, worst: -1, wtf: -0.9, unhappy: -0.7, sucks: -0.8, fraud: -1, never: -0.2, again: -0.1,
};

const POSITIVE: Readonly<Record<string, number>> = {
  amazing: 0.9, appreciate: 0.6, awesome: 0.9, brilliant: 0.9, excellent: 0.9, fantastic: 0.9, glad: 0.6, good: 0.5,
  great: 0.7, happy: 0.7, helpful: 0.7, love: 0.8, lovely: 0.7, nice: 0.5, perfect: 0.8, pleased: 0.6, thank: 0.5,
  thanks: 0.5, wonderful: 0.9,
};

const NEGATIONS = new Set(['not', 'no', "don't", 'dont', "isn't", 'isnt', "wasn't", 'wasnt', 'never', "didn't", 'didnt', 'hardly']);
const INTENSIFIERS = new Set(['very', 'so', 'really', 'extremely', 'totally', 'completely', 'absolutely', 'utterly']);

/**
 * Scores the sentiment of a message in [-1, 1] (0 when no lexicon word occurs).
 *
 * @example
 * ```ts
 * scoreSentiment('this is ridiculous, worst service ever!'); // ≈ -0.9
 * scoreSentiment('thanks, that was helpful'); // > 0
 * ```
 */
export function scoreSentiment(text: string): number {
  const words = text.toLowerCase().match(/[a-z']+/g) ?? [];
  let total = 0;
  let hits = 0;
  let flip = false;
  let boost = 1;
  for (const word of words) {
    if (NEGATIONS.has(word)) {
      flip = true;
      continue;
    }
    if (INTENSIFIERS.has(word)) {
      boost = 1.3;
      continue;
    }
    const value = NEGATIVE[word] ?? POSITIVE[word];
    if (value !== undefined && Math.abs(value) >= 0.3) {
      total += (flip ? -0.5 * value : value) * boost;
      hits++;
    }
    flip = false;
    boost = 1;
  }
  if (hits === 0) return 0;
  const shouting = (text.match(/!/g)?.length ?? 0) >= 2 || (text.length > 12 && text === text.toUpperCase() && /[A-Z]/.test(text));
  const score = (total / Math.sqrt(hits)) * (shouting ? 1.2 : 1);
  return Math.max(-1, Math.min(1, Math.round(score * 1000) / 1000));
}
