/**
 * Keeps streamed deltas honest across the attempts of one ladder call.
 */
import type { LlmRequest } from '../ports.js';

/**
 * Deltas already shown to the user cannot be taken back. Once an attempt that streamed text
 * fails, later attempts run unstreamed so the user never sees two answers interleaved; the final
 * reply (always sent whole) replaces the partial text. Deltas from an attempt that already
 * lost (to its timeout) are dropped.
 */
export interface DeltaGate {
  /** Starts an attempt: its request (streamed or not), `failed()` when it fails, `close()` when it settles. */
  open(): { readonly request: LlmRequest; failed(): void; close(): void };
  /** True once some streamed text belonged to an answer that was then abandoned. */
  discarded(): boolean;
}

/**
 * Creates the {@link DeltaGate} for one call.
 *
 * @example
 * ```ts
 * const gate = createDeltaGate(request);
 * const attempt = gate.open();
 * try { return await provider.complete(attempt.request, signal); }
 * catch (err) { attempt.failed(); throw err; }
 * finally { attempt.close(); }
 * ```
 */
export function createDeltaGate(request: LlmRequest): DeltaGate {
  const onDelta = request.onDelta;
  let blocked = false;
  const unstreamed: LlmRequest = { ...request, onDelta: undefined };
  const noop = () => undefined;
  return {
    open() {
      if (onDelta === undefined || blocked) return { request: unstreamed, failed: noop, close: noop };
      let active = true;
      let sent = false;
      return {
        request: {
          ...request,
          onDelta: (text) => {
            if (!active) return;
            sent = true;
            onDelta(text);
          },
        },
        failed: () => {
          if (sent) blocked = true;
        },
        close: () => {
          active = false;
        },
      };
    },
    discarded: () => blocked,
  };
}
