/**
 * WebSocket close codes the chat gateway uses. 1000-1015 are RFC 6455's; 4000-4999 are private to
 * keel and mirror HTTP statuses (4401 ~ 401) so they read at a glance. docs/protocol.md lists them.
 *
 * @example
 * ```ts
 * ws.on('close', (code) => { if (code === CLOSE_CODES.unauthorized) askForANewToken(); });
 * ```
 */
export const CLOSE_CODES = Object.freeze({
  /** Normal closure. */
  normal: 1000,
  /** The server is shutting down; reconnect (elsewhere or later) and resume. */
  goingAway: 1001,
  /** Protocol misuse the connection cannot recover from (e.g. a flood of frames before `ready`). */
  policyViolation: 1008,
  /** A frame over `maxPayloadBytes` (sent by `ws` itself). */
  tooBig: 1009,
  /** The server met an unexpected condition (an inspector page it could not open). */
  internalError: 1011,
  /** Try again later: the client reads too slowly (send buffer full) or the server is at its connection limit. */
  tryAgainLater: 1013,
  /** No token, a bad signature, an expired token, or a token that expired while connected. */
  unauthorized: 4401,
  /** A valid identity that may not connect here (origin not allowed, role not allowed). */
  forbidden: 4403,
  /** No `auth` frame within `authTimeoutMs`. */
  authTimeout: 4408,
  /** Over `maxConnectionsPerUser` for this tenant and user. */
  tooManyConnections: 4429,
} as const);

/** One of {@link CLOSE_CODES}. */
export type CloseCode = (typeof CLOSE_CODES)[keyof typeof CLOSE_CODES];

/**
 * Close reasons are at most 123 bytes (RFC 6455 §5.5); longer ones are cut at a character boundary.
 *
 * @example
 * ```ts
 * ws.close(CLOSE_CODES.forbidden, closeReason(`forbidden: origin ${origin} is not allowed`));
 * ```
 */
export function closeReason(reason: string): string {
  if (Buffer.byteLength(reason) <= 123) return reason;
  let out = '';
  for (const ch of reason) {
    if (Buffer.byteLength(out + ch) > 120) break;
    out += ch;
  }
  return `${out}...`;
}
