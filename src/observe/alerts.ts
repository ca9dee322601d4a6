/**
 * Alert rules over sliding windows of the decision stream: the share of turns that fell back,
 * failed or escalated, and a latency quantile. A rule fires only on enough samples and resolves
 * only below a lower bound (hysteresis), so a rate hovering at the threshold does not flap.
 * Firing and resolving are reported as `alert` decision events (the inspector's banner reads
 * `active()`), a log line and a callback. Time comes from the injected clock.
 */
import type { Clock, DecisionEvent, DecisionKind, DecisionSink } from '../ports.js';
import { DECISION_KINDS } from '../ports.js';
import type { SessionId, TenantId, UserId } from '../types.js';
import type { Logger } from './logger.js';

/** Share of turns (distinct trace ids) with at least one event of `kinds`, in [0, 1]. */
export interface RateRule {
  readonly name: string;
  readonly type: 'rate';
  readonly kinds: readonly DecisionKind[];
  /** Fires at or above this share. */
  readonly threshold: number;
  /** Resolves below this share. Default 0.8 × threshold. */
  readonly clearBelow?: number;
  readonly windowMs: number;
  /** Turns in the window before the rule may fire. */
  readonly minSamples: number;
}

/** A quantile of `data.latencyMs` on events of `kinds` (and of `observeTurn` samples). */
export interface LatencyRule {
  readonly name: string;
  readonly type: 'latency';
  /** Default `['reply']`: turn latency. */
  readonly kinds?: readonly DecisionKind[];
  /** In (0, 1]. Default 0.95. */
  readonly quantile?: number;
  readonly thresholdMs: number;
  /** Resolves below this. Default 0.8 × thresholdMs. */
  readonly clearBelowMs?: number;
  readonly windowMs: number;
  readonly minSamples: number;
}

export type AlertRule = RateRule | LatencyRule;

/** A firing alert, as `active()` lists it. */
export interface ActiveAlert {
  readonly rule: string;
  readonly type: AlertRule['type'];
  /** The rate (share) or the latency in milliseconds. */
  readonly value: number;
  readonly threshold: number;
  readonly windowMs: number;
  readonly samples: number;
  /** When it fired (clock milliseconds). */
  readonly since: number;
}

/** Options of {@link createAlertEngine}. */
export interface AlertEngineOptions {
  /** Default {@link defaultAlertRules}. */
  readonly rules?: readonly AlertRule[];
  readonly clock: Clock;
  /** Called on every change; `firing` false means resolved. Must not throw. */
  readonly onAlert?: (alert: ActiveAlert, firing: boolean) => void;
  /** Where alert decision events go (the runtime's `decisions`). Default none. */
  readonly sink?: DecisionSink;
  /** Source to subscribe to (the runtime's `decisions`). Default none: feed with `observe`. */
  readonly decisions?: { subscribe(fn: (event: DecisionEvent) => void): () => void };
  /** Warn on firing, info on resolving. Default none. */
  readonly logger?: Pick<Logger, 'warn' | 'info'>;
  /** How often rules are re-evaluated without traffic (so alerts clear when it stops). Default 10000. */
  readonly evaluateEveryMs?: number;
  /** Samples kept per rule; the oldest go first. Default 10000. */
  readonly maxSamples?: number;
  /** Tenant stamped on alert events (alerts are process-wide). Default `'keel'`. */
  readonly tenant?: string;
}

export interface AlertEngine {
  /** Feeds one event (done automatically with `decisions`). */
  observe(event: DecisionEvent): void;
  /** Adds a turn latency sample for latency rules over `reply`. */
  observeTurn(seconds: number): void;
  /** Re-evaluates every rule now. */
  evaluate(): void;
  /** Firing alerts, oldest first. */
  active(): readonly ActiveAlert[];
  readonly rules: readonly AlertRule[];
  /** Stops the timer and the subscription. Idempotent. */
  close(): void;
}

/**
 * The default rules: `fallback_rate` (≥ 30 % of turns over 5 min, clears below 20 %),
 * `error_rate` (≥ 5 %, clears below 2 %, 5 min), `escalation_rate` (≥ 20 %, clears below 10 %,
 * 15 min) and `turn_latency_p95` (p95 ≥ 5 s, clears below 4 s, 5 min); each needs 20 samples.
 */
export const defaultAlertRules: readonly AlertRule[] = Object.freeze([
  Object.freeze({ name: 'fallback_rate', type: 'rate', kinds: Object.freeze(['fallback'] as DecisionKind[]), threshold: 0.3, clearBelow: 0.2, windowMs: 300_000, minSamples: 20 }),
  Object.freeze({ name: 'error_rate', type: 'rate', kinds: Object.freeze(['error'] as DecisionKind[]), threshold: 0.05, clearBelow: 0.02, windowMs: 300_000, minSamples: 20 }),
  Object.freeze({ name: 'escalation_rate', type: 'rate', kinds: Object.freeze(['escalate'] as DecisionKind[]), threshold: 0.2, clearBelow: 0.1, windowMs: 900_000, minSamples: 20 }),
  Object.freeze({ name: 'turn_latency_p95', type: 'latency', kinds: Object.freeze(['reply'] as DecisionKind[]), quantile: 0.95, thresholdMs: 5000, clearBelowMs: 4000, windowMs: 300_000, minSamples: 20 }),
] satisfies AlertRule[]);

/** The engine's defaults, frozen. */
export const defaultAlertEngineOptions = Object.freeze({ evaluateEveryMs: 10_000, maxSamples: 10_000, tenant: 'keel' });

/** Kinds that are not turns of a conversation: they neither count as samples nor hits. */
const NOT_TURNS = new Set<DecisionKind>(['session', 'alert', 'inspect']);

const positive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

/**
 * Validates rules and fills their defaults (a TypeError names the bad option), frozen.
 *
 * @example
 * ```ts
 * resolveAlertRules([{ name: 'tool_failures', type: 'rate', kinds: ['fallback'], threshold: 0.5, windowMs: 60_000, minSamples: 10 }]);
 * ```
 */
export function resolveAlertRules(rules: readonly AlertRule[]): readonly Required<AlertRule>[] {
  if (!Array.isArray(rules)) throw new TypeError('option rules must be an array');
  const names = new Set<string>();
  return Object.freeze(rules.map((rule, i) => {
    const at = `rules[${i}]`;
    if (typeof rule?.name !== 'string' || !/^[a-z][a-z0-9_]{0,63}$/.test(rule.name)) throw new TypeError(`option ${at}.name must be a snake_case name`);
    if (names.has(rule.name)) throw new TypeError(`option ${at}.name repeats "${rule.name}"`);
    names.add(rule.name);
    if (!positive(rule.windowMs)) throw new TypeError(`option ${at}.windowMs must be a positive number`);
    if (!Number.isInteger(rule.minSamples) || rule.minSamples < 1) throw new TypeError(`option ${at}.minSamples must be a positive integer`);
    const kinds = rule.kinds ?? (rule.type === 'latency' ? ['reply'] : undefined);
    if (!Array.isArray(kinds) || kinds.length === 0 || kinds.some((k) => !(DECISION_KINDS as readonly string[]).includes(k))) {
      throw new TypeError(`option ${at}.kinds must be a non-empty list of decision kinds`);
    }
    if (rule.type === 'rate') {
      if (!(rule.threshold > 0 && rule.threshold <= 1)) throw new TypeError(`option ${at}.threshold must be a share in (0, 1]`);
      const clearBelow = rule.clearBelow ?? rule.threshold * 0.8;
      if (!(clearBelow >= 0 && clearBelow <= rule.threshold)) throw new TypeError(`option ${at}.clearBelow must be in [0, threshold]`);
      return Object.freeze({ ...rule, kinds: Object.freeze([...kinds]), clearBelow });
    }
    if (rule.type === 'latency') {
      const quantile = rule.quantile ?? 0.95;
      if (!(quantile > 0 && quantile <= 1)) throw new TypeError(`option ${at}.quantile must be in (0, 1]`);
      if (!positive(rule.thresholdMs)) throw new TypeError(`option ${at}.thresholdMs must be a positive number`);
      const clearBelowMs = rule.clearBelowMs ?? rule.thresholdMs * 0.8;
      if (!(clearBelowMs >= 0 && clearBelowMs <= rule.thresholdMs)) throw new TypeError(`option ${at}.clearBelowMs must be in [0, thresholdMs]`);
      return Object.freeze({ ...rule, kinds: Object.freeze([...kinds]), quantile, clearBelowMs });
    }
    throw new TypeError(`option ${at}.type must be 'rate' or 'latency'`);
  }));
}

interface RuleState {
  readonly rule: Required<AlertRule>;
  /** Rate rules: trace id → [first seen, hit]. */
  readonly traces: Map<string, { at: number; hit: boolean }>;
  /**
   * The same trace ids in arrival (time) order, from `head` on: evicting walks this queue, not the
   * map, whose deleted entries an iteration from the start would step over one by one.
   */
  order: string[];
  head: number;
  hits: number;
  /** Latency rules: [time, ms], time ordered, from `latencyHead` on. */
  latencies: Array<[number, number]>;
  latencyHead: number;
  firing?: ActiveAlert;
}

/** Drops the consumed front of a queue once it is most of the array. */
function compact<T>(items: T[], head: number): { items: T[]; head: number } {
  return head > 1024 && head * 2 > items.length ? { items: items.slice(head), head: 0 } : { items, head };
}

/**
 * Creates the alert engine.
 *
 * @example
 * ```ts
 * const alerts = createAlertEngine({ clock: systemClock, decisions: runtime.decisions, sink: runtime.decisions, logger });
 * alerts.active(); // [{ rule: 'fallback_rate', value: 0.42, threshold: 0.3, windowMs: 300000, ... }]
 * ```
 */
export function createAlertEngine(options: AlertEngineOptions): AlertEngine {
  if (typeof options?.clock?.now !== 'function' || typeof options.clock.setTimeout !== 'function') throw new TypeError('option clock must implement now/setTimeout/clearTimeout');
  const o = Object.freeze({ ...defaultAlertEngineOptions, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) }) as AlertEngineOptions & { evaluateEveryMs: number; maxSamples: number; tenant: string };
  if (!positive(o.evaluateEveryMs)) throw new TypeError('option evaluateEveryMs must be a positive number');
  if (!Number.isInteger(o.maxSamples) || o.maxSamples < 1) throw new TypeError('option maxSamples must be a positive integer');
  if (typeof o.tenant !== 'string' || o.tenant === '') throw new TypeError('option tenant must be a non-empty string');
  if (o.onAlert !== undefined && typeof o.onAlert !== 'function') throw new TypeError('option onAlert must be a function');
  const rules = resolveAlertRules(o.rules ?? defaultAlertRules);
  const { clock } = o;
  const states: RuleState[] = rules.map((rule) => ({ rule, traces: new Map(), order: [], head: 0, hits: 0, latencies: [], latencyHead: 0 }));

  // Constant time per event: both windows are queues consumed from the front.
  const evict = (s: RuleState, now: number): void => {
    const from = now - s.rule.windowMs;
    while (s.head < s.order.length) {
      const id = s.order[s.head] as string;
      const t = s.traces.get(id);
      if (t && t.at >= from && s.traces.size <= o.maxSamples) break;
      s.head++;
      if (t) {
        s.traces.delete(id);
        if (t.hit) s.hits--;
      }
    }
    ({ items: s.order, head: s.head } = compact(s.order, s.head));
    while (s.latencyHead < s.latencies.length && ((s.latencies[s.latencyHead] as [number, number])[0] < from || s.latencies.length - s.latencyHead > o.maxSamples)) s.latencyHead++;
    ({ items: s.latencies, head: s.latencyHead } = compact(s.latencies, s.latencyHead));
  };

  const measure = (s: RuleState): { value: number; samples: number; threshold: number; clear: number } => {
    const r = s.rule;
    if (r.type === 'rate') {
      const samples = s.traces.size;
      return { value: samples === 0 ? 0 : s.hits / samples, samples, threshold: r.threshold, clear: r.clearBelow };
    }
    const sorted = s.latencies.slice(s.latencyHead).map(([, ms]) => ms).sort((a, b) => a - b);
    const value = sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.ceil(r.quantile * sorted.length) - 1)] as number);
    return { value, samples: sorted.length, threshold: r.thresholdMs, clear: r.clearBelowMs };
  };

  const announce = (alert: ActiveAlert, firing: boolean): void => {
    const data = { rule: alert.rule, status: firing ? 'firing' : 'resolved', value: alert.value, threshold: alert.threshold, windowMs: alert.windowMs, samples: alert.samples };
    if (firing) o.logger?.warn({ alert: data }, `alert ${alert.rule} firing`);
    else o.logger?.info({ alert: data }, `alert ${alert.rule} resolved`);
    o.sink?.emit({
      kind: 'alert', time: clock.now(), tenant: o.tenant as TenantId, session: `${o.tenant}:alerts` as SessionId, user: o.tenant as UserId,
      traceId: `alert:${alert.rule}:${alert.since}`, reason: `${alert.rule} ${firing ? 'firing' : 'resolved'}`, data,
    });
    try {
      o.onAlert?.(alert, firing);
    } catch (err) {
      o.logger?.warn({ err }, 'alert callback failed');
    }
  };

  const judge = (s: RuleState, now: number): void => {
    evict(s, now);
    const m = measure(s);
    const round = (v: number) => Math.round(v * 1000) / 1000;
    if (!s.firing && m.samples >= s.rule.minSamples && m.value >= m.threshold) {
      s.firing = Object.freeze({ rule: s.rule.name, type: s.rule.type, value: round(m.value), threshold: m.threshold, windowMs: s.rule.windowMs, samples: m.samples, since: now });
      announce(s.firing, true);
    } else if (s.firing && m.value < m.clear) {
      const resolved = Object.freeze({ ...s.firing, value: round(m.value), samples: m.samples });
      s.firing = undefined;
      announce(resolved, false);
    } else if (s.firing) {
      s.firing = Object.freeze({ ...s.firing, value: round(m.value), samples: m.samples });
    }
  };

  const addLatency = (s: RuleState, now: number, ms: number): void => {
    s.latencies.push([now, ms]);
  };

  let closed = false;
  let timer: unknown;
  const tick = (): void => {
    timer = undefined;
    if (closed) return;
    engine.evaluate();
    timer = clock.setTimeout(tick, o.evaluateEveryMs);
  };

  const engine: AlertEngine = {
    rules,
    observe(event) {
      // Timer steps (nudges, bookkeeping at session open) are not turns a user waited on.
      if (closed || NOT_TURNS.has(event.kind) || event.traceId.endsWith(':timer')) return;
      const now = clock.now();
      for (const s of states) {
        const r = s.rule;
        const matches = r.kinds.includes(event.kind);
        if (r.type === 'rate') {
          const t = s.traces.get(event.traceId);
          if (!t) {
            s.traces.set(event.traceId, { at: now, hit: matches });
            s.order.push(event.traceId);
          }
          if (matches && t?.hit !== true) {
            if (t) t.hit = true;
            s.hits++;
          }
          judge(s, now);
        } else if (matches && typeof event.data.latencyMs === 'number' && Number.isFinite(event.data.latencyMs)) {
          addLatency(s, now, event.data.latencyMs);
        }
      }
    },
    observeTurn(seconds) {
      if (closed || !Number.isFinite(seconds) || seconds < 0) return;
      const now = clock.now();
      for (const s of states) if (s.rule.type === 'latency' && s.rule.kinds.includes('reply')) addLatency(s, now, seconds * 1000);
    },
    evaluate() {
      const now = clock.now();
      for (const s of states) judge(s, now);
    },
    active: () => states.flatMap((s) => (s.firing ? [s.firing] : [])).sort((a, b) => a.since - b.since),
    close() {
      if (closed) return;
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      unsubscribe?.();
    },
  };
  // Our own alert events come back through the stream; observe() ignores kind `alert`.
  const unsubscribe = o.decisions?.subscribe((e) => engine.observe(e));
  timer = clock.setTimeout(tick, o.evaluateEveryMs);
  return engine;
}
