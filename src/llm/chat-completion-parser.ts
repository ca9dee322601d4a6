/**
 * Turns OpenAI-compatible chat completion bodies (whole, or streamed chunk by chunk) into an
 * {@link LlmResponse}. Bodies are read as `unknown` and checked field by field: "compatible"
 * servers differ, and a body the SDK's types promise is not a body the wire delivers.
 */
import type { LlmResponse, ProposedToolCall } from '../ports.js';
import { llmError } from './llm-provider.js';

type Usage = LlmResponse['usage'];

const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const count = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : 0);

function usageOf(value: unknown): Usage | undefined {
  if (!isRecord(value)) return undefined;
  return { promptTokens: count(value['prompt_tokens']), completionTokens: count(value['completion_tokens']) };
}

/** Some servers send arguments as an object instead of a JSON string; the guard wants the raw string. */
function argumentsText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined || value === null) return '';
  return JSON.stringify(value);
}

/**
 * Parses a non-streamed `chat.completion` body. Throws `llm_bad_response` (reason `malformed`)
 * when the shape is wrong and (reason `empty`) when it carries neither text nor a tool call.
 *
 * @example
 * ```ts
 * const response = parseChatCompletion(body, { provider: 'primary', model: 'gpt-4o-mini' });
 * ```
 */
export function parseChatCompletion(body: unknown, context: { provider: string; model: string }): LlmResponse {
  const { provider } = context;
  const bad = (what: string) => llmError({ provider, reason: 'malformed' }, `LLM endpoint ${provider} sent a completion without ${what}`);
  if (!isRecord(body)) throw bad('a JSON object body');
  const choices = body['choices'];
  if (!Array.isArray(choices) || choices.length === 0) throw bad('choices');
  const choice: unknown = choices[0];
  if (!isRecord(choice) || !isRecord(choice['message'])) throw bad('a message');
  const message = choice['message'];
  const content = message['content'];
  if (content !== undefined && content !== null && typeof content !== 'string') throw bad('text content');
  const rawCalls = message['tool_calls'];
  if (rawCalls !== undefined && rawCalls !== null && !Array.isArray(rawCalls)) throw bad('a tool call list');
  const toolCalls: ProposedToolCall[] = [];
  for (const [index, call] of (rawCalls ?? []).entries()) {
    if (!isRecord(call) || !isRecord(call['function'])) throw bad('a function in a tool call');
    const name = call['function']['name'];
    if (typeof name !== 'string' || name === '') throw bad('a tool name');
    const id = call['id'];
    toolCalls.push(
      Object.freeze({
        id: typeof id === 'string' && id !== '' ? id : `call_${index}`,
        name,
        arguments: argumentsText(call['function']['arguments']),
      }),
    );
  }
  return finish(
    { text: content ?? '', toolCalls, model: typeof body['model'] === 'string' ? body['model'] : context.model, usage: usageOf(body['usage']) },
    provider,
    typeof choice['finish_reason'] === 'string' ? choice['finish_reason'] : undefined,
  );
}

/** Accumulates streamed `chat.completion.chunk`s. */
export interface ChatStreamAssembler {
  /** Feeds one parsed chunk; returns the text piece it carried ('' when none). */
  push(chunk: unknown): string;
  /**
   * The assembled response. Throws `llm_bad_response` (reason `truncated`) when the stream ended
   * without a finish reason: a stream cut short must not pass for a complete answer.
   */
  result(): LlmResponse;
}

interface PartialCall {
  id: string;
  name: string;
  arguments: string;
}

/**
 * Creates a {@link ChatStreamAssembler}. Text pieces are appended in arrival order. Tool calls
 * are keyed by their `index`: the first piece brings `id` and `name`, later pieces append to
 * `arguments` (as OpenAI streams them); a repeated `id`/`name` replaces rather than appends, since
 * some compatible servers resend them on every piece.
 *
 * @example
 * ```ts
 * const assembler = createChatStreamAssembler({ provider: 'primary', model: 'gpt-4o-mini' });
 * for await (const chunk of stream) onDelta(assembler.push(chunk));
 * const response = assembler.result();
 * ```
 */
export function createChatStreamAssembler(context: { provider: string; model: string }): ChatStreamAssembler {
  const { provider } = context;
  let text = '';
  let model: string | undefined;
  let usage: Usage | undefined;
  let finishReason: string | undefined;
  let lastIndex = 0;
  const calls = new Map<number, PartialCall>();
  const bad = (what: string) => llmError({ provider, reason: 'malformed' }, `LLM endpoint ${provider} streamed a chunk without ${what}`);

  function pushToolCall(piece: unknown): void {
    if (!isRecord(piece)) throw bad('a valid tool call');
    const index = typeof piece['index'] === 'number' ? piece['index'] : lastIndex;
    lastIndex = index;
    let call = calls.get(index);
    if (call === undefined) {
      call = { id: '', name: '', arguments: '' };
      calls.set(index, call);
    }
    if (typeof piece['id'] === 'string' && piece['id'] !== '') call.id = piece['id'];
    const fn = piece['function'];
    if (fn === undefined || fn === null) return;
    if (!isRecord(fn)) throw bad('a valid tool function');
    if (typeof fn['name'] === 'string' && fn['name'] !== '') call.name = fn['name'];
    call.arguments += argumentsText(fn['arguments']);
  }

  return {
    push(chunk) {
      if (!isRecord(chunk)) throw bad('a JSON object');
      if (model === undefined && typeof chunk['model'] === 'string') model = chunk['model'];
      usage = usageOf(chunk['usage']) ?? usage;
      const choices = chunk['choices'];
      // The usage chunk of `stream_options.include_usage` has an empty list; some servers omit it.
      if (choices === undefined || choices === null) return '';
      if (!Array.isArray(choices)) throw bad('a choice list');
      let piece = '';
      for (const choice of choices) {
        if (!isRecord(choice)) throw bad('a valid choice');
        // Only the first choice is used; `n` is never set above 1.
        if (typeof choice['index'] === 'number' && choice['index'] !== 0) continue;
        const delta = choice['delta'];
        if (isRecord(delta)) {
          const content = delta['content'];
          if (typeof content === 'string') piece += content;
          const toolCalls = delta['tool_calls'];
          if (Array.isArray(toolCalls)) toolCalls.forEach(pushToolCall);
        }
        if (typeof choice['finish_reason'] === 'string') finishReason = choice['finish_reason'];
      }
      text += piece;
      return piece;
    },
    result() {
      if (finishReason === undefined) {
        throw llmError({ provider, reason: 'truncated' }, `LLM endpoint ${provider} ended its stream without finishing the answer`);
      }
      const toolCalls = [...calls.entries()]
        .sort(([a], [b]) => a - b)
        .map(([index, call]) => {
          if (call.name === '') throw bad('a tool name');
          return Object.freeze({ id: call.id === '' ? `call_${index}` : call.id, name: call.name, arguments: call.arguments });
        });
      return finish({ text, toolCalls, model: model ?? context.model, usage }, provider, finishReason);
    },
  };
}

function finish(
  parts: { text: string; toolCalls: ProposedToolCall[]; model: string; usage: Usage | undefined },
  provider: string,
  finishReason?: string,
): LlmResponse {
  // An answer cut at its token limit (a tracking number cut in half) or withheld by the
  // endpoint's content filter is not an answer: the ladder falls back to the grounded draft.
  // Neither says the provider is unwell (`rejected` leaves its breaker alone).
  if (finishReason === 'length') throw llmError({ provider, reason: 'rejected' }, `LLM endpoint ${provider} cut its answer at the token limit`);
  if (finishReason === 'content_filter') throw llmError({ provider, reason: 'rejected' }, `LLM endpoint ${provider} withheld its answer (content filter)`);
  // Nothing to say and nothing to do is not an answer; the ladder moves on instead.
  if (parts.text.trim() === '' && parts.toolCalls.length === 0) {
    throw llmError({ provider, reason: 'empty' }, `LLM endpoint ${provider} answered with neither text nor a tool call`);
  }
  return Object.freeze({
    text: parts.text,
    toolCalls: Object.freeze(parts.toolCalls),
    provider,
    model: parts.model,
    usage: Object.freeze(parts.usage ?? { promptTokens: 0, completionTokens: 0 }),
  });
}
