/**
 * The model fails in every way the fake server can inject: 429 with retry-after, 500, a request
 * that hangs past the time budget, a malformed body, a stream cut short. Whatever happens, the
 * customer gets exactly one reply, the grounded one, and the trace shows the retries and the
 * fallback. The model's routing and planning fall back to the local router and planner.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeReply, type FakeReply } from '../../support/fake-openai-server.js';
import { startAgentHarness, type AgentHarness } from './support/agent-harness.js';
import { startScriptedModel, type ScriptedModel } from './support/scripted-model.js';

const GROUNDED = 'Order 1042 (Trail running shoes, Merino socks) is on its way: with DHL (tracking JD0146000012): out for delivery, expected on 2024-05-07.';

let model: ScriptedModel;
let h: AgentHarness;
beforeAll(async () => {
  model = await startScriptedModel();
  h = await startAgentHarness({ agent: { env: model.env } });
});
afterAll(async () => {
  await h.close();
  await model.close();
});
afterEach(() => {
  for (const kind of ['route', 'plan', 'draft'] as const) model.failing(kind, undefined);
});

/** A fault, the reason of the ladder's retries (none when it is not retried), and the attempts made. */
const faults: [string, FakeReply, string | undefined, number][] = [
  ['429 with retry-after', fakeReply.error(429, { retryAfterMs: 20 }), 'rate_limited', 3],
  ['500', fakeReply.error(500), 'server_error', 3],
  ['a request that hangs past the time budget', fakeReply.hang(), 'timeout', 3],
  ['a malformed body', fakeReply.malformed(), undefined, 1],
  ['a stream cut short', fakeReply.truncated('Order 1042 is on its wa', 'destroy'), 'connection', 3],
];

describe('faults of the drafting call', () => {
  for (const [name, fault, retryReason, expectedAttempts] of faults) {
    it(`${name}: the customer gets the grounded reply; the trace shows the retries and the fallback`, async () => {
      // A hanging model needs a short time budget; the others keep the default, so a loaded
      // machine never turns a slow answer into a timeout.
      const hangs = fault.kind === 'hang';
      const harness = hangs ? await startAgentHarness({ agent: { env: model.env, llmTimeoutMs: 300 } }) : h;
      try {
        await faultedTurn(harness, fault, retryReason, expectedAttempts, !hangs);
      } finally {
        if (hangs) await harness.close();
      }
    });
  }

  async function faultedTurn(harness: AgentHarness, fault: FakeReply, retryReason: string | undefined, expectedAttempts: number, checkRecovery: boolean) {
    {
      const c = await harness.open('alice');
      model.failing('draft', fault);
      const before = model.requests('draft').length;
      const reply = await c.say('where is my order 1042?');
      expect(reply.text).toBe(GROUNDED);
      expect(reply.meta).toMatchObject({ source: 'template' });
      expect(reply.outcome.frames.filter((f) => f.type === 'reply')).toHaveLength(1);
      // Every attempt reached the server: the SDK's own retries are off, the ladder's are visible.
      const attempts = model.requests('draft').length - before;
      expect(attempts).toBe(expectedAttempts);
      const llmRetries = c.decisions('retry').filter((d) => d.reason.startsWith('llm:'));
      expect(llmRetries.map((d) => d.reason)).toEqual(Array.from({ length: attempts - 1 }, () => `llm:${retryReason}`));
      const fallbacks = c.decisions('fallback').map((d) => d.reason);
      expect(fallbacks).toEqual(expect.arrayContaining([expect.stringMatching(/^llm:/), 'llm_local_rung']));
      expect(c.decisions('fallback').find((d) => d.reason === 'llm_local_rung')!.data).toMatchObject({ to: 'template', provider: 'local' });
      // The session is fine: the model is back, and so is the rephrasing.
      model.failing('draft', undefined);
      if (checkRecovery) expect((await c.say('where is order 1043?')).text).toMatch(/^✦ Order 1043 /);
    }
  }

  it('a model that hangs on every call (routing and drafting) costs time, not the answer: each call stops at its deadline, inside the turn timeout', async () => {
    // Scaled down: attempts of 400 ms, calls of 600 ms, a turn of 2.5 s. Without the call deadline
    // the two calls took 3 attempts and their backoff each, past the turn timeout.
    const harness = await startAgentHarness({ realClock: true, turnTimeoutMs: 2500, agent: { env: model.env, llmTimeoutMs: 400, llmDeadlineMs: 600 } });
    try {
      for (const kind of ['route', 'plan', 'draft'] as const) model.failing(kind, fakeReply.hang());
      const c = await harness.open('alice');
      const reply = await c.say('where is my order 1042?');
      expect(reply.text).toBe(GROUNDED);
      expect(reply.meta).toMatchObject({ source: 'template' });
      expect(c.decisions('fallback').map((d) => d.reason)).toEqual(expect.arrayContaining(['llm:deadline']));
    } finally {
      await harness.close();
    }
  });

  it('a 401 (a bad key) is not retried and falls back at once', async () => {
    const c = await h.open('alice');
    model.failing('draft', fakeReply.error(401));
    const before = model.requests('draft').length;
    const reply = await c.say('where is my order 1042?');
    expect(reply.text).toBe(GROUNDED);
    expect(model.requests('draft').length - before).toBe(1);
  });
});

describe('faults of routing and planning', () => {
  it('routing: a failing model leaves the message to the local router, with the reason in the trace', async () => {
    const c = await h.open('alice');
    model.failing('route', fakeReply.error(500));
    const reply = await c.say('where is my order 1042?');
    expect(reply.text).toMatch(/Order 1042 .* is on its way/);
    expect(c.decisions('route').at(-1)!.data).toMatchObject({ source: 'local' });
    expect(c.decisions('fallback').map((d) => d.reason)).toContain('llm_route_unusable');
  });

  it('routing: a model that says "none" makes the message out of scope, never a guess', async () => {
    const c = await h.open('alice');
    model.next('route', fakeReply.text('{"intent": "none", "confidence": 0.9}'));
    const reply = await c.say('where is my order 1042?');
    expect(reply.state).toContain('conversation.offeringHuman');
    expect(c.decisions('route').at(-1)!.data).toMatchObject({ pattern: 'P5', outOfScopeReason: 'oos_class', source: expect.stringMatching(/^llm:/) });
  });

  it('routing: a model naming an intent that does not exist is ignored for the local router', async () => {
    const c = await h.open('alice');
    model.next('route', fakeReply.text('{"intent": "delete_all_orders", "confidence": 0.99}'));
    const reply = await c.say('where is my order 1042?');
    expect(reply.text).toMatch(/Order 1042 /);
    expect(c.decisions('route').at(-1)!.data).toMatchObject({ source: 'local' });
  });

  it('planning: the model drafts the plan when it can; a draft naming unknown tasks is replaced by the local plan', async () => {
    const c = await h.open('alice');
    model.next('plan', fakeReply.text('{"steps": [{"task": "cancel_order", "text": "cancel order 1043"}, {"task": "refund", "text": "refund me", "dependsOn": 0}]}'));
    await c.say('cancel order 1043 and refund me');
    expect(c.decisions('plan').find((d) => d.reason === 'planned')!.data).toMatchObject({ source: 'llm', steps: [{ task: 'cancel_order' }, { task: 'refund', dependsOn: 0 }] });

    const d = await h.open('alice');
    model.next('plan', fakeReply.text('{"steps": [{"task": "wire_money", "text": "send 1000"}, {"task": "refund"}]}'));
    await d.say('cancel order 1043 and refund me');
    expect(d.decisions('plan').find((x) => x.reason === 'planned')!.data).toMatchObject({ source: 'local', reason: 'clauses' });
    expect(d.decisions('fallback').map((x) => x.reason)).toContain('llm_plan_unusable');

    const e = await h.open('alice');
    model.failing('plan', fakeReply.malformed());
    await e.say('cancel order 1043 and refund me');
    expect(e.decisions('plan').find((x) => x.reason === 'planned')!.data).toMatchObject({ source: 'local' });
  });
});
