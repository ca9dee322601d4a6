/**
 * The `/chat` WebSocket endpoint: the connections of every user with their per-user limits, on
 * the shared endpoint rules (ws-peers.ts: handshakes, heartbeat, ordered shutdown).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observe/logger.js';
import type { Runtime } from '../runtime/runtime.js';
import type { SignInAudit } from '../security/sign-in-audit.js';
import type { Identity } from '../types.js';
import { createChatConnection } from './chat-connection.js';
import { createKeyedRateLimiter } from './rate-limiter.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ServerOptions, TokenVerifier } from './server-options.js';
import { createWsEndpoint, serverEndpointLimits } from './ws-peers.js';

/** The chat endpoint. */
export interface ChatGateway {
  /** Takes over an HTTP upgrade request for `/chat`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open connections. */
  readonly size: number;
  /** Closes every socket with 1001, waits up to `shutdownTimeoutMs`, then terminates the rest. Idempotent. */
  close(): Promise<void>;
}

/** Arguments of {@link createChatGateway}. */
export interface ChatGatewayArgs {
  readonly runtime: Runtime;
  readonly options: Readonly<ServerOptions>;
  readonly metrics: ServerMetrics;
  readonly verifyToken: TokenVerifier;
  readonly logger: Logger;
  /** Records sign-ins on the runtime's audit trail; one per server, so its throttle covers every endpoint. */
  readonly signIns: SignInAudit;
}

/**
 * Creates the gateway; the HTTP server hands it the upgrades for `/chat`.
 *
 * @example
 * ```ts
 * const gateway = createChatGateway({ runtime, options, metrics, verifyToken, logger, signIns });
 * http.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));
 * ```
 */
export function createChatGateway(args: ChatGatewayArgs): ChatGateway {
  const { options, metrics } = args;
  const userLimiter = createKeyedRateLimiter({ ratePerSecond: options.messagesPerSecondPerUser, burst: options.messageBurstPerUser, clock: options.clock });
  const userKey = (who: Identity): string => `${who.tenant}\u0000${who.user}`;
  return createWsEndpoint({
    name: 'chat',
    ...serverEndpointLimits(options),
    logger: args.logger,
    onRefused: (code) => metrics.error(code),
    onOpen: () => metrics.connectionOpened(),
    onClose: (code) => metrics.connectionClosed(code),
    accept: (peer) => createChatConnection({
      socket: peer.socket,
      runtime: args.runtime,
      verifyToken: args.verifyToken,
      options,
      metrics,
      logger: peer.logger,
      signIns: args.signIns,
      channel: peer.req.headers.origin === undefined ? 'ws' : 'web',
      ...(peer.headerToken !== undefined ? { headerToken: peer.headerToken } : {}),
      hooks: {
        admit: peer.admit,
        takeUserToken: (who) => userLimiter.take(userKey(who)),
      },
    }),
  });
}
