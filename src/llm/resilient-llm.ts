/**
 * The fallback ladder for LLM providers (pattern P10), built on cockatiel policies. Per provider,
 * innermost first: a timeout on each attempt → a circuit breaker counting attempts → retries
 * with exponential backoff and jitter (retryable failures only, honouring `retry-after` up to a
 * cap). When a provider gives up, the next provider in the chain is tried, and finally the local
 * provider, which answers offline. Every step is reported as an {@link LlmDecision}.
 */
import {
  BrokenCircuitError,
  CircuitState,
  ConsecutiveBreaker,
  DelegateBackoff,
  TaskCancelledError,
  TimeoutStrategy,
  circuitBreaker,
  handleWhen,
  retry,
  timeout,
} from 'cockatiel';
import type { CircuitBreakerPolicy, IRetryBackoffContext } from 'cockatiel';
import { systemClock } from '../clock.js';
import { isKeelError, toKeelError } from '../errors.js';
import type { KeelError } from '../errors.js';
import type { Clock, LlmClient, LlmRequest, LlmResponse } from '../ports.js';
import type { Json } from '../types.js';
import { llmError, llmFailureOf } from './llm-provider.js';
import type { LlmFailure, LlmFailureReason, LlmProvider } from './llm-provider.js';
import { createDeltaGate } from './delta-gate.js';
import type { DeltaGate } from './delta-gate.js';

/**
 * One step of the ladder, shaped to become a decision event: `retry` (same provider again),
 * `fallback` (next provider or the local one), `error` (cancelled, or even the local rung failed),
 * `alert` (a breaker opened, half-opened or closed; reported to the global `onDecision` only).
 */
export interface LlmDecision {
  readonly kind: 'retry' | 'fallback' | 'error' | 'alert';
  readonly reason: string;
  readonly data: Readonly<Record<string, Json>>;
}

/** Receives ladder decisions. It must not throw; if it does, the error is ignored. */
export type LlmDecisionListener = (decision: LlmDecision) => void;

/** Options of {@link createResilientLlm}. */
export interface ResilientLlmOptions {
  /** The failover chain, tried in order. Default `[]`: the local provider answers everything. */
  readonly providers?: readonly LlmProvider[];
  /** The last rung; it is expected never to fail (offline, templated). Required. */
  readonly local: LlmClient | LlmProvider;
  /** Time budget of one attempt, in milliseconds. Default 10 000. */
  readonly timeoutMs?: number;
  /**
   * Time budget of one call across all its attempts and providers, in milliseconds; when it is
   * spent the local rung answers (decision `fallback` reason `deadline`). A turn makes up to three
   * calls (routing, planning, drafting): their budgets together stay inside the runtime's
   * `turnTimeoutMs` (60 000), so a hanging endpoint costs the customer time, never the answer.
   * Default 15 000.
   */
  readonly deadlineMs?: number;
  /** Attempts per provider, the first included. Default 3. */
  readonly maxAttempts?: number;
  /** First retry delay before jitter, in milliseconds; doubles per retry. Default 250. */
  readonly baseDelayMs?: number;
  /** Upper bound of the exponential delay, in milliseconds. Default 4 000. */
  readonly maxDelayMs?: number;
  /** Share of the delay that is random, in [0, 1]: delay × (1 − ratio × random()). Default 0.5. */
  readonly jitterRatio?: number;
  /** Longest `retry-after` worth waiting for; a longer one moves to the next provider. Default 5 000. */
  readonly retryAfterCapMs?: number;
  /** Consecutive failed attempts that open a provider's breaker. Default 5. */
  readonly breakerFailures?: number;
  /** Cool-down before an open breaker lets one probe call through (half-open), in milliseconds. Default 30 000. */
  readonly halfOpenAfterMs?: number;
  /** Source of jitter, in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  /** Timestamps in `status()`. Default {@link systemClock}. */
  readonly clock?: Clock;
  /** Receives every decision of every call, and breaker alerts. Default none. */
  readonly onDecision?: LlmDecisionListener;
}

/** A breaker state as reported by `status()`. */
export type BreakerState = 'closed' | 'open' | 'half_open' | 'isolated';

/** Health of one provider, for `/healthz` and metrics. */
export interface ProviderStatus {
  readonly name: string;
  readonly breaker: BreakerState;
  readonly lastFailure?: { readonly code: string; readonly reason: LlmFailureReason; readonly at: number };
}

/** The ladder: an {@link LlmClient} plus health. */
export interface ResilientLlm extends LlmClient {
  /** Breaker state per provider, in chain order, and the local rung's name. */
  status(): { readonly providers: readonly ProviderStatus[]; readonly local: string };
  /**
   * A client sharing this ladder's breakers whose calls also report to `listener`: the runtime
   * binds one per turn so retries and fallbacks land in that session's decision trace.
   */
  withDecisions(listener: LlmDecisionListener): LlmClient;
}

const defaultOptions = {
  providers: [] as readonly LlmProvider[],
  timeoutMs: 10_000,
  deadlineMs: 15_000,
  maxAttempts: 3,
  baseDelayMs: 250,
  maxDelayMs: 4_000,
  jitterRatio: 0.5,
  retryAfterCapMs: 5_000,
  breakerFailures: 5,
  halfOpenAfterMs: 30_000,
};

type ResolvedOptions = Readonly<Required<Omit<ResilientLlmOptions, 'onDecision'>> & { onDecision: LlmDecisionListener | undefined }>;

function resolveOptions(options: ResilientLlmOptions): ResolvedOptions {
  const fail = (name: string, expected: string): never => {
    throw new TypeError(`invalid option ${name}: expected ${expected}`);
  };
  const number = (name: keyof typeof defaultOptions, check: (v: number) => boolean, expected: string): number => {
    const value = (options[name] as number | undefined) ?? (defaultOptions[name] as number);
    if (typeof value !== 'number' || !Number.isFinite(value) || !check(value)) fail(name, expected);
    return value;
  };
  const providers = options.providers ?? defaultOptions.providers;
  if (!Array.isArray(providers) || providers.some((p) => typeof p?.complete !== 'function' || typeof p.name !== 'string' || p.name === '')) {
    fail('providers', 'an array of named LLM providers');
  }
  if (new Set(providers.map((p) => p.name)).size !== providers.length) fail('providers', 'providers with distinct names');
  if (typeof options.local?.complete !== 'function') fail('local', 'an LLM client');
  if (options.random !== undefined && typeof options.random !== 'function') fail('random', 'a function returning [0, 1)');
  if (options.onDecision !== undefined && typeof options.onDecision !== 'function') fail('onDecision', 'a function');
  return Object.freeze({
    providers: Object.freeze([...providers]),
    local: options.local,
    timeoutMs: number('timeoutMs', (v) => v > 0, 'a positive number of milliseconds'),
    deadlineMs: number('deadlineMs', (v) => v > 0, 'a positive number of milliseconds'),
    maxAttempts: number('maxAttempts', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1'),
    baseDelayMs: number('baseDelayMs', (v) => v >= 0, 'a number of milliseconds ≥ 0'),
    maxDelayMs: number('maxDelayMs', (v) => v >= 0, 'a number of milliseconds ≥ 0'),
    jitterRatio: number('jitterRatio', (v) => v >= 0 && v <= 1, 'a ratio in [0, 1]'),
    retryAfterCapMs: number('retryAfterCapMs', (v) => v >= 0, 'a number of milliseconds ≥ 0'),
    breakerFailures: number('breakerFailures', (v) => Number.isInteger(v) && v >= 1, 'an integer ≥ 1'),
    halfOpenAfterMs: number('halfOpenAfterMs', (v) => v > 0, 'a positive number of milliseconds'),
    random: options.random ?? Math.random,
    clock: options.clock ?? systemClock,
    onDecision: options.onDecision,
  });
}

/** Transient failures: the same provider may answer if asked again shortly. */
const RETRY_REASONS: ReadonlySet<LlmFailureReason> = new Set(['rate_limited', 'server_error', 'connection', 'timeout']);
/**
 * Failures that say the provider is unwell. A caller's cancel, a request the provider rejected
 * (4xx, an answer cut at its token limit or withheld by its filter) and an empty answer say
 * nothing about its health, so they leave the breaker alone: one customer's messages must not
 * open the breaker every tenant shares.
 */
const BREAKER_REASONS: ReadonlySet<LlmFailureReason> = new Set([
  'rate_limited', 'server_error', 'connection', 'timeout', 'auth', 'malformed', 'truncated',
]);

const BREAKER_NAMES: Readonly<Record<CircuitState, BreakerState>> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Isolated]: 'isolated',
};

interface Rung {
  readonly provider: LlmProvider;
  readonly breaker: CircuitBreakerPolicy;
  lastFailure: ProviderStatus['lastFailure'];
}

/**
 * Creates the ladder. With no providers it is a thin wrapper over `local`. Timers of the
 * policies are cockatiel's own (unref'd, so they never hold the process open); jitter comes from
 * `random`, so tests pass `() => 0` for exact delays.
 *
 * @example
 * ```ts
 * const llm = createResilientLlm({
 *   providers: [createOpenAiProvider(primary), createOpenAiProvider(secondary)],
 *   local: localProvider,
 *   timeoutMs: 10_000,
 *   onDecision: (d) => metrics.count(d.kind, d.reason),
 * });
 * const reply = await llm.withDecisions((d) => trace(session, d)).complete(request, signal);
 * llm.status(); // { providers: [{ name: 'api.openai.com/gpt-4o-mini', breaker: 'closed' }, ...], local: 'local' }
 * ```
 */
export function createResilientLlm(options: ResilientLlmOptions): ResilientLlm {
  const o = resolveOptions(options);
  const localName = 'name' in o.local && typeof o.local.name === 'string' ? o.local.name : 'local';
  const alert = (reason: string, data: Record<string, Json>) => safeEmit(o.onDecision, { kind: 'alert', reason, data });

  const rungs: Rung[] = o.providers.map((provider) => {
    // Cockatiel counts a half-open probe that ends in an error it does not handle as a success. A
    // probe its caller cancelled (a turn timeout) proved nothing: it keeps the breaker open.
    const breaker: CircuitBreakerPolicy = circuitBreaker(
      handleWhen((err) => {
        const reason = llmFailureOf(err)?.reason as LlmFailureReason;
        return BREAKER_REASONS.has(reason) || (reason === 'aborted' && breaker.state === CircuitState.HalfOpen);
      }),
      { halfOpenAfter: o.halfOpenAfterMs, breaker: new ConsecutiveBreaker(o.breakerFailures) },
    );
    const data = { provider: provider.name };
    breaker.onBreak(() => alert('circuit_opened', { ...data, failures: o.breakerFailures, halfOpenAfterMs: o.halfOpenAfterMs }));
    breaker.onHalfOpen(() => alert('circuit_half_open', data));
    breaker.onReset(() => alert('circuit_closed', data));
    return { provider, breaker, lastFailure: undefined };
  });

  function backoffFor(context: IRetryBackoffContext<unknown>): number {
    const exponential = Math.min(o.maxDelayMs, o.baseDelayMs * 2 ** (context.attempt - 1));
    const jittered = exponential * (1 - o.jitterRatio * o.random());
    const failure = 'error' in context.result ? llmFailureOf(context.result.error) : undefined;
    // The server knows its own recovery time better than our curve does.
    return Math.round(Math.max(jittered, failure?.retryAfterMs ?? 0));
  }

  /** `signal` ends the rung (the caller's cancel or the call's deadline); `caller` tells them apart. */
  async function runRung(rung: Rung, gate: DeltaGate, signal: AbortSignal, caller: AbortSignal, emit: LlmDecisionListener, sent: { requests: number }): Promise<LlmResponse> {
    const { provider, breaker } = rung;
    const perAttempt = timeout(o.timeoutMs, TimeoutStrategy.Aggressive).dangerouslyUnref();
    const retrying = retry(
      handleWhen((err) => {
        const failure = llmFailureOf(err);
        return (
          failure !== undefined &&
          RETRY_REASONS.has(failure.reason) &&
          (failure.retryAfterMs ?? 0) <= o.retryAfterCapMs &&
          // The breaker just opened on this failure: waiting to be refused is pointless.
          breaker.state !== CircuitState.Open &&
          !signal.aborted
        );
      }),
      { maxAttempts: o.maxAttempts - 1, backoff: new DelegateBackoff(backoffFor) },
    ).dangerouslyUnref();
    retrying.onRetry((event) => {
      const failure = 'error' in event ? llmFailureOf(event.error) : undefined;
      emit({
        kind: 'retry',
        reason: failure?.reason ?? 'unknown',
        data: {
          provider: provider.name,
          attempt: event.attempt,
          nextAttempt: event.attempt + 1,
          maxAttempts: o.maxAttempts,
          delayMs: event.delay,
          ...failureData(event),
          breaker: BREAKER_NAMES[breaker.state],
        },
      });
    });

    const attemptOnce = async (attemptSignal: AbortSignal): Promise<LlmResponse> => {
      if (signal.aborted) throw cancelled(provider.name);
      const attempt = gate.open();
      sent.requests++;
      try {
        return await perAttempt.execute((_context, timeoutSignal) => provider.complete(attempt.request, timeoutSignal), attemptSignal);
      } catch (err) {
        attempt.failed();
        // The deadline aborts the request like the per-attempt timeout does: the provider was too slow.
        const translated = normalize(err, provider.name, caller);
        const failure = llmFailureOf(translated);
        if (failure !== undefined && failure.reason !== 'aborted') {
          rung.lastFailure = Object.freeze({ code: (translated as KeelError).code, reason: failure.reason, at: o.clock.now() });
        }
        throw translated;
      } finally {
        attempt.close();
      }
    };

    try {
      return await retrying.execute(({ signal: retrySignal }) => breaker.execute(({ signal: s }) => attemptOnce(s), retrySignal), signal);
    } catch (err) {
      if (err instanceof BrokenCircuitError) {
        throw llmError({ provider: provider.name, reason: 'circuit_open' }, `the circuit of LLM provider ${provider.name} is open`, err);
      }
      throw err;
    }
  }

  async function complete(request: LlmRequest, signal: AbortSignal, listener?: LlmDecisionListener): Promise<LlmResponse> {
    const emit: LlmDecisionListener = (decision) => {
      safeEmit(listener, decision);
      safeEmit(o.onDecision, decision);
    };
    const gate = createDeltaGate(request);
    let lastFailure: LlmFailure | undefined;
    const sent = { requests: 0 };
    // The whole call's budget: past it the local rung answers, whatever the providers still do.
    const deadline = new AbortController();
    const deadlineTimer = rungs.length > 0 ? setTimeout(() => deadline.abort(), o.deadlineMs) : undefined;
    deadlineTimer?.unref();
    const ladderSignal = AbortSignal.any([signal, deadline.signal]);
    try {
      for (const [index, rung] of rungs.entries()) {
        const next = rungs[index + 1]?.provider.name ?? localName;
        try {
          if (signal.aborted) throw cancelled(rung.provider.name);
          if (deadline.signal.aborted) break;
          const response = await raceAbort(runRung(rung, gate, ladderSignal, signal, emit, sent), ladderSignal, rung.provider.name);
          return Object.freeze({ ...response, requests: sent.requests });
        } catch (err) {
          const failure = llmFailureOf(err);
          if (failure === undefined) {
            // Not the endpoint's fault (a throwing onDelta, a malformed request): no failover hides it.
            emit({ kind: 'error', reason: isKeelError(err) ? err.code : 'internal', data: { provider: rung.provider.name } });
            throw err;
          }
          if (signal.aborted) {
            emit({ kind: 'error', reason: 'aborted', data: { provider: rung.provider.name } });
            throw err;
          }
          if (deadline.signal.aborted) {
            lastFailure = { provider: rung.provider.name, reason: 'timeout' };
            emit({
              kind: 'fallback',
              reason: 'deadline',
              data: { from: rung.provider.name, to: localName, deadlineMs: o.deadlineMs, breaker: BREAKER_NAMES[rung.breaker.state], partialStreamDiscarded: gate.discarded() },
            });
            break;
          }
          lastFailure = failure;
          emit({
            kind: 'fallback',
            reason: failure.reason,
            data: {
              from: rung.provider.name,
              to: next,
              ...failureData({ error: err }),
              ...(failure.retryAfterMs !== undefined && failure.retryAfterMs > o.retryAfterCapMs ? { retryAfterOverCap: true } : {}),
              breaker: BREAKER_NAMES[rung.breaker.state],
              partialStreamDiscarded: gate.discarded(),
            },
          });
        }
      }
    } finally {
      if (deadlineTimer !== undefined) clearTimeout(deadlineTimer);
    }
    const attempt = gate.open();
    try {
      if (signal.aborted) throw cancelled(localName);
      const answer = await o.local.complete(attempt.request, signal);
      return sent.requests > 0 ? Object.freeze({ ...answer, requests: sent.requests }) : answer;
    } catch (err) {
      const reason = signal.aborted ? 'aborted' : 'local_failed';
      emit({ kind: 'error', reason, data: { provider: localName, ...(lastFailure ? { previousReason: lastFailure.reason } : {}) } });
      if (isKeelError(err)) throw err;
      throw toKeelError(err, 'llm_unavailable');
    } finally {
      attempt.close();
    }
  }

  const status = () =>
    Object.freeze({
      providers: Object.freeze(
        rungs.map((rung) =>
          Object.freeze({
            name: rung.provider.name,
            breaker: BREAKER_NAMES[rung.breaker.state],
            ...(rung.lastFailure ? { lastFailure: rung.lastFailure } : {}),
          }),
        ),
      ),
      local: localName,
    });

  return Object.freeze({
    complete: (request: LlmRequest, signal: AbortSignal) => complete(request, signal),
    status,
    withDecisions: (listener: LlmDecisionListener): LlmClient =>
      Object.freeze({ complete: (request: LlmRequest, signal: AbortSignal) => complete(request, signal, listener) }),
  });
}

/** Gives every failure from a rung the LLM shape, so retry and breaker filters read one field. */
function normalize(err: unknown, provider: string, callerSignal: AbortSignal): unknown {
  if (callerSignal.aborted) return cancelled(provider, err);
  const failure = llmFailureOf(err);
  // The per-attempt timeout aborts the provider's signal; the provider sees that as an abort.
  if (err instanceof TaskCancelledError || failure?.reason === 'aborted') {
    return llmError({ provider, reason: 'timeout' }, `LLM provider ${provider} did not answer in time`, err);
  }
  if (failure !== undefined || isKeelError(err)) return err;
  // A provider that throws something unexpected has failed on its side; fail over from it.
  return llmError({ provider, reason: 'server_error' }, `LLM provider ${provider} failed`, err);
}

function cancelled(provider: string, cause?: unknown): KeelError {
  return llmError({ provider, reason: 'aborted' }, 'the LLM call was cancelled by the caller', cause);
}

/** Cockatiel's backoff sleep ignores the signal; the caller's cancel must not wait it out. */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal, provider: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(cancelled(provider));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(err);
      },
    );
  });
}

function failureData(result: { error: Error } | { value: unknown } | { error: unknown }): Record<string, Json> {
  const err = 'error' in result ? result.error : undefined;
  const failure = llmFailureOf(err);
  if (failure === undefined) return {};
  return {
    code: (err as KeelError).code,
    reason: failure.reason,
    ...(failure.status !== undefined ? { status: failure.status } : {}),
    ...(failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {}),
  };
}

function safeEmit(listener: LlmDecisionListener | undefined, decision: LlmDecision): void {
  if (listener === undefined) return;
  try {
    listener(decision);
  } catch {
    // A broken observer must not turn a good answer into a failure.
  }
}
