/**
 * Signals the charts react to, as events sent through `runtime.send`: the user asks for a human
 * (a button), negative sentiment (the local lexicon, or a score from outside: P14), the SLA timer
 * of the hand-off queue and an SLA breach reported from outside, and operators' commands:
 * `operator.handoff`, `operator.say`, `operator.approve` / `operator.reject` of a refund above the
 * approval limit. Repeated failure is covered where it happens (P4 misses in the understanding
 * tests, tool failures in the ladder tests).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { HandoffDesk } from '../../../actors/handoff.actor.js';
import { openDemoStore } from '../../../src/index.js';
import storeSeed from '../../../src/demo/store-seed.json' with { type: 'json' };
import type { DemoSeed } from '../../../src/agent/demo-store.js';
import { tempDir } from '../../support/temp-dir.js';
import { startAgentHarness, until, type AgentHarness, type Conversation } from './support/agent-harness.js';

let h: AgentHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const SLA_MS = 180_000;
const queueing: HandoffDesk = { request: () => ({ status: 'queued', position: 1 }) };
const statuses = (frames: readonly { type: string; status?: string }[]) => frames.filter((f) => f.type === 'handoff').map((f) => f.status);

/** A refund of €129.00 for alice's delivered order 1044, above the €100 approval limit. */
async function refundAboveLimit(c: Conversation) {
  await c.say('I want a refund for order 1044');
  await c.say('it arrived damaged');
  return c.say('yes');
}

describe('the user asks for a human', () => {
  it('signal.handoff (a button in the client) opens the hand-off with its reason', async () => {
    h = await startAgentHarness({ agent: { desk: queueing } });
    const c = await h.open('alice');
    await c.say('I want to cancel an order');
    const out = await c.send({ type: 'signal.handoff', reason: 'button' });
    expect(statuses(out.frames)).toEqual(['requested', 'queued']);
    expect(out.state).toContain('conversation.handoff.queued');
    expect(c.decisions('escalate').at(-1)).toMatchObject({ reason: 'user_signal', data: { pattern: 'P8', task: 'cancel_order' } });
    // Pressed twice: already in the protocol, nothing happens.
    expect((await c.send({ type: 'signal.handoff' })).frames).toEqual([]);
  });
});

describe('P14 negative sentiment', () => {
  it('two negative turns in a row make the agent offer a human, with the score in the trace', async () => {
    h = await startAgentHarness({ agent: { desk: queueing } });
    const c = await h.open('alice');
    const first = await c.say('where is my order 1042? this is ridiculous');
    expect(first.text).toMatch(/^Order 1042 /);
    expect(c.decisions('signal').at(-1)).toMatchObject({ reason: 'negative_sentiment', data: { pattern: 'P14', negativeTurns: 1, maxNegativeTurns: 2 } });
    const second = await c.say('this is terrible, where is order 1043');
    expect(second.text).toBe("I'm sorry this has been frustrating. Would you like me to get a human colleague?");
    expect(second.state).toContain('conversation.offeringHuman');
    expect(c.decisions('route').at(-1)!.data).toMatchObject({ pattern: 'P14' });
    const yes = await c.say('yes');
    expect(yes.state).toContain('conversation.handoff.queued');
    expect(c.decisions('escalate').at(-1)).toMatchObject({ reason: 'negative_sentiment' });
  });

  it('a calm turn in between resets the count', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice');
    await c.say('where is my order 1042? this is ridiculous');
    await c.say('thanks');
    expect((await c.say('this is terrible, where is order 1043')).text).toMatch(/^Order 1043 /);
  });

  it('an external sentiment score counts like a negative turn; malformed scores are ignored', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice');
    expect((await c.send({ type: 'signal.sentiment', score: 'angry' })).frames).toEqual([]);
    expect(c.decisions('signal').some((d) => d.reason === 'sentiment_ignored')).toBe(true);
    await c.say('I want a refund for order 1044');
    expect((await c.send({ type: 'signal.sentiment', score: -0.9 })).frames).toEqual([]);
    const offer = await c.send({ type: 'signal.sentiment', score: -0.8 });
    expect(c.decisions('signal').filter((d) => d.reason === 'sentiment').map((d) => d.data.negativeTurns)).toEqual([1, 2]);
    expect(offer.frames.map((f) => f.text)).toEqual(["I'm sorry this has been frustrating. Would you like me to get a human colleague?"]);
    expect(offer.state).toContain('conversation.offeringHuman');
    // Declined: back to the task where it stood, as after a digression.
    const no = await c.say('no');
    expect(no.text).toMatch(/^OK, let me know if you change your mind\.\n\nNow, back to your refund\. What is the reason/);
    expect(no.state).toContain('conversation.task.collecting');
  });
});

describe('SLA timers and breaches', () => {
  it('the queue SLA expires: the hand-off becomes unavailable and a ticket or callback is offered', async () => {
    h = await startAgentHarness({ agent: { desk: queueing } });
    const c = await h.open('alice');
    await c.say('I want to speak to a human');
    h.clock.advance(SLA_MS - 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(c.unprompted()).toHaveLength(0);
    h.clock.advance(1);
    const expired = await until(() => c.unprompted().find((f) => f.type === 'reply'), 10_000, 'the SLA reply');
    expect(expired.text).toMatch(/^No colleague can take the conversation right now\. I can open a ticket/);
    expect(c.unprompted().find((f) => f.type === 'handoff')).toMatchObject({ status: 'unavailable', text: 'sla_expired' });
    expect(c.decisions('handoff').at(-1)).toMatchObject({ reason: 'unavailable', data: { reason: 'sla_expired', pattern: 'P9' } });
    expect(h.runtime.describe(c.id)?.state).toContain('conversation.offeringAlternatives');
  });

  it('the SLA timer survives a restart of the runtime', async () => {
    h = await startAgentHarness({ agent: { desk: queueing } });
    const c = await h.open('alice');
    await c.say('I want to speak to a human');
    h.clock.advance(SLA_MS / 2);
    await h.restart();
    h.clock.advance(SLA_MS / 2);
    const expired = await until(() => c.unprompted().find((f) => f.type === 'handoff'), 10_000, 'the SLA hand-off frame');
    expect(expired).toMatchObject({ status: 'unavailable', text: 'sla_expired' });
  });

  it('an accepted conversation is not timed out by the queue SLA', async () => {
    h = await startAgentHarness({ agent: { desk: queueing } });
    const c = await h.open('alice');
    await c.say('I want to speak to a human');
    await c.send({ type: 'handoff.accepted', agent: 'Sam' });
    const before = c.unprompted().length;
    h.clock.advance(10 * SLA_MS);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.unprompted().slice(before)).toEqual([]);
    expect(h.runtime.describe(c.id)?.state).toContain('conversation.handoff.withAgent');
  });

  it('signal.sla (an SLA breach detected outside) escalates to a human', async () => {
    h = await startAgentHarness({ agent: { desk: queueing } });
    const c = await h.open('alice');
    await c.say('where is order 1042?');
    const out = await c.send({ type: 'signal.sla', reason: 'case overdue' });
    expect(statuses(out.frames)).toEqual(['requested', 'queued']);
    expect(c.decisions('escalate').at(-1)).toMatchObject({ reason: 'sla_breach' });
  });
});

describe("operators' commands", () => {
  it('operator.handoff hands the conversation to a human; operator.say speaks as the operator', async () => {
    h = await startAgentHarness({ agent: { desk: queueing } });
    const c = await h.open('alice');
    await c.say('I want a refund for order 1044');
    const said = await c.send({ type: 'operator.say', text: 'Hello, a supervisor here: I am looking at your case.', agent: 'Kim' });
    expect(said.frames).toEqual([expect.objectContaining({ type: 'reply', text: 'Hello, a supervisor here: I am looking at your case.', meta: expect.objectContaining({ from: 'operator', agent: 'Kim' }) })]);
    // The operator's words do not disturb the task.
    expect(said.state).toContain('conversation.task.collecting');
    expect((await c.send({ type: 'operator.say', text: '' })).frames).toEqual([]);

    const handed = await c.send({ type: 'operator.handoff', reason: 'vip' });
    expect(statuses(handed.frames)).toEqual(['requested', 'queued']);
    expect(c.decisions('escalate').at(-1)).toMatchObject({ reason: 'operator', data: { task: 'refund' } });
  });

  it('operator.approve runs a held refund above the limit, re-checked with the approver, and audited', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice', 'acme');
    const held = await refundAboveLimit(c);
    expect(held.text).toBe("Refunds above €100 are checked by a colleague. I've asked for approval of €129.00 for order 1044 and will let you know here.");
    expect(held.state).toContain('approvals.waiting');
    expect(held.state).toContain('conversation.idle');
    expect(c.decisions('guard').at(-1)).toMatchObject({ reason: 'awaiting_approval', data: { task: 'refund', tool: 'request_refund' } });
    expect(h.agent!.store.order('acme', '1044')?.status).toBe('delivered');

    // The customer carries on meanwhile.
    expect((await c.say('where is order 1042?')).text).toMatch(/^Order 1042 /);

    const approved = await c.send({ type: 'operator.approve', approver: { tenant: 'acme', user: 'sup-1', role: 'agent' } });
    expect(approved.frames).toEqual([expect.objectContaining({ type: 'reply', text: expect.stringMatching(/^Done: refund R-\d{5} of €129\.00 is requested\./) })]);
    expect(approved.state).toContain('approvals.none');
    expect(h.agent!.store.order('acme', '1044')?.status).toBe('refund_requested');
    const records = await until(() => {
      const found = h!.runtime.audit.read({ limit: 1000 }).filter((r) => r.action === 'tool.request_refund');
      return found.length >= 2 ? found : undefined;
    });
    expect(records.map((r) => r.outcome)).toEqual(['pending', 'ok']);
    expect(records[1]!.details).toMatchObject({ approver: 'agent:sup-1' });
    expect((await c.send({ type: 'operator.approve', approver: { tenant: 'acme', user: 'sup-1', role: 'agent' } })).frames).toEqual([]);
    expect(c.decisions('signal').some((d) => d.reason === 'approval_event_ignored')).toBe(true);
  });

  it('holds one call at a time: a second high-impact call is refused while the first waits, so an approval runs only the call on the desk', async () => {
    // Alice's order 1046, a second delivered order above the approval limit (€900).
    const seed = structuredClone(storeSeed) as unknown as DemoSeed;
    const big = seed.orders.find((o) => o.id === '1044')!;
    const orders = [...seed.orders, { ...structuredClone(big), id: '1046', total: 900, items: [{ name: 'Expedition tent', qty: 1, price: 900 }] }];
    const storeDir = tempDir('keel-store-');
    const store = openDemoStore({ dataDir: storeDir.dir, seed: { ...seed, orders }, persist: false });
    h = await startAgentHarness({ agent: { store } });
    const c = await h.open('alice', 'acme');
    await refundAboveLimit(c);
    expect(c.decisions('guard').at(-1)).toMatchObject({ reason: 'awaiting_approval' });
    await c.say('I also want a refund for order 1046, it is broken');
    const second = await c.say('yes');
    expect(second.text).toMatch(/already waiting for a colleague's approval/);
    expect(c.decisions('guard').at(-1)).toMatchObject({ reason: 'approval_busy', data: { tool: 'request_refund', waiting: 'request_refund' } });
    // The audit trail says the same: the first call pending, the second refused, not pending too.
    const refunds = await until(() => {
      const found = h!.runtime.audit.read({ limit: 1000 }).filter((r) => r.action === 'tool.request_refund');
      return found.length >= 2 ? found : undefined;
    });
    expect(refunds.map((r) => [r.outcome, r.details.rule ?? null])).toEqual([['pending', 'approval'], ['denied', 'approval_busy']]);
    const approved = await c.send({ type: 'operator.approve', approver: { tenant: 'acme', user: 'sup-1', role: 'agent' } });
    expect(approved.frames.map((f) => f.text)).toEqual([expect.stringMatching(/^Done: refund R-\d{5} of €129\.00 is requested\./)]);
    expect(store.order('acme', '1044')?.status).toBe('refund_requested');
    expect(store.order('acme', '1046')?.status).toBe('delivered');
    storeDir.remove();
  });

  it('operator.reject drops the held refund and tells the customer why', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice', 'acme');
    await refundAboveLimit(c);
    const rejected = await c.send({ type: 'operator.reject', reason: 'Please send photos of the damage first.' });
    expect(rejected.frames.map((f) => f.text)).toEqual(['Your refund was not approved. Please send photos of the damage first.']);
    expect(rejected.state).toContain('approvals.none');
    expect(h.agent!.store.order('acme', '1044')?.status).toBe('delivered');
  });

  it('an approver who may not approve (the customer themself, another tenant) is refused by the guard, and the call waits for one who may', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice', 'acme');
    await refundAboveLimit(c);
    const ignored = () => c.decisions('signal').filter((d) => d.reason === 'approval_event_ignored' && d.data.reason === 'approver');
    for (const [i, approver] of [{ tenant: 'acme', user: 'alice', role: 'agent' }, { tenant: 'globex', user: 'sup-9', role: 'admin' }].entries()) {
      const refused = await c.send({ type: 'operator.approve', approver });
      // Nothing is decided and the customer is told nothing: the refusal is the operator's business.
      expect(refused.frames).toEqual([]);
      expect(refused.state).toContain('approvals.waiting');
      expect(ignored()).toHaveLength(i + 1);
      expect(h.agent!.store.order('acme', '1044')?.status).toBe('delivered');
    }
    const bogus = await c.send({ type: 'operator.approve', approver: { tenant: 'acme', user: 'x', role: 'overlord' } });
    expect(bogus.frames).toEqual([]);
    expect(bogus.state).toContain('approvals.waiting');
    // The held call was kept: an approver who may approve runs it.
    const approved = await c.send({ type: 'operator.approve', approver: { tenant: 'acme', user: 'sup-1', role: 'agent' } });
    expect(approved.frames.map((f) => f.text)).toEqual([expect.stringMatching(/^Done: refund R-\d{5} of €129\.00 is requested\./)]);
    expect(h.agent!.store.order('acme', '1044')?.status).toBe('refund_requested');
  });

  it('a held approval survives a restart and can be approved afterwards', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice', 'acme');
    await refundAboveLimit(c);
    await h.restart();
    const approved = await c.send({ type: 'operator.approve', approver: { tenant: 'acme', user: 'sup-1', role: 'admin' } });
    expect(approved.frames[0]?.text).toMatch(/^Done: refund R-\d{5} of €129\.00/);
  });
});
