/**
 * The LLM path of the default agent with the real `openai` SDK over HTTP against the fake
 * OpenAI-compatible server on loopback: the model rephrases grounded drafts (streamed as deltas
 * before the single reply), may call only the tools the current state allows, and a hostile model
 * that calls other tools or reaches for another customer's order is refused by the tool guard,
 * audited, and the conversation goes on with the grounded answer.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fakeReply } from '../../support/fake-openai-server.js';
import { startAgentHarness, until, type AgentHarness } from './support/agent-harness.js';
import { draftOf, startScriptedModel, toolsOffered, type ScriptedModel } from './support/scripted-model.js';

const RETURNS = /To start a return, ask us for a refund on the order or use the returns page/;

let model: ScriptedModel;
let h: AgentHarness;
beforeAll(async () => {
  model = await startScriptedModel({ chunkDelayMs: 1 });
  h = await startAgentHarness({ agent: { env: model.env } });
});
afterAll(async () => {
  await h.close();
  await model.close();
});
afterEach(() => {
  model.failing('draft', undefined);
});

describe('rephrasing grounded drafts, streamed', () => {
  it('a knowledge answer is drafted from the passage, rephrased by the model, and streamed before the one reply', async () => {
    const c = await h.open('alice');
    const seen: string[] = [];
    const before = model.requests('draft').length;
    const reply = await c.say('what is your return policy', { onDelta: (text) => seen.push(text) });
    const request = model.requests('draft')[before]!;
    // The model got the grounded draft and the facts; it may only rephrase them.
    expect(draftOf(request)).toMatch(RETURNS);
    expect(JSON.stringify(request.body)).toContain('Returns policy');
    expect((request.body as { stream?: boolean }).stream).toBe(true);
    expect(reply.text).toMatch(/^✦ To start a return/);
    expect(reply.meta).toMatchObject({ source: expect.stringMatching(/^llm:/), sources: expect.arrayContaining([expect.stringMatching(/^returns#/)]) });
    expect(seen.length).toBeGreaterThan(1);
    expect(seen.join('')).toBe(reply.text);
  });

  it('a delta listener that throws changes nothing: the turn gets its reply and nothing is rethrown', async () => {
    const c = await h.open('alice');
    let calls = 0;
    const reply = await c.say('what is your return policy', {
      onDelta: () => {
        calls++;
        throw new Error('socket gone');
      },
    });
    expect(calls).toBeGreaterThan(1);
    expect(reply.text).toMatch(/^✦ To start a return/);
    // XState would have rethrown the listener's error on a timer: give it the chance to.
    await new Promise((resolve) => setTimeout(resolve, 50));
  });

  it('task replies are rephrased too, from the tool result only, and offered no tools', async () => {
    const c = await h.open('alice');
    const before = model.requests('draft').length;
    const reply = await c.say('where is my order 1042?');
    expect(reply.text).toMatch(/^✦ Order 1042 \(Trail running shoes, Merino socks\) is on its way/);
    const request = model.requests('draft')[before]!;
    expect(toolsOffered(request)).toEqual([]);
    expect(JSON.stringify(request.body)).toContain('JD0146000012');
  });

  it('out of scope stays a template: the model is never asked to answer it', async () => {
    const c = await h.open('alice');
    const before = model.requests('draft').length;
    const reply = await c.say("what's the weather like on mars");
    expect(reply.text).toMatch(/^Sorry, I can't help with that here\./);
    expect(model.requests('draft').length).toBe(before);
  });
});

describe('tool calls: only what the state allows, decided by the guard', () => {
  it('answering a question, the model is offered only the answer tools and may look up the customer\'s own order', async () => {
    const c = await h.open('alice', 'acme-llm-1');
    model.next('draft', fakeReply.toolCalls([{ name: 'lookup_order', arguments: { orderId: '1044' } }]), fakeReply.text('Returns are free within 30 days; your backpack (order 1044) qualifies.'));
    const before = model.requests('draft').length;
    const reply = await c.say('what is your return policy');
    expect(toolsOffered(model.requests('draft')[before]!)).toEqual(['lookup_order']);
    expect(reply.text).toBe('Returns are free within 30 days; your backpack (order 1044) qualifies.');
    expect(c.decisions('tool').at(-1)).toMatchObject({ reason: 'ok', data: { tool: 'lookup_order', proposedBy: 'model' } });
    // The tool's result went back to the model in the second round.
    expect(JSON.stringify(model.requests('draft')[before + 1]!.body)).toContain('Hiking backpack 40L');
    const audit = await until(() => h.runtime.audit.read({ limit: 1000 }).find((r) => r.action === 'tool.lookup_order' && r.actor.tenant === 'acme-llm-1'));
    expect(audit.outcome).toBe('ok');
  });

  it('a hostile model calling a tool the state does not allow is refused, audited, and the customer gets the grounded answer', async () => {
    const c = await h.open('alice', 'acme-llm-2');
    model.next('draft', fakeReply.toolCalls([{ name: 'cancel_order', arguments: { orderId: '1043' } }]));
    const reply = await c.say('what is your return policy');
    expect(reply.text).toMatch(/^✦ To start a return/);
    expect(c.decisions('guard').at(-1)).toMatchObject({ reason: 'tool_denied', data: { tool: 'cancel_order', rule: 'not_in_state', proposedBy: 'model' } });
    expect(h.agent!.store.order('acme-llm-2', '1043')?.status).toBe('processing');
    const denied = await until(() => h.runtime.audit.read({ limit: 1000 }).find((r) => r.action === 'tool.cancel_order' && r.actor.tenant === 'acme-llm-2'));
    expect(denied).toMatchObject({ outcome: 'denied', actor: { user: 'alice', role: 'customer' }, details: { code: 'tool_denied' } });
    expect((await c.say('thanks')).text).toMatch(/^✦ You're welcome!/);
  });

  it("a hostile model reaching for another customer's order is refused by ownership; identity comes from the session", async () => {
    const c = await h.open('alice', 'acme-llm-3');
    model.next(
      'draft',
      fakeReply.toolCalls([
        { name: 'lookup_order', arguments: { orderId: '2001', user: 'bob' } },
        { name: 'lookup_order', arguments: { orderId: '2001' } },
        { name: 'lookup_order', arguments: 'not json' },
      ]),
    );
    const reply = await c.say('what is your return policy');
    expect(reply.text).toMatch(/^✦ To start a return/);
    expect(reply.text).not.toContain('Elm Road');
    const guards = c.decisions('guard').filter((d) => d.data.proposedBy === 'model');
    expect(guards.map((d) => d.reason)).toEqual(['tool_denied', 'forbidden', 'tool_denied']);
    expect(guards.map((d) => d.data.rule)).toEqual(['bad_arguments', 'ownership', 'bad_arguments']);
    const denied = await until(() => {
      const found = h.runtime.audit.read({ limit: 1000 }).filter((r) => r.action === 'tool.lookup_order' && r.actor.tenant === 'acme-llm-3');
      return found.length >= 2 ? found : undefined;
    });
    expect(denied.every((r) => r.outcome === 'denied' && r.actor.user === 'alice')).toBe(true);
  });

  it('what the model says beside a tool call is not streamed: the deltas are the beginning of the reply', async () => {
    const c = await h.open('alice', 'acme-llm-5');
    model.next(
      'draft',
      fakeReply.toolCalls([{ name: 'lookup_order', arguments: { orderId: '1044' } }], { text: 'Good news: order 1044 can be refunded in full today. ' }),
      fakeReply.text('Returns are free within 30 days; your backpack (order 1044) qualifies.'),
    );
    const seen: string[] = [];
    const reply = await c.say('what is your return policy', { onDelta: (text) => seen.push(text) });
    expect(reply.text).toBe('Returns are free within 30 days; your backpack (order 1044) qualifies.');
    expect(seen.join('')).toBe(reply.text);
    // When the answer after the call fails, nothing the model said was shown: the template is the reply.
    model.next('draft', fakeReply.toolCalls([{ name: 'lookup_order', arguments: { orderId: '1044' } }], { text: 'Good news: order 1044 can be refunded in full today. ' }), fakeReply.error(400));
    const seenAgain: string[] = [];
    const fallback = await c.say('what is your return policy', { onDelta: (text) => seenAgain.push(text) });
    expect(fallback.meta).toMatchObject({ source: 'template' });
    expect((fallback.text ?? '').startsWith(seenAgain.join(''))).toBe(true);
    expect(seenAgain.join('')).not.toContain('Good news');
  });

  it('of a model answer proposing hundreds of calls, a few are run and the rest refused in one note', async () => {
    const c = await h.open('alice', 'acme-llm-6');
    const flood = Array.from({ length: 300 }, () => ({ name: 'lookup_order', arguments: { orderId: '2001' } }));
    model.next('draft', fakeReply.toolCalls(flood), fakeReply.text('Returns are free within 30 days.'));
    const before = model.requests('draft').length;
    await c.say('what is your return policy');
    const refused = c.decisions('guard').filter((d) => d.data.rule === 'too_many_calls');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.data).toMatchObject({ proposed: 300, kept: 16 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const audited = h.runtime.audit.read({ limit: 5000 }).filter((r) => r.actor.tenant === 'acme-llm-6' && r.action === 'tool.lookup_order');
    expect(audited.length).toBeLessThanOrEqual(16);
    // What went back to the model holds the kept calls only.
    const second = JSON.stringify(model.requests('draft')[before + 1]?.body ?? {});
    expect((second.match(/"role":"tool"/g) ?? []).length).toBeLessThanOrEqual(16);
  });

  it('a model that keeps calling tools is cut off after its rounds, and the grounded draft is used', async () => {
    const c = await h.open('alice', 'acme-llm-4');
    const call = fakeReply.toolCalls([{ name: 'lookup_order', arguments: { orderId: '1042' } }]);
    model.next('draft', call, call, call);
    const reply = await c.say('what is your return policy');
    // Two tool rounds are allowed; the third answer still carries a call and no text.
    expect(reply.text).toMatch(RETURNS);
    expect(reply.meta).toMatchObject({ source: 'template' });
    expect(c.decisions('fallback').at(-1)).toMatchObject({ reason: 'llm_empty_answer' });
  });
});
