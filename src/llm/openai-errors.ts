/**
 * The one place where errors of the `openai` SDK (and of fetch underneath it) become KeelErrors.
 * The chat provider and the embedder both call {@link translateOpenAiError}, so the ladder only
 * ever sees `llm_unavailable`, `llm_timeout` or `llm_bad_response` with an {@link LlmFailure}.
 */
import { APIConnectionError, APIConnectionTimeoutError, APIError, APIUserAbortError } from 'openai';
import { isKeelError } from '../errors.js';
import type { KeelError } from '../errors.js';
import { llmError } from './llm-provider.js';
import type { LlmFailureReason } from './llm-provider.js';

/** What the adapter knows about the call that failed. */
export interface OpenAiErrorContext {
  readonly provider: string;
  /** The adapter's own time budget ran out (its timer aborted the request). */
  readonly timedOut: boolean;
  /** The caller's AbortSignal fired. */
  readonly callerAborted: boolean;
  /** Milliseconds since the epoch, to turn an HTTP-date `retry-after` into a delay. */
  readonly nowMs: number;
}

/**
 * Translates anything thrown by an SDK call into a KeelError. KeelErrors pass through, so the
 * adapter can throw its own (`malformed`, `truncated`) inside the same try block.
 *
 * @example
 * ```ts
 * try { await client.chat.completions.create(body, { signal }); }
 * catch (err) { throw translateOpenAiError(err, { provider, timedOut, callerAborted: signal.aborted, nowMs: clock.now() }); }
 * ```
 */
export function translateOpenAiError(err: unknown, context: OpenAiErrorContext): KeelError {
  if (isKeelError(err)) return err;
  const { provider } = context;
  // Whoever aborted decides the reason; the SDK reports both as a user abort.
  if (context.callerAborted) return llmError({ provider, reason: 'aborted' }, `LLM call to ${provider} was cancelled by the caller`, err);
  if (context.timedOut || err instanceof APIConnectionTimeoutError) {
    return llmError({ provider, reason: 'timeout' }, `LLM call to ${provider} timed out`, err);
  }
  if (err instanceof APIUserAbortError || isAbortError(err)) {
    return llmError({ provider, reason: 'aborted' }, `LLM call to ${provider} was aborted`, err);
  }
  if (err instanceof APIConnectionError) {
    return llmError({ provider, reason: 'connection' }, `cannot reach LLM endpoint ${provider}`, err);
  }
  if (err instanceof APIError) {
    const status = typeof err.status === 'number' ? err.status : undefined;
    const reason = reasonOfStatus(status);
    const retryAfterMs = err.headers instanceof Headers ? retryAfterOf(err.headers, context.nowMs) : undefined;
    return llmError(
      { provider, reason, ...(status !== undefined ? { status } : {}), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
      status === undefined ? `LLM endpoint ${provider} reported an error in its stream` : `LLM endpoint ${provider} answered HTTP ${status}`,
      err,
    );
  }
  if (err instanceof SyntaxError) {
    return llmError({ provider, reason: 'malformed' }, `LLM endpoint ${provider} sent a body that is not JSON`, err);
  }
  // undici raises TypeError ("terminated", "fetch failed") when the socket dies mid-body.
  if (err instanceof TypeError) {
    return llmError({ provider, reason: 'connection' }, `connection to LLM endpoint ${provider} failed`, err);
  }
  return llmError({ provider, reason: 'malformed' }, `LLM endpoint ${provider} gave an unusable answer`, err);
}

function reasonOfStatus(status: number | undefined): LlmFailureReason {
  if (status === undefined) return 'server_error';
  if (status === 429) return 'rate_limited';
  if (status === 401 || status === 403) return 'auth';
  // The SDK itself treats request timeouts and lock conflicts as transient.
  if (status === 408 || status === 409 || status >= 500) return 'server_error';
  return 'rejected';
}

function isAbortError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'AbortError';
}

/**
 * Reads `retry-after-ms` (OpenAI's, fractional milliseconds) or `retry-after` (seconds or an
 * HTTP-date). Absurd values are ignored rather than trusted.
 */
export function retryAfterOf(headers: Headers, nowMs: number): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms !== null) {
    const value = Number(ms);
    if (Number.isFinite(value) && value >= 0) return Math.ceil(value);
  }
  const after = headers.get('retry-after');
  if (after === null || after.trim() === '') return undefined;
  const seconds = Number(after);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.ceil(seconds * 1000) : undefined;
  const date = Date.parse(after);
  return Number.isFinite(date) ? Math.max(0, date - nowMs) : undefined;
}
