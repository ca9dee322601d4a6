/**
 * The `/desk` WebSocket endpoint for human agents, on the chat server's port: the same
 * handshake rules as `/chat` (origin, capacity, token), a heartbeat, the per-user connection cap,
 * and an ordered shutdown. What agents do goes through the desk service (desk-service.ts).
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from '../observe/logger.js';
import type { Runtime } from '../runtime/runtime.js';
import { createRedactor } from '../security/redact.js';
import { CLOSE_CODES, closeReason } from './close-codes.js';
import { createDeskConnection, type DeskConnection } from './desk-connection.js';
import type { DeskQueue } from './desk-queue.js';
import { createDeskService } from './desk-service.js';
import { bearerToken, isOriginAllowed } from './origin-policy.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ServerOptions, TokenVerifier } from './server-options.js';

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
}

/**
 * Creates the desk endpoint over `desk`, whose availability from now on follows the agents on duty.
 *
 * @example
 * ```ts
 * const desk = createDeskGateway({ runtime, desk: agent.desk, options, metrics, verifyToken, logger });
 * upgrades.set('/desk', (req, socket, head) => desk.handleUpgrade(req, socket, head));
 * ```
 */
export function createDeskGateway(args: DeskGatewayArgs): DeskGateway {
  const { options, logger } = args;
  const { clock } = options;
  const service = createDeskService({ runtime: args.runtime, desk: args.desk, clock, logger, graceMs: options.deskReconnectGraceMs });
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayloadBytes, perMessageDeflate: false, clientTracking: false });
  const redactor = createRedactor();
  const peers = new Map<WebSocket, { connection: DeskConnection; alive: boolean; userKey?: string }>();
  const perUser = new Map<string, number>();
  let closing: Promise<void> | undefined;
  let connectionSeq = 0;

  const beat = (): void => {
    heartbeat = undefined;
    if (closing) return;
    for (const [ws, peer] of peers) {
      if (!peer.alive) {
        ws.terminate();
        continue;
      }
      peer.alive = false;
      try {
        ws.ping();
      } catch {
        // Already closing; its close event cleans up.
      }
    }
    heartbeat = clock.setTimeout(beat, options.heartbeatIntervalMs);
  };
  let heartbeat: unknown = clock.setTimeout(beat, options.heartbeatIntervalMs);

  const accept = (ws: WebSocket, req: IncomingMessage): void => {
    const headerToken = bearerToken(req.headers.authorization);
    const peer: { connection: DeskConnection; alive: boolean; userKey?: string } = {
      alive: true,
      connection: createDeskConnection({
        socket: {
          get bufferedAmount() {
            return ws.bufferedAmount;
          },
          send: (data, cb) => ws.send(data, cb),
          close: (code, reason) => ws.close(code, reason),
        },
        service,
        verifyToken: args.verifyToken,
        options,
        metrics: args.metrics,
        logger: logger.child({ desk: ++connectionSeq }),
        audit: args.runtime.audit,
        redactor,
        admit(who) {
          const key = `${who.tenant}\u0000${who.user}`;
          const count = perUser.get(key) ?? 0;
          if (count >= options.maxConnectionsPerUser) return false;
          perUser.set(key, count + 1);
          peer.userKey = key;
          return true;
        },
        ...(headerToken !== undefined ? { headerToken } : {}),
      }),
    };
    peers.set(ws, peer);
    ws.on('pong', () => {
      peer.alive = true;
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      peer.alive = true;
      peer.connection.receive(isBinary ? '' : rawText(data), isBinary);
    });
    ws.on('error', (err) => logger.warn({ err }, 'desk socket error'));
    ws.on('close', () => {
      peers.delete(ws);
      peer.connection.dispose();
      if (peer.userKey !== undefined) {
        const left = (perUser.get(peer.userKey) ?? 1) - 1;
        if (left <= 0) perUser.delete(peer.userKey);
        else perUser.set(peer.userKey, left);
      }
    });
  };

  return {
    handleUpgrade(req, socket, head) {
      socket.on('error', (err) => logger.debug({ err }, 'desk upgrade socket error'));
      if (closing || peers.size >= options.maxConnections) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const originOk = isOriginAllowed(req.headers.origin, req.headers.host, options.allowedOrigins);
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (!originOk) {
          args.metrics.error('forbidden');
          ws.close(CLOSE_CODES.forbidden, closeReason(`forbidden: origin ${String(req.headers.origin)} is not allowed`));
          return;
        }
        if (closing) return ws.close(CLOSE_CODES.goingAway, 'server shutting down');
        accept(ws, req);
      });
    },
    get size() {
      return peers.size;
    },
    close() {
      closing ??= (async () => {
        if (heartbeat !== undefined) clock.clearTimeout(heartbeat);
        heartbeat = undefined;
        // Stopped first: agents leaving because the server stops must not end their conversations.
        service.close();
        const open = [...peers.keys()];
        const gone = Promise.all(open.map((ws) => new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve();
          ws.once('close', () => resolve());
        })));
        for (const ws of open) peers.get(ws)?.connection.close(CLOSE_CODES.goingAway, 'server shutting down');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), options.shutdownTimeoutMs);
          timer.unref();
        });
        if ((await Promise.race([gone, timedOut])) === 'timeout') {
          for (const ws of peers.keys()) ws.terminate();
          await gone;
        }
        clearTimeout(timer);
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closing;
    },
  };
}

function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
