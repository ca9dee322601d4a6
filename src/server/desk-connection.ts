/**
 * One human agent's `/desk` connection: authenticate exactly like `/chat` (a Bearer header or a
 * first `auth` frame), refuse every role but `agent` and `admin`, then hand the agent's commands,
 * one at a time and in order, to the desk service. Written against a minimal socket.
 */
import { KeelError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { AuditLog } from '../security/audit-log.js';
import { can } from '../security/roles.js';
import { signInAuditFor } from '../security/sign-in-audit.js';
import type { Identity, Json } from '../types.js';
import type { ChatSocket } from './chat-connection.js';
import { CLOSE_CODES, closeReason } from './close-codes.js';
import { deskError, parseDeskFrame, type DeskServerFrame } from './desk-frames.js';
import type { DeskService } from './desk-service.js';
import { createTokenBucket } from './rate-limiter.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ServerOptions, TokenVerifier } from './server-options.js';

/** Arguments of {@link createDeskConnection}. */
export interface DeskConnectionArgs {
  readonly socket: ChatSocket;
  readonly service: DeskService;
  readonly verifyToken: TokenVerifier;
  readonly options: Readonly<ServerOptions>;
  readonly metrics: ServerMetrics;
  readonly logger: Logger;
  /** Per-user connection slots; false refuses the connection (4429). */
  readonly admit: (identity: Identity) => boolean;
  /** Masks personal data for roles that may not see it (an admin supervising the desk). */
  readonly redactor: { text(s: string): string; value(v: Json): Json };
  readonly headerToken?: string;
  /** Where sign-ins and refused roles are recorded. Default none. */
  readonly audit?: AuditLog;
}

/** A live desk connection. */
export interface DeskConnection {
  receive(data: string, isBinary?: boolean): void;
  /** Closes with a code and reason (idempotent). */
  close(code: number, reason: string): void;
  /** The socket closed: the agent leaves the desk. Idempotent. */
  dispose(): void;
  readonly identity: Identity | undefined;
}

/** setTimeout cannot wait longer than this (about 24.8 days). */
const MAX_TIMER_MS = 2_147_483_647;
const MAX_TOKEN_CHARS = 4096;

/**
 * Whether `identity` may work at the desk: human agents (`handoff.take`), and admins supervising.
 *
 * @example
 * ```ts
 * mayUseDesk({ tenant: 'acme', user: 'sam', role: 'agent' }); // true
 * mayUseDesk({ tenant: 'acme', user: 'ann', role: 'customer' }); // false
 * ```
 */
export function mayUseDesk(identity: Identity): boolean {
  return can(identity, 'handoff.take') || identity.role === 'admin';
}

/**
 * The name a customer sees for an agent, from the user id of their token: `sam.jones@shop` → `Sam Jones`.
 *
 * @example
 * ```ts
 * deskDisplayName('sam'); // 'Sam'
 * deskDisplayName('agent-7'); // 'Agent 7'
 * ```
 */
export function deskDisplayName(user: string): string {
  const words = (user.split('@')[0] ?? user).split(/[._\-:]+/).filter((w) => w !== '');
  const name = words.map((w) => w[0]!.toUpperCase() + w.slice(1)).join(' ').slice(0, 60);
  return name === '' ? 'An agent' : name;
}

/**
 * Creates the protocol state of one desk connection.
 *
 * @example
 * ```ts
 * const conn = createDeskConnection({ socket, service, verifyToken, options, metrics, logger, admit, redactor });
 * ws.on('message', (data, isBinary) => conn.receive(data.toString(), isBinary));
 * ws.on('close', () => conn.dispose());
 * ```
 */
export function createDeskConnection(args: DeskConnectionArgs): DeskConnection {
  const { socket, options, metrics } = args;
  const { clock } = options;
  let log = args.logger;
  let phase: 'auth' | 'authenticating' | 'open' | 'closed' = 'auth';
  let identity: Identity | undefined;
  let member: ReturnType<DeskService['join']> | undefined;
  let chain: Promise<void> = Promise.resolve();
  const early: string[] = [];
  const timers = new Set<unknown>();
  const bucket = createTokenBucket({ ratePerSecond: options.messagesPerSecondPerConnection, burst: options.messageBurstPerConnection, clock });

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
    early.length = 0;
    member?.leave();
    member = undefined;
  };

  const close = (code: number, reason: string): void => {
    if (phase === 'closed') return;
    release();
    log.info({ code, reason }, 'closing desk connection');
    try {
      socket.close(code, closeReason(reason));
    } catch (err) {
      log.warn({ err }, 'closing a desk socket failed');
    }
  };

  const send = (frame: DeskServerFrame): void => {
    if (phase === 'closed') return;
    if (socket.bufferedAmount > options.maxBufferedBytes) {
      close(CLOSE_CODES.tryAgainLater, `slow consumer: more than ${options.maxBufferedBytes} bytes waiting to be read`);
      return;
    }
    if (frame.type === 'error') metrics.error(frame.code);
    socket.send(JSON.stringify(frame));
  };

  const armExpiry = (expiresAt: number): void => {
    const wait = expiresAt - clock.now();
    if (wait <= 0) return close(CLOSE_CODES.unauthorized, 'unauthorized: the token has expired');
    later(() => armExpiry(expiresAt), Math.min(wait, MAX_TIMER_MS));
  };

  const signIns = args.audit ? signInAuditFor(args.audit, { clock, onError: (err) => log.warn({ err }, 'auditing a sign-in failed') }) : undefined;

  const authenticate = (token: string): void => {
    phase = 'authenticating';
    args.verifyToken(token).then(
      (who) => {
        if (phase === 'closed') return;
        log = args.logger.child({ tenant: who.tenant, user: who.user, role: who.role });
        if (!mayUseDesk(who)) {
          args.audit?.append({ actor: { tenant: who.tenant, user: who.user, role: who.role }, action: 'desk.connect', target: 'endpoint:desk', outcome: 'denied', details: { rule: 'role' } })
            .catch((err: unknown) => log.warn({ err }, 'audit append failed'));
          // Said twice on purpose: a typed frame for programs, a close reason for browsers.
          send(deskError('forbidden', `role '${who.role}' may not use the agent desk`));
          return close(CLOSE_CODES.forbidden, `forbidden: role '${who.role}' may not use the agent desk`);
        }
        if (!args.admit(who)) return close(CLOSE_CODES.tooManyConnections, `too many connections: at most ${options.maxConnectionsPerUser} per user`);
        identity = { tenant: who.tenant, user: who.user, role: who.role };
        signIns?.succeeded(identity, 'desk');
        if (who.expiresAt !== undefined) armExpiry(who.expiresAt);
        if (phase !== 'authenticating') return;
        phase = 'open';
        member = args.service.join({
          identity,
          name: deskDisplayName(who.user),
          send,
          ...(can(identity, 'pii.view') ? {} : { redactor: args.redactor }),
        });
        for (const data of early.splice(0)) dispatch(data, false);
      },
      (err: unknown) => {
        const message = err instanceof KeelError && err.code === 'unauthorized' ? err.message : 'unauthorized: the token was refused';
        signIns?.failed(err instanceof KeelError && typeof err.details?.reason === 'string' ? err.details.reason : 'refused', 'desk');
        metrics.error('unauthorized');
        close(CLOSE_CODES.unauthorized, message);
      },
    );
  };

  function dispatch(data: string, isBinary: boolean): void {
    if (isBinary) return send(deskError('bad_frame', 'frames are JSON text, not binary'));
    const parsed = parseDeskFrame(data, { maxTextChars: options.maxTextChars, maxTokenChars: MAX_TOKEN_CHARS });
    if (!parsed.ok) {
      if (phase === 'auth') return close(CLOSE_CODES.unauthorized, `unauthorized: the first frame must be {"type":"auth","token":...} (${parsed.error.message})`);
      return send(deskError(parsed.error.code, parsed.error.message, { id: parsed.error.id }));
    }
    const frame = parsed.frame;
    if (phase === 'auth') {
      if (frame.type === 'auth') return authenticate(frame.token);
      return close(CLOSE_CODES.unauthorized, 'unauthorized: authenticate first, with a Bearer header or an auth frame');
    }
    if (frame.type === 'auth') return send(deskError('bad_frame', 'already authenticated'));
    if (frame.type === 'ping') return send(frame.id === undefined ? { type: 'pong' } : { type: 'pong', id: frame.id });
    const handler = member;
    if (!handler) return;
    // One command at a time, in order: "say" then "release" must reach the customer in that order.
    chain = chain.then(() => handler.handle(frame)).catch((err: unknown) => log.error({ err }, 'desk command failed'));
  }

  if (args.headerToken !== undefined) authenticate(args.headerToken);
  else later(() => {
    if (phase === 'auth') close(CLOSE_CODES.authTimeout, `authentication timed out: no auth frame within ${options.authTimeoutMs} ms`);
  }, options.authTimeoutMs);

  return {
    receive(data, isBinary = false) {
      if (phase === 'closed') return;
      if (!bucket.take()) return send(deskError('rate_limited', 'too many frames on this connection; wait a moment'));
      if (phase === 'authenticating') {
        if (early.length >= options.maxFramesBeforeReady) return close(CLOSE_CODES.policyViolation, `too many frames before ready: at most ${options.maxFramesBeforeReady}`);
        early.push(isBinary ? '' : data);
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
  };
}
