/**
 * The understanding patterns of the default agent, driven through the runtime: P1 low confidence
 * (confirm the best guess, then ask to rephrase), P2 top two close (clarify), P3 rephrase, P4
 * counted reprompts that escalate, P5 out of scope. Each is a visible state and a `route`
 * decision naming the pattern, with the candidates and thresholds that led to it.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAgentHarness, type AgentHarness, type Conversation } from './support/agent-harness.js';
import { ambiguousOrderRequest } from './support/ambiguous-request.js';
import { startScriptedModel, type ScriptedModel } from './support/scripted-model.js';

const lastRoute = (c: Conversation) => c.decisions('route').at(-1)!;

describe('P1 low confidence and P3 rephrase (routed by a model that is unsure)', () => {
  let model: ScriptedModel;
  beforeAll(async () => {
    model = await startScriptedModel({ routes: { 'money stuff': { intent: 'refund_request', confidence: 0.3 } } });
  });
  afterAll(async () => {
    await model.close();
  });
  let h: AgentHarness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('stage 1 confirms the best guess; yes starts the guessed task with the original words', async () => {
    h = await startAgentHarness({ agent: { env: model.env } });
    const c = await h.open('alice');
    const guess = await c.say('money stuff');
    expect(guess.text).toBe('Just to check: do you want to request a refund?');
    expect(guess.state).toContain('conversation.confirmingIntent');
    const route = lastRoute(c);
    expect(route.reason).toBe('confirmIntent');
    expect(route.data).toMatchObject({ pattern: 'P1', confidence: 'low_confidence', chosen: 'refund_request' });
    expect(route.data.thresholds).toMatchObject({ lowConfidence: expect.any(Number) });

    const yes = await c.say('yes');
    expect(yes.state).toContain('conversation.task.collecting');
    expect(yes.text).toMatch(/Which order is it\?/);
    expect(c.decisions('transition').some((d) => d.reason === 'task_started' && d.data.task === 'refund')).toBe(true);
  });

  it('stage 2: "no" asks to rephrase (P3), and the rephrased request is handled', async () => {
    h = await startAgentHarness({ agent: { env: model.env } });
    const c = await h.open('alice');
    await c.say('money stuff');
    const no = await c.say('no');
    expect(no.text).toBe('Sorry, I misunderstood. Could you say it in other words?');
    expect(no.state).toContain('conversation.rephrasing');
    expect(lastRoute(c).data).toMatchObject({ pattern: 'P3' });
    const again = await c.say('where is my order 1042?');
    // The model rephrased the grounded reply (the scripted model marks its hand with ✦).
    expect(again.text).toMatch(/^✦ Order 1042 .* is on its way/);
  });

  it('a guess denied again and again is counted and ends with a human (max reprompts)', async () => {
    h = await startAgentHarness({ agent: { env: model.env, policies: { maxReprompts: 1 } } });
    const c = await h.open('alice');
    await c.say('money stuff');
    expect((await c.say('no')).state).toContain('conversation.rephrasing');
    expect((await c.say('money stuff')).state).toContain('conversation.confirmingIntent');
    const last = await c.say('no');
    expect(last.state).toContain('conversation.handoff.queued');
    expect(last.text).toContain("I'm asking a human colleague to join.");
    expect(c.decisions('escalate').at(-1)).toMatchObject({ reason: 'max_reprompts', data: { pattern: 'P8' } });
  });
});

describe('P2 top two close, P4 counted reprompts, P5 out of scope (offline router)', () => {
  let h: AgentHarness;
  beforeAll(async () => {
    h = await startAgentHarness();
  });
  afterAll(async () => {
    await h.close();
  });

  it('P2: two close intents are offered; an ordinal picks one and starts it', async () => {
    const ambiguous = await ambiguousOrderRequest();
    const c = await h.open('alice');
    const ask = await c.say(ambiguous.text);
    expect(ask.state).toContain('conversation.clarifying');
    expect(ask.text).toBe(ambiguous.question);
    const route = lastRoute(c);
    expect(route.data).toMatchObject({ pattern: 'P2', confidence: 'ambiguous', chosen: [ambiguous.first, ambiguous.second] });
    const candidates = route.data.candidates as { intent: string; score: number }[];
    const margin = candidates[0]!.score - candidates[1]!.score;
    expect(margin).toBeLessThan((route.data.thresholds as { closeMargin: number }).closeMargin);

    const pick = await c.say('the second one');
    expect(pick.state).toContain('conversation.task.collecting');
    expect(pick.text).toMatch(/Which order is it\?/);
    expect(c.decisions('transition').some((d) => d.reason === 'task_started' && d.data.task === ambiguous.second)).toBe(true);
  });

  it('P2: "neither" asks to rephrase; a miss repeats the question', async () => {
    const ambiguous = await ambiguousOrderRequest();
    const c = await h.open('alice');
    await c.say(ambiguous.text);
    const miss = await c.say('banana');
    expect(miss.state).toContain('conversation.clarifying');
    expect(miss.text).toBe(`Sorry, I didn't catch that. ${ambiguous.question}`);
    expect(lastRoute(c).data).toMatchObject({ pattern: 'P4', misses: 1 });
    const neither = await c.say('neither');
    expect(neither.state).toContain('conversation.rephrasing');
  });

  it('P4: unusable answers to a slot are reprompted, counted, and escalate after maxReprompts', async () => {
    const c = await h.open('alice');
    await c.say('I want to cancel an order');
    const first = await c.say('banana');
    expect(first.text).toBe('Sorry, I need the order number: 4 digits, like 1042. Which order is it?');
    expect(first.state).toContain('conversation.task.collecting');
    const second = await c.say('what about the thing');
    expect(second.state).toContain('conversation.task.collecting');
    const reprompts = c.decisions('fallback').filter((d) => d.reason === 'reprompt');
    expect(reprompts.map((d) => d.data.misses)).toEqual([1, 2]);
    expect(reprompts[0]!.data).toMatchObject({ pattern: 'P4', maxReprompts: 2, awaiting: 'slot' });
    const third = await c.say('banana');
    expect(third.state).toContain('conversation.handoff');
    expect(c.decisions('escalate').at(-1)).toMatchObject({ reason: 'max_reprompts' });
  });

  it('P4: a good answer resets the count, and an order that is not theirs counts as a miss', async () => {
    const c = await h.open('alice');
    await c.say('I want to cancel an order');
    await c.say('banana');
    const notTheirs = await c.say('2001');
    expect(notTheirs.text).toContain('I couldn\'t find "2001" on your account.');
    expect(notTheirs.state).toContain('conversation.task.collecting');
    expect(c.decisions('guard').at(-1)).toMatchObject({ reason: 'forbidden', data: { tool: 'lookup_order' } });
    const good = await c.say('1043');
    expect(good.state).toContain('conversation.task.confirming');
    expect(lastRoute(c).data.misses).toBe(0);
    // Two misses again do not escalate: the count started over.
    await c.say('banana');
    expect((await c.say('banana')).state).toContain('conversation.task.confirming');
  });

  it('P5: out of scope says so with a typed reason, offers a human, and invents nothing', async () => {
    const c = await h.open('alice');
    const oos = await c.say("what's the weather like on mars");
    expect(oos.text).toBe(
      "Sorry, I can't help with that here. I can check an order, request a refund, change a delivery address, cancel an order, or answer questions about our store policies. Would you like me to get a human colleague?",
    );
    expect(oos.state).toContain('conversation.offeringHuman');
    expect(oos.meta).toMatchObject({ reason: 'out_of_scope:oos_class' });
    expect(lastRoute(c).data).toMatchObject({ pattern: 'P5', confidence: 'out_of_scope', outOfScopeReason: 'oos_class' });
    expect(c.decisions('fallback').at(-1)).toMatchObject({ reason: 'out_of_scope', data: { reason: 'oos_class', pattern: 'P5' } });
    const yes = await c.say('yes please');
    expect(yes.state).toContain('conversation.handoff.queued');
    expect(c.decisions('escalate').at(-1)).toMatchObject({ reason: 'out_of_scope' });
  });

  it('P5: declining the human carries on; repeated out-of-scope messages escalate (P4)', async () => {
    const c = await h.open('alice');
    await c.say('banana');
    expect((await c.say('no')).text).toBe('OK, let me know if you change your mind.');
    await c.say('banana');
    await c.say('what about the thing');
    const third = await c.say('banana');
    expect(third.state).toContain('conversation.handoff');
    expect(c.decisions('escalate').at(-1)).toMatchObject({ reason: 'max_reprompts' });
  });
});
