/**
 * keel's public API. Everything a program embedding keel needs is exported from here.
 */
export { createRuntime } from './runtime/runtime.js';
export type { Runtime, RuntimeEvent, OpenSessionArgs, OpenedSession, SendOptions, SessionSummary, RuntimeStats } from './runtime/runtime.js';
export { defaultRuntimeOptions, resolveRuntimeOptions } from './runtime/runtime-options.js';
export type { RuntimeOptions } from './runtime/runtime-options.js';
export type { SessionFrame, TurnOutcome } from './sessions/session-frames.js';
export type { MigrateHook } from './sessions/session-host.js';
export { KeelError, isKeelError, toKeelError, ERROR_CODES } from './errors.js';
export type { ErrorCode } from './errors.js';
export { sessionId, tenantId, userId, isValidId, ROLES } from './types.js';
export type { SessionId, TenantId, UserId, Identity, Role, Json } from './types.js';
export { systemClock, createManualClock } from './clock.js';
export type { ManualClock } from './clock.js';
export { BUSY_TAG, DECISION_KINDS } from './ports.js';
export type * from './ports.js';
export { createLogger, silentLogger } from './observe/logger.js';
export type { Logger, LoggerOptions } from './observe/logger.js';
export { createDecisionStream } from './observe/decision-stream.js';
export type { DecisionStream } from './observe/decision-stream.js';
export { createObservability } from './observe/observability.js';
export type { Observability, ObservabilityOptions } from './observe/observability.js';
export { createMetrics, resolveMetricsOptions, defaultMetricsOptions } from './observe/metrics.js';
export type { Metrics, MetricsOptions } from './observe/metrics.js';
export { createAlertEngine, defaultAlertRules, resolveAlertRules } from './observe/alerts.js';
export type { AlertEngine, AlertEngineOptions, AlertRule, RateRule, LatencyRule, ActiveAlert } from './observe/alerts.js';
export { createOtelTracing } from './observe/otel.js';
export type { OtelTracing, OtelTracingOptions, TracerLike, SpanLike } from './observe/otel.js';
export { buildReport, formatReport, parseSince } from './observe/diagnostics.js';
export type { DiagnosticsReport, ReportOptions } from './observe/diagnostics.js';
export type { EventQuery } from './observe/event-store.js';
export * from './server/index.js';
export * from './agent/index.js';
