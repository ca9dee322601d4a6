/**
 * What one chat connection sends its client, exactly once: journaled frames from the replay and
 * the live subscription (de-duplicated by `seq`), streamed deltas (held back until their message's
 * ack went out), and the stored frames of a duplicate message (resent on purpose).
 */
import type { SessionFrame, TurnOutcome } from '../sessions/session-frames.js';
import { toServerFrame, type ServerFrame } from './chat-frames.js';
import type { PeerSocket } from './ws-connection-base.js';

/** Replay frames sent between waits for the socket to drain. */
const REPLAY_CHUNK = 64;
/** Deltas kept per message while its ack is pending; the reply has the whole text anyway. */
const MAX_HELD_DELTAS = 256;

/** The relay of one connection. */
export interface FrameRelay {
  /** Starts holding live frames: call before subscribing, so nothing slips between journal and subscription. */
  hold(): void;
  /** Frames the runtime committed (from the subscription). */
  committed(frames: readonly SessionFrame[]): void;
  /**
   * Sends journaled frames after `afterSeq` (in chunks, waiting for the socket to drain), then
   * what was held meanwhile, and goes live.
   */
  replay(frames: readonly SessionFrame[], afterSeq: number): Promise<void>;
  /** Follows one message in flight: its `onDelta` hook for the runtime, and `done()` when its turn ended. */
  track(messageId: string): { onDelta(text: string): void; done(): void };
  /** The client sent a known id again: its stored ack and frames go out again. */
  resend(messageId: string, outcome: TurnOutcome): void;
  /** Forgets the session (a failed hello); the relay can start over. */
  reset(): void;
  /** The connection ended: stop everything, release waits. */
  stop(): void;
}

/** What the relay needs from its connection. */
export interface FrameRelayArgs {
  readonly socket: Pick<PeerSocket, 'send' | 'cork' | 'uncork'>;
  /** Sends one frame, applying the slow-consumer limit (it may close the connection). */
  readonly send: (frame: ServerFrame) => void;
  /** Called when frames pile up behind a replay the client does not read. */
  readonly overflow: () => void;
  /** Live frames kept while a replay is being read before `overflow`. */
  readonly maxHeldFrames: number;
}

interface InFlight {
  acked: boolean;
  deltas: string[];
  count: number;
}

/**
 * Creates the relay of one connection.
 *
 * @example
 * ```ts
 * const relay = createFrameRelay({ socket, send, overflow: () => close(1013, 'slow consumer'), maxHeldFrames: 10_000 });
 * relay.hold();
 * runtime.subscribe(id, relay.committed);
 * await relay.replay(runtime.replay(id, lastSeq, identity), lastSeq);
 * ```
 */
export function createFrameRelay(args: FrameRelayArgs): FrameRelay {
  const { socket, send } = args;
  let lastSentSeq = 0;
  let held: SessionFrame[] | undefined;
  let stopped = false;
  const inFlight = new Map<string, InFlight>();
  /** Replay waits resolve when the connection ends, whatever the socket does with its callbacks. */
  const drainWaits = new Set<() => void>();

  const forwardEach = (frames: readonly SessionFrame[]): void => {
    const answered = new Set<string>();
    for (const f of frames) if (f.type !== 'ack' && f.replyTo !== undefined) answered.add(f.replyTo);
    for (const f of frames) {
      if (f.seq <= lastSentSeq) continue;
      lastSentSeq = f.seq;
      send(toServerFrame(f));
      if (f.type === 'ack' && f.id !== undefined) {
        const pending = inFlight.get(f.id);
        if (pending) {
          pending.acked = true;
          if (!answered.has(f.id)) for (const text of pending.deltas) send({ type: 'delta', replyTo: f.id, text });
          pending.deltas = [];
        }
      } else if (f.type === 'reply' && f.replyTo !== undefined) {
        inFlight.delete(f.replyTo);
      }
    }
  };

  const forward = (frames: readonly SessionFrame[]): void => {
    // An ack and its reply usually commit together: one write to the socket instead of two.
    const batch = frames.length > 1 && socket.cork !== undefined;
    if (batch) socket.cork?.();
    try {
      forwardEach(frames);
    } finally {
      if (batch) socket.uncork?.();
    }
  };

  /** Sends and resolves once the socket has taken the bytes (or the connection ended). */
  const sendAndDrain = (frame: ServerFrame): Promise<void> =>
    new Promise((resolve) => {
      if (stopped) return resolve();
      const wake = (): void => {
        drainWaits.delete(wake);
        resolve();
      };
      drainWaits.add(wake);
      try {
        socket.send(JSON.stringify(frame), wake);
      } catch {
        wake();
      }
    });

  return {
    hold() {
      held = [];
    },
    committed(frames) {
      if (stopped) return;
      if (!held) return forward(frames);
      held.push(...frames);
      if (held.length > args.maxHeldFrames) args.overflow();
    },
    async replay(frames, afterSeq) {
      lastSentSeq = afterSeq;
      for (let i = 0; i < frames.length && !stopped; i += REPLAY_CHUNK) {
        const chunk = frames.slice(i, i + REPLAY_CHUNK);
        const last = chunk.pop() as SessionFrame;
        forward(chunk);
        if (last.seq > lastSentSeq && !stopped) {
          lastSentSeq = last.seq;
          await sendAndDrain(toServerFrame(last));
        }
      }
      if (stopped) return;
      const live = held ?? [];
      held = undefined;
      forward(live);
    },
    track(messageId) {
      const entry = inFlight.get(messageId) ?? { acked: false, deltas: [], count: 0 };
      entry.count++;
      inFlight.set(messageId, entry);
      return {
        onDelta(text) {
          if (stopped || inFlight.get(messageId) !== entry) return;
          if (entry.acked) send({ type: 'delta', replyTo: messageId, text });
          else if (entry.deltas.length < MAX_HELD_DELTAS) entry.deltas.push(text);
        },
        done() {
          if (--entry.count <= 0 && inFlight.get(messageId) === entry) inFlight.delete(messageId);
        },
      };
    },
    resend(messageId, outcome) {
      if (stopped) return;
      socket.cork?.();
      try {
        if (outcome.seq !== undefined) send({ type: 'ack', id: messageId, seq: outcome.seq });
        for (const f of outcome.frames) send(toServerFrame(f));
      } finally {
        socket.uncork?.();
      }
    },
    reset() {
      held = undefined;
      lastSentSeq = 0;
      inFlight.clear();
    },
    stop() {
      stopped = true;
      held = undefined;
      inFlight.clear();
      for (const wake of drainWaits) wake();
      drainWaits.clear();
    },
  };
}
