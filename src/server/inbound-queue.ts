/**
 * Fair handling of inbound frames. A burst of messages from thousands of sockets arrives in one
 * poll phase of the event loop; handled as it arrives, each frame runs its share of a turn
 * synchronously and timers (heartbeats, session timers, slow consumers' deadlines) wait for all of
 * them: seconds at 5,000 connections. Frames are queued instead and handled in slices, in arrival
 * order, with the loop free between slices. A slice ends after `sliceMs` of handling or
 * `maxFramesPerSlice` frames: handling a frame only starts its turn, whose work runs in the
 * microtasks after the slice, which the slice's clock cannot see (docs/benchmarks.md, findings).
 * Two kinds of back-pressure
 * (the socket is paused: TCP slows its sender):
 * - one socket with more than `perSocketHighWater` frames waiting is paused until it has at most
 *   a quarter of that left, so one busy or hostile client cannot fill the queue ahead of everyone;
 * - when the whole queue grows past its high-water mark, the sockets that keep sending are paused
 *   until it has drained below the low-water mark.
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
  /**
   * Most frames handled in one slice. Default 32: the turns a slice starts run after it, in the
   * same macrotask (about 0.3 ms each for the support agent), so frames are bounded too.
   */
  readonly maxFramesPerSlice?: number;
  /** Queued frames above which sending sockets are paused. Default 2048. */
  readonly highWater?: number;
  /** Queued frames below which paused sockets resume. Default 256. */
  readonly lowWater?: number;
  /** Frames one socket may have waiting before it is paused (it resumes at a quarter of it). Default 64. */
  readonly perSocketHighWater?: number;
  /** Time source for slices. Default `performance.now`. */
  readonly now?: () => number;
  /** Told when handling a frame throws (the queue goes on). Default: ignored. */
  readonly onError?: (err: unknown) => void;
}

/** The defaults of {@link InboundQueueOptions}. */
export const defaultInboundQueueOptions = Object.freeze({ sliceMs: 5, maxFramesPerSlice: 32, highWater: 2048, lowWater: 256, perSocketHighWater: 64 });

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
  const maxFramesPerSlice = options.maxFramesPerSlice ?? defaultInboundQueueOptions.maxFramesPerSlice;
  if (!(sliceMs > 0)) throw new TypeError('option sliceMs must be a positive number of milliseconds');
  if (!Number.isInteger(maxFramesPerSlice) || maxFramesPerSlice < 1) throw new TypeError('option maxFramesPerSlice must be a positive integer');
  if (!Number.isInteger(highWater) || highWater < 1) throw new TypeError('option highWater must be a positive integer');
  if (!Number.isInteger(lowWater) || lowWater < 0 || lowWater >= highWater) throw new TypeError('option lowWater must be an integer in [0, highWater)');
  const perSocketHighWater = options.perSocketHighWater ?? defaultInboundQueueOptions.perSocketHighWater;
  if (!Number.isInteger(perSocketHighWater) || perSocketHighWater < 1) throw new TypeError('option perSocketHighWater must be a positive integer');
  const perSocketLowWater = Math.floor(perSocketHighWater / 4);
  const now = options.now ?? (() => performance.now());
  // A ring of handlers and their sockets: shift() on a large array is linear.
  let items: Array<(() => void) | undefined> = new Array(1024);
  let owners: Array<PausableSocket | undefined> = new Array(1024);
  let head = 0;
  let count = 0;
  /** Frames waiting, per socket that has any. */
  const waiting = new Map<PausableSocket, number>();
  /** Paused sockets, and whether for their own backlog (`own`) or the whole queue's (`queue`). */
  const paused = new Map<PausableSocket, 'own' | 'queue'>();
  let scheduled = false;

  const grow = (): void => {
    const next = new Array<(() => void) | undefined>(items.length * 2);
    const nextOwners = new Array<PausableSocket | undefined>(items.length * 2);
    for (let i = 0; i < count; i++) {
      next[i] = items[(head + i) % items.length];
      nextOwners[i] = owners[(head + i) % items.length];
    }
    items = next;
    owners = nextOwners;
    head = 0;
  };

  const resumeDrained = (): void => {
    for (const [socket, why] of paused) {
      const ready = why === 'queue' ? count <= lowWater : count <= highWater && (waiting.get(socket) ?? 0) <= perSocketLowWater;
      if (!ready) continue;
      paused.delete(socket);
      socket.resume();
    }
  };

  const drain = (): void => {
    scheduled = false;
    const spent = passBudget(sliceMs, { now });
    let handled = 0;
    while (count > 0) {
      const handle = items[head]!;
      const owner = owners[head]!;
      items[head] = undefined;
      owners[head] = undefined;
      head = (head + 1) % items.length;
      count--;
      const left = (waiting.get(owner) ?? 1) - 1;
      if (left === 0) waiting.delete(owner);
      else waiting.set(owner, left);
      try {
        handle();
      } catch (err) {
        options.onError?.(err);
      }
      if (++handled >= maxFramesPerSlice || spent()) break;
    }
    if (paused.size > 0) resumeDrained();
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
      const at = (head + count) % items.length;
      items[at] = handle;
      owners[at] = socket;
      count++;
      const mine = (waiting.get(socket) ?? 0) + 1;
      waiting.set(socket, mine);
      if (!paused.has(socket) && (count > highWater || mine > perSocketHighWater)) {
        paused.set(socket, count > highWater ? 'queue' : 'own');
        socket.pause();
      }
      schedule();
    },
    get size() {
      return count;
    },
    clear() {
      items = new Array(1024);
      owners = new Array(1024);
      head = 0;
      count = 0;
      waiting.clear();
      for (const socket of paused.keys()) socket.resume();
      paused.clear();
    },
  };
}
