/**
 * The plain HTTP side of the server: `/healthz`, `/metrics`, the chat page at `/`, the inspector
 * at `/inspector`, and static assets. `/chat` itself is a WebSocket (see chat-gateway.ts).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observe/logger.js';
import type { Runtime } from '../runtime/runtime.js';
import { KeelError } from '../errors.js';
import { can } from '../security/roles.js';
import type { SignInAudit } from '../security/sign-in-audit.js';
import { bearerToken, isLoopbackAddress, isLoopbackHost } from './origin-policy.js';
import type { ServerMetrics } from './server-metrics.js';
import type { OpsAccess, TokenVerifier } from './server-options.js';
import type { StaticFiles } from './static-files.js';

/** Handles one HTTP request on a path registered with {@link HttpRoutes.add}. */
export type HttpHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** The request router. */
export interface HttpRoutes {
  /** Answers one request; never rejects (failures become a 500). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Adds a handler for an exact path, for other parts of keel (the inspector's API). */
  add(path: string, handler: HttpHandler): void;
}

/** Arguments of {@link createHttpRoutes}. */
export interface HttpRoutesArgs {
  readonly runtime: Runtime;
  readonly metrics: ServerMetrics;
  readonly files: StaticFiles;
  readonly verifyToken: TokenVerifier;
  readonly opsAccess: OpsAccess;
  readonly logger: Logger;
  readonly startedAt: number;
  readonly now: () => number;
  /** True once `close()` began: health turns 503 so balancers drain this instance. */
  readonly closing: () => boolean;
  readonly connections: () => number;
  /** Records sign-ins on the runtime's audit trail; one per server, so its throttle covers every endpoint. */
  readonly signIns: SignInAudit;
}

/** The chat page talks only to its own origin and runs no inline code. */
const CHAT_PAGE_HEADERS = Object.freeze({
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
});

/**
 * Creates the router.
 *
 * @example
 * ```ts
 * const routes = createHttpRoutes({ runtime, metrics, files, verifyToken, opsAccess: 'token', logger, startedAt: Date.now(), now: Date.now, closing: () => false, connections: () => 0 });
 * http.createServer((req, res) => void routes.handle(req, res));
 * ```
 */
export function createHttpRoutes(args: HttpRoutesArgs): HttpRoutes {
  const extra = new Map<string, HttpHandler>();

  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff', ...headers });
    res.end(text);
  };

  /** Ops endpoints: a staff token, or a loopback peer when `opsAccess` allows it. */
  const opsAllowed = async (req: IncomingMessage, res: ServerResponse): Promise<boolean> => {
    const token = bearerToken(req.headers.authorization);
    if (token === undefined) {
      if (args.opsAccess === 'loopback-or-token' && isLoopbackAddress(req.socket.remoteAddress) && isLoopbackHost(req.headers.host)) return true;
      json(res, 401, { error: 'unauthorized', message: 'a bearer token of role engineer or admin is required' }, { 'WWW-Authenticate': 'Bearer' });
      return false;
    }
    // Refused tokens and roles are audited; accepted scrapes are not (one every few seconds is noise).
    let identity;
    try {
      identity = await args.verifyToken(token);
    } catch (err) {
      args.signIns.failed(err instanceof KeelError && typeof err.details?.reason === 'string' ? err.details.reason : 'refused', 'ops');
      json(res, 401, { error: 'unauthorized', message: err instanceof KeelError ? err.message : 'the token was refused' }, { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
      return false;
    }
    if (can(identity, 'metrics.read')) return true;
    args.runtime.audit?.append({ actor: identity, action: 'metrics.read', target: 'endpoint:ops', outcome: 'denied', details: { rule: 'role' } }).catch(() => undefined);
    json(res, 403, { error: 'forbidden', message: `role '${identity.role}' may not read operational endpoints` });
    return false;
  };

  const health = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!(await opsAllowed(req, res))) return;
    const closing = args.closing();
    let live = 0;
    try {
      live = args.runtime.stats().live;
    } catch {
      // A runtime that is closing has nothing live to report.
    }
    json(res, closing ? 503 : 200, {
      status: closing ? 'closing' : 'ok',
      uptimeSeconds: Math.round((args.now() - args.startedAt) / 1000),
      connections: args.connections(),
      liveSessions: live,
    });
  };

  const metrics = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!(await opsAllowed(req, res))) return;
    const body = await args.metrics.registry.metrics();
    res.writeHead(200, { 'Content-Type': args.metrics.registry.contentType, 'Cache-Control': 'no-store' });
    res.end(body);
  };

  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://keel.invalid');
    const path = url.pathname;
    const handler = extra.get(path);
    if (handler) return handler(req, res, url);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return json(res, 405, { error: 'method_not_allowed', message: 'only GET and HEAD are served here' }, { Allow: 'GET, HEAD' });
    }
    switch (path) {
      case '/healthz':
        return health(req, res);
      case '/metrics':
        return metrics(req, res);
      case '/chat':
        return json(res, 426, { error: 'upgrade_required', message: '/chat is a WebSocket endpoint' }, { Upgrade: 'websocket' });
      case '/':
        if (await args.files.serve(req, res, 'chat.html', CHAT_PAGE_HEADERS)) return;
        return json(res, 404, { error: 'not_found', message: 'the chat page is not installed' });
      case '/desk':
      case '/desk/':
        // The human agents' page; an upgrade on the same path is the desk's WebSocket (server.ts).
        if (await args.files.serve(req, res, 'desk.html', CHAT_PAGE_HEADERS)) return;
        return json(res, 404, { error: 'not_found', message: 'the agent desk page is not installed' });
      case '/inspector':
      case '/inspector/':
        if (await args.files.serve(req, res, 'inspector.html', CHAT_PAGE_HEADERS)) return;
        return json(res, 404, { error: 'not_found', message: 'the inspector is not installed' });
    }
    let relative: string;
    try {
      relative = decodeURIComponent(path);
    } catch {
      return json(res, 400, { error: 'bad_request', message: 'malformed path' });
    }
    // Pages under /inspector/ reach the same assets with relative URLs.
    if (relative.startsWith('/inspector/')) relative = relative.slice('/inspector'.length);
    // Every file gets the pages' policy: a page reached by another spelling of its path
    // (`/chat.html/`, `//inspector.html`) must not lose it.
    if (await args.files.serve(req, res, relative, CHAT_PAGE_HEADERS)) return;
    json(res, 404, { error: 'not_found', message: 'no such page' });
  };

  return {
    async handle(req, res) {
      try {
        await route(req, res);
      } catch (err) {
        args.logger.error({ err, path: req.url }, 'http request failed');
        if (!res.headersSent) json(res, 500, { error: 'internal', message: 'internal error' });
        else res.destroy();
      }
    },
    add(path, handler) {
      if (!path.startsWith('/')) throw new TypeError('route path must start with /');
      extra.set(path, handler);
    },
  };
}
