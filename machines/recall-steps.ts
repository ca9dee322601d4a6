/**
 * Steps of recall: what the agent remembers about the user is used in the turn. After routing,
 * the `recallMemory` actor returns the user's structured context (facts learnt in earlier
 * sessions, on any channel) and the memories closest to the message. Then, in this order:
 *
 * 1. A question about a remembered value ("what was my order number again?") is answered from the
 *    context, saying when it was learnt; while the agent is asking for exactly that value, the
 *    value fills the slot instead.
 * 2. A question about what the user said before ("what did I tell you about the boots?") is
 *    answered by quoting the closest memories, or by saying there are none.
 * 3. A reference to a past value ("same address as last time", "my last order") fills the slot
 *    being asked for, or is replaced by the value in the text a new task reads its slots from.
 *
 * Every turn with a search leaves a `recall` decision with the memories found and their scores,
 * the facts known, and what was used. Everything here is pure: the actor did the reading.
 */
import type { Json } from '../src/types.js';
import type { AgentContext, Verdict } from './agent-context.js';
import type { AgentEvent } from './agent-events.js';
import { outputOf } from './agent-setup.js';
import type { OpenTaskNote, RecallInput, RecallOutput, RecalledFact, RecalledMemory } from './recall-contracts.js';
import { NO_RECALL } from './recall-contracts.js';
import { taskForIntent, taskNamed, type ResolvedAgentSpec } from './resolve-agent-spec.js';
import { step, type StepResult } from './step.js';

/** A slot whose value the user's context may hold (facts are keyed by slot name). */
interface RememberedSlot {
  readonly name: string;
  /** How users name it, longest first ("order number", "order"). */
  readonly labels: readonly string[];
  /** A question about its value: "what was my order number again?". */
  readonly question: RegExp;
  /** A reference to its earlier value: "the same address as last time", "my last order". */
  readonly reference: RegExp;
}

/** What a recall answered, for the reply and the trace. */
interface RecallAnswer {
  readonly text: string;
  readonly reason: 'answered_from_context' | 'answered_from_memories' | 'nothing_recalled';
  readonly used: Record<string, Json>;
}

const escape = (word: string) => word.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/\s+/g, '\\s+');

/** "Same as last time", "the usual", "as before": a reference to the value being asked for. */
const SAME_AS_BEFORE = /^\s*(?:(?:just|please|yes|ok(?:ay)?)[\s,]+)*(?:use\s+)?(?:the\s+)?(?:same(?:\s+one)?(?:\s+as\s+(?:last\s+time|before|previously|the\s+last\s+time))?|as\s+before|like\s+last\s+time|(?:my\s+)?usual(?:\s+one)?)\s*(?:please|again|thanks?)?\s*[.!]*\s*$/i;
/** A question about what the user said in earlier conversations. */
const MEMORY_QUESTION = /\b(?:what|anything)\s+(?:did|have|had)\s+i\s+(?:say|said|tell|told|mention(?:ed)?|write|written|ask(?:ed)?)\b|\bremind\s+me\s+what\s+i\b|\bwhat\s+(?:was|were)\s+we\s+(?:talking|discussing)\b/i;
/** A message that refers to earlier conversations ("like I said last time", "the jacket I mentioned before"). */
const PAST_REFERENCE = /\b(?:last\s+time|before|earlier|previously|again|the\s+other\s+day|i\s+(?:said|told\s+you|mentioned)|remember)\b/i;
/** A message in which the user tells something about themselves worth remembering. */
const SELF_DISCLOSURE = /\b(?:i\s+am|i'm|im|i\s+have|i've|i\s+prefer|i\s+(?:really\s+)?(?:like|love|hate|need|want\s+you\s+to\s+know)|i\s+don'?t\s+(?:like|want|eat|wear)|my\s+\w+(?:\s+\w+)?\s+(?:is|are|was)|allergic|please\s+remember|remember\s+that|always|never|usually)\b/i;
/** Words of a memory question that carry nothing to search for. */
const QUESTION_NOISE = /\b(?:you|about|last\s+time|before|earlier|previously|again|me|the\s+other\s+day)\b/gi;

const day = (time: number) => new Date(time).toISOString().slice(0, 10);
const show = (value: Json): string => (typeof value === 'string' ? value : typeof value === 'number' || typeof value === 'boolean' ? String(value) : JSON.stringify(value));
const quote = (text: string, max: number) => {
  const t = text.replace(/\s+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
};
const words = (text: string) => text.trim().split(/\s+/).filter(Boolean).length;

/** Accepts only a well-formed actor output (actors are code too, and their output is persisted). */
function wellFormed(value: unknown): RecallOutput {
  const o = value as Partial<RecallOutput> | null;
  if (o === null || typeof o !== 'object' || o.enabled !== true) return NO_RECALL;
  const record = (x: unknown) => (x !== null && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, never>) : {});
  const facts: Record<string, RecalledFact> = {};
  for (const [key, fact] of Object.entries(record(o.facts))) {
    const f = fact as Partial<RecalledFact> | null;
    if (f && typeof f === 'object' && f.value !== undefined && typeof f.time === 'number') {
      facts[key] = { value: f.value, time: f.time, confidence: typeof f.confidence === 'number' ? f.confidence : 1, session: typeof f.session === 'string' ? f.session : null, channel: typeof f.channel === 'string' ? f.channel : null };
    }
  }
  const memories = (Array.isArray(o.memories) ? o.memories : []).filter(
    (m): m is RecalledMemory => typeof m?.id === 'string' && typeof m.text === 'string' && typeof m.score === 'number' && typeof m.time === 'number',
  );
  return {
    enabled: true,
    facts,
    preferences: record(o.preferences),
    profile: record(o.profile),
    memories,
    searched: o.searched === true,
    remembered: o.remembered === true,
    decisions: Array.isArray(o.decisions) ? o.decisions : [],
  };
}

/**
 * Creates the recall steps of an agent.
 *
 * @example
 * ```ts
 * const recall = createRecallSteps(spec);
 * invoke: { src: 'recallMemory', input: ({ context }) => recall.recallInput(context), onDone: { actions: kit.act(recall.recalled) } }
 * ```
 */
export function createRecallSteps(spec: ResolvedAgentSpec) {
  const max = spec.policies.maxTranscriptEntries;
  const quiet = new Set<string>([...Object.values(spec.control), ...Object.keys(spec.smalltalk)]);

  const slots: RememberedSlot[] = [];
  for (const task of spec.tasks) {
    for (const slot of task.slots) {
      if (slots.some((s) => s.name === slot.name)) continue;
      const spaced = slot.name.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase();
      const labels = [...new Set([...(slot.aliases ?? []), spaced].map((l) => l.toLowerCase()))].sort((a, b) => b.length - a.length);
      const any = labels.map(escape).join('|');
      const tail = String.raw`(?:\s+(?:again|from\s+(?:last\s+time|before)|last\s+time|before|on\s+file|you\s+have|i\s+gave(?:\s+you)?|i\s+used|i\s+told\s+you))*\s*[?.!]*\s*$`;
      slots.push({
        name: slot.name,
        labels,
        question: new RegExp(
          String.raw`(?:\b(?:what|which)(?:'s|\s+is|\s+was|\s+were)?\s+(?:my|the)\s+(${any})${tail})` +
            String.raw`|(?:\bremind\s+me\s+(?:of\s+|about\s+)?(?:my|the)\s+(${any})\b)` +
            String.raw`|(?:\b(?:do\s+you\s+(?:remember|know|have)|did\s+i\s+(?:give|tell)\s+you)\s+(?:my|the)\s+(${any})\b)` +
            String.raw`|(?:\bwhich\s+(${any})\s+did\s+i\b)`,
          'i',
        ),
        reference: new RegExp(
          String.raw`\b(?:(?:my|the)\s+)?(?:same|usual|previous|last|old|earlier)\s+(?:${any})(?:\s+(?:as|like)\s+(?:last\s+time|before|previously|the\s+last\s+time))?\b` +
            String.raw`|\b(?:my|the)\s+(?:${any})\s+(?:from|as|like)\s+(?:last\s+time|before)\b`,
          'i',
        ),
      });
    }
  }

  /** The remembered slot a message asks about, with the words the user used for it. */
  const askedAbout = (text: string): { slot: RememberedSlot; label: string } | undefined => {
    for (const slot of slots) {
      const m = slot.question.exec(text);
      const label = m?.slice(1).find((g) => g !== undefined);
      if (m && label) return { slot, label: label.toLowerCase().replace(/\s+/g, ' ') };
    }
    return undefined;
  };

  const provenance = (ctx: AgentContext, fact: RecalledFact) => {
    const where = fact.channel && fact.channel !== ctx.channel ? ` via ${fact.channel}` : '';
    return fact.session === ctx.session ? '' : ` (from our conversation on ${day(fact.time)}${where})`;
  };

  /** This session's unfinished work, as the user's context keeps it. */
  const openTasks = (ctx: AgentContext): OpenTaskNote[] => {
    const notes: OpenTaskNote[] = [];
    const a = ctx.awaiting;
    if (ctx.active && ctx.active.outcome === undefined) {
      const state = a?.kind === 'slot' ? `collecting:${a.slot}` : a?.kind === 'confirm_task' ? 'confirming' : 'in_progress';
      notes.push({ id: `${ctx.session}:${ctx.active.task}`, kind: ctx.active.task, state, data: ctx.active.slots });
    }
    for (const s of ctx.suspended) notes.push({ id: `${ctx.session}:${s.frame.task}`, kind: s.frame.task, state: 'suspended', data: s.frame.slots });
    return notes.filter((n, i) => notes.findIndex((m) => m.id === n.id) === i);
  };

  /** What recall answers by itself, or undefined when the turn goes on to the triage. */
  const answerOf = (ctx: AgentContext, out: RecallOutput): RecallAnswer | undefined => {
    if (!out.enabled) return undefined;
    const text = ctx.turn?.text ?? '';
    const asked = askedAbout(text);
    if (asked) {
      const fact = out.facts[asked.slot.name];
      // Asked while the agent waits for that very value: it fills the slot (see `recalled`).
      if (!fact || (ctx.awaiting?.kind === 'slot' && ctx.awaiting.slot === asked.slot.name)) return undefined;
      return {
        text: `Your ${asked.label} is ${show(fact.value)}${provenance(ctx, fact)}.`,
        reason: 'answered_from_context',
        used: { fact: asked.slot.name, learntAt: fact.time, session: fact.session, channel: fact.channel },
      };
    }
    if (MEMORY_QUESTION.test(text)) {
      const hits = out.memories.filter((m) => m.text.trim() !== text.trim()).slice(0, 2);
      if (hits.length === 0) return { text: "I don't have anything about that from our earlier conversations.", reason: 'nothing_recalled', used: {} };
      const quotes = hits.map((h) => `"${quote(h.text, 200)}" (${day(h.time)})`).join(' and ');
      return { text: `Here is what I have from earlier: ${quotes}.`, reason: 'answered_from_memories', used: { memories: hits.map((h) => h.id) } };
    }
    return undefined;
  };

  /** The trace data of a recall: what was searched, found (with scores) and known. */
  const traceData = (out: RecallOutput, used: Record<string, Json>): Record<string, Json> => ({
    searched: out.searched,
    hits: out.memories.map((m) => ({ id: m.id, kind: m.kind, score: Math.round(m.score * 1000) / 1000, time: m.time, text: quote(m.text, 120) })),
    facts: Object.keys(out.facts),
    remembered: out.remembered,
    used,
  });

  /** Replaces a reference to a remembered value with the value, so the task's extractors read it. */
  const resolveReferences = (ctx: AgentContext, out: RecallOutput, verdict: Verdict): { text: string; resolved: Record<string, Json> } | undefined => {
    const task = taskForIntent(spec, verdict.intent);
    let text = verdict.text ?? ctx.turn?.text ?? '';
    const resolved: Record<string, Json> = {};
    for (const slot of slots) {
      const fact = out.facts[slot.name];
      if (!fact || !task?.slots.some((s) => s.name === slot.name) || !slot.reference.test(text)) continue;
      text = text.replace(slot.reference, `${slot.labels[slot.labels.length - 1]} ${show(fact.value)}`);
      resolved[slot.name] = fact.value;
    }
    return Object.keys(resolved).length > 0 ? { text, resolved } : undefined;
  };

  return {
    /** Input of the recall actor for the current turn. */
    recallInput(ctx: AgentContext): RecallInput {
      const text = ctx.turn?.text ?? '';
      const route = ctx.route;
      const top = route && !route.outOfScope && (route.confidence === 'confident' || route.confidence === 'low_confidence') ? route.ranked[0] : undefined;
      const asksMemory = MEMORY_QUESTION.test(text);
      const query = asksMemory ? text.replace(MEMORY_QUESTION, ' ').replace(QUESTION_NOISE, ' ').replace(/\s+/g, ' ').trim() : text;
      const quietIntent = top !== undefined && quiet.has(top.intent);
      return {
        text,
        // Searching by meaning costs an embedding and a round trip to the index worker: only a
        // message that asks about the past is searched; remembered facts are read every turn.
        query: (asksMemory || PAST_REFERENCE.test(text)) && words(query) >= (asksMemory ? 1 : 3) && !quietIntent ? query : '',
        key: ctx.turn?.key ?? `${ctx.session}:recall`,
        identity: ctx.identity,
        session: ctx.session,
        channel: ctx.channel,
        // The intent history keeps requests, not "yes", "thanks" or "hello".
        intent: top && !quietIntent ? top.intent : null,
        intentScore: top && !quietIntent ? Math.round(top.score * 1000) / 1000 : null,
        // Kept: what the user says about themselves ("I'm allergic to wool"), and longer messages
        // no intent covers. Requests are not: the tools' confirmed arguments become facts and the
        // intent history keeps what was asked, so embedding every request would only cost time.
        keep: words(text) >= 4 && !asksMemory && askedAbout(text) === undefined && (SELF_DISCLOSURE.test(text) || (top === undefined && words(text) >= 6)),
        openTasks: openTasks(ctx),
      };
    },
    /** True when recall answers the message by itself (the chart skips the triage). */
    answers(ctx: AgentContext, event: AgentEvent): boolean {
      return answerOf(ctx, wellFormed(outputOf<unknown>(event))) !== undefined;
    },
    /** Says what recall found: a remembered value, or what the user said earlier. */
    answer(ctx: AgentContext, event: AgentEvent): StepResult {
      const out = wellFormed(outputOf<unknown>(event));
      const s = step(ctx, max).notes(out.decisions);
      const a = answerOf(ctx, out);
      if (!a) return s.done();
      return s
        .set({ misses: 0 })
        .decide('recall', a.reason, traceData(out, a.used))
        .say(a.text, { source: 'memory' })
        .done();
    },
    /**
     * Uses what recall found in the triage's verdict: a remembered value fills the slot being
     * asked for, or replaces a reference in the text of a task being started.
     */
    recalled(ctx: AgentContext, event: AgentEvent): StepResult {
      const out = wellFormed(outputOf<unknown>(event));
      const s = step(ctx, max).notes(out.decisions);
      if (!out.enabled) return s.done();
      const text = ctx.turn?.text ?? '';
      const a = ctx.awaiting;
      let reason = out.memories.length > 0 ? 'recalled' : 'nothing_recalled';
      let used: Record<string, Json> = {};
      if (a?.kind === 'slot' && ctx.active) {
        const slot = slots.find((sl) => sl.name === a.slot);
        const fact = out.facts[a.slot];
        const asked = askedAbout(text);
        const refers = slot !== undefined && (slot.reference.test(text) || SAME_AS_BEFORE.test(text) || asked?.slot.name === a.slot);
        if (fact && refers && taskNamed(spec, ctx.active.task)?.slots.some((sl) => sl.name === a.slot)) {
          s.set({ verdict: { kind: 'fillSlot', slot: a.slot, value: fact.value }, misses: 0 });
          if (asked) s.say(`Your ${asked.label} from last time is ${show(fact.value)}.`, { source: 'memory' });
          reason = 'slot_from_context';
          used = { slot: a.slot, fact: a.slot, learntAt: fact.time, session: fact.session, channel: fact.channel };
        }
      } else if (ctx.verdict?.kind === 'startTask') {
        const r = resolveReferences(ctx, out, ctx.verdict);
        if (r) {
          s.set({ verdict: { ...ctx.verdict, text: r.text } });
          reason = 'reference_resolved';
          used = { task: ctx.verdict.intent ?? null, slots: Object.keys(r.resolved) };
        }
      }
      if (!out.searched && Object.keys(used).length === 0) return s.done();
      return s.decide('recall', reason, traceData(out, used)).done();
    },
    /** The recall actor failed: the turn goes on without memory, and the trace says so. */
    recallFailed(ctx: AgentContext, event: AgentEvent): StepResult {
      const error = (event as { error?: unknown }).error;
      return step(ctx, max).decide('fallback', 'recall_failed', { message: error instanceof Error ? error.message.slice(0, 200) : 'recall failed', to: 'no_memory' }).done();
    },
  };
}
