/**
 * The health of the agents over a sliding window of the decision stream, as the inspector shows
 * it: turns per minute, turn latency (p50, p95), and the share of turns that fell back, escalated
 * or failed. A turn is a trace id that reached its `reply`; its fallbacks and escalations are the
 * events of the same trace id before that.
 */
import type { Clock, DecisionEvent } from '../ports.js';

/** What {@link HealthWindow.snapshot} reports. Rates are shares of turns in [0, 1]. */
export interface HealthSnapshot {
  readonly windowMs: number;
  /** Turns answered in the window. */
  readonly turns: number;
  /** Turns per minute since the oldest turn in the window (over at least one minute). */
  readonly turnsPerMinute: number;
  /** Median and 95th percentile turn latency in milliseconds; 0 without turns. */
  readonly latencyP50Ms: number;
  readonly latencyP95Ms: number;
  readonly fallbackRate: number;
  readonly escalationRate: number;
  readonly errorRate: number;
}

/** Options of {@link createHealthWindow}. */
export interface HealthWindowOptions {
  readonly clock: Clock;
  /** Default 300000 (5 min). */
  readonly windowMs?: number;
  /** Turns kept at most (the oldest go first). Default 20000. */
  readonly maxTurns?: number;
}

export interface HealthWindow {
  observe(event: DecisionEvent): void;
  snapshot(): HealthSnapshot;
}

interface Turn {
  readonly at: number;
  readonly latencyMs: number;
  readonly fallback: boolean;
  readonly escalated: boolean;
  readonly failed: boolean;
}

/** Flags of a trace whose reply has not come yet; bounded so traces that never answer do not pile up. */
const MAX_OPEN_TRACES = 10_000;

/**
 * Creates a health window.
 *
 * @example
 * ```ts
 * const health = createHealthWindow({ clock: systemClock });
 * runtime.decisions.subscribe((e) => health.observe(e));
 * health.snapshot(); // { turns: 42, turnsPerMinute: 8.4, latencyP95Ms: 310, fallbackRate: 0.07, ... }
 * ```
 */
export function createHealthWindow(options: HealthWindowOptions): HealthWindow {
  const windowMs = options.windowMs ?? 300_000;
  const maxTurns = options.maxTurns ?? 20_000;
  if (typeof options?.clock?.now !== 'function') throw new TypeError('option clock must have now()');
  if (!Number.isFinite(windowMs) || windowMs <= 0) throw new TypeError('option windowMs must be a positive number');
  if (!Number.isInteger(maxTurns) || maxTurns < 1) throw new TypeError('option maxTurns must be a positive integer');
  const { clock } = options;
  const open = new Map<string, { fallback: boolean; escalated: boolean; failed: boolean }>();
  let turns: Turn[] = [];
  /** Turns before this index have left the window. */
  let head = 0;

  const evict = (now: number): void => {
    const from = now - windowMs;
    while (head < turns.length && ((turns[head] as Turn).at < from || turns.length - head > maxTurns)) head++;
    // Once the window is full nearly every reply pushes one turn out; copying the array each time
    // would cost the whole window per reply. Compacting when half is gone costs O(1) per turn.
    if (head > 0 && head * 2 >= turns.length) {
      turns = turns.slice(head);
      head = 0;
    }
  };

  return {
    observe(e) {
      if (e.kind === 'inspect' || e.kind === 'alert' || e.kind === 'session') return;
      const key = `${e.session}\u0000${e.traceId}`;
      let flags = open.get(key);
      if (!flags) {
        if (open.size >= MAX_OPEN_TRACES) open.delete(open.keys().next().value as string);
        open.set(key, (flags = { fallback: false, escalated: false, failed: false }));
      }
      if (e.kind === 'fallback') flags.fallback = true;
      else if (e.kind === 'escalate' || (e.kind === 'handoff' && e.reason === 'requested')) flags.escalated = true;
      else if (e.kind === 'error') flags.failed = true;
      else if (e.kind === 'reply') {
        open.delete(key);
        const latencyMs = typeof e.data.latencyMs === 'number' && Number.isFinite(e.data.latencyMs) ? Math.max(0, e.data.latencyMs) : 0;
        turns.push({ at: e.time, latencyMs, ...flags });
        evict(clock.now());
      }
    },
    snapshot() {
      const now = clock.now();
      evict(now);
      const inWindow = head === 0 ? turns : turns.slice(head);
      const n = inWindow.length;
      const sorted = inWindow.map((t) => t.latencyMs).sort((a, b) => a - b);
      const quantile = (q: number): number => (n === 0 ? 0 : (sorted[Math.min(n - 1, Math.ceil(q * n) - 1)] as number));
      const share = (pick: (t: Turn) => boolean): number => (n === 0 ? 0 : Math.round((inWindow.filter(pick).length / n) * 1000) / 1000);
      // Right after a start, a few quick turns are not a rate of thousands per minute.
      const observedMs = Math.max(60_000, Math.min(windowMs, now - (inWindow[0]?.at ?? now)));
      return {
        windowMs,
        turns: n,
        turnsPerMinute: Math.round((n / (observedMs / 60_000)) * 10) / 10,
        latencyP50Ms: quantile(0.5),
        latencyP95Ms: quantile(0.95),
        fallbackRate: share((t) => t.fallback),
        escalationRate: share((t) => t.escalated),
        errorRate: share((t) => t.failed),
      };
    },
  };
}
