/**
 * One chat connection: authenticate, open or resume a session, then relay messages to the runtime
 * and committed frames back. Written against a minimal socket so its rules can be tested without
 * a network.
 *
 * What the client receives goes through the connection's frame relay (frame-relay.ts), built
 * from committed frames only (replay and subscription), so nothing is sent twice.
 */
import { KeelError, forClient } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { Runtime } from '../runtime/runtime.js';
import { mustRedactFor, viewFrames } from '../security/frame-view.js';
import type { SignInAudit } from '../security/sign-in-audit.js';
import type { SessionFrame } from '../sessions/session-frames.js';
import type { Identity, SessionId } from '../types.js';
import { errorFrame, parseClientFrame, type ClientFrame, type ServerFrame } from './chat-frames.js';
import { CLOSE_CODES } from './close-codes.js';
import { createFrameRelay } from './frame-relay.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ServerOptions } from './server-options.js';
import { createConnectionBase, type PeerSocket } from './ws-connection-base.js';

/** The part of a WebSocket a chat connection uses. */
export type ChatSocket = PeerSocket;

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
  /** Records sign-ins; shared by every connection of a server. Default none. */
  readonly signIns?: SignInAudit;
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

/** Live frames kept while a replay is still being read. */
const MAX_HELD_FRAMES = 10_000;

/**
 * Creates the protocol state of one connection (docs/protocol.md); sign-in, limits and closing
 * are the shared connection rules (ws-connection-base.ts).
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
  let phase: 'hello' | 'opening' | 'open' = 'hello';
  let identity: Identity | undefined;
  let sessionId: SessionId | undefined;
  let unsubscribe: (() => void) | undefined;

  const base = createConnectionBase<ClientFrame>({
    ...args,
    endpoint: 'chat',
    protocol: {
      parse: parseClientFrame,
      errorFrame,
      counted: (type) => metrics.frameIn(type),
      peekId: peekMessageId,
      signedIn(who) {
        base.signIns?.succeeded(who, 'chat', { channel: args.channel });
        identity = who;
        if (!hooks.admit(who)) {
          identity = undefined;
          base.close(CLOSE_CODES.tooManyConnections, `too many connections: at most ${options.maxConnectionsPerUser} per user`);
        }
      },
      frame(frame) {
        switch (frame.type) {
          case 'hello':
            if (phase !== 'hello') return send(errorFrame('bad_frame', 'hello was already accepted; open a new connection to switch sessions'));
            return hello(frame);
          case 'message':
            if (phase !== 'open') return send(errorFrame('bad_frame', 'send hello and wait for ready first', frame.id));
            if (!hooks.takeUserToken(identity as Identity)) {
              return base.limited(errorFrame('rate_limited', 'too many messages for this user; wait a moment', frame.id));
            }
            return message(frame);
        }
      },
      released() {
        unsubscribe?.();
        unsubscribe = undefined;
        relay.stop();
      },
    },
  });
  const send = (frame: ServerFrame): void => base.send(frame);

  const sendError = (err: unknown, id?: string): void => {
    // The server's own faults are logged with their cause; the client learns only that one happened.
    const { code, message, logged } = forClient(err);
    if (logged) base.log.error({ err }, 'chat request failed');
    send(errorFrame(code, message, id));
  };

  const relay = createFrameRelay({
    socket,
    send,
    overflow: () => base.close(CLOSE_CODES.tryAgainLater, 'slow consumer: the replay is not being read'),
    maxHeldFrames: MAX_HELD_FRAMES,
  });

  const hello = (frame: Extract<ClientFrame, { type: 'hello' }>): void => {
    const who = identity as Identity;
    base.pause();
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
      if (base.isClosed()) return;
      const id = opened.sessionId;
      // Subscribe before reading the journal: a frame committed in between is then either in
      // the replay or held by the relay, never in neither; the seq check drops what is in both.
      relay.hold();
      // Staff without `pii.view` (engineers, admins) see what the customer says redacted, live too.
      const owner = runtime.describe(id);
      const deliver = owner && mustRedactFor(who, owner)
        ? (frames: readonly SessionFrame[]) => relay.committed(viewFrames(frames, who, owner))
        : relay.committed;
      // A human agent may read a conversation only while it is handed to humans, and once one agent
      // has taken it, only that agent: a hand-off frame can end this connection's right to read,
      // which is checked again then (a refusal is audited), before the frame is shown.
      unsubscribe = runtime.subscribe(id, who.role !== 'agent' ? deliver : (frames) => {
        if (base.isClosed()) return;
        if (frames.some((f) => f.type === 'handoff')) {
          try {
            // A replay past the last seq is the runtime's read check alone: it returns no frame.
            runtime.replay(id, Number.MAX_SAFE_INTEGER, who);
          } catch (err) {
            const reason = err instanceof KeelError ? err.message : 'this conversation is no longer yours to read';
            base.close(CLOSE_CODES.forbidden, `forbidden: ${reason}`);
            return;
          }
        }
        deliver(frames);
      });
      // Hydrating a resumed session re-runs messages accepted but unanswered before a restart,
      // so their replies reach this client now rather than after its next message.
      if (frame.sessionId !== undefined) runtime.warm(id).catch((err: unknown) => base.log.warn({ err }, 'warming a resumed session failed'));
      const afterSeq = frame.sessionId === undefined ? 0 : (frame.lastSeq ?? 0);
      const replay = runtime.replay(id, afterSeq, who);
      const lastSeq = Math.max(opened.lastSeq, replay.at(-1)?.seq ?? 0);
      sessionId = id;
      base.bindLog({ session: id });
      send({ type: 'ready', sessionId: id, lastSeq });
      await relay.replay(replay, Math.min(afterSeq, lastSeq));
      if (!base.isClosed()) phase = 'open';
    };
    run().then(
      () => base.resume(),
      (err: unknown) => {
        if (base.isClosed()) return;
        unsubscribe?.();
        unsubscribe = undefined;
        relay.reset();
        sessionId = undefined;
        phase = 'hello';
        sendError(err);
        base.resume();
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
        if (outcome.duplicate && !base.isClosed()) relay.resend(frame.id, outcome);
      },
      (err: unknown) => {
        metrics.turn('error', (clock.now() - started) / 1000);
        turn.done();
        sendError(err, frame.id);
      },
    );
  };

  return {
    receive: base.receive,
    close: base.close,
    dispose: base.dispose,
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
