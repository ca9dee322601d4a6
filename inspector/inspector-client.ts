/**
 * The outbound side of one inspector connection: frames go into a bounded {@link FrameQueue}
 * and are written only while the socket has room, so a page that reads slowly (or not at all)
 * costs a bounded queue and some dropped timeline events, never the agents' time. When frames
 * were dropped, the next write is a `skipped` frame saying how many, so the page can show the gap.
 */
import type { Clock } from '../src/ports.js';
import { createFrameQueue, type FrameQueue } from './frame-queue.js';

/** The socket an inspector client writes to (a `ws` WebSocket fits). */
export interface InspectorSocket {
  /** Bytes accepted by `send` but not yet handed to the operating system. */
  readonly bufferedAmount: number;
  send(text: string): void;
  close(code: number, reason: string): void;
}

/** Limits of {@link createInspectorOutbox}. */
export interface InspectorOutboxOptions {
  readonly clock: Clock;
  readonly maxQueuedFrames: number;
  readonly maxBufferedBytes: number;
  readonly drainCheckMs: number;
  /** Told of a failed write (the socket closed under us). */
  readonly onError?: (err: unknown) => void;
}

/** What an outbox has done, for tests and the hub's stats. */
export interface InspectorOutboxStats {
  readonly queued: number;
  readonly sent: number;
  readonly dropped: number;
  readonly coalesced: number;
  /** `skipped` frames written. */
  readonly skippedMarkers: number;
}

export interface InspectorOutbox {
  /** Queues a frame; with `key`, a newer frame replaces a queued one with the same key. */
  push(type: string, frame: unknown, key?: string): void;
  /** {@link push} for a frame already serialised: one frame fanned out to many pages is stringified once. */
  pushText(type: string, text: string, key?: string): void;
  /** Counts frames lost before they reached the queue (the hub's own overflow). */
  lost(type: string, count: number): void;
  readonly stats: InspectorOutboxStats;
  /** What the page has not read yet: characters queued here plus bytes in the socket's buffer. */
  readonly unread: number;
  /** Stops writing and drops what is queued. Idempotent. */
  dispose(): void;
}

/**
 * Creates the outbox of one connection.
 *
 * @example
 * ```ts
 * const out = createInspectorOutbox(ws, { clock, maxQueuedFrames: 1000, maxBufferedBytes: 1 << 20, drainCheckMs: 50 });
 * out.push('event', { type: 'event', event });             // dropped and counted when the page is too slow
 * out.push('session', { type: 'session', ... }, 's-1');   // the latest row of s-1 wins
 * ```
 */
export function createInspectorOutbox(socket: InspectorSocket, options: InspectorOutboxOptions): InspectorOutbox {
  const { clock } = options;
  const queue: FrameQueue = createFrameQueue(options.maxQueuedFrames);
  let lost: Record<string, number> = {};
  let lostAny = false;
  let lostTotal = 0;
  let sent = 0;
  let skippedMarkers = 0;
  let scheduled = false;
  let waitTimer: unknown;
  let disposed = false;

  const write = (text: string): boolean => {
    try {
      socket.send(text);
      sent++;
      return true;
    } catch (err) {
      options.onError?.(err);
      dispose();
      return false;
    }
  };

  const flush = (): void => {
    scheduled = false;
    waitTimer = undefined;
    while (!disposed) {
      if (socket.bufferedAmount >= options.maxBufferedBytes) {
        // The page is not reading: look again later; meanwhile the queue absorbs or drops.
        waitTimer = clock.setTimeout(flush, options.drainCheckMs);
        return;
      }
      const dropped = queue.takeDropped();
      if (dropped || lostAny) {
        const byType: Record<string, number> = { ...lost };
        for (const [type, n] of Object.entries(dropped ?? {})) byType[type] = (byType[type] ?? 0) + n;
        lost = {};
        lostAny = false;
        const count = Object.values(byType).reduce((a, b) => a + b, 0);
        skippedMarkers++;
        if (!write(JSON.stringify({ type: 'skipped', count, byType }))) return;
        continue;
      }
      const text = queue.shift();
      if (text === undefined) return;
      if (!write(text)) return;
    }
  };

  const schedule = (): void => {
    if (scheduled || waitTimer !== undefined || disposed) return;
    scheduled = true;
    setImmediate(flush);
  };

  const dispose = (): void => {
    if (disposed) return;
    disposed = true;
    if (waitTimer !== undefined) clock.clearTimeout(waitTimer);
    waitTimer = undefined;
    queue.clear();
  };

  const pushText = (type: string, text: string, key?: string): void => {
    if (disposed) return;
    queue.push(type, text, key);
    schedule();
  };

  return {
    push(type, frame, key) {
      if (!disposed) pushText(type, JSON.stringify(frame), key);
    },
    pushText,
    lost(type, count) {
      if (disposed || count <= 0) return;
      lost[type] = (lost[type] ?? 0) + count;
      lostAny = true;
      lostTotal += count;
      schedule();
    },
    get stats() {
      return { queued: queue.size, sent, dropped: queue.droppedTotal + lostTotal, coalesced: queue.coalescedTotal, skippedMarkers };
    },
    get unread() {
      return queue.chars + socket.bufferedAmount;
    },
    dispose,
  };
}
