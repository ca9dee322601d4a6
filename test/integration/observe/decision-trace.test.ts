/**
 * The decision trace of a scripted conversation with the demo support agent matches what
 * happened: the route with its candidates, scores and thresholds; every tool call with its
 * (redacted) arguments, latency and outcome, including the retries and the fallback to the
 * alternative tool when the carrier is down; the escalation and the hand-off; the rejected event;
 * and each reply with its latency. Live and persisted traces agree, and personal data is masked.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createDefaultAgent } from '../../../src/agent/default-agent.js';
import { createManualClock, createRuntime, tenantId, userId, type Runtime } from '../../../src/index.js';
import type { DecisionEvent } from '../../../src/ports.js';
import { tempDir } from '../../support/temp-dir.js';
import { createObservedAgent } from './support/observed-agent.js';

/** The trace as JSON with every number zeroed: what it says, not when (timestamps and latencies hold any digits). */
const textOf = (events: unknown): string => JSON.stringify(events, (_key, value: unknown) => (typeof value === 'number' ? 0 : value));

/** The trace is written in per-tick batches that commit asynchronously; wait until `check` passes. */
const settled = (check: () => void) => vi.waitFor(check, { timeout: 5000, interval: 10 });

describe('decision trace', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  const start = async (options: { failing?: string[]; clock?: ReturnType<typeof createManualClock> } = {}) => {
    const temp = tempDir('keel-trace-');
    const agent = await createObservedAgent({ dataDir: temp.dir, failing: new Set(options.failing ?? []) });
    const runtime: Runtime = createRuntime({ dataDir: temp.dir, machine: agent.machine, ...(options.clock ? { clock: options.clock } : {}) });
    const live: DecisionEvent[] = [];
    runtime.decisions.subscribe((e) => live.push(e));
    cleanups.push(async () => {
      await runtime.close();
      temp.remove();
    });
    return { runtime, agent, live };
  };

  it('records every route, tool call, retry, fallback, escalation, hand-off, error and reply of a conversation', async () => {
    const { runtime, agent, live } = await start({ failing: ['track_order'] });
    const { sessionId } = await runtime.open({ tenant: tenantId('acme'), user: userId('alice') });
    const say = (id: string, text: string) => runtime.send(sessionId, { type: 'user.message', id, text });

    const first = await say('m1', 'where is my order 1042?');
    expect(first.frames.at(-1)?.text).toMatch(/1042/);
    await say('m2', 'you can reach me at ann.smith@example.com or +44 20 7946 0958');
    await say('m3', 'I want to talk to a human');
    await expect(runtime.send(sessionId, { type: 'nodots' })).rejects.toMatchObject({ code: 'bad_frame' });

    for (const e of live) {
      expect(e).toMatchObject({ tenant: 'acme', session: sessionId, user: 'alice' });
      expect(typeof e.traceId).toBe('string');
      expect(Number.isFinite(e.time)).toBe(true);
    }
    const turn1 = live.filter((e) => e.traceId === `${sessionId}:${first.seq}` && e.kind !== 'inspect');

    // The route: candidates with scores, the thresholds the decision used, what was chosen.
    const route = turn1.find((e) => e.kind === 'route');
    expect(route?.reason).toBe('startTask');
    expect(route?.data).toMatchObject({ chosen: 'order_status', source: 'local', confidence: 'confident' });
    const candidates = route?.data.candidates as Array<{ intent: string; score: number }>;
    expect(candidates[0]).toMatchObject({ intent: 'order_status' });
    expect(candidates[0]!.score).toBeGreaterThan(0.5);
    expect(Object.keys(route?.data.thresholds as object).sort()).toEqual(['closeMargin', 'lowConfidence', 'outOfScope']);

    // Every call the tools saw is in the trace, in order, with its outcome, latency and arguments.
    const calls = turn1.filter((e) => typeof e.data.tool === 'string' && typeof e.data.latencyMs === 'number');
    expect(calls.map((e) => [e.kind, e.data.tool, e.data.outcome])).toEqual([
      ['tool', 'lookup_order', 'ok'],
      ['retry', 'track_order', 'failed'],
      ['retry', 'track_order', 'failed'],
      ['fallback', 'track_order', 'failed'],
      ['tool', 'order_status_cache', 'ok'],
    ]);
    expect(agent.calls.get('track_order')).toBe(3);
    expect(agent.calls.get('order_status_cache')).toBe(1);
    for (const c of calls) {
      expect(c.data.args).toEqual({ orderId: '1042' });
      expect(c.data.latencyMs as number).toBeGreaterThanOrEqual(0);
    }
    expect(calls.filter((e) => e.kind === 'retry').map((e) => e.data.attempt)).toEqual([1, 2]);
    expect(calls.find((e) => e.kind === 'fallback')?.data).toMatchObject({ next: 'alternative', to: 'order_status_cache', attempt: 3 });
    // Decisions report the state they were made in: the retries in `executing`, not where the step ended.
    expect(calls.find((e) => e.kind === 'retry')?.state).toMatch(/task\.executing/);
    const reply1 = turn1.find((e) => e.kind === 'reply');
    expect(reply1?.data).toMatchObject({ seq: first.seq });
    expect(reply1?.data.latencyMs as number).toBeGreaterThanOrEqual(0);
    expect(turn1.at(-1)?.kind).toBe('reply');

    // The escalation and the hand-off protocol of the third turn.
    const kinds = live.filter((e) => e.kind !== 'inspect').map((e) => `${e.kind}:${e.reason}`);
    expect(kinds).toContain('escalate:user_asked');
    expect(kinds).toContain('handoff:queued');
    // The rejected event is an error of the trace too, marked as told to the caller.
    expect(live.find((e) => e.kind === 'error')?.data).toMatchObject({ code: 'bad_frame', thrown: true });

    // The persisted trace is the live one.
    await settled(() => expect(runtime.events.query({ session: sessionId }).map((e) => `${e.kind}:${e.reason}`)).toEqual(live.map((e) => `${e.kind}:${e.reason}`)));
    const stored = runtime.events.query({ session: sessionId });
    // Personal data never reaches the trace (numbers are left out: a timestamp may hold '7946').
    const text = textOf(stored);
    expect(text).not.toContain('ann.smith@example.com');
    expect(text).not.toContain('7946');
  });

  it('traces the default agent (what keel serve runs) through the ladder of a failing carrier tool', async () => {
    const temp = tempDir('keel-trace-default-');
    let carrierCalls = 0;
    const agent = await createDefaultAgent({
      dataDir: temp.dir,
      tools: { baseDelayMs: 5, maxDelayMs: 20 },
      toolOverrides: {
        track_order: {
          description: 'Tracks an order with the carrier.',
          parameters: { type: 'object', properties: { orderId: { type: 'string' } } },
          run: () => {
            carrierCalls++;
            throw new Error('the carrier is down');
          },
        },
      },
    });
    const runtime = createRuntime({ dataDir: temp.dir, machine: agent.machine });
    cleanups.push(async () => {
      await runtime.close();
      temp.remove();
    });
    const live: DecisionEvent[] = [];
    runtime.decisions.subscribe((e) => live.push(e));
    const { sessionId } = await runtime.open({ tenant: tenantId('acme'), user: userId('alice') });
    const out = await runtime.send(sessionId, { type: 'user.message', id: 'm1', text: 'where is my order 1042?' });
    expect(out.frames.at(-1)?.text).toMatch(/1042/);
    const turn = live.filter((e) => e.traceId === `${sessionId}:${out.seq}`);
    expect(turn.find((e) => e.kind === 'route')?.data.chosen).toBe('order_status');
    const carrier = turn.filter((e) => e.data.tool === 'track_order' && typeof e.data.latencyMs === 'number');
    expect(carrier.map((e) => [e.kind, e.data.attempt, e.data.outcome])).toEqual([['retry', 1, 'failed'], ['retry', 2, 'failed'], ['fallback', 3, 'failed']]);
    expect(carrierCalls).toBe(3);
    expect(turn.find((e) => e.kind === 'tool' && e.data.tool === 'order_status_cache')?.data).toMatchObject({ outcome: 'ok', args: { orderId: '1042' } });
    expect(turn.at(-1)).toMatchObject({ kind: 'reply', data: { seq: out.seq } });
  });

  it('adds simplified XState inspection for one session on demand, with no payloads', async () => {
    const { runtime, live } = await start();
    const a = await runtime.open({ tenant: tenantId('acme'), user: userId('alice') });
    const b = await runtime.open({ tenant: tenantId('acme'), user: userId('bob') });
    const stop = runtime.inspect(a.sessionId);
    await runtime.send(a.sessionId, { type: 'user.message', id: 'm1', text: 'where is my order 1042? mail ann@example.com' });
    await runtime.send(b.sessionId, { type: 'user.message', id: 'm1', text: 'where is my order 2001?' });
    stop();
    await runtime.send(a.sessionId, { type: 'user.message', id: 'm2', text: 'thanks' });

    const inspected = live.filter((e) => e.kind === 'inspect');
    expect(inspected.length).toBeGreaterThan(5);
    expect(new Set(inspected.map((e) => e.session))).toEqual(new Set([a.sessionId]));
    expect(inspected.every((e) => e.traceId === `${a.sessionId}:1`)).toBe(true);
    const reasons = new Set(inspected.map((e) => e.reason));
    for (const r of ['event', 'microstep', 'actor.started', 'actor.done']) expect(reasons).toContain(r);
    // The states the session passed through between commits, in order.
    const states = inspected.filter((e) => e.reason === 'microstep').map((e) => String(e.data.state).split(',')[0]);
    expect(states).toContain('conversation.routing');
    expect(states).toContain('conversation.task.executing');
    expect(inspected.find((e) => e.reason === 'actor.done' && e.data.actor === 'callTool')?.data.latencyMs).toEqual(expect.any(Number));
    // Types and names only: never a snapshot, a context or what the user wrote.
    const text = textOf(inspected);
    expect(text).not.toContain('ann@example.com');
    expect(text).not.toContain('1042');
    expect(text).not.toContain('context');
  });

  it('answers history queries by time range, user, session and kind', async () => {
    const day = 86_400_000;
    const t0 = Date.UTC(2026, 0, 5, 9);
    const clock = createManualClock(t0);
    const { runtime } = await start({ clock });
    const turn = async (user: string, text: string) => {
      const { sessionId } = await runtime.open({ tenant: tenantId('acme'), user: userId(user) });
      await runtime.send(sessionId, { type: 'user.message', id: 'm1', text });
      return sessionId;
    };
    const alice1 = await turn('alice', 'where is my order 1042?');
    clock.advance(3 * day);
    const bob = await turn('bob', 'where is my order 2001?');
    clock.advance(3 * day);
    const alice2 = await turn('alice', 'what is your returns policy?');
    await settled(() => expect(runtime.events.query({ session: alice2, kinds: ['reply'] })).toHaveLength(1));

    const sessionsOf = (events: DecisionEvent[]) => [...new Set(events.map((e) => e.session))];
    expect(sessionsOf(runtime.events.query({ tenant: tenantId('acme'), user: userId('alice') }))).toEqual([alice1, alice2]);
    // Alice's first session lives on in the range (idle sweeps, timers), but only Bob talked.
    expect(sessionsOf(runtime.events.query({ since: t0 + day, until: t0 + 4 * day })).sort()).toEqual([alice1, bob].sort());
    expect(sessionsOf(runtime.events.query({ since: t0 + day, until: t0 + 4 * day, kinds: ['route', 'reply'] }))).toEqual([bob]);
    expect(sessionsOf(runtime.events.query({ since: t0 + 5 * day, user: userId('alice') }))).toEqual([alice2]);
    expect(runtime.events.query({ session: alice1, kinds: ['route'] }).map((e) => e.data.chosen)).toEqual(['order_status']);
    const newest = runtime.events.query({ user: userId('alice'), kinds: ['reply'], reverse: true, limit: 1 });
    expect(newest.map((e) => e.session)).toEqual([alice2]);
    expect(runtime.events.query({ tenant: tenantId('other') })).toEqual([]);
  });
});
