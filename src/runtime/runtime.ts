/**
 * The keel runtime: durable session actors on LMDB, hydrated on demand and passivated when idle
 * or over the live-session cap. Embeddable in any Node program; the server is one of its users.
 */
import { join } from 'node:path';
import type { AnyStateMachine } from 'xstate';
import { passBudget } from '../clock.js';
import { KeelError, toKeelError } from '../errors.js';
import { createDecisionStream, type DecisionStream } from '../observe/decision-stream.js';
import type { Logger } from '../observe/logger.js';
import { createEventStore, type EventStore } from '../observe/event-store.js';
import { redactDecision } from '../observe/decision-redaction.js';
import { createTenantSealer } from '../security/tenant-sealer.js';
import { createAuditLog, systemActor, type AuditLog } from '../security/audit-log.js';
import { viewFrames } from '../security/frame-view.js';
import { createRedactor } from '../security/redact.js';
import { createSessionQuota } from '../security/session-quota.js';
import { createSessionTokenMeter, type SessionTokenMeter } from '../security/session-token-meter.js';
import { createTenantKeyStore } from '../security/tenant-keys.js';
import { frameOf, type SessionFrame, type TurnOutcome } from '../sessions/session-frames.js';
import { newSessionId } from '../sessions/session-id.js';
import { openSessionHost, type SessionHost, type SessionHostContext, type TurnHooks } from '../sessions/session-host.js';
import { createEffectLedger } from '../store/effect-ledger.js';
import { openEnv, type LmdbEnv } from '../store/lmdb-env.js';
import { createUserMemory, type UserMemory } from '../memory/user-memory.js';
import { eraseUser, type UserErasure } from './user-erasure.js';
import { createSessionStore, plainSealer, type SessionRecord, type SessionStore } from '../store/session-store.js';
import type { Clock, EffectLedger } from '../ports.js';
import { isValidId, type Identity, type SessionId, type TenantId, type UserId } from '../types.js';
import { resolveRuntimeOptions, type RuntimeOptions } from './runtime-options.js';
import { createSessionAccess } from './session-access.js';

/** Arguments of {@link Runtime.open}. */
export interface OpenSessionArgs {
  readonly tenant: TenantId;
  readonly user: UserId;
  /** Default `'api'`. */
  readonly channel?: string;
  /** Resume this session (or create it under this id, unless `mustExist`). */
  readonly sessionId?: SessionId | string;
  /** Fail with `unknown_session` instead of creating. Default false. */
  readonly mustExist?: boolean;
  /** Who opens it, when not the owner (a human agent, an engineer); checked like `send`. Default: the owner. */
  readonly as?: Identity;
}

/** What {@link Runtime.open} resolves with. */
export interface OpenedSession {
  readonly sessionId: SessionId;
  /** The last journal seq of the session (0 for a new one). */
  readonly lastSeq: number;
  readonly state: string;
  readonly created: boolean;
}

/** Ports a machine factory receives to build its actors. */
export interface RuntimePorts {
  readonly effects: EffectLedger;
  readonly clock: Clock;
  readonly dataDir: string;
  /** The audit trail, for tool calls, approvals and hand-offs. */
  readonly audit?: AuditLog;
  /** LLM tokens used per session (durable), for the per-session token budget. */
  readonly llmTokens?: SessionTokenMeter;
  /** The users' structured context and memories; absent when the runtime runs with `memory: 'none'`. */
  readonly memory?: UserMemory;
  /** The runtime's logger, for failures of background work (never message text). */
  readonly logger?: Logger;
}

/** A message from a user, or any other event (signals, operator commands). */
export type RuntimeEvent =
  | { readonly type: 'user.message'; readonly id: string; readonly text: string }
  | ({ readonly type: string } & Readonly<Record<string, unknown>>);

export interface SendOptions extends TurnHooks {
  /** Who sends; checked against the session's owner. Omit only for trusted embedding code. */
  readonly as?: Identity;
}

/** A session as listed by {@link Runtime.listSessions}. */
export interface SessionSummary {
  readonly sessionId: SessionId;
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly channel: string;
  readonly state: string;
  readonly seq: number;
  readonly live: boolean;
  /** Live and at rest: its actor stopped after `restAfterMs` quiet, built again by its next event. */
  readonly resting: boolean;
  readonly createdAt: number;
  readonly updatedAt: number;
}

/** Counters for health and metrics. */
export interface RuntimeStats {
  readonly live: number;
  /** Live sessions at rest: actor stopped, state kept as snapshot JSON, built again by the next event (`restAfterMs`). */
  readonly resting: number;
  /** Sessions stored, live or passivated (`stored - live` are passivated). */
  readonly stored: number;
  readonly hydrations: number;
  readonly passivations: number;
  readonly turns: number;
  readonly failedTurns: number;
}

export interface Runtime {
  /** Creates a session or checks that the caller may resume it. */
  open(args: OpenSessionArgs): Promise<OpenedSession>;
  /** Runs one event through a session; resolves after the durable commit with the frames produced. */
  send(sessionId: SessionId | string, event: RuntimeEvent, options?: SendOptions): Promise<TurnOutcome>;
  /** Journaled frames with seq greater than `afterSeq`, for resuming clients. */
  replay(sessionId: SessionId | string, afterSeq: number, as?: Identity): SessionFrame[];
  /** Frames of a session as they are committed (replies, timer nudges, hand-off updates). */
  subscribe(sessionId: SessionId | string, listener: (frames: readonly SessionFrame[]) => void): () => void;
  /** One session's summary, or undefined. */
  describe(sessionId: SessionId | string): SessionSummary | undefined;
  listSessions(filter?: { tenant?: TenantId; user?: UserId; limit?: number }): SessionSummary[];
  /** Hydrates a session without sending it anything (to preload it). Resolves when it is live. */
  warm(sessionId: SessionId | string): Promise<void>;
  /** Persists and stops a live session now (normally done by the idle sweep and the cap). */
  passivate(sessionId: SessionId | string): Promise<boolean>;
  /** The live decision stream (route, transition, tool, fallback, reply...). */
  readonly decisions: DecisionStream;
  /**
   * Turns on simplified XState inspection (`inspect` events in the decision stream) for one
   * session until the returned function is called; calls nest. Live or not, the session is
   * inspected from its next step on.
   */
  inspect(sessionId: SessionId | string): () => void;
  /**
   * Erases a user: sessions with snapshots and journals, their tool outcomes, the decision trace,
   * the structured context, the memories and their index vectors; recorded in the audit trail.
   * With `as`, only an admin of the tenant may (a refusal is audited too).
   */
  forget(args: { tenant: TenantId; user: UserId }, as?: Identity): Promise<UserErasure>;
  /** The hash-chained audit trail. */
  readonly audit: AuditLog;
  /** The persisted decision trace ("what did the agent do last week, for this user?"). */
  readonly events: Pick<EventStore, 'query' | 'queryPage' | 'scan'>;
  /** Records side-effect outcomes once per idempotency key (use the event's `turnKey` as prefix). */
  readonly effects: EffectLedger;
  readonly options: Readonly<RuntimeOptions>;
  /** The users' structured context and memories, or undefined with `memory: 'none'`. */
  readonly memory: UserMemory | undefined;
  stats(): RuntimeStats;
  /** Stops taking work, drains and stops actors, flushes and closes storage. Idempotent. */
  close(): Promise<void>;
}

/**
 * Creates a runtime over the data directory in `options.dataDir`.
 *
 * @example
 * ```ts
 * const runtime = createRuntime({ dataDir: './.keel', machine: myAgent });
 * const { sessionId } = await runtime.open({ tenant: tenantId('acme'), user: userId('u1') });
 * const outcome = await runtime.send(sessionId, { type: 'user.message', id: 'm1', text: 'hi' });
 * await runtime.close();
 * ```
 */
export function createRuntime(
  options: Omit<Partial<RuntimeOptions>, 'machine'> & { machine: AnyStateMachine | ((ports: RuntimePorts) => AnyStateMachine) },
): Runtime {
  const { machine: machineOption, ...rest } = options;
  const opts = resolveRuntimeOptions(rest);
  const { clock, logger } = opts;
  const env: LmdbEnv = openEnv({ dir: opts.dataDir });
  const sealer = opts.sealer === 'none' ? plainSealer : (opts.sealer ?? createTenantSealer({ keys: createTenantKeyStore({ dir: opts.dataDir, clock }) }));
  const redactText = opts.redactText === 'none' ? undefined : (opts.redactText ?? createRedactor().text);
  const store: SessionStore = createSessionStore(env, sealer);
  const audit = createAuditLog({ env, clock });
  /** Live hosts in least-recently-used order (a Map keeps insertion order; touching re-inserts). */
  const live = new Map<SessionId, Promise<SessionHost>>();
  /** Hosts that finished hydrating, for checks that must not wait or read storage. */
  const ready = new Map<SessionId, SessionHost>();
  /** Live sessions whose actor runs, least recently active first; the other live ones rest. */
  const awake = new Set<SessionId>();
  const touch = (id: SessionId): void => {
    awake.delete(id);
    awake.add(id);
  };
  // Idempotency keys start with the turn key (`<sessionId>:<seq>`): the session names the tenant
  // whose key seals the recorded outcome (tool results carry orders and addresses). A tool call
  // runs in a live session, whose host knows the tenant without reading the session record.
  const effects = createEffectLedger(env, { sealer, tenantOf: (key) => tenantOfKey(key, (id) => ready.get(id)?.tenant ?? store.getSession(id)?.tenant) });
  const sessionQuota = createSessionQuota({
    maxSessionsPerUser: opts.maxSessionsPerUser,
    stored: (tenant, user, atMost) => store.countSessions(tenant as TenantId, user as UserId, atMost),
  });
  const llmTokens = createSessionTokenMeter({ store: env.db('meta'), onError: (err) => logger.warn({ err }, 'recording LLM token usage failed') });
  const memory: UserMemory | undefined =
    opts.memory === 'none' ? undefined : createUserMemory({ env, sealer, clock, indexDir: join(opts.dataDir, 'memory-index'), ...opts.memory });
  const machine = typeof machineOption === 'function' ? machineOption({ effects, clock, dataDir: opts.dataDir, audit, llmTokens, logger, ...(memory ? { memory } : {}) }) : machineOption;
  if (typeof (machine as { transition?: unknown } | undefined)?.transition !== 'function') {
    throw new TypeError('option machine must be an XState machine or a function returning one');
  }
  const decisions = createDecisionStream({
    ...(redactText ? { transform: redactDecision(redactText) } : {}),
    onSubscriberError: (err) => logger.warn({ err }, 'decision subscriber failed'),
  });
  // The trace quotes customers at times (recalled memories, tool arguments): sealed per tenant like the journal.
  const events = createEventStore({ env, clock, retentionMs: opts.eventRetentionMs, sealer, onError: (err) => logger.warn({ err }, 'decision trace write failed') });
  decisions.subscribe((e) => events.append(e));
  if (opts.decisionSink) decisions.subscribe((e) => opts.decisionSink?.emit(e));
  const subscribers = new Map<SessionId, Set<(frames: readonly SessionFrame[]) => void>>();
  let closed = false;
  let closing: Promise<void> | undefined;
  let wakeTimer: unknown;
  let wakeAt: number | undefined;
  let sweepTimer: unknown;
  let restTimer: unknown;
  const counters = { hydrations: 0, passivations: 0, turns: 0, failedTurns: 0 };
  /** Sessions inspected on demand, with how many asked. */
  const inspected = new Map<SessionId, number>();

  const hostContext: SessionHostContext = {
    machine, machineVersion: opts.machineVersion, store, clock, logger, sink: decisions,
    turnTimeoutMs: opts.turnTimeoutMs, maxQueuedEvents: opts.maxQueuedEvents, failureReply: opts.failureReply,
    ...(opts.migrate ? { migrate: opts.migrate } : {}),
    inspecting: (id) => opts.inspect || inspected.has(id),
    onAwake: touch,
    publish(id, frames) {
      if (frames.length === 0) return;
      auditHandoffs(id, frames);
      const set = subscribers.get(id);
      if (!set) return;
      for (const fn of set) {
        try {
          fn(frames);
        } catch (err) {
          logger.warn({ err, session: id }, 'frame subscriber failed');
        }
      }
    },
    onWakeChange() {
      // Live sessions' timers run in their actors; the wake index matters once they passivate.
    },
  };

  const assertOpen = (): void => {
    if (closed) throw new KeelError('runtime_closed', 'the runtime is shutting down');
  };

  const toSessionId = (id: SessionId | string): SessionId => {
    if (!isValidId(id)) throw new KeelError('bad_frame', 'invalid session id');
    return id as SessionId;
  };

  // Who may do what to a session, with refusals and hand-offs audited.
  const { authorize, auditHandoffs } = createSessionAccess({
    audit, logger,
    ownerOf: (id) => ready.get(id) ?? store.getSession(id),
    handoffOf: (id) => store.lastHandoff(id),
  });

  /** Sessions whose user is being erased: no host is started or used for them meanwhile. */
  const erasing = new Set<SessionId>();
  const hostFor = (id: SessionId): Promise<SessionHost> => {
    if (erasing.has(id)) return Promise.reject(new KeelError('unknown_session', 'no such session'));
    // A host whose timer step failed to commit is ahead of what is stored: loaded again instead.
    if (ready.get(id)?.broken) drop(id);
    const existing = live.get(id);
    if (existing) {
      live.delete(id);
      live.set(id, existing);
      if (awake.has(id)) touch(id);
      return existing;
    }
    const record = store.getSession(id);
    if (!record) return Promise.reject(new KeelError('unknown_session', 'no such session'));
    counters.hydrations++;
    const hydrating = openSessionHost(hostContext, id, record);
    live.set(id, hydrating);
    // Both handled here: a session that cannot be loaded (a deleted tenant key, a corrupt
    // snapshot) fails its own caller only, never the process (an unhandled rejection would).
    hydrating.then(
      (host) => {
        ready.set(id, host);
        enforceCap();
      },
      () => drop(id),
    );
    return hydrating;
  };

  const drop = (id: SessionId): void => {
    live.delete(id);
    ready.delete(id);
    awake.delete(id);
  };

  const passivateHost = async (id: SessionId, host: SessionHost): Promise<void> => {
    await host.mailbox.idle();
    // An event queued while we waited keeps the session live; it is idle again later.
    if (host.mailbox.size > 0 || live.get(id) === undefined) return;
    drop(id);
    await host.passivate();
    counters.passivations++;
    const record = store.getSession(id);
    const next = record?.timers.reduce<number | undefined>((m, t) => (m === undefined || t.deadline < m ? t.deadline : m), undefined);
    if (next !== undefined) armWake(next);
  };

  /** Sessions chosen for passivation over the cap and not yet dropped. */
  const evicting = new Set<SessionId>();
  const enforceCap = (): void => {
    // Passivation is asynchronous: sessions already on their way out do not count again, or a
    // burst of opens would queue the same least recently used sessions once per open.
    let excess = live.size - evicting.size - opts.maxLiveSessions;
    if (excess <= 0) return;
    for (const [id, pending] of live) {
      if (excess <= 0) break;
      if (evicting.has(id)) continue;
      excess--;
      evicting.add(id);
      void pending
        .then((host) => (host.mailbox.size === 0 ? passivateHost(id, host) : undefined))
        .catch((err: unknown) => logger.warn({ err, session: id }, 'passivation failed'))
        .finally(() => evicting.delete(id));
    }
  };

  /** Where the idle sweep stopped when a pass ran out of time (a Map's iterator survives changes). */
  let sweepCursor: Iterator<[SessionId, SessionHost]> | undefined;
  // When the sweep under way began: the next one is due a period after that, however many passes
  // this one took (each pass it is cut into would otherwise push every later sweep back).
  let sweepStartedAt = 0;
  const sweepEvery = Math.max(10, Math.floor(opts.idleTimeoutMs / 4));
  const sweep = (): void => {
    sweepTimer = undefined;
    if (closed) return;
    const now = clock.now();
    // Bounded passes, like the rest sweep: one pass over 100,000 live sessions at once held the
    // event loop for over 100 ms, and passivations started together run their steps together.
    const spent = passBudget(SWEEP_PASS_MS, { every: 64 });
    let started = 0;
    if (!sweepCursor) {
      sweepCursor = ready.entries();
      sweepStartedAt = now;
    }
    for (;;) {
      if (started >= PASSIVATIONS_PER_PASS || spent()) {
        sweepTimer = clock.setTimeout(sweep, SWEEP_PASS_PAUSE_MS);
        return;
      }
      const next = sweepCursor.next();
      if (next.done) break;
      const [id, host] = next.value;
      if (host.mailbox.size === 0 && now - host.lastActiveAt >= opts.idleTimeoutMs) {
        started++;
        passivateHost(id, host).catch((err: unknown) => logger.warn({ err, session: id }, 'idle passivation failed'));
      }
    }
    sweepCursor = undefined;
    if (now - lastPrune > 3_600_000) {
      lastPrune = now;
      events.prune().catch((err: unknown) => logger.warn({ err }, 'pruning the decision trace failed'));
    }
    sweepTimer = clock.setTimeout(sweep, Math.max(10, sweepStartedAt + sweepEvery - now));
  };

  /**
   * Stops the actors of live sessions quiet for `restAfterMs` (oldest first, up to the first one
   * still active): a resting session costs its host, not an XState actor and its system.
   */
  const restSweep = (): void => {
    restTimer = undefined;
    if (closed) return;
    const now = clock.now();
    // A few milliseconds of the event loop per pass: when thousands of sessions fall quiet at once,
    // they rest over several passes instead of holding up everyone's turns in one.
    const spent = passBudget(SWEEP_PASS_MS);
    let more = false;
    for (const id of awake) {
      const host = ready.get(id);
      if (!host) continue;
      if (now - host.lastActiveAt < opts.restAfterMs) break;
      if (spent()) {
        more = true;
        break;
      }
      // A timer about to fire is left to the running actor.
      if (host.wakeAt !== undefined && host.wakeAt <= now + WAKE_LEAD_MS) continue;
      if (!host.rest()) continue;
      awake.delete(id);
      // Its timers now fire through the wake index, like a passivated session's.
      if (host.wakeAt !== undefined) armWake(host.wakeAt);
    }
    restTimer = clock.setTimeout(restSweep, more ? SWEEP_PASS_PAUSE_MS : restEvery);
  };
  const restEvery = Math.max(10, Math.floor(opts.restAfterMs / 2));

  /** Arms the single wake-up timer for passivated (and resting) sessions with pending timers. */
  const armWake = (deadline: number): void => {
    if (closed || (wakeAt !== undefined && wakeAt <= deadline)) return;
    if (wakeTimer !== undefined) clock.clearTimeout(wakeTimer);
    wakeAt = deadline;
    wakeTimer = clock.setTimeout(fireWakes, Math.max(0, deadline - WAKE_LEAD_MS - clock.now()));
  };

  /** Where the previous batch of due wakes ended, while a backlog is being worked off. */
  let wakeCursor: { deadline: number; session: SessionId } | undefined;
  const fireWakes = (): void => {
    wakeTimer = undefined;
    wakeAt = undefined;
    if (closed) return;
    const now = clock.now();
    // Sessions are brought back a little before their deadline, so that their own actor fires
    // the timer on time (an overdue one fires at once).
    const due = store.dueWakes(now + WAKE_LEAD_MS, WAKE_BATCH, wakeCursor);
    for (const { session } of due) {
      if (live.has(session)) {
        // A running actor fires its own timers; a resting one is built again to fire them.
        const host = ready.get(session);
        if (host?.resting) host.wake().catch((err: unknown) => logger.warn({ err, session }, 'waking a resting session failed'));
        continue;
      }
      // Hydrating re-arms the stored timers; those already due fire at once.
      hostFor(session).catch((err: unknown) => logger.warn({ err, session }, 'waking a session failed'));
    }
    // More overdue sessions than one batch (a restart after downtime): the next page shortly, so
    // the backlog is worked off in steps and none is left waiting for an unrelated wake-up.
    wakeCursor = due.length === WAKE_BATCH ? due[due.length - 1] : undefined;
    if (wakeCursor) armWake(now + WAKE_LEAD_MS + WAKE_BACKLOG_STEP_MS);
    const next = store.nextWakeAfter(now + WAKE_LEAD_MS);
    if (next) armWake(next.deadline);
  };

  fireWakes();
  let lastPrune = clock.now();
  sweepTimer = clock.setTimeout(sweep, sweepEvery);
  if (opts.restAfterMs > 0) restTimer = clock.setTimeout(restSweep, restEvery);

  const summary = (id: SessionId, record: SessionRecord): SessionSummary => ({
    sessionId: id, tenant: record.tenant, user: record.user, channel: record.channel, state: record.state,
    seq: record.seq, live: live.has(id), resting: ready.get(id)?.resting === true, createdAt: record.createdAt, updatedAt: record.updatedAt,
  });

  return {
    decisions,
    events,
    effects,
    audit,
    async forget(args, as) {
      assertOpen();
      if (as && !(as.role === 'admin' && as.tenant === args.tenant)) {
        await audit.append({ actor: as, action: 'user.forget', target: `user:${args.user}`, outcome: 'denied' });
        throw new KeelError('forbidden', 'only an admin of the tenant can erase a user');
      }
      const stores = { env, sessions: store, effects, llmTokens, events, memory, audit };
      // Marked before its host is stopped, until the erasure is over: a message arriving while a
      // turn finishes must not start a second host that would write the session back.
      const marked: SessionId[] = [];
      try {
        return await eraseUser(stores, args, as ?? systemActor(args.tenant), {
          async beforeSession(id) {
            erasing.add(id);
            marked.push(id);
            const pending = live.get(id);
            if (pending) {
              const host = await pending.catch(() => undefined);
              drop(id);
              await host?.passivate().catch(() => undefined);
            }
            subscribers.delete(id);
            // Told to whoever keeps something of the session outside the runtime (the desk's queue,
            // claims and approvals board). Its stored copy goes with the user's trace just after.
            decisions.emit({
              kind: 'session', time: clock.now(), tenant: args.tenant, session: id, user: args.user,
              traceId: `${id}:erased`, reason: 'erased', data: {},
            });
          },
        });
      } finally {
        for (const id of marked) erasing.delete(id);
      }
    },
    options: { ...opts, machine },
    memory,
    async open(args) {
      assertOpen();
      const id = toSessionId(args.sessionId ?? newSessionId(clock.now()));
      const record = store.getSession(id);
      if (record) {
        authorize(record, args.as ?? { tenant: args.tenant, user: args.user, role: 'customer' }, 'read', id);
        return { sessionId: id, lastSeq: record.seq, state: record.state, created: false };
      }
      if (args.mustExist) throw new KeelError('unknown_session', 'no such session');
      if (live.has(id)) {
        const host = await live.get(id)!;
        // Being created by someone else right now: the same checks as a stored session.
        authorize(host, args.as ?? { tenant: args.tenant, user: args.user, role: 'customer' }, 'read', id);
        return { sessionId: id, lastSeq: 0, state: host.state(), created: false };
      }
      const release = sessionQuota.reserve(args.tenant, args.user);
      const creating = openSessionHost(hostContext, id, { tenant: args.tenant, user: args.user, channel: args.channel ?? 'api' });
      live.set(id, creating);
      creating.then(
        (host) => {
          ready.set(id, host);
          // Stored now, with its owner entry: the stored count holds it from here on.
          release();
        },
        () => {
          drop(id);
          release();
        },
      );
      const host = await creating;
      enforceCap();
      // Every session of the user, on any channel, is listed in the user's context.
      await memory?.contexts.recordSession(args.tenant, args.user, args.channel ?? 'api', id).catch((err: unknown) => logger.warn({ err, session: id }, 'recording the session in the user context failed'));
      return { sessionId: id, lastSeq: 0, state: host.state(), created: true };
    },
    async send(sessionIdArg, event, sendOptions = {}) {
      assertOpen();
      const id = toSessionId(sessionIdArg);
      const owner = ready.get(id) ?? store.getSession(id);
      if (!owner) throw new KeelError('unknown_session', 'no such session');
      authorize(owner, sendOptions.as, event.type === 'user.message' ? 'message' : 'signal', id, event.type);
      // An approval is made by whoever sends it, never by a name inside the event.
      if (sendOptions.as && event.type !== 'user.message' && 'approver' in event) {
        const { tenant, user, role } = sendOptions.as;
        event = { ...event, approver: { tenant, user, role } };
      }
      // And a conversation is taken by whoever sends the acceptance, never by a name inside it.
      if (sendOptions.as && event.type === 'handoff.accepted') event = { ...event, agentUser: sendOptions.as.user };
      const host = await hostFor(id);
      counters.turns++;
      try {
        if (event.type === 'user.message') {
          const { id: messageId, text } = event as { id: unknown; text: unknown };
          if (typeof messageId !== 'string' || !isValidId(messageId)) throw new KeelError('bad_frame', 'message id must be 1-128 safe characters');
          if (typeof text !== 'string') throw new KeelError('bad_frame', 'message text must be a string');
          return await host.message(messageId, text, sendOptions);
        }
        if (!/^[a-z][a-z0-9_-]*(\.[a-z0-9_-]+)+$/i.test(event.type) || event.type.startsWith('xstate.')) {
          throw new KeelError('bad_frame', 'event types are dotted and namespaced, e.g. signal.handoff');
        }
        return await host.signal(event as { type: string } & Record<string, unknown>);
      } catch (err) {
        counters.failedTurns++;
        if (host.broken) drop(id);
        const failure = toKeelError(err);
        // `thrown`: the caller was told too (and the server counts what it tells clients).
        decisions.emit({
          kind: 'error', time: clock.now(), tenant: host.tenant, session: id, user: host.user, traceId: `${id}:rejected:${clock.now()}`, state: host.state(),
          reason: failure.code, data: { code: failure.code, event: event.type.slice(0, 80), thrown: true },
        });
        throw failure;
      }
    },
    replay(sessionIdArg, afterSeq, as) {
      const id = toSessionId(sessionIdArg);
      const record = store.getSession(id);
      if (!record) throw new KeelError('unknown_session', 'no such session');
      authorize(record, as, 'read', id);
      const frames = store.readJournal(id, record.tenant, Math.max(0, afterSeq) + 1).map(frameOf);
      // Staff without `pii.view` (engineers, admins) read what customers said redacted.
      return as ? [...viewFrames(frames, as, record)] : frames;
    },
    subscribe(sessionIdArg, listener) {
      const id = toSessionId(sessionIdArg);
      let set = subscribers.get(id);
      if (!set) subscribers.set(id, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0) subscribers.delete(id);
      };
    },
    describe(sessionIdArg) {
      const id = toSessionId(sessionIdArg);
      const record = store.getSession(id);
      return record ? summary(id, record) : undefined;
    },
    listSessions(filter) {
      return store.listSessions(filter).map(({ id, record }) => summary(id, record));
    },
    async warm(sessionIdArg) {
      assertOpen();
      await hostFor(toSessionId(sessionIdArg));
    },
    async passivate(sessionIdArg) {
      const id = toSessionId(sessionIdArg);
      const pending = live.get(id);
      if (!pending) return false;
      await passivateHost(id, await pending);
      return true;
    },
    stats: () => ({ live: live.size, resting: Math.max(0, live.size - awake.size), stored: closed ? 0 : store.countAll(), ...counters }),
    inspect(sessionIdArg) {
      const id = toSessionId(sessionIdArg);
      inspected.set(id, (inspected.get(id) ?? 0) + 1);
      let done = false;
      return () => {
        if (done) return;
        done = true;
        const left = (inspected.get(id) ?? 1) - 1;
        if (left <= 0) inspected.delete(id);
        else inspected.set(id, left);
      };
    },
    close() {
      closing ??= (async () => {
        closed = true;
        if (wakeTimer !== undefined) clock.clearTimeout(wakeTimer);
        if (sweepTimer !== undefined) clock.clearTimeout(sweepTimer);
        if (restTimer !== undefined) clock.clearTimeout(restTimer);
        const hosts = await Promise.allSettled([...live.values()]);
        await Promise.allSettled(
          hosts.map((h) => (h.status === 'fulfilled' ? h.value.passivate() : Promise.resolve())),
        );
        live.clear();
        ready.clear();
        awake.clear();
        subscribers.clear();
        events.flush();
        await events.close();
        await memory?.close();
        await env.close();
        await new Promise<void>((resolve) => (logger.flush ? logger.flush(() => resolve()) : resolve()));
      })();
      return closing;
    },
  };
}

/**
 * Sessions woken per pass over the wake index, the pause between passes over a backlog, and how
 * long before its first timer is due a passivated or resting session is brought back.
 */
const WAKE_BATCH = 100;
const WAKE_BACKLOG_STEP_MS = 10;
const WAKE_LEAD_MS = 1000;
/**
 * Event-loop time one pass of a sweep (rest, idle) may take, the pause before the next pass when
 * it ran out, and how many passivations one pass of the idle sweep may start.
 */
const SWEEP_PASS_MS = 5;
const SWEEP_PASS_PAUSE_MS = 5;
const PASSIVATIONS_PER_PASS = 256;

/** Masks personal data in every string of a decision event's data and reason. */
/**
 * The tenant of the session an idempotency key belongs to: keys start with the turn key
 * `<sessionId>:<seq>`, and session ids may hold `:` themselves, so each prefix ending before a
 * `:` is tried.
 */
function tenantOfKey(key: string, tenantOf: (id: SessionId) => TenantId | undefined): TenantId | undefined {
  for (let i = key.indexOf(':'); i > 0; i = key.indexOf(':', i + 1)) {
    const candidate = key.slice(0, i);
    if (!isValidId(candidate)) return undefined;
    const found = tenantOf(candidate as SessionId);
    if (found !== undefined) return found;
  }
  return undefined;
}
