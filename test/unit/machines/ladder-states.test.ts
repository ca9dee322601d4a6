/**
 * Each rung of the P10 ladder is a state the chart passes through, in order: a small agent whose
 * tool keeps failing walks executing → retrying → circuitOpen → alternative → degraded → hand-off
 * → graceful exit, observed step by step with XState's inspection API.
 */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise } from 'xstate';
import type { HandoffInput, HandoffOutput, RouteOutput, ToolCallInput, ToolOutcome } from '../../../machines/actor-contracts.js';
import { createAgentMachine } from '../../../machines/agent.machine.js';
import { extractDigitsId } from '../../../machines/slot-extractors.js';

const route = (intent: string): RouteOutput => ({
  ranked: [{ intent, score: 0.99 }],
  outOfScope: false,
  thresholds: { outOfScope: 0.2, lowConfidence: 0.4, closeMargin: 0.25 },
  source: 'test',
  confidence: 'confident',
  clauses: [],
  sentiment: 0,
  decisions: [],
});

function failing(tool: string, attempt: number, breaker: 'closed' | 'open'): ToolOutcome {
  return { status: 'failed', tool, reason: breaker === 'open' && attempt > 2 ? 'circuit_open' : 'timeout', message: 'no answer', retryable: true, retryInMs: 0, breaker };
}

describe('the P10 ladder as states', () => {
  it('walks every rung in order, each with its decision', async () => {
    const calls: ToolCallInput[] = [];
    const machine = createAgentMachine({
      tasks: [
        {
          name: 'status',
          intent: 'check_status',
          slots: [{ name: 'ticket', prompt: 'Which ticket?', extract: extractDigitsId({ minDigits: 3, maxDigits: 6 }) }],
          tool: 'tracker',
          alternativeTool: 'tracker_cache',
          args: (slots) => ({ ticket: slots.ticket ?? '' }),
          replies: { done: 'Ticket {{slots.ticket}} is {{result.state}}.' },
          escalateOnFailure: true,
        },
      ],
      policies: { maxToolAttempts: 2 },
    }).provide({
      actors: {
        routeMessage: fromPromise(async () => route('check_status')),
        callTool: fromPromise<ToolOutcome, ToolCallInput>(async ({ input }) => {
          calls.push(input);
          const attemptsOfTool = calls.filter((c) => c.tool === input.tool).length;
          // The main tool times out twice, which opens its breaker; its alternative times out too.
          return failing(input.tool, attemptsOfTool, input.tool === 'tracker' && attemptsOfTool >= 2 ? 'open' : 'closed');
        }),
        requestHandoff: fromPromise<HandoffOutput, HandoffInput>(async () => ({ status: 'unavailable', reason: 'night_shift' })),
      },
    });
    const visited: string[] = [];
    const decisions: string[] = [];
    const actor = createActor(machine, {
      input: { sessionId: 's-1', tenant: 't', user: 'u', channel: 'test' } as never,
      inspect: (e) => {
        if (e.type !== '@xstate.microstep') return;
        const value = (e.snapshot as unknown as { value: { conversation: unknown } }).value.conversation;
        const path = typeof value === 'string' ? value : Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}.${typeof v === 'string' ? v : Object.keys(v as object)[0]}`)[0]!;
        if (visited.at(-1) !== path) visited.push(path);
      },
    });
    actor.on('agent.decision', (e) => decisions.push(`${(e as { kind: string }).kind}:${(e as { reason: string }).reason}`));
    actor.start();
    actor.send({ type: 'user.message', text: 'status of ticket number 4711', messageId: 'm-1', turnKey: 's-1:1', at: 1 });
    for (let i = 0; i < 100 && !visited.includes('gracefulExit'); i++) await new Promise((r) => setTimeout(r, 5));

    const ladder = visited.filter((s) => /task\.(executing|retrying|circuitOpen|alternative|degraded)|^handoff|gracefulExit/.test(s));
    expect(ladder).toEqual([
      'task.executing',
      'task.retrying',
      'task.executing',
      'task.circuitOpen',
      'task.alternative',
      'task.executing',
      'task.retrying',
      'task.executing',
      'task.degraded',
      'handoff.requested',
      'handoff.routed',
      'handoff.unavailable',
      'gracefulExit',
    ]);
    expect(decisions).toEqual(
      expect.arrayContaining(['retry:timeout', 'fallback:circuit_open', 'fallback:alternative_tool', 'fallback:degraded', 'escalate:tool_failed', 'handoff:unavailable', 'fallback:graceful_exit']),
    );
    // Retries keep the idempotency key; the alternative is a new logical call.
    expect(calls.map((c) => `${c.tool}#${c.attempt}`)).toEqual(['tracker#1', 'tracker#2', 'tracker_cache#1', 'tracker_cache#2']);
    expect(new Set(calls.slice(0, 2).map((c) => c.key)).size).toBe(1);
    expect(calls[2]!.key).not.toBe(calls[0]!.key);
    expect(actor.getSnapshot().value).toMatchObject({ conversation: 'idle' });
    actor.stop();
  });
});
