// The pure recall steps of the agent chart: what the turn asks the recall actor for, and how what
// it returns is used (answers, slot values, resolved references) and traced.
import { describe, expect, it } from 'vitest';
import { newFrame, initialContext, type AgentContext } from '../../../machines/agent-context.js';
import type { RecallOutput } from '../../../machines/recall-contracts.js';
import { createRecallSteps } from '../../../machines/recall-steps.js';
import { resolveAgentSpec } from '../../../machines/resolve-agent-spec.js';
import { createDemoAgentSpec } from '../../../src/agent/demo-agent-spec.js';
import { sessionId, tenantId, userId } from '../../../src/types.js';

const spec = resolveAgentSpec(createDemoAgentSpec());
const steps = createRecallSteps(spec);
const MAY_6 = Date.UTC(2024, 4, 6, 9, 0, 0);

function ctx(text: string, patch: Partial<AgentContext> = {}): AgentContext {
  const base = initialContext({ sessionId: sessionId('s-phone'), tenant: tenantId('acme'), user: userId('alice'), channel: 'phone' });
  return { ...base, turn: { key: 's-phone:3', messageId: 'm3', at: MAY_6 + 60_000, text, toolCalls: 0 }, ...patch };
}

const known = (over: Partial<RecallOutput> = {}): { type: string; output: RecallOutput } => ({
  type: 'xstate.done.actor.recall',
  output: {
    enabled: true,
    facts: {
      orderId: { value: '1043', time: MAY_6, confidence: 1, session: 's-web', channel: 'web' },
      address: { value: '7 Juniper Crescent, Leeds LS6 2AB', time: MAY_6, confidence: 1, session: 's-web', channel: 'web' },
    },
    preferences: {},
    profile: {},
    memories: [{ id: 'm1', text: 'I am allergic to wool', kind: 'message', score: 0.61234, time: MAY_6, session: 's-web' }],
    searched: true,
    remembered: false,
    decisions: [],
    ...over,
  },
});

const route = (intent: string, confidence: 'confident' | 'low_confidence' | 'out_of_scope' = 'confident') => ({
  ranked: [{ intent, score: 0.9 }],
  outOfScope: confidence === 'out_of_scope',
  thresholds: { outOfScope: 0.2, lowConfidence: 0.4, closeMargin: 0.2 },
  source: 'local',
  confidence,
  clauses: [],
  sentiment: 0,
  decisions: [],
});

describe('recall input', () => {
  it('searches substantial messages, keeps them as memories, and lists the session’s open tasks', () => {
    const c = ctx('I am allergic to wool, please remember that', {
      active: { ...newFrame('refund', 'request_refund', { orderId: '1043' }) },
      awaiting: { kind: 'slot', slot: 'reason' },
      route: route('policy_question'),
    });
    const input = steps.recallInput(c);
    expect(input).toMatchObject({ query: 'I am allergic to wool, please remember that', keep: true, key: 's-phone:3', channel: 'phone', intent: 'policy_question', intentScore: 0.9 });
    expect(input.openTasks).toEqual([{ id: 's-phone:refund', kind: 'refund', state: 'collecting:reason', data: { orderId: '1043' } }]);
  });

  it('neither searches, keeps nor records a yes; a memory question searches only its subject', () => {
    expect(steps.recallInput(ctx('yes', { route: route('affirm') }))).toMatchObject({ query: '', keep: false, intent: null, intentScore: null });
    expect(steps.recallInput(ctx('what did I tell you about wool?'))).toMatchObject({ query: 'wool?', keep: false, intent: null });
  });
});

describe('recall answers', () => {
  it('"what was my order number again?" is answered from the context, saying where it was learnt', () => {
    const c = ctx('what was my order number again?');
    expect(steps.answers(c, known() as never)).toBe(true);
    const { emits, patch } = steps.answer(c, known() as never);
    expect(emits).toContainEqual({ type: 'agent.reply', text: 'Your order number is 1043 (from our conversation on 2024-05-06 via web).', meta: { source: 'memory' } });
    const decision = emits.find((e) => e.type === 'agent.decision');
    expect(decision).toMatchObject({ kind: 'recall', reason: 'answered_from_context', data: { used: { fact: 'orderId', channel: 'web' }, hits: [{ id: 'm1', score: 0.612 }] } });
    expect(patch.misses).toBe(0);
  });

  it.each([
    'what is the status of my order?',
    "what's the address of your store?",
    'where is my order 1042?',
  ])('"%s" is not a question about a remembered value', (text) => {
    expect(steps.answers(ctx(text), known() as never)).toBe(false);
  });

  it('a memory question quotes the closest memory, or says there is none', () => {
    const c = ctx('what did I tell you about wool?');
    expect(steps.answer(c, known() as never).emits).toContainEqual(expect.objectContaining({ text: 'Here is what I have from earlier: "I am allergic to wool" (2024-05-06).' }));
    expect(steps.answer(c, known({ memories: [] }) as never).emits).toContainEqual(expect.objectContaining({ text: "I don't have anything about that from our earlier conversations." }));
  });

  it('without memory, or with a malformed output, nothing is answered and nothing traced', () => {
    expect(steps.answers(ctx('what was my order number again?'), { type: 'x', output: { enabled: false } } as never)).toBe(false);
    expect(steps.recalled(ctx('hello there'), { type: 'x', output: 'garbage' } as never)).toEqual({ patch: {}, emits: [] });
  });
});

describe('recall in the verdict', () => {
  it('"same as last time" fills the address being asked for', () => {
    const c = ctx('same as last time', {
      active: newFrame('change_address', 'change_address', { orderId: '1045' }),
      awaiting: { kind: 'slot', slot: 'address' },
      verdict: { kind: 'reprompt', reason: 'no_usable_answer' },
      misses: 1,
    });
    const { patch, emits } = steps.recalled(c, known() as never);
    expect(patch).toMatchObject({ verdict: { kind: 'fillSlot', slot: 'address', value: '7 Juniper Crescent, Leeds LS6 2AB' }, misses: 0 });
    expect(emits).toContainEqual(expect.objectContaining({ kind: 'recall', reason: 'slot_from_context' }));
  });

  it('asked for the order number, "what was my order number again?" fills it and says so', () => {
    const c = ctx('what was my order number again?', { active: newFrame('refund', 'request_refund', {}), awaiting: { kind: 'slot', slot: 'orderId' } });
    expect(steps.answers(c, known() as never)).toBe(false);
    const { patch, emits } = steps.recalled(c, known() as never);
    expect(patch.verdict).toEqual({ kind: 'fillSlot', slot: 'orderId', value: '1043' });
    expect(emits).toContainEqual(expect.objectContaining({ type: 'agent.reply', text: 'Your order number from last time is 1043.' }));
  });

  it('a reference in a new request is replaced by the remembered value for the task’s extractors', () => {
    const text = 'cancel my last order please';
    const c = ctx(text, { verdict: { kind: 'startTask', intent: 'cancel_order', text } });
    const { patch } = steps.recalled(c, known() as never);
    expect(patch.verdict).toEqual({ kind: 'startTask', intent: 'cancel_order', text: 'cancel order 1043 please' });
  });

  it('a reference without a remembered value changes nothing', () => {
    const text = 'cancel my last order please';
    const c = ctx(text, { verdict: { kind: 'startTask', intent: 'cancel_order', text } });
    const { patch, emits } = steps.recalled(c, known({ facts: {} }) as never);
    expect(patch.verdict).toBeUndefined();
    expect(emits).toContainEqual(expect.objectContaining({ kind: 'recall', reason: 'recalled', data: expect.objectContaining({ used: {} }) }));
  });
});
