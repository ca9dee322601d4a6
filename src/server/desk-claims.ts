/**
 * The claims of the desk: which human agent holds which conversation, what they have read of it,
 * and the commands that act on a held conversation (say, release, close). A claim follows its
 * session's committed frames, so the agent reads the customer live, and ends however the
 * hand-off ends: by the agent, by someone else (an operator), or by the agent's absence.
 */
import { KeelError, forClient } from '../errors.js';
import type { Logger } from '../observe/logger.js';
import { HANDOFF_ENDED, type Clock } from '../ports.js';
import type { Runtime } from '../runtime/runtime.js';
import type { SessionFrame } from '../sessions/session-frames.js';
import type { Identity, Json } from '../types.js';
import { deskError, toDeskLine, type DeskLine, type DeskServerFrame } from './desk-frames.js';
import type { DeskQueueEntry } from './desk-queue.js';

/** A connected, authenticated human agent, as their connection presents them. */
export interface DeskAgent {
  readonly identity: Identity;
  /** The name customers see ("Sam has joined the conversation"). */
  readonly name: string;
  send(frame: DeskServerFrame): void;
  /** Masks personal data in what this agent reads; set for roles without `pii.view`. */
  readonly redactor?: { text(s: string): string; value(v: Json): Json };
}

/** An agent at the desk: their connection and their turn on duty. */
export interface DeskMember {
  readonly agent: DeskAgent;
  readonly offDuty: () => void;
  /** Set when the connection is gone. */
  left?: boolean;
}

/** One conversation held by one agent. */
export interface Claim {
  readonly sessionId: string;
  readonly tenant: string;
  readonly agent: Identity;
  readonly name: string;
  readonly reason: string;
  readonly summary: Readonly<Record<string, Json>>;
  readonly queuedAt: number | undefined;
  /** The connection reading it; undefined while the agent is away. */
  member: DeskMember | undefined;
  /** The highest seq this member has, from the transcript or live lines. */
  sentSeq: number;
  /** The session moved to `withAgent` for this claim. */
  accepted: boolean;
  /** The agent is releasing or closing it (or their absence is). */
  ending?: { readonly status: 'released' | 'completed' | 'ended'; readonly id?: string | undefined; readonly reason?: string };
  grace?: unknown;
  unsubscribe(): void;
  /** `say` ids already sent, with the seq of their reply: a resend is not said twice. */
  readonly said: Map<string, Promise<number>>;
}

/** Arguments of {@link createClaimBook}. */
export interface ClaimBookArgs {
  readonly runtime: Runtime;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly graceMs: number;
  readonly audit: (actor: Identity, action: string, session: string, outcome: 'ok' | 'denied' | 'failed', details?: Record<string, Json>) => Promise<void>;
  /** A claim ended (its agent's queue view and others may need a refresh). */
  readonly onEnded: (claim: Claim) => void;
}

/** Journal frames read for the transcript an agent gets on taking a conversation. */
const JOURNAL_WINDOW = 400;
const MAX_LINES = 200;
const MAX_SAID_IDS = 256;

type About = { id?: string | undefined; sessionId?: string | undefined };

/**
 * Creates the claim book.
 *
 * @example
 * ```ts
 * const claims = createClaimBook({ runtime, clock, logger, graceMs: 30_000, audit, onEnded: () => refresh() });
 * await claims.accept(member, desk.take(sessionId)!, 't1', () => desk.restore(entry));
 * ```
 */
export function createClaimBook(args: ClaimBookArgs) {
  const { runtime, clock, logger } = args;
  const claims = new Map<string, Claim>();

  const notHeld = (m: DeskMember, about: About): void =>
    m.agent.send(deskError('forbidden', 'you do not hold this conversation: take it first', { ...about, reason: 'not_held' }));

  const shown = (m: DeskMember, line: DeskLine): DeskLine => (m.agent.redactor ? { ...line, text: m.agent.redactor.text(line.text) } : line);

  const end = (claim: Claim, status: 'released' | 'completed' | 'ended', reason?: string): void => {
    if (claims.get(claim.sessionId) !== claim) return;
    claims.delete(claim.sessionId);
    claim.unsubscribe();
    if (claim.grace !== undefined) clock.clearTimeout(claim.grace);
    const id = claim.ending?.id;
    claim.member?.agent.send({ type: 'ended', ...(id !== undefined ? { id } : {}), sessionId: claim.sessionId, status, ...(reason ? { reason } : {}) });
    args.onEnded(claim);
  };

  const onFrames = (claim: Claim, frames: readonly SessionFrame[]): void => {
    for (const f of frames) {
      const m = claim.member;
      if (m && f.seq > claim.sentSeq) {
        claim.sentSeq = f.seq;
        const line = toDeskLine(f);
        if (line) m.agent.send({ type: 'line', sessionId: claim.sessionId, ...shown(m, line) });
      }
      // Ended elsewhere (an operator released it, a failure): the agent is told. An ending the
      // agent asked for is finished by that command, after its audit record.
      if (f.type === 'handoff' && claim.accepted && !claim.ending && HANDOFF_ENDED.has(f.status ?? '')) end(claim, 'ended', f.text || f.status);
    }
  };

  /** Gives the conversation to the assistant: the agent did not come back in time. */
  const expire = (claim: Claim): void => {
    claim.grace = undefined;
    if (claims.get(claim.sessionId) !== claim || claim.member) return;
    claim.ending = { status: 'ended', reason: 'agent_disconnected' };
    runtime.send(claim.sessionId, { type: 'handoff.unavailable', reason: 'agent_disconnected' })
      .then(() => args.audit(claim.agent, 'handoff.released', claim.sessionId, 'ok', { why: 'agent_disconnected' }))
      .catch((err: unknown) => logger.warn({ err, session: claim.sessionId }, 'handing a conversation back after a disconnect failed'))
      .finally(() => end(claim, 'ended', 'agent_disconnected'));
  };

  const awaitReturn = (claim: Claim): void => {
    claim.member = undefined;
    if (claim.grace !== undefined) clock.clearTimeout(claim.grace);
    claim.grace = clock.setTimeout(() => expire(claim), args.graceMs);
  };

  const attach = (claim: Claim, m: DeskMember, id?: string): void => {
    if (claims.get(claim.sessionId) !== claim) {
      m.agent.send({ type: 'ended', ...(id !== undefined ? { id } : {}), sessionId: claim.sessionId, status: 'ended' });
      return;
    }
    if (claim.member && claim.member !== m) {
      claim.member.agent.send({ type: 'ended', sessionId: claim.sessionId, status: 'ended', reason: 'opened_elsewhere' });
    }
    claim.member = m;
    if (claim.grace !== undefined) clock.clearTimeout(claim.grace);
    claim.grace = undefined;
    // Synchronous from here to the send: no live frame can slip between journal and subscription.
    const session = runtime.describe(claim.sessionId);
    const frames = runtime.replay(claim.sessionId, Math.max(0, (session?.seq ?? 0) - JOURNAL_WINDOW), m.agent.identity);
    const lines = frames.map(toDeskLine).filter((l): l is DeskLine => l !== undefined).slice(-MAX_LINES);
    claim.sentSeq = Math.max(frames.at(-1)?.seq ?? 0, session?.seq ?? 0);
    const redactor = m.agent.redactor;
    m.agent.send({
      type: 'taken',
      ...(id !== undefined ? { id } : {}),
      sessionId: claim.sessionId,
      user: session?.user ?? '',
      reason: claim.reason,
      summary: redactor ? (redactor.value(claim.summary as Json) as Record<string, Json>) : claim.summary,
      transcript: lines.map((l) => shown(m, l)),
      lastSeq: claim.sentSeq,
      waitedMs: claim.queuedAt === undefined ? null : Math.max(0, clock.now() - claim.queuedAt),
    });
  };

  const heldBy = (m: DeskMember, sessionId: string): Claim | undefined => {
    const claim = claims.get(sessionId);
    return claim && claim.member === m && claim.accepted ? claim : undefined;
  };

  return {
    get: (sessionId: string): Claim | undefined => claims.get(sessionId),
    /** Sessions `who` holds, attached or not. */
    heldBy: (who: Identity): string[] =>
      [...claims.values()].filter((c) => c.agent.tenant === who.tenant && c.agent.user === who.user).map((c) => c.sessionId),
    attach,
    /** Claims `entry` for `m` and tells the session; `onFailed` runs when the commit failed. */
    async accept(m: DeskMember, entry: DeskQueueEntry, id: string | undefined, onFailed: () => void): Promise<void> {
      const who = m.agent.identity;
      const claim: Claim = {
        sessionId: entry.session, tenant: who.tenant, agent: who, name: m.agent.name, reason: entry.reason,
        summary: entry.summary, queuedAt: entry.queuedAt, member: undefined, sentSeq: 0, accepted: false,
        said: new Map(), unsubscribe: () => undefined,
      };
      // Set before anything is awaited: this is what makes a second agent's take fail.
      claims.set(claim.sessionId, claim);
      claim.unsubscribe = runtime.subscribe(claim.sessionId, (frames) => onFrames(claim, frames));
      const drop = (): void => {
        claim.unsubscribe();
        if (claims.get(claim.sessionId) === claim) claims.delete(claim.sessionId);
      };
      let state: string;
      try {
        state = (await runtime.send(claim.sessionId, { type: 'handoff.accepted', agent: claim.name }, { as: who })).state;
      } catch (err) {
        drop();
        onFailed();
        throw err;
      }
      if (!state.includes('handoff.withAgent')) {
        drop();
        m.agent.send(deskError('forbidden', 'this conversation stopped waiting for an agent', { id, sessionId: claim.sessionId, reason: 'not_waiting' }));
        return;
      }
      claim.accepted = true;
      const waitedMs = Math.max(0, clock.now() - entry.queuedAt);
      await args.audit(who, 'handoff.accepted', claim.sessionId, 'ok', { reason: entry.reason, waitedMs });
      if (m.left) awaitReturn(claim);
      else attach(claim, m, id);
    },
    /** Relays the agent's words to the customer; answers `sent` with the reply's seq. */
    async say(m: DeskMember, sessionId: string, id: string, text: string): Promise<void> {
      const claim = heldBy(m, sessionId);
      if (!claim) return notHeld(m, { id, sessionId });
      let pending = claim.said.get(id);
      if (!pending) {
        pending = runtime.send(sessionId, { type: 'handoff.message', text, agent: claim.name }, { as: m.agent.identity }).then((outcome) => {
          const reply = outcome.frames.find((f) => f.type === 'reply' && (f.text ?? '') !== '');
          if (!reply) throw new KeelError('forbidden', 'the conversation is no longer with an agent');
          return reply.seq;
        });
        claim.said.set(id, pending);
        pending.catch(() => claim.said.delete(id));
        if (claim.said.size > MAX_SAID_IDS) claim.said.delete(claim.said.keys().next().value as string);
      }
      m.agent.send({ type: 'sent', id, sessionId, seq: await pending });
    },
    /** Hands the conversation back to the assistant (`released`) or closes it (`completed`). */
    async finish(m: DeskMember, sessionId: string, status: 'released' | 'completed', id?: string, summary?: string): Promise<void> {
      const claim = heldBy(m, sessionId);
      if (!claim) return notHeld(m, { id, sessionId });
      if (claim.ending) return;
      claim.ending = { status, id };
      try {
        await runtime.send(sessionId, status === 'released' ? { type: 'operator.release' } : { type: 'handoff.completed', ...(summary ? { summary } : {}) }, { as: m.agent.identity });
      } catch (err) {
        claim.ending = undefined;
        throw err;
      }
      await args.audit(m.agent.identity, status === 'released' ? 'handoff.released' : 'handoff.completed', sessionId, 'ok', summary ? { summary } : {});
      end(claim, status);
    },
    /** The member's connection is gone: their claims wait `graceMs` for them. */
    detach(m: DeskMember): void {
      m.left = true;
      for (const claim of claims.values()) if (claim.member === m && claim.accepted) awaitReturn(claim);
    },
    /** A session a previous run left with an agent nobody holds now: back to the assistant. */
    orphaned(sessionId: string): void {
      if (claims.has(sessionId) || !runtime.describe(sessionId)?.state.includes('handoff.withAgent')) return;
      runtime.send(sessionId, { type: 'handoff.unavailable', reason: 'agent_disconnected' })
        .catch((err: unknown) => logger.warn({ err, session: sessionId }, 'handing back an orphaned conversation failed'));
    },
    /** The session's user was erased: the agent holding it is told, and nothing is sent to it. */
    erased(sessionId: string): void {
      const claim = claims.get(sessionId);
      if (claim) end(claim, 'ended', 'erased');
    },
    /** Reports a failed command to its agent. */
    fail(m: DeskMember, err: unknown, about: About): void {
      const { code, message, logged } = forClient(err);
      if (logged) logger.error({ err }, 'desk command failed');
      m.agent.send(deskError(code, message, about));
    },
    stop(): void {
      for (const claim of claims.values()) {
        claim.unsubscribe();
        if (claim.grace !== undefined) clock.clearTimeout(claim.grace);
      }
      claims.clear();
    },
  };
}

/** The claim book of a desk service. */
export type ClaimBook = ReturnType<typeof createClaimBook>;
