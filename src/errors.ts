/**
 * Every error keel raises on purpose is a {@link KeelError} with a stable, documented `code`.
 * Third-party errors (lmdb, openai, ws) are translated once, in their adapter, so callers only
 * ever branch on these codes.
 *
 * @example
 * ```ts
 * try { await runtime.send(id, event); }
 * catch (err) { if (isKeelError(err, 'queue_full')) retryLater(); }
 * ```
 */

/** The catalogue of error codes: whether retrying the same call can succeed, and what it means. */
export const ERROR_CODES = {
  bad_frame: { retryable: false, description: 'A frame or event is malformed, has an unknown type or misses a field.' },
  unauthorized: { retryable: false, description: 'No token, a bad signature, or an expired token.' },
  forbidden: { retryable: false, description: 'The identity is valid but its role, tenant or ownership does not allow this.' },
  rate_limited: { retryable: true, description: 'Too many messages per second for this connection or user.' },
  too_large: { retryable: false, description: 'A frame or message is over the configured size limit.' },
  queue_full: { retryable: true, description: "The session's bounded event queue is full." },
  unknown_session: { retryable: false, description: 'No session with this id exists (or it was erased).' },
  session_failed: { retryable: false, description: "The session's actor failed; it answered gracefully and was reset to a safe state." },
  runtime_closed: { retryable: false, description: 'The runtime or server is shutting down and takes no new work.' },
  storage_full: { retryable: true, description: 'The data directory is out of space; nothing was committed.' },
  storage_failed: { retryable: true, description: 'A commit to LMDB failed; nothing was acknowledged.' },
  llm_unavailable: { retryable: true, description: 'Every configured LLM provider failed or its circuit is open.' },
  llm_timeout: { retryable: true, description: 'An LLM call exceeded its time budget.' },
  llm_bad_response: { retryable: true, description: 'An LLM endpoint answered with a body keel could not use.' },
  tool_denied: { retryable: false, description: 'The tool guard refused a tool call (role, tenant, ownership or state).' },
  tool_failed: { retryable: true, description: 'A tool call failed after its fallback ladder.' },
  budget_exceeded: { retryable: false, description: "A per-turn or per-session budget (tool calls, tokens) or a user's session count is spent." },
  approval_required: { retryable: false, description: 'A high-impact action waits for a human approval.' },
  handoff_unavailable: { retryable: true, description: 'No human agent can take the conversation now.' },
  invalid_option: { retryable: false, description: 'An option passed to keel is missing or out of range.' },
  migration_failed: { retryable: false, description: 'A stored snapshot could not be migrated to the current machine version.' },
  audit_broken: { retryable: false, description: 'The audit hash chain does not verify.' },
  internal: { retryable: false, description: 'An unexpected failure inside keel; it was logged with its cause.' },
} as const satisfies Record<string, { retryable: boolean; description: string }>;

/** One of keel's error codes; see {@link ERROR_CODES}. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** The base class of every error keel raises on purpose. */
export class KeelError<C extends ErrorCode = ErrorCode> extends Error {
  /** Stable machine-readable code, also sent in `error` frames. */
  readonly code: C;
  /** Whether the same call may succeed if tried again later. */
  readonly retryable: boolean;
  /** Optional structured details safe to show a client (never personal data). */
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(code: C, message: string, options: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeelError';
    this.code = code;
    this.retryable = ERROR_CODES[code].retryable;
    this.details = options.details ? Object.freeze({ ...options.details }) : undefined;
  }

  /** The shape sent to clients in an `error` frame. */
  toJSON(): { code: C; message: string; retryable: boolean } {
    return { code: this.code, message: this.message, retryable: this.retryable };
  }
}

/**
 * Narrows `err` to a {@link KeelError}, optionally of one code.
 *
 * @example
 * ```ts
 * if (isKeelError(err, 'unauthorized')) ws.close(4401, err.message);
 * ```
 */
export function isKeelError<C extends ErrorCode>(err: unknown, code?: C): err is KeelError<C> {
  return err instanceof KeelError && (code === undefined || err.code === code);
}

/**
 * What a client may be told of an error: its code and message, except for the server's own
 * faults. An internal error, and a configuration error (`invalid_option`: a missing master key, a
 * key file; its message names server paths), become `internal` with no detail; the caller logs
 * the original. `logged` is true when the caller should log it.
 *
 * @example
 * ```ts
 * const { code, message, logged } = forClient(err);
 * if (logged) log.error({ err }, 'request failed');
 * send(errorFrame(code, message));
 * ```
 */
export function forClient(err: unknown): { readonly code: ErrorCode; readonly message: string; readonly logged: boolean } {
  const keel = toKeelError(err);
  if (keel.code === 'internal' || keel.code === 'invalid_option') return { code: 'internal', message: 'internal error', logged: true };
  return { code: keel.code, message: keel.message, logged: false };
}

/** Wraps anything thrown into a KeelError, keeping the original as `cause`. */
export function toKeelError(err: unknown, fallback: ErrorCode = 'internal'): KeelError {
  if (err instanceof KeelError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new KeelError(fallback, message, { cause: err });
}
