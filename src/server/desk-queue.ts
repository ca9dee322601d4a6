/**
 * What the `/desk` endpoint needs from a hand-off desk: the queue of requests waiting for a
 * human, and a roster of agents on duty. keel's in-process desk (`createLocalHandoffDesk`, the
 * default agent's `agent.desk`) is one; the server depends on this shape only.
 */
import type { Json } from '../types.js';

/** A request waiting for a human agent. */
export interface DeskQueueEntry {
  readonly session: string;
  readonly tenant: string;
  /** The customer. */
  readonly user: string;
  /** Why the conversation was handed off (`user_asked`, `max_reprompts`, `sla_breach`...). */
  readonly reason: string;
  /** The conversation so far, as the agent chart kept it. */
  readonly transcript: readonly { readonly role: string; readonly text: string; readonly at: number }[];
  /** The structured context: task, slots, facts, failure, suspended work, channel. */
  readonly summary: Readonly<Record<string, Json>>;
  /** When it joined the queue, ms since the epoch. */
  readonly queuedAt: number;
}

/** A change at the desk (see {@link DeskQueue.watch}). */
export interface DeskQueueChange {
  readonly kind: 'queued' | 'removed' | 'duty';
  readonly tenant: string;
  readonly session?: string;
}

/**
 * The desk as the server sees it.
 *
 * @example
 * ```ts
 * const agent = await createDefaultAgent({ dataDir });
 * const desk: DeskQueue | undefined = isLocalHandoffDesk(agent.desk) ? agent.desk : undefined;
 * createServer({ runtime, desk });
 * ```
 */
export interface DeskQueue {
  /** Requests waiting, oldest first; only `tenant`'s when given. */
  queue(tenant?: string): readonly DeskQueueEntry[];
  /** Removes a session's request and returns it. */
  take(session: string): DeskQueueEntry | undefined;
  /** Puts a request back in its place. */
  restore(entry: DeskQueueEntry): void;
  /** Makes availability follow agents on duty. */
  requireStaff(): void;
  /** One agent of `tenant` on duty until the returned function is called. */
  onDuty(tenant: string): () => void;
  staffOf(tenant: string): number;
  watch(listener: (change: DeskQueueChange) => void): () => void;
}

/**
 * True when `value` has the shape of a {@link DeskQueue}.
 *
 * @example
 * ```ts
 * if (!isDeskQueue(options.desk)) throw new TypeError('option desk must be a hand-off desk queue');
 * ```
 */
export function isDeskQueue(value: unknown): value is DeskQueue {
  const d = value as Partial<Record<keyof DeskQueue, unknown>> | null;
  return typeof d === 'object' && d !== null &&
    (['queue', 'take', 'restore', 'requireStaff', 'onDuty', 'staffOf', 'watch'] as const).every((k) => typeof d[k] === 'function');
}
