import type { DecisionEvent, DecisionSink } from '../ports.js';

/** A subscriber to the live decision stream. */
export interface DecisionSubscriber {
  (event: DecisionEvent): void;
}

/** The live fan-out of decision events: the inspector, the trace store, metrics and alerts subscribe. */
export interface DecisionStream extends DecisionSink {
  /** Adds a subscriber; returns the function that removes it. */
  subscribe(fn: DecisionSubscriber): () => void;
  /** Adds a transform applied to every event before subscribers see it (redaction). */
  readonly size: number;
}

/**
 * Creates a decision stream. `transform` runs once per event before any subscriber sees it
 * (keel passes the redactor, so nothing downstream sees personal data). A throwing subscriber is
 * reported through `onSubscriberError` and never stops the others or the agent.
 *
 * @example
 * ```ts
 * const stream = createDecisionStream();
 * const stop = stream.subscribe((e) => trace.push(e));
 * ```
 */
export function createDecisionStream(
  options: { transform?: (event: DecisionEvent) => DecisionEvent; onSubscriberError?: (err: unknown) => void } = {},
): DecisionStream {
  const subscribers = new Set<DecisionSubscriber>();
  return {
    emit(event) {
      if (subscribers.size === 0) return;
      const out = options.transform ? options.transform(event) : event;
      for (const fn of subscribers) {
        try {
          fn(out);
        } catch (err) {
          options.onSubscriberError?.(err);
        }
      }
    },
    subscribe(fn) {
      subscribers.add(fn);
      return () => subscribers.delete(fn);
    },
    get size() {
      return subscribers.size;
    },
  };
}
