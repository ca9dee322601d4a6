/**
 * The input of the `draftReply` actor, built the same way for every purpose (grounded answers,
 * small talk, task reports): what differs is the draft, its grounding, the tools offered and the
 * idempotency key; the turn's text, the identity and the recent transcript come from the context.
 */
import type { DraftInput } from './actor-contracts.js';
import type { AgentContext } from './agent-context.js';

/** Transcript lines an LLM sees to rephrase a draft in context. */
const RECENT_LINES = 6;

/**
 * Builds the input of `draftReply`.
 *
 * @example
 * ```ts
 * draftInput(ctx, { purpose: 'smalltalk', draft: 'Hi!', grounding: { intent: 'greeting' }, allowedTools: [], key: `${ctx.turn?.key}:draft` });
 * ```
 */
export function draftInput(ctx: AgentContext, fields: Pick<DraftInput, 'purpose' | 'draft' | 'grounding' | 'allowedTools' | 'key'>): DraftInput {
  return {
    purpose: fields.purpose,
    userText: ctx.turn?.text ?? '',
    draft: fields.draft,
    grounding: fields.grounding,
    allowedTools: fields.allowedTools,
    key: fields.key,
    identity: ctx.identity,
    session: ctx.session,
    callsThisTurn: ctx.turn?.toolCalls ?? 0,
    transcript: ctx.transcript.slice(-RECENT_LINES).map((t) => ({ role: t.role, text: t.text })),
  };
}
