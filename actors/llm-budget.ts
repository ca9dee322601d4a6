/**
 * The per-session LLM token budget, shared by every actor that calls a model (routing, planning,
 * drafting replies): a session that has spent its budget makes no further model calls, and the
 * caller falls back to its local rung. The prompt is charged before the call, so a call that
 * fails, or an endpoint that reports no usage, still spends the budget.
 */
import { KeelError } from '../src/errors.js';
import type { LlmClient, LlmMessage, LlmResponse } from '../src/ports.js';
import type { Json } from '../src/types.js';
import type { DecisionNote } from '../machines/actor-contracts.js';

/** Where tokens are counted, and the limit per session. */
export interface TokenBudget {
  readonly meter: { used(session: string): number; add(session: string, tokens: number): void };
  /** Tokens one session may spend on model calls, prompts and answers together. */
  readonly maxSessionTokens: number;
}

/** Rough token count of what is sent (about four characters per token). */
function promptTokensOf(messages: readonly LlmMessage[]): number {
  return Math.ceil(messages.reduce((n, m) => n + m.content.length, 0) / 4);
}

/** What a call cost beyond the prompt already charged: the reported usage or the answer's length, whichever is more. */
function extraTokensOf(charged: number, response: Pick<LlmResponse, 'text' | 'usage'>): number {
  const { promptTokens, completionTokens } = response.usage;
  const reported = (Number.isSafeInteger(promptTokens) ? promptTokens : 0) + (Number.isSafeInteger(completionTokens) ? completionTokens : 0);
  return Math.max(0, Math.max(reported, charged + Math.ceil(response.text.length / 4)) - charged);
}

/** True when `session` has spent its budget. */
function budgetSpent(budget: TokenBudget | undefined, session: string): boolean {
  return budget !== undefined && budget.meter.used(session) >= budget.maxSessionTokens;
}

/**
 * The model as one session may use it: every call is refused with KeelError `budget_exceeded`
 * once the session's budget is spent, and charged otherwise. Without a budget, `llm` itself.
 *
 * @example
 * ```ts
 * const client = budgetedLlm(llm, { meter: ports.llmTokens, maxSessionTokens: 100_000 }, input.session);
 * await client.complete({ messages }, signal); // throws budget_exceeded past the limit
 * ```
 */
export function budgetedLlm(llm: LlmClient, budget: TokenBudget | undefined, session: string): LlmClient {
  if (!budget) return llm;
  return {
    async complete(request, signal) {
      if (budgetSpent(budget, session)) {
        throw new KeelError('budget_exceeded', `this conversation has used its ${budget.maxSessionTokens} model tokens`, {
          details: { rule: 'session_tokens', limit: budget.maxSessionTokens },
        });
      }
      const charged = promptTokensOf(request.messages);
      budget.meter.add(session, charged);
      const response = await llm.complete(request, signal);
      // A retry or a failover sent the prompt again: each request is charged, not the call.
      const resent = Math.max(0, (response.requests ?? 1) - 1);
      budget.meter.add(session, extraTokensOf(charged, response) + charged * resent);
      return response;
    },
  };
}

/** True when the error is the refusal of {@link budgetedLlm}: the session's budget is spent. */
export function isBudgetExceeded(err: unknown): boolean {
  return err instanceof KeelError && err.code === 'budget_exceeded';
}

/**
 * The decision a caller records when the budget stopped a model call; `data` says where the caller
 * fell back to.
 *
 * @example
 * ```ts
 * if (isBudgetExceeded(err)) notes.push(budgetExceededNote(tokenBudget, { to: 'local' }));
 * ```
 */
export function budgetExceededNote(budget: TokenBudget | undefined, data: Record<string, Json> = {}): DecisionNote {
  return { kind: 'guard', reason: 'budget_exceeded', data: { rule: 'session_tokens', limit: budget?.maxSessionTokens ?? 0, ...data } };
}
