/**
 * Everything that watches a runtime's decision stream, assembled once: Prometheus metrics, the
 * alert rules (which write `alert` events back into the same stream, where the trace and the
 * inspector pick them up) and, when a tracer is given, OpenTelemetry spans. The server builds one
 * for its runtime; an embedding program without the server can build its own.
 */
import type { Registry } from 'prom-client';
import { systemClock } from '../clock.js';
import type { Clock } from '../ports.js';
import type { Runtime } from '../runtime/runtime.js';
import { createAlertEngine, defaultAlertRules, type ActiveAlert, type AlertEngine, type AlertRule } from './alerts.js';
import { silentLogger, type Logger } from './logger.js';
import { createMetrics, type Metrics } from './metrics.js';
import { createOtelTracing, type OtelTracing, type TracerLike } from './otel.js';

/** Options of {@link createObservability}. */
export interface ObservabilityOptions {
  readonly runtime: Pick<Runtime, 'decisions' | 'stats'>;
  /** Registry `/metrics` renders; names it already holds stay with their owner. Default: a new one. */
  readonly registry?: Registry;
  /** Also collect process metrics (event-loop delay, memory). Default true; they are skipped if the registry has them. */
  readonly processMetrics?: boolean;
  /** Alert rules; `[]` turns alerting off. Default {@link defaultAlertRules}. */
  readonly alertRules?: readonly AlertRule[];
  /** How often rules are evaluated without traffic. Default 10000. */
  readonly alertEvaluateEveryMs?: number;
  /** Told of each alert firing (`true`) or resolving (`false`). Default none. */
  readonly onAlert?: (alert: ActiveAlert, firing: boolean) => void;
  /** An OpenTelemetry tracer (`trace.getTracer('keel')`): GenAI spans, no message content. Default none. */
  readonly tracer?: TracerLike;
  /** Default: silent. Alerts log a warning when they fire. */
  readonly logger?: Logger;
  /** Default: the system clock. */
  readonly clock?: Clock;
}

/** The assembled observers. */
export interface Observability {
  readonly metrics: Metrics;
  readonly alerts: AlertEngine;
  readonly otel: OtelTracing | undefined;
  /** Stops every observer. Idempotent. */
  close(): void;
}

/**
 * Creates metrics, alerts and (optionally) spans over one runtime.
 *
 * @example
 * ```ts
 * const observability = createObservability({ runtime, logger, alertRules: [{ name: 'fallback_rate', type: 'rate', kinds: ['fallback'], threshold: 0.3, windowMs: 300_000, minSamples: 20 }] });
 * http.get('/metrics', async () => observability.metrics.text());
 * observability.alerts.active(); // [{ rule: 'fallback_rate', value: 0.42, ... }]
 * ```
 */
export function createObservability(options: ObservabilityOptions): Observability {
  if (typeof options?.runtime?.decisions?.subscribe !== 'function') throw new TypeError('option runtime must be a keel Runtime');
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const metrics = createMetrics({
    runtime: options.runtime,
    ...(options.registry ? { registry: options.registry } : {}),
    ...(options.processMetrics !== undefined ? { processMetrics: options.processMetrics } : {}),
  });
  const alerts = createAlertEngine({
    clock,
    rules: options.alertRules ?? defaultAlertRules,
    decisions: options.runtime.decisions,
    sink: options.runtime.decisions,
    logger: logger.child({ component: 'alerts' }),
    ...(options.alertEvaluateEveryMs !== undefined ? { evaluateEveryMs: options.alertEvaluateEveryMs } : {}),
    ...(options.onAlert ? { onAlert: options.onAlert } : {}),
  });
  const otel = options.tracer ? createOtelTracing({ tracer: options.tracer, decisions: options.runtime.decisions }) : undefined;
  let closed = false;
  return {
    metrics,
    alerts,
    otel,
    close() {
      if (closed) return;
      closed = true;
      alerts.close();
      metrics.close();
      otel?.close();
    },
  };
}
