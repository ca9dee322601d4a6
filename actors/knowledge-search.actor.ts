/**
 * The `searchKnowledge` actor: finds the knowledge-base passages that may ground an answer, and
 * says which score a passage needs to be used at all.
 */
import { fromPromise } from 'xstate';
import type { KnowledgeHit, KnowledgeInput, KnowledgeOutput } from '../machines/actor-contracts.js';
import type { KnowledgeIndex } from './knowledge-index.js';

/** Anything that finds passages: the local index, or a vector search. */
export interface KnowledgeSource {
  search(query: string, limit?: number): KnowledgeHit[] | Promise<KnowledgeHit[]>;
}

/**
 * Creates the `searchKnowledge` actor logic. `minScore` is the grounding threshold: below it the
 * agent says "I don't know" (default 0.25, tuned on the demo knowledge base).
 *
 * @example
 * ```ts
 * machine.provide({ actors: { searchKnowledge: createKnowledgeSearchActor({ index, minScore: 0.3 }) } });
 * ```
 */
export function createKnowledgeSearchActor(options: { readonly index: KnowledgeIndex | KnowledgeSource; readonly minScore?: number }) {
  const minScore = options.minScore ?? 0.25;
  if (typeof options?.index?.search !== 'function') throw new TypeError('option index must implement search()');
  if (typeof minScore !== 'number' || !(minScore > 0 && minScore <= 1)) throw new TypeError('option minScore must be in (0, 1]');
  return fromPromise<KnowledgeOutput, KnowledgeInput>(async ({ input }) => {
    const hits = await options.index.search(typeof input?.query === 'string' ? input.query : '', input?.limit ?? 3);
    return { hits: hits.map((h) => ({ id: h.id, title: h.title, text: h.text, score: h.score })), minScore };
  });
}
