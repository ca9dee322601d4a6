import type { JournalRecord } from '../store/session-store.js';
import type { SessionId } from '../types.js';

/**
 * A frame the runtime publishes for a session, after its durable commit. Every frame carries the
 * journal `seq` it was stored under; seq grows by one per session with no gaps, and resuming
 * clients get the same frames again (`ack` for accepted messages, `reply`/`handoff` for output).
 */
export interface SessionFrame {
  readonly type: 'ack' | 'reply' | 'handoff';
  readonly seq: number;
  /** `ack`: the client message id. */
  readonly id?: string;
  /** `reply`/`handoff`: the message this answers; absent for unprompted output (timers, operators). */
  readonly replyTo?: string;
  /** Message text (`ack`: what the user said, for other viewers such as a human agent's desk). */
  readonly text?: string;
  readonly state?: string;
  readonly status?: string;
  readonly meta?: Readonly<Record<string, unknown>>;
  readonly time: number;
}

/** What `runtime.send` resolves with. */
export interface TurnOutcome {
  readonly sessionId: SessionId;
  readonly messageId?: string;
  /** Seq of the accepted message (the `ack`). */
  readonly seq?: number;
  /** The frames the turn produced, in seq order (exactly one `reply` per message). */
  readonly frames: readonly SessionFrame[];
  /** The state after the turn. */
  readonly state: string;
  /** True when the message id was seen before and the stored frames were returned. */
  readonly duplicate: boolean;
}

/** Turns a journal record into the frame clients receive. */
export function frameOf(record: JournalRecord): SessionFrame {
  if (record.dir === 'in') {
    return { type: 'ack', seq: record.seq, id: record.messageId, text: record.text, time: record.time };
  }
  const status = typeof record.meta?.status === 'string' ? record.meta.status : undefined;
  // The accepting agent's user id stays in the journal, for the access rules: clients see the name.
  let meta = record.meta;
  if (meta && 'agentUser' in meta) {
    const { agentUser: _agentUser, ...shown } = meta;
    meta = shown;
  }
  return {
    type: record.type === 'handoff' ? 'handoff' : 'reply',
    seq: record.seq,
    ...(record.messageId !== undefined ? { replyTo: record.messageId } : {}),
    text: record.text,
    ...(record.state !== undefined ? { state: record.state } : {}),
    ...(status !== undefined ? { status } : {}),
    ...(meta ? { meta } : {}),
    time: record.time,
  };
}

/** Renders an XState state value as dotted paths: `{ task: { orderStatus: 'ask' } }` → `task.orderStatus.ask`. */
export function stateToString(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === null || typeof value !== 'object') return String(value);
  const parts: string[] = [];
  for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
    const rest = stateToString(child);
    parts.push(rest === '' || (typeof child === 'object' && child !== null && Object.keys(child).length === 0) ? key : `${key}.${rest}`);
  }
  return parts.join(',');
}
