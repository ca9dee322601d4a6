/**
 * Learning from tool calls: what a guarded tool call confirmed becomes part of the user's memory.
 * An order the lookup found (and the guard let the user see) is the order number the user means
 * next time; an address a change went through to is the address "as last time". Arguments that
 * name the agent's slots become facts, keyed by slot name, with the session as their source; a
 * completed request (refund, cancellation, ticket) is remembered as a `ticket` memory.
 *
 * Only successful calls teach anything: a refusal by the guard, a failure, `{ found: false }` or a
 * business rejection (`{ outcome: 'rejected' }`) leave memory as it was. Learning never changes a
 * tool's outcome; it runs before the outcome returns, so what a turn learnt is committed before
 * the turn is acknowledged.
 */
import type { ToolCallInput, ToolOutcome } from '../machines/actor-contracts.js';
import type { UserMemory } from '../src/memory/user-memory.js';
import type { EffectLedger } from '../src/ports.js';
import type { Json, SessionId, TenantId, UserId } from '../src/types.js';
import type { ToolRunner } from './tool-runner.js';

/** Options of {@link withMemoryLearning}. */
export interface MemoryLearningOptions {
  /** The runtime's memory. Required. */
  readonly memory: UserMemory;
  /** Records each remembered ticket once per call key. Required. */
  readonly effects: EffectLedger;
  /** Tool arguments kept as facts (the agent's slot names, e.g. `orderId`, `address`). Default none. */
  readonly factArgs?: readonly string[];
  /** Tools whose successful calls are remembered as `ticket` memories. Default none. */
  readonly ticketTools?: readonly string[];
  /** Told when learning fails (the call's outcome is unaffected). Default: ignored. */
  readonly onError?: (err: unknown, input: ToolCallInput) => void;
}

const isRecord = (v: unknown): v is Record<string, Json> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Whether an outcome confirms its arguments (ok, found, not rejected). */
function confirms(outcome: ToolOutcome): outcome is Extract<ToolOutcome, { status: 'ok' }> {
  if (outcome.status !== 'ok') return false;
  const result = outcome.result;
  return !(isRecord(result) && (result.found === false || result.outcome === 'rejected'));
}

const scalar = (v: Json | undefined): v is string | number | boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';

/** "change address (orderId 1043, address 7 Juniper Crescent): status processing". */
function describeTicket(tool: string, args: Readonly<Record<string, Json>>, result: Json): string {
  const what = Object.entries(args).filter(([, v]) => scalar(v)).map(([k, v]) => `${k} ${String(v)}`).join(', ');
  const outcome = isRecord(result) ? Object.entries(result).filter(([, v]) => scalar(v)).slice(0, 4).map(([k, v]) => `${k} ${String(v)}`).join(', ') : '';
  return `${tool.replace(/[_-]+/g, ' ')}${what ? ` (${what})` : ''}${outcome ? `: ${outcome}` : ''}`.slice(0, 500);
}

/**
 * Wraps a tool runner so that successful calls teach the user's memory.
 *
 * @example
 * ```ts
 * const runner = withMemoryLearning(createToolRunner({ tools, guard, effects }), {
 *   memory: ports.memory, effects: ports.effects, factArgs: ['orderId', 'address'], ticketTools: ['request_refund'],
 * });
 * ```
 */
export function withMemoryLearning(runner: ToolRunner, options: MemoryLearningOptions): ToolRunner {
  if (typeof runner?.run !== 'function') throw new TypeError('runner must be a tool runner');
  if (typeof options?.memory?.contexts?.update !== 'function') throw new TypeError('option memory must be the runtime memory');
  if (typeof options.effects?.once !== 'function') throw new TypeError('option effects must implement once()');
  const factArgs = new Set(options.factArgs ?? []);
  const ticketTools = new Set(options.ticketTools ?? []);
  const { memory, effects } = options;

  const learn = async (input: ToolCallInput, outcome: ToolOutcome): Promise<void> => {
    if (!confirms(outcome)) return;
    const tenant = input.identity.tenant as TenantId;
    const user = input.identity.user as UserId;
    const session = input.session as SessionId;
    const facts = Object.entries(input.args).filter(([name, value]) => factArgs.has(name) && scalar(value));
    const writes: Promise<unknown>[] = [];
    if (facts.length > 0) {
      writes.push(memory.contexts.update(tenant, user, (draft) => {
        for (const [key, value] of facts) draft.facts[key] = { key, value, source: session, time: draft.updatedAt, confidence: 1 };
      }));
    }
    if (ticketTools.has(input.tool)) {
      const text = describeTicket(input.tool, input.args, outcome.result);
      writes.push(effects.once(`${input.key}:memory`, async () => (await memory.memories.remember({ tenant, user, text, kind: 'ticket', session })).memoryId));
    }
    await Promise.all(writes);
  };

  return {
    ...runner,
    breakers: () => runner.breakers(),
    async run(input, signal) {
      const outcome = await runner.run(input, signal);
      // Not awaited: the facts join the turn's group commit and a ticket's memory is embedded and
      // indexed off the turn, so learning never delays the reply.
      learn(input, outcome).catch((err: unknown) => {
        try {
          options.onError?.(err, input);
        } catch {
          // A listener's failure changes nothing.
        }
      });
      return outcome;
    },
  };
}
