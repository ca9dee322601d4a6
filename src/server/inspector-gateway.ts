/**
 * The inspector's WebSocket endpoint (`/inspector/ws`): same-origin handshakes only, a staff token
 * (engineer or admin) in an `Authorization: Bearer` header or as the first frame
 * `{"type":"auth","token":"..."}` (the page takes it from its URL fragment), then the
 * {@link InspectorHub}'s protocol. Refused tokens and roles are audited.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { parseInspectorFrame } from '../../inspector/inspector-frames.js';
import { createInspectorHub, type InspectorConnection, type InspectorHub } from '../../inspector/inspector-hub.js';
import { resolveInspectorOptions, type InspectorOptions } from '../../inspector/inspector-options.js';
import { isKeelError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { Runtime } from '../runtime/runtime.js';
import { can } from '../security/roles.js';
import type { SignInAudit } from '../security/sign-in-audit.js';
import { CLOSE_CODES, closeReason } from './close-codes.js';
import type { TokenVerifier } from './server-options.js';
import { MAX_TIMER_MS, type VerifiedIdentity } from './ws-connection-base.js';
import { createWsEndpoint, type AcceptedPeer, type PeerConnection } from './ws-peers.js';

/** How long closing waits for inspector pages to close before terminating them. */
const SHUTDOWN_GRACE_MS = 3000;
/** Inspector pages are pinged this often; one that did not answer the previous ping is terminated. */
const INSPECTOR_HEARTBEAT_MS = 30_000;

/** The inspector endpoint. */
export interface InspectorGateway {
  readonly hub: InspectorHub;
  /** Takes over an HTTP upgrade request for `/inspector/ws`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open inspector connections. */
  readonly size: number;
  /** Closes every socket with 1001 and stops the hub. Idempotent. */
  close(): Promise<void>;
}

/** Arguments of {@link createInspectorGateway}. */
export interface InspectorGatewayArgs {
  readonly runtime: Runtime;
  readonly verifyToken: TokenVerifier;
  /** Browser origins allowed besides the server's own (the server's `allowedOrigins`). Default none. */
  readonly allowedOrigins?: readonly string[];
  readonly options?: Partial<InspectorOptions>;
  /** Firing alerts for the page's banner. */
  readonly alerts?: { active(): readonly unknown[] };
  readonly logger: Logger;
  /** Records sign-ins on the runtime's audit trail; one per server, so its throttle covers every endpoint. */
  readonly signIns: SignInAudit;
}

/**
 * Creates the gateway and its hub.
 *
 * @example
 * ```ts
 * const inspector = createInspectorGateway({ runtime, verifyToken, alerts: observability.alerts, logger, signIns });
 * server.addUpgradeRoute('/inspector/ws', (req, socket, head) => inspector.handleUpgrade(req, socket, head));
 * ```
 */
export function createInspectorGateway(args: InspectorGatewayArgs): InspectorGateway {
  const o = resolveInspectorOptions(args.options);
  const { logger, runtime } = args;
  const hub = createInspectorHub({ runtime, options: o, ...(args.alerts ? { alerts: args.alerts } : {}), logger });
  const { signIns } = args;

  const accept = (peer: AcceptedPeer): PeerConnection => {
    const { socket } = peer;
    let connection: InspectorConnection | undefined;
    let authenticating = false;
    const refuse = (code: number, error: string, message: string): void => {
      try {
        socket.send(JSON.stringify({ type: 'error', code: error, message }));
      } catch {
        // The socket is already going.
      }
      socket.close(code, closeReason(`${error}: ${message}`));
    };
    const timer = setTimeout(() => {
      if (!connection) refuse(CLOSE_CODES.authTimeout, 'unauthorized', `no auth frame within ${o.authTimeoutMs} ms`);
    }, o.authTimeoutMs);
    timer.unref();
    // A token that expires while its page is open closes the page with 4401 at the expiry, as on
    // /chat and /desk: the live trace and operator signals end with the grant.
    let expiry: unknown;
    let disposed = false;
    const armExpiry = (expiresAt: number): void => {
      if (disposed) return;
      const wait = expiresAt - o.clock.now();
      if (wait <= 0) return refuse(CLOSE_CODES.unauthorized, 'unauthorized', 'the token has expired');
      expiry = o.clock.setTimeout(() => armExpiry(expiresAt), Math.min(wait, MAX_TIMER_MS));
    };
    const authenticate = async (token: string): Promise<void> => {
      authenticating = true;
      let identity: VerifiedIdentity;
      try {
        identity = await args.verifyToken(token);
      } catch (err) {
        signIns.failed(isKeelError(err) && typeof err.details?.reason === 'string' ? err.details.reason : 'refused', 'inspector');
        return refuse(CLOSE_CODES.unauthorized, 'unauthorized', isKeelError(err) ? err.message : 'the token was refused');
      }
      if (!can(identity, 'inspector.view')) {
        runtime.audit
          .append({ actor: identity, action: 'inspector.connect', target: 'endpoint:inspector', outcome: 'denied', details: { rule: 'role' } })
          .catch((err: unknown) => logger.warn({ err }, 'audit append failed'));
        return refuse(CLOSE_CODES.forbidden, 'forbidden', `role '${identity.role}' may not use the inspector`);
      }
      // Closed meanwhile, or the server is shutting down.
      if (!peer.isOpen()) return;
      clearTimeout(timer);
      if (!peer.admit(identity)) {
        return refuse(CLOSE_CODES.tooManyConnections, 'rate_limited', `too many inspector pages: at most ${o.maxPagesPerUser} per user`);
      }
      signIns.succeeded(identity, 'inspector');
      try {
        connection = hub.connect(socket, identity);
      } catch (err) {
        // The runtime is closing (or its store failing): this page is refused, the process goes on.
        const closing = isKeelError(err) && err.code === 'runtime_closed';
        if (!closing) logger.warn({ err }, 'opening an inspector page failed');
        return refuse(closing ? CLOSE_CODES.goingAway : CLOSE_CODES.internalError, closing ? 'runtime_closed' : 'internal', closing ? 'the runtime is closing' : 'the inspector could not open this page');
      }
      if (identity.expiresAt !== undefined) armExpiry(identity.expiresAt);
    };
    // Never left unhandled: keel ends the process on an unhandled rejection.
    const signIn = (token: string): void => {
      authenticate(token).catch((err: unknown) => {
        logger.warn({ err }, 'inspector sign-in failed');
        refuse(CLOSE_CODES.internalError, 'internal', 'the sign-in failed');
      });
    };
    if (peer.headerToken !== undefined) signIn(peer.headerToken);
    return {
      receive(text) {
        if (connection) return connection.receive(text);
        if (authenticating) return;
        // The protocol's own parser: the first frame is read by the same rules as every later one.
        const f = parseInspectorFrame(text, o.maxSignalTextChars);
        const token = 'type' in f && f.type === 'auth' ? f.token : undefined;
        if (token === undefined) return refuse(CLOSE_CODES.unauthorized, 'unauthorized', 'the first frame must be {"type":"auth","token":"..."}');
        signIn(token);
      },
      close: (code, reason) => socket.close(code, reason),
      dispose() {
        disposed = true;
        clearTimeout(timer);
        if (expiry !== undefined) o.clock.clearTimeout(expiry);
        connection?.dispose();
      },
    };
  };

  const endpoint = createWsEndpoint({
    name: 'inspector',
    maxPayloadBytes: o.maxFrameChars * 4,
    maxConnections: o.maxClients,
    maxConnectionsPerUser: o.maxPagesPerUser,
    // Pages that vanished without a close (a laptop lid) give their slot back.
    heartbeatIntervalMs: INSPECTOR_HEARTBEAT_MS,
    allowedOrigins: args.allowedOrigins ?? [],
    shutdownTimeoutMs: SHUTDOWN_GRACE_MS,
    clock: o.clock,
    logger,
    beforeClose: () => hub.close(),
    accept,
  });
  return {
    hub,
    handleUpgrade: endpoint.handleUpgrade,
    get size() {
      return endpoint.size;
    },
    close: endpoint.close,
  };
}
