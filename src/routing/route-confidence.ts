/**
 * Reading a {@link RouteResult} the way the orchestration does (DESIGN §4): out of scope (P5) →
 * "I can't help with that"; top two close (P2) → ask which one; low confidence (P1) → confirm the
 * guess or ask to rephrase (P3); otherwise go ahead.
 */
import type { RouteResult } from '../ports.js';

/** The four verdicts the fallback patterns branch on. */
export type RouteConfidence = 'out_of_scope' | 'ambiguous' | 'low_confidence' | 'confident';

/**
 * Classifies a route result against the thresholds it carries. "Ambiguous" needs the runner-up to
 * be in scope itself, so that the clarifying question offers two real options.
 *
 * @example
 * ```ts
 * const result = await router.route('cancel it');
 * switch (routeConfidence(result)) {
 *   case 'ambiguous': return askWhichOf(result.ranked[0], result.ranked[1]);
 *   case 'low_confidence': return confirm(result.ranked[0]);
 * }
 * ```
 */
export function routeConfidence(result: RouteResult): RouteConfidence {
  if (result.outOfScope) return 'out_of_scope';
  const [first, second] = result.ranked;
  if (!first) return 'out_of_scope';
  const { lowConfidence, closeMargin, outOfScope } = result.thresholds;
  if (second && first.score - second.score < closeMargin && second.score >= outOfScope) return 'ambiguous';
  if (first.score < lowConfidence) return 'low_confidence';
  return 'confident';
}
