/**
 * What every authenticated WebSocket connection of the server does the same way, whatever its
 * protocol (`/chat`, `/desk`): sign in with a Bearer header or a first `auth` frame within
 * `authTimeoutMs`, close when the token expires, rate-limit frames, hold frames while the
 * connection is busy (signing in, opening a session), refuse slow readers, answer `ping`, and
 * close once, with a reason a browser can read. The protocol itself comes in as hooks.
 * Written against a minimal socket so its rules can be tested without a network.
 */
import { KeelError, type ErrorCode } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { SignInAudit } from '../security/sign-in-audit.js';
import type { Identity } from '../types.js';
import { CLOSE_CODES, closeReason } from './close-codes.js';
import { createTokenBucket } from './rate-limiter.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ServerOptions, TokenVerifier } from './server-options.js';

/** The part of a WebSocket a connection uses. */
export interface PeerSocket {
  /** Bytes queued but not yet handed to the operating system. */
  readonly bufferedAmount: number;
  send(data: string, cb?: (err?: Error) => void): void;
  close(code: number, reason: string): void;
  /** Batches the following sends into one write until `uncork` (optional). */
  cork?(): void;
  uncork?(): void;
}

/** The identity a verified token names, with its expiry when it has one. */
export type VerifiedIdentity = Identity & { readonly expiresAt?: number };

/** A frame a client sends to sign in. */
export type AuthFrame = { readonly type: 'auth'; readonly token: string };
/** A frame a client sends to check the connection; answered with `pong`. */
export type PingFrame = { readonly type: 'ping'; readonly id?: string };

/** What a protocol's parser returns for one text frame; it never throws. */
export type ParsedClientFrame<C> =
  | { readonly ok: true; readonly frame: C }
  | { readonly ok: false; readonly error: { readonly code: ErrorCode; readonly message: string; readonly id?: string } };

/** A frame the server sends: at least a type; `error` frames carry a code. */
export type OutboundFrame = { readonly type: string; readonly id?: string };

/** The protocol a connection speaks, as hooks. */
export interface ConnectionProtocol<C extends { readonly type: string }> {
  /** Parses and validates one text frame within the server's limits. */
  parse(data: string, limits: { readonly maxTextChars: number; readonly maxTokenChars: number }): ParsedClientFrame<C>;
  /** The protocol's `error` frame. */
  errorFrame(code: ErrorCode, message: string, id?: string): OutboundFrame;
  /** The token was accepted and the connection is open: admit the identity, or close. */
  signedIn(identity: VerifiedIdentity): void;
  /** Every frame after sign-in that is neither `auth` nor `ping`, in arrival order. */
  frame(frame: Exclude<C, AuthFrame | PingFrame>): void;
  /** Releases what the connection holds besides its timers; runs once, on close or dispose. */
  released(): void;
  /** Counts an inbound frame by type (`invalid`, `limited` for refused ones). Default: not counted. */
  counted?(type: string): void;
  /** The id a refused frame carried, so a rate-limited message can still be matched by the client. */
  peekId?(data: string, isBinary: boolean): string | undefined;
}

/** Arguments of {@link createConnectionBase}. */
export interface ConnectionBaseArgs<C extends { readonly type: string }> {
  readonly socket: PeerSocket;
  /** Names the endpoint in logs and in sign-in audit records (`via`). */
  readonly endpoint: 'chat' | 'desk';
  readonly options: Readonly<ServerOptions>;
  readonly metrics: Pick<ServerMetrics, 'error'>;
  readonly logger: Logger;
  readonly verifyToken: TokenVerifier;
  /** The token from an `Authorization: Bearer` header, if any: then no `auth` frame is expected. */
  readonly headerToken?: string;
  /** Records sign-ins (accepted and refused); shared by every connection of a server. Default none. */
  readonly signIns?: SignInAudit;
  readonly protocol: ConnectionProtocol<C>;
}

/** The shared half of a connection, used by its protocol. */
export interface ConnectionBase {
  /** Handles one inbound WebSocket message. */
  receive(data: string, isBinary?: boolean): void;
  /** Sends one frame, unless closed; a reader more than `maxBufferedBytes` behind is closed instead (1013). */
  send(frame: OutboundFrame): void;
  /** Closes with a code and reason (idempotent); closes that report an error are counted. */
  close(code: number, reason: string): void;
  /**
   * Answers a frame a rate limit refused with `frame` (a `rate_limited` error), unless the
   * connection keeps sending regardless (`maxRefusedFramesPerSecond`): then it is closed 1008.
   */
  limited(frame: OutboundFrame): void;
  /** Says why twice — a typed frame for programs, a close reason for browsers — and counts it once. */
  refuse(frame: OutboundFrame, code: number, reason: string): void;
  /** The socket has closed: release everything. Idempotent. */
  dispose(): void;
  /** A function, not a field: TypeScript would keep a narrowing of a field across awaits. */
  isClosed(): boolean;
  /** Runs `fn` after `ms` on the injected clock, unless the connection closes first. */
  later(fn: () => void, ms: number): void;
  /** Holds inbound frames (in order, up to `maxFramesBeforeReady`) until {@link resume}. */
  pause(): void;
  /** Handles the held frames, then each frame as it comes. */
  resume(): void;
  /** The connection's logger: after sign-in it names tenant, user and role. */
  readonly log: Logger;
  /** Adds fields to every later log line of this connection. */
  bindLog(bindings: Record<string, unknown>): void;
  /** Records sign-ins on the audit trail (refusals throttled, never lost count of); undefined without one. */
  readonly signIns: SignInAudit | undefined;
}

/** setTimeout cannot wait longer than this (about 24.8 days): a later expiry is re-armed in steps. */
export const MAX_TIMER_MS = 2_147_483_647;

/** The token service refuses longer tokens unparsed (its `maxTokenBytes` default). */
const MAX_TOKEN_CHARS = 4096;

/**
 * Creates the shared half of one connection. Frames reach `protocol.frame` only after sign-in;
 * until then the only frame accepted is `auth`, and anything else closes with 4401.
 *
 * @example
 * ```ts
 * const base = createConnectionBase({
 *   socket, endpoint: 'desk', options, metrics, logger, verifyToken, headerToken,
 *   protocol: { parse: parseDeskFrame, errorFrame, signedIn: (who) => join(who), frame: (f) => handle(f), released: () => leave() },
 * });
 * ws.on('message', (data, isBinary) => base.receive(data.toString(), isBinary));
 * ws.on('close', () => base.dispose());
 * ```
 */
export function createConnectionBase<C extends { readonly type: string }>(args: ConnectionBaseArgs<C>): ConnectionBase {
  const { socket, endpoint, options, metrics, protocol } = args;
  const { clock } = options;
  const limits = Object.freeze({ maxTextChars: options.maxTextChars, maxTokenChars: MAX_TOKEN_CHARS });
  let log = args.logger;
  let closed = false;
  let signedIn = false;
  let busy = false;
  // The prefix keeps the binary flag without an extra object per held frame.
  const held: string[] = [];
  const timers = new Set<unknown>();
  const bucket = createTokenBucket({ ratePerSecond: options.messagesPerSecondPerConnection, burst: options.messageBurstPerConnection, clock });
  // Refusing costs the server too: a client that ignores its rate_limited errors is cut off.
  const refusals = createTokenBucket({ ratePerSecond: options.maxRefusedFramesPerSecond, burst: Math.max(1, Math.ceil(2 * options.maxRefusedFramesPerSecond)), clock });
  const { signIns } = args;

  const later = (fn: () => void, ms: number): void => {
    const handle = clock.setTimeout(() => {
      timers.delete(handle);
      fn();
    }, ms);
    timers.add(handle);
  };

  const release = (): void => {
    closed = true;
    for (const handle of timers) clock.clearTimeout(handle);
    timers.clear();
    held.length = 0;
    protocol.released();
  };

  const close = (code: number, reason: string): void => {
    if (closed) return;
    release();
    if (code >= 4000 || code === CLOSE_CODES.tryAgainLater || code === CLOSE_CODES.policyViolation) metrics.error(closeErrorCode(code));
    log.info({ code, reason }, `closing ${endpoint} connection`);
    try {
      socket.close(code, closeReason(reason));
    } catch (err) {
      log.warn({ err }, `closing a ${endpoint} socket failed`);
    }
  };

  const send = (frame: OutboundFrame): void => {
    if (closed) return;
    if (socket.bufferedAmount > options.maxBufferedBytes) {
      close(CLOSE_CODES.tryAgainLater, `slow consumer: more than ${options.maxBufferedBytes} bytes waiting to be read`);
      return;
    }
    if (isErrorFrame(frame)) metrics.error(frame.code);
    socket.send(JSON.stringify(frame));
  };

  const refuse = (frame: OutboundFrame, code: number, reason: string): void => {
    if (closed) return;
    try {
      socket.send(JSON.stringify(frame));
    } catch {
      // The socket is already going; the close below still says why.
    }
    close(code, reason);
  };

  const limited = (frame: OutboundFrame): void => {
    if (refusals.take()) return send(frame);
    refuse(frame, CLOSE_CODES.policyViolation, `flooding: frames kept coming after rate_limited errors (over ${options.maxRefusedFramesPerSecond} a second)`);
  };

  const armExpiry = (expiresAt: number): void => {
    const wait = expiresAt - clock.now();
    if (wait <= 0) return close(CLOSE_CODES.unauthorized, 'unauthorized: the token has expired');
    later(() => armExpiry(expiresAt), Math.min(wait, MAX_TIMER_MS));
  };

  const authenticate = (token: string): void => {
    busy = true;
    args.verifyToken(token).then(
      (who) => {
        if (closed) return;
        log = args.logger.child({ tenant: who.tenant, user: who.user, role: who.role });
        // Armed first: a token that expired meanwhile never reaches the protocol.
        if (who.expiresAt !== undefined) armExpiry(who.expiresAt);
        if (closed) return;
        signedIn = true;
        protocol.signedIn(who);
        resume();
      },
      (err: unknown) => {
        const message = err instanceof KeelError && err.code === 'unauthorized' ? err.message : 'unauthorized: the token was refused';
        signIns?.failed(err instanceof KeelError && typeof err.details?.reason === 'string' ? err.details.reason : 'refused', endpoint);
        close(CLOSE_CODES.unauthorized, message);
      },
    );
  };

  const dispatch = (data: string, isBinary: boolean): void => {
    if (isBinary) {
      protocol.counted?.('invalid');
      if (!signedIn) {
        signIns?.failed('malformed', endpoint);
        return close(CLOSE_CODES.unauthorized, 'unauthorized: the first frame must be {"type":"auth","token":...} (frames are JSON text, not binary)');
      }
      return send(protocol.errorFrame('bad_frame', 'frames are JSON text, not binary'));
    }
    const parsed = protocol.parse(data, limits);
    if (!parsed.ok) {
      protocol.counted?.('invalid');
      if (!signedIn) {
        signIns?.failed('malformed', endpoint);
        return close(CLOSE_CODES.unauthorized, `unauthorized: the first frame must be {"type":"auth","token":...} (${parsed.error.message})`);
      }
      return send(protocol.errorFrame(parsed.error.code, parsed.error.message, parsed.error.id));
    }
    const frame = parsed.frame;
    protocol.counted?.(frame.type);
    if (!signedIn) {
      if (isAuthFrame(frame)) return authenticate(frame.token);
      signIns?.failed('missing', endpoint);
      return close(CLOSE_CODES.unauthorized, 'unauthorized: authenticate first, with a Bearer header or an auth frame');
    }
    if (isAuthFrame(frame)) return send(protocol.errorFrame('bad_frame', 'already authenticated'));
    if (isPingFrame(frame)) return send(frame.id === undefined ? { type: 'pong' } : { type: 'pong', id: frame.id });
    protocol.frame(frame as Exclude<C, AuthFrame | PingFrame>);
  };

  function resume(): void {
    busy = false;
    while (held.length > 0 && !busy && !closed) {
      const next = held.shift() as string;
      dispatch(next.slice(1), next[0] === 'b');
    }
  }

  if (args.headerToken !== undefined) authenticate(args.headerToken);
  else later(() => {
    if (!signedIn) close(CLOSE_CODES.authTimeout, `authentication timed out: no auth frame within ${options.authTimeoutMs} ms`);
  }, options.authTimeoutMs);

  return {
    receive(data, isBinary = false) {
      if (closed) return;
      if (!bucket.take()) {
        protocol.counted?.('limited');
        return limited(protocol.errorFrame('rate_limited', 'too many frames on this connection; wait a moment', protocol.peekId?.(data, isBinary)));
      }
      if (busy) {
        if (held.length >= options.maxFramesBeforeReady) {
          return close(CLOSE_CODES.policyViolation, `too many frames before ready: at most ${options.maxFramesBeforeReady}`);
        }
        held.push((isBinary ? 'b' : 't') + data);
        return;
      }
      dispatch(data, isBinary);
    },
    send,
    limited,
    close,
    refuse,
    dispose() {
      if (!closed) release();
    },
    isClosed: () => closed,
    later,
    pause() {
      busy = true;
    },
    resume,
    get log() {
      return log;
    },
    bindLog(bindings) {
      log = log.child(bindings);
    },
    signIns,
  };
}

function isAuthFrame(frame: { readonly type: string }): frame is AuthFrame {
  return frame.type === 'auth';
}

function isPingFrame(frame: { readonly type: string }): frame is PingFrame {
  return frame.type === 'ping';
}

function isErrorFrame(frame: OutboundFrame): frame is { readonly type: 'error'; readonly code: ErrorCode } {
  return frame.type === 'error';
}

/** The error a close reports, for `keel_errors_total`. */
function closeErrorCode(code: number): ErrorCode | 'slow_consumer' | 'policy' {
  switch (code) {
    case CLOSE_CODES.unauthorized:
    case CLOSE_CODES.authTimeout:
      return 'unauthorized';
    case CLOSE_CODES.forbidden:
      return 'forbidden';
    case CLOSE_CODES.tooManyConnections:
      return 'rate_limited';
    case CLOSE_CODES.tryAgainLater:
      return 'slow_consumer';
    default:
      return 'policy';
  }
}
