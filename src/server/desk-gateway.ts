/**
 * The `/desk` WebSocket endpoint for human agents, on the chat server's port: the same
 * handshake rules as `/chat` (origin, capacity, token), a heartbeat, the per-user connection cap
 * and an ordered shutdown (ws-peers.ts). What agents do goes through the desk service
 * (desk-service.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../observe/logger.js';
import type { Runtime } from '../runtime/runtime.js';
import { createRedactor } from '../security/redact.js';
import type { SignInAudit } from '../security/sign-in-audit.js';
import { createDeskConnection } from './desk-connection.js';
import type { DeskQueue } from './desk-queue.js';
import { createDeskService } from './desk-service.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ServerOptions, TokenVerifier } from './server-options.js';
import { createWsEndpoint, serverEndpointLimits } from './ws-peers.js';

/** The desk endpoint. */
export interface DeskGateway {
  /** Takes over an HTTP upgrade request for `/desk`. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open desk connections. */
  readonly size: number;
  /** Closes every socket with 1001 (terminating stragglers after `shutdownTimeoutMs`), then stops the service. Idempotent. */
  close(): Promise<void>;
}

/** Arguments of {@link createDeskGateway}. */
export interface DeskGatewayArgs {
  readonly runtime: Runtime;
  readonly desk: DeskQueue;
  readonly options: Readonly<ServerOptions>;
  readonly metrics: ServerMetrics;
  readonly verifyToken: TokenVerifier;
  readonly logger: Logger;
  /** Records sign-ins on the runtime's audit trail; one per server, so its throttle covers every endpoint. */
  readonly signIns: SignInAudit;
}

/**
 * Creates the desk endpoint over `desk`, whose availability from now on follows the agents on duty.
 *
 * @example
 * ```ts
 * const desk = createDeskGateway({ runtime, desk: agent.desk, options, metrics, verifyToken, logger, signIns });
 * upgrades.set('/desk', (req, socket, head) => desk.handleUpgrade(req, socket, head));
 * ```
 */
export function createDeskGateway(args: DeskGatewayArgs): DeskGateway {
  const { options, logger, metrics } = args;
  const service = createDeskService({ runtime: args.runtime, desk: args.desk, clock: options.clock, logger, graceMs: options.deskReconnectGraceMs });
  const redactor = createRedactor();
  return createWsEndpoint({
    name: 'desk',
    ...serverEndpointLimits(options),
    logger,
    onRefused: (code) => metrics.error(code),
    // Stopped first: agents leaving because the server stops must not end their conversations.
    beforeClose: () => service.close(),
    accept: (peer) => createDeskConnection({
      socket: peer.socket,
      service,
      verifyToken: args.verifyToken,
      options,
      metrics,
      logger: peer.logger,
      audit: args.runtime.audit,
      signIns: args.signIns,
      redactor,
      admit: peer.admit,
      ...(peer.headerToken !== undefined ? { headerToken: peer.headerToken } : {}),
    }),
  });
}
