/**
 * What the trace learns from XState's inspection of a session: a tool call's latency, outcome and
 * arguments join the decision the chart makes about it, or are traced on their own; steps a model
 * answered are timed; the state a decision was made in is the state before the step.
 */
import { assign, createActor, emit, fromPromise, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../../../src/clock.js';
import { createActorTracer } from '../../../src/observe/actor-tracer.js';
import type { DecisionKind } from '../../../src/ports.js';

interface Decision { kind: DecisionKind; reason: string; data: Record<string, unknown>; state?: string }

function machine(options: { decide: boolean }) {
  return setup({
    types: { events: {} as { type: 'go' }, emitted: {} as { type: 'agent.decision'; kind: 'tool'; reason: string; data: { tool: string } } },
    actors: {
      callTool: fromPromise(async ({ input }: { input: { tool: string; key: string; args: Record<string, unknown>; attempt: number } }) => {
        await new Promise((r) => setTimeout(r, 5));
        return { status: 'ok', tool: input.tool, result: { found: true } };
      }),
      draft: fromPromise(async () => ({ text: 'hi', source: 'llm:api.example' })),
    },
  }).createMachine({
    id: 'm',
    initial: 'idle',
    context: { n: 0 },
    states: {
      idle: { on: { go: 'calling' } },
      calling: {
        invoke: {
          src: 'callTool',
          input: { tool: 'lookup_order', key: 't:1:lookup_order:1', args: { orderId: '1042', address: '1 Main St' }, attempt: 1 },
          onDone: { target: 'drafting', actions: options.decide ? emit({ type: 'agent.decision', kind: 'tool', reason: 'ok', data: { tool: 'lookup_order' } }) : assign({ n: 1 }) },
        },
      },
      drafting: { invoke: { src: 'draft', onDone: 'idle' } },
    },
  });
}

async function run(decideInChart: boolean, inspecting = false, attach: 'before' | 'after the step' = 'before') {
  const clock = createManualClock(1000);
  const decisions: Decision[] = [];
  const tracer = createActorTracer({ clock, decide: (kind, reason, data, state) => decisions.push({ kind, reason, data, ...(state ? { state } : {}) }), inspecting: () => inspecting });
  const actor = createActor(machine({ decide: decideInChart }));
  if (attach === 'before') tracer.attach(actor);
  actor.on('agent.decision', (e) => decisions.push({ kind: e.kind, reason: e.reason, data: tracer.enrich(e.kind, { ...e.data }), ...(tracer.state() ? { state: tracer.state() } : {}) }));
  actor.start();
  actor.send({ type: 'go' });
  if (attach === 'after the step') {
    // As the session host does when no child ran: it follows the actor once a step started one.
    expect(tracer.idle()).toBe(true);
    tracer.attach(actor);
    expect(tracer.idle()).toBe(false);
  }
  // The tool takes 5 ms of real time; the manual clock says how long it took.
  clock.advance(40);
  await new Promise((r) => setTimeout(r, 30));
  await new Promise((r) => setTimeout(r, 5));
  return { decisions, llm: tracer.takeLlmSteps(), tracer, actor };
}

describe('actor tracer', () => {
  it('adds latency, outcome and redacted arguments to the chart\'s decision about a tool call', async () => {
    const { decisions, llm } = await run(true);
    expect(decisions).toEqual([{ kind: 'tool', reason: 'ok', state: 'calling', data: { tool: 'lookup_order', args: { orderId: '1042', address: '[redacted]' }, latencyMs: 40, outcome: 'ok', attempt: 1 } }]);
    expect(llm).toEqual([{ step: 'draft', provider: 'api.example', latencyMs: 0, endedAt: 1040 }]);
  });

  it('attached right after the step that started a tool call, still times it and adds it to the decision', async () => {
    const { decisions, llm, tracer } = await run(true, false, 'after the step');
    expect(decisions).toEqual([{ kind: 'tool', reason: 'ok', state: 'calling', data: { tool: 'lookup_order', args: { orderId: '1042', address: '[redacted]' }, latencyMs: 40, outcome: 'ok', attempt: 1 } }]);
    expect(llm).toEqual([{ step: 'draft', provider: 'api.example', latencyMs: 0, endedAt: 1040 }]);
    // Nothing left to time: the host may stop following, and the tracer then names no state.
    expect(tracer.idle()).toBe(true);
    expect(tracer.state()).toBe('drafting');
    tracer.detach();
    expect(tracer.state()).toBeUndefined();
  });

  it('traces a tool call the chart said nothing about, and simplified inspection when asked', async () => {
    const { decisions, tracer } = await run(false, true);
    expect(decisions.filter((d) => d.kind === 'tool')).toEqual([
      { kind: 'tool', reason: 'ok', state: 'calling', data: { tool: 'lookup_order', args: { orderId: '1042', address: '[redacted]' }, latencyMs: 40, outcome: 'ok', attempt: 1 } },
    ]);
    const inspected = decisions.filter((d) => d.kind === 'inspect').map((d) => `${d.reason} ${String(d.data.actor ?? d.data.state ?? d.data.event)}`);
    expect(inspected).toEqual(expect.arrayContaining(['event go', 'microstep calling', 'actor.started callTool', 'actor.done callTool', 'microstep drafting', 'microstep idle']));
    expect(JSON.stringify(decisions.filter((d) => d.kind === 'inspect'))).not.toContain('1042');
    tracer.detach();
    expect(tracer.enrich('tool', { tool: 'lookup_order' })).toEqual({ tool: 'lookup_order' });
  });
});
