/**
 * What a rung of the LLM fallback ladder is, and the failure details every LLM adapter attaches
 * to the KeelError it throws, so the ladder decides retry, breaker and failover from one field.
 */
import { KeelError } from '../errors.js';
import type { LlmClient } from '../ports.js';

/**
 * An {@link LlmClient} with a stable name, used in decisions, metrics and `status()`.
 *
 * @example
 * ```ts
 * const provider: LlmProvider = createOpenAiProvider({ baseURL, apiKey, model: 'gpt-4o-mini' });
 * provider.name; // 'api.openai.com/gpt-4o-mini'
 * ```
 */
export interface LlmProvider extends LlmClient {
  readonly name: string;
}

/**
 * Why an LLM call failed, finer than the error code:
 * - `rate_limited` (429), `server_error` (5xx, 408/409, an error event in a stream), `connection`
 *   (refused, reset): transient, worth a retry on the same provider;
 * - `timeout`: the call's own time budget ran out (also transient);
 * - `aborted`: the caller cancelled; nothing more is tried;
 * - `auth` (401/403), `rejected` (other 4xx, or an answer cut at its token limit or withheld by
 *   the content filter): the provider refuses this request or everyone;
 * - `malformed`, `truncated`, `empty`: the endpoint answered with a body keel cannot use;
 * - `circuit_open`: the provider was skipped because its breaker is open.
 */
export type LlmFailureReason =
  | 'rate_limited'
  | 'server_error'
  | 'connection'
  | 'timeout'
  | 'aborted'
  | 'auth'
  | 'rejected'
  | 'malformed'
  | 'truncated'
  | 'empty'
  | 'circuit_open';

/** The `details` of a KeelError raised by an LLM adapter or the ladder. Safe to show: no text, no keys. */
export interface LlmFailure {
  readonly provider: string;
  readonly reason: LlmFailureReason;
  /** HTTP status when the endpoint answered. */
  readonly status?: number;
  /** What the endpoint asked us to wait (`retry-after-ms` / `retry-after`), in milliseconds. */
  readonly retryAfterMs?: number;
}

const CODE_OF: Readonly<Record<LlmFailureReason, 'llm_unavailable' | 'llm_timeout' | 'llm_bad_response'>> = {
  rate_limited: 'llm_unavailable',
  server_error: 'llm_unavailable',
  connection: 'llm_unavailable',
  auth: 'llm_unavailable',
  rejected: 'llm_unavailable',
  circuit_open: 'llm_unavailable',
  timeout: 'llm_timeout',
  aborted: 'llm_timeout',
  malformed: 'llm_bad_response',
  truncated: 'llm_bad_response',
  empty: 'llm_bad_response',
};

/**
 * Builds the KeelError for an LLM failure; the code follows from the reason.
 *
 * @example
 * ```ts
 * throw llmError({ provider: 'primary', reason: 'rate_limited', status: 429, retryAfterMs: 1000 }, 'rate limited', err);
 * ```
 */
export function llmError(failure: LlmFailure, message: string, cause?: unknown): KeelError<'llm_unavailable' | 'llm_timeout' | 'llm_bad_response'> {
  const details: Record<string, unknown> = { provider: failure.provider, reason: failure.reason };
  if (failure.status !== undefined) details['status'] = failure.status;
  if (failure.retryAfterMs !== undefined) details['retryAfterMs'] = failure.retryAfterMs;
  return new KeelError(CODE_OF[failure.reason], message, { cause, details });
}

/**
 * Reads the {@link LlmFailure} back from an error raised by {@link llmError}; `undefined` for
 * anything else (a bug, an error from a callback), which the ladder passes through untouched.
 *
 * @example
 * ```ts
 * if (llmFailureOf(err)?.reason === 'rate_limited') backOff();
 * ```
 */
export function llmFailureOf(err: unknown): LlmFailure | undefined {
  if (!(err instanceof KeelError) || err.details === undefined) return undefined;
  const { provider, reason, status, retryAfterMs } = err.details as Record<string, unknown>;
  if (typeof provider !== 'string' || typeof reason !== 'string' || !(reason in CODE_OF)) return undefined;
  return {
    provider,
    reason: reason as LlmFailureReason,
    ...(typeof status === 'number' ? { status } : {}),
    ...(typeof retryAfterMs === 'number' ? { retryAfterMs } : {}),
  };
}
