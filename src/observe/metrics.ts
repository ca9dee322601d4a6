/**
 * keel's Prometheus metrics (prom-client), fed by the live decision stream, by the runtime's
 * counters on each scrape, and by a few hooks for what only the caller can time (a whole turn, an
 * LLM request, a tool call). Names are in base units (`_total`, `_seconds`); labels are low
 * cardinality by construction: never a session, user or tenant id, and every label keeps at most
 * `maxLabelValues` distinct values (the rest become `other`) so a misbehaving machine cannot
 * explode the series count.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DecisionEvent } from '../ports.js';
import type { RuntimeStats } from '../runtime/runtime.js';

/** What {@link createMetrics} needs from a runtime: its decision stream and its counters. */
export interface MetricsRuntime {
  readonly decisions: { subscribe(fn: (event: DecisionEvent) => void): () => void };
  stats(): RuntimeStats;
}

/** Options of {@link createMetrics}. */
export interface MetricsOptions {
  /** Subscribes to its decisions and reads `stats()` on each scrape. Default: none (feed with `observe`). */
  readonly runtime?: MetricsRuntime;
  /** Registry to register in. Names it already holds are left to their owner (see `skipped`). Default: a new one. */
  readonly registry?: Registry;
  /** Also collect prom-client's process metrics (CPU, memory, event-loop delay), prefixed `keel_`. Default true. */
  readonly processMetrics?: boolean;
  /** Distinct values kept per label before new ones are counted as `other`. Default 50. */
  readonly maxLabelValues?: number;
  /** Buckets of `keel_turn_duration_seconds`. Default 1 ms … 30 s. */
  readonly turnBucketsSeconds?: readonly number[];
  /** Buckets of the LLM and tool latency histograms. Default 10 ms … 60 s. */
  readonly callBucketsSeconds?: readonly number[];
}

/** Outcome label of `keel_turns_total`. */
export type TurnOutcome = 'ok' | 'failed' | 'duplicate';

/** keel's metrics and their registry. */
export interface Metrics {
  /** The registry; `/metrics` renders `await metrics.text()` with `metrics.contentType`. */
  readonly registry: Registry;
  /** The exposition's content type, for the HTTP header. */
  readonly contentType: string;
  /** Names that another owner (e.g. the server's own metrics) had already registered; keel left them alone. */
  readonly skipped: readonly string[];
  /** The Prometheus text exposition of the whole registry. */
  text(): Promise<string>;
  /** Feeds one decision event (done automatically for the runtime's stream). */
  observe(event: DecisionEvent): void;
  /**
   * A turn ended after `seconds` (from receiving the message to the committed answer). Counts the
   * turn too unless a runtime is attached, whose own counters are then the source of turn counts.
   */
  observeTurn(seconds: number, outcome?: TurnOutcome): void;
  /** One LLM request took `seconds`. */
  observeLlm(seconds: number, provider?: string): void;
  /** One tool call took `seconds`. */
  observeTool(seconds: number, tool?: string): void;
  /** A WebSocket connection opened (`keel_ws_connections` up). */
  connectionOpened(): void;
  /** A WebSocket connection closed (`keel_ws_connections` down). */
  connectionClosed(): void;
  /** Unsubscribes from the runtime's stream. Idempotent; the registry stays readable. */
  close(): void;
}

/** The defaults, frozen. */
export const defaultMetricsOptions = Object.freeze({
  processMetrics: true,
  maxLabelValues: 50,
  turnBucketsSeconds: Object.freeze([0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]),
  callBucketsSeconds: Object.freeze([0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 60]),
});

type ResolvedMetricsOptions = Readonly<Omit<MetricsOptions, 'turnBucketsSeconds' | 'callBucketsSeconds'> & typeof defaultMetricsOptions>;

/**
 * Fills defaults, validates (a TypeError names the bad option) and freezes.
 *
 * @example
 * ```ts
 * resolveMetricsOptions({ maxLabelValues: 20 });
 * ```
 */
export function resolveMetricsOptions(options: MetricsOptions = {}): ResolvedMetricsOptions {
  const o = { ...defaultMetricsOptions, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as ResolvedMetricsOptions;
  if (typeof o.processMetrics !== 'boolean') throw new TypeError('option processMetrics must be a boolean');
  if (!Number.isInteger(o.maxLabelValues) || o.maxLabelValues < 1) throw new TypeError('option maxLabelValues must be a positive integer');
  for (const name of ['turnBucketsSeconds', 'callBucketsSeconds'] as const) {
    const b = o[name] as readonly number[];
    if (!Array.isArray(b) || b.length === 0 || b.some((x, i) => !(x > 0) || (i > 0 && x <= (b[i - 1] as number)))) {
      throw new TypeError(`option ${name} must be a non-empty increasing list of positive numbers`);
    }
  }
  if (o.registry !== undefined && typeof (o.registry as { getSingleMetric?: unknown }).getSingleMetric !== 'function') {
    throw new TypeError('option registry must be a prom-client Registry');
  }
  if (o.runtime !== undefined && (typeof o.runtime.stats !== 'function' || typeof o.runtime.decisions?.subscribe !== 'function')) {
    throw new TypeError('option runtime must have decisions.subscribe() and stats()');
  }
  return Object.freeze(o);
}

/** Hand-off statuses worth a series; the protocol's chatter (relayed messages) is not. */
const HANDOFF_STATUSES = new Set(['requested', 'queued', 'accepted', 'with_agent', 'completed', 'failed', 'unavailable', 'withdrawn_by_customer', 'ticket_created', 'callback_scheduled']);

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined);

/**
 * The rung a fallback moved to: an explicit `data.rung`, else the tool ladder's `data.next`
 * (`alternative`, `degraded`, ...), else `next_provider` for the LLM failover chain, else the reason
 * (dialog fallbacks such as `reprompt`, `out_of_scope`).
 */
export function fallbackRung(event: DecisionEvent): string {
  const d = event.data;
  return str(d.rung) ?? str(d.next) ?? (str(d.from) && str(d.to) && d.tool === undefined && d.task === undefined ? 'next_provider' : undefined) ?? event.reason;
}

/**
 * Creates keel's metrics: `keel_turns_total{outcome}`, `keel_turn_duration_seconds`,
 * `keel_llm_request_duration_seconds{provider}`, `keel_tool_call_duration_seconds{tool}`,
 * `keel_decisions_total{kind}`, `keel_routes_total{verdict}`, `keel_tool_calls_total{tool,outcome}`,
 * `keel_retries_total{source}`, `keel_fallbacks_total{rung}`, `keel_escalations_total{reason}`,
 * `keel_handoffs_total{status}`, `keel_errors_total{code}`, `keel_alerts_total{rule}`,
 * `keel_live_sessions`, `keel_resting_sessions`, `keel_passivated_sessions`, `keel_hydrations_total`, `keel_passivations_total`, `keel_ws_connections`,
 * plus prom-client's process metrics (`keel_nodejs_eventloop_lag_seconds`, ...).
 *
 * Latencies come from the hooks, or from decision events carrying `data.latencyMs`: a `tool`
 * event (or a `retry`, `fallback` or `guard` about a tool call) feeds the tool histogram; a
 * `reply` feeds the turn histogram and its `data.llmSteps` the LLM one; any other event with a
 * string `data.model` feeds the LLM one too.
 *
 * With a registry that already holds `keel_errors_total{code}` (the server's count of errors
 * reported to clients), decision errors are added to that counter, except those marked
 * `data.thrown` (the caller was told, so the server counted them already).
 *
 * @example
 * ```ts
 * const metrics = createMetrics({ runtime });
 * http.get('/metrics', async (res) => res.type(metrics.contentType).send(await metrics.text()));
 * ```
 */
export function createMetrics(options: MetricsOptions = {}): Metrics {
  const o = resolveMetricsOptions(options);
  const registry = o.registry ?? new Registry();
  const registers = [registry];
  const skipped: string[] = [];
  const taken = (name: string): boolean => {
    if (registry.getSingleMetric(name) === undefined) return false;
    skipped.push(name);
    return true;
  };
  /** An existing counter with exactly these labels, to add to instead of leaving alone. */
  const shared = <L extends string>(name: string, labelNames: readonly L[]): Counter<L> | undefined => {
    const existing = registry.getSingleMetric(name) as (Counter<L> & { labelNames?: readonly string[] }) | undefined;
    if (!(existing instanceof Counter)) return undefined;
    const names = existing.labelNames ?? [];
    return names.length === labelNames.length && labelNames.every((l) => names.includes(l)) ? existing : undefined;
  };
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (c: Counter<L>) => void) =>
    taken(name) ? undefined : new Counter<L>({ name, help, labelNames, registers, ...(collect ? { collect() { collect(this); } } : {}) });
  const histogram = <L extends string>(name: string, help: string, buckets: readonly number[], labelNames: readonly L[] = []) =>
    taken(name) ? undefined : new Histogram<L>({ name, help, buckets: [...buckets], labelNames, registers });

  if (o.processMetrics && !taken('keel_nodejs_eventloop_lag_seconds')) collectDefaultMetrics({ register: registry, prefix: 'keel_' });

  const seen = new Map<string, Set<string>>();
  /** Caps distinct values per label: the first `maxLabelValues` keep their name. */
  const label = (key: string, value: string): string => {
    let set = seen.get(key);
    if (!set) seen.set(key, (set = new Set()));
    const v = value.slice(0, 64);
    if (set.has(v)) return v;
    if (set.size >= o.maxLabelValues) return 'other';
    set.add(v);
    return v;
  };

  const runtime = o.runtime;
  const last = { ok: 0, failed: 0, hydrations: 0, passivations: 0 };
  const stats = (): RuntimeStats | undefined => {
    try {
      return runtime?.stats();
    } catch {
      return undefined;
    }
  };
  /** Moves a runtime-fed counter by what the runtime counted since the last scrape. */
  const delta = (key: keyof typeof last, now: number): number => {
    const d = Math.max(0, now - last[key]);
    last[key] = Math.max(last[key], now);
    return d;
  };

  const turns = counter('keel_turns_total', 'Turns handled, by outcome (from the runtime when attached, else from observeTurn).', ['outcome'] as const, (c) => {
    const s = stats();
    if (!s) return;
    c.inc({ outcome: 'ok' }, delta('ok', s.turns - s.failedTurns));
    c.inc({ outcome: 'failed' }, delta('failed', s.failedTurns));
  });
  const turnSeconds = histogram('keel_turn_duration_seconds', 'Time from receiving a message to the committed answer.', o.turnBucketsSeconds);
  const llmSeconds = histogram('keel_llm_request_duration_seconds', 'Duration of one LLM request, by provider.', o.callBucketsSeconds, ['provider'] as const);
  const toolSeconds = histogram('keel_tool_call_duration_seconds', 'Duration of one tool call, by tool.', o.callBucketsSeconds, ['tool'] as const);
  const decisionsTotal = counter('keel_decisions_total', 'Decision events, by kind.', ['kind'] as const);
  const routes = counter('keel_routes_total', 'Routing decisions, by verdict.', ['verdict'] as const);
  const toolCalls = counter('keel_tool_calls_total', 'Tool call outcomes, by tool and outcome.', ['tool', 'outcome'] as const);
  const retries = counter('keel_retries_total', 'Retries, by source (llm, tool, other).', ['source'] as const);
  const fallbacks = counter('keel_fallbacks_total', 'Fallbacks, by the rung moved to.', ['rung'] as const);
  const escalations = counter('keel_escalations_total', 'Escalations towards a human, by reason.', ['reason'] as const);
  const handoffs = counter('keel_handoffs_total', 'Hand-off protocol steps, by status.', ['status'] as const);
  const sharedErrors = shared('keel_errors_total', ['code'] as const);
  const errors = sharedErrors ?? counter('keel_errors_total', 'Errors in the decision trace, by code.', ['code'] as const);
  const alerts = counter('keel_alerts_total', 'Alerts raised, by rule.', ['rule'] as const);
  counter('keel_hydrations_total', 'Sessions hydrated from storage.', [], (c) => {
    const s = stats();
    if (s) c.inc(delta('hydrations', s.hydrations));
  });
  counter('keel_passivations_total', 'Sessions passivated (persisted and stopped).', [], (c) => {
    const s = stats();
    if (s) c.inc(delta('passivations', s.passivations));
  });
  if (!taken('keel_live_sessions')) {
    new Gauge({
      name: 'keel_live_sessions',
      help: 'Session actors live in memory (not passivated).',
      registers,
      collect() {
        this.set(stats()?.live ?? 0);
      },
    });
  }
  if (!taken('keel_resting_sessions')) {
    new Gauge({
      name: 'keel_resting_sessions',
      help: 'Live sessions at rest: actor stopped, state in storage, built again by their next event.',
      registers,
      collect() {
        this.set(stats()?.resting ?? 0);
      },
    });
  }
  if (!taken('keel_passivated_sessions')) {
    new Gauge({
      name: 'keel_passivated_sessions',
      help: 'Sessions stored but not live (passivated; hydrated on their next event).',
      registers,
      collect() {
        const s = stats();
        this.set(s ? Math.max(0, s.stored - s.live) : 0);
      },
    });
  }
  const connections = taken('keel_ws_connections') ? undefined : new Gauge({ name: 'keel_ws_connections', help: 'Open chat WebSocket connections.', registers });

  const observe = (e: DecisionEvent): void => {
    const d = e.data;
    decisionsTotal?.inc({ kind: e.kind });
    const latencyMs = num(d.latencyMs);
    // A retry, fallback or guard event about one tool call carries that call's outcome and time.
    if ((e.kind === 'retry' || e.kind === 'fallback' || e.kind === 'guard') && str(d.tool) && latencyMs !== undefined) {
      const tool = label('tool', str(d.tool) as string);
      toolCalls?.inc({ tool, outcome: label('tool_outcome', str(d.outcome) ?? e.kind) });
      toolSeconds?.observe({ tool }, latencyMs / 1000);
    }
    switch (e.kind) {
      case 'route':
        routes?.inc({ verdict: label('verdict', e.reason) });
        break;
      case 'reply':
        if (latencyMs !== undefined && runtime) turnSeconds?.observe(latencyMs / 1000);
        if (Array.isArray(d.llmSteps)) {
          for (const step of d.llmSteps) {
            const s = step !== null && typeof step === 'object' && !Array.isArray(step) ? step : {};
            const ms = num(s.latencyMs);
            if (ms !== undefined) llmSeconds?.observe({ provider: label('provider', str(s.provider) ?? 'unknown') }, ms / 1000);
          }
        }
        break;
      case 'tool': {
        const tool = label('tool', str(d.tool) ?? 'unknown');
        toolCalls?.inc({ tool, outcome: label('tool_outcome', str(d.outcome) ?? e.reason) });
        if (latencyMs !== undefined) toolSeconds?.observe({ tool }, latencyMs / 1000);
        return;
      }
      case 'retry':
        retries?.inc({ source: str(d.provider) ? 'llm' : str(d.tool) ? 'tool' : 'other' });
        break;
      case 'fallback':
        fallbacks?.inc({ rung: label('rung', fallbackRung(e)) });
        break;
      case 'escalate':
        escalations?.inc({ reason: label('escalate', e.reason) });
        break;
      case 'handoff': {
        const status = HANDOFF_STATUSES.has(e.reason) ? e.reason : str(d.status);
        if (status !== undefined && HANDOFF_STATUSES.has(status)) handoffs?.inc({ status });
        break;
      }
      case 'error':
        if (!(sharedErrors && d.thrown === true)) errors?.inc({ code: label('code', str(d.code) ?? e.reason) });
        break;
      case 'alert':
        // Resolutions are alert events too; only firings count.
        if (d.status !== 'resolved') alerts?.inc({ rule: label('rule', str(d.rule) ?? e.reason) });
        break;
      default:
        break;
    }
    const model = str(d.model);
    if (latencyMs !== undefined && model !== undefined) llmSeconds?.observe({ provider: label('provider', str(d.provider) ?? model) }, latencyMs / 1000);
  };

  const unsubscribe = runtime?.decisions.subscribe(observe);
  let closed = false;
  const seconds = (value: number, what: string): number => {
    if (!Number.isFinite(value) || value < 0) throw new TypeError(`${what} must be a non-negative number of seconds`);
    return value;
  };

  return {
    registry,
    contentType: registry.contentType,
    skipped: Object.freeze([...skipped]),
    text: () => registry.metrics(),
    observe,
    observeTurn(value, outcome = 'ok') {
      turnSeconds?.observe(seconds(value, 'observeTurn(seconds)'));
      if (!runtime) turns?.inc({ outcome });
    },
    observeLlm(value, provider = 'unknown') {
      llmSeconds?.observe({ provider: label('provider', provider) }, seconds(value, 'observeLlm(seconds)'));
    },
    observeTool(value, tool = 'unknown') {
      toolSeconds?.observe({ tool: label('tool', tool) }, seconds(value, 'observeTool(seconds)'));
    },
    connectionOpened: () => connections?.inc(),
    connectionClosed: () => connections?.dec(),
    close() {
      if (closed) return;
      closed = true;
      unsubscribe?.();
    },
  };
}
