/**
 * Fair handling of inbound frames. A burst of messages from thousands of sockets arrives in one
 * poll phase of the event loop; handled as it arrives, each frame runs its share of a turn
 * synchronously and timers (heartbeats, session timers, slow consumers' deadlines) wait for all of
 * them: seconds at 5,000 connections. Frames are queued instead and handled in slices of a few
 * milliseconds, in arrival order, with the loop free between slices. When the queue grows past
 * its high-water mark, the sockets that keep sending are paused (TCP back-pressure) until it has
 * drained below the low-water mark.
 */

import { passBudget } from '../clock.js';

/** A socket that can stop and resume reading (`ws` WebSocket). */
export interface PausableSocket {
  pause(): void;
  resume(): void;
}

/** Options of {@link createInboundQueue}. */
export interface InboundQueueOptions {
  /** Longest run of frame handling before the event loop gets a turn, in ms. Default 5. */
  readonly sliceMs?: number;
  /** Queued frames above which sending sockets are paused. Default 2048. */
  readonly highWater?: number;
  /** Queued frames below which paused sockets resume. Default 256. */
  readonly lowWater?: number;
  /** Time source for slices. Default `performance.now`. */
  readonly now?: () => number;
  /** Told when handling a frame throws (the queue goes on). Default: ignored. */
  readonly onError?: (err: unknown) => void;
}

/** The defaults of {@link InboundQueueOptions}. */
export const defaultInboundQueueOptions = Object.freeze({ sliceMs: 5, highWater: 2048, lowWater: 256 });

/** The queue of one endpoint. */
export interface InboundQueue {
  /** Queues `handle` for a frame read from `socket`. */
  push(socket: PausableSocket, handle: () => void): void;
  /** Frames waiting. */
  readonly size: number;
  /** Drops the frames of nobody in particular and resumes every paused socket (shutdown). */
  clear(): void;
}

/**
 * Creates an inbound queue.
 *
 * @example
 * ```ts
 * const inbound = createInboundQueue({ sliceMs: 5 });
 * ws.on('message', (data) => inbound.push(ws, () => connection.receive(String(data), false)));
 * ```
 */
export function createInboundQueue(options: InboundQueueOptions = {}): InboundQueue {
  const sliceMs = options.sliceMs ?? defaultInboundQueueOptions.sliceMs;
  const highWater = options.highWater ?? defaultInboundQueueOptions.highWater;
  const lowWater = options.lowWater ?? defaultInboundQueueOptions.lowWater;
  if (!(sliceMs > 0)) throw new TypeError('option sliceMs must be a positive number of milliseconds');
  if (!Number.isInteger(highWater) || highWater < 1) throw new TypeError('option highWater must be a positive integer');
  if (!Number.isInteger(lowWater) || lowWater < 0 || lowWater >= highWater) throw new TypeError('option lowWater must be an integer in [0, highWater)');
  const now = options.now ?? (() => performance.now());
  // A ring of handlers: shift() on a large array is linear.
  let items: Array<(() => void) | undefined> = new Array(1024);
  let head = 0;
  let count = 0;
  const paused = new Set<PausableSocket>();
  let scheduled = false;

  const grow = (): void => {
    const next = new Array<(() => void) | undefined>(items.length * 2);
    for (let i = 0; i < count; i++) next[i] = items[(head + i) % items.length];
    items = next;
    head = 0;
  };

  const drain = (): void => {
    scheduled = false;
    const spent = passBudget(sliceMs, { now });
    while (count > 0) {
      const handle = items[head]!;
      items[head] = undefined;
      head = (head + 1) % items.length;
      count--;
      try {
        handle();
      } catch (err) {
        options.onError?.(err);
      }
      if (spent()) break;
    }
    if (paused.size > 0 && count <= lowWater) {
      for (const socket of paused) socket.resume();
      paused.clear();
    }
    if (count > 0) schedule();
  };

  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(drain);
  };

  return {
    push(socket, handle) {
      if (count === items.length) grow();
      items[(head + count) % items.length] = handle;
      count++;
      if (count > highWater && !paused.has(socket)) {
        paused.add(socket);
        socket.pause();
      }
      schedule();
    },
    get size() {
      return count;
    },
    clear() {
      items = new Array(1024);
      head = 0;
      count = 0;
      for (const socket of paused) socket.resume();
      paused.clear();
    },
  };
}
