/**
 * Text normalisation shared by the local embedder and the extractive summariser: tokenising,
 * contraction expansion, a light English stemmer and the fixed function-word list that stands in
 * for corpus IDF (function words are frequent everywhere, so they carry little meaning).
 */

/** Words so frequent in support conversations that they barely distinguish two texts. */
export const FUNCTION_WORDS: ReadonlySet<string> = new Set(
  (
    'a an the and or but if then so than that this these those there here it its i me my mine myself we us our ours ' +
    'you your yours he him his she her hers they them their theirs what which who whom whose when where why how ' +
    'is am are was were be been being do does did doing have has had having will would shall should can could may ' +
    'might must to of in on at by for with about into onto from up down out over under again further once ' +
    'all any both each few more most other some such only own same too very just also as until while ' +
    'please hi hello hey thanks thank ok okay yes yeah well like get got want need know tell let'
  ).split(' '),
);

/** Negations keep a middling weight: "card working" and "card not working" must stay apart. */
export const NEGATIONS: ReadonlySet<string> = new Set(['not', 'no', 'never', 'cannot', 'without', 'nor']);

const CONTRACTIONS: ReadonlyArray<[RegExp, string]> = [
  [/\bcan't\b/g, 'can not'],
  [/\bwon't\b/g, 'will not'],
  [/n't\b/g, ' not'],
  [/'re\b/g, ' are'],
  [/'m\b/g, ' am'],
  [/'ll\b/g, ' will'],
  [/'ve\b/g, ' have'],
  [/'d\b/g, ' would'],
  [/'s\b/g, ''],
];

const TOKEN = /[\p{L}\p{N}]+/gu;

/**
 * Lower-cases, folds accents and expands English contractions, then splits on anything that is
 * not a letter or a digit.
 *
 * @example
 * ```ts
 * tokenize("I can't log-in!"); // ['i', 'can', 'not', 'log', 'in']
 * ```
 */
export function tokenize(text: string): string[] {
  let t = text.normalize('NFKD').replace(/\p{M}+/gu, '').toLowerCase().replace(/[\u2018\u2019\u02bc`]/g, "'");
  if (t.includes("'")) for (const [pattern, replacement] of CONTRACTIONS) t = t.replace(pattern, replacement);
  return t.match(TOKEN) ?? [];
}

/**
 * A light suffix-stripping stemmer: enough to join "charge", "charged", "charges" and "charging"
 * without the over-stemming of a full Porter stemmer on short texts.
 *
 * @example
 * ```ts
 * stem('charging') === stem('charges'); // true
 * ```
 */
export function stem(word: string): string {
  let w = word;
  if (w.length <= 3 || /\d/.test(w)) return w;
  if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) w = w.slice(0, -1);
  if (w.endsWith('ing') && w.length > 5) w = w.slice(0, -3);
  else if (w.endsWith('ed') && w.length > 4) w = w.slice(0, -2);
  else if (w.endsWith('ly') && w.length > 5) w = w.slice(0, -2);
  // Undo the doubled consonant of "stopped"/"cancelled" so it meets "stop"/"cancel".
  if (w.length > 3 && w[w.length - 1] === w[w.length - 2] && !'aeious'.includes(w[w.length - 1]!)) w = w.slice(0, -1);
  if (w.endsWith('e') && w.length > 4) w = w.slice(0, -1);
  return w;
}
