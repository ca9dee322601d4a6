/**
 * The chat adapter over the official `openai` SDK, for any OpenAI-compatible endpoint. One
 * attempt per call: the SDK's own retries are off, because the ladder (resilient-llm.ts) owns
 * retries and a retry inside a retry multiplies requests against an endpoint already in trouble.
 */
import type { ChatCompletionCreateParamsBase, ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { systemClock } from '../clock.js';
import { KeelError } from '../errors.js';
import type { Clock, LlmMessage, LlmRequest, LlmResponse, LlmTool } from '../ports.js';
import { createChatStreamAssembler, parseChatCompletion } from './chat-completion-parser.js';
import { llmError } from './llm-provider.js';
import type { LlmProvider } from './llm-provider.js';
import { createOpenAiClient } from './openai-client.js';
import { translateOpenAiError } from './openai-errors.js';

/** Options of {@link createOpenAiProvider}. */
export interface OpenAiProviderOptions {
  /** Endpoint root including the version, e.g. `https://api.openai.com/v1`. Required. */
  readonly baseURL: string;
  /** Bearer key; empty for servers that need none (a placeholder is sent, as the SDK insists). Required. */
  readonly apiKey: string;
  /** Model id sent with each request. Required. */
  readonly model: string;
  /** Name in decisions and metrics. Default `<host>/<model>`. */
  readonly name?: string;
  /** Time budget of one call, streaming included, in milliseconds. Default 30 000. */
  readonly timeoutMs?: number;
  /** Field carrying `maxTokens`; OpenAI's reasoning models want `max_completion_tokens`. Default `max_tokens`. */
  readonly maxTokensField?: 'max_tokens' | 'max_completion_tokens';
  /** Ask for token usage at the end of a stream (`stream_options.include_usage`). Default true. */
  readonly streamUsage?: boolean;
  /** Timers for the time budget. Default {@link systemClock}. */
  readonly clock?: Clock;
}

/** An {@link LlmProvider} over an OpenAI-compatible endpoint. */
export interface OpenAiProvider extends LlmProvider {
  readonly model: string;
  readonly baseURL: string;
}

const defaultOptions = {
  timeoutMs: 30_000,
  maxTokensField: 'max_tokens',
  streamUsage: true,
} as const;

type ResolvedOptions = Readonly<Required<Omit<OpenAiProviderOptions, 'clock'>> & { clock: Clock }>;

function resolveOptions(options: OpenAiProviderOptions): ResolvedOptions {
  const fail = (name: string, expected: string): never => {
    throw new TypeError(`invalid option ${name}: expected ${expected}`);
  };
  const url = (() => {
    try {
      return new URL(options.baseURL);
    } catch {
      return fail('baseURL', 'an absolute http(s) URL');
    }
  })();
  if (url.protocol !== 'http:' && url.protocol !== 'https:') fail('baseURL', 'an absolute http(s) URL');
  if (typeof options.apiKey !== 'string') fail('apiKey', 'a string (empty when the endpoint needs no key)');
  if (typeof options.model !== 'string' || options.model.trim() === '') fail('model', 'a non-empty model id');
  const timeoutMs = options.timeoutMs ?? defaultOptions.timeoutMs;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) fail('timeoutMs', 'a positive number of milliseconds');
  const maxTokensField = options.maxTokensField ?? defaultOptions.maxTokensField;
  if (maxTokensField !== 'max_tokens' && maxTokensField !== 'max_completion_tokens') fail('maxTokensField', "'max_tokens' or 'max_completion_tokens'");
  const name = options.name ?? `${url.host}/${options.model}`;
  if (typeof name !== 'string' || name === '') fail('name', 'a non-empty string');
  return Object.freeze({
    baseURL: options.baseURL,
    apiKey: options.apiKey,
    model: options.model,
    name,
    timeoutMs,
    maxTokensField,
    streamUsage: options.streamUsage ?? defaultOptions.streamUsage,
    clock: options.clock ?? systemClock,
  });
}

/**
 * Creates a chat provider over an OpenAI-compatible endpoint: streaming when `request.onDelta`
 * is set, tools limited to `request.tools`, the caller's AbortSignal and a time budget on every
 * call, and every failure translated once into a KeelError carrying an `LlmFailure`:
 * 429/5xx/connection → `llm_unavailable`, time budget or abort → `llm_timeout`, unusable body →
 * `llm_bad_response`. Tool calls are returned as proposals, arguments untouched: the tool guard
 * (not this adapter) decides what runs, so a hostile proposal is refused and traced there.
 *
 * @example
 * ```ts
 * const primary = createOpenAiProvider({ baseURL: 'https://api.openai.com/v1', apiKey, model: 'gpt-4o-mini' });
 * const reply = await primary.complete({ messages: [{ role: 'user', content: 'hi' }] }, signal);
 * ```
 */
export function createOpenAiProvider(options: OpenAiProviderOptions): OpenAiProvider {
  const resolved = resolveOptions(options);
  const { name, model, clock } = resolved;
  const client = createOpenAiClient(resolved);

  async function complete(request: LlmRequest, signal: AbortSignal): Promise<LlmResponse> {
    const body = toRequestBody(request, resolved);
    if (signal.aborted) throw llmError({ provider: name, reason: 'aborted' }, `LLM call to ${name} was cancelled by the caller`);
    const controller = new AbortController();
    let timedOut = false;
    const onCallerAbort = () => controller.abort();
    signal.addEventListener('abort', onCallerAbort, { once: true });
    // The SDK's timeout stops at the response headers; this budget also covers a stalled stream.
    const timer = clock.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, resolved.timeoutMs);
    try {
      if (request.onDelta === undefined) {
        const completion: unknown = await client.chat.completions.create({ ...body, stream: false }, { signal: controller.signal });
        return parseChatCompletion(completion, { provider: name, model });
      }
      const stream = await client.chat.completions.create(
        { ...body, stream: true, ...(resolved.streamUsage ? { stream_options: { include_usage: true } } : {}) },
        { signal: controller.signal },
      );
      const assembler = createChatStreamAssembler({ provider: name, model });
      for await (const chunk of stream as AsyncIterable<unknown>) {
        const piece = assembler.push(chunk);
        if (piece !== '') forwardDelta(request.onDelta, piece);
      }
      // The SDK ends the iteration quietly on abort; a cut-short stream is not an answer.
      if (controller.signal.aborted) throw new DOMException('The stream was aborted', 'AbortError');
      return assembler.result();
    } catch (err) {
      throw translateOpenAiError(err, { provider: name, timedOut, callerAborted: signal.aborted, nowMs: clock.now() });
    } finally {
      clock.clearTimeout(timer);
      signal.removeEventListener('abort', onCallerAbort);
    }
  }

  return Object.freeze({ name, model, baseURL: resolved.baseURL, complete });
}

/** A throwing delta callback is the caller's bug, not the endpoint's: it must not trigger failover. */
function forwardDelta(onDelta: (text: string) => void, piece: string): void {
  try {
    onDelta(piece);
  } catch (err) {
    throw new KeelError('internal', 'the onDelta callback threw', { cause: err });
  }
}

function toRequestBody(request: LlmRequest, options: ResolvedOptions): Omit<ChatCompletionCreateParamsBase, 'stream'> {
  const body: Omit<ChatCompletionCreateParamsBase, 'stream'> = {
    model: options.model,
    messages: request.messages.map(toMessage),
  };
  // Only the tools the current state allows are ever offered; none means no `tools` field at all.
  if (request.tools !== undefined && request.tools.length > 0) body.tools = request.tools.map(toTool);
  if (request.maxTokens !== undefined) body[options.maxTokensField] = request.maxTokens;
  if (request.temperature !== undefined) body.temperature = request.temperature;
  return body;
}

function toMessage(message: LlmMessage): ChatCompletionMessageParam {
  if (message.role === 'assistant' && message.toolCalls !== undefined && message.toolCalls.length > 0) {
    return {
      role: 'assistant',
      content: message.content === '' ? null : message.content,
      tool_calls: message.toolCalls.map((c) => ({ id: c.id, type: 'function' as const, function: { name: c.name, arguments: c.arguments } })),
    };
  }
  if (message.role !== 'tool') return { role: message.role, content: message.content };
  if (message.toolCallId === undefined || message.toolCallId === '') {
    // OpenAI rejects a tool result that answers no call; fail here, before any request is sent.
    throw new KeelError('internal', 'an LLM tool message needs the toolCallId of the call it answers');
  }
  return { role: 'tool', content: message.content, tool_call_id: message.toolCallId };
}

function toTool(tool: LlmTool): ChatCompletionTool {
  return {
    type: 'function',
    function: { name: tool.name, description: tool.description, parameters: { ...tool.parameters } },
  };
}
