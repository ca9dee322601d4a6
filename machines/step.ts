/**
 * A step: the pure heart of each chart action. It reads the context, proposes a new context and
 * what to emit (replies, decisions, hand-off updates). Chart actions apply steps with
 * `enqueue.assign` and `enqueue.emit`, so the logic stays testable without an actor.
 */
import type { AgentEmitted, DecisionKind, HandoffStatus } from '../src/ports.js';
import type { Json } from '../src/types.js';
import type { DecisionNote } from './actor-contracts.js';
import type { AgentContext, TranscriptEntry } from './agent-context.js';

/** What a step produces. */
export interface StepResult {
  readonly patch: Partial<AgentContext>;
  readonly emits: AgentEmitted[];
}

/** Builds one step's result. */
export interface Step {
  /** The context as changed so far by this step. */
  readonly ctx: AgentContext;
  set(patch: Partial<AgentContext>): Step;
  /** Says something to the customer (also kept in the transcript). Empty text is skipped. */
  say(text: string, meta?: Record<string, Json>): Step;
  /** Records a decision with its reason and data (candidates, scores, thresholds, chosen...). */
  decide(kind: DecisionKind, reason: string, data?: Record<string, Json>): Step;
  /** Emits decisions an actor carried back. */
  notes(notes: readonly DecisionNote[] | undefined): Step;
  /** Emits a hand-off status update (a `handoff` frame for the client). */
  handoff(status: HandoffStatus, reason: string, meta?: Record<string, Json>): Step;
  /** Emits a relayed message without a transcript entry of the agent's own. */
  emitRaw(event: AgentEmitted): Step;
  done(): StepResult;
}

/**
 * Starts a step over `ctx`; `maxTranscript` bounds the transcript kept for a human.
 *
 * @example
 * ```ts
 * const { patch, emits } = step(ctx, 30).say('Hello!').decide('reply', 'greeting').done();
 * ```
 */
export function step(ctx: AgentContext, maxTranscript: number): Step {
  let current = ctx;
  const patch: Partial<AgentContext> = {};
  const emits: AgentEmitted[] = [];
  const apply = (p: Partial<AgentContext>) => {
    current = { ...current, ...p };
    Object.assign(patch, p);
  };
  const at = () => current.turn?.at ?? 0;
  const record = (entry: TranscriptEntry) => apply({ transcript: appendBounded(current.transcript, entry, maxTranscript) });
  const api: Step = {
    get ctx() {
      return current;
    },
    set(p) {
      apply(p);
      return api;
    },
    say(text, meta) {
      if (text.trim() === '') return api;
      emits.push(meta ? { type: 'agent.reply', text, meta } : { type: 'agent.reply', text });
      const from = meta?.from;
      record({ role: from === 'operator' || from === 'human' ? from : 'agent', text, at: at() });
      return api;
    },
    decide(kind, reason, data = {}) {
      emits.push({ type: 'agent.decision', kind, reason, data });
      return api;
    },
    notes(notes) {
      for (const n of notes ?? []) emits.push({ type: 'agent.decision', kind: n.kind, reason: n.reason, data: n.data });
      return api;
    },
    handoff(status, reason, meta) {
      emits.push({ type: 'agent.handoff', status, reason, ...(meta ? { meta } : {}) });
      return api;
    },
    emitRaw(event) {
      emits.push(event);
      if (event.type === 'agent.reply' && event.text.trim() !== '') {
        record({ role: event.meta?.from === 'operator' ? 'operator' : 'human', text: event.text, at: at() });
      }
      return api;
    },
    done: () => ({ patch, emits }),
  };
  return api;
}

/** The transcript with `entry` appended, keeping the last `maxTranscript` entries. */
function appendBounded(transcript: readonly TranscriptEntry[], entry: TranscriptEntry, maxTranscript: number): TranscriptEntry[] {
  const next = [...transcript, entry];
  return next.length > maxTranscript ? next.slice(next.length - maxTranscript) : next;
}

/** Records a user message in the transcript (bounded). */
export function withUserLine(ctx: AgentContext, text: string, at: number, maxTranscript: number): TranscriptEntry[] {
  return appendBounded(ctx.transcript, { role: 'user', text: text.slice(0, 2000), at }, maxTranscript);
}
