/**
 * The desk's shared state behind `/desk`: which human agent holds which conversation, the live
 * queue each tenant's agents see, and what happens when an agent goes away.
 *
 * - Taking is first come, first served: the claim is set before anything is awaited, so a
 *   second agent is refused (`forbidden`, reason `taken`).
 * - Everything an agent does reaches the session as an event committed like a turn
 *   (`handoff.accepted`, `handoff.message`, `operator.release`, `handoff.completed`,
 *   `operator.approve`), always as the agent's verified identity.
 * - An agent who disconnects keeps their conversations for `graceMs` (a reload, a flaky network);
 *   after that the conversation goes back to the assistant, which offers a ticket or a callback.
 *   When a tenant's last agent is gone, its queue is answered the same way: nobody waits for no one.
 */
import { HANDOFF_ENDED, HANDOFF_HELD, type Clock } from '../ports.js';
import type { Logger } from '../observe/logger.js';
import type { Runtime } from '../runtime/runtime.js';
import { can } from '../security/roles.js';
import type { Identity, Json } from '../types.js';
import { createApprovalBoard } from './desk-approvals.js';
import { createClaimBook, type DeskAgent, type DeskMember } from './desk-claims.js';
import { deskError, type DeskClientFrame, type DeskQueueItem } from './desk-frames.js';
import type { DeskQueue, DeskQueueEntry } from './desk-queue.js';

/** The desk service. */
export interface DeskService {
  /** An authenticated agent joined; their frames go to `handle`, their departure to `leave`. */
  join(agent: DeskAgent): { handle(frame: Exclude<DeskClientFrame, { type: 'auth' | 'ping' }>): Promise<void>; leave(): void };
  /** Stops timers and subscriptions; conversations stay as they are for the next start. Idempotent. */
  close(): void;
}

/** Arguments of {@link createDeskService}. */
export interface DeskServiceArgs {
  readonly runtime: Runtime;
  readonly desk: DeskQueue;
  readonly clock: Clock;
  readonly logger: Logger;
  /** How long a disconnected agent keeps their conversations and their place on duty. */
  readonly graceMs: number;
  /** Sessions scanned at start for conversations a restart left with an agent or in the queue. */
  readonly sweepLimit?: number;
}

const PREVIEW_CHARS = 160;

/**
 * Creates the service and makes the desk's availability follow the agents on duty.
 *
 * @example
 * ```ts
 * const service = createDeskService({ runtime, desk: agent.desk, clock, logger, graceMs: 30_000 });
 * const member = service.join({ identity, name: 'Sam', send: (f) => ws.send(JSON.stringify(f)) });
 * await member.handle({ type: 'take', sessionId });
 * ```
 */
export function createDeskService(args: DeskServiceArgs): DeskService {
  const { runtime, desk, clock, logger, graceMs } = args;
  const members = new Set<DeskMember>();
  const timers = new Set<unknown>();
  const queueWatch = new Map<string, () => void>();
  const positions = new Map<string, number>();
  const dirtyTenants = new Set<string>();
  /** Duties of agents who left, ending when their grace does (or when the service stops). */
  const leaving = new Set<() => void>();
  let stopped = false;

  const later = (fn: () => void, ms: number): void => {
    const handle = clock.setTimeout(() => {
      timers.delete(handle);
      if (!stopped) fn();
    }, ms);
    timers.add(handle);
  };
  const ofTenant = (tenant: string) => [...members].filter((m) => m.agent.identity.tenant === tenant);
  const audit = (actor: Identity, action: string, target: string, outcome: 'ok' | 'denied' | 'failed', details: Record<string, Json> = {}): Promise<void> =>
    runtime.audit.append({ actor, action, target: `session:${target}`, outcome, details }).then(() => undefined, (err: unknown) => logger.warn({ err, action }, 'desk audit append failed'));

  const claims = createClaimBook({ runtime, clock, logger, graceMs, audit, onEnded: (claim) => refreshTenant(claim.tenant) });
  const approvals = createApprovalBoard({
    runtime,
    changed: (tenant) => {
      const entries = approvals.list(tenant);
      for (const m of ofTenant(tenant)) m.agent.send({ type: 'approvals', entries });
    },
  });

  const queueItems = (tenant: string): DeskQueueItem[] => {
    const now = clock.now();
    return desk.queue(tenant).map((e, i) => {
      const last = [...e.transcript].reverse().find((t) => t.role === 'user')?.text ?? '';
      const preview = last.length > PREVIEW_CHARS ? `${last.slice(0, PREVIEW_CHARS - 1)}…` : last;
      const task = typeof e.summary.taskTitle === 'string' ? e.summary.taskTitle : typeof e.summary.task === 'string' ? e.summary.task : null;
      return {
        sessionId: e.session, user: e.user, reason: e.reason, position: i + 1, queuedAt: e.queuedAt,
        waitingMs: Math.max(0, now - e.queuedAt), task, preview,
      };
    });
  };

  /** Sends `tenant`'s queue to `to`, built once for all of them (and masked once per redactor). */
  const sendQueue = (tenant: string, to: readonly DeskMember[]): void => {
    if (to.length === 0) return;
    const items = queueItems(tenant);
    const agentsOnline = ofTenant(tenant).length;
    const masked = new Map<NonNullable<DeskAgent['redactor']>, DeskQueueItem[]>();
    for (const m of to) {
      const redactor = m.agent.redactor;
      let entries = items;
      if (redactor) {
        entries = masked.get(redactor) ?? items.map((item) => ({ ...item, preview: redactor.text(item.preview) }));
        masked.set(redactor, entries);
      }
      m.agent.send({ type: 'queue', entries, agentsOnline, time: clock.now() });
    }
  };

  /** Queue views and the customers' queue positions, once per tick however many changes. */
  const refreshTenant = (tenant: string): void => {
    if (dirtyTenants.has(tenant) || stopped) return;
    dirtyTenants.add(tenant);
    setImmediate(() => {
      dirtyTenants.delete(tenant);
      if (stopped) return;
      sendQueue(tenant, ofTenant(tenant));
      desk.queue(tenant).forEach((entry, i) => {
        const position = i + 1;
        if (positions.get(entry.session) === position) return;
        const known = positions.has(entry.session);
        positions.set(entry.session, position);
        // The customer learnt their first position from the desk's answer; only moves are news.
        if (known) runtime.send(entry.session, { type: 'handoff.queued', position }).catch((err: unknown) => logger.warn({ err, session: entry.session }, 'queue position update failed'));
      });
    });
  };

  /** Follows a queued session, so one that leaves the queue on its own (cancel, SLA) leaves the desk too. */
  const watchQueued = (session: string): void => {
    if (queueWatch.has(session)) return;
    queueWatch.set(session, runtime.subscribe(session, (frames) => {
      for (const f of frames) {
        if (f.type !== 'handoff' || claims.get(session)) continue;
        if (HANDOFF_ENDED.has(f.status ?? '') || HANDOFF_HELD.has(f.status ?? '')) desk.take(session);
      }
    }));
  };

  const unwatchQueued = (session: string): void => {
    queueWatch.get(session)?.();
    queueWatch.delete(session);
    positions.delete(session);
  };

  /** Nobody of `tenant` is on duty: the requests waiting are answered now instead of at their SLA. */
  const releaseQueue = (tenant: string): void => {
    for (const entry of desk.queue(tenant)) {
      desk.take(entry.session);
      runtime.send(entry.session, { type: 'handoff.unavailable', reason: 'no_agent_online' })
        .catch((err: unknown) => logger.warn({ err, session: entry.session }, 'answering a queued request failed'));
    }
  };

  const stopWatching = desk.watch((change) => {
    if (stopped) return;
    if (change.kind === 'queued' && change.session !== undefined) watchQueued(change.session);
    if (change.kind === 'removed' && change.session !== undefined) unwatchQueued(change.session);
    if (change.kind === 'duty' && desk.staffOf(change.tenant) === 0) releaseQueue(change.tenant);
    refreshTenant(change.tenant);
  });
  desk.requireStaff();
  for (const entry of desk.queue()) watchQueued(entry.session);
  // An erased user's conversation leaves the desk at once: its transcript from the queue, its
  // agent's view, its approval (the runtime has already stopped the session).
  const stopErasures = runtime.decisions.subscribe((e) => {
    if (e.kind !== 'session' || e.reason !== 'erased' || stopped) return;
    desk.take(e.session);
    claims.erased(e.session);
  });

  /** Conversations a previous run left with an agent, in the queue or with a call held for approval are not forgotten. */
  const sweep = (): void => {
    const tenants = new Set<string>();
    const sessions = runtime.listSessions({ limit: args.sweepLimit ?? 10_000 });
    approvals.restore(sessions.filter((s) => s.state.includes('approvals.waiting')));
    for (const s of sessions) {
      if (s.state.includes('handoff.withAgent') && !claims.get(s.sessionId)) {
        later(() => claims.orphaned(s.sessionId), graceMs);
      } else if (s.state.includes('handoff.queued') && !desk.queue(s.tenant).some((q) => q.session === s.sessionId)) {
        desk.restore(restoredEntry(runtime, s.sessionId, s.tenant, s.user, s.seq, s.updatedAt));
        tenants.add(s.tenant);
      }
    }
    for (const tenant of tenants) later(() => {
      if (desk.staffOf(tenant) === 0) releaseQueue(tenant);
    }, graceMs);
  };
  setImmediate(() => {
    if (stopped) return;
    try {
      sweep();
    } catch (err) {
      logger.warn({ err }, 'desk start-up sweep failed');
    }
  });

  const take = async (m: DeskMember, sessionId: string, id?: string): Promise<void> => {
    const who = m.agent.identity;
    const about = { id, sessionId };
    const summary = runtime.describe(sessionId);
    if (!summary) return m.agent.send(deskError('unknown_session', 'no such conversation', about));
    if (summary.tenant !== who.tenant) {
      await audit(who, 'handoff.take', sessionId, 'denied', { rule: 'tenant' });
      return m.agent.send(deskError('forbidden', 'this conversation belongs to another tenant', { ...about, reason: 'tenant' }));
    }
    const held = claims.get(sessionId);
    if (held) {
      if (held.agent.user !== who.user) return m.agent.send(deskError('forbidden', 'another agent has taken this conversation', { ...about, reason: 'taken' }));
      return claims.attach(held, m, id);
    }
    const entry = desk.take(sessionId);
    if (!entry) return m.agent.send(deskError('forbidden', 'this conversation is not waiting for an agent', { ...about, reason: 'not_waiting' }));
    await claims.accept(m, entry, id, () => {
      // Still waiting (the commit failed, not the customer leaving): back in its place.
      if (runtime.describe(sessionId)?.state.includes('handoff.queued')) desk.restore(entry);
    });
  };

  const decide = async (m: DeskMember, frame: Extract<DeskClientFrame, { type: 'approve' | 'reject' }>): Promise<void> => {
    const who = m.agent.identity;
    const about = { id: frame.id, sessionId: frame.sessionId };
    const summary = runtime.describe(frame.sessionId);
    if (!summary) return m.agent.send(deskError('unknown_session', 'no such conversation', about));
    if (!can(who, 'tool.approve', { tenant: summary.tenant })) {
      await audit(who, frame.type === 'approve' ? 'tool.approve' : 'tool.reject', frame.sessionId, 'denied', { rule: summary.tenant !== who.tenant ? 'tenant' : 'role' });
      return m.agent.send(deskError('forbidden', `role '${who.role}' of this tenant may not decide on this call`, about));
    }
    // The approver is the verified agent, never a name from the frame: the tool guard re-checks it.
    // With `call`, the chart decides only that call: never one the agent has not seen.
    const named = frame.call !== undefined ? { call: frame.call } : {};
    const event = frame.type === 'approve'
      ? { type: 'operator.approve', approver: { tenant: who.tenant, user: who.user, role: who.role }, ...named }
      : { type: 'operator.reject', ...(frame.reason ? { reason: frame.reason } : {}), ...named };
    const outcome = await runtime.send(frame.sessionId, event, { as: who });
    // The chart answers the customer when the call was decided; silence means it was not.
    if (!outcome.frames.some((f) => f.type === 'reply')) {
      const waiting = runtime.describe(frame.sessionId)?.state.includes('approvals.waiting') === true;
      const shown = approvals.get(frame.sessionId)?.call;
      const sameCall = frame.call === undefined || shown === undefined || shown === null || shown === frame.call;
      if (waiting && frame.type === 'approve' && sameCall) {
        // The guard refused this approver (their own request, for one): the call waits for another.
        await audit(who, 'tool.approve', frame.sessionId, 'denied', { rule: 'approver', ...(frame.call !== undefined ? { call: frame.call } : {}) });
        return m.agent.send(deskError('forbidden', 'you may not approve this call; it waits for a colleague who may', { ...about, reason: 'approver' }));
      }
      if (waiting) {
        return m.agent.send(deskError('forbidden', 'the call waiting for approval is not the one you decided on: look at the board again', { ...about, reason: 'another_call' }));
      }
      approvals.clear(frame.sessionId);
      return m.agent.send(deskError('forbidden', 'no call of this conversation is waiting for approval', { ...about, reason: 'not_waiting' }));
    }
    approvals.clear(frame.sessionId);
    await audit(who, frame.type === 'approve' ? 'tool.approve' : 'tool.reject', frame.sessionId, 'ok', {
      ...(frame.type === 'reject' && frame.reason ? { reason: frame.reason } : {}),
      ...(frame.call !== undefined ? { call: frame.call } : {}),
    });
    m.agent.send({ type: 'decided', ...(frame.id !== undefined ? { id: frame.id } : {}), sessionId: frame.sessionId, decision: frame.type === 'approve' ? 'approved' : 'rejected' });
  };

  return {
    join(agent) {
      const m: DeskMember = { agent, offDuty: desk.onDuty(agent.identity.tenant) };
      members.add(m);
      const who = agent.identity;
      agent.send({
        type: 'ready',
        agent: { tenant: who.tenant, user: who.user, role: who.role, name: agent.name },
        held: claims.heldBy(who),
        time: clock.now(),
      });
      sendQueue(who.tenant, [m]);
      agent.send({ type: 'approvals', entries: approvals.list(who.tenant) });
      return {
        async handle(frame) {
          if (stopped) return;
          try {
            switch (frame.type) {
              case 'take':
                return await take(m, frame.sessionId, frame.id);
              case 'say':
                return await claims.say(m, frame.sessionId, frame.id, frame.text);
              case 'release':
                return await claims.finish(m, frame.sessionId, 'released', frame.id);
              case 'close':
                return await claims.finish(m, frame.sessionId, 'completed', frame.id, frame.summary);
              case 'approve':
              case 'reject':
                return await decide(m, frame);
            }
          } catch (err) {
            claims.fail(m, err, { id: frame.id, sessionId: frame.sessionId });
          }
        },
        leave() {
          if (!members.delete(m)) return;
          claims.detach(m);
          // Kept on duty a little longer: a reload must not turn customers away.
          leaving.add(m.offDuty);
          later(() => {
            leaving.delete(m.offDuty);
            m.offDuty();
          }, graceMs);
          refreshTenant(who.tenant);
        },
      };
    },
    close() {
      if (stopped) return;
      stopped = true;
      for (const handle of timers) clock.clearTimeout(handle);
      timers.clear();
      stopWatching();
      stopErasures();
      approvals.stop();
      for (const session of [...queueWatch.keys()]) unwatchQueued(session);
      claims.stop();
      // Nobody is on duty through this service any more; being stopped, it answers no queue for it.
      for (const m of members) m.offDuty();
      for (const off of leaving) off();
      members.clear();
      leaving.clear();
    },
  };
}

/** A queue entry rebuilt from the journal for a session that was waiting when the process stopped. */
function restoredEntry(runtime: Runtime, session: string, tenant: string, user: string, seq: number, updatedAt: number): DeskQueueEntry {
  const frames = runtime.replay(session, Math.max(0, seq - 50));
  const reason = [...frames].reverse().find((f) => f.type === 'handoff')?.text || 'user_asked';
  const transcript = frames
    .filter((f) => (f.type === 'ack' || f.type === 'reply') && (f.text ?? '').trim() !== '')
    .map((f) => ({ role: f.type === 'ack' ? 'user' : 'agent', text: f.text ?? '', at: f.time }));
  return { session, tenant, user, reason, transcript, summary: { restored: true }, queuedAt: updatedAt };
}

