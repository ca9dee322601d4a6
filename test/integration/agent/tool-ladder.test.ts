/**
 * The P10 ladder per tool, with tools that really fail: a carrier API that hangs past the
 * attempt's time budget, throws, or keeps failing until its circuit opens. Each rung is a state of
 * the task chart and a decision with its reason: timeout → retry with backoff and jitter → circuit
 * breaker → alternative tool → degraded local answer → human hand-off → graceful exit.
 *
 * The retry backoff is a timer of the chart, so these tests run on the system clock with small
 * delays; the jitter source is fixed, so the delays are exact.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ToolDefinition } from '../../../actors/tool-runner.js';
import type { HandoffDesk } from '../../../actors/handoff.actor.js';
import { openDemoStore } from '../../../src/agent/demo-store.js';
import { createDemoTools } from '../../../src/agent/demo-tools.js';
import { startAgentHarness, type AgentHarness } from './support/agent-harness.js';

const BASE_DELAY_MS = 20;
const JITTER = { jitterRatio: 0.5, random: () => 0.5 } as const;
/** The backoff before attempt n+1: base × 2^(n−1) × (1 − ratio × random). */
const backoff = (attempt: number) => Math.round(BASE_DELAY_MS * 2 ** (attempt - 1) * (1 - 0.5 * 0.5));

let h: AgentHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** A demo store and its real tools, to wrap with failures. */
function demo() {
  const store = openDemoStore({ dataDir: '/nonexistent-keel-demo', persist: false });
  return { store, tools: createDemoTools(store) };
}

/** A tool that fails its first `failures` calls with `fail`, then behaves like `real`. */
function flaky(real: ToolDefinition, failures: number, fail: 'hang' | 'throw' | 'throw_final') {
  const calls: { key: string; aborted: boolean }[] = [];
  const tool: ToolDefinition = {
    ...real,
    run: (args, context) => {
      const call = { key: context.idempotencyKey, aborted: false };
      calls.push(call);
      context.signal.addEventListener('abort', () => (call.aborted = true));
      if (calls.length > failures) return real.run(args, context);
      if (fail === 'hang') return new Promise<never>(() => undefined);
      if (fail === 'throw_final') throw Object.assign(new Error('carrier rejected the request'), { code: 'forbidden' });
      throw new Error('carrier API is down');
    },
  };
  return { tool, calls };
}

const deskThatQueues = (): HandoffDesk => ({ request: () => ({ status: 'queued', position: 1 }) });
const deskNobodyStaffs = (): HandoffDesk => ({ request: () => ({ status: 'unavailable', reason: 'no_agent_online' }) });

describe('P10 ladder: timeout and retry with backoff and jitter', () => {
  it('an attempt past its time budget times out; the retry waits the jittered backoff; the third attempt answers', async () => {
    const { store, tools } = demo();
    const carrier = flaky(tools.track_order!, 2, 'hang');
    h = await startAgentHarness({
      realClock: true,
      agent: { store, toolOverrides: { track_order: carrier.tool }, tools: { timeoutMs: 100, baseDelayMs: BASE_DELAY_MS, ...JITTER } },
    });
    const c = await h.open('alice');
    const reply = await c.say('where is my order 1042?');
    expect(reply.text).toMatch(/^Order 1042 \(Trail running shoes, Merino socks\) is on its way: with DHL/);

    const retries = c.decisions('retry');
    expect(retries.map((d) => d.reason)).toEqual(['timeout', 'timeout']);
    expect(retries.map((d) => d.data.delayMs)).toEqual([backoff(1), backoff(2)]);
    expect(retries.map((d) => d.data.nextAttempt)).toEqual([2, 3]);
    expect(retries[0]!.data).toMatchObject({ task: 'order_status', tool: 'track_order', maxAttempts: 3, breaker: 'closed' });
    expect(c.decisions('tool').at(-1)).toMatchObject({ reason: 'ok', data: { tool: 'track_order', attempt: 3 } });
    // Each timed-out attempt was aborted, and every attempt carried the same idempotency key.
    expect(carrier.calls).toHaveLength(3);
    expect(carrier.calls.slice(0, 2).every((call) => call.aborted)).toBe(true);
    expect(new Set(carrier.calls.map((call) => call.key)).size).toBe(1);
  });

  it('with one attempt allowed, a failure goes straight down the ladder', async () => {
    const { store, tools } = demo();
    const carrier = flaky(tools.track_order!, 99, 'throw');
    const cache = flaky(tools.order_status_cache!, 0, 'throw');
    h = await startAgentHarness({
      realClock: true,
      agent: { store, toolOverrides: { track_order: carrier.tool, order_status_cache: cache.tool }, tools: { timeoutMs: 200, baseDelayMs: 5 }, policies: { maxToolAttempts: 1 } },
    });
    const c = await h.open('alice');
    const reply = await c.say('where is my order 1042?');
    expect(carrier.calls).toHaveLength(1);
    expect(c.decisions('retry')).toHaveLength(0);
    expect(c.decisions('fallback').map((d) => d.reason)).toEqual(['error', 'alternative_tool']);
    expect(reply.text).toMatch(/^Order 1042 .* from our last update, which may be a few hours old\.$/);
  });
});

describe('P10 ladder: circuit breaker and alternative tool', () => {
  it('failures open the breaker; the ladder skips retries and uses the alternative tool; later calls never reach the broken tool', async () => {
    const { store, tools } = demo();
    const carrier = flaky(tools.track_order!, 99, 'throw');
    h = await startAgentHarness({
      realClock: true,
      agent: { store, toolOverrides: { track_order: carrier.tool }, tools: { timeoutMs: 200, baseDelayMs: 5, breakerFailures: 2, halfOpenAfterMs: 60_000 } },
    });
    const c = await h.open('alice');
    const first = await c.say('where is my order 1042?');
    expect(first.text).toBe('Order 1042 (Trail running shoes, Merino socks) is on its way: from our last update, which may be a few hours old.');
    expect(carrier.calls).toHaveLength(2);
    const steps = [...c.decisions('retry'), ...c.decisions('fallback'), ...c.decisions('tool')].sort((a, b) => a.time - b.time).map((d) => `${d.kind}:${d.reason}`);
    expect(steps).toEqual(expect.arrayContaining(['retry:error', 'fallback:error', 'fallback:circuit_open', 'fallback:alternative_tool', 'tool:ok']));
    expect(c.decisions('fallback').find((d) => d.reason === 'error')!.data).toMatchObject({ breaker: 'open', next: 'circuit_open' });
    expect(c.decisions('fallback').find((d) => d.reason === 'circuit_open')!.data).toMatchObject({ next: 'alternative', to: 'order_status_cache' });
    expect(c.decisions('tool').at(-1)!.data).toMatchObject({ tool: 'order_status_cache' });
    expect(h.agent!.runner()!.breakers()).toMatchObject({ track_order: 'open' });

    // The breaker is shared: another customer's status check never calls the carrier while it is open.
    const other = await h.open('bob');
    const second = await other.say('where is order 2001?');
    expect(second.text).toMatch(/^Order 2001 .* from our last update/);
    expect(carrier.calls).toHaveLength(2);
    expect(other.decisions('fallback').map((d) => d.reason)).toEqual(['circuit_open', 'circuit_open', 'alternative_tool']);
  });

  it('after its cool-down the breaker lets a probe through, and a healthy tool closes it', async () => {
    const { store, tools } = demo();
    const carrier = flaky(tools.track_order!, 2, 'throw');
    h = await startAgentHarness({
      realClock: true,
      agent: { store, toolOverrides: { track_order: carrier.tool }, tools: { timeoutMs: 200, baseDelayMs: 5, breakerFailures: 2, halfOpenAfterMs: 150 } },
    });
    const c = await h.open('alice');
    await c.say('where is my order 1042?');
    expect(h.agent!.runner()!.breakers().track_order).toBe('open');
    await new Promise((r) => setTimeout(r, 250));
    const again = await c.say('and where is order 1042 now?');
    expect(again.text).toMatch(/^Order 1042 .* with DHL/);
    expect(h.agent!.runner()!.breakers().track_order).toBe('closed');
  });
});

describe('P10 ladder: degraded answer, hand-off, graceful exit', () => {
  it('when the alternative fails too, the customer gets the degraded local answer from what is known', async () => {
    const { store, tools } = demo();
    h = await startAgentHarness({
      realClock: true,
      agent: {
        store,
        toolOverrides: { track_order: flaky(tools.track_order!, 99, 'throw').tool, order_status_cache: flaky(tools.order_status_cache!, 99, 'throw').tool },
        tools: { timeoutMs: 200, baseDelayMs: 5, breakerFailures: 10 },
      },
    });
    const c = await h.open('alice');
    const reply = await c.say('where is my order 1042?');
    expect(reply.text).toBe('I can\'t reach our tracking system right now. The last status I have for order 1042 is "on its way". Please ask me again in a few minutes.');
    expect(reply.meta).toMatchObject({ degraded: true, task: 'order_status' });
    expect(reply.state).toContain('conversation.idle');
    expect(c.decisions('fallback').at(-1)).toMatchObject({ reason: 'degraded', data: { task: 'order_status', reason: 'error', escalate: false } });
    expect(c.decisions('retry')).toHaveLength(4);
    expect(c.decisions('escalate')).toHaveLength(0);
  });

  it('a task without a degraded answer hands off to a human with the failure as the reason', async () => {
    const { store, tools } = demo();
    h = await startAgentHarness({
      realClock: true,
      agent: { store, desk: deskThatQueues(), toolOverrides: { request_refund: flaky(tools.request_refund!, 99, 'throw').tool }, tools: { timeoutMs: 200, baseDelayMs: 5 } },
    });
    const c = await h.open('bob');
    await c.say('I want a refund for order 2002');
    await c.say('it arrived damaged');
    const reply = await c.say('yes');
    expect(reply.text).toBe(
      "Sorry, I can't reach the system for your refund right now.\n\nI'm asking a human colleague to join.\n\nYou're number 1 in the queue; a colleague will be with you shortly. Say \"cancel\" to carry on with me instead.",
    );
    expect(reply.state).toContain('conversation.handoff.queued');
    expect(c.decisions('fallback').at(-1)).toMatchObject({ reason: 'degraded', data: { escalate: true } });
    expect(c.decisions('escalate').at(-1)).toMatchObject({ reason: 'tool_failed', data: { task: 'refund' } });
  });

  it('a refund whose order cannot be looked up is never requested on a guess: it takes the degraded answer, and nothing is refunded', async () => {
    const { store, tools } = demo();
    h = await startAgentHarness({
      realClock: true,
      agent: { store, desk: deskThatQueues(), toolOverrides: { lookup_order: flaky(tools.lookup_order!, 99, 'throw').tool }, tools: { timeoutMs: 200, baseDelayMs: 5 } },
    });
    const c = await h.open('alice', 'acme');
    const first = await c.say('I want a refund for order 1044');
    expect(first.text).toMatch(/^Sorry, I can't reach the system for your refund right now\./);
    expect(c.decisions('fallback').find((d) => d.reason === 'lookup_unavailable')).toMatchObject({ data: { next: 'degraded', slot: 'orderId' } });
    expect(c.decisions('tool').filter((d) => d.data.tool === 'request_refund')).toEqual([]);
    expect(store.order('acme', '1044')).toMatchObject({ status: 'delivered' });
    // The tool itself refuses a refund of nothing, whoever calls it.
    const context = { identity: { tenant: 'acme', user: 'alice', role: 'customer' }, session: 's-1', idempotencyKey: 'k-1', signal: new AbortController().signal } as never;
    for (const amount of [0, -5, undefined]) {
      expect(await tools.request_refund!.run({ orderId: '1044', reason: 'damaged', ...(amount === undefined ? {} : { amount }) }, context)).toMatchObject({ outcome: 'rejected' });
    }
    expect(store.order('acme', '1044')).toMatchObject({ status: 'delivered' });
  });

  it('with no human and no ticket system either, the ladder ends in a graceful exit and the session goes on', async () => {
    const { store, tools } = demo();
    const ticket = flaky(tools.create_ticket!, 99, 'throw');
    h = await startAgentHarness({
      realClock: true,
      agent: {
        store,
        desk: deskNobodyStaffs(),
        toolOverrides: { request_refund: flaky(tools.request_refund!, 99, 'throw').tool, create_ticket: ticket.tool },
        tools: { timeoutMs: 200, baseDelayMs: 5 },
        policies: { maxToolAttempts: 1 },
      },
    });
    const c = await h.open('bob');
    await c.say('I want a refund for order 2002');
    await c.say('it arrived damaged');
    const offer = await c.say('yes');
    expect(offer.text).toContain('No colleague can take the conversation right now. I can open a ticket so someone gets back to you by email, or arrange a callback. Which would you prefer?');
    expect(offer.state).toContain('conversation.offeringAlternatives');
    expect(c.decisions('handoff').at(-1)).toMatchObject({ reason: 'unavailable', data: { reason: 'no_agent_online', pattern: 'P9' } });

    const exit = await c.say('a ticket please');
    expect(exit.text).toBe("I'm sorry I couldn't finish your request right now. Nothing was changed, and your conversation is saved; please try again a little later.");
    expect(exit.state).toContain('conversation.idle');
    expect(ticket.calls).toHaveLength(1);
    expect(c.decisions('fallback').map((d) => d.reason)).toEqual(expect.arrayContaining(['ticket_failed', 'graceful_exit']));
    expect(c.decisions('fallback').at(-1)).toMatchObject({ reason: 'graceful_exit', data: { pattern: 'P10' } });

    // The session is kept: the customer carries on.
    expect((await c.say('where is order 2001?')).text).toMatch(/^Order 2001 /);
  });

  it('with no human available, a working ticket system opens a ticket', async () => {
    const { store } = demo();
    h = await startAgentHarness({ agent: { store, desk: deskNobodyStaffs() } });
    const c = await h.open('bob');
    await c.say('I want to talk to a person');
    const ticket = await c.say('a ticket please');
    expect(ticket.text).toMatch(/^I've opened ticket T-\d{5}; a colleague will get back to you by email\. Anything else\?$/);
    expect(c.decisions('handoff').at(-1)).toMatchObject({ reason: 'ticket_created' });
  });
});
