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
import { createActorTracer, type ActorTracer } from '../observe/actor-tracer.js';
import type { Logger } from '../observe/logger.js';
import { BUSY_TAG, type UserMessageEvent, type AgentEmitted, type Clock, type DecisionEvent, type DecisionSink, type SessionInput } from '../ports.js';
import type { JournalRecord, SessionRecord, SessionStore, StoredTimer } from '../store/session-store.js';
import type { Json, SessionId, TenantId, UserId } from '../types.js';
import { createMailbox, type Mailbox } from './mailbox.js';
import { frameOf, stateToString, type SessionFrame, type TurnOutcome } from './session-frames.js';
import { persistedSnapshotOf } from './persisted-snapshot.js';
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
  /** Told each time a session's actor is built (created, hydrated, or woken from rest). */
  readonly onAwake?: (id: SessionId) => void;
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
  /** True while the actor is stopped and the session's state is kept as its persisted snapshot's JSON. */
  readonly resting: boolean;
  /** The earliest committed timer deadline, if any. */
  readonly wakeAt: number | undefined;
  /** Stops the actor if the session is at rest; its next event builds it again. */
  rest(): boolean;
  /** Builds a resting session's actor again, so that its due timers fire. */
  wake(): Promise<void>;
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
  const host = new LiveSession(ctx, id, from);
  await host.start('snapshot' in from ? from : undefined);
  return host;
}

// A class, not a closure per step: every live session has a host, and 30 per-instance closures
// with their context cost about 2 KB a session (docs/benchmarks.md, heap per live session).
class LiveSession implements SessionHost {
  readonly id: SessionId;
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly channel: string;
  readonly mailbox: Mailbox;
  readonly #ctx: SessionHostContext;
  readonly #createdAt: number;
  readonly #tracer: ActorTracer;
  // A child logger per live session costs memory; it is made on the first log line.
  #childLog: Logger | undefined;
  #seq: number;
  #pending: readonly number[];
  #committedTimers: readonly StoredTimer[];
  #wakeAt: number | undefined;
  #lastState: string;
  #lastActiveAt: number;
  // Both undefined while the session rests; its state is then kept as the JSON of its persisted
  // snapshot (what LMDB holds), and the next event builds the actor from it without a read.
  #actor: AnyActor | undefined;
  #book: TimerBook | undefined;
  #restingSnapshot: string | undefined;
  #outbox: AgentEmitted[] = [];
  #turn: { traceId: string; onDelta?: (t: string) => void } | undefined;
  #failure: unknown;
  #spontaneousQueued = false;
  #settleWaiters: Array<() => void> | undefined;
  #broken = false;
  #building = false;
  // XState inspection costs every microstep a callback: it follows machines that invoke actors
  // (tool calls, LLM steps, for their latency and outcome) and sessions someone inspects.
  #tracerOn = false;

  constructor(ctx: SessionHostContext, id: SessionId, from: SessionRecord | NewSession) {
    const existing = 'snapshot' in from ? from : undefined;
    this.#ctx = ctx;
    this.id = id;
    this.tenant = from.tenant;
    this.user = from.user;
    this.channel = from.channel;
    this.#createdAt = existing?.createdAt ?? ctx.clock.now();
    this.mailbox = createMailbox(ctx.maxQueuedEvents);
    this.#seq = existing?.seq ?? 0;
    this.#pending = existing?.pending ?? [];
    this.#committedTimers = existing?.timers ?? [];
    this.#wakeAt = existing?.wakeAt ?? earliest(this.#committedTimers);
    this.#lastState = existing?.state ?? '';
    this.#lastActiveAt = ctx.clock.now();
    // Inspection tells the trace what the chart cannot know: tool latencies, arguments, LLM time.
    this.#tracer = createActorTracer({
      clock: ctx.clock,
      decide: (kind, reason, data, state) => this.#decide(kind, reason, data, state),
      inspecting: () => ctx.inspecting?.(id) === true,
    });
  }

  get lastActiveAt(): number {
    return this.#lastActiveAt;
  }

  get broken(): boolean {
    return this.#broken;
  }

  state(): string {
    return this.#lastState;
  }

  get resting(): boolean {
    return this.#actor === undefined;
  }

  get wakeAt(): number | undefined {
    return this.#wakeAt;
  }

  context(): unknown {
    const snapshot = this.#actor ? this.#actor.getSnapshot() : this.#restingSnapshot !== undefined ? JSON.parse(this.#restingSnapshot) : this.#committedSnapshot();
    return (snapshot as { context?: unknown } | undefined)?.context;
  }

  message(messageId: string, text: string, hooks: TurnHooks = {}): Promise<TurnOutcome> {
    const { store, clock } = this.#ctx;
    this.#lastActiveAt = clock.now();
    return this.mailbox.run(async () => {
      const seen = store.getMessage(this.id, messageId);
      if (seen?.outSeqs) return this.#replayOutcome(messageId, seen);
      if (seen) {
        // Accepted before a crash and not yet answered: answer it now, without a second ack.
        const stored = store.readJournal(this.id, this.tenant, seen.inSeq, seen.inSeq)[0];
        return this.#answer(messageId, stored?.text ?? text, seen.inSeq, false, hooks, stored?.time ?? clock.now());
      }
      const inSeq = ++this.#seq;
      const at = clock.now();
      return this.#answer(messageId, text, inSeq, true, hooks, at);
    });
  }

  signal(event: { type: string } & Record<string, unknown>): Promise<TurnOutcome> {
    const { store, clock } = this.#ctx;
    this.#lastActiveAt = clock.now();
    return this.mailbox.run(async () => {
      this.#turn = { traceId: `${this.id}:signal:${event.type}` };
      try {
        const actor = this.#running();
        this.#ensureTracing();
        actor.send(event as never);
        await this.#waitSettled();
        const records = this.#drain(undefined, clock.now());
        try {
          await store.commit(this.#persistWrites(records));
        } catch (err) {
          this.#broken = true;
          throw toKeelError(err, 'storage_failed');
        }
        const frames = records.map(frameOf);
        this.#ctx.publish(this.id, frames);
        this.#decide('signal', `signal ${event.type} handled`, { type: event.type });
        return { sessionId: this.id, frames, state: this.#lastState, duplicate: false };
      } finally {
        this.#turn = undefined;
      }
    });
  }

  async passivate(): Promise<void> {
    await this.mailbox.idle();
    this.#settleWaiters = undefined;
    this.#actor?.stop();
    this.#tracer.detach();
    this.#decide('session', 'session passivated', {});
  }

  /** Builds the actor (hydrating, migrating or creating) and re-runs unanswered messages. */
  async start(existing: SessionRecord | undefined): Promise<void> {
    const { store, clock } = this.#ctx;
    const now = clock.now();
    if (existing) {
      let snapshot: unknown = store.openJson(this.tenant, existing.snapshot);
      let carried: Record<string, unknown> | undefined;
      // True when what runs differs from what is stored (migration or restart): committed at once.
      let reshaped = false;
      if (existing.machineId !== this.#ctx.machine.id || existing.machineVersion !== this.#ctx.machineVersion) {
        reshaped = true;
        const migrated = tryMigrate(this.#ctx, existing, snapshot, () => this.#log());
        if (migrated === undefined) {
          carried = (snapshot as { context?: Record<string, unknown> }).context;
          snapshot = undefined;
          this.#committedTimers = [];
          this.#decide('session', 'machine changed; flow restarted with context kept', {
            from: `${existing.machineId}@${existing.machineVersion}`,
            to: `${this.#ctx.machine.id}@${this.#ctx.machineVersion}`,
          });
        } else {
          snapshot = migrated;
          this.#decide('session', 'snapshot migrated', { from: existing.machineVersion, to: this.#ctx.machineVersion });
        }
      }
      try {
        this.#build(snapshot, carried);
      } catch (err) {
        this.#log().warn({ err }, 'stored snapshot does not fit the machine; flow restarted with context kept');
        this.#build(undefined, (snapshot as { context?: Record<string, unknown> } | undefined)?.context);
        this.#committedTimers = [];
        reshaped = true;
      }
      this.#rearm(now);
      // LMDB must always hold what is live: recovery after a failure rebuilds from it.
      if (reshaped) await store.commit(this.#persistWrites([]));
    } else {
      this.#build(undefined);
      await store.commit([...this.#persistWrites([]), store.putOwner(this.id, this.tenant, this.user)]);
      this.#decide('session', 'session opened', { channel: this.channel });
    }
    this.#lastState = stateToString(this.#running().getSnapshot().value);

    // Re-run messages that were accepted but not answered when the process stopped.
    const pending = this.#pending;
    if (existing && pending.length > 0) {
      const records = store.readJournal(this.id, this.tenant, Math.min(...pending), Math.max(...pending)).filter((r) => r.dir === 'in' && pending.includes(r.seq));
      for (const r of records) {
        if (r.messageId === undefined) continue;
        const messageId = r.messageId;
        this.#decide('session', 're-running a message accepted before a restart', { seq: r.seq });
        void this.mailbox.runInternal(() => this.#answer(messageId, r.text, r.seq, false, {}, r.time)).catch((err: unknown) =>
          this.#log().error({ err }, 're-running an accepted message failed'),
        );
      }
    }
  }

  #log(): Logger {
    return (this.#childLog ??= this.#ctx.logger.child({ session: this.id, tenant: this.tenant, user: this.user }));
  }

  #input(carriedContext?: Record<string, unknown>): SessionInput {
    return { sessionId: this.id, tenant: this.tenant, user: this.user, channel: this.channel, ...(carriedContext ? { carriedContext } : {}) };
  }

  #decide(kind: DecisionEvent['kind'], reason: string, data: Record<string, Json> = {}, state: string = this.#lastState): void {
    this.#ctx.sink.emit({
      kind, time: this.#ctx.clock.now(), tenant: this.tenant, session: this.id, user: this.user,
      traceId: this.#turn?.traceId ?? `${this.id}:timer`, state, reason, data: this.#tracer.enrich(kind, data),
    });
  }

  #settled(): boolean {
    if (!this.#actor) return true;
    const snap = this.#actor.getSnapshot();
    return snap.status !== 'active' || !snap.hasTag(BUSY_TAG);
  }

  /**
   * Follows the actor with the tracer while there is something to see: the session is inspected,
   * or the actor has invoked children (tool calls and model steps, whose latency and outcome the
   * trace records). XState builds an inspection event for every event, microstep, action and
   * snapshot while anything follows it: about a tenth of a simple turn's CPU time, for nothing
   * when no child runs. Children started in a step while the tracer was off are picked up right
   * after that step (`#onStep`), before any of them can finish.
   */
  #ensureTracing(target: AnyActor | undefined = this.#actor): void {
    if (!target || this.#tracerOn) return;
    const inspecting = this.#ctx.inspecting?.(this.id) === true;
    if (!inspecting && !(invokesActors(this.#ctx.machine) && hasChildren(target))) return;
    this.#tracerOn = true;
    this.#tracer.attach(target);
  }

  /** Stops following once nothing is left to see: not inspected, no child, no tool call pending. */
  #relaxTracing(): void {
    const actor = this.#actor;
    if (!this.#tracerOn || !actor || hasChildren(actor) || !this.#tracer.idle() || this.#ctx.inspecting?.(this.id) === true) return;
    this.#tracerOn = false;
    this.#tracer.detach();
  }

  #build(snapshot: unknown, carried?: Record<string, unknown>): AnyActor {
    const next = createActor(this.#ctx.machine, {
      id: this.id,
      input: this.#input(carried),
      clock: actorClockOf(this.#ctx.clock),
      ...(snapshot !== undefined ? { snapshot: snapshot as never } : {}),
    });
    this.#tracerOn = false;
    this.#tracer.detach();
    this.#ensureTracing(next);
    next.on('*', (emitted: AgentEmitted) => this.#onEmitted(emitted));
    next.subscribe({
      next: () => this.#onStep(),
      error: (err) => {
        this.#failure = err;
        this.#onStep();
      },
    });
    this.#actor = next;
    this.#book = createTimerBook(next);
    this.#building = true;
    try {
      next.start();
    } finally {
      this.#building = false;
    }
    this.#ctx.onAwake?.(this.id);
    return next;
  }

  /** Re-arms the committed timers on a freshly built actor, due ones at once. */
  #rearm(now: number): void {
    this.#book?.rearm(this.#committedTimers, now);
    // Seeds the book with the stored deadlines, so the next capture keeps them.
    this.#book?.capture(now);
  }

  /** The actor, built again from the committed snapshot when the session was resting. */
  #running(): AnyActor {
    if (this.#actor) return this.#actor;
    let actor: AnyActor;
    try {
      const kept = this.#restingSnapshot;
      this.#restingSnapshot = undefined;
      actor = this.#build(kept !== undefined ? JSON.parse(kept) : this.#committedSnapshot());
    } catch (err) {
      // The runtime drops a broken host; hydrating it again restarts the flow keeping context.
      this.#broken = true;
      throw toKeelError(err, 'session_failed');
    }
    this.#rearm(this.#ctx.clock.now());
    return actor;
  }

  /**
   * Stops the actor of a session at rest (settled, nothing queued, no child actor, every pending
   * timer committed), keeping the host and the JSON of the persisted snapshot, which is what LMDB
   * holds: the session stays live, and its next event builds the actor from it again without a
   * storage read. Returns whether it rested.
   */
  rest(): boolean {
    const actor = this.#actor;
    if (!actor || this.#broken || this.#turn || this.mailbox.size > 0 || this.#spontaneousQueued || this.#settleWaiters || this.#outbox.length > 0 || this.#failure !== undefined) return false;
    const snap = actor.getSnapshot() as { status: string; hasTag(tag: string): boolean };
    if (snap.status === 'active' && snap.hasTag(BUSY_TAG)) return false;
    // Invoked and spawned actors live in memory only.
    if (hasChildren(actor)) return false;
    // What is scheduled must be what was committed, or resting would lose a timer.
    const scheduled = this.#book?.capture(this.#ctx.clock.now()) ?? [];
    const committed = this.#committedTimers;
    if (scheduled.length !== committed.length || scheduled.some((t) => !committed.some((c) => c.id === t.id))) return false;
    this.#restingSnapshot = JSON.stringify(persistedSnapshotOf(actor));
    actor.stop();
    this.#tracer.detach();
    this.#tracerOn = false;
    this.#actor = undefined;
    this.#book = undefined;
    return true;
  }

  /** Builds a resting session's actor again so that its due timers fire. */
  wake(): Promise<void> {
    const build = async (): Promise<void> => {
      if (!this.#broken) this.#running();
    };
    // At once when nothing runs: the re-armed timers then count from now, not from a later tick.
    return this.mailbox.size === 0 ? build() : this.mailbox.runInternal(build);
  }

  /**
   * Runs a caller's hook: one that throws is logged, never let through. XState would rethrow an
   * emit listener's error on a timer, ending the process; a turn's commit must not fail for it.
   */
  #hook<T>(name: 'onDelta' | 'onAccepted', hook: ((value: T) => void) | undefined, value: T): void {
    if (hook === undefined) return;
    try {
      hook(value);
    } catch (err) {
      this.#log().warn({ err, hook: name }, 'a send hook threw; the turn goes on');
    }
  }

  #onEmitted(e: AgentEmitted): void {
    switch (e.type) {
      case 'agent.delta':
        this.#hook('onDelta', this.#turn?.onDelta, e.text);
        return;
      case 'agent.decision':
        this.#decide(e.kind, e.reason, (e.data ?? {}) as Record<string, Json>, this.#tracer.state() ?? this.#lastState);
        return;
      case 'agent.reply':
      case 'agent.handoff':
        this.#outbox.push(e);
        if (!this.#turn && !this.#building) this.#queueSpontaneous();
        return;
    }
  }

  #onStep(): void {
    if (!this.#tracerOn) this.#ensureTracing();
    const waiters = this.#settleWaiters;
    if (waiters && (this.#settled() || this.#failure !== undefined)) {
      this.#settleWaiters = undefined;
      for (const wake of waiters) wake();
    }
    if (!this.#turn && !this.#building) this.#queueSpontaneous();
  }

  #waitSettled(): Promise<void> {
    if (this.#settled() || this.#failure !== undefined) return Promise.resolve();
    const { clock, turnTimeoutMs } = this.#ctx;
    return new Promise((resolve) => {
      const timer = clock.setTimeout(() => {
        this.#failure ??= new KeelError('session_failed', `turn did not settle within ${turnTimeoutMs} ms`);
        resolve();
      }, turnTimeoutMs);
      (this.#settleWaiters ??= []).push(() => {
        clock.clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Restores the actor to the last committed snapshot after a failure. */
  #recover(): void {
    const err = toKeelError(this.#failure, 'session_failed');
    this.#log().error({ err, state: this.#lastState }, 'session actor failed; restored to the last committed state');
    this.#decide('error', 'actor failed; restored last committed state', { code: err.code, message: err.message });
    this.#failure = undefined;
    try {
      this.#actor?.stop();
    } catch {
      // The failed actor may already be stopped.
    }
    // LMDB holds the last committed snapshot; the failed actor's state is dropped.
    this.#build(this.#committedSnapshot());
    this.#rearm(this.#ctx.clock.now());
    this.#outbox = [{ type: 'agent.reply', text: this.#ctx.failureReply, meta: { failed: true } }];
  }

  /** Turns the outbox into journal records; exactly one reply for a message. */
  #drain(messageId: string | undefined, time: number): JournalRecord[] {
    if (this.#failure !== undefined) this.#recover();
    const state = stateToString(this.#running().getSnapshot().value);
    const records: JournalRecord[] = [];
    const replies: string[] = [];
    let replyMeta: Record<string, unknown> | undefined;
    for (const e of this.#outbox) {
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
    if (this.#outbox.length > 0) this.#outbox = [];
    if (messageId !== undefined) {
      records.push({ seq: 0, dir: 'out', type: 'reply', messageId, text: replies.join('\n\n'), state, ...(replyMeta ? { meta: replyMeta } : {}), time });
    }
    return records.map((r) => ({ ...r, seq: ++this.#seq }));
  }

  /** Builds the writes that make the actor's current state durable. */
  #persistWrites(records: readonly JournalRecord[], inbound?: JournalRecord): Promise<unknown>[] {
    const { store, clock } = this.#ctx;
    const actor = this.#running();
    const snapshot = persistedSnapshotOf(actor);
    const now = clock.now();
    const timers = this.#book?.capture(now) ?? [];
    const state = stateToString(actor.getSnapshot().value);
    const writes: Promise<unknown>[] = [store.appendJournal(this.id, this.tenant, inbound ? [inbound, ...records] : records)];
    const nextWake = earliest(timers);
    writes.push(...store.setWake(this.id, this.#wakeAt, nextWake));
    writes.push(
      store.putSession(this.id, {
        tenant: this.tenant, user: this.user, channel: this.channel,
        machineId: this.#ctx.machine.id, machineVersion: this.#ctx.machineVersion,
        snapshot: store.sealJson(this.tenant, snapshot), seq: this.#seq, timers, pending: this.#pending, state,
        createdAt: this.#createdAt, updatedAt: now,
      }),
    );
    if (state !== this.#lastState) this.#decide('transition', 'state changed', { from: this.#lastState, to: state });
    this.#relaxTracing();
    this.#committedTimers = timers;
    if (nextWake !== this.#wakeAt) this.#ctx.onWakeChange(this.id, nextWake);
    this.#wakeAt = nextWake;
    this.#lastState = state;
    return writes;
  }

  /** Writes the pre-turn state with the message marked pending (the first of two commits). */
  #pendingWrites(): Promise<unknown>[] {
    const { store, clock } = this.#ctx;
    const record = store.getSession(this.id);
    if (!record) throw new KeelError('internal', 'session record missing during a turn');
    // A wake entry due now: after a crash, startup hydrates the session and answers the message
    // even if its client never comes back. The answer's commit moves the entry to the next timer.
    const now = clock.now();
    const due = this.#wakeAt === undefined ? now : Math.min(this.#wakeAt, now);
    const writes = store.setWake(this.id, this.#wakeAt, due);
    this.#wakeAt = due;
    writes.push(store.putSession(this.id, { ...record, seq: this.#seq, pending: this.#pending, updatedAt: now, wakeAt: due }));
    return writes;
  }

  #committedSnapshot(): unknown {
    const record = this.#ctx.store.getSession(this.id);
    return record ? this.#ctx.store.openJson(this.tenant, record.snapshot) : undefined;
  }

  /** Runs one accepted message through the actor and commits the answer. */
  async #answer(messageId: string, text: string, inSeq: number, isNew: boolean, hooks: TurnHooks, at: number): Promise<TurnOutcome> {
    const { store, clock } = this.#ctx;
    const id = this.id;
    const inRecord: JournalRecord = { seq: inSeq, dir: 'in', type: 'message', messageId, text, time: at };
    const previousPending = this.#pending.filter((s) => s !== inSeq);
    const inFrame = frameOf(inRecord);
    const startedAt = clock.now();
    this.#tracer.takeLlmSteps();
    this.#turn = { traceId: `${id}:${inSeq}`, ...(hooks.onDelta ? { onDelta: hooks.onDelta } : {}) };
    try {
      let actor = this.#running();
      if (actor.getSnapshot().status === 'done') actor = this.#build(undefined, contextOf(actor));
      this.#ensureTracing();
      const event: UserMessageEvent = { type: 'user.message', text, messageId, turnKey: `${id}:${inSeq}`, at };
      actor.send(event as never);
      let accepted = !isNew;
      // Local actors (router, templates, demo tools) settle within this tick's microtasks: one
      // event-loop turn of patience lets such a turn commit once, acceptance and answer together.
      if (!this.#settled() && this.#failure === undefined && !accepted) await afterThisTick();
      if (!this.#settled() && this.#failure === undefined && !accepted) {
        this.#pending = [...previousPending, inSeq];
        await store.commit([store.appendJournal(id, this.tenant, [inRecord]), store.putMessage(id, messageId, { inSeq }), ...this.#pendingWrites()]);
        accepted = true;
        this.#ctx.publish(id, [inFrame]);
        this.#hook('onAccepted', hooks.onAccepted, inSeq);
        await this.#waitSettled();
      } else if (accepted && !this.#settled() && this.#failure === undefined) {
        // A message accepted before a restart, run again now: its answer is what the machine
        // produces, however long that takes (an LLM or a tool step), not what it holds at this tick.
        this.#pending = [...previousPending, inSeq];
        await this.#waitSettled();
      }
      const records = this.#drain(messageId, clock.now());
      this.#pending = previousPending;
      const writes = [
        ...this.#persistWrites(records, inRecord),
        store.putMessage(id, messageId, { inSeq, outSeqs: records.map((r) => r.seq) }),
      ];
      await store.commit(writes);
      const frames = records.map(frameOf);
      if (isNew && !accepted) {
        this.#ctx.publish(id, [inFrame, ...frames]);
        this.#hook('onAccepted', hooks.onAccepted, inSeq);
      } else {
        this.#ctx.publish(id, frames);
      }
      const llm = this.#tracer.takeLlmSteps();
      this.#decide('reply', 'turn answered', {
        seq: inSeq, frames: frames.length, latencyMs: clock.now() - startedAt,
        ...(llm.length > 0 ? { llmSteps: llm.map((l) => ({ step: l.step, provider: l.provider, latencyMs: l.latencyMs, endedAt: l.endedAt })) } : {}),
      });
      return { sessionId: id, messageId, seq: inSeq, frames, state: this.#lastState, duplicate: false };
    } catch (err) {
      // In-memory state ran ahead of what is durable: the runtime drops this host and the next
      // event hydrates from LMDB, re-running anything accepted but unanswered.
      this.#broken = true;
      throw toKeelError(err, 'storage_failed');
    } finally {
      this.#turn = undefined;
    }
  }

  #replayOutcome(messageId: string, entry: { inSeq: number; outSeqs?: readonly number[] }): TurnOutcome {
    const outSeqs = entry.outSeqs ?? [];
    const frames = outSeqs.length === 0 ? [] : this.#ctx.store.readJournal(this.id, this.tenant, Math.min(...outSeqs), Math.max(...outSeqs)).filter((r) => outSeqs.includes(r.seq)).map(frameOf);
    return { sessionId: this.id, messageId, seq: entry.inSeq, frames, state: this.#lastState, duplicate: true };
  }

  #queueSpontaneous(): void {
    if (this.#spontaneousQueued || this.#turn || this.#broken) return;
    this.#spontaneousQueued = true;
    void this.mailbox.runInternal(async () => {
      this.#spontaneousQueued = false;
      await this.#waitSettled();
      const records = this.#drain(undefined, this.#ctx.clock.now());
      // Timer steps are rare; committing each one is cheaper than comparing snapshots.
      try {
        // Inside the try: a step that cannot be sealed or committed leaves the actor ahead of what
        // is stored, and seqs taken; the host is broken, so the runtime loads the session again
        // from its last commit instead of running the next turn on top of the lost step.
        await this.#ctx.store.commit(this.#persistWrites(records));
      } catch (err) {
        this.#broken = true;
        throw err;
      }
      this.#ctx.publish(this.id, records.map(frameOf));
    }).catch((err: unknown) => this.#log().error({ err }, 'committing a timer step failed'));
  }
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

/** True when the actor has invoked or spawned children right now. */
function hasChildren(actor: AnyActor): boolean {
  const children = (actor.getSnapshot() as { children?: Record<string, unknown> }).children;
  for (const _ in children) return true;
  return false;
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
