/**
 * One WebSocket endpoint of the server (`/chat`, `/desk`, `/inspector/ws`), whatever it speaks:
 * the handshake rules (capacity, browser origin, shutting down), the open peers with their
 * per-user slots, the heartbeat that finds dead peers, and the ordered shutdown (1001 to every
 * peer, then terminate what is left after a grace). What a peer says goes to the connection the
 * endpoint's `accept` creates.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { passBudget } from '../clock.js';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import type { Logger } from '../observe/logger.js';
import type { Clock } from '../ports.js';
import type { Identity } from '../types.js';
import { CLOSE_CODES, closeReason } from './close-codes.js';
import { bearerToken, isOriginAllowed } from './origin-policy.js';
import type { ServerOptions } from './server-options.js';
import { createInboundQueue } from './inbound-queue.js';
import type { PeerSocket } from './ws-connection-base.js';

/** Event-loop time one pass of a heartbeat may take; the rest of the peers follow 1 ms later. */
const HEARTBEAT_PASS_MS = 5;
/** How long a refused socket (bad origin, shutting down) may take to answer the close before it is cut. */
const REFUSED_CLOSE_MS = 2_000;

/** What an endpoint needs from the connection of one peer. */
export interface PeerConnection {
  /** One inbound message: text, or `''` with `isBinary` for a binary one. */
  receive(data: string, isBinary: boolean): void;
  /** Closes with a code and reason (idempotent). */
  close(code: number, reason: string): void;
  /** The socket has closed: release everything. Idempotent. */
  dispose(): void;
}

/** A peer whose handshake was accepted, handed to {@link WsEndpointArgs.accept}. */
export interface AcceptedPeer {
  readonly socket: PeerSocket;
  readonly req: IncomingMessage;
  /** The token of an `Authorization: Bearer` header, if any. */
  readonly headerToken: string | undefined;
  /** The endpoint's logger, naming this connection. */
  readonly logger: Logger;
  /** Takes one of `identity`'s slots (`maxConnectionsPerUser`) until the socket closes; false when none is left. */
  admit(identity: Identity): boolean;
  /** False once the socket is closing or closed (by either side, or by the endpoint shutting down). */
  isOpen(): boolean;
}

/** Arguments of {@link createWsEndpoint}. */
export interface WsEndpointArgs {
  /** Names the endpoint in logs (`chat`, `desk`, `inspector`). */
  readonly name: string;
  /** Largest inbound frame; `ws` closes with 1009 above it. */
  readonly maxPayloadBytes: number;
  /** Open peers at most; further handshakes get a 503. */
  readonly maxConnections: number;
  /** Open peers per tenant and user at most (see {@link AcceptedPeer.admit}). Default no limit. */
  readonly maxConnectionsPerUser?: number;
  /** Browser origins allowed besides the server's own (`'*'`: any). */
  readonly allowedOrigins: readonly string[];
  /** Pings every peer this often and terminates those that did not answer the last one. Default: no heartbeat. */
  readonly heartbeatIntervalMs?: number;
  /** How long `close()` waits for peers to close before terminating them. */
  readonly shutdownTimeoutMs: number;
  /** The heartbeat's clock. */
  readonly clock: Clock;
  readonly logger: Logger;
  /** Creates the connection of an accepted peer. */
  readonly accept: (peer: AcceptedPeer) => PeerConnection;
  /** A handshake was refused: counted as this error code. */
  readonly onRefused?: (code: 'unavailable' | 'forbidden') => void;
  /** A peer was accepted (metrics). */
  readonly onOpen?: () => void;
  /** A peer's socket closed, with this code (metrics). */
  readonly onClose?: (code: number) => void;
  /** Runs first when the endpoint closes, before any peer is told (stop what peers leaving would trigger). */
  readonly beforeClose?: () => void;
}

/** A WebSocket endpoint. */
export interface WsEndpoint {
  /** Takes over an HTTP upgrade request for the endpoint's path. */
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Open peers. */
  readonly size: number;
  /** Closes every peer with 1001, waits up to `shutdownTimeoutMs`, then terminates the rest. Idempotent. */
  close(): Promise<void>;
}

interface Peer {
  readonly connection: PeerConnection;
  alive: boolean;
}

/**
 * Creates an endpoint. It owns a `ws` server in `noServer` mode; the HTTP server hands it the
 * upgrades for its path.
 *
 * @example
 * ```ts
 * const endpoint = createWsEndpoint({
 *   name: 'chat', maxPayloadBytes: 65_536, maxConnections: 10_000, allowedOrigins: [], heartbeatIntervalMs: 30_000,
 *   shutdownTimeoutMs: 10_000, clock, logger, accept: (peer) => createChatConnection({ socket: peer.socket, ... }),
 * });
 * upgrades.set('/chat', (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
 * ```
 */
export function createWsEndpoint(args: WsEndpointArgs): WsEndpoint {
  const { name, clock, logger } = args;
  const maxPerUser = args.maxConnectionsPerUser ?? Number.POSITIVE_INFINITY;
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: args.maxPayloadBytes,
    // Compression costs CPU and memory per socket and opens compression side channels; frames
    // are small.
    perMessageDeflate: false,
    clientTracking: false,
  });
  const peers = new Map<WebSocket, Peer>();
  const perUser = new Map<string, number>();
  let closing: Promise<void> | undefined;
  // Frames are handled in arrival order, a few milliseconds at a time, so that a burst from
  // thousands of sockets cannot hold timers (heartbeats, session timers) for seconds.
  const inbound = createInboundQueue({ onError: (err) => logger.warn({ err }, `${name} frame handling failed`) });
  let heartbeat: unknown;
  let connectionSeq = 0;

  const refuse = (socket: Duplex, status: number, text: string): void => {
    args.onRefused?.('unavailable');
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
  };

  // Where a heartbeat stopped when its pass ran out of time (a Map's iterator survives changes),
  // and when that heartbeat began: the next one is due an interval after it.
  let beatCursor: Iterator<[WebSocket, Peer]> | undefined;
  let beatStartedAt = 0;
  const beat = (intervalMs: number): void => {
    heartbeat = undefined;
    if (closing) return;
    if (!beatCursor) {
      beatCursor = peers.entries();
      beatStartedAt = clock.now();
    }
    // A ping is a write to the socket: 5,000 of them in one loop held the event loop for 58 ms,
    // so a heartbeat goes in passes of a few milliseconds.
    const spent = passBudget(HEARTBEAT_PASS_MS, { every: 64 });
    for (;;) {
      if (spent()) {
        heartbeat = clock.setTimeout(() => beat(intervalMs), 1);
        return;
      }
      const next = beatCursor.next();
      if (next.done) break;
      const [ws, peer] = next.value;
      if (!peer.alive) {
        logger.info({}, `terminating a ${name} connection that missed its heartbeat`);
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
    beatCursor = undefined;
    heartbeat = clock.setTimeout(() => beat(intervalMs), Math.max(1, beatStartedAt + intervalMs - clock.now()));
  };
  const { heartbeatIntervalMs } = args;
  if (heartbeatIntervalMs !== undefined) heartbeat = clock.setTimeout(() => beat(heartbeatIntervalMs), heartbeatIntervalMs);

  const releaseSlot = (key: string | undefined): void => {
    if (key === undefined) return;
    const left = (perUser.get(key) ?? 1) - 1;
    if (left <= 0) perUser.delete(key);
    else perUser.set(key, left);
  };

  const accept = (ws: WebSocket, req: IncomingMessage, raw: Duplex): void => {
    const log = logger.child({ conn: ++connectionSeq });
    /** The per-user slot this peer holds, released on close. */
    let userKey: string | undefined;
    const connection = args.accept({
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
      req,
      headerToken: bearerToken(req.headers.authorization),
      logger: log,
      admit(who) {
        const key = `${who.tenant}\u0000${who.user}`;
        const count = perUser.get(key) ?? 0;
        if (count >= maxPerUser) return false;
        perUser.set(key, count + 1);
        userKey = key;
        return true;
      },
      isOpen: () => ws.readyState === ws.OPEN,
    });
    const peer: Peer = { connection, alive: true };
    peers.set(ws, peer);
    args.onOpen?.();
    ws.on('pong', () => {
      peer.alive = true;
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      // Any frame proves the peer is there, as a pong would.
      peer.alive = true;
      const text = isBinary ? '' : rawText(data);
      inbound.push(ws, () => connection.receive(text, isBinary));
    });
    ws.on('error', (err) => log.warn({ err }, `${name} socket error`));
    ws.on('close', (code) => {
      peers.delete(ws);
      connection.dispose();
      releaseSlot(userKey);
      args.onClose?.(code);
    });
  };

  return {
    handleUpgrade(req, socket, head) {
      socket.on('error', (err) => logger.debug({ err }, `${name} upgrade socket error`));
      if (closing || peers.size >= args.maxConnections) return refuse(socket, 503, 'Service Unavailable');
      const originOk = isOriginAllowed(req.headers.origin, req.headers.host, args.allowedOrigins);
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (!originOk || closing) {
          // A refused socket still reads until the peer's close frame: a protocol error meanwhile
          // (an unmasked frame, one over the size limit) is an 'error' event, which with no
          // listener would end the process. It is not counted as a peer, so it gets a short
          // deadline instead of ws's 30 s closing timeout.
          ws.on('error', (err) => logger.debug({ err }, `${name} refused socket error`));
          const deadline = setTimeout(() => ws.terminate(), REFUSED_CLOSE_MS);
          deadline.unref?.();
          ws.once('close', () => clearTimeout(deadline));
          if (!originOk) {
            // Accepted only to say why: a browser cannot read the status of a refused handshake.
            args.onRefused?.('forbidden');
            ws.close(CLOSE_CODES.forbidden, closeReason(`forbidden: origin ${String(req.headers.origin)} is not allowed`));
          } else {
            ws.close(CLOSE_CODES.goingAway, 'server shutting down');
          }
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
        inbound.clear();
        args.beforeClose?.();
        const open = [...peers.keys()];
        const gone = Promise.all(open.map((ws) => new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve();
          ws.once('close', () => resolve());
        })));
        for (const ws of open) peers.get(ws)?.connection.close(CLOSE_CODES.goingAway, 'server shutting down');
        // Real time, not the injected clock: a manual clock in tests would never end the wait.
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), args.shutdownTimeoutMs);
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

/**
 * The endpoint limits the server's options set, shared by `/chat` and `/desk`.
 *
 * @example
 * ```ts
 * createWsEndpoint({ name: 'desk', ...serverEndpointLimits(options), logger, accept });
 * ```
 */
export function serverEndpointLimits(options: Readonly<ServerOptions>): Pick<
  WsEndpointArgs,
  'maxPayloadBytes' | 'maxConnections' | 'maxConnectionsPerUser' | 'allowedOrigins' | 'heartbeatIntervalMs' | 'shutdownTimeoutMs' | 'clock'
> {
  return {
    maxPayloadBytes: options.maxPayloadBytes,
    maxConnections: options.maxConnections,
    maxConnectionsPerUser: options.maxConnectionsPerUser,
    allowedOrigins: options.allowedOrigins,
    heartbeatIntervalMs: options.heartbeatIntervalMs,
    shutdownTimeoutMs: options.shutdownTimeoutMs,
    clock: options.clock,
  };
}

/**
 * The text of a `ws` message, whichever of its three shapes it arrived in.
 *
 * @example
 * ```ts
 * ws.on('message', (data, isBinary) => conn.receive(isBinary ? '' : rawText(data), isBinary));
 * ```
 */
function rawText(data: RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}
