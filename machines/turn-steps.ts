/**
 * Steps of a turn's start: record the message, read the router's verdict, and pick the pattern.
 * The `route` decision of every message carries the candidates, their scores, the thresholds,
 * what was chosen and the pattern that applied.
 */
import type { UserMessageEvent } from '../src/ports.js';
import type { Json } from '../src/types.js';
import type { RouteInput, RouteOutput } from './actor-contracts.js';
import type { AgentContext, Verdict, VerdictKind } from './agent-context.js';
import type { AgentEvent } from './agent-events.js';
import { outputOf } from './agent-setup.js';
import type { ResolvedAgentSpec } from './resolve-agent-spec.js';
import { triage } from './route-triage.js';
import { step, withUserLine, type StepResult } from './step.js';
import { renderTemplate } from './template.js';

/** The pattern each verdict stands for, for the trace (see {@link patternOf} for the ones that depend on context). */
const PATTERN_OF: Readonly<Partial<Record<VerdictKind, string>>> = Object.freeze({
  confirmIntent: 'P1',
  rephrase: 'P3',
  clarify: 'P2',
  reprompt: 'P4',
  escalate: 'P4',
  outOfScope: 'P5',
  startTask: 'task',
  resume: 'P7',
  dropResume: 'P7',
  cancel: 'P13',
  correct: 'P13',
  askCorrection: 'P13',
  handoff: 'P8',
  offerHuman: 'P8',
  plan: 'P11',
  question: 'grounded_answer',
});

/**
 * The catalogue pattern a verdict stands for in this context: a question or small talk while a
 * task is open is a digression (P6), a new task over an open one an interruption (P7), a human
 * offered for sustained negative sentiment is P14.
 *
 * @example
 * ```ts
 * patternOf({ kind: 'question' }, ctxWithOpenTask); // 'P6'
 * ```
 */
function patternOf(verdict: Verdict, ctx: Pick<AgentContext, 'active'>): string {
  const open = ctx.active !== null && ctx.active.outcome === undefined;
  if ((verdict.kind === 'question' || verdict.kind === 'smalltalk') && open) return 'P6';
  if (verdict.kind === 'startTask' && open) return 'P7';
  if (verdict.kind === 'offerHuman' && verdict.reason === 'negative_sentiment') return 'P14';
  return PATTERN_OF[verdict.kind] ?? verdict.kind;
}

/** Verdicts that are a miss (P4) and verdicts that are progress (they reset the count). */
const MISSES = new Set<VerdictKind>(['reprompt', 'outOfScope', 'rephrase']);
const PROGRESS = new Set<VerdictKind>(['fillSlot', 'startTask', 'confirmTask', 'question', 'smalltalk', 'plan', 'resume', 'correct', 'handoff', 'ticket', 'callback']);

/** A route that says "I don't know", used when the router itself failed. */
function unroutable(reason: string): RouteOutput {
  return {
    ranked: [],
    outOfScope: true,
    outOfScopeReason: reason,
    thresholds: { outOfScope: 1, lowConfidence: 1, closeMargin: 0 },
    source: 'none',
    confidence: 'out_of_scope',
    clauses: [],
    sentiment: 0,
    decisions: [],
  };
}

/** Accepts only a well-formed route (actors are code too, and their output is persisted). */
function wellFormed(r: unknown): RouteOutput | undefined {
  const x = r as Partial<RouteOutput> | null;
  if (x === null || typeof x !== 'object' || !Array.isArray(x.ranked) || typeof x.confidence !== 'string' || typeof x.thresholds !== 'object') return undefined;
  return {
    ...(x as RouteOutput),
    ranked: x.ranked.filter((c) => typeof c?.intent === 'string' && typeof c.score === 'number'),
    clauses: Array.isArray(x.clauses) ? x.clauses : [],
    sentiment: typeof x.sentiment === 'number' && Number.isFinite(x.sentiment) ? x.sentiment : 0,
    decisions: Array.isArray(x.decisions) ? x.decisions : [],
  };
}

/**
 * Creates the turn steps of an agent.
 *
 * @example
 * ```ts
 * const turn = createTurnSteps(spec);
 * kit.act(turn.beginTurn);
 * ```
 */
export function createTurnSteps(spec: ResolvedAgentSpec) {
  const p = spec.policies;
  const max = p.maxTranscriptEntries;

  const decideRoute = (ctx: AgentContext, route: RouteOutput, failed?: string): StepResult => {
    const negativeTurns = route.sentiment <= p.negativeSentimentThreshold ? ctx.negativeTurns + 1 : 0;
    const verdict = triage({ ...ctx, negativeTurns }, route, spec);
    const misses = MISSES.has(verdict.kind) ? ctx.misses + 1 : PROGRESS.has(verdict.kind) ? 0 : ctx.misses;
    const s = step(ctx, max).set({ route, verdict, negativeTurns, misses }).notes(route.decisions);
    // The first words after a park welcome the user back, whatever they asked.
    if (ctx.parked) s.say(renderTemplate(spec.replies.welcomeBack, {})).set({ parked: false });
    if (failed !== undefined) s.decide('fallback', 'router_failed', { message: failed, to: 'out_of_scope' });
    if (negativeTurns > ctx.negativeTurns) {
      s.decide('signal', 'negative_sentiment', { pattern: 'P14', sentiment: route.sentiment, threshold: p.negativeSentimentThreshold, negativeTurns, maxNegativeTurns: p.maxNegativeTurns });
    }
    const data: Record<string, Json> = {
      pattern: patternOf(verdict, ctx),
      confidence: route.confidence,
      candidates: route.ranked.slice(0, 3).map((c) => ({ intent: c.intent, score: Math.round(c.score * 1000) / 1000 })),
      thresholds: route.thresholds,
      source: route.source,
      chosen: verdict.intent ?? verdict.options ?? null,
      awaiting: ctx.awaiting?.kind ?? null,
      misses,
    };
    if (route.outOfScopeReason !== undefined) data.outOfScopeReason = route.outOfScopeReason;
    if (route.clauses.length > 0) data.clauses = route.clauses.map((c) => ({ intent: c.intent, score: Math.round(c.score * 1000) / 1000, confidence: c.confidence }));
    if (verdict.reason !== undefined) data.reason = verdict.reason;
    return s.decide('route', verdict.kind, data).done();
  };

  return {
    /** Input of the router: the turn's text, and the session for its LLM token budget. */
    routeInput(ctx: AgentContext): RouteInput {
      return { text: ctx.turn?.text ?? '', session: ctx.session };
    },
    /** Records the message and opens the turn (idempotency keys use its `turnKey`). */
    beginTurn(ctx: AgentContext, event: AgentEvent): StepResult {
      const e = event as Partial<UserMessageEvent>;
      const text = typeof e.text === 'string' ? e.text : '';
      const at = typeof e.at === 'number' ? e.at : (ctx.turn?.at ?? 0);
      return step(ctx, max)
        .set({
          turn: { key: typeof e.turnKey === 'string' ? e.turnKey : `${ctx.session}:${at}`, messageId: typeof e.messageId === 'string' ? e.messageId : '', at, text, toolCalls: 0 },
          transcript: withUserLine(ctx, text, at, max),
          verdict: null,
        })
        .done();
    },
    /** Reads the router's output and picks the verdict. */
    routed(ctx: AgentContext, event: AgentEvent): StepResult {
      const route = wellFormed(outputOf<unknown>(event));
      return route ? decideRoute(ctx, route) : decideRoute(ctx, unroutable('router_failed'), 'malformed router output');
    },
    /** The router failed: the message is treated as out of scope (P5), never guessed. */
    routeFailed(ctx: AgentContext, event: AgentEvent): StepResult {
      const error = (event as { error?: unknown }).error;
      return decideRoute(ctx, unroutable('router_failed'), error instanceof Error ? error.message : 'router failed');
    },
  };
}
