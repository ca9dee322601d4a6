/**
 * Metrics, alerts and logs on real activity: `/metrics` parses as Prometheus text and its series
 * move when turns happen (turns, tool calls and their latency, retries, fallbacks by rung, LLM
 * latency against a loopback OpenAI-compatible server); an alert rule fires under injected tool
 * failures (an `alert` event, a warning line, a counter) and resolves when the tool heals; logs
 * have one child logger per session with its ids, and never the email a user wrote.
 */
import { Writable } from 'node:stream';
import { emit, setup } from 'xstate';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLocalLlm } from '../../../src/agent/local-llm.js';
import { createConfiguredLlm } from '../../../src/llm/llm-chain.js';
import { readLlmConfig } from '../../../src/llm/llm-config.js';
import { createObservability } from '../../../src/observe/observability.js';
import { createLogger, createRuntime, tenantId, userId } from '../../../src/index.js';
import type { DecisionEvent, SessionInput, UserMessageEvent } from '../../../src/ports.js';
import { fakeReply, startFakeOpenAiServer } from '../../support/fake-openai-server.js';
import { tempDir } from '../../support/temp-dir.js';
import { parsePromText } from '../../unit/observe/prom-text.js';
import { openChat, isReplyTo, startKeel } from '../server/support/keel-harness.js';
import { createObservedAgent } from './support/observed-agent.js';

/** A pino destination that keeps every line. */
function memoryDestination(): Writable & { lines: () => Record<string, unknown>[]; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return Object.assign(stream, {
    text: () => chunks.join(''),
    lines: () => chunks.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>),
  });
}

describe('metrics, alerts and logs', () => {
  const cleanups: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn();
  });

  it('serves /metrics as Prometheus text whose series move with real turns', async () => {
    const llmServer = await startFakeOpenAiServer({ apiKey: 'sk-test', defaultReply: fakeReply.text('Here is what I found for you.', { delayMs: 30 }) });
    cleanups.push(() => llmServer.close());
    const temp = tempDir('keel-metrics-');
    const llm = createConfiguredLlm(readLlmConfig({ OPENAI_BASE_URL: llmServer.baseURL, OPENAI_API_KEY: 'sk-test', KEEL_MODEL: 'gpt-test' }), { local: createLocalLlm() });
    const agent = await createObservedAgent({ dataDir: temp.dir, failing: new Set(['track_order']), llm });
    const h = await startKeel({ dir: temp.dir, machine: agent.machine as never });
    cleanups.push(temp.remove, () => h.stop());
    const scrape = async () => {
      const res = await fetch(`${h.url}/metrics`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toContain('text/plain');
      return parsePromText(await res.text());
    };

    const before = await scrape();
    expect(before.value('keel_turns_total', { outcome: 'ok' }) ?? 0).toBe(0);
    expect(before.types.get('keel_nodejs_eventloop_lag_seconds')).toBe('gauge');

    const chat = await openChat(h, { token: await h.token({ user: 'alice' }) });
    cleanups.push(() => chat.close());
    chat.send({ type: 'message', id: 'm1', text: 'where is my order 1042?' });
    await chat.next(isReplyTo('m1'), 15_000);
    chat.send({ type: 'message', id: 'm2', text: 'I want to talk to a human' });
    await chat.next(isReplyTo('m2'), 15_000);

    const text = await (await fetch(`${h.url}/metrics`)).text();
    const after = parsePromText(text);
    expect(after.value('keel_turns_total', { outcome: 'ok' })).toBe(2);
    expect(after.value('keel_turn_duration_seconds_count')).toBe(2);
    expect(after.value('keel_tool_calls_total', { tool: 'track_order', outcome: 'failed' })).toBe(3);
    expect(after.value('keel_tool_call_duration_seconds_count', { tool: 'track_order' })).toBe(3);
    expect(after.value('keel_tool_calls_total', { tool: 'order_status_cache', outcome: 'ok' })).toBe(1);
    expect(after.value('keel_retries_total', { source: 'tool' })).toBe(2);
    expect(after.value('keel_fallbacks_total', { rung: 'alternative' })).toBe(1);
    expect(after.value('keel_escalations_total', { reason: 'user_asked' })).toBe(1);
    expect(after.value('keel_handoffs_total', { status: 'queued' })).toBe(1);
    expect(after.value('keel_live_sessions')).toBe(1);
    // The reply of the first turn was drafted by the model: one LLM request of at least its delay.
    const llmSeries = after.samples.filter((s) => s.name === 'keel_llm_request_duration_seconds_count');
    expect(llmSeries.reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(1);
    expect(after.samples.filter((s) => s.name === 'keel_llm_request_duration_seconds_sum').reduce((n, s) => n + s.value, 0)).toBeGreaterThanOrEqual(0.03);
    // Low cardinality: never a session, user or tenant in a label; base units in names.
    for (const s of after.samples) expect(Object.keys(s.labels).some((k) => ['session', 'user', 'tenant'].includes(k))).toBe(false);
    expect(text).not.toContain(chat.sessionId);
    expect(text).not.toContain('alice');
    for (const [name, type] of after.types) {
      if (name.startsWith('keel_') && type === 'counter') expect(name).toMatch(/_total$/);
      if (name.startsWith('keel_') && type === 'histogram') expect(name).toMatch(/_seconds$|_bytes$/);
    }
  });

  it('raises an alert event, a warning line and a counter when a tool keeps failing, and resolves it when the tool heals', async () => {
    const temp = tempDir('keel-alerts-');
    cleanups.push(temp.remove);
    const agent = await createObservedAgent({ dataDir: temp.dir, failing: new Set(['track_order', 'order_status_cache']) });
    const logs = memoryDestination();
    const logger = createLogger({ level: 'info', destination: logs });
    const runtime = createRuntime({ dataDir: temp.dir, machine: agent.machine, logger });
    const observability = createObservability({
      runtime, logger, processMetrics: false,
      alertRules: [{ name: 'fallback_rate', type: 'rate', kinds: ['fallback'], threshold: 0.5, clearBelow: 0.3, windowMs: 600_000, minSamples: 3 }],
    });
    cleanups.push(async () => {
      observability.close();
      await runtime.close();
    });
    const alerts: DecisionEvent[] = [];
    runtime.decisions.subscribe((e) => {
      if (e.kind === 'alert') alerts.push(e);
    });
    const { sessionId } = await runtime.open({ tenant: tenantId('acme'), user: userId('alice') });
    let n = 0;
    const ask = (text: string) => runtime.send(sessionId, { type: 'user.message', id: `m${++n}`, text });

    // Injected failures: the carrier and its cache are both down, every order question falls back.
    for (const order of ['1042', '1043', '1044']) await ask(`where is my order ${order}?`);
    expect(observability.alerts.active().map((a) => a.rule)).toEqual(['fallback_rate']);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ kind: 'alert', reason: 'fallback_rate firing', data: { rule: 'fallback_rate', status: 'firing', threshold: 0.5 } });
    expect(alerts[0]!.data.value as number).toBeGreaterThanOrEqual(0.5);
    await vi.waitFor(() => expect(logs.lines().some((l) => l.level === 40 && l.msg === 'alert fallback_rate firing')).toBe(true));
    const metrics = parsePromText(await observability.metrics.text());
    expect(metrics.value('keel_alerts_total', { rule: 'fallback_rate' })).toBe(1);
    // The alert is in the trace too, for the history.
    await vi.waitFor(() => expect(runtime.events.query({ kinds: ['alert'] })).toHaveLength(1));

    // The tools heal: turns without fallbacks bring the rate under the clearing bound.
    agent.failing.clear();
    for (const order of ['1042', '1043', '1044', '1045', '1042', '1043', '1044', '1045']) await ask(`where is my order ${order}?`);
    expect(observability.alerts.active()).toEqual([]);
    expect(alerts.map((a) => a.data.status)).toEqual(['firing', 'resolved']);
  });

  it('logs through one child logger per session with its ids, and masks what users wrote', async () => {
    const temp = tempDir('keel-logs-');
    cleanups.push(temp.remove);
    const logs = memoryDestination();
    // A machine whose failure message quotes the user, as careless code does.
    const machine = setup({
      types: { input: {} as SessionInput, events: {} as UserMessageEvent, emitted: {} as { type: 'agent.reply'; text: string } },
    }).createMachine({
      id: 'careless-agent',
      on: {
        'user.message': [
          {
            guard: ({ event }) => event.text.startsWith('fail'),
            actions: ({ event }) => {
              throw new Error(`cannot handle "${event.text}"`);
            },
          },
          { actions: emit({ type: 'agent.reply' as const, text: 'ok' }) },
        ],
      },
    });
    const runtime = createRuntime({ dataDir: temp.dir, machine, logger: createLogger({ level: 'debug', destination: logs }) });
    cleanups.push(() => runtime.close());
    const { sessionId } = await runtime.open({ tenant: tenantId('acme'), user: userId('alice') });
    const outcome = await runtime.send(sessionId, { type: 'user.message', id: 'm1', text: 'fail: write to ann.smith@example.com or +44 20 7946 0958, card 4111 1111 1111 1111' });
    expect(outcome.frames.at(-1)?.meta).toMatchObject({ failed: true });
    await runtime.close();

    // Numbers zeroed: a log line's timestamp may hold '7946' or '4111'; what leaks would be text.
    const text = logs.lines().map((l) => JSON.stringify(l, (_key, value: unknown) => (typeof value === 'number' ? 0 : value))).join('\n');
    const failure = logs.lines().find((l) => l.msg === 'session actor failed; restored to the last committed state');
    expect(failure).toMatchObject({ session: sessionId, tenant: 'acme', user: 'alice', level: 50 });
    expect(JSON.stringify(failure)).toContain('[email]');
    expect(text).not.toContain('ann.smith@example.com');
    expect(text).not.toContain('7946');
    expect(text).not.toContain('4111');
  });
});
