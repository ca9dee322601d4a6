/**
 * The server's Prometheus metrics (prom-client), in base units: `_total` counters, `_seconds`
 * durations. The registry is exposed so other parts of keel (and the embedding program) add
 * their own metrics to the same `/metrics` page.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Runtime } from '../runtime/runtime.js';
import { CLOSE_CODES } from './close-codes.js';

/** Close codes counted under their own label: RFC 6455's (1000-1015) and keel's; any other is `other`. */
const KNOWN_CLOSE_CODES: ReadonlySet<number> = new Set([...Array.from({ length: 16 }, (_, i) => 1000 + i), ...Object.values(CLOSE_CODES)]);

/** What a turn ended as, for `keel_turns_total{outcome}`. */
export type TurnOutcomeLabel = 'ok' | 'duplicate' | 'error';

/** The server's metrics and their registry. */
export interface ServerMetrics {
  /** Add more metrics here (`registers: [metrics.registry]`); `/metrics` renders all of it. */
  readonly registry: Registry;
  /** A turn ended; `seconds` from receiving the message to the runtime's answer. */
  turn(outcome: TurnOutcomeLabel, seconds: number): void;
  connectionOpened(): void;
  connectionClosed(code: number): void;
  /** An `error` frame was sent, or a connection refused, with this code. */
  error(code: string): void;
  frameIn(type: string): void;
  /** Reports the runtime's live sessions on each scrape. */
  watchRuntime(runtime: Runtime): void;
}

/** Options of {@link createServerMetrics}. */
export interface ServerMetricsOptions {
  /** Registry to register in. Default: a new one. */
  readonly registry?: Registry;
  /** Also collect prom-client's process metrics (CPU, memory, event loop lag). Default true. */
  readonly processMetrics?: boolean;
}

/** Turn latency buckets in seconds: a durable local turn takes milliseconds, an LLM turn seconds. */
const TURN_BUCKETS_SECONDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * Creates the metrics: `keel_turns_total{outcome}`, `keel_turn_duration_seconds`,
 * `keel_ws_connections`, `keel_ws_connections_total`, `keel_ws_closes_total{code}`,
 * `keel_errors_total{code}`, `keel_ws_frames_received_total{type}`, `keel_live_sessions`.
 *
 * @example
 * ```ts
 * const metrics = createServerMetrics();
 * new Counter({ name: 'keel_recalls_total', help: 'Memory recalls.', registers: [metrics.registry] });
 * const server = createServer({ runtime, metrics });
 * ```
 */
export function createServerMetrics(options: ServerMetricsOptions = {}): ServerMetrics {
  const registry = options.registry ?? new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'keel_' });
  const registers = [registry];
  const turns = new Counter({ name: 'keel_turns_total', help: 'Chat turns handled, by outcome.', labelNames: ['outcome'] as const, registers });
  const turnSeconds = new Histogram({
    name: 'keel_turn_duration_seconds',
    help: 'Time from receiving a chat message to the runtime committing its answer.',
    buckets: TURN_BUCKETS_SECONDS,
    registers,
  });
  const connections = new Gauge({ name: 'keel_ws_connections', help: 'Open chat WebSocket connections.', registers });
  const connectionsTotal = new Counter({ name: 'keel_ws_connections_total', help: 'Chat WebSocket connections accepted.', registers });
  const closes = new Counter({ name: 'keel_ws_closes_total', help: 'Chat WebSocket connections closed, by close code.', labelNames: ['code'] as const, registers });
  const errors = new Counter({ name: 'keel_errors_total', help: 'Errors reported to clients, and session failures of the decision trace, by error code.', labelNames: ['code'] as const, registers });
  const framesIn = new Counter({ name: 'keel_ws_frames_received_total', help: 'Frames received from chat clients, by type.', labelNames: ['type'] as const, registers });
  const runtimes = new Set<Runtime>();
  new Gauge({
    name: 'keel_live_sessions',
    help: 'Session actors live in memory (not passivated).',
    registers,
    collect() {
      let live = 0;
      for (const runtime of runtimes) {
        try {
          live += runtime.stats().live;
        } catch {
          // A closed runtime has no live sessions.
        }
      }
      this.set(live);
    },
  });
  return {
    registry,
    turn(outcome, seconds) {
      turns.inc({ outcome });
      if (outcome !== 'error') turnSeconds.observe(seconds);
    },
    connectionOpened() {
      connections.inc();
      connectionsTotal.inc();
    },
    connectionClosed(code) {
      connections.dec();
      // The peer chooses its close code: only RFC 6455's and keel's own are labels of their own.
      closes.inc({ code: KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other' });
    },
    error(code) {
      errors.inc({ code });
    },
    frameIn(type) {
      framesIn.inc({ type });
    },
    watchRuntime(runtime) {
      runtimes.add(runtime);
    },
  };
}
