/**
 * The human agents' desk protocol (docs/protocol.md, "The agent desk"): parsing what a desk client
 * sends, the frames the server sends, and how a session's journaled frames read as transcript
 * lines. Pure: no I/O, no clock, never throws on client input.
 */
import { ERROR_CODES, type ErrorCode } from '../errors.js';
import type { SessionFrame } from '../sessions/session-frames.js';
import { isValidId, type Json } from '../types.js';
import { authToken, own, readFrameObject, typeLabel } from './frame-json.js';

/** Frames a desk client sends. `id` (optional on all but `say`) is echoed in the answer. */
export type DeskClientFrame =
  | { readonly type: 'auth'; readonly token: string }
  | { readonly type: 'ping'; readonly id?: string }
  | { readonly type: 'take'; readonly sessionId: string; readonly id?: string }
  | { readonly type: 'say'; readonly sessionId: string; readonly id: string; readonly text: string }
  | { readonly type: 'release'; readonly sessionId: string; readonly id?: string }
  | { readonly type: 'close'; readonly sessionId: string; readonly id?: string; readonly summary?: string }
  | { readonly type: 'approve'; readonly sessionId: string; readonly id?: string; readonly call?: string }
  | { readonly type: 'reject'; readonly sessionId: string; readonly id?: string; readonly reason?: string; readonly call?: string };

/** The desk client frame types. */
export const DESK_CLIENT_FRAME_TYPES = ['auth', 'ping', 'take', 'say', 'release', 'close', 'approve', 'reject'] as const;

/** Who wrote a transcript line. */
export type DeskLineRole = 'customer' | 'assistant' | 'human' | 'operator' | 'status';

/** One line of a conversation as the desk shows it. */
export interface DeskLine {
  readonly seq: number;
  readonly role: DeskLineRole;
  readonly text: string;
  readonly time: number;
  /** `human`/`operator` lines: the display name of who wrote it. */
  readonly agent?: string;
  /** `status` lines: the hand-off status (`queued`, `accepted`, `completed`...). */
  readonly status?: string;
}

/** A request in the queue as an agent sees it. */
export interface DeskQueueItem {
  readonly sessionId: string;
  readonly user: string;
  readonly reason: string;
  /** 1 for the next to be taken. */
  readonly position: number;
  readonly queuedAt: number;
  readonly waitingMs: number;
  /** The task in progress when it was handed off, if any. */
  readonly task: string | null;
  /** The customer's last words before the hand-off (at most 160 characters). */
  readonly preview: string;
}

/** A high-impact tool call waiting for a human's approval. */
export interface DeskApproval {
  readonly sessionId: string;
  readonly user: string;
  readonly task: string | null;
  readonly tool: string | null;
  /** The call (`<seq>:<tool>:<index>`): an `approve` or `reject` naming it decides only this call. */
  readonly call: string | null;
  /** The call's arguments as the decision trace keeps them (personal values redacted). */
  readonly args: Readonly<Record<string, Json>> | null;
  readonly since: number;
}

/** Frames the desk server sends. */
export type DeskServerFrame =
  | {
      readonly type: 'ready';
      readonly agent: { readonly tenant: string; readonly user: string; readonly role: string; readonly name: string };
      /** Conversations this agent still holds (after a reconnect): send `take` again to reopen them. */
      readonly held: readonly string[];
      readonly time: number;
    }
  | { readonly type: 'queue'; readonly entries: readonly DeskQueueItem[]; readonly agentsOnline: number; readonly time: number }
  | { readonly type: 'approvals'; readonly entries: readonly DeskApproval[] }
  | {
      readonly type: 'taken';
      readonly id?: string;
      readonly sessionId: string;
      readonly user: string;
      readonly reason: string;
      readonly summary: Readonly<Record<string, Json>>;
      readonly transcript: readonly DeskLine[];
      readonly lastSeq: number;
      readonly waitedMs: number | null;
    }
  | ({ readonly type: 'line'; readonly sessionId: string } & DeskLine)
  | { readonly type: 'sent'; readonly id: string; readonly sessionId: string; readonly seq: number }
  | { readonly type: 'ended'; readonly id?: string; readonly sessionId: string; readonly status: 'released' | 'completed' | 'ended'; readonly reason?: string }
  | { readonly type: 'decided'; readonly id?: string; readonly sessionId: string; readonly decision: 'approved' | 'rejected' }
  | {
      readonly type: 'error';
      readonly code: ErrorCode;
      readonly message: string;
      readonly retryable: boolean;
      readonly id?: string;
      readonly sessionId?: string;
      /** Why a conversation command was refused: `taken`, `not_waiting`, `not_held`, `tenant`. */
      readonly reason?: DeskRefusal;
    }
  | { readonly type: 'pong'; readonly id?: string };

/** Why the desk refused a command about a conversation. */
export type DeskRefusal = 'taken' | 'not_waiting' | 'not_held' | 'tenant' | 'another_call' | 'approver';

/** Limits the desk parser enforces. */
export interface DeskFrameLimits {
  readonly maxTextChars: number;
  readonly maxTokenChars: number;
}

/** What {@link parseDeskFrame} returns; it never throws. */
export type ParsedDeskFrame =
  | { readonly ok: true; readonly frame: DeskClientFrame }
  | { readonly ok: false; readonly error: { readonly code: 'bad_frame' | 'too_large'; readonly message: string; readonly id?: string } };

const MAX_NOTE_CHARS = 500;
/** Longest call an approve or reject may name (`<seq>:<tool>:<index>`). */
const MAX_CALL_CHARS = 200;

/**
 * Parses and validates one text frame from a desk client. Unknown fields are ignored; unknown
 * types, malformed JSON and missing or mistyped fields are `bad_frame`; a `say` text over the
 * limit is `too_large`. There is no field naming who acts: that is always the token's identity.
 *
 * @example
 * ```ts
 * parseDeskFrame('{"type":"take","sessionId":"s-1"}', { maxTextChars: 4000, maxTokenChars: 4096 });
 * // { ok: true, frame: { type: 'take', sessionId: 's-1' } }
 * ```
 */
export function parseDeskFrame(data: string, limits: DeskFrameLimits): ParsedDeskFrame {
  const read = readFrameObject(data);
  if (!read.ok) return fail('bad_frame', read.message);
  const obj = read.obj;
  const type = own(obj, 'type');
  const rawId = own(obj, 'id');
  if (rawId !== undefined && !isValidId(rawId)) return fail('bad_frame', `${typeLabel(type)}.id must be 1-128 characters [A-Za-z0-9._:@-]`);
  const id = rawId as string | undefined;
  const withId = id === undefined ? {} : { id };
  if (type === 'auth') {
    const auth = authToken(obj, limits.maxTokenChars);
    return auth.ok ? { ok: true, frame: { type, token: auth.token } } : fail('bad_frame', auth.message);
  }
  if (type === 'ping') return { ok: true, frame: { type, ...withId } };
  if (type !== 'take' && type !== 'say' && type !== 'release' && type !== 'close' && type !== 'approve' && type !== 'reject') {
    return fail('bad_frame', typeof type === 'string' ? 'unknown frame type' : 'frame.type must be a string', id);
  }
  const sessionId = own(obj, 'sessionId');
  if (!isValidId(sessionId)) return fail('bad_frame', `${type}.sessionId must be 1-128 characters [A-Za-z0-9._:@-]`, id);
  // approve and reject may name the call (the approvals board's `call`): only that call is decided.
  const call = type === 'approve' || type === 'reject' ? own(obj, 'call') : undefined;
  if (call !== undefined && (typeof call !== 'string' || call === '' || call.length > MAX_CALL_CHARS)) {
    return fail('bad_frame', `${type}.call must be a string of 1-${MAX_CALL_CHARS} characters`, id);
  }
  const named = call !== undefined ? { call } : {};
  switch (type) {
    case 'say': {
      const text = own(obj, 'text');
      if (id === undefined) return fail('bad_frame', 'say.id is required: it makes a resend safe');
      if (typeof text !== 'string' || text.trim() === '') return fail('bad_frame', 'say.text must be a non-empty string', id);
      if (text.length > limits.maxTextChars) return fail('too_large', `say.text is longer than ${limits.maxTextChars} characters`, id);
      return { ok: true, frame: { type, sessionId, id, text } };
    }
    case 'close':
    case 'reject': {
      const key = type === 'close' ? 'summary' : 'reason';
      const note = own(obj, key);
      if (note !== undefined && typeof note !== 'string') return fail('bad_frame', `${type}.${key} must be a string`, id);
      const kept = typeof note === 'string' && note.trim() !== '' ? { [key]: note.trim().slice(0, MAX_NOTE_CHARS) } : {};
      return { ok: true, frame: { type, sessionId, ...withId, ...kept, ...named } as DeskClientFrame };
    }
    default:
      return { ok: true, frame: { type, sessionId, ...withId, ...named } };
  }
}

/**
 * A session's journaled frame as a transcript line, or undefined for frames an agent does not
 * read (acks of nothing, the empty replies that stand for a relayed message).
 *
 * @example
 * ```ts
 * toDeskLine({ type: 'ack', seq: 7, id: 'm-3', text: 'is anyone there?', time: 1 });
 * // { seq: 7, role: 'customer', text: 'is anyone there?', time: 1 }
 * ```
 */
export function toDeskLine(frame: SessionFrame): DeskLine | undefined {
  const text = frame.text ?? '';
  const base = { seq: frame.seq, time: frame.time };
  if (frame.type === 'ack') return text === '' ? undefined : { ...base, role: 'customer', text };
  if (frame.type === 'handoff') return { ...base, role: 'status', text, status: frame.status ?? 'requested', ...agentOf(frame.meta) };
  if (text.trim() === '' || frame.meta?.silent === true) return undefined;
  const from = frame.meta?.from;
  const role: DeskLineRole = from === 'human' ? 'human' : from === 'operator' ? 'operator' : 'assistant';
  return { ...base, role, text, ...(role === 'assistant' ? {} : agentOf(frame.meta)) };
}

/**
 * A desk `error` frame; `retryable` comes from the error catalogue.
 *
 * @example
 * ```ts
 * deskError('forbidden', 'another agent has taken this conversation', { id: 't1', sessionId: 's-1', reason: 'taken' });
 * ```
 */
export function deskError(
  code: ErrorCode,
  message: string,
  about: { id?: string | undefined; sessionId?: string | undefined; reason?: DeskRefusal } = {},
): DeskServerFrame {
  return {
    type: 'error', code, message, retryable: ERROR_CODES[code].retryable,
    ...(about.id !== undefined ? { id: about.id } : {}),
    ...(about.sessionId !== undefined ? { sessionId: about.sessionId } : {}),
    ...(about.reason !== undefined ? { reason: about.reason } : {}),
  };
}

function agentOf(meta: SessionFrame['meta']): { agent?: string } {
  return typeof meta?.agent === 'string' && meta.agent !== '' ? { agent: meta.agent } : {};
}

function fail(code: 'bad_frame' | 'too_large', message: string, id?: string): ParsedDeskFrame {
  return { ok: false, error: id === undefined ? { code, message } : { code, message, id } };
}
