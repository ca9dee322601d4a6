/**
 * Options of the live inspector hub: limits per client (queue, send buffer), the health window
 * and how often health and alerts are pushed. Limits are on by default.
 */
import { systemClock } from '../src/clock.js';
import type { Clock } from '../src/ports.js';

/** Options of {@link createInspectorHub}. */
export interface InspectorOptions {
  /** Frames waiting per client before low-value frames are dropped or coalesced. Default 1000. */
  readonly maxQueuedFrames: number;
  /** Bytes the socket may hold unsent before the hub stops writing to it and queues instead. Default 1 MiB. */
  readonly maxBufferedBytes: number;
  /** How often a client whose socket is full is looked at again. Default 50 ms. */
  readonly drainCheckMs: number;
  /** The window health is computed over (turn rate, latency, fallback and escalation rates). Default 5 min. */
  readonly healthWindowMs: number;
  /** How often health and alerts are pushed. Default 2000 ms. */
  readonly healthIntervalMs: number;
  /** Time to send an auth frame when no `Authorization` header was given. Default 5 s. */
  readonly authTimeoutMs: number;
  /** Sessions listed on connect (most recently updated first). Default 500. */
  readonly maxListedSessions: number;
  /** Events returned by one history query. Default 2000. */
  readonly maxQueryEvents: number;
  /**
   * Stored trace batches one query of the inspector reads at most (history, session detail,
   * report, health): a narrow filter over a long period would otherwise read the whole trace on
   * the server's event loop, about 2 µs a batch. A query cut short says `truncated`. Default 20000.
   */
  readonly maxScanBatches: number;
  /** Longest inbound frame, in characters. Default 16 KiB. */
  readonly maxFrameChars: number;
  /** Longest `text` of an operator signal. Default 2000. */
  readonly maxSignalTextChars: number;
  /** Connections at once across all inspectors. Default 100. */
  readonly maxClients: number;
  /** Inspector pages one user (tenant and user) may have open at once; one more closes with 4429. Default 8. */
  readonly maxPagesPerUser: number;
  /**
   * Requests (frames) per second one page may send, with a burst of twice as many; beyond, a
   * `rate_limited` error, and a page that keeps sending regardless is closed with 1008. Default 10.
   */
  readonly maxRequestsPerSecond: number;
  /**
   * Bytes of answers a page may leave unread: past this, `sessions`, `watch`, `query` and `report`
   * get a `rate_limited` error until it reads (a page that asks and never reads cannot make the
   * server hold its answers). Default 4 MiB.
   */
  readonly maxUnreadBytes: number;
  /** Default: the system clock. */
  readonly clock: Clock;
}

/** Defaults of {@link InspectorOptions}. */
export const defaultInspectorOptions: Readonly<InspectorOptions> = Object.freeze({
  maxQueuedFrames: 1000,
  maxBufferedBytes: 1024 * 1024,
  drainCheckMs: 50,
  healthWindowMs: 5 * 60_000,
  healthIntervalMs: 2000,
  authTimeoutMs: 5000,
  maxListedSessions: 500,
  maxQueryEvents: 2000,
  maxScanBatches: 20_000,
  maxFrameChars: 16 * 1024,
  maxSignalTextChars: 2000,
  maxClients: 100,
  maxPagesPerUser: 8,
  maxRequestsPerSecond: 10,
  maxUnreadBytes: 4 * 1024 * 1024,
  clock: systemClock,
});

const POSITIVE_INTEGERS = [
  'maxQueuedFrames', 'maxBufferedBytes', 'drainCheckMs', 'healthWindowMs', 'healthIntervalMs', 'authTimeoutMs',
  'maxListedSessions', 'maxQueryEvents', 'maxScanBatches', 'maxFrameChars', 'maxSignalTextChars', 'maxClients',
  'maxPagesPerUser', 'maxRequestsPerSecond', 'maxUnreadBytes',
] as const;

/**
 * Fills in defaults and validates; throws a TypeError naming the bad option. The result is frozen.
 *
 * @example
 * ```ts
 * resolveInspectorOptions({ maxQueuedFrames: 200 }).healthWindowMs; // 300000
 * resolveInspectorOptions({ maxQueuedFrames: 0 }); // TypeError: option maxQueuedFrames must be a positive integer
 * ```
 */
export function resolveInspectorOptions(options: Partial<InspectorOptions> = {}): Readonly<InspectorOptions> {
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...defaultInspectorOptions, ...defined } as InspectorOptions;
  for (const name of POSITIVE_INTEGERS) {
    const value = o[name];
    if (!Number.isSafeInteger(value) || value < 1) throw new TypeError(`option ${name} must be a positive integer`);
  }
  if (typeof o.clock?.now !== 'function' || typeof o.clock.setTimeout !== 'function' || typeof o.clock.clearTimeout !== 'function') {
    throw new TypeError('option clock must have now(), setTimeout() and clearTimeout()');
  }
  return Object.freeze(o);
}
