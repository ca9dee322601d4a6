/**
 * The chat protocol's frames (docs/protocol.md): parsing and validating what clients send, and
 * shaping what the server sends. Pure: no I/O, no clock, never throws on client input, so it can be
 * fuzzed on its own.
 */
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import type { SessionFrame } from '../sessions/session-frames.js';
import { isValidId } from '../types.js';
import { authToken, own, readFrameObject } from './frame-json.js';

/** Frames a client sends. */
export type ClientFrame =
  | { readonly type: 'auth'; readonly token: string }
  | { readonly type: 'hello'; readonly sessionId?: string; readonly lastSeq?: number }
  | { readonly type: 'message'; readonly id: string; readonly text: string }
  | { readonly type: 'ping'; readonly id?: string };

/** The client frame types, for documentation and fuzzing. */
export const CLIENT_FRAME_TYPES = ['auth', 'hello', 'message', 'ping'] as const;

/** Frames the server sends. Frames with a `seq` are journaled; resuming clients get them again. */
export type ServerFrame =
  | { readonly type: 'ready'; readonly sessionId: string; readonly lastSeq: number }
  | { readonly type: 'ack'; readonly id: string; readonly seq: number; readonly time?: number }
  | { readonly type: 'delta'; readonly replyTo: string; readonly text: string }
  | {
      readonly type: 'reply';
      readonly seq: number;
      readonly replyTo?: string;
      readonly text: string;
      readonly state: string;
      /** Who wrote it, when not the assistant: `{ from: 'human', agent: 'Sam' }`; `{ silent: true }` for a relayed message. */
      readonly meta?: Readonly<Record<string, unknown>>;
      readonly time?: number;
    }
  | {
      readonly type: 'handoff';
      readonly seq: number;
      readonly status: string;
      readonly replyTo?: string;
      readonly text?: string;
      readonly state: string;
      readonly meta?: Readonly<Record<string, unknown>>;
      readonly time?: number;
    }
  | { readonly type: 'error'; readonly code: ErrorCode; readonly message: string; readonly retryable: boolean; readonly id?: string }
  | { readonly type: 'pong'; readonly id?: string };

/** Limits the parser enforces. */
export interface FrameLimits {
  /** Longest `message.text`, in UTF-16 code units; longer is `too_large`. */
  readonly maxTextChars: number;
  /** Longest `auth.token`; longer is `bad_frame` (a real token is far shorter). */
  readonly maxTokenChars: number;
}

/** A frame the parser refused, with the error frame's fields. */
export interface FrameRejection {
  readonly code: 'bad_frame' | 'too_large';
  readonly message: string;
  /** The message id, when the frame was a message with a usable id (so the client can match it). */
  readonly id?: string;
}

/** What {@link parseClientFrame} returns; it never throws. */
export type ParsedFrame = { readonly ok: true; readonly frame: ClientFrame } | { readonly ok: false; readonly error: FrameRejection };

const reject = (code: FrameRejection['code'], message: string, id?: string): ParsedFrame => ({
  ok: false,
  error: id === undefined ? { code, message } : { code, message, id },
});

/**
 * Parses and validates one text frame from a client. Unknown fields are ignored; unknown types,
 * missing or mistyped fields and malformed JSON are `bad_frame`; an over-long message text is
 * `too_large`. Never throws.
 *
 * @example
 * ```ts
 * parseClientFrame('{"type":"message","id":"m1","text":"hi"}', { maxTextChars: 4000, maxTokenChars: 4096 });
 * // { ok: true, frame: { type: 'message', id: 'm1', text: 'hi' } }
 * parseClientFrame('{oops', limits); // { ok: false, error: { code: 'bad_frame', message: 'frame is not valid JSON' } }
 * ```
 */
export function parseClientFrame(data: string, limits: FrameLimits): ParsedFrame {
  const read = readFrameObject(data);
  if (!read.ok) return reject('bad_frame', read.message);
  const obj = read.obj;
  const type = own(obj, 'type');
  switch (type) {
    case 'auth': {
      const auth = authToken(obj, limits.maxTokenChars);
      return auth.ok ? { ok: true, frame: { type, token: auth.token } } : reject('bad_frame', auth.message);
    }
    case 'hello': {
      const sessionId = own(obj, 'sessionId');
      const lastSeq = own(obj, 'lastSeq');
      if (sessionId !== undefined && sessionId !== null && !isValidId(sessionId)) {
        return reject('bad_frame', 'hello.sessionId must be 1-128 characters [A-Za-z0-9._:@-]');
      }
      if (lastSeq !== undefined && lastSeq !== null && !(Number.isSafeInteger(lastSeq) && (lastSeq as number) >= 0)) {
        return reject('bad_frame', 'hello.lastSeq must be an integer >= 0');
      }
      return {
        ok: true,
        frame: {
          type,
          ...(typeof sessionId === 'string' ? { sessionId } : {}),
          ...(typeof lastSeq === 'number' ? { lastSeq } : {}),
        },
      };
    }
    case 'message': {
      const id = own(obj, 'id');
      const text = own(obj, 'text');
      if (!isValidId(id)) return reject('bad_frame', 'message.id must be 1-128 characters [A-Za-z0-9._:@-]');
      if (typeof text !== 'string') return reject('bad_frame', 'message.text must be a string', id);
      if (text.trim() === '') return reject('bad_frame', 'message.text must not be empty', id);
      if (text.length > limits.maxTextChars) return reject('too_large', `message.text is longer than ${limits.maxTextChars} characters`, id);
      return { ok: true, frame: { type, id, text } };
    }
    case 'ping': {
      const id = own(obj, 'id');
      if (id !== undefined && !isValidId(id)) return reject('bad_frame', 'ping.id must be 1-128 characters [A-Za-z0-9._:@-]');
      return { ok: true, frame: id === undefined ? { type } : { type, id } };
    }
    default:
      return reject('bad_frame', typeof type === 'string' ? 'unknown frame type' : 'frame.type must be a string');
  }
}

/**
 * Shapes a journaled session frame for a chat client. Acks never carry the message text: the
 * sender has it, and echoing what a customer typed only widens where personal data travels.
 *
 * @example
 * ```ts
 * toServerFrame({ type: 'ack', seq: 3, id: 'm1', text: 'hi', time: 0 }); // { type: 'ack', id: 'm1', seq: 3, time: 0 }
 * ```
 */
export function toServerFrame(frame: SessionFrame): ServerFrame {
  switch (frame.type) {
    case 'ack':
      return { type: 'ack', id: frame.id ?? '', seq: frame.seq, time: frame.time };
    case 'handoff': {
      const { status: _status, ...meta } = (frame.meta ?? {}) as Record<string, unknown>;
      return {
        type: 'handoff',
        seq: frame.seq,
        status: frame.status ?? 'requested',
        ...(frame.replyTo !== undefined ? { replyTo: frame.replyTo } : {}),
        ...(frame.text ? { text: frame.text } : {}),
        state: frame.state ?? '',
        ...(Object.keys(meta).length > 0 ? { meta } : {}),
        time: frame.time,
      };
    }
    default: {
      const meta = replyMeta(frame.meta);
      return {
        type: 'reply',
        seq: frame.seq,
        ...(frame.replyTo !== undefined ? { replyTo: frame.replyTo } : {}),
        text: frame.text ?? '',
        state: frame.state ?? '',
        ...(meta ? { meta } : {}),
        time: frame.time,
      };
    }
  }
}

/** Reply metadata a customer may see: who wrote it (a human agent) and whether it is a silent relay; nothing internal. */
const REPLY_META_KEYS = ['from', 'agent', 'silent'] as const;

function replyMeta(meta: SessionFrame['meta']): Record<string, unknown> | undefined {
  if (!meta) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of REPLY_META_KEYS) {
    const value = Object.hasOwn(meta, key) ? meta[key] : undefined;
    if (typeof value === 'string' || typeof value === 'boolean') out[key] = value;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * An `error` frame for `code`; `retryable` comes from the error catalogue.
 *
 * @example
 * ```ts
 * errorFrame('rate_limited', 'slow down', 'm7'); // { type: 'error', code: 'rate_limited', message: 'slow down', retryable: true, id: 'm7' }
 * ```
 */
export function errorFrame(code: ErrorCode, message: string, id?: string): ServerFrame {
  return { type: 'error', code, message, retryable: ERROR_CODES[code].retryable, ...(id !== undefined ? { id } : {}) };
}
