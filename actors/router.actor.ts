/**
 * The router actor: ranks the intents of a message with the LLM when one is configured, falling
 * back to the local router, and adds what the orchestration needs: the confidence reading, the
 * routed clauses of a multi-request message, and the local sentiment score.
 */
import { fromPromise } from 'xstate';
import type { LlmClient, RouteResult, Router } from '../src/ports.js';
import { routeConfidence } from '../src/routing/route-confidence.js';
import type { DecisionNote, RouteInput, RouteOutput, RoutedClause } from '../machines/actor-contracts.js';
import { splitClauses } from './clause-splitter.js';
import { budgetExceededNote, budgetedLlm, isBudgetExceeded, type TokenBudget } from './llm-budget.js';
import { collectLlmDecisions, fromLocalRung } from './llm-decisions.js';
import { createLlmRouter, type IntentChoice } from './llm-router.js';
import { scoreSentiment } from './sentiment-lexicon.js';

/** Options of {@link createRouterActor}. */
export interface RouterActorOptions {
  /** The router every message goes through (the local one, usually). Required. */
  readonly router: Router;
  /** An LLM to route with first; its failures fall back to `router`. Default none. */
  readonly llm?: LlmClient;
  /** Intents the LLM may choose; required for LLM routing. Default none. */
  readonly intents?: readonly IntentChoice[];
  /** Route with the LLM when one is given. Default true. */
  readonly routeWithLlm?: boolean;
  /** Split messages into clauses for multi-intent detection. Default true. */
  readonly detectClauses?: boolean;
  /** Most clauses routed per message. Default 4. */
  readonly maxClauses?: number;
  /** The per-session LLM token budget; a session past it is routed locally. Default none. */
  readonly tokenBudget?: TokenBudget;
}

const round = (x: number) => Math.round(x * 1000) / 1000;

function toOutput(result: RouteResult, clauses: RoutedClause[], sentiment: number, decisions: DecisionNote[]): RouteOutput {
  return {
    ranked: result.ranked.map((r) => ({ intent: r.intent, score: round(r.score) })),
    outOfScope: result.outOfScope,
    ...(result.outOfScopeReason ? { outOfScopeReason: result.outOfScopeReason } : {}),
    thresholds: { ...result.thresholds },
    source: result.source,
    confidence: routeConfidence(result),
    clauses,
    sentiment,
    decisions,
  };
}

/**
 * Creates the `routeMessage` actor logic.
 *
 * @example
 * ```ts
 * const machine = createAgentMachine(spec).provide({
 *   actors: { routeMessage: createRouterActor({ router: localRouter, llm, intents }) },
 * });
 * ```
 */
export function createRouterActor(options: RouterActorOptions) {
  if (typeof options?.router?.route !== 'function') throw new TypeError('option router must implement route(text)');
  const maxClauses = options.maxClauses ?? 4;
  if (!Number.isInteger(maxClauses) || maxClauses < 1) throw new TypeError('option maxClauses must be an integer ≥ 1');
  const useLlm = options.llm !== undefined && (options.routeWithLlm ?? true) && (options.intents?.length ?? 0) > 0;
  const detectClauses = options.detectClauses ?? true;
  const llmRouter = useLlm && options.intents ? createLlmRouter(options.intents) : undefined;

  return fromPromise<RouteOutput, RouteInput>(async ({ input, signal }) => {
    const text = typeof input?.text === 'string' ? input.text : '';
    const decisions: DecisionNote[] = [];
    const local = await options.router.route(text, signal);
    let result = local;
    if (llmRouter && options.llm && local.outOfScopeReason !== 'empty_input') {
      try {
        const observed = collectLlmDecisions(options.llm, decisions);
        // A chart that does not name its session routes with the model unbudgeted.
        const client = typeof input?.session === 'string' && input.session !== '' ? budgetedLlm(observed, options.tokenBudget, input.session) : observed;
        const routed = await llmRouter.route(client, text, local.thresholds, signal);
        if (routed && !fromLocalRung(routed.provider)) result = routed.result;
        else decisions.push({ kind: 'fallback', reason: 'llm_route_unusable', data: { to: local.source } });
      } catch (err) {
        if (isBudgetExceeded(err)) decisions.push(budgetExceededNote(options.tokenBudget, { to: local.source }));
        else decisions.push({ kind: 'fallback', reason: 'llm_route_failed', data: { to: local.source, message: err instanceof Error ? err.message.slice(0, 200) : 'failed' } });
      }
    }
    const clauses: RoutedClause[] = [];
    if (detectClauses) {
      const parts = splitClauses(text, maxClauses);
      if (parts.length > 1) {
        for (const part of parts) {
          const r = await options.router.route(part, signal);
          const top = r.ranked[0];
          clauses.push({ text: part, intent: top?.intent ?? '', score: round(top?.score ?? 0), confidence: routeConfidence(r) });
        }
      }
    }
    return toOutput(result, clauses, scoreSentiment(text), decisions);
  });
}
