/**
 * Steps of grounded answers and small talk. A question is answered only from a knowledge-base
 * passage scoring at least the threshold; otherwise the agent says it does not know, with a
 * typed reason, and offers a human. An LLM (when configured) may rephrase the grounded draft,
 * never replace it with something of its own.
 */
import type { Json } from '../src/types.js';
import type { DraftInput, DraftOutput, KnowledgeInput, KnowledgeOutput } from './actor-contracts.js';
import type { AgentContext } from './agent-context.js';
import type { AgentEvent } from './agent-events.js';
import { outputOf } from './agent-setup.js';
import { draftInput } from './draft-input.js';
import type { ResolvedAgentSpec } from './resolve-agent-spec.js';
import { step, type StepResult } from './step.js';
import { renderTemplate } from './template.js';

/** A grounded answer from the best passage, with its source. */
function groundedDraft(hits: readonly { title: string; text: string }[]): string {
  const best = hits[0];
  return best ? `${best.text} (Source: ${best.title})` : '';
}

/**
 * Creates the answer steps of an agent.
 *
 * @example
 * ```ts
 * const answers = createAnswerSteps(spec);
 * invoke: { src: 'searchKnowledge', input: ({ context }) => answers.knowledgeInput(context) }
 * ```
 */
export function createAnswerSteps(spec: ResolvedAgentSpec) {
  const p = spec.policies;
  const max = p.maxTranscriptEntries;
  const r = spec.replies;

  const keyOf = (ctx: AgentContext) => `${ctx.turn?.key ?? ctx.session}:draft`;

  const answerInput = (ctx: AgentContext): DraftInput =>
    draftInput(ctx, {
      purpose: 'answer',
      draft: groundedDraft(ctx.knowledge),
      grounding: ctx.knowledge.map((h) => ({ id: h.id, title: h.title, text: h.text, score: h.score })),
      allowedTools: [...spec.answerTools],
      key: keyOf(ctx),
    });

  const smalltalkDraft = (ctx: AgentContext): string => renderTemplate(spec.smalltalk[ctx.verdict?.intent ?? ''] ?? r.acknowledge, { capabilities: spec.capabilities });

  const smalltalkInput = (ctx: AgentContext): DraftInput =>
    draftInput(ctx, { purpose: 'smalltalk', draft: smalltalkDraft(ctx), grounding: { intent: ctx.verdict?.intent ?? '' }, allowedTools: [], key: keyOf(ctx) });

  const sayDraft = (ctx: AgentContext, event: AgentEvent, fallback: string, meta: Record<string, Json>): StepResult => {
    const out = (event as { output?: DraftOutput }).output;
    const text = typeof out?.text === 'string' && out.text.trim() !== '' ? out.text : fallback;
    const s = step(ctx, max).notes(out?.decisions);
    if (ctx.turn && typeof out?.toolCalls === 'number' && out.toolCalls > 0) s.set({ turn: { ...ctx.turn, toolCalls: ctx.turn.toolCalls + out.toolCalls } });
    return s.say(text, { ...meta, source: out?.source ?? 'template' }).done();
  };

  return {
    answerInput,
    smalltalkInput,
    /** Input of the knowledge search. */
    knowledgeInput(ctx: AgentContext): KnowledgeInput {
      return { query: ctx.verdict?.text ?? ctx.turn?.text ?? '', limit: p.knowledgeHits };
    },
    /** Keeps the passages above the threshold; none means "I don't know". */
    knowledgeDone(ctx: AgentContext, event: AgentEvent): StepResult {
      const out = outputOf<KnowledgeOutput | undefined>(event);
      const minScore = typeof out?.minScore === 'number' ? out.minScore : 1;
      const hits = (Array.isArray(out?.hits) ? out.hits : []).filter((h) => typeof h?.text === 'string' && typeof h.score === 'number');
      const grounded = hits.filter((h) => h.score >= minScore);
      const best = hits[0];
      const s = step(ctx, max).set({ knowledge: grounded });
      if (grounded.length > 0) {
        return s.decide('recall', 'knowledge_hit', { best: best?.id ?? null, score: best?.score ?? 0, minScore, sources: grounded.map((h) => h.id) }).done();
      }
      return s.decide('fallback', 'no_source_above_threshold', { best: best?.id ?? null, score: best?.score ?? 0, minScore }).done();
    },
    /** The knowledge search failed: no source, so no answer. */
    knowledgeFailed(ctx: AgentContext): StepResult {
      return step(ctx, max).set({ knowledge: [] }).decide('fallback', 'knowledge_unavailable', {}).done();
    },
    /** "I don't know", with the typed reason, and an offer of a human. */
    noKnowledge(ctx: AgentContext): StepResult {
      const reason = 'no_source_above_threshold';
      return step(ctx, max)
        .set({ awaiting: { kind: 'offer_human', reason: 'no_knowledge' } })
        .say(renderTemplate(r.noKnowledge, { reason }), { reason: `unknown:${reason}` })
        .done();
    },
    /** Says the grounded answer (as drafted), citing its sources. */
    answered(ctx: AgentContext, event: AgentEvent): StepResult {
      return sayDraft(ctx, event, groundedDraft(ctx.knowledge), { sources: ctx.knowledge.map((h) => h.id) });
    },
    /** Says the small-talk answer. */
    chatted(ctx: AgentContext, event: AgentEvent): StepResult {
      return sayDraft(ctx, event, smalltalkDraft(ctx), { intent: ctx.verdict?.intent ?? '' });
    },
    /** P6: back to the task the digression interrupted (its history state); its next prompt says "back to ...". */
    markInterrupted(ctx: AgentContext): StepResult {
      const open = ctx.active !== null && ctx.active.outcome === undefined;
      const s = step(ctx, max).set({ interrupted: open });
      if (open && ctx.active) s.decide('transition', 'back_to_task', { pattern: 'P6', task: ctx.active.task, awaiting: ctx.awaiting?.kind ?? null });
      return s.done();
    },
  };
}
