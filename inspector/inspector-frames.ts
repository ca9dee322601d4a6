/**
 * The inspector's WebSocket protocol (`/inspector/ws`): what the page may ask, checked field by
 * field (a frame from a browser is untrusted input), and the server frames it receives.
 *
 * client → `{"type":"auth","token":"..."}` first, unless the upgrade carried `Authorization: Bearer`
 * client → `{"type":"watch","sessionId":"..."|null}` one session's live timeline (and its inspection), or none
 * client → `{"type":"sessions"}` the session list again
 * client → `{"type":"query","id":"q1","since":ms,"until"?:ms,"session"?,"user"?,"kinds"?:[...],"limit"?:n}` history
 * client → `{"type":"report","id":"r1","since":ms,"until"?:ms}` behavioural diagnostics of the period
 * client → `{"type":"signal","id":"s1","sessionId":"...","event":{"type":"operator.handoff","reason"?}}` (admins)
 *
 * server → `welcome`, `sessions`, `session` (one row, coalesced), `session.detail`, `event`,
 * `health`, `alerts`, `skipped`, `query.result`, `report.result`, `signal.result`, `error`.
 */
import { DECISION_KINDS, type DecisionKind } from '../src/ports.js';
import { isValidId } from '../src/types.js';
import { typeLabel } from '../src/server/frame-json.js';

/** Operator commands the inspector may send, with the fields each one carries. */
export const OPERATOR_SIGNALS = Object.freeze({
  'operator.handoff': 'reason',
  'operator.release': undefined,
  'operator.say': 'text',
} as const);

/** One of {@link OPERATOR_SIGNALS}. */
export type OperatorSignalType = keyof typeof OPERATOR_SIGNALS;

/** A parsed client frame. */
export type InspectorClientFrame =
  | { readonly type: 'auth'; readonly token: string }
  | { readonly type: 'watch'; readonly sessionId: string | null }
  | { readonly type: 'sessions' }
  | {
      readonly type: 'query'; readonly id: string; readonly since: number; readonly until?: number; readonly session?: string;
      readonly user?: string; readonly kinds?: readonly DecisionKind[]; readonly limit?: number;
    }
  | { readonly type: 'report'; readonly id: string; readonly since: number; readonly until?: number }
  | { readonly type: 'signal'; readonly id: string; readonly sessionId: string; readonly event: { readonly type: OperatorSignalType; readonly reason?: string; readonly text?: string } };

/** A frame that could not be used, with the request id when there was one. */
export interface InspectorFrameError {
  readonly error: string;
  readonly id?: string;
}

const REQUEST_ID = /^[A-Za-z0-9_-]{1,64}$/;
const time = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/**
 * Parses one client frame; bad input gives an error naming the field, never a throw.
 *
 * @example
 * ```ts
 * parseInspectorFrame('{"type":"watch","sessionId":"s-1"}', 2000); // { type: 'watch', sessionId: 's-1' }
 * parseInspectorFrame('{"type":"watch","sessionId":7}', 2000);     // { error: 'sessionId must be a session id or null' }
 * ```
 */
export function parseInspectorFrame(text: string, maxSignalTextChars: number): InspectorClientFrame | InspectorFrameError {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return { error: 'frames are JSON objects' };
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { error: 'frames are JSON objects' };
  const f = raw as Record<string, unknown>;
  const id = typeof f.id === 'string' && REQUEST_ID.test(f.id) ? f.id : undefined;
  const fail = (error: string): InspectorFrameError => ({ error, ...(id !== undefined ? { id } : {}) });
  switch (f.type) {
    case 'auth':
      return typeof f.token === 'string' && f.token !== '' ? { type: 'auth', token: f.token } : fail('token must be a non-empty string');
    case 'watch':
      if (f.sessionId === null) return { type: 'watch', sessionId: null };
      return isValidId(f.sessionId) ? { type: 'watch', sessionId: f.sessionId } : fail('sessionId must be a session id or null');
    case 'sessions':
      return { type: 'sessions' };
    case 'query': {
      if (id === undefined) return fail('id must be 1-64 letters, digits, _ or -');
      if (!time(f.since)) return fail('since must be epoch milliseconds');
      if (f.until !== undefined && (!time(f.until) || f.until < f.since)) return fail('until must be epoch milliseconds not before since');
      for (const key of ['session', 'user'] as const) if (f[key] !== undefined && !isValidId(f[key])) return fail(`${key} must be an id`);
      if (f.kinds !== undefined && (!Array.isArray(f.kinds) || f.kinds.some((k) => !(DECISION_KINDS as readonly unknown[]).includes(k)))) {
        return fail(`kinds must be a list of ${DECISION_KINDS.join(', ')}`);
      }
      if (f.limit !== undefined && (!Number.isInteger(f.limit) || (f.limit as number) < 1)) return fail('limit must be a positive integer');
      return {
        type: 'query', id, since: f.since,
        ...(f.until !== undefined ? { until: f.until as number } : {}),
        ...(f.session !== undefined ? { session: f.session as string } : {}),
        ...(f.user !== undefined ? { user: f.user as string } : {}),
        ...(f.kinds !== undefined ? { kinds: f.kinds as DecisionKind[] } : {}),
        ...(f.limit !== undefined ? { limit: f.limit as number } : {}),
      };
    }
    case 'report':
      if (id === undefined) return fail('id must be 1-64 letters, digits, _ or -');
      if (!time(f.since)) return fail('since must be epoch milliseconds');
      if (f.until !== undefined && (!time(f.until) || f.until < f.since)) return fail('until must be epoch milliseconds not before since');
      return { type: 'report', id, since: f.since, ...(f.until !== undefined ? { until: f.until as number } : {}) };
    case 'signal': {
      if (id === undefined) return fail('id must be 1-64 letters, digits, _ or -');
      if (!isValidId(f.sessionId)) return fail('sessionId must be a session id');
      const e = f.event as Record<string, unknown> | null;
      if (e === null || typeof e !== 'object' || typeof e.type !== 'string' || !Object.hasOwn(OPERATOR_SIGNALS, e.type)) {
        return fail(`event.type must be one of ${Object.keys(OPERATOR_SIGNALS).join(', ')}`);
      }
      const type = e.type as OperatorSignalType;
      const field = OPERATOR_SIGNALS[type];
      const value = field === undefined ? undefined : e[field];
      if (value !== undefined && (typeof value !== 'string' || value.length > maxSignalTextChars)) return fail(`event.${field} must be a string of at most ${maxSignalTextChars} characters`);
      if (type === 'operator.say' && (typeof value !== 'string' || value.trim() === '')) return fail('event.text must say something');
      return { type: 'signal', id, sessionId: f.sessionId, event: { type, ...(field !== undefined && value !== undefined ? { [field]: value } : {}) } };
    }
    default:
      return fail(`unknown frame type ${JSON.stringify(typeLabel(f.type)).slice(0, 40)}`);
  }
}
