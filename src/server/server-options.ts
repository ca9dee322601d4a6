/**
 * Options of the keel server (WebSocket gateway and HTTP routes). Every limit is on by default;
 * docs/protocol.md lists them with their effect on the wire.
 */
import { systemClock } from '../clock.js';
import { resolveInspectorOptions, type InspectorOptions } from '../../inspector/inspector-options.js';
import { resolveAlertRules, type AlertRule } from '../observe/alerts.js';
import { silentLogger, type Logger } from '../observe/logger.js';
import type { Clock } from '../ports.js';
import type { Runtime } from '../runtime/runtime.js';
import type { Identity } from '../types.js';
import { isDeskQueue, type DeskQueue } from './desk-queue.js';
import type { ServerMetrics } from './server-metrics.js';

/**
 * Checks a signed token and returns who it names, or rejects (a KeelError `unauthorized` says
 * why). `expiresAt` (ms since the epoch), when present, closes the connection at expiry.
 */
export type TokenVerifier = (token: string) => Promise<Identity & { readonly expiresAt?: number }>;

/**
 * Who may read `/metrics` and `/healthz`:
 * - `'loopback-or-token'`: requests from 127.0.0.0/8 or ::1 without a token, anyone else with a
 *   bearer token of role engineer or admin. Behind a reverse proxy on the same host every request
 *   looks local: use `'token'` there.
 * - `'token'`: always a bearer token of role engineer or admin.
 */
export type OpsAccess = 'loopback-or-token' | 'token';

/** Options of {@link createServer}. */
export interface ServerOptions {
  /** The runtime sessions run in. Required. */
  readonly runtime: Runtime;
  /** Close the runtime when the server closes. Default false (the caller owns it). */
  readonly ownsRuntime: boolean;
  /** Listen address. Default `'127.0.0.1'` (`HOST` in the CLI). */
  readonly host: string;
  /** Listen port; 0 picks a free one. Default 8787 (`PORT` in the CLI). */
  readonly port: number;
  /** Token check. Default: keel's token service over the keyring in the runtime's data directory. */
  readonly verifyToken?: TokenVerifier;
  /** Default: silent. */
  readonly logger: Logger;
  /** Time for rate limits, auth timeouts, heartbeats and token expiry. Default: the system clock. */
  readonly clock: Clock;
  /**
   * Browser origins (`https://shop.example`) allowed to open `/chat`, besides the server's own
   * origin. `'*'` allows any. Connections without an `Origin` header (non-browser clients) are
   * not origin-checked; they still need a token. Default `[]`: same origin only.
   */
  readonly allowedOrigins: readonly string[];
  /** Who may read `/metrics` and `/healthz`. Default `'loopback-or-token'`. */
  readonly opsAccess: OpsAccess;
  /** Directory of the static pages (chat page, inspector). Default: the package's `inspector/web`. */
  readonly staticDir?: string;
  /** Metrics registry to add to. Default: a new one with process metrics. */
  readonly metrics?: ServerMetrics;
  /** Alert rules over the decision stream (`[]`: none). Default: keel's `defaultAlertRules`. */
  readonly alertRules?: readonly AlertRule[];
  /** Limits of the inspector's live endpoint (queue per page, send buffer, health window). Default: `defaultInspectorOptions`. */
  readonly inspector?: Partial<InspectorOptions>;
  /** Largest inbound WebSocket message; larger closes with 1009. Default 65536. */
  readonly maxPayloadBytes: number;
  /** Longest `message.text` (UTF-16 code units); longer gets `too_large`. Default 4000. */
  readonly maxTextChars: number;
  /** Time to authenticate (header or first `auth` frame) before close 4408. Default 5000. */
  readonly authTimeoutMs: number;
  /** Ping interval; a socket that has not answered the previous ping is terminated. Default 30000. */
  readonly heartbeatIntervalMs: number;
  /** Inbound frames (of any type) per second per connection, steady rate. Default 10. */
  readonly messagesPerSecondPerConnection: number;
  /** Inbound frames a connection may send back to back. Default 20. */
  readonly messageBurstPerConnection: number;
  /** Chat `message` frames per second per user, across all their connections. Default 20. */
  readonly messagesPerSecondPerUser: number;
  /** Chat `message` frames a user may send back to back. Default 40. */
  readonly messageBurstPerUser: number;
  /**
   * Frames per second a connection may keep sending after a rate limit refused them (each gets a
   * `rate_limited` error); past that, with a burst of twice as many, it is flooding and is closed
   * with 1008. Default 50.
   */
  readonly maxRefusedFramesPerSecond: number;
  /** Open connections per tenant and user; one more closes with 4429. Default 8. */
  readonly maxConnectionsPerUser: number;
  /** Open connections in total; beyond, upgrades get HTTP 503. Default 10000. */
  readonly maxConnections: number;
  /** Bytes queued for a client before it counts as a slow consumer (close 1013). Default 1048576. */
  readonly maxBufferedBytes: number;
  /** Frames a client may send while its auth or hello is still being handled. Default 32. */
  readonly maxFramesBeforeReady: number;
  /** How long `close()` waits for sockets to close before terminating them. Default 3000. */
  readonly shutdownTimeoutMs: number;
  /**
   * The hand-off desk behind `/desk`, the human agents' endpoint (the default agent's
   * `agent.desk`). Without one, `/desk` upgrades get HTTP 404. With one, the desk queues a
   * tenant's hand-offs only while one of its agents is connected. Default none.
   */
  readonly desk?: DeskQueue;
  /**
   * How long a human agent who disconnected keeps their conversations and counts as on duty;
   * after that their conversations go back to the assistant. Default 30000.
   */
  readonly deskReconnectGraceMs: number;
}

/**
 * The defaults, frozen.
 *
 * @example
 * ```ts
 * createServer({ runtime, maxTextChars: defaultServerOptions.maxTextChars * 2 });
 * ```
 */
export const defaultServerOptions = Object.freeze({
  ownsRuntime: false,
  host: '127.0.0.1',
  port: 8787,
  logger: silentLogger,
  clock: systemClock,
  allowedOrigins: Object.freeze([]) as readonly string[],
  opsAccess: 'loopback-or-token' as OpsAccess,
  maxPayloadBytes: 65_536,
  maxTextChars: 4000,
  authTimeoutMs: 5000,
  heartbeatIntervalMs: 30_000,
  messagesPerSecondPerConnection: 10,
  messageBurstPerConnection: 20,
  messagesPerSecondPerUser: 20,
  messageBurstPerUser: 40,
  maxRefusedFramesPerSecond: 50,
  maxConnectionsPerUser: 8,
  maxConnections: 10_000,
  maxBufferedBytes: 1_048_576,
  maxFramesBeforeReady: 32,
  shutdownTimeoutMs: 3000,
  deskReconnectGraceMs: 30_000,
});

const POSITIVE_INTEGERS = [
  'maxPayloadBytes', 'maxTextChars', 'authTimeoutMs', 'heartbeatIntervalMs', 'messageBurstPerConnection', 'messageBurstPerUser',
  'maxConnectionsPerUser', 'maxConnections', 'maxBufferedBytes', 'maxFramesBeforeReady', 'shutdownTimeoutMs', 'deskReconnectGraceMs',
] as const;

/**
 * Fills defaults, validates (a TypeError names the bad option) and freezes.
 *
 * @example
 * ```ts
 * resolveServerOptions({ runtime, port: 0, maxTextChars: 2000 });
 * resolveServerOptions({ runtime, authTimeoutMs: -1 }); // TypeError: option authTimeoutMs ...
 * ```
 */
export function resolveServerOptions(options: Partial<ServerOptions> & { readonly runtime: Runtime }): Readonly<ServerOptions> {
  const o = { ...defaultServerOptions, ...stripUndefined(options) } as ServerOptions;
  const bad = (name: string, expected: string, value: unknown): never => {
    throw new TypeError(`option ${name} must be ${expected}, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}`);
  };
  if (typeof o.runtime?.open !== 'function' || typeof o.runtime.subscribe !== 'function') bad('runtime', 'a keel Runtime', o.runtime);
  if (typeof o.host !== 'string' || o.host === '') bad('host', 'a non-empty string', o.host);
  if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65_535) bad('port', 'an integer from 0 to 65535', o.port);
  for (const name of POSITIVE_INTEGERS) {
    const value = o[name];
    if (!Number.isSafeInteger(value) || value <= 0) bad(name, 'a positive integer', value);
  }
  for (const name of ['messagesPerSecondPerConnection', 'messagesPerSecondPerUser', 'maxRefusedFramesPerSecond'] as const) {
    const value = o[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) bad(name, 'a positive number', value);
  }
  if (o.maxPayloadBytes < 1024) bad('maxPayloadBytes', 'at least 1024', o.maxPayloadBytes);
  if (o.verifyToken !== undefined && typeof o.verifyToken !== 'function') bad('verifyToken', 'a function', o.verifyToken);
  if (o.alertRules !== undefined) resolveAlertRules(o.alertRules);
  if (o.inspector !== undefined) resolveInspectorOptions({ ...o.inspector, clock: o.inspector.clock ?? o.clock });
  if (typeof o.clock?.now !== 'function' || typeof o.clock.setTimeout !== 'function') bad('clock', 'a Clock', o.clock);
  if (typeof o.logger?.info !== 'function') bad('logger', 'a Logger', o.logger);
  if (o.opsAccess !== 'loopback-or-token' && o.opsAccess !== 'token') bad('opsAccess', "'loopback-or-token' or 'token'", o.opsAccess);
  if (!Array.isArray(o.allowedOrigins) || o.allowedOrigins.some((v) => typeof v !== 'string' || !isOriginPattern(v))) {
    bad('allowedOrigins', "a list of origins such as 'https://shop.example' or '*'", o.allowedOrigins);
  }
  if (o.staticDir !== undefined && (typeof o.staticDir !== 'string' || o.staticDir === '')) bad('staticDir', 'a directory path', o.staticDir);
  if (typeof o.ownsRuntime !== 'boolean') bad('ownsRuntime', 'a boolean', o.ownsRuntime);
  if (o.desk !== undefined && !isDeskQueue(o.desk)) bad('desk', 'a hand-off desk queue (such as the default agent\'s agent.desk)', o.desk);
  return Object.freeze({ ...o, allowedOrigins: Object.freeze(o.allowedOrigins.map((v) => (v === '*' ? v : new URL(v).origin))) });
}

function isOriginPattern(value: string): boolean {
  if (value === '*') return true;
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.origin !== 'null';
  } catch {
    return false;
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
