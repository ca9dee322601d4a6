/**
 * The keel server: one `node:http` server and one port for the chat WebSocket (`/chat`), the chat
 * page (`/`), the human agents' desk (`/desk`, page and WebSocket), the inspector (`/inspector`),
 * `/metrics` and `/healthz` (DESIGN §6).
 */
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { createObservability, type Observability } from '../observe/observability.js';
import type { Runtime } from '../runtime/runtime.js';
import { signInAuditFor } from '../security/sign-in-audit.js';
import { createChatGateway } from './chat-gateway.js';
import { createDeskGateway } from './desk-gateway.js';
import { createHttpRoutes, type HttpHandler } from './http-routes.js';
import { createInspectorGateway, type InspectorGateway } from './inspector-gateway.js';
import { createServerMetrics, type ServerMetrics } from './server-metrics.js';
import { resolveServerOptions, type ServerOptions } from './server-options.js';
import { createStaticFiles, defaultStaticDir } from './static-files.js';
import { createDataDirTokenVerifier } from './token-verifier.js';

/** Takes over an HTTP upgrade on a path registered with {@link KeelServer.addUpgradeRoute}. */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** A running (or ready to run) keel server. */
export interface KeelServer {
  /** Starts listening on `host:port`; resolves with the bound address (port 0 picks one). */
  listen(): Promise<{ readonly host: string; readonly port: number; readonly url: string }>;
  /** `http://host:port` once listening. */
  readonly url: string | undefined;
  readonly port: number | undefined;
  /** Metrics registry and recorders; add your own metrics to `metrics.registry`. */
  readonly metrics: ServerMetrics;
  /** The decision stream's observers: keel's metrics (in `metrics.registry`) and the alert rules. */
  readonly observability: Observability;
  /** The inspector's live endpoint (`/inspector/ws`) and its hub. */
  readonly inspector: InspectorGateway;
  /** The underlying HTTP server. */
  readonly http: HttpServer;
  /** Open chat connections. */
  connections(): number;
  /** Serves another plain HTTP path (exact match), e.g. the inspector's API. */
  addHttpRoute(path: string, handler: HttpHandler): void;
  /** Hands WebSocket upgrades on another path to `handler` (e.g. the inspector's live stream). */
  addUpgradeRoute(path: string, handler: UpgradeHandler): void;
  /**
   * Shuts down in order: stop accepting → close chat sockets with 1001 → close the runtime (when
   * `ownsRuntime`) → flush logs. Idempotent: every call returns the same promise.
   */
  close(): Promise<void>;
}

/**
 * Creates the server. Nothing listens until {@link KeelServer.listen}.
 *
 * @example
 * ```ts
 * const runtime = createRuntime({ dataDir: './.keel', machine });
 * const server = createServer({ runtime, ownsRuntime: true, port: 8787 });
 * const { url } = await server.listen(); // http://127.0.0.1:8787
 * process.once('SIGTERM', () => void server.close());
 * ```
 */
export function createServer(options: Partial<ServerOptions> & { readonly runtime: Runtime }): KeelServer {
  const opts = resolveServerOptions(options);
  const { runtime, logger, clock } = opts;
  const verifyToken = opts.verifyToken ?? createDataDirTokenVerifier(runtime.options.dataDir, { clock });
  const metrics = opts.metrics ?? createServerMetrics();
  metrics.watchRuntime(runtime);
  // One sign-in recorder for every endpoint, on the server's clock: refusals are throttled together.
  const signIns = signInAuditFor(runtime.audit, { clock, onError: (err) => logger.warn({ err }, 'auditing a sign-in failed') });
  const files = createStaticFiles({ dir: opts.staticDir ?? defaultStaticDir() });
  const gateway = createChatGateway({ runtime, options: opts, metrics, verifyToken, signIns, logger: logger.child({ component: 'chat' }) });
  const upgrades = new Map<string, UpgradeHandler>([['/chat', (req, socket, head) => gateway.handleUpgrade(req, socket, head)]]);
  // The human agents' desk exists only with a desk to serve; without one /desk is a 404 like any unknown path.
  const desk = opts.desk ? createDeskGateway({ runtime, desk: opts.desk, options: opts, metrics, verifyToken, signIns, logger: logger.child({ component: 'desk' }) }) : undefined;
  if (desk) upgrades.set('/desk', (req, socket, head) => desk.handleUpgrade(req, socket, head));
  // Metrics and alert rules over the runtime's decisions; the inspector shows both live.
  const observability = createObservability({ runtime, registry: metrics.registry, logger, clock, ...(opts.alertRules ? { alertRules: opts.alertRules } : {}) });
  const inspector = createInspectorGateway({
    runtime, verifyToken, signIns, allowedOrigins: opts.allowedOrigins, options: { clock, ...opts.inspector }, alerts: observability.alerts, logger: logger.child({ component: 'inspector' }),
  });
  upgrades.set('/inspector/ws', (req, socket, head) => inspector.handleUpgrade(req, socket, head));
  let closing: Promise<void> | undefined;
  let bound: { host: string; port: number; url: string } | undefined;
  const startedAt = clock.now();

  const routes = createHttpRoutes({
    runtime, metrics, files, verifyToken, logger, signIns,
    opsAccess: opts.opsAccess,
    startedAt,
    now: () => clock.now(),
    closing: () => closing !== undefined,
    connections: () => gateway.size,
  });

  const http = createHttpServer({ requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => void routes.handle(req, res));
  http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://keel.invalid').pathname;
    } catch {
      path = '';
    }
    const handler = upgrades.get(path);
    if (!handler) {
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    handler(req, socket, head);
  });
  http.on('clientError', (err, socket) => {
    logger.debug({ err }, 'http client error');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    else socket.destroy();
  });

  return {
    async listen() {
      if (closing) throw new TypeError('the server is closed');
      if (bound) return bound;
      await new Promise<void>((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        http.once('error', onError);
        http.listen(opts.port, opts.host, () => {
          http.off('error', onError);
          resolve();
        });
      });
      const address = http.address() as AddressInfo;
      const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      bound = Object.freeze({ host: address.address, port: address.port, url: `http://${host}:${address.port}` });
      logger.info({ url: bound.url }, 'keel server listening');
      return bound;
    },
    get url() {
      return bound?.url;
    },
    get port() {
      return bound?.port;
    },
    metrics,
    observability,
    inspector,
    http,
    connections: () => gateway.size,
    addHttpRoute: (path, handler) => routes.add(path, handler),
    addUpgradeRoute(path, handler) {
      if (!path.startsWith('/') || path === '/chat') throw new TypeError('upgrade route path must start with / and not be /chat');
      upgrades.set(path, handler);
    },
    close() {
      closing ??= (async () => {
        const stopped = bound
          ? new Promise<void>((resolve) => http.close(() => resolve()))
          : Promise.resolve();
        await Promise.all([gateway.close(), desk?.close()]);
        await inspector.close();
        observability.close();
        http.closeIdleConnections();
        // Requests still running (a slow /metrics scrape) get the same grace as sockets.
        const grace = setTimeout(() => http.closeAllConnections(), opts.shutdownTimeoutMs);
        grace.unref();
        await stopped;
        clearTimeout(grace);
        if (opts.ownsRuntime) await runtime.close();
        logger.info({}, 'keel server closed');
        await new Promise<void>((resolve) => (logger.flush ? logger.flush(() => resolve()) : resolve()));
      })();
      return closing;
    },
  };
}
