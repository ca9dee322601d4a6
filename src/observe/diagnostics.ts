/**
 * Behavioural diagnostics over a period of the decision trace (`keel report --since 7d`): which
 * intents and states fail, fall back or escalate most, where users repeat themselves, where they
 * give up, and which tools break. Later decisions of a session are attributed to the intent its
 * last route chose, because a fallback or an escalation is a consequence of what was asked.
 */
import type { DecisionEvent } from '../ports.js';
import type { EventQuery, EventStore } from './event-store.js';
import type { TenantId } from '../types.js';

/** Anything that answers event queries (the runtime's `events`, an event store). */
export interface EventSource {
  query(query: EventQuery): DecisionEvent[];
  /** When present, used instead of `query` to learn whether a `maxBatches` bound stopped the scan. */
  queryPage?(query: EventQuery): { readonly events: DecisionEvent[]; readonly complete: boolean };
  /** When present, {@link buildReportSliced} reads through it in slices (see `EventStore.scan`). */
  scan?: EventStore['scan'];
}

/** Options of {@link buildReport}. */
export interface ReportOptions {
  readonly events: EventSource;
  /** Start of the period, epoch milliseconds (see {@link parseSince}). */
  readonly since: number;
  /** End of the period, epoch milliseconds. Default: now (`Date.now()` only here, at the CLI's edge). */
  readonly until?: number;
  readonly tenant?: TenantId | string;
  /** A session whose last event is older than this before `until` is over (it may count as abandoned). Default 1800000 (30 min). */
  readonly abandonAfterMs?: number;
  /** Events read at most; `truncated` tells when there were more. Default 200000. */
  readonly maxEvents?: number;
  /** Stored batches read at most (see `EventQuery.maxBatches`); `truncated` when it stops the scan. Default: no bound. */
  readonly maxBatches?: number;
  /** Rows per table. Default 10. */
  readonly top?: number;
  /** Stops {@link buildReportSliced} at its next slice (it rejects with the signal's reason). */
  readonly signal?: AbortSignal;
}

export interface IntentRow {
  readonly intent: string;
  readonly routed: number;
  readonly fallbacks: number;
  readonly escalations: number;
  readonly errors: number;
  /** Share of the routed turns with at least one fallback, escalation or error, in [0, 1]. */
  readonly troubleRate: number;
}
export interface StateRow {
  readonly state: string;
  readonly fallbacks: number;
  readonly escalations: number;
  readonly errors: number;
}
export interface RepeatRow {
  readonly intent: string;
  /** Routes to the same intent as the session's previous route. */
  readonly repeats: number;
  /** Reprompts (asked to rephrase, clarify, confirm, or a reprompt fallback). */
  readonly reprompts: number;
  readonly sessions: number;
}
export interface AbandonRow {
  readonly intent: string;
  readonly state: string;
  /** The last decision before the user left (`fallback:reprompt`, `route:outOfScope`, `signal:silence_park`). */
  readonly last: string;
  readonly sessions: number;
}
export interface ToolRow {
  readonly tool: string;
  readonly calls: number;
  readonly failures: number;
  readonly failureRate: number;
  /** Most frequent failure reasons, most frequent first. */
  readonly reasons: readonly string[];
}

/** What {@link buildReport} returns; every table is ranked worst first. */
export interface DiagnosticsReport {
  readonly since: number;
  readonly until: number;
  readonly tenant?: string;
  readonly events: number;
  readonly sessions: number;
  readonly turns: number;
  readonly truncated: boolean;
  readonly intents: readonly IntentRow[];
  readonly states: readonly StateRow[];
  readonly repeats: readonly RepeatRow[];
  readonly abandons: readonly AbandonRow[];
  readonly tools: readonly ToolRow[];
}

/** The defaults, frozen. */
export const defaultReportOptions = Object.freeze({ abandonAfterMs: 1_800_000, maxEvents: 200_000, top: 10 });

/** Route verdicts that mean the agent did not understand (patterns P1, P3, P4, P5). */
const MISS_VERDICTS = new Set(['reprompt', 'rephrase', 'outOfScope', 'clarify', 'confirmIntent']);
/** Tool outcomes that are failures when a `tool` event reports one. */
const TOOL_FAILURES = new Set(['failure', 'failed', 'error', 'timeout', 'unavailable']);

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);

/** The intent a route chose: `data.intent`, else `data.chosen` (the first of clarify options), else `(none)`. */
function intentOf(e: DecisionEvent): string {
  const chosen = e.data.chosen;
  return str(e.data.intent) ?? str(chosen) ?? (Array.isArray(chosen) ? str(chosen[0]) : undefined) ?? (e.reason === 'outOfScope' ? '(out of scope)' : '(none)');
}

function resolveReportOptions(options: ReportOptions): Readonly<Required<Omit<ReportOptions, 'tenant' | 'signal'>> & { tenant?: string }> {
  if (typeof options?.events?.query !== 'function') throw new TypeError('option events must have query()');
  const o = { ...defaultReportOptions, until: Date.now(), ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<ReportOptions>;
  if (!Number.isFinite(o.since)) throw new TypeError('option since must be epoch milliseconds');
  if (!Number.isFinite(o.until) || o.until < o.since) throw new TypeError('option until must be epoch milliseconds not before since');
  if (!(o.abandonAfterMs >= 0)) throw new TypeError('option abandonAfterMs must be a non-negative number');
  if (!Number.isInteger(o.maxEvents) || o.maxEvents < 1) throw new TypeError('option maxEvents must be a positive integer');
  if (!Number.isInteger(o.top) || o.top < 1) throw new TypeError('option top must be a positive integer');
  return Object.freeze(o);
}

/**
 * Builds the report over `[since, until]`.
 *
 * @example
 * ```ts
 * const report = buildReport({ events: runtime.events, since: parseSince('7d'), tenant: 'acme' });
 * process.stdout.write(formatReport(report));
 * ```
 */
export function buildReport(options: ReportOptions): DiagnosticsReport {
  const o = resolveReportOptions(options);
  const q = reportQuery(o);
  const page = o.events.queryPage ? o.events.queryPage(q) : { events: o.events.query(q), complete: true };
  const report = reportBuilder(o);
  report.add(page.events);
  return report.finish(page.events.length, page.complete);
}

/**
 * {@link buildReport} without holding the event loop: when the source can `scan` (the runtime's
 * trace), it reads the period in slices and gives the event loop back between them, so turns go on
 * while a report over days is built. The same report as {@link buildReport} at the time it starts.
 *
 * @example
 * ```ts
 * const report = await buildReportSliced({ events: runtime.events, since: parseSince('7d'), tenant: 'acme' });
 * ```
 */
export async function buildReportSliced(options: ReportOptions): Promise<DiagnosticsReport> {
  const o = resolveReportOptions(options);
  if (!o.events.scan) return buildReport(options);
  const report = reportBuilder(o);
  const { count, complete } = await o.events.scan(reportQuery(o), (events) => report.add(events), options.signal ? { signal: options.signal } : {});
  return report.finish(count, complete);
}

type ResolvedReportOptions = ReturnType<typeof resolveReportOptions>;

function reportQuery(o: ResolvedReportOptions): EventQuery {
  return {
    since: o.since, until: o.until, limit: o.maxEvents,
    ...(o.tenant !== undefined ? { tenant: o.tenant as TenantId } : {}), ...(o.maxBatches !== undefined ? { maxBatches: o.maxBatches } : {}),
  };
}

/** The report's tallies, fed the period's events oldest first, a slice at a time. */
function reportBuilder(o: ResolvedReportOptions): { add(events: readonly DecisionEvent[]): void; finish(events: number, complete: boolean): DiagnosticsReport } {
  const count = <K>(m: Map<K, number>, k: K, by = 1) => m.set(k, (m.get(k) ?? 0) + by);

  const intents = new Map<string, { routed: number; fallbacks: number; escalations: number; errors: number; troubled: Set<string> }>();
  const states = new Map<string, { fallbacks: number; escalations: number; errors: number }>();
  const repeats = new Map<string, { repeats: number; reprompts: number; sessions: Set<string> }>();
  const tools = new Map<string, { calls: number; failures: number; reasons: Map<string, number> }>();
  const sessions = new Map<string, { intent: string; last?: DecisionEvent; lastAt: number; settled: boolean }>();
  const turns = new Set<string>();

  const intentRow = (i: string) => intents.get(i) ?? intents.set(i, { routed: 0, fallbacks: 0, escalations: 0, errors: 0, troubled: new Set() }).get(i)!;
  /** Marks the turn of `e` as troubled for the session's current intent. */
  const trouble = (intent: string, e: DecisionEvent) => intentRow(intent).troubled.add(`${e.session}\u0000${e.traceId}`);
  const stateRow = (s: string) => states.get(s) ?? states.set(s, { fallbacks: 0, escalations: 0, errors: 0 }).get(s)!;
  const repeatRow = (i: string) => repeats.get(i) ?? repeats.set(i, { repeats: 0, reprompts: 0, sessions: new Set() }).get(i)!;
  const toolRow = (t: string) => tools.get(t) ?? tools.set(t, { calls: 0, failures: 0, reasons: new Map() }).get(t)!;

  const add = (events: readonly DecisionEvent[]): void => {
    for (const e of events) {
      // Alerts are about the process, and session bookkeeping (opened, passivated) is not conversation.
      if (e.kind === 'alert' || e.kind === 'session') continue;
      let s = sessions.get(e.session);
      if (!s) sessions.set(e.session, (s = { intent: '(none)', lastAt: e.time, settled: false }));
      s.lastAt = Math.max(s.lastAt, e.time);
      if (!e.traceId.endsWith(':timer')) turns.add(`${e.session}\u0000${e.traceId}`);
      const state = e.state || '(unknown)';
      const tool = str(e.data.tool);
      switch (e.kind) {
        case 'route': {
          const intent = intentOf(e);
          intentRow(intent).routed++;
          const r = repeatRow(intent);
          if (intent === s.intent && !intent.startsWith('(')) {
            r.repeats++;
            r.sessions.add(e.session);
          }
          if (MISS_VERDICTS.has(e.reason)) {
            r.reprompts++;
            r.sessions.add(e.session);
          }
          s.intent = intent;
          s.settled = false;
          s.last = e;
          break;
        }
        case 'fallback':
          intentRow(s.intent).fallbacks++;
          trouble(s.intent, e);
          stateRow(state).fallbacks++;
          if (e.reason === 'reprompt' || e.data.pattern === 'P4') {
            const r = repeatRow(s.intent);
            r.reprompts++;
            r.sessions.add(e.session);
          }
          if (tool) {
            const t = toolRow(tool);
            t.calls++;
            t.failures++;
            count(t.reasons, str(e.data.reason) ?? e.reason);
          }
          s.last = e;
          break;
        case 'escalate':
          intentRow(s.intent).escalations++;
          trouble(s.intent, e);
          stateRow(state).escalations++;
          s.settled = true;
          s.last = e;
          break;
        case 'error':
          intentRow(s.intent).errors++;
          trouble(s.intent, e);
          stateRow(state).errors++;
          s.last = e;
          break;
        case 'retry':
          if (tool) {
            const t = toolRow(tool);
            t.calls++;
            t.failures++;
            count(t.reasons, e.reason);
          }
          break;
        case 'tool':
          if (tool) {
            const t = toolRow(tool);
            t.calls++;
            const outcome = str(e.data.outcome) ?? e.reason;
            if (TOOL_FAILURES.has(outcome)) {
              t.failures++;
              count(t.reasons, str(e.data.reason) ?? outcome);
            }
          }
          s.last = e;
          break;
        case 'handoff':
          s.settled = true;
          s.last = e;
          break;
        case 'signal':
          if (e.reason === 'silence_park') s.last = e;
          break;
        default:
          break;
      }
    }
  };

  const finish = (eventCount: number, complete: boolean): DiagnosticsReport => {
    const abandons = new Map<string, { intent: string; state: string; last: string; sessions: number }>();
    for (const s of sessions.values()) {
      const e = s.last;
      if (!e || s.settled || o.until - s.lastAt < o.abandonAfterMs) continue;
      const gaveUp = e.kind === 'fallback' || (e.kind === 'route' && MISS_VERDICTS.has(e.reason)) || (e.kind === 'signal' && e.reason === 'silence_park') || e.kind === 'error';
      if (!gaveUp) continue;
      const row = { intent: s.intent, state: e.state || '(unknown)', last: `${e.kind}:${e.reason}` };
      const key = `${row.intent}\u0000${row.state}\u0000${row.last}`;
      const prev = abandons.get(key);
      abandons.set(key, { ...row, sessions: (prev?.sessions ?? 0) + 1 });
    }

    const rate = (n: number, d: number) => (d === 0 ? 0 : Math.round((n / d) * 1000) / 1000);
    const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
    return Object.freeze({
      since: o.since,
      until: o.until,
      ...(o.tenant !== undefined ? { tenant: o.tenant } : {}),
      events: eventCount,
      sessions: sessions.size,
      turns: turns.size,
      truncated: eventCount >= o.maxEvents || !complete,
      intents: [...intents]
        .map(([intent, { troubled, ...r }]) => ({ intent, ...r, troubleRate: Math.min(1, rate(troubled.size, Math.max(r.routed, 1))) }))
        .filter((r) => r.fallbacks + r.escalations + r.errors > 0)
        .sort((a, b) => b.fallbacks + b.escalations + b.errors - (a.fallbacks + a.escalations + a.errors) || b.troubleRate - a.troubleRate || byName(a.intent, b.intent))
        .slice(0, o.top),
      states: [...states]
        .map(([state, r]) => ({ state, ...r }))
        .sort((a, b) => b.fallbacks + b.escalations + b.errors - (a.fallbacks + a.escalations + a.errors) || byName(a.state, b.state))
        .slice(0, o.top),
      repeats: [...repeats]
        .map(([intent, r]) => ({ intent, repeats: r.repeats, reprompts: r.reprompts, sessions: r.sessions.size }))
        .filter((r) => r.repeats + r.reprompts > 0)
        .sort((a, b) => b.repeats + b.reprompts - (a.repeats + a.reprompts) || byName(a.intent, b.intent))
        .slice(0, o.top),
      abandons: [...abandons.values()].sort((a, b) => b.sessions - a.sessions || byName(a.intent, b.intent)).slice(0, o.top),
      tools: [...tools]
        .map(([tool, t]) => ({
          tool, calls: t.calls, failures: t.failures, failureRate: rate(t.failures, t.calls),
          reasons: [...t.reasons].sort((a, b) => b[1] - a[1] || byName(a[0], b[0])).slice(0, 3).map(([r]) => r),
        }))
        .sort((a, b) => b.failures - a.failures || b.failureRate - a.failureRate || byName(a.tool, b.tool))
        .slice(0, o.top),
    });
  };
  return { add, finish };
}

/** Renders rows as an aligned text table: names left, numbers right. */
function table(title: string, head: readonly string[], rows: ReadonlyArray<readonly (string | number)[]>): string {
  if (rows.length === 0) return `${title}\n  (nothing)\n`;
  const cells = [head, ...rows.map((r) => r.map(String))];
  const widths = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => `  ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')}`.trimEnd();
  return `${title}\n${line(cells[0] as string[])}\n${line(widths.map((w) => '-'.repeat(w)))}\n${cells.slice(1).map((r) => line(r as string[])).join('\n')}\n`;
}

/**
 * Renders a report as readable text tables (rates as percentages).
 *
 * @example
 * ```ts
 * process.stdout.write(formatReport(buildReport({ events: runtime.events, since: parseSince('24h') })));
 * ```
 */
export function formatReport(report: DiagnosticsReport): string {
  const period = `${new Date(report.since).toISOString()} .. ${new Date(report.until).toISOString()}`;
  return [
    `keel report ${period}${report.tenant !== undefined ? ` tenant ${report.tenant}` : ''}`,
    `${report.events} events, ${report.sessions} sessions, ${report.turns} turns${report.truncated ? ' (truncated: narrow the period)' : ''}\n`,
    table('Intents that fail, fall back or escalate', ['intent', 'routed', 'fallbacks', 'escalations', 'errors', 'trouble'],
      report.intents.map((r) => [r.intent, r.routed, r.fallbacks, r.escalations, r.errors, `${Math.round(r.troubleRate * 100)}%`])),
    table('States', ['state', 'fallbacks', 'escalations', 'errors'], report.states.map((r) => [r.state, r.fallbacks, r.escalations, r.errors])),
    table('Where users repeat themselves', ['intent', 'repeats', 'reprompts', 'sessions'], report.repeats.map((r) => [r.intent, r.repeats, r.reprompts, r.sessions])),
    table('Where users abandon', ['intent', 'state', 'last decision', 'sessions'], report.abandons.map((r) => [r.intent, r.state, r.last, r.sessions])),
    table('Tools that break', ['tool', 'calls', 'failures', 'failure rate', 'reasons'],
      report.tools.map((r) => [r.tool, r.calls, r.failures, `${Math.round(r.failureRate * 1000) / 10}%`, r.reasons.join(', ')])),
  ].join('\n');
}

const UNIT_MS: Readonly<Record<string, number>> = Object.freeze({ m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 });

/**
 * Parses `--since`: a duration back from `now` (`30m`, `24h`, `7d`, `2w`) or an ISO date.
 * Throws a TypeError naming the value when it is neither.
 *
 * @example
 * ```ts
 * parseSince('7d', Date.UTC(2026, 0, 8)); // Date.UTC(2026, 0, 1)
 * parseSince('2026-01-01'); // Date.UTC(2026, 0, 1)
 * ```
 */
export function parseSince(value: string, now: number = Date.now()): number {
  const m = /^(\d+(?:\.\d+)?)\s*([mhdw])$/.exec(typeof value === 'string' ? value.trim() : '');
  if (m) return now - Math.round(Number(m[1]) * (UNIT_MS[m[2] as string] as number));
  const t = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}/.test(value) ? Date.parse(value) : Number.NaN;
  if (!Number.isFinite(t)) throw new TypeError(`since must be a duration like 7d, 24h, 30m or an ISO date, got ${JSON.stringify(value)}`);
  return t;
}
