/**
 * The live inspector behind `/inspector/ws`, independent of the socket library: it follows the
 * runtime's decision stream and serves each connected engineer or admin their tenant's sessions
 * (with current state), one watched session's timeline (with XState inspection attached while
 * watched), health, alerts, history queries, diagnostics and, for admins, operator signals.
 *
 * The decision path only appends events to an array; the hub sorts them out on the next turn of
 * the event loop and each client's {@link InspectorOutbox} writes them as its socket allows. A
 * slow inspector therefore never slows an agent: it misses timeline events and is told how many.
 */
import { buildReportSliced } from '../src/observe/diagnostics.js';
import { createHealthWindow, type HealthWindow } from '../src/observe/health-window.js';
import type { Logger } from '../src/observe/logger.js';
import { silentLogger } from '../src/observe/logger.js';
import { DECISION_KINDS, type DecisionEvent } from '../src/ports.js';
import type { Runtime } from '../src/runtime/runtime.js';
import { createRedactor } from '../src/security/redact.js';
import { can } from '../src/security/roles.js';
import { createTokenBucket } from '../src/server/rate-limiter.js';
import { isKeelError } from '../src/errors.js';
import type { Identity, Json, SessionId, TenantId, UserId } from '../src/types.js';
import { createInspectorOutbox, type InspectorOutbox, type InspectorOutboxStats, type InspectorSocket } from './inspector-client.js';
import { parseInspectorFrame, type InspectorClientFrame } from './inspector-frames.js';
import { resolveInspectorOptions, type InspectorOptions } from './inspector-options.js';
import { activePaths, machineGraph, type MachineGraph } from './machine-graph.js';
import { renderStatechartSvg } from './statechart-svg.js';

/** A row of the live session list. */
export interface InspectorSessionRow {
  readonly sessionId: string;
  readonly user: string;
  readonly channel: string;
  readonly state: string;
  readonly live: boolean;
  /** Live with its actor at rest (quiet for `restAfterMs`). */
  readonly resting: boolean;
  readonly updatedAt: number;
  /** The last decision, as `kind:reason`. */
  readonly last?: string;
  /** Paths of the statechart's states active in `state`, ancestors included, for lighting them. */
  readonly active: readonly string[];
}

/** Arguments of {@link createInspectorHub}. */
export interface InspectorHubArgs {
  readonly runtime: Runtime;
  readonly options?: Partial<InspectorOptions>;
  /** Firing alerts for the banner (the alert engine). Default: none. */
  readonly alerts?: { active(): readonly unknown[] };
  readonly logger?: Logger;
}

/** One connected inspector page. */
export interface InspectorConnection {
  /** Handles one text frame from the page. */
  receive(text: string): void;
  readonly stats: InspectorOutboxStats;
  /** Forgets the page (its socket closed). Idempotent. */
  dispose(): void;
}

export interface InspectorHub {
  /** Serves a page authenticated as `identity`; throws a TypeError unless the role may view the inspector. */
  connect(socket: InspectorSocket, identity: Identity): InspectorConnection;
  readonly clients: number;
  /** Each connected page's outbox: frames queued, sent, dropped and coalesced. */
  stats(): InspectorOutboxStats[];
  /** Stops following the runtime and forgets every page. Idempotent. */
  close(): void;
}

interface Client {
  readonly identity: Identity;
  readonly out: InspectorOutbox;
  watching?: SessionId;
  stopInspect?: () => void;
  /** The report being built for this page: one at a time, stopped when the page goes. */
  report?: AbortController;
}

interface TenantView {
  readonly clients: Set<Client>;
  readonly rows: Map<string, InspectorSessionRow>;
  readonly health: HealthWindow;
}

/**
 * Events kept between two dispatches; beyond it they are lost (and every page is told). Answers
 * to requests and the first frames are pushed with a key, so a full queue evicts timeline events
 * before them.
 */
const MAX_PENDING = 20_000;
/** Events of a watched session sent when it is selected. */
const DETAIL_EVENTS = 300;
/** Events a diagnostics report reads at most. */
const REPORT_EVENTS = 100_000;
/** Requests answered with many events: refused while a page leaves too much unread. */
const ANSWERED_IN_BULK: ReadonlySet<string> = new Set(['sessions', 'watch', 'query', 'report']);

/**
 * Creates the hub.
 *
 * @example
 * ```ts
 * const hub = createInspectorHub({ runtime, alerts });
 * const page = hub.connect(ws, identity);
 * ws.on('message', (data) => page.receive(String(data)));
 * ws.on('close', () => page.dispose());
 * ```
 */
export function createInspectorHub(args: InspectorHubArgs): InspectorHub {
  const { runtime } = args;
  const o = resolveInspectorOptions(args.options);
  const { clock } = o;
  const logger = args.logger ?? silentLogger;
  // The runtime masks personal data before anyone sees an event; without that, the hub does.
  const redactor = runtime.options.redactText === 'none' ? createRedactor() : undefined;
  const view = (e: DecisionEvent): DecisionEvent => (redactor ? { ...e, reason: redactor.text(e.reason), data: redactor.value(e.data as Json) as DecisionEvent['data'] } : e);
  const tenants = new Map<string, TenantView>();
  const clients = new Set<Client>();
  let welcome: { id: string; svg: string } | undefined;
  let graph: MachineGraph | undefined;
  try {
    graph = machineGraph(runtime.options.machine);
  } catch (err) {
    logger.warn({ err }, 'the machine has no graph to draw');
  }
  const active = (state: string): string[] => (graph ? activePaths(graph, state) : []);
  let pending: DecisionEvent[] = [];
  let overflow = 0;
  let scheduled = false;
  let closed = false;
  let healthTimer: unknown;

  const machine = (): { id: string; svg: string } => {
    if (!welcome) {
      try {
        welcome = graph ? { id: graph.id, svg: renderStatechartSvg(graph) } : { id: 'machine', svg: '' };
      } catch (err) {
        logger.warn({ err }, 'the machine could not be drawn');
        welcome = { id: graph?.id ?? 'machine', svg: '' };
      }
    }
    return welcome;
  };

  const rowOf = (s: { sessionId: string; user: string; channel: string; state: string; live: boolean; resting?: boolean; updatedAt: number }): InspectorSessionRow => ({
    sessionId: s.sessionId, user: s.user, channel: s.channel, state: s.state, live: s.live, resting: s.resting === true, updatedAt: s.updatedAt, active: active(s.state),
  });

  const tenantView = (tenant: string): TenantView => {
    let t = tenants.get(tenant);
    if (t) return t;
    const rows = new Map<string, InspectorSessionRow>();
    for (const s of runtime.listSessions({ tenant: tenant as TenantId, limit: o.maxListedSessions * 4 }).sort((a, b) => b.updatedAt - a.updatedAt).slice(0, o.maxListedSessions)) {
      rows.set(s.sessionId, rowOf(s));
    }
    const health = createHealthWindow({ clock, windowMs: o.healthWindowMs });
    // The window starts full: what happened just before the first page opened counts too.
    for (const e of runtime.events.query({ tenant: tenant as TenantId, since: clock.now() - o.healthWindowMs, kinds: ['reply', 'fallback', 'escalate', 'error', 'handoff'], limit: 20_000, maxBatches: o.maxScanBatches })) health.observe(e);
    t = { clients: new Set(), rows, health };
    tenants.set(tenant, t);
    return t;
  };

  const sortedRows = (t: TenantView): InspectorSessionRow[] => [...t.rows.values()].sort((a, b) => b.updatedAt - a.updatedAt).slice(0, o.maxListedSessions);

  /** The state an event tells the session is in now, if it tells one. */
  const currentState = (e: DecisionEvent): string | undefined => {
    if (e.kind === 'transition' && typeof e.data.to === 'string' && e.data.to !== '') return e.data.to;
    if (e.kind === 'inspect' && e.reason === 'microstep' && typeof e.data.state === 'string') return e.data.state;
    if (e.kind === 'reply' || e.kind === 'signal' || e.kind === 'session') return e.state;
    return undefined;
  };

  const updateRow = (t: TenantView, e: DecisionEvent): InspectorSessionRow => {
    const before = t.rows.get(e.session);
    const state = currentState(e) ?? before?.state ?? e.state ?? '';
    const row: InspectorSessionRow = {
      sessionId: e.session,
      user: e.user,
      channel: before?.channel ?? (typeof e.data.channel === 'string' ? e.data.channel : ''),
      state,
      active: state === before?.state ? before.active : active(state),
      live: !(e.kind === 'session' && e.reason === 'session passivated'),
      // An event is activity: the session is awake (resting shows when the session is read again).
      resting: false,
      updatedAt: Math.max(before?.updatedAt ?? 0, e.time),
      last: e.kind === 'inspect' ? (before?.last ?? '') : `${e.kind}:${redactor ? redactor.text(e.reason) : e.reason}`.slice(0, 80),
    };
    t.rows.delete(e.session);
    t.rows.set(e.session, row);
    // The list is bounded: the least recently active sessions leave it first.
    if (t.rows.size > o.maxListedSessions) t.rows.delete(t.rows.keys().next().value as string);
    return row;
  };

  const alertsFrame = () => ({ type: 'alerts', active: args.alerts?.active() ?? [] });

  const dispatch = (): void => {
    scheduled = false;
    const batch = pending;
    pending = [];
    const lost = overflow;
    overflow = 0;
    if (lost > 0) for (const c of clients) c.out.lost('event', lost);
    let alerted = false;
    for (const e of batch) {
      if (e.kind === 'alert') alerted = true;
      const t = tenants.get(e.tenant);
      if (!t) continue;
      t.health.observe(e);
      const row = updateRow(t, e);
      // Serialised (and redacted) once for all of the tenant's pages, the event only if one watches.
      const rowText = JSON.stringify({ type: 'session', session: row });
      const rowKey = `session:${e.session}`;
      let eventText: string | undefined;
      for (const c of t.clients) {
        c.out.pushText('session', rowText, rowKey);
        if (c.watching === e.session) c.out.pushText('event', (eventText ??= JSON.stringify({ type: 'event', event: view(e) })));
      }
    }
    if (alerted) {
      const alertsText = JSON.stringify(alertsFrame());
      for (const c of clients) c.out.pushText('alerts', alertsText, 'alerts');
    }
  };

  const healthFrame = (t: TenantView, liveSessions: number) => ({ type: 'health', ...t.health.snapshot(), liveSessions, listedSessions: t.rows.size, at: clock.now() });

  /**
   * A session that rests emits no decision event (the trace stays as small as the turns), so the
   * list learns it here, once per health tick: rows shown live and awake are read again, at most
   * `maxListedSessions` per tenant someone watches, and those now resting go out as `session` frames.
   */
  const refreshResting = (t: TenantView): void => {
    for (const row of t.rows.values()) {
      if (!row.live || row.resting) continue;
      let resting = false;
      try {
        resting = runtime.describe(row.sessionId)?.resting === true;
      } catch {
        // A runtime that is closing describes nothing.
      }
      if (!resting) continue;
      const next: InspectorSessionRow = { ...row, resting: true };
      // Replacing a key keeps its place in the map (the list's recency order) and its iteration.
      t.rows.set(row.sessionId, next);
      const text = JSON.stringify({ type: 'session', session: next });
      for (const c of t.clients) c.out.pushText('session', text, `session:${row.sessionId}`);
    }
  };

  const pushHealth = (): void => {
    healthTimer = undefined;
    if (closed) return;
    let live = 0;
    try {
      live = runtime.stats().live;
    } catch {
      // A runtime that is closing has nothing live.
    }
    const alertsText = tenants.size > 0 ? JSON.stringify(alertsFrame()) : '';
    for (const t of tenants.values()) {
      if (t.clients.size > 0) refreshResting(t);
      const healthText = JSON.stringify(healthFrame(t, live));
      for (const c of t.clients) {
        c.out.pushText('health', healthText, 'health');
        c.out.pushText('alerts', alertsText, 'alerts');
      }
    }
    healthTimer = clock.setTimeout(pushHealth, o.healthIntervalMs);
  };

  const unsubscribe = runtime.decisions.subscribe((e) => {
    if (clients.size === 0) return;
    if (pending.length >= MAX_PENDING) overflow++;
    else pending.push(e);
    if (!scheduled) {
      scheduled = true;
      setImmediate(dispatch);
    }
  });

  const fail = (c: Client, code: string, message: string, id?: string): void => {
    c.out.push('reply', { type: 'error', code, message, ...(id !== undefined ? { id } : {}) });
  };

  /** The session if it belongs to the client's tenant; the same answer whether it is elsewhere or nowhere. */
  const ownSession = (c: Client, id: string) => {
    const s = runtime.describe(id);
    return s && s.tenant === c.identity.tenant ? s : undefined;
  };

  const handle = async (c: Client, f: InspectorClientFrame): Promise<void> => {
    const tenant = c.identity.tenant;
    switch (f.type) {
      case 'auth':
        return fail(c, 'bad_frame', 'already authenticated');
      case 'sessions':
        c.out.push('reply', { type: 'sessions', sessions: sortedRows(tenantView(tenant)) }, 'sessions');
        return;
      case 'watch': {
        c.stopInspect?.();
        c.stopInspect = undefined;
        c.watching = undefined;
        if (f.sessionId === null) return;
        const s = ownSession(c, f.sessionId);
        if (!s) return fail(c, 'unknown_session', 'no such session');
        c.watching = s.sessionId;
        c.stopInspect = runtime.inspect(s.sessionId);
        // Read back from now to the session's start at most, and a bounded number of batches.
        const events = runtime.events.query({ tenant: tenant as TenantId, session: s.sessionId, since: s.createdAt, reverse: true, limit: DETAIL_EVENTS, maxBatches: o.maxScanBatches }).reverse().map(view);
        c.out.push('reply', { type: 'session.detail', session: rowOf(s), events }, 'detail');
        return;
      }
      case 'query': {
        const limit = Math.min(f.limit ?? o.maxQueryEvents, o.maxQueryEvents);
        const { events, complete } = runtime.events.queryPage({
          tenant: tenant as TenantId, since: f.since, ...(f.until !== undefined ? { until: f.until } : {}),
          ...(f.session !== undefined ? { session: f.session as SessionId } : {}), ...(f.user !== undefined ? { user: f.user as UserId } : {}),
          ...(f.kinds !== undefined ? { kinds: f.kinds } : {}), limit: limit + 1, maxBatches: o.maxScanBatches,
        });
        c.out.push('reply', { type: 'query.result', id: f.id, events: events.slice(0, limit).map(view), truncated: events.length > limit || !complete }, `reply:${f.id}`);
        return;
      }
      case 'report': {
        // One report at a time per page: each holds a read snapshot of the trace while it runs.
        if (c.report) return fail(c, 'rate_limited', 'a report is still being built for this page; wait for it', f.id);
        const report = new AbortController();
        c.report = report;
        let built;
        try {
          // Read in slices: the turns of every customer go on while a report over days is built.
          built = await buildReportSliced({ events: runtime.events, since: f.since, until: f.until ?? clock.now(), tenant, maxEvents: REPORT_EVENTS, maxBatches: o.maxScanBatches * 10, signal: report.signal });
        } catch (err) {
          // The page went, or the server is stopping: nobody waits for this report.
          if (report.signal.aborted || (isKeelError(err) && err.code === 'runtime_closed')) return;
          throw err;
        } finally {
          c.report = undefined;
        }
        // Staff see what customers said redacted, even when the runtime keeps its trace as written.
        const shown = redactor ? (redactor.value(built as unknown as Json) as unknown as typeof built) : built;
        c.out.push('reply', { type: 'report.result', id: f.id, report: shown }, `reply:${f.id}`);
        return;
      }
      case 'signal': {
        if (!can(c.identity, 'inspector.signal', { tenant })) return fail(c, 'forbidden', `role '${c.identity.role}' may not send signals`, f.id);
        if (!ownSession(c, f.sessionId)) return fail(c, 'unknown_session', 'no such session', f.id);
        const target = `session:${f.sessionId}`;
        try {
          const outcome = await runtime.send(f.sessionId, { ...f.event }, { as: c.identity });
          runtime.audit.append({ actor: c.identity, action: `inspector.${f.event.type}`, target, outcome: 'ok', details: { via: 'inspector' } }).catch(() => undefined);
          c.out.push('reply', { type: 'signal.result', id: f.id, ok: true, state: outcome.state, frames: outcome.frames.length }, `reply:${f.id}`);
        } catch (err) {
          const code = isKeelError(err) ? err.code : 'internal';
          runtime.audit.append({ actor: c.identity, action: `inspector.${f.event.type}`, target, outcome: 'failed', details: { code } }).catch(() => undefined);
          fail(c, code, isKeelError(err) ? err.message : 'the signal failed', f.id);
        }
        return;
      }
    }
  };

  healthTimer = clock.setTimeout(pushHealth, o.healthIntervalMs);

  return {
    connect(socket, identity) {
      if (closed) throw new TypeError('the inspector is closed');
      if (!can(identity, 'inspector.view')) throw new TypeError(`role '${identity.role}' may not view the inspector`);
      const client: Client = {
        identity,
        out: createInspectorOutbox(socket, { clock, maxQueuedFrames: o.maxQueuedFrames, maxBufferedBytes: o.maxBufferedBytes, drainCheckMs: o.drainCheckMs, onError: (err) => logger.debug({ err }, 'inspector write failed') }),
      };
      const t = tenantView(identity.tenant);
      t.clients.add(client);
      clients.add(client);
      const m = machine();
      client.out.push('reply', {
        type: 'welcome',
        identity: { tenant: identity.tenant, user: identity.user, role: identity.role },
        canSignal: can(identity, 'inspector.signal', { tenant: identity.tenant }),
        machine: m,
        kinds: DECISION_KINDS,
        limits: { maxQueryEvents: o.maxQueryEvents, maxSignalTextChars: o.maxSignalTextChars, healthWindowMs: o.healthWindowMs },
      }, 'welcome');
      client.out.push('reply', { type: 'sessions', sessions: sortedRows(t) }, 'sessions');
      client.out.push('health', healthFrame(t, runtime.stats().live), 'health');
      client.out.push('alerts', alertsFrame(), 'alerts');
      let disposed = false;
      const requests = createTokenBucket({ ratePerSecond: o.maxRequestsPerSecond, burst: 2 * o.maxRequestsPerSecond, clock });
      const refusals = createTokenBucket({ ratePerSecond: 5 * o.maxRequestsPerSecond, burst: 10 * o.maxRequestsPerSecond, clock });
      return {
        receive(text) {
          if (disposed) return;
          if (!requests.take()) {
            // Refusing costs the server too: a page that ignores its rate_limited errors is closed.
            if (!refusals.take()) {
              socket.close(1008, 'flooding: requests kept coming after rate_limited errors');
              return;
            }
            return fail(client, 'rate_limited', `at most ${o.maxRequestsPerSecond} requests a second; wait a moment`);
          }
          if (text.length > o.maxFrameChars) return fail(client, 'too_large', `frames are at most ${o.maxFrameChars} characters`);
          const f = parseInspectorFrame(text, o.maxSignalTextChars);
          if ('error' in f) return fail(client, 'bad_frame', f.error, f.id);
          // Answers the page has not read are held for it: a page that asks and never reads gets no more.
          if (ANSWERED_IN_BULK.has(f.type) && client.out.unread > o.maxUnreadBytes) {
            return fail(client, 'rate_limited', 'earlier answers are still unread; read them first', 'id' in f ? f.id : undefined);
          }
          handle(client, f).catch((err: unknown) => {
            logger.warn({ err }, 'inspector request failed');
            fail(client, 'internal', 'the request failed', 'id' in f ? f.id : undefined);
          });
        },
        get stats() {
          return client.out.stats;
        },
        dispose() {
          if (disposed) return;
          disposed = true;
          client.stopInspect?.();
          client.report?.abort();
          client.out.dispose();
          clients.delete(client);
          t.clients.delete(client);
          if (t.clients.size === 0) tenants.delete(identity.tenant);
        },
      };
    },
    get clients() {
      return clients.size;
    },
    stats: () => [...clients].map((c) => c.out.stats),
    close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      if (healthTimer !== undefined) clock.clearTimeout(healthTimer);
      for (const c of clients) {
        c.stopInspect?.();
        c.report?.abort();
        c.out.dispose();
      }
      clients.clear();
      tenants.clear();
    },
  };
}
