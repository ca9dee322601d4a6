/**
 * Runs one tool call the way every call must run: the tool guard first (identity from the
 * session, only the tools the state allows), then the effect ledger under the idempotency key,
 * a circuit breaker per tool and a timeout per attempt (cockatiel). It never throws: the outcome
 * says what happened and, for a failure, the backoff (with jitter) before the next attempt. The
 * retry itself is a state of the chart (`task.retrying`), so each rung of the ladder is visible.
 */
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleAll,
  timeout,
  type CircuitBreakerPolicy,
} from 'cockatiel';
import { isKeelError } from '../src/errors.js';
import type { EffectLedger, GuardDecision, ToolContext, ToolGuard } from '../src/ports.js';
import type { Identity, Json, SessionId } from '../src/types.js';
import type { SessionIdentity, ToolCallInput, ToolOutcome } from '../machines/actor-contracts.js';

/** What a tool implementation receives besides its arguments. */
export interface ToolRunContext {
  readonly identity: Identity;
  readonly session: SessionId;
  /** Pass it to the system you call, so a retried call is recognised there too. */
  readonly idempotencyKey: string;
  /** Aborted when the attempt times out or the session stops waiting. */
  readonly signal: AbortSignal;
}

/**
 * A tool: a description and JSON-Schema parameters (shown to an LLM), and its implementation.
 * Business refusals are results (`{ outcome: 'rejected', reason }`, `{ found: false }`), not throws;
 * a throw is a technical failure the ladder handles.
 *
 * @example
 * ```ts
 * const lookup: ToolDefinition = {
 *   description: 'Looks up an order of the customer.',
 *   parameters: { type: 'object', properties: { orderId: { type: 'string' } }, required: ['orderId'] },
 *   run: async ({ orderId }, { identity }) => store.order(identity.tenant, String(orderId)),
 * };
 * ```
 */
export interface ToolDefinition {
  readonly description: string;
  readonly parameters: Readonly<Record<string, Json>>;
  run(args: Readonly<Record<string, Json>>, context: ToolRunContext): Promise<Json> | Json;
}

/** Tools by name. */
export type ToolRegistry = Readonly<Record<string, ToolDefinition>>;

/** Options of {@link createToolRunner}. */
export interface ToolRunnerOptions {
  readonly tools: ToolRegistry;
  /** Checks every call. Required: there is no unguarded path. */
  readonly guard: ToolGuard;
  /** Records outcomes once per idempotency key. Required. */
  readonly effects: EffectLedger;
  /** Time budget of one attempt, in milliseconds. Default 5 000. */
  readonly timeoutMs?: number;
  /** Consecutive failures that open a tool's breaker. Default 5. */
  readonly breakerFailures?: number;
  /** Cool-down before an open breaker lets a probe through, in milliseconds. Default 30 000. */
  readonly halfOpenAfterMs?: number;
  /** First backoff before jitter, in milliseconds; doubles per attempt. Default 200. */
  readonly baseDelayMs?: number;
  /** Upper bound of the backoff, in milliseconds. Default 5 000. */
  readonly maxDelayMs?: number;
  /** Share of the backoff that is random, in [0, 1]. Default 0.5. */
  readonly jitterRatio?: number;
  /** Source of jitter in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  /** Told of every call's outcome (allowed, refused or failed), to audit it. It must not throw. Default none. */
  readonly onOutcome?: ToolOutcomeListener;
}

/** Receives each tool call with its outcome. */
export type ToolOutcomeListener = (input: ToolCallInput, outcome: ToolOutcome) => void;

/** The defaults of {@link ToolRunnerOptions}. */
export const defaultToolRunnerOptions = Object.freeze({
  timeoutMs: 5_000,
  breakerFailures: 5,
  halfOpenAfterMs: 30_000,
  baseDelayMs: 200,
  maxDelayMs: 5_000,
  jitterRatio: 0.5,
});

/** A breaker state as reported in outcomes. */
type BreakerName = 'closed' | 'open' | 'half_open' | 'isolated';
const BREAKER: Readonly<Record<CircuitState, BreakerName>> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'isolated',
};

/** Runs guarded, idempotent, time-boxed tool calls. */
export interface ToolRunner {
  run(input: ToolCallInput, signal?: AbortSignal): Promise<ToolOutcome>;
  /** Breaker state per tool that has been called. */
  breakers(): Readonly<Record<string, BreakerName>>;
  readonly tools: ToolRegistry;
}

/**
 * Validates options (a TypeError names the bad one) and fills defaults.
 *
 * @example
 * ```ts
 * resolveToolRunnerOptions({ tools, guard, effects, timeoutMs: 0 }); // TypeError: option timeoutMs ...
 * ```
 */
export function resolveToolRunnerOptions(options: ToolRunnerOptions): Readonly<Required<ToolRunnerOptions>> {
  if (typeof options?.tools !== 'object' || options.tools === null) throw new TypeError('option tools must be an object of tool definitions');
  for (const [name, tool] of Object.entries(options.tools)) {
    if (typeof tool?.run !== 'function') throw new TypeError(`option tools.${name}.run must be a function`);
  }
  if (typeof options.guard?.check !== 'function') throw new TypeError('option guard must implement check()');
  if (typeof options.effects?.once !== 'function') throw new TypeError('option effects must implement once()');
  const o = { ...defaultToolRunnerOptions, random: Math.random, onOutcome: () => undefined, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as unknown as Required<ToolRunnerOptions>;
  for (const name of ['timeoutMs', 'halfOpenAfterMs'] as const) {
    if (typeof o[name] !== 'number' || !(o[name] > 0)) throw new TypeError(`option ${name} must be a positive number of milliseconds`);
  }
  for (const name of ['baseDelayMs', 'maxDelayMs'] as const) {
    if (typeof o[name] !== 'number' || !(o[name] >= 0)) throw new TypeError(`option ${name} must be a number of milliseconds ≥ 0`);
  }
  if (!Number.isInteger(o.breakerFailures) || o.breakerFailures < 1) throw new TypeError('option breakerFailures must be an integer ≥ 1');
  if (typeof o.jitterRatio !== 'number' || o.jitterRatio < 0 || o.jitterRatio > 1) throw new TypeError('option jitterRatio must be in [0, 1]');
  if (typeof o.random !== 'function') throw new TypeError('option random must be a function');
  if (typeof o.onOutcome !== 'function') throw new TypeError('option onOutcome must be a function');
  return Object.freeze(o);
}

const asIdentity = (i: SessionIdentity): Identity => i as unknown as Identity;

/**
 * Creates a tool runner. Breakers are per tool and shared by every session of the runner.
 *
 * @example
 * ```ts
 * const runner = createToolRunner({ tools, guard, effects: ports.effects, timeoutMs: 2_000 });
 * const outcome = await runner.run({ tool: 'lookup_order', args: { orderId: '1042' }, key, identity, ... });
 * ```
 */
export function createToolRunner(options: ToolRunnerOptions): ToolRunner {
  const o = resolveToolRunnerOptions(options);
  const breakers = new Map<string, CircuitBreakerPolicy>();
  const perAttempt = timeout(o.timeoutMs, TimeoutStrategy.Aggressive).dangerouslyUnref();
  const breakerFor = (tool: string): CircuitBreakerPolicy => {
    let b = breakers.get(tool);
    if (!b) {
      b = circuitBreaker(handleAll, { halfOpenAfter: o.halfOpenAfterMs, breaker: new ConsecutiveBreaker(o.breakerFailures) });
      breakers.set(tool, b);
    }
    return b;
  };
  const backoff = (attempt: number): number => {
    const exponential = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** Math.max(0, attempt - 1));
    return Math.round(exponential * (1 - o.jitterRatio * o.random()));
  };

  const check = async (input: ToolCallInput): Promise<GuardDecision> => {
    const context: ToolContext = {
      identity: asIdentity(input.identity),
      session: input.session as SessionId,
      callsThisTurn: input.callsThisTurn,
      allowedTools: input.allowedTools,
    };
    const guard = o.guard as ToolGuard & { checkApproved?: (t: string, a: Readonly<Record<string, unknown>>, c: ToolContext, approver: Identity) => Promise<GuardDecision> };
    try {
      if (input.approver && typeof guard.checkApproved === 'function') return await guard.checkApproved(input.tool, input.args, context, asIdentity(input.approver));
      return await guard.check(input.tool, input.args, context);
    } catch {
      // Fail closed: a guard that cannot decide allows nothing.
      return { allow: false, code: 'forbidden', reason: 'the tool guard failed' };
    }
  };

  const notify = (input: ToolCallInput, outcome: ToolOutcome): ToolOutcome => {
    try {
      o.onOutcome(input, outcome);
    } catch {
      // A listener's failure must not change the call's outcome.
    }
    return outcome;
  };

  const attempt = async (input: ToolCallInput, signal: AbortSignal | undefined): Promise<ToolOutcome> => {
    const decision = await check(input);
    if (!decision.allow) {
      const rule = (decision as { rule?: unknown }).rule;
      return { status: 'denied', tool: input.tool, code: decision.code, reason: decision.reason, ...(typeof rule === 'string' ? { rule } : {}) };
    }
    const tool = Object.hasOwn(o.tools, input.tool) ? o.tools[input.tool] : undefined;
    if (!tool) return { status: 'failed', tool: input.tool, reason: 'unknown_tool', message: 'no implementation for this tool', retryable: false, retryInMs: 0, breaker: 'closed' };
    const breaker = breakerFor(input.tool);
    const context = (attemptSignal: AbortSignal): ToolRunContext => ({
      identity: asIdentity(input.identity),
      session: input.session as SessionId,
      idempotencyKey: input.key,
      signal: attemptSignal,
    });
    try {
      const result = await o.effects.once(input.key, () =>
        breaker.execute(() => perAttempt.execute(async ({ signal: attemptSignal }) => tool.run(input.args, context(attemptSignal)), signal)),
      );
      return { status: 'ok', tool: input.tool, result };
    } catch (err) {
      const state = BREAKER[breaker.state];
      if (err instanceof BrokenCircuitError) {
        return { status: 'failed', tool: input.tool, reason: 'circuit_open', message: 'the circuit of this tool is open', retryable: false, retryInMs: 0, breaker: state };
      }
      if (err instanceof TaskCancelledError) {
        return { status: 'failed', tool: input.tool, reason: 'timeout', message: `no answer within ${o.timeoutMs} ms`, retryable: true, retryInMs: backoff(input.attempt), breaker: state };
      }
      const retryable = isKeelError(err) ? err.retryable : true;
      const message = err instanceof Error ? err.message.slice(0, 200) : 'the tool failed';
      return { status: 'failed', tool: input.tool, reason: 'error', message, retryable, retryInMs: retryable ? backoff(input.attempt) : 0, breaker: state };
    }
  };

  return {
    tools: o.tools,
    breakers: () => Object.fromEntries([...breakers].map(([name, b]) => [name, BREAKER[b.state]])),
    async run(input, signal) {
      return notify(input, await attempt(input, signal));
    },
  };
}
