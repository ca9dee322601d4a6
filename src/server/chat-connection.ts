/**
 * One chat connection: authenticate, open or resume a session, then relay messages to the runtime
 * and committed frames back. Written against a minimal socket so its rules can be tested without
 * a network.
 *
 * What the client receives goes through the connection's frame relay (frame-relay.ts), built
 * from committed frames only (replay and subscription), so nothing is sent twice.
 */
import { KeelError, toKeelError, type ErrorCode } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { Runtime } from '../runtime/runtime.js';
import { mustRedactFor, viewFrames } from '../security/frame-view.js';
import { signInAuditFor } from '../security/sign-in-audit.js';
import type { SessionFrame } from '../sessions/session-frames.js';
import type { Identity, SessionId } from '../types.js';
import { errorFrame, parseClientFrame, type ClientFrame, type ServerFrame } from './chat-frames.js';
import { CLOSE_CODES, closeReason } from './close-codes.js';
import { createFrameRelay } from './frame-relay.js';
import { createTokenBucket, type TokenBucket } from './rate-limiter.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ServerOptions } from './server-options.js';

/** The part of a WebSocket a connection uses. */
export interface ChatSocket {
  /** Bytes queued but not yet handed to the operating system. */
  readonly bufferedAmount: number;
  send(data: string, cb?: (err?: Error) => void): void;
  close(code: number, reason: string): void;
  /** Batches the following sends into one write until `uncork` (optional). */
  cork?(): void;
  uncork?(): void;
}

/** What the gateway lends a connection: the per-user rules that span connections. */
export interface ConnectionHooks {
  /** Called once the identity is known; false refuses it (over `maxConnectionsPerUser`). */
  admit(identity: Identity): boolean;
  /** Takes a token from the user's bucket; false when the user is over their rate. */
  takeUserToken(identity: Identity): boolean;
}

/** Arguments of {@link createChatConnection}. */
export interface ChatConnectionArgs {
  readonly socket: ChatSocket;
  readonly runtime: Runtime;
  readonly verifyToken: NonNullable<ServerOptions['verifyToken']>;
  readonly options: Readonly<ServerOptions>;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  readonly hooks: ConnectionHooks;
  /** The token from an `Authorization: Bearer` header, if any. */
  readonly headerToken?: string;
  /** Channel recorded on new sessions (`web` for browsers, `ws` otherwise). */
  readonly channel: string;
}

/** A live chat connection. */
export interface ChatConnection {
  /** Handles one inbound WebSocket message. */
  receive(data: string, isBinary?: boolean): void;
  /** Closes with a code and reason (idempotent). */
  close(code: number, reason: string): void;
  /** The socket has closed: release everything. Idempotent. */
  dispose(): void;
  readonly identity: Identity | undefined;
  readonly sessionId: SessionId | undefined;
}

type Phase = 'auth' | 'hello' | 'opening' | 'open' | 'closed';

/** setTimeout cannot wait longer than this (about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;
/** Live frames kept while a replay is still being read. */
const MAX_HELD_FRAMES = 10_000;
/** The token service refuses longer tokens unparsed (its `maxTokenBytes` default). */
const MAX_TOKEN_CHARS = 4096;

/**
 * Creates the protocol state of one connection (docs/protocol.md).
 *
 * @example
 * ```ts
 * const conn = createChatConnection({ socket: ws, runtime, verifyToken, options, metrics, logger, hooks, channel: 'ws' });
 * ws.on('message', (data, isBinary) => conn.receive(data.toString(), isBinary));
 * ws.on('close', () => conn.dispose());
 * ```
 */
export function createChatConnection(args: ChatConnectionArgs): ChatConnection {
  const { socket, runtime, options, metrics, hooks } = args;
  const { clock } = options;
  let log = args.logger;
  let phase: Phase = 'auth';
  let busy = false;
  let identity: (Identity & { readonly expiresAt?: number }) | undefined;
  let sessionId: SessionId | undefined;
  let unsubscribe: (() => void) | undefined;
  const queue: string[] = [];
  const timers = new Set<unknown>();
  const bucket: TokenBucket = createTokenBucket({
    ratePerSecond: options.messagesPerSecondPerConnection,
    burst: options.messageBurstPerConnection,
    clock,
  });

  // A function, not an inline test: TypeScript would keep a narrowing of `phase` across awaits.
  const isClosed = (): boolean => phase === 'closed';

  const later = (fn: () => void, ms: number): void => {
    const handle = clock.setTimeout(() => {
      timers.delete(handle);
      fn();
    }, ms);
    timers.add(handle);
  };

  const release = (): void => {
    phase = 'closed';
    for (const handle of timers) clock.clearTimeout(handle);
    timers.clear();
    unsubscribe?.();
    unsubscribe = undefined;
    relay.stop();
    queue.length = 0;
  };

  const close = (code: number, reason: string): void => {
    if (phase === 'closed') return;
    release();
    if (code >= 4000 || code === CLOSE_CODES.tryAgainLater || code === CLOSE_CODES.policyViolation) metrics.error(closeErrorCode(code));
    log.info({ code, reason }, 'closing chat connection');
    try {
      socket.close(code, closeReason(reason));
    } catch (err) {
      log.warn({ err }, 'closing a chat socket failed');
    }
  };

  const send = (frame: ServerFrame): void => {
    if (phase === 'closed') return;
    if (socket.bufferedAmount > options.maxBufferedBytes) {
      close(CLOSE_CODES.tryAgainLater, `slow consumer: more than ${options.maxBufferedBytes} bytes waiting to be read`);
      return;
    }
    if (frame.type === 'error') metrics.error(frame.code);
    socket.send(JSON.stringify(frame));
  };

  const sendError = (err: unknown, id?: string): void => {
    const keel = toKeelError(err);
    if (keel.code === 'internal') log.error({ err }, 'chat request failed');
    // Internal failures are logged with their cause; the client learns only that one happened.
    const message = keel.code === 'internal' ? 'internal error' : keel.message;
    send(errorFrame(keel.code, message, id));
  };

  const relay = createFrameRelay({
    socket,
    send,
    overflow: () => close(CLOSE_CODES.tryAgainLater, 'slow consumer: the replay is not being read'),
    maxHeldFrames: MAX_HELD_FRAMES,
  });

  const armExpiry = (expiresAt: number): void => {
    const wait = expiresAt - clock.now();
    if (wait <= 0) return close(CLOSE_CODES.unauthorized, 'unauthorized: the token has expired');
    later(() => armExpiry(expiresAt), Math.min(wait, MAX_TIMER_MS));
  };

  // Sign-ins, accepted and refused, go to the audit trail (refusals throttled, never lost count of).
  const signIns = runtime.audit ? signInAuditFor(runtime.audit, { clock, onError: (err) => log.warn({ err }, 'auditing a sign-in failed') }) : undefined;

  const authenticate = (token: string): void => {
    busy = true;
    args.verifyToken(token).then(
      (who) => {
        if (phase === 'closed') return;
        signIns?.succeeded(who, 'chat', { channel: args.channel });
        identity = who;
        log = args.logger.child({ tenant: who.tenant, user: who.user, role: who.role });
        if (!hooks.admit(who)) {
          identity = undefined;
          return close(CLOSE_CODES.tooManyConnections, `too many connections: at most ${options.maxConnectionsPerUser} per user`);
        }
        if (who.expiresAt !== undefined) armExpiry(who.expiresAt);
        phase = 'hello';
        busy = false;
        drain();
      },
      (err: unknown) => {
        const message = err instanceof KeelError && err.code === 'unauthorized' ? err.message : 'unauthorized: the token was refused';
        const reason = err instanceof KeelError && typeof err.details?.reason === 'string' ? err.details.reason : 'refused';
        signIns?.failed(reason, 'chat');
        close(CLOSE_CODES.unauthorized, message);
      },
    );
  };

  const hello = (frame: Extract<ClientFrame, { type: 'hello' }>): void => {
    const who = identity as Identity;
    busy = true;
    phase = 'opening';
    const run = async (): Promise<void> => {
      let opened: { sessionId: SessionId; lastSeq: number };
      if (frame.sessionId === undefined) {
        // Engineers observe (DESIGN §5): a session of their own they could not write to is useless.
        if (who.role === 'engineer') throw new KeelError('forbidden', 'engineers observe existing sessions: send hello with a sessionId');
        opened = await runtime.open({ tenant: who.tenant, user: who.user, channel: args.channel });
      } else if (who.role === 'customer') {
        opened = await runtime.open({ tenant: who.tenant, user: who.user, sessionId: frame.sessionId, mustExist: true });
      } else {
        // Staff resume sessions they may read: the runtime checks the tenant (and audits a refusal),
        // and checks writes per message.
        opened = await runtime.open({ tenant: who.tenant, user: who.user, sessionId: frame.sessionId, mustExist: true, as: who });
      }
      if (isClosed()) return;
      const id = opened.sessionId;
      // Subscribe before reading the journal: a frame committed in between is then either in
      // the replay or held by the relay, never in neither; the seq check drops what is in both.
      relay.hold();
      // Staff without `pii.view` (engineers, admins) see what the customer says redacted, live too.
      const owner = runtime.describe(id);
      unsubscribe = runtime.subscribe(id, owner && mustRedactFor(who, owner)
        ? (frames: readonly SessionFrame[]) => relay.committed(viewFrames(frames, who, owner))
        : relay.committed);
      // Hydrating a resumed session re-runs messages accepted but unanswered before a restart,
      // so their replies reach this client now rather than after its next message.
      if (frame.sessionId !== undefined) runtime.warm(id).catch((err: unknown) => log.warn({ err }, 'warming a resumed session failed'));
      const afterSeq = frame.sessionId === undefined ? 0 : (frame.lastSeq ?? 0);
      const replay = runtime.replay(id, afterSeq, who);
      const lastSeq = Math.max(opened.lastSeq, replay.at(-1)?.seq ?? 0);
      sessionId = id;
      log = log.child({ session: id });
      send({ type: 'ready', sessionId: id, lastSeq });
      await relay.replay(replay, Math.min(afterSeq, lastSeq));
      if (!isClosed()) phase = 'open';
    };
    run().then(
      () => {
        busy = false;
        drain();
      },
      (err: unknown) => {
        if (phase === 'closed') return;
        unsubscribe?.();
        unsubscribe = undefined;
        relay.reset();
        sessionId = undefined;
        phase = 'hello';
        busy = false;
        sendError(err);
        drain();
      },
    );
  };

  const message = (frame: Extract<ClientFrame, { type: 'message' }>): void => {
    const started = clock.now();
    const turn = relay.track(frame.id);
    runtime.send(sessionId as SessionId, { type: 'user.message', id: frame.id, text: frame.text }, { as: identity as Identity, onDelta: turn.onDelta }).then(
      (outcome) => {
        metrics.turn(outcome.duplicate ? 'duplicate' : 'ok', (clock.now() - started) / 1000);
        turn.done();
        if (outcome.duplicate && !isClosed()) relay.resend(frame.id, outcome);
      },
      (err: unknown) => {
        metrics.turn('error', (clock.now() - started) / 1000);
        turn.done();
        sendError(err, frame.id);
      },
    );
  };

  const dispatch = (data: string, isBinary: boolean): void => {
    if (isBinary) {
      metrics.frameIn('invalid');
      return send(errorFrame('bad_frame', 'frames are JSON text, not binary'));
    }
    const parsed = parseClientFrame(data, { maxTextChars: options.maxTextChars, maxTokenChars: MAX_TOKEN_CHARS });
    if (!parsed.ok) {
      metrics.frameIn('invalid');
      if (phase === 'auth') {
        signIns?.failed('malformed', 'chat');
        return close(CLOSE_CODES.unauthorized, `unauthorized: the first frame must be {"type":"auth","token":...} (${parsed.error.message})`);
      }
      return send(errorFrame(parsed.error.code, parsed.error.message, parsed.error.id));
    }
    const frame = parsed.frame;
    metrics.frameIn(frame.type);
    if (phase === 'auth') {
      if (frame.type === 'auth') return authenticate(frame.token);
      signIns?.failed('missing', 'chat');
      return close(CLOSE_CODES.unauthorized, 'unauthorized: authenticate first, with a Bearer header or an auth frame');
    }
    switch (frame.type) {
      case 'auth':
        return send(errorFrame('bad_frame', 'already authenticated'));
      case 'ping':
        return send(frame.id === undefined ? { type: 'pong' } : { type: 'pong', id: frame.id });
      case 'hello':
        if (phase !== 'hello') return send(errorFrame('bad_frame', 'hello was already accepted; open a new connection to switch sessions'));
        return hello(frame);
      case 'message':
        if (phase !== 'open') return send(errorFrame('bad_frame', 'send hello and wait for ready first', frame.id));
        if (!hooks.takeUserToken(identity as Identity)) {
          return send(errorFrame('rate_limited', 'too many messages for this user; wait a moment', frame.id));
        }
        return message(frame);
    }
  };

  function drain(): void {
    while (queue.length > 0 && !busy && phase !== 'closed') {
      const next = queue.shift() as string;
      dispatch(next.slice(1), next[0] === 'b');
    }
  }

  if (args.headerToken !== undefined) authenticate(args.headerToken);
  else later(() => {
    if (phase === 'auth') close(CLOSE_CODES.authTimeout, `authentication timed out: no auth frame within ${options.authTimeoutMs} ms`);
  }, options.authTimeoutMs);

  return {
    receive(data, isBinary = false) {
      if (phase === 'closed') return;
      if (!bucket.take()) {
        metrics.frameIn('limited');
        return send(errorFrame('rate_limited', 'too many frames on this connection; wait a moment', peekMessageId(data, isBinary)));
      }
      if (busy) {
        if (queue.length >= options.maxFramesBeforeReady) {
          return close(CLOSE_CODES.policyViolation, `too many frames before ready: at most ${options.maxFramesBeforeReady}`);
        }
        // The prefix keeps the binary flag without an extra object per queued frame.
        queue.push((isBinary ? 'b' : 't') + data);
        return;
      }
      dispatch(data, isBinary);
    },
    close,
    dispose() {
      if (phase !== 'closed') release();
    },
    get identity() {
      return identity;
    },
    get sessionId() {
      return sessionId;
    },
  };
}

/** The id of a message frame, so even a rate-limited message can be matched by the client. */
function peekMessageId(data: string, isBinary: boolean): string | undefined {
  if (isBinary) return undefined;
  const parsed = parseClientFrame(data, { maxTextChars: Number.MAX_SAFE_INTEGER, maxTokenChars: Number.MAX_SAFE_INTEGER });
  if (parsed.ok) return parsed.frame.type === 'message' ? parsed.frame.id : undefined;
  return parsed.error.id;
}

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
