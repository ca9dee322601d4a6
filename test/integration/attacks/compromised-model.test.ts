/**
 * A fully compromised model (OWASP LLM01 prompt injection, LLM06 excessive agency, LLM10
 * unbounded consumption): the loopback model proposes hostile tool calls and answers with
 * injection text. The tool guard decides with the session's identity, so every call is refused
 * with a typed reason, audited and traced, and nothing of another customer reaches the customer
 * or the model.
 */
import { describe, expect, it } from 'vitest';
import { useCleanups } from '../../support/cleanups.js';
import { isReplyTo, openChat } from '../server/support/keel-harness.js';
import { actLikeCompromisedModel, everythingTheModelSaw, INJECTION_TEXT, toolAnswers } from './support/hostile-model.js';
import { secureKeelPerTest } from './support/secure-keel.js';

const defer = useCleanups();

const keel = secureKeelPerTest(defer, { llm: true });

/** A question the agent answers from its knowledge base: the draft step offers the model `lookup_order`. */
const KNOWLEDGE_QUESTION = 'how much does express delivery cost?';
/** What bob's records hold; none of it may reach alice, the model, the trace or the audit trail. */
const BOB = ['Elm Road', 'Leeds', 'LS2 7HY', 'Bob Nguyen'];

describe('a fully compromised model', () => {
  it("proposes another customer's order, a missing one, undeclared tools and arguments: all refused, audited, traced, and nothing leaks", async () => {
    const k = await keel();
    actLikeCompromisedModel(k.model!, {
      calls: [
        { id: 'c1', name: 'lookup_order', arguments: { orderId: '2002' } }, // bob's order
        { id: 'c2', name: 'lookup_order', arguments: { orderId: '9999' } }, // no such order
        { id: 'c3', name: 'request_refund', arguments: { orderId: '2002', reason: 'admin says so', amount: 29 } }, // not in this state
        { id: 'c4', name: 'lookup_order', arguments: { orderId: '1042', tenant: 'globex', user: 'bob' } }, // undeclared arguments
        { id: 'c5', name: 'lookup_order', arguments: '{"orderId":"1042","__proto__":{"role":"admin"}}' },
        { id: 'c6', name: 'lookup_order', arguments: { orderId: "1042' OR '1'='1" } },
        { id: 'c7', name: 'Drop-All-Orders!', arguments: {} }, // not even a name the audit trail takes as an action
        { id: 'c8', name: 'lookup_order', arguments: '{{{ not json' },
      ],
    });
    const c = await openChat(k, { token: await k.token({ user: 'alice' }) });
    defer(() => c.close());
    c.send({ type: 'message', id: 'm1', text: KNOWLEDGE_QUESTION });
    const reply = await c.next(isReplyTo('m1'), 20_000);

    // The injection text reaches the chat (the model wrote it), but it could not act on it.
    expect(reply.text).toBe(INJECTION_TEXT);
    const answers = toolAnswers(k.model!);
    expect(answers).toHaveLength(8);
    for (const a of answers) expect(a).toMatch(/^\{"error":"denied: /);
    // "Not yours" and "does not exist" read the same: no oracle for guessing order ids.
    expect(answers[0]).toBe(answers[1]);
    expect(answers[0]).toMatch(/not a record this user may access/);
    expect(answers[2]).toMatch(/not allowed in the current state/);
    expect(answers[3]).toMatch(/argument 'tenant' is not declared/);
    expect(answers[4]).toMatch(/argument '__proto__' is not declared/);
    expect(answers[5]).toMatch(/wrong format/);
    expect(answers[6]).toMatch(/no such tool/);
    expect(answers[7]).toMatch(/JSON object/);

    // Every proposal is in the decision trace with its rule...
    const guard = k.runtime.events.query({ tenant: 'acme' as never, kinds: ['guard'] }).filter((e) => e.data.proposedBy === 'model');
    expect(guard.map((e) => e.data.rule)).toEqual(['ownership', 'ownership', 'not_in_state', 'bad_arguments', 'bad_arguments', 'bad_arguments', 'unknown_tool', 'bad_arguments']);
    // ...and every call that reached the guard is in the audit trail, refused, on alice's behalf.
    const tools = k.audit().filter((r) => r.action.startsWith('tool.'));
    expect(tools.map((r) => `${r.action}:${r.outcome}`)).toEqual([
      'tool.lookup_order:denied', 'tool.lookup_order:denied', 'tool.request_refund:denied', 'tool.lookup_order:denied',
      'tool.lookup_order:denied', 'tool.lookup_order:denied', 'tool.unknown:denied',
    ]);
    expect(tools.at(-1)?.details).toMatchObject({ tool: 'Drop-All-Orders?', code: 'tool_denied' });
    expect(new Set(tools.map((r) => `${r.actor.tenant}/${r.actor.user}/${r.actor.role}`))).toEqual(new Set(['acme/alice/customer']));
    expect((await k.runtime.audit.verify()).ok).toBe(true);

    // Bob's order is untouched and nothing of bob went anywhere.
    expect(k.agent.store.order('acme', '2002')).toMatchObject({ owner: 'bob', status: 'delivered' });
    expect(k.agent.store.order('acme', '2002')?.refund).toBeUndefined();
    const seen = [JSON.stringify(c.frames), everythingTheModelSaw(k.model!), JSON.stringify(k.runtime.events.query({})), JSON.stringify(k.audit())].join('\n');
    for (const secret of BOB) expect(seen).not.toContain(secret);
  });

  it('cannot flood tools: past the per-turn budget every further call is refused with budget_exceeded', async () => {
    const k = await keel();
    actLikeCompromisedModel(k.model!, { calls: Array.from({ length: 10 }, (_, i) => ({ id: `c${i}`, name: 'lookup_order', arguments: { orderId: '1042' } })) });
    const c = await openChat(k, { token: await k.token({ user: 'alice' }) });
    defer(() => c.close());
    c.send({ type: 'message', id: 'm1', text: KNOWLEDGE_QUESTION });
    await c.next(isReplyTo('m1'), 20_000);
    const answers = toolAnswers(k.model!);
    expect(answers).toHaveLength(10);
    // Alice's own order: the first six calls (the demo policy) run, the rest are refused.
    expect(answers.slice(0, 6).every((a) => a.includes('"found":true'))).toBe(true);
    for (const a of answers.slice(6)) expect(a).toMatch(/denied: at most 6 tool calls per turn/);
    const denied = k.audit().filter((r) => r.action === 'tool.lookup_order' && r.outcome === 'denied');
    expect(denied).toHaveLength(4);
    expect(denied.every((r) => r.details.code === 'budget_exceeded')).toBe(true);
  });

  it('stops calling the model once the session spent its token budget, even when the model reports no usage', async () => {
    const k = await keel({ agent: { maxSessionTokens: 1500 } });
    // Answers text only (no tools offered to exploit), as a model that never reports usage would.
    actLikeCompromisedModel(k.model!, { calls: [], text: 'A rephrased answer.' });
    const c = await openChat(k, { token: await k.token({ user: 'alice' }) });
    defer(() => c.close());
    // Every model call counts: routing, planning and drafting replies share the session's budget.
    const modelCalls = () => k.model!.requestsTo('/v1/chat/completions').length;
    const replies: string[] = [];
    const callsAfter: number[] = [];
    for (let i = 1; i <= 6; i++) {
      c.send({ type: 'message', id: `m${i}`, text: KNOWLEDGE_QUESTION });
      replies.push(String((await c.next(isReplyTo(`m${i}`), 20_000)).text));
      callsAfter.push(modelCalls());
    }
    // Each call costs hundreds of tokens (the prompt alone): the model was used, then no more.
    expect(callsAfter[0]).toBeGreaterThanOrEqual(1);
    expect(callsAfter[5]).toBe(callsAfter[3]);
    // The customer still gets grounded answers (the knowledge-base draft) once the model is off, never nothing.
    expect(replies.slice(3).every((t) => /express/i.test(t) && t !== 'A rephrased answer.')).toBe(true);
    const guard = k.runtime.events.query({ kinds: ['guard'] }).filter((e) => e.reason === 'budget_exceeded');
    expect(guard.length).toBeGreaterThanOrEqual(3);
    expect(guard.every((e) => e.data.rule === 'session_tokens' && e.data.limit === 1500)).toBe(true);
    // Routing stopped asking the model too: the router fell back to its local model.
    expect(guard.some((e) => e.data.to === 'local')).toBe(true);
    // A new session has its own budget.
    const other = await openChat(k, { token: await k.token({ user: 'alice' }) });
    defer(() => other.close());
    other.send({ type: 'message', id: 'n1', text: KNOWLEDGE_QUESTION });
    await other.next(isReplyTo('n1'), 20_000);
    expect(modelCalls()).toBeGreaterThan(callsAfter[5]!);
  });
});
