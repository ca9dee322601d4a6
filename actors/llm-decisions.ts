/**
 * Collects the fallback-ladder decisions of one LLM call so the actor can hand them back to the
 * chart (an actor cannot emit on the session actor; the chart emits what the output carries).
 */
import type { LlmClient } from '../src/ports.js';
import type { Json } from '../src/types.js';
import type { DecisionNote } from '../machines/actor-contracts.js';

interface WithDecisions {
  withDecisions(listener: (d: { kind: string; reason: string; data: Readonly<Record<string, Json>> }) => void): LlmClient;
}

const KINDS = new Set(['retry', 'fallback', 'error', 'alert']);

/**
 * Binds `llm` to a list of notes when it can report its ladder (src/llm's resilient client does);
 * any other client is used as it is.
 *
 * @example
 * ```ts
 * const notes: DecisionNote[] = [];
 * const client = collectLlmDecisions(llm, notes);
 * await client.complete(request, signal); // notes now hold retry / fallback steps
 * ```
 */
export function collectLlmDecisions(llm: LlmClient, notes: DecisionNote[]): LlmClient {
  const w = llm as Partial<WithDecisions>;
  if (typeof w.withDecisions !== 'function') return llm;
  return w.withDecisions((d) => {
    const kind = KINDS.has(d.kind) ? (d.kind as DecisionNote['kind']) : 'fallback';
    notes.push({ kind, reason: `llm:${d.reason}`, data: { ...d.data } });
  });
}

/** True when a response came from the offline last rung rather than a model. */
export function fromLocalRung(provider: string): boolean {
  return provider === 'local' || provider.startsWith('local:');
}
