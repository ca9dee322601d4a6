/**
 * The `draftReply` actor: the grounded draft, rephrased by an LLM when one is configured, with
 * streamed deltas. The model is offered only the tools the current state allows; every call it
 * proposes goes through the tool runner (the guard, with the session's identity, never one from
 * the model's arguments). A refused call is reported as a `guard` decision and the model is told,
 * so the conversation goes on. Any LLM failure, or an answer from the offline last rung, falls
 * back to the draft: the customer always gets the grounded reply.
 */
import { fromCallback } from 'xstate';
import type { LlmClient, LlmMessage, LlmResponse, LlmTool, ProposedToolCall } from '../src/ports.js';
import type { Json } from '../src/types.js';
import type { DecisionNote, DraftEvent, DraftInput, DraftOutput } from '../machines/actor-contracts.js';
import { budgetExceededNote, budgetedLlm, isBudgetExceeded, type TokenBudget } from './llm-budget.js';
import { collectLlmDecisions, fromLocalRung } from './llm-decisions.js';
import type { ToolRunner } from './tool-runner.js';

/** Options of {@link createLlmReplyActor}. */
export interface LlmReplyActorOptions {
  /** The model (src/llm's resilient client, usually). Without it the draft is the reply. */
  readonly llm?: LlmClient;
  /** Runs the tool calls the model proposes (guarded). Without it, no tools are offered. */
  readonly runner?: ToolRunner;
  /** Who the assistant is, for the system prompt. Default `'the support assistant of an online store'`. */
  readonly persona?: string;
  /** Model rounds with tool calls before the final answer. Default 2. */
  readonly maxToolRounds?: number;
  /** Longest raw tool arguments accepted from the model, in bytes. Default 8 192. */
  readonly maxArgumentBytes?: number;
  /** Answer length budget. Default 400 tokens. */
  readonly maxTokens?: number;
  /** Stream deltas (`agent.delta`). Default true. */
  readonly stream?: boolean;
  /**
   * The per-session LLM token budget: before each model call the session's usage is read, and a
   * session that spent `maxSessionTokens` gets the grounded draft (a `guard` decision with code
   * `budget_exceeded`) instead of another call. Default none.
   */
  readonly tokenBudget?: TokenBudget;
}

/** Tool calls of one model answer that are run at most; the rest are refused together. */
const MAX_CALLS_PER_ROUND = 16;

function systemPrompt(persona: string, input: DraftInput): string {
  const facts = JSON.stringify(input.grounding).slice(0, 6000);
  const lines = [
    `You are ${persona}. Be brief, warm and precise.`,
    'Answer only with facts given here or returned by tools. Never invent order details, policies, prices or dates.',
    "If the facts do not answer the question, say you don't know and offer a human colleague.",
    `Facts (JSON): ${facts}`,
  ];
  if (input.draft !== '') lines.push(`A correct reply built from the facts: "${input.draft}". Rephrase it naturally; keep every fact; add none.`);
  return lines.join('\n');
}

function parseArgs(call: ProposedToolCall, maxBytes: number): Record<string, Json> | undefined {
  if (typeof call.arguments !== 'string' || Buffer.byteLength(call.arguments) > maxBytes) return undefined;
  try {
    const parsed: unknown = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? (parsed as Record<string, Json>) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Creates the `draftReply` actor logic.
 *
 * @example
 * ```ts
 * machine.provide({ actors: { draftReply: createLlmReplyActor({ llm, runner }) } });
 * ```
 */
export function createLlmReplyActor(options: LlmReplyActorOptions = {}) {
  const persona = options.persona ?? 'the support assistant of an online store';
  const maxRounds = options.maxToolRounds ?? 2;
  const maxArgumentBytes = options.maxArgumentBytes ?? 8192;
  if (!Number.isInteger(maxRounds) || maxRounds < 0) throw new TypeError('option maxToolRounds must be an integer ≥ 0');

  async function draft(input: DraftInput, signal: AbortSignal, onDelta: ((t: string) => void) | undefined): Promise<DraftOutput> {
    const notes: DecisionNote[] = [];
    let toolCalls = 0;
    const template = (reason: string, data: Record<string, Json> = {}): DraftOutput => ({
      text: input.draft,
      source: 'template',
      toolCalls,
      decisions: [...notes, { kind: 'fallback', reason, data: { to: 'template', ...data } }],
    });
    if (!options.llm || input.draft.trim() === '') return { text: input.draft, source: 'template', toolCalls: 0, decisions: [] };
    const client = collectLlmDecisions(options.llm, notes);
    const runner = options.runner;
    const tools: LlmTool[] = runner
      ? input.allowedTools.filter((name) => Object.hasOwn(runner.tools, name)).map((name) => ({ name, description: runner.tools[name]!.description, parameters: runner.tools[name]!.parameters }))
      : [];
    const messages: LlmMessage[] = [
      { role: 'system', content: systemPrompt(persona, input) },
      ...input.transcript.slice(-6, -1).map((t): LlmMessage => ({ role: t.role === 'user' ? 'user' : 'assistant', content: t.text })),
      { role: 'user', content: input.userText.slice(0, 4000) },
    ];
    const budget = options.tokenBudget;
    const budgeted = budgetedLlm(client, budget, input.session);
    for (let round = 0; ; round++) {
      const offerTools = tools.length > 0 && round < maxRounds;
      // A round offered tools may end in tool calls: its text ("let me check...") is not the
      // reply and must not reach the customer as its beginning. Its pieces are held until the
      // round turns out to be the answer.
      const held: string[] = [];
      const roundDelta = onDelta && offerTools ? (text: string) => void held.push(text) : onDelta;
      let response: LlmResponse;
      try {
        response = await budgeted.complete(
          { messages, ...(offerTools ? { tools } : {}), maxTokens: options.maxTokens ?? 400, temperature: 0.2, ...(roundDelta ? { onDelta: roundDelta } : {}) },
          signal,
        );
      } catch (err) {
        // A spent budget is not a failure of the model: the grounded draft is the reply.
        if (!isBudgetExceeded(err)) throw err;
        notes.push(budgetExceededNote(budget));
        return template('budget_exceeded');
      }
      if (fromLocalRung(response.provider)) return template('llm_local_rung', { provider: response.provider });
      if (response.toolCalls.length === 0 || !offerTools) {
        if (response.text.trim() === '') return template('llm_empty_answer');
        for (const piece of held) onDelta?.(piece);
        return { text: response.text.trim(), source: `llm:${response.provider}`, toolCalls, decisions: notes };
      }
      // At most a few calls of one answer are run; the rest are refused in one note, not one by
      // one (a model proposing thousands would write thousands of audit records and trace notes).
      const proposed = response.toolCalls.slice(0, MAX_CALLS_PER_ROUND);
      if (response.toolCalls.length > proposed.length) {
        notes.push({ kind: 'guard', reason: 'tool_denied', data: { rule: 'too_many_calls', proposed: response.toolCalls.length, kept: proposed.length, proposedBy: 'model' } });
      }
      messages.push({ role: 'assistant', content: response.text, toolCalls: proposed });
      for (const call of proposed) {
        const args = parseArgs(call, maxArgumentBytes);
        const n = input.callsThisTurn + toolCalls + 1;
        if (!args || !runner) {
          notes.push({ kind: 'guard', reason: 'tool_denied', data: { tool: call.name, rule: 'bad_arguments', proposedBy: 'model' } });
          messages.push({ role: 'tool', toolCallId: call.id, content: JSON.stringify({ error: 'denied: arguments must be a JSON object' }) });
          continue;
        }
        toolCalls++;
        const outcome = await runner.run(
          { tool: call.name, args, key: `${input.key}:${call.name}:${n}`, identity: input.identity, session: input.session, callsThisTurn: n - 1, allowedTools: input.allowedTools, attempt: 1 },
          signal,
        );
        if (outcome.status === 'denied') {
          notes.push({ kind: 'guard', reason: outcome.code, data: { tool: call.name, rule: outcome.rule ?? null, reason: outcome.reason, proposedBy: 'model' } });
          messages.push({ role: 'tool', toolCallId: call.id, content: JSON.stringify({ error: `denied: ${outcome.reason}` }) });
        } else if (outcome.status === 'failed') {
          notes.push({ kind: 'fallback', reason: `tool_${outcome.reason}`, data: { tool: call.name, proposedBy: 'model' } });
          messages.push({ role: 'tool', toolCallId: call.id, content: JSON.stringify({ error: 'the tool is unavailable right now' }) });
        } else {
          notes.push({ kind: 'tool', reason: 'ok', data: { tool: call.name, proposedBy: 'model' } });
          messages.push({ role: 'tool', toolCallId: call.id, content: JSON.stringify(outcome.result).slice(0, 6000) });
        }
      }
    }
  }

  return fromCallback<DraftEvent, DraftInput>(({ input, sendBack }) => {
    const controller = new AbortController();
    let stopped = false;
    const send = (event: DraftEvent) => {
      if (!stopped) sendBack(event);
    };
    const onDelta = options.llm && (options.stream ?? true) ? (text: string) => send({ type: 'llm.delta', text }) : undefined;
    draft(input, controller.signal, onDelta).then(
      (output) => send({ type: 'draft.done', output }),
      (err: unknown) =>
        send({
          type: 'draft.done',
          output: {
            text: input.draft,
            source: 'template',
            toolCalls: 0,
            decisions: [{ kind: 'fallback', reason: 'llm_failed', data: { to: 'template', message: err instanceof Error ? err.message.slice(0, 200) : 'failed' } }],
          },
        }),
    );
    return () => {
      stopped = true;
      controller.abort();
    };
  });
}
