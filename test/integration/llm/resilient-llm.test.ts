// The fallback ladder (P10) over real providers: the OpenAI SDK against two loopback servers with
// injected faults, then the local provider. Small timeouts and backoffs keep it fast.
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { budgetedLlm } from '../../../actors/llm-budget.js';
import { isKeelError } from '../../../src/errors.js';
import type { LlmRequest, LlmResponse } from '../../../src/ports.js';
import { llmFailureOf } from '../../../src/llm/llm-provider.js';
import type { LlmProvider } from '../../../src/llm/llm-provider.js';
import { createOpenAiProvider } from '../../../src/llm/openai-provider.js';
import { createResilientLlm } from '../../../src/llm/resilient-llm.js';
import type { LlmDecision, ResilientLlmOptions } from '../../../src/llm/resilient-llm.js';
import { fakeReply, startFakeOpenAiServer } from '../../support/fake-openai-server.js';

const primaryServer = await startFakeOpenAiServer({ apiKey: 'sk-primary' });
const secondaryServer = await startFakeOpenAiServer({ apiKey: 'sk-secondary' });
afterAll(() => Promise.all([primaryServer.close(), secondaryServer.close()]));

const CHAT = '/v1/chat/completions';
const primary = createOpenAiProvider({ baseURL: primaryServer.baseURL, apiKey: 'sk-primary', model: 'fake-model', name: 'primary' });
const secondary = createOpenAiProvider({ baseURL: secondaryServer.baseURL, apiKey: 'sk-secondary', model: 'fake-model', name: 'secondary' });

let localCalls: LlmRequest[] = [];
const local: LlmProvider = {
  name: 'local',
  async complete(request) {
    localCalls.push(request);
    request.onDelta?.('local ');
    request.onDelta?.('answer');
    return { text: 'local answer', toolCalls: [], provider: 'local', model: 'templates', usage: { promptTokens: 0, completionTokens: 0 } };
  },
};

beforeEach(() => {
  primaryServer.reset();
  secondaryServer.reset();
  primaryServer.setDefault((r) => fakeReply.text(`primary: ${String((r.body as { messages: { content: string }[] }).messages[0]?.content)}`));
  secondaryServer.setDefault(fakeReply.text('secondary answer'));
  localCalls = [];
});

function ladder(overrides: Partial<ResilientLlmOptions> = {}) {
  const decisions: LlmDecision[] = [];
  const llm = createResilientLlm({
    providers: [primary, secondary],
    local,
    timeoutMs: 1_000,
    maxAttempts: 3,
    baseDelayMs: 10,
    maxDelayMs: 40,
    random: () => 0,
    retryAfterCapMs: 500,
    breakerFailures: 5,
    halfOpenAfterMs: 200,
    onDecision: (d) => decisions.push(d),
    ...overrides,
  });
  return { llm, decisions };
}

const ask = (content = 'hello', extra: Partial<LlmRequest> = {}): LlmRequest => ({ messages: [{ role: 'user', content }], ...extra });
const live = () => new AbortController().signal;
const kinds = (decisions: LlmDecision[]) => decisions.map((d) => `${d.kind}:${d.reason}`);

describe('resilient llm: the happy path and retries', () => {
  it('answers from the primary with no decisions', async () => {
    const { llm, decisions } = ladder();
    const response = await llm.complete(ask('hi'), live());
    expect(response).toMatchObject({ text: 'primary: hi', provider: 'primary' });
    expect(decisions).toEqual([]);
  });

  it('429 with retry-after, then success: exactly two HTTP requests (retries are not multiplied)', async () => {
    primaryServer.script(fakeReply.error(429, { retryAfterMs: 60 }), fakeReply.text('after the rate limit'));
    const { llm, decisions } = ladder();
    const started = Date.now();
    const response = await llm.complete(ask(), live());
    expect(response.text).toBe('after the rate limit');
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(2);
    expect(secondaryServer.requests).toHaveLength(0);
    // retry-after (60 ms) beats the backoff curve (10 ms).
    expect(Date.now() - started).toBeGreaterThanOrEqual(55);
    expect(decisions).toEqual([
      {
        kind: 'retry',
        reason: 'rate_limited',
        data: expect.objectContaining({ provider: 'primary', attempt: 1, nextAttempt: 2, delayMs: 60, code: 'llm_unavailable', status: 429, retryAfterMs: 60, breaker: 'closed' }),
      },
    ]);
  });

  it('backs off exponentially between 5xx retries', async () => {
    primaryServer.script(fakeReply.error(500), fakeReply.error(503), fakeReply.text('third time lucky'));
    const { llm, decisions } = ladder();
    expect((await llm.complete(ask(), live())).text).toBe('third time lucky');
    expect(decisions.map((d) => d.data['delayMs'])).toEqual([10, 20]);
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(3);
  });

  it('jitter shortens the delay by up to jitterRatio, from the injected random source', async () => {
    primaryServer.script(fakeReply.error(500), fakeReply.text('ok'));
    const { llm, decisions } = ladder({ baseDelayMs: 40, jitterRatio: 0.5, random: () => 0.5 });
    await llm.complete(ask(), live());
    expect(decisions[0]?.data['delayMs']).toBe(30);
  });

  it('a retry-after longer than the cap moves to the next provider at once', async () => {
    primaryServer.script(fakeReply.error(429, { retryAfterMs: 10_000 }));
    const { llm, decisions } = ladder();
    expect((await llm.complete(ask(), live())).provider).toBe('secondary');
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(1);
    expect(decisions).toEqual([
      { kind: 'fallback', reason: 'rate_limited', data: expect.objectContaining({ from: 'primary', to: 'secondary', retryAfterOverCap: true }) },
    ]);
  });

  it('a request the provider rejects (400) is not retried and leaves the breaker alone', async () => {
    primaryServer.script(fakeReply.error(400));
    const { llm, decisions } = ladder({ breakerFailures: 1 });
    expect((await llm.complete(ask(), live())).provider).toBe('secondary');
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(1);
    expect(kinds(decisions)).toEqual(['fallback:rejected']);
    expect(llm.status().providers[0]).toMatchObject({ name: 'primary', breaker: 'closed' });
  });

  it('empty, cut and filtered answers (one customer\'s messages) fall back without opening the breaker every tenant shares', async () => {
    const { llm, decisions } = ladder({ breakerFailures: 2 });
    for (const reply of [fakeReply.text('  '), fakeReply.text('Order 1042 ships with tracking JD01', { finishReason: 'length' }), fakeReply.text('', { finishReason: 'content_filter' }), fakeReply.text('  ')]) {
      primaryServer.script(reply);
      expect((await llm.complete(ask(), live())).provider).toBe('secondary');
    }
    expect(kinds(decisions)).toEqual(['fallback:empty', 'fallback:rejected', 'fallback:rejected', 'fallback:empty']);
    expect(llm.status().providers[0]).toMatchObject({ name: 'primary', breaker: 'closed' });
    expect((await llm.complete(ask('hi'), live())).provider).toBe('primary');
  });
});

describe('resilient llm: timeouts, breakers and failover', () => {
  it('a hang times out each attempt, aborts the request, retries, then fails over', async () => {
    primaryServer.script(fakeReply.hang(), fakeReply.hang());
    const { llm, decisions } = ladder({ timeoutMs: 200, maxAttempts: 2 });
    const response = await llm.complete(ask(), live());
    expect(response.provider).toBe('secondary');
    const requests = primaryServer.requestsTo(CHAT);
    expect(requests).toHaveLength(2);
    await expect.poll(() => requests.every((r) => r.clientAborted)).toBe(true);
    expect(kinds(decisions)).toEqual(['retry:timeout', 'fallback:timeout']);
    expect(decisions[1]?.data).toMatchObject({ code: 'llm_timeout', from: 'primary', to: 'secondary' });
  });

  it('a malformed body → llm_bad_response, not retried on the same provider, then fallback', async () => {
    primaryServer.script(fakeReply.malformed());
    const { llm, decisions } = ladder();
    const response = await llm.complete(ask(), live());
    expect(response).toMatchObject({ provider: 'secondary', text: 'secondary answer' });
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(1);
    expect(decisions).toEqual([
      { kind: 'fallback', reason: 'malformed', data: expect.objectContaining({ code: 'llm_bad_response', from: 'primary', to: 'secondary' }) },
    ]);
    expect(llm.status().providers[0]?.lastFailure).toMatchObject({ code: 'llm_bad_response', reason: 'malformed' });
  });

  it('primary down → second provider down → the local provider answers', async () => {
    const gone = await startFakeOpenAiServer();
    await gone.close();
    const down = createOpenAiProvider({ baseURL: gone.baseURL, apiKey: 'x', model: 'm', name: 'down' });
    secondaryServer.setDefault(fakeReply.error(503));
    const { llm, decisions } = ladder({ providers: [down, secondary], maxAttempts: 2 });
    const response = await llm.complete(ask(), live());
    expect(response).toMatchObject({ provider: 'local', text: 'local answer' });
    expect(localCalls).toHaveLength(1);
    expect(secondaryServer.requestsTo(CHAT)).toHaveLength(2);
    expect(kinds(decisions)).toEqual(['retry:connection', 'fallback:connection', 'retry:server_error', 'fallback:server_error']);
    expect(decisions[1]?.data).toMatchObject({ from: 'down', to: 'secondary' });
    expect(decisions[3]?.data).toMatchObject({ from: 'secondary', to: 'local', code: 'llm_unavailable', status: 503 });
  });

  it('says how many requests carried the prompt, and a session token budget charges each of them', async () => {
    const cut = fakeReply.truncated('x '.repeat(300), 'destroy');
    primaryServer.script(cut, cut, cut);
    secondaryServer.script(cut, fakeReply.text('fine'));
    const { llm } = ladder();
    const used = new Map<string, number>();
    const meter = { used: (s: string) => used.get(s) ?? 0, add: (s: string, n: number) => void used.set(s, (used.get(s) ?? 0) + n) };
    const prompt = 'p'.repeat(40_000);
    const response = await budgetedLlm(llm, { meter, maxSessionTokens: 1_000_000 }, 'S1').complete(ask(prompt, { onDelta: () => undefined }), live());
    expect(response).toMatchObject({ text: 'fine', provider: 'secondary', requests: 5 });
    // Five requests of a prompt of about 10,000 tokens: charged five times, not once.
    expect(used.get('S1')).toBeGreaterThanOrEqual(5 * 10_000);
    // The local rung's answer counts the providers' requests before it.
    primaryServer.script(fakeReply.error(400));
    secondaryServer.script(fakeReply.error(400));
    expect(await llm.complete(ask('hi'), live())).toMatchObject({ provider: 'local', requests: 2 });
  });

  it('a half-open probe its caller cancels proves nothing: the breaker opens again', async () => {
    primaryServer.setDefault(fakeReply.hang());
    const { llm } = ladder({ providers: [primary], breakerFailures: 2, maxAttempts: 1, timeoutMs: 100, halfOpenAfterMs: 200 });
    for (let i = 0; i < 2; i++) await llm.complete(ask(), live());
    expect(llm.status().providers[0]?.breaker).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, 250));
    const probe = new AbortController();
    setTimeout(() => probe.abort(), 30);
    await llm.complete(ask(), probe.signal).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(llm.status().providers[0]?.breaker).toBe('open');
    // The next caller is not sent to the dead provider.
    const before = primaryServer.requestsTo(CHAT).length;
    expect((await llm.complete(ask(), live())).provider).toBe('local');
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(before);
  });

  it('500s open the breaker; an open breaker is skipped without a request; after the cool-down a probe closes it', async () => {
    primaryServer.setDefault(fakeReply.error(500));
    const { llm, decisions } = ladder({ providers: [primary], breakerFailures: 3, maxAttempts: 3, halfOpenAfterMs: 300 });

    expect((await llm.complete(ask(), live())).provider).toBe('local');
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(3);
    expect(kinds(decisions)).toEqual(['retry:server_error', 'retry:server_error', 'alert:circuit_opened', 'fallback:server_error']);
    expect(decisions[3]?.data).toMatchObject({ breaker: 'open', to: 'local' });
    expect(llm.status()).toEqual({
      providers: [{ name: 'primary', breaker: 'open', lastFailure: expect.objectContaining({ code: 'llm_unavailable', reason: 'server_error' }) }],
      local: 'local',
    });

    decisions.length = 0;
    expect((await llm.complete(ask(), live())).provider).toBe('local');
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(3);
    expect(decisions).toEqual([{ kind: 'fallback', reason: 'circuit_open', data: expect.objectContaining({ from: 'primary', to: 'local', breaker: 'open' }) }]);

    primaryServer.setDefault(fakeReply.text('recovered'));
    await new Promise((resolve) => setTimeout(resolve, 350));
    decisions.length = 0;
    expect((await llm.complete(ask(), live())).text).toBe('recovered');
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(4);
    expect(kinds(decisions)).toEqual(['alert:circuit_half_open', 'alert:circuit_closed']);
    expect(llm.status().providers[0]?.breaker).toBe('closed');
  });

  it('a failed half-open probe opens the breaker again', async () => {
    primaryServer.setDefault(fakeReply.error(503));
    const { llm, decisions } = ladder({ providers: [primary], breakerFailures: 1, maxAttempts: 1, halfOpenAfterMs: 100 });
    await llm.complete(ask(), live());
    await new Promise((resolve) => setTimeout(resolve, 130));
    decisions.length = 0;
    expect((await llm.complete(ask(), live())).provider).toBe('local');
    expect(kinds(decisions)).toEqual(['alert:circuit_half_open', 'alert:circuit_opened', 'fallback:server_error']);
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(2);
  });
});

describe('resilient llm: cancellation', () => {
  it("the caller's AbortSignal cancels an in-flight request: no retry, no fallback, not even local", async () => {
    primaryServer.script(fakeReply.hang());
    const { llm, decisions } = ladder();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 60);
    const started = Date.now();
    const err = await llm.complete(ask(), controller.signal).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(800);
    expect(isKeelError(err, 'llm_timeout')).toBe(true);
    expect(llmFailureOf(err)?.reason).toBe('aborted');
    await expect.poll(() => primaryServer.requests[0]?.clientAborted).toBe(true);
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(1);
    expect(secondaryServer.requests).toHaveLength(0);
    expect(localCalls).toHaveLength(0);
    expect(kinds(decisions)).toEqual(['error:aborted']);
  });

  it('a cancel during a backoff returns at once instead of waiting the delay out', async () => {
    primaryServer.script(fakeReply.error(503), fakeReply.text('too late'));
    const { llm } = ladder({ baseDelayMs: 2_000, maxDelayMs: 2_000 });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 80);
    const started = Date.now();
    const err = await llm.complete(ask(), controller.signal).catch((e: unknown) => e);
    expect(llmFailureOf(err)?.reason).toBe('aborted');
    expect(Date.now() - started).toBeLessThan(1_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(1);
  });
});

describe('resilient llm: streaming across rungs', () => {
  it('forwards deltas of the provider that answers', async () => {
    primaryServer.script(fakeReply.text('streamed through the ladder'));
    const { llm } = ladder();
    const deltas: string[] = [];
    const response = await llm.complete(ask('x', { onDelta: (d) => deltas.push(d) }), live());
    expect(deltas.join('')).toBe('streamed through the ladder');
    expect(response.text).toBe('streamed through the ladder');
  });

  it('after a stream breaks mid-answer, later rungs run unstreamed so two answers never interleave', async () => {
    primaryServer.script(fakeReply.truncated('the first answer breaks off somewhere in the middle'));
    const { llm, decisions } = ladder();
    const deltas: string[] = [];
    const response = await llm.complete(ask('x', { onDelta: (d) => deltas.push(d) }), live());
    expect(response).toMatchObject({ provider: 'secondary', text: 'secondary answer' });
    expect('the first answer breaks off somewhere in the middle'.startsWith(deltas.join(''))).toBe(true);
    expect(secondaryServer.requests[0]?.body).not.toHaveProperty('stream', true);
    expect(decisions).toEqual([
      { kind: 'fallback', reason: 'truncated', data: expect.objectContaining({ code: 'llm_bad_response', partialStreamDiscarded: true }) },
    ]);
  });

  it('a throwing onDelta is the caller’s bug: reported, not retried, no failover', async () => {
    const { llm, decisions } = ladder();
    const err = await llm.complete(ask('x', { onDelta: () => { throw new Error('socket gone'); } }), live()).catch((e: unknown) => e);
    expect(isKeelError(err, 'internal')).toBe(true);
    expect(primaryServer.requestsTo(CHAT)).toHaveLength(1);
    expect(secondaryServer.requests).toHaveLength(0);
    expect(localCalls).toHaveLength(0);
    expect(kinds(decisions)).toEqual(['error:internal']);
  });

  it('a provider that failed before streaming anything does not stop the next one from streaming', async () => {
    primaryServer.script(fakeReply.error(401));
    const { llm } = ladder({ providers: [primary, secondary] });
    const deltas: string[] = [];
    await llm.complete(ask('x', { onDelta: (d) => deltas.push(d) }), live());
    expect(deltas.join('')).toBe('secondary answer');
  });
});

describe('resilient llm: surface', () => {
  it('withDecisions reports one call to its own listener as well as to onDecision', async () => {
    primaryServer.script(fakeReply.error(500), fakeReply.text('ok'));
    const { llm, decisions } = ladder();
    const mine: LlmDecision[] = [];
    await llm.withDecisions((d) => mine.push(d)).complete(ask(), live());
    await llm.complete(ask(), live());
    expect(kinds(mine)).toEqual(['retry:server_error']);
    expect(kinds(decisions)).toEqual(['retry:server_error']);
  });

  it('a listener that throws does not break the call', async () => {
    primaryServer.script(fakeReply.error(500));
    const { llm } = ladder({ onDecision: () => { throw new Error('observer bug'); } });
    expect((await llm.complete(ask(), live())).text).toBe('primary: hello');
  });

  it('with no providers the local provider answers everything', async () => {
    const { llm, decisions } = ladder({ providers: [] });
    const response: LlmResponse = await llm.complete(ask(), live());
    expect(response.provider).toBe('local');
    expect(decisions).toEqual([]);
    expect(llm.status()).toEqual({ providers: [], local: 'local' });
  });

  it('a failing local rung is reported and surfaces as a KeelError', async () => {
    const broken = { complete: () => Promise.reject(new Error('templates missing')) };
    const { llm, decisions } = ladder({ providers: [], local: broken });
    const err = await llm.complete(ask(), live()).catch((e: unknown) => e);
    expect(isKeelError(err, 'llm_unavailable')).toBe(true);
    expect(kinds(decisions)).toEqual(['error:local_failed']);
  });

  it('rejects bad options with a TypeError naming them', () => {
    expect(() => createResilientLlm({ local, maxAttempts: 0 })).toThrow(/maxAttempts/);
    expect(() => createResilientLlm({ local, jitterRatio: 2 })).toThrow(/jitterRatio/);
    expect(() => createResilientLlm({ local, providers: [primary, primary] })).toThrow(/providers/);
    expect(() => createResilientLlm({} as ResilientLlmOptions)).toThrow(/local/);
  });
});
