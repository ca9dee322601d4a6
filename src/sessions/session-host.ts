/**
 * One live session: its XState actor, its mailbox and its durable turns.
 *
 * A turn journals the accepted message, runs the actor until it settles (no active state tagged
 * `busy`), then commits the snapshot, the pending timers and the outbound frames together and
 * waits for the flush before anything is published. When the machine settles synchronously (the
 * local provider), acceptance and answer share one commit; otherwise the message is acknowledged
 * after a first commit and answered after a second. Work accepted but unanswered is re-run on the
 * next hydration, and its side effects carry the idempotency key `turnKey`.
 */
import { createActor, type AnyActor, type AnyStateMachine } from 'xstate';
import { KeelError, toKeelError } from '../errors.js';
import { createActorTracer } from '../observe/actor-tracer.js';
import type { Logger } from '../observe/logger.js';
import { BUSY_TAG, type UserMessageEvent, type AgentEmitted, type Clock, type DecisionEvent, type DecisionSink, type SessionInput } from '../ports.js';
import type { JournalRecord, SessionRecord, SessionStore, StoredTimer } from '../store/session-store.js';
import type { Json, SessionId, TenantId, UserId } from '../types.js';
import { createMailbox, type Mailbox } from './mailbox.js';
import { frameOf, stateToString, type SessionFrame, type TurnOutcome } from './session-frames.js';
import { createTimerBook, type TimerBook } from './timer-book.js';

/** Migrates a persisted snapshot between machine versions; return undefined to restart the flow. */
export type MigrateHook = (args: {
  readonly machineId: string;
  readonly fromVersion: string;
  readonly toVersion: string;
  readonly snapshot: unknown;
}) => unknown;

/** What every session host of a runtime shares. */
export interface SessionHostContext {
  readonly machine: AnyStateMachine;
  readonly machineVersion: string;
  readonly store: SessionStore;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly sink: DecisionSink;
  readonly publish: (id: SessionId, frames: readonly SessionFrame[]) => void;
  readonly onWakeChange: (id: SessionId, deadline: number | undefined) => void;
  readonly turnTimeoutMs: number;
  readonly maxQueuedEvents: number;
  readonly failureReply: string;
  readonly migrate?: MigrateHook;
  /** True while simplified XState inspection events are wanted for this session. Default never. */
  readonly inspecting?: (id: SessionId) => boolean;
}

export interface TurnHooks {
  /** Called once the message is durably accepted, with its seq (the server sends `ack`). */
  readonly onAccepted?: (seq: number) => void;
  /** Streamed reply pieces, before the reply frame. */
  readonly onDelta?: (text: string) => void;
}

export interface SessionHost {
  readonly id: SessionId;
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly channel: string;
  readonly mailbox: Mailbox;
  /** Clock time of the last event. */
  readonly lastActiveAt: number;
  /** True after a failed commit: the host must be dropped and the session hydrated again. */
  readonly broken: boolean;
  state(): string;
  /** The machine's context (for the inspector and hand-off; callers redact). */
  context(): unknown;
  message(messageId: string, text: string, hooks?: TurnHooks): Promise<TurnOutcome>;
  /** Sends a non-message event (signal, operator command) and commits what it produced. */
  signal(event: { type: string } & Record<string, unknown>): Promise<TurnOutcome>;
  /** Stops the actor once its mailbox is idle. Its state is already committed. */
  passivate(): Promise<void>;
}

interface NewSession {
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly channel: string;
}

/**
 * Creates (for a new session) or hydrates (from its record) a session host, re-arming stored
 * timers and re-running accepted-but-unanswered messages.
 *
 * @example
 * ```ts
 * const host = await openSessionHost(ctx, id, store.getSession(id) ?? { tenant, user, channel });
 * const outcome = await host.message('m-1', 'where is my order?');
 * ```
 */
export async function openSessionHost(
  ctx: SessionHostContext,
  id: SessionId,
  from: SessionRecord | NewSession,
): Promise<SessionHost> {
  const { store, clock, sink } = ctx;
  const existing = 'snapshot' in from ? from : undefined;
  const tenant = from.tenant;
  const user = from.user;
  const channel = from.channel;
  const createdAt = existing?.createdAt ?? clock.now();
  // A child logger per live session costs memory; it is made on the first log line.
  let childLog: Logger | undefined;
  const log = (): Logger => (childLog ??= ctx.logger.child({ session: id, tenant, user }));
  const mailbox = createMailbox(ctx.maxQueuedEvents);

  let seq = existing?.seq ?? 0;
  let pending: number[] = [...(existing?.pending ?? [])];
  let committedTimers: readonly StoredTimer[] = existing?.timers ?? [];
  let wakeAt = earliest(committedTimers);
  let lastState = existing?.state ?? '';
  let lastActiveAt = clock.now();
  let actor!: AnyActor;
  let book!: TimerBook;
  let outbox: AgentEmitted[] = [];
  let turn: { traceId: string; onDelta?: (t: string) => void } | undefined;
  let failure: unknown;
  let spontaneousQueued = false;
  let settleWaiters: Array<() => void> = [];
  let broken = false;
  let building = false;

  const input = (carriedContext?: Record<string, unknown>): SessionInput => ({
    sessionId: id,
    tenant,
    user,
    channel,
    ...(carriedContext ? { carriedContext } : {}),
  });

  const decide = (kind: DecisionEvent['kind'], reason: string, data: Record<string, Json> = {}, state: string = lastState): void => {
    sink.emit({ kind, time: clock.now(), tenant, session: id, user, traceId: turn?.traceId ?? `${id}:timer`, state, reason, data: tracer.enrich(kind, data) });
  };
  // Inspection tells the trace what the chart cannot know: tool latencies, arguments, LLM time.
  const tracer = createActorTracer({ clock, decide, inspecting: () => ctx.inspecting?.(id) === true });

  const settled = (): boolean => {
    const snap = actor.getSnapshot();
    return snap.status !== 'active' || !snap.hasTag(BUSY_TAG);
  };

  // XState inspection costs every microstep a callback: it follows machines that invoke actors
  // (tool calls, LLM steps, for their latency and outcome) and sessions someone inspects.
  let tracerOn = false;
  const ensureTracing = (target: AnyActor = actor): void => {
    if (tracerOn || !(invokesActors(ctx.machine) || ctx.inspecting?.(id) === true)) return;
    tracerOn = true;
    tracer.attach(target);
  };

  const build = (snapshot: unknown, carried?: Record<string, unknown>): void => {
    const next = createActor(ctx.machine, {
      id,
      input: input(carried),
      clock: actorClockOf(clock),
      ...(snapshot !== undefined ? { snapshot: snapshot as never } : {}),
    });
    tracerOn = false;
    tracer.detach();
    ensureTracing(next);
    next.on('*', (emitted: AgentEmitted) => onEmitted(emitted));
    next.subscribe({
      next: () => onStep(),
      error: (err) => {
        failure = err;
        onStep();
      },
    });
    actor = next;
    book = createTimerBook(next);
    building = true;
    try {
      next.start();
    } finally {
      building = false;
    }
  };

  const onEmitted = (e: AgentEmitted): void => {
    switch (e.type) {
      case 'agent.delta':
        turn?.onDelta?.(e.text);
        return;
      case 'agent.decision':
        decide(e.kind, e.reason, (e.data ?? {}) as Record<string, Json>, tracer.state() ?? lastState);
        return;
      case 'agent.reply':
      case 'agent.handoff':
        outbox.push(e);
        if (!turn && !building) queueSpontaneous();
        return;
    }
  };

  const onStep = (): void => {
    if (settleWaiters.length > 0 && (settled() || failure !== undefined)) {
      const waiters = settleWaiters;
      settleWaiters = [];
      for (const wake of waiters) wake();
    }
    if (!turn && !building) queueSpontaneous();
  };

  const waitSettled = (): Promise<void> => {
    if (settled() || failure !== undefined) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = clock.setTimeout(() => {
        failure ??= new KeelError('session_failed', `turn did not settle within ${ctx.turnTimeoutMs} ms`);
        resolve();
      }, ctx.turnTimeoutMs);
      settleWaiters.push(() => {
        clock.clearTimeout(timer);
        resolve();
      });
    });
  };

  /** Restores the actor to the last committed snapshot after a failure. */
  const recover = (): void => {
    const err = toKeelError(failure, 'session_failed');
    log().error({ err, state: lastState }, 'session actor failed; restored to the last committed state');
    decide('error', 'actor failed; restored last committed state', { code: err.code, message: err.message });
    failure = undefined;
    try {
      actor.stop();
    } catch {
      // The failed actor may already be stopped.
    }
    // LMDB holds the last committed snapshot; the failed actor's state is dropped.
    build(committedSnapshot());
    book.rearm(committedTimers, clock.now());
    outbox = [{ type: 'agent.reply', text: ctx.failureReply, meta: { failed: true } }];
  };

  /** Turns the outbox into journal records; exactly one reply for a message. */
  const drain = (messageId: string | undefined, time: number): JournalRecord[] => {
    if (failure !== undefined) recover();
    const state = stateToString(actor.getSnapshot().value);
    const records: JournalRecord[] = [];
    const replies: string[] = [];
    let replyMeta: Record<string, unknown> | undefined;
    for (const e of outbox) {
      if (e.type === 'agent.handoff') {
        records.push({ seq: 0, dir: 'out', type: 'handoff', ...(messageId ? { messageId } : {}), text: e.reason ?? '', state, meta: { status: e.status, ...(e.meta ?? {}) }, time });
      } else if (e.type === 'agent.reply') {
        if (messageId === undefined) {
          records.push({ seq: 0, dir: 'out', type: 'reply', text: e.text, state, ...(e.meta ? { meta: e.meta } : {}), time });
        } else {
          replies.push(e.text);
          if (e.meta) replyMeta = { ...replyMeta, ...e.meta };
        }
      }
    }
    outbox = [];
    if (messageId !== undefined) {
      records.push({ seq: 0, dir: 'out', type: 'reply', messageId, text: replies.join('\n\n'), state, ...(replyMeta ? { meta: replyMeta } : {}), time });
    }
    return records.map((r) => ({ ...r, seq: ++seq }));
  };

  /** Builds the writes that make the actor's current state durable. */
  const persistWrites = (records: readonly JournalRecord[], inbound?: JournalRecord): Promise<unknown>[] => {
    const snapshot = actor.getPersistedSnapshot();
    const now = clock.now();
    const timers = book.capture(now);
    const state = stateToString(actor.getSnapshot().value);
    const writes: Promise<unknown>[] = [store.appendJournal(id, tenant, inbound ? [inbound, ...records] : records)];
    const nextWake = earliest(timers);
    writes.push(...store.setWake(id, wakeAt, nextWake));
    writes.push(
      store.putSession(id, {
        tenant, user, channel,
        machineId: ctx.machine.id, machineVersion: ctx.machineVersion,
        snapshot: store.sealJson(tenant, snapshot), seq, timers, pending, state,
        createdAt, updatedAt: now,
      }),
    );
    if (state !== lastState) decide('transition', 'state changed', { from: lastState, to: state });
    committedTimers = timers;
    if (nextWake !== wakeAt) ctx.onWakeChange(id, nextWake);
    wakeAt = nextWake;
    lastState = state;
    return writes;
  };

  /** Writes the pre-turn state with the message marked pending (the first of two commits). */
  const pendingWrites = (): Promise<unknown>[] => {
    const record = store.getSession(id);
    if (!record) throw new KeelError('internal', 'session record missing during a turn');
    // A wake entry due now: after a crash, startup hydrates the session and answers the message
    // even if its client never comes back. The answer's commit moves the entry to the next timer.
    const now = clock.now();
    const due = wakeAt === undefined ? now : Math.min(wakeAt, now);
    const writes = store.setWake(id, wakeAt, due);
    wakeAt = due;
    writes.push(store.putSession(id, { ...record, seq, pending, updatedAt: now }));
    return writes;
  };

  const committedSnapshot = (): unknown => {
    const record = store.getSession(id);
    return record ? store.openJson(tenant, record.snapshot) : undefined;
  };

  /** Runs one accepted message through the actor and commits the answer. */
  const answer = async (
    messageId: string, text: string, inSeq: number, isNew: boolean, hooks: TurnHooks, at: number,
  ): Promise<TurnOutcome> => {
    const inRecord: JournalRecord = { seq: inSeq, dir: 'in', type: 'message', messageId, text, time: at };
    const previousPending = pending.filter((s) => s !== inSeq);
    const inFrame = frameOf(inRecord);
    const startedAt = clock.now();
    tracer.takeLlmSteps();
    turn = { traceId: `${id}:${inSeq}`, ...(hooks.onDelta ? { onDelta: hooks.onDelta } : {}) };
    ensureTracing();
    try {
      if (actor.getSnapshot().status === 'done') build(undefined, contextOf(actor));
      const event: UserMessageEvent = { type: 'user.message', text, messageId, turnKey: `${id}:${inSeq}`, at };
      actor.send(event as never);
      let accepted = !isNew;
      // Local actors (router, templates, demo tools) settle within this tick's microtasks: one
      // event-loop turn of patience lets such a turn commit once, acceptance and answer together.
      if (!settled() && failure === undefined && !accepted) await afterThisTick();
      if (!settled() && failure === undefined && !accepted) {
        pending = [...previousPending, inSeq];
        await store.commit([store.appendJournal(id, tenant, [inRecord]), store.putMessage(id, messageId, { inSeq }), ...pendingWrites()]);
        accepted = true;
        ctx.publish(id, [inFrame]);
        hooks.onAccepted?.(inSeq);
        await waitSettled();
      }
      const records = drain(messageId, clock.now());
      pending = previousPending;
      const writes = [
        ...persistWrites(records, inRecord),
        store.putMessage(id, messageId, { inSeq, outSeqs: records.map((r) => r.seq) }),
      ];
      await store.commit(writes);
      const frames = records.map(frameOf);
      if (isNew && !accepted) {
        ctx.publish(id, [inFrame, ...frames]);
        hooks.onAccepted?.(inSeq);
      } else {
        ctx.publish(id, frames);
      }
      const llm = tracer.takeLlmSteps();
      decide('reply', 'turn answered', {
        seq: inSeq, frames: frames.length, latencyMs: clock.now() - startedAt,
        ...(llm.length > 0 ? { llmSteps: llm.map((l) => ({ step: l.step, provider: l.provider, latencyMs: l.latencyMs, endedAt: l.endedAt })) } : {}),
      });
      return { sessionId: id, messageId, seq: inSeq, frames, state: lastState, duplicate: false };
    } catch (err) {
      // In-memory state ran ahead of what is durable: the runtime drops this host and the next
      // event hydrates from LMDB, re-running anything accepted but unanswered.
      broken = true;
      throw toKeelError(err, 'storage_failed');
    } finally {
      turn = undefined;
    }
  };

  const replayOutcome = (messageId: string, entry: { inSeq: number; outSeqs?: readonly number[] }): TurnOutcome => {
    const outSeqs = entry.outSeqs ?? [];
    const frames = outSeqs.length === 0 ? [] : store.readJournal(id, tenant, Math.min(...outSeqs), Math.max(...outSeqs)).filter((r) => outSeqs.includes(r.seq)).map(frameOf);
    return { sessionId: id, messageId, seq: entry.inSeq, frames, state: lastState, duplicate: true };
  };

  const queueSpontaneous = (): void => {
    if (spontaneousQueued || turn || broken) return;
    spontaneousQueued = true;
    void mailbox.runInternal(async () => {
      spontaneousQueued = false;
      await waitSettled();
      const records = drain(undefined, clock.now());
      // Timer steps are rare; committing each one is cheaper than comparing snapshots.
      const writes = persistWrites(records);
      try {
        await store.commit(writes);
      } catch (err) {
        broken = true;
        throw err;
      }
      ctx.publish(id, records.map(frameOf));
    }).catch((err: unknown) => log().error({ err }, 'committing a timer step failed'));
  };

  // ---- hydrate ----
  const now = clock.now();
  if (existing) {
    let snapshot: unknown = store.openJson(tenant, existing.snapshot);
    let carried: Record<string, unknown> | undefined;
    // True when what runs differs from what is stored (migration or restart): committed at once.
    let reshaped = false;
    if (existing.machineId !== ctx.machine.id || existing.machineVersion !== ctx.machineVersion) {
      reshaped = true;
      const migrated = tryMigrate(ctx, existing, snapshot, log);
      if (migrated === undefined) {
        carried = (snapshot as { context?: Record<string, unknown> }).context;
        snapshot = undefined;
        committedTimers = [];
        decide('session', 'machine changed; flow restarted with context kept', { from: `${existing.machineId}@${existing.machineVersion}`, to: `${ctx.machine.id}@${ctx.machineVersion}` });
      } else {
        snapshot = migrated;
        decide('session', 'snapshot migrated', { from: existing.machineVersion, to: ctx.machineVersion });
      }
    }
    try {
      build(snapshot, carried);
    } catch (err) {
      log().warn({ err }, 'stored snapshot does not fit the machine; flow restarted with context kept');
      build(undefined, (snapshot as { context?: Record<string, unknown> } | undefined)?.context);
      committedTimers = [];
      reshaped = true;
    }
    book.rearm(committedTimers, now);
    book.capture(now);
    // LMDB must always hold what is live: recovery after a failure rebuilds from it.
    if (reshaped) await store.commit(persistWrites([]));
  } else {
    build(undefined);
    await store.commit([...persistWrites([]), store.putOwner(id, tenant, user)]);
    decide('session', 'session opened', { channel });
  }
  lastState = stateToString(actor.getSnapshot().value);

  const host: SessionHost = {
    id, tenant, user, channel, mailbox,
    get lastActiveAt() {
      return lastActiveAt;
    },
    get broken() {
      return broken;
    },
    state: () => lastState,
    context: () => (actor.getSnapshot() as { context?: unknown }).context,
    message(messageId, text, hooks = {}) {
      lastActiveAt = clock.now();
      return mailbox.run(async () => {
        const seen = store.getMessage(id, messageId);
        if (seen?.outSeqs) return replayOutcome(messageId, seen);
        if (seen) {
          // Accepted before a crash and not yet answered: answer it now, without a second ack.
          const stored = store.readJournal(id, tenant, seen.inSeq, seen.inSeq)[0];
          return answer(messageId, stored?.text ?? text, seen.inSeq, false, hooks, stored?.time ?? clock.now());
        }
        const inSeq = ++seq;
        const at = clock.now();
        return answer(messageId, text, inSeq, true, hooks, at);
      });
    },
    signal(event) {
      lastActiveAt = clock.now();
      return mailbox.run(async () => {
        turn = { traceId: `${id}:signal:${event.type}` };
        ensureTracing();
        try {
          actor.send(event as never);
          await waitSettled();
          const records = drain(undefined, clock.now());
          try {
            await store.commit(persistWrites(records));
          } catch (err) {
            broken = true;
            throw toKeelError(err, 'storage_failed');
          }
          const frames = records.map(frameOf);
          ctx.publish(id, frames);
          decide('signal', `signal ${event.type} handled`, { type: event.type });
          return { sessionId: id, frames, state: lastState, duplicate: false };
        } finally {
          turn = undefined;
        }
      });
    },
    async passivate() {
      await mailbox.idle();
      settleWaiters = [];
      actor.stop();
      tracer.detach();
      decide('session', 'session passivated', {});
    },
  };

  // Re-run messages that were accepted but not answered when the process stopped.
  if (existing && pending.length > 0) {
    const records = store.readJournal(id, tenant, Math.min(...pending), Math.max(...pending)).filter((r) => r.dir === 'in' && pending.includes(r.seq));
    for (const r of records) {
      if (r.messageId === undefined) continue;
      const messageId = r.messageId;
      decide('session', 're-running a message accepted before a restart', { seq: r.seq });
      void mailbox.runInternal(() => answer(messageId, r.text, r.seq, false, {}, r.time)).catch((err: unknown) =>
        log().error({ err }, 're-running an accepted message failed'),
      );
    }
  }
  return host;
}

/** The clock XState actors get: one per runtime clock, not two closures per live session. */
const actorClocks = new WeakMap<Clock, { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(handle: unknown): void }>();
function actorClockOf(clock: Clock): { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(handle: unknown): void } {
  let shared = actorClocks.get(clock);
  if (!shared) {
    shared = { setTimeout: (fn, ms) => clock.setTimeout(fn, ms), clearTimeout: (h) => clock.clearTimeout(h) };
    actorClocks.set(clock, shared);
  }
  return shared;
}

/** Resolves once the current macrotask and every microtask it queued have run. */
function afterThisTick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function earliest(timers: readonly StoredTimer[]): number | undefined {
  let min: number | undefined;
  for (const t of timers) if (min === undefined || t.deadline < min) min = t.deadline;
  return min;
}

function contextOf(actor: AnyActor): Record<string, unknown> | undefined {
  return (actor.getSnapshot() as { context?: Record<string, unknown> }).context;
}

function tryMigrate(ctx: SessionHostContext, record: SessionRecord, snapshot: unknown, log: () => Pick<Logger, 'warn'>): unknown {
  if (!ctx.migrate || record.machineId !== ctx.machine.id) return undefined;
  try {
    return ctx.migrate({ machineId: record.machineId, fromVersion: record.machineVersion, toVersion: ctx.machineVersion, snapshot }) ?? undefined;
  } catch (err) {
    log().warn({ err }, 'migration hook failed; flow restarted with context kept');
    return undefined;
  }
}

const invoking = new WeakMap<AnyStateMachine, boolean>();

/** True when any state of the machine invokes an actor (computed once per machine). */
function invokesActors(machine: AnyStateMachine): boolean {
  let known = invoking.get(machine);
  if (known === undefined) {
    const walk = (node: { invoke?: readonly unknown[]; states?: Record<string, unknown> }): boolean =>
      (node.invoke?.length ?? 0) > 0 || Object.values(node.states ?? {}).some((child) => walk(child as typeof node));
    known = walk(machine.root as unknown as { invoke?: readonly unknown[]; states?: Record<string, unknown> });
    invoking.set(machine, known);
  }
  return known;
}
