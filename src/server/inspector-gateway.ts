/**
 * The inspector's WebSocket endpoint (`/inspector/ws`): same-origin handshakes only, a staff token
 * (engineer or admin) in an `Authorization: Bearer` header or as the first frame
 * `{"type":"auth","token":"..."}` (the page takes it from its URL fragment), then the
 * {@link InspectorHub}'s protocol. Refused tokens and roles are audited.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { createInspectorHub, type InspectorConnection, type InspectorHub } from '../../inspector/inspector-hub.js';
import { resolveInspectorOptions, type InspectorOptions } from '../../inspector/inspector-options.js';
import { isKeelError } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import type { Runtime } from '../runtime/runtime.js';
import { can } from '../security/roles.js';
import { signInAuditFor } from '../security/sign-in-audit.js';
import type { Identity } from '../types.js';
import { CLOSE_CODES, closeReason } from './close-codes.js';
import { bearerToken, isOriginAllowed } from './origin-policy.js';
import type { TokenVerifier } from './server-options.js';

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
}

/**
 * Creates the gateway and its hub.
 *
 * @example
 * ```ts
 * const inspector = createInspectorGateway({ runtime, verifyToken, alerts: observability.alerts, logger });
 * server.addUpgradeRoute('/inspector/ws', (req, socket, head) => inspector.handleUpgrade(req, socket, head));
 * ```
 */
export function createInspectorGateway(args: InspectorGatewayArgs): InspectorGateway {
  const o = resolveInspectorOptions(args.options);
  const { logger, runtime } = args;
  const hub = createInspectorHub({ runtime, options: o, ...(args.alerts ? { alerts: args.alerts } : {}), logger });
  const wss = new WebSocketServer({ noServer: true, maxPayload: o.maxFrameChars * 4, perMessageDeflate: false, clientTracking: false });
  const sockets = new Set<WebSocket>();
  let closing: Promise<void> | undefined;

  const signIns = signInAuditFor(runtime.audit, { onError: (err) => logger.warn({ err }, 'audit append failed') });

  const accept = (ws: WebSocket, headerToken: string | undefined): void => {
    sockets.add(ws);
    let connection: InspectorConnection | undefined;
    let authenticating = false;
    const refuse = (code: number, error: string, message: string): void => {
      try {
        ws.send(JSON.stringify({ type: 'error', code: error, message }));
      } catch {
        // The socket is already going.
      }
      ws.close(code, closeReason(`${error}: ${message}`));
    };
    const timer = setTimeout(() => {
      if (!connection) refuse(CLOSE_CODES.authTimeout, 'unauthorized', `no auth frame within ${o.authTimeoutMs} ms`);
    }, o.authTimeoutMs);
    timer.unref();
    const authenticate = async (token: string): Promise<void> => {
      authenticating = true;
      let identity: Identity;
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
      if (ws.readyState !== ws.OPEN || closing) return;
      clearTimeout(timer);
      signIns.succeeded(identity, 'inspector');
      connection = hub.connect(
        {
          get bufferedAmount() {
            return ws.bufferedAmount;
          },
          send: (text) => ws.send(text),
          close: (code, reason) => ws.close(code, reason),
        },
        identity,
      );
    };
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const text = isBinary ? '' : Buffer.isBuffer(data) ? data.toString('utf8') : Buffer.concat(data as Buffer[]).toString('utf8');
      if (connection) return connection.receive(text);
      if (authenticating) return;
      let token: string | undefined;
      try {
        const f = JSON.parse(text) as { type?: unknown; token?: unknown };
        token = f?.type === 'auth' && typeof f.token === 'string' && f.token !== '' ? f.token : undefined;
      } catch {
        token = undefined;
      }
      if (token === undefined) return refuse(CLOSE_CODES.unauthorized, 'unauthorized', 'the first frame must be {"type":"auth","token":"..."}');
      void authenticate(token);
    });
    ws.on('error', (err) => logger.debug({ err }, 'inspector socket error'));
    ws.on('close', () => {
      clearTimeout(timer);
      sockets.delete(ws);
      connection?.dispose();
    });
    if (headerToken !== undefined) void authenticate(headerToken);
  };

  return {
    hub,
    handleUpgrade(req, socket, head) {
      socket.on('error', (err) => logger.debug({ err }, 'inspector upgrade socket error'));
      if (closing || sockets.size >= o.maxClients) {
        socket.end('HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const originOk = isOriginAllowed(req.headers.origin, req.headers.host, args.allowedOrigins ?? []);
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (!originOk) {
          ws.close(CLOSE_CODES.forbidden, closeReason(`forbidden: origin ${String(req.headers.origin)} is not allowed`));
          return;
        }
        accept(ws, bearerToken(req.headers.authorization));
      });
    },
    get size() {
      return sockets.size;
    },
    close() {
      closing ??= (async () => {
        hub.close();
        const open = [...sockets];
        const gone = Promise.all(open.map((ws) => new Promise<void>((resolve) => {
          if (ws.readyState === ws.CLOSED) return resolve();
          ws.once('close', () => resolve());
        })));
        for (const ws of open) ws.close(CLOSE_CODES.goingAway, 'server shutting down');
        const timer = setTimeout(() => {
          for (const ws of sockets) ws.terminate();
        }, 3000);
        timer.unref();
        await gone;
        clearTimeout(timer);
        await new Promise<void>((resolve) => wss.close(() => resolve()));
      })();
      return closing;
    },
  };
}
