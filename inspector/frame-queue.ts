/**
 * The bounded outbound queue of one inspector client. The decision path only ever appends to it
 * (never awaits a socket); a flush writes while the socket's buffer has room. When the queue is
 * full, low-value frames go first: a frame with a coalescing key replaces the queued frame with
 * the same key (the latest state of a session wins), and plain frames (timeline events) are
 * dropped and counted, so a slow inspector sees gaps it is told about, never a slower agent.
 */

/** One queued frame: its serialised text, and the key under which a newer frame replaces it. */
interface Entry {
  text: string;
  readonly type: string;
  readonly key: string | undefined;
  /** False once replaced or dropped; the array slot is skipped. */
  live: boolean;
}

/** The queue of one client. */
export interface FrameQueue {
  /**
   * Queues `text`. With `key`, a queued frame with the same key is replaced in place (coalesced)
   * instead of adding one. Returns false when the frame was dropped.
   */
  push(type: string, text: string, key?: string): boolean;
  /** Takes the oldest frame, or undefined. */
  shift(): string | undefined;
  /** Frames waiting. */
  readonly size: number;
  /** Characters of the frames waiting. */
  readonly chars: number;
  /** Frames dropped (by frame type) since the last call; resets the counts. */
  takeDropped(): Record<string, number> | undefined;
  /** Frames dropped since the queue was made. */
  readonly droppedTotal: number;
  /** Frames replaced by a newer one with the same key since the queue was made. */
  readonly coalescedTotal: number;
  clear(): void;
}

/**
 * Creates a queue holding at most `maxFrames` frames.
 *
 * @example
 * ```ts
 * const q = createFrameQueue(1000);
 * q.push('session', JSON.stringify(frame), `session:${id}`); // replaces the older state of id
 * q.push('decision', JSON.stringify(event));                // dropped and counted when full
 * ```
 */
export function createFrameQueue(maxFrames: number): FrameQueue {
  if (!Number.isSafeInteger(maxFrames) || maxFrames < 1) throw new TypeError('option maxQueuedFrames must be a positive integer');
  let entries: Entry[] = [];
  let head = 0;
  let size = 0;
  let chars = 0;
  const byKey = new Map<string, Entry>();
  let dropped: Record<string, number> = {};
  let anyDropped = false;
  let droppedTotal = 0;
  let coalescedTotal = 0;

  const countDrop = (type: string): void => {
    dropped[type] = (dropped[type] ?? 0) + 1;
    anyDropped = true;
    droppedTotal++;
  };

  /** Drops the oldest frame without a key to make room; false when every queued frame has a key. */
  const evictPlain = (): boolean => {
    for (let i = head; i < entries.length; i++) {
      const e = entries[i] as Entry;
      if (e.live && e.key === undefined) {
        e.live = false;
        size--;
        chars -= e.text.length;
        countDrop(e.type);
        return true;
      }
    }
    return false;
  };

  const compact = (): void => {
    // Amortised: the array is rebuilt only once most of it is consumed.
    if (head > 1024 && head * 2 > entries.length) {
      entries = entries.slice(head);
      head = 0;
    }
  };

  return {
    push(type, text, key) {
      if (key !== undefined) {
        const queued = byKey.get(key);
        if (queued?.live) {
          chars += text.length - queued.text.length;
          queued.text = text;
          coalescedTotal++;
          return true;
        }
      }
      if (size >= maxFrames) {
        // Keyed frames carry the latest state and are worth more than a timeline event.
        if (key === undefined || !evictPlain()) {
          countDrop(type);
          return false;
        }
      }
      const entry: Entry = { text, type, key, live: true };
      entries.push(entry);
      size++;
      chars += text.length;
      if (key !== undefined) byKey.set(key, entry);
      return true;
    },
    shift() {
      while (head < entries.length) {
        const e = entries[head] as Entry;
        entries[head] = undefined as unknown as Entry;
        head++;
        if (!e.live) continue;
        e.live = false;
        size--;
        chars -= e.text.length;
        if (e.key !== undefined && byKey.get(e.key) === e) byKey.delete(e.key);
        compact();
        return e.text;
      }
      entries = [];
      head = 0;
      return undefined;
    },
    get size() {
      return size;
    },
    get chars() {
      return chars;
    },
    takeDropped() {
      if (!anyDropped) return undefined;
      const out = dropped;
      dropped = {};
      anyDropped = false;
      return out;
    },
    get droppedTotal() {
      return droppedTotal;
    },
    get coalescedTotal() {
      return coalescedTotal;
    },
    clear() {
      entries = [];
      head = 0;
      size = 0;
      chars = 0;
      byKey.clear();
    },
  };
}
