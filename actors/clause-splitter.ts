/**
 * Splits a message that may hold several requests ("cancel my order and refund me") into clauses,
 * for the planner's multi-intent detection. Conservative on purpose: a clause must stay long
 * enough to be routed on its own, otherwise the message is one clause.
 */

const SEPARATORS = /\s*(?:;|,?\s+and then\s+|,?\s+then\s+|,?\s+and also\s+|,?\s+also\s+|,?\s+plus\s+|,?\s+and\s+|\.\s+|,\s+(?=(?:please\s+)?(?:cancel|refund|change|update|track|where|what|when|how|can|could|i\s+want|i'd\s+like)\b))/i;
const MIN_WORDS = 2;

/**
 * Returns the clauses of `text` (one element when it does not split cleanly).
 *
 * @example
 * ```ts
 * splitClauses('cancel my order and refund me'); // ['cancel my order', 'refund me']
 * splitClauses('where is my order?'); // ['where is my order?']
 * ```
 */
export function splitClauses(text: string, maxClauses = 5): string[] {
  const parts = text
    .split(SEPARATORS)
    .map((p) => p.trim().replace(/^[,.;]+|[,.;]+$/g, '').trim())
    .filter((p) => p !== '');
  if (parts.length < 2) return [text.trim()];
  // "salt and pepper": a part too short to be a request means this "and" joined words, not requests.
  if (parts.some((p) => p.split(/\s+/).length < MIN_WORDS && !/^\w+\s*me$/i.test(p))) {
    const merged: string[] = [];
    for (const part of parts) {
      if (merged.length > 0 && part.split(/\s+/).length < MIN_WORDS) merged[merged.length - 1] += ` and ${part}`;
      else merged.push(part);
    }
    return merged.length >= 2 ? merged.slice(0, maxClauses) : [text.trim()];
  }
  return parts.slice(0, maxClauses);
}
