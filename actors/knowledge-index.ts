/**
 * A small lexical knowledge-base index: articles are split into passages, weighted with TF-IDF
 * over stemmed words and word pairs. A passage's score is the geometric mean of its cosine
 * similarity to the question and the share of the question's words it covers (words the base has
 * never seen count as uncovered). Scores are in [0, 1] and comparable across queries, so one
 * threshold decides whether a passage may ground an answer.
 */
import type { KnowledgeHit } from '../machines/actor-contracts.js';

/** One knowledge-base article; paragraphs (blank-line separated) become passages. */
export interface KnowledgeArticle {
  readonly id: string;
  readonly title: string;
  readonly text: string;
  /** Extra words that find the article ("money back" for refunds). */
  readonly tags?: readonly string[];
}

/** A searchable index. */
export interface KnowledgeIndex {
  search(query: string, limit?: number): KnowledgeHit[];
  readonly passages: number;
}

const STOPWORDS = new Set(
  'a an and are as at be by can could do does did for from have has how i if in is it its me my of on or our please the this that to was we what when where which who why will with would you your yours i\'m im can\'t cant about any there their them they us also just so than then'.split(' '),
);

/** Lower-cases, drops stop words and strips common English suffixes. */
export function stemWords(text: string): string[] {
  const words = text.toLowerCase().normalize('NFKD').replace(/[\u0300-\u036f]/g, '').match(/[a-z0-9]+/g) ?? [];
  return words.filter((w) => !STOPWORDS.has(w)).map(stem);
}

function stem(word: string): string {
  if (word.length <= 4) return word;
  if (word.endsWith('ies')) return `${word.slice(0, -3)}y`;
  if (word.endsWith('ing') && word.length > 5) return word.slice(0, -3);
  if (word.endsWith('ed') && word.length > 5) return word.slice(0, -2);
  if (word.endsWith('es') && word.length > 5) return word.slice(0, -2);
  if (word.endsWith('s') && !word.endsWith('ss')) return word.slice(0, -1);
  return word;
}

function terms(text: string): string[] {
  const words = stemWords(text);
  const pairs = words.slice(1).map((w, i) => `${words[i]}_${w}`);
  return [...words, ...pairs];
}

type Vector = Map<string, number>;

function normalize(v: Vector): Vector {
  let norm = 0;
  for (const x of v.values()) norm += x * x;
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  for (const [k, x] of v) v.set(k, x * scale);
  return v;
}

/**
 * Builds an index. `synonyms` expands query words (`{ refund: ['money back'] }` lets "money back"
 * find refund passages).
 *
 * @example
 * ```ts
 * const index = createKnowledgeIndex([{ id: 'returns', title: 'Returns', text: 'You can return items within 30 days.' }]);
 * index.search('how long can I return something'); // [{ id: 'returns#0', score: 0.4, ... }]
 * ```
 */
export function createKnowledgeIndex(
  articles: readonly KnowledgeArticle[],
  options: { readonly synonyms?: Readonly<Record<string, readonly string[]>> } = {},
): KnowledgeIndex {
  if (!Array.isArray(articles)) throw new TypeError('articles must be an array');
  const list: readonly KnowledgeArticle[] = articles;
  const passages: { id: string; title: string; text: string; terms: string[] }[] = [];
  for (const article of list) {
    if (typeof article?.id !== 'string' || typeof article.text !== 'string' || typeof article.title !== 'string') {
      throw new TypeError('every article needs a string id, title and text');
    }
    const paragraphs = article.text.split(/\n\s*\n/).map((p) => p.trim()).filter((p) => p !== '');
    paragraphs.forEach((paragraph, i) => {
      const extra = `${article.title} ${(article.tags ?? []).join(' ')}`;
      passages.push({ id: `${article.id}#${i}`, title: article.title, text: paragraph, terms: [...terms(paragraph), ...terms(extra)] });
    });
  }
  const df = new Map<string, number>();
  for (const p of passages) for (const t of new Set(p.terms)) df.set(t, (df.get(t) ?? 0) + 1);
  const idf = (t: string) => Math.log(1 + passages.length / (df.get(t) ?? 0.5));
  const weigh = (ts: readonly string[]): Vector => {
    const tf = new Map<string, number>();
    for (const t of ts) tf.set(t, (tf.get(t) ?? 0) + 1);
    const v: Vector = new Map();
    for (const [t, n] of tf) if (df.has(t)) v.set(t, (1 + Math.log(n)) * idf(t));
    return normalize(v);
  };
  const vectors = passages.map((p) => weigh(p.terms));
  const synonyms = new Map<string, string[]>();
  for (const [word, alts] of Object.entries(options.synonyms ?? {})) {
    for (const alt of alts) {
      const key = stemWords(alt).join('_');
      synonyms.set(key, [...(synonyms.get(key) ?? []), ...stemWords(word)]);
    }
  }
  /** Query terms and their weights: words by idf (unknown words count too), pairs half, synonyms less. */
  const queryWeights = (query: string) => {
    const own = [...new Set(terms(query))];
    const words = stemWords(query);
    const weights = new Map<string, number>();
    /** For each word of the question, the synonyms it stands for ("how much" → cost). */
    const standsFor = new Map<string, string[]>();
    for (const t of own) weights.set(t, (t.includes('_') ? 0.5 : 1) * idf(t));
    for (let n = 1; n <= 3; n++) {
      for (let i = 0; i + n <= words.length; i++) {
        for (const alt of synonyms.get(words.slice(i, i + n).join('_')) ?? []) {
          if (!weights.has(alt)) weights.set(alt, 0.7 * idf(alt));
          for (const word of words.slice(i, i + n)) standsFor.set(word, [...(standsFor.get(word) ?? []), alt]);
        }
      }
    }
    let ownNorm = 0;
    for (const t of own) ownNorm += (weights.get(t) ?? 0) ** 2;
    return { own, weights, standsFor, ownNorm };
  };
  return {
    passages: passages.length,
    search(query, limit = 3) {
      const { own, weights, standsFor, ownNorm } = queryWeights(query);
      let norm = 0;
      for (const x of weights.values()) norm += x * x;
      if (norm === 0 || ownNorm === 0) return [];
      const queryNorm = Math.sqrt(norm);
      return vectors
        .map((v, i) => {
          // Cosine alone favours short passages and ignores words the base has never seen; the
          // coverage of the question's own words makes "a student discount" not match "discount codes".
          let dot = 0;
          for (const [t, x] of weights) dot += (x / queryNorm) * (v.get(t) ?? 0);
          let covered = 0;
          for (const t of own) {
            if (v.has(t) || (standsFor.get(t) ?? []).some((alt) => v.has(alt))) covered += (weights.get(t) ?? 0) ** 2;
          }
          const coverage = Math.min(1, covered / ownNorm);
          const p = passages[i]!;
          return { id: p.id, title: p.title, text: p.text, score: Math.round(Math.sqrt(coverage * dot) * 1000) / 1000 };
        })
        .filter((h) => h.score > 0)
        .sort((a, b) => b.score - a.score)
        .slice(0, Math.max(1, limit));
    },
  };
}
