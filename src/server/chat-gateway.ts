/**
 * The `/chat` WebSocket endpoint: handshakes (origin, capacity), the connections of every user,
 * the heartbeat that finds dead peers, and the ordered shutdown of all sockets.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from '../observe/logger.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Identity } from '../types.js';
import { createChatConnection, type ChatConnection } from './chat-connection.js';
import { CLOSE_CODES, closeReason } from './close-codes.js';
import { bearerToken, isOriginAllowed } from './origin-policy.js';
import { createKeyedRateLimiter } from './rate-limiter.js';
import type { ServerMetrics } from './server-metrics.js';
import type { ServerOptions, TokenVerifier } from './server-options.js';

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
}

interface Peer {
  readonly connection: ChatConnection;
  alive: boolean;
  /** The per-user slot this connection holds, released on close. */
  userKey?: string;
}

/**
 * Creates the gateway. It owns a `ws` server in `noServer` mode; the HTTP server hands it the
 * upgrades for `/chat`.
 *
 * @example
 * ```ts
 * const gateway = createChatGateway({ runtime, options, metrics, verifyToken, logger });
 * http.on('upgrade', (req, socket, head) => gateway.handleUpgrade(req, socket, head));
 * ```
 */
export function createChatGateway(args: ChatGatewayArgs): ChatGateway {
  const { options, metrics, logger } = args;
  const { clock } = options;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: options.maxPayloadBytes,
    // Compression costs CPU and memory per socket and opens compression side channels; chat
    // frames are small.
    perMessageDeflate: false,
    clientTracking: false,
  });
  const peers = new Map<WebSocket, Peer>();
  const perUser = new Map<string, number>();
  const userLimiter = createKeyedRateLimiter({ ratePerSecond: options.messagesPerSecondPerUser, burst: options.messageBurstPerUser, clock });
  let closing: Promise<void> | undefined;
  let heartbeat: unknown;
  let connectionSeq = 0;

  const userKey = (who: Identity): string => `${who.tenant}\u0000${who.user}`;

  const refuse = (socket: Duplex, status: number, text: string): void => {
    metrics.error(status === 503 ? 'unavailable' : 'bad_request');
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  };

  const beat = (): void => {
    heartbeat = undefined;
    if (closing) return;
    for (const [ws, peer] of peers) {
      if (!peer.alive) {
        logger.info({}, 'terminating a chat connection that missed its heartbeat');
        ws.terminate();
        continue;
      }
      peer.alive = false;
      try {
        ws.ping();
      } catch {
        // The socket is already closing; its close event cleans up.
      }
    }
    heartbeat = clock.setTimeout(beat, options.heartbeatIntervalMs);
  };
  heartbeat = clock.setTimeout(beat, options.heartbeatIntervalMs);

  const accept = (ws: WebSocket, req: IncomingMessage, raw: Duplex): void => {
    const log = logger.child({ conn: ++connectionSeq });
    const headerToken = bearerToken(req.headers.authorization);
    const peer: Peer = {
      alive: true,
      connection: createChatConnection({
        socket: {
          get bufferedAmount() {
            return ws.bufferedAmount;
          },
          send: (data, cb) => ws.send(data, cb),
          close: (code, reason) => ws.close(code, reason),
          // The upgraded TCP socket is ours (handed over by the HTTP server): corking it batches
          // the frames of one commit into one write.
          cork: () => raw.cork(),
          uncork: () => raw.uncork(),
        },
        runtime: args.runtime,
        verifyToken: args.verifyToken,
        options,
        metrics,
        logger: log,
        channel: req.headers.origin === undefined ? 'ws' : 'web',
        ...(headerToken !== undefined ? { headerToken } : {}),
        hooks: {
          admit(who) {
            const key = userKey(who);
            const count = perUser.get(key) ?? 0;
            if (count >= options.maxConnectionsPerUser) return false;
            perUser.set(key, count + 1);
            peer.userKey = key;
            return true;
          },
          takeUserToken: (who) => userLimiter.take(userKey(who)),
        },
      }),
    };
    peers.set(ws, peer);
    metrics.connectionOpened();
    ws.on('pong', () => {
      peer.alive = true;
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      // Any frame proves the peer is there, as a pong would.
      peer.alive = true;
      peer.connection.receive(isBinary ? '' : rawText(data), isBinary);
    });
    ws.on('error', (err) => log.warn({ err }, 'chat socket error'));
    ws.on('close', (code) => {
      peers.delete(ws);
      peer.connection.dispose();
      if (peer.userKey !== undefined) {
        const left = (perUser.get(peer.userKey) ?? 1) - 1;
        if (left <= 0) perUser.delete(peer.userKey);
        else perUser.set(peer.userKey, left);
      }
      metrics.connectionClosed(code);
    });
  };

  return {
    handleUpgrade(req, socket, head) {
      socket.on('error', (err) => logger.debug({ err }, 'upgrade socket error'));
      if (closing) return refuse(socket, 503, 'Service Unavailable');
      if (peers.size >= options.maxConnections) return refuse(socket, 503, 'Service Unavailable');
      const originOk = isOriginAllowed(req.headers.origin, req.headers.host, options.allowedOrigins);
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (!originOk) {
          // Accepted only to say why: a browser cannot read the status of a refused handshake.
          metrics.error('forbidden');
          ws.close(CLOSE_CODES.forbidden, closeReason(`forbidden: origin ${String(req.headers.origin)} is not allowed`));
          return;
        }
        if (closing) {
          ws.close(CLOSE_CODES.goingAway, 'server shutting down');
          return;
        }
        accept(ws, req, socket);
      });
    },
    get size() {
      return peers.size;
    },
    close() {
      closing ??= (async () => {
        if (heartbeat !== undefined) clock.clearTimeout(heartbeat);
        heartbeat = undefined;
        const open = [...peers.keys()];
        const gone = Promise.all(open.map((ws) => new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve();
          ws.once('close', () => resolve());
        })));
        for (const ws of open) peers.get(ws)?.connection.close(CLOSE_CODES.goingAway, 'server shutting down');
        // Real time, not the injected clock: a manual clock in tests would never end the wait.
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
