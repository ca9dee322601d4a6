/**
 * P11 plans: a message that needs several tasks becomes a plan of steps run in order, each with
 * its own fallback; a step that depends on a failed one is dropped, and the user can change course
 * (a correction carried to later steps, an interruption, a cancel). Plans and their progress are
 * `plan` decisions.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentHarness, type AgentHarness, type Conversation } from './support/agent-harness.js';

let h: AgentHarness;
beforeAll(async () => {
  h = await startAgentHarness();
});
afterAll(async () => {
  await h.close();
});

const planReasons = (c: Conversation) => c.decisions('plan').map((d) => d.reason);

describe('plans from several requests in one message', () => {
  it('"cancel my order and refund me": two steps in order, the second depending on the first and sharing its order', async () => {
    const c = await h.open('alice');
    const start = await c.say('cancel my order and refund me');
    expect(start.text).toBe("I'll do this in 2 steps: 1) order cancellation, 2) refund.\n\nWhich order is it? Order numbers have 4 digits, like 1042; you find yours in the confirmation email.");
    const planned = c.decisions('plan').find((d) => d.reason === 'planned')!;
    expect(planned.data).toMatchObject({ plan: 'plan-1', source: 'local', reason: 'clauses', steps: [{ task: 'cancel_order', dependsOn: null }, { task: 'refund', dependsOn: 0 }] });
    expect(c.decisions('route').at(-1)!.data).toMatchObject({ pattern: 'P11' });
    expect(c.decisions('plan').find((d) => d.reason === 'step_started')!.data).toMatchObject({ index: 0, task: 'cancel_order', of: 2 });

    await c.say('1043');
    const cancelled = await c.say('yes');
    // Step 2 starts with the order of step 1 (a shared slot) and asks only what it lacks.
    expect(cancelled.text).toBe(
      'Done: order 1043 is cancelled, and €24.50 will be refunded to your original payment method.\n\nWhat is the reason for the refund: damaged or faulty, wrong item, not as described, or you changed your mind?',
    );
    expect(c.decisions('plan').filter((d) => d.reason === 'step_started').map((d) => d.data.index)).toEqual([0, 1]);
    await c.say('changed my mind');
    const last = await c.say('yes');
    expect(last.text).toBe(
      "I can't refund order 1043: it was cancelled before it shipped, so its full amount is already on its way back to you.\n\nWhere everything stands: order cancellation 1043: done; refund 1043: not possible.",
    );
    expect(c.decisions('plan').at(-1)).toMatchObject({ reason: 'completed', data: { plan: 'plan-1', steps: ['done', 'failed'] } });
    expect(last.state).toContain('conversation.idle');
  });

  it('a failed step drops the steps that depend on it (re-planned)', async () => {
    const c = await h.open('alice');
    const start = await c.say('cancel order 1042 and refund me');
    expect(start.text).toMatch(/^I'll do this in 2 steps: 1\) order cancellation 1042, 2\) refund\.\n\nI'll cancel order 1042/);
    const out = await c.say('yes');
    expect(out.text).toBe(
      "I can't cancel order 1042: it has already shipped; you can return it after delivery instead.\n\nI couldn't finish the order cancellation, so I'll skip what depended on it.\n\nWhere everything stands: order cancellation 1042: not possible.",
    );
    expect(c.decisions('plan').find((d) => d.reason === 'replanned')!.data).toMatchObject({ why: 'step_failed', failed: 0, skipped: [1] });
    expect(c.decisions('plan').at(-1)).toMatchObject({ reason: 'completed', data: { steps: ['failed', 'skipped'] } });
  });

  it('a step that names its own order does not depend on the one before', async () => {
    const c = await h.open('alice');
    await c.say('cancel order 1042 and refund order 1044');
    const planned = c.decisions('plan').find((d) => d.reason === 'planned')!;
    expect(planned.data.steps).toEqual([
      { task: 'cancel_order', slots: ['orderId'], dependsOn: null },
      { task: 'refund', slots: ['orderId'], dependsOn: null },
    ]);
    const next = await c.say('yes');
    // The cancel failed, the refund of another order still runs, with its own order number.
    expect(next.text).toMatch(/^I can't cancel order 1042: .*\n\nWhat is the reason for the refund/);
    await c.say('it arrived damaged');
    const held = await c.say('yes');
    expect(held.text).toMatch(/approval of €129\.00 for order 1044/);
  });
});

describe('plans over "both orders"', () => {
  it('"change the address on both orders": one step per eligible order, listed through the guarded list tool', async () => {
    const c = await h.open('alice');
    const start = await c.say('change the address on both orders');
    expect(start.text).toBe(
      "I'll do this in 2 steps: 1) address change 1043, 2) address change 1045.\n\nWhat is the new delivery address for order 1043? Please include the street, number, town and postcode.",
    );
    expect(c.decisions('tool').find((d) => d.reason === 'listed_records')!.data).toMatchObject({ tool: 'list_orders', records: 2 });
    expect(c.decisions('plan').find((d) => d.reason === 'planned')!.data).toMatchObject({ source: 'local:quantifier', reason: 'quantifier' });
    await c.say('7 New Street, York YO1 7HH');
    const first = await c.say('yes');
    // The new address is shared: step 2 only asks to confirm it for the second order.
    expect(first.text).toBe('Done: order 1043 will be delivered to 7 New Street, York YO1 7HH.\n\nI\'ll change the delivery address of order 1045 to "7 New Street, York YO1 7HH". Shall I go ahead?');
    const second = await c.say('yes');
    expect(second.text).toBe('Done: order 1045 will be delivered to 7 New Street, York YO1 7HH.\n\nAll done: address change 1043: done; address change 1045: done.');
    expect(h.agent!.store.ordersOf(c.decisions('plan')[0]!.tenant, 'alice').filter((o) => o.address === '7 New Street, York YO1 7HH').map((o) => o.id)).toEqual(['1043', '1045']);
  });

  it('the user changes course: a corrected address carries to the later steps (re-planned)', async () => {
    const c = await h.open('alice');
    await c.say('change the address on both orders');
    await c.say('7 New Street, York YO1 7HH');
    const fixed = await c.say('actually the address is 9 Old Road, York YO1 8AA');
    expect(fixed.text).toBe('Got it.\n\nI\'ll change the delivery address of order 1043 to "9 Old Road, York YO1 8AA". Shall I go ahead?');
    expect(c.decisions('plan').find((d) => d.reason === 'replanned')!.data).toMatchObject({ why: 'correction', slots: ['address'] });
    const first = await c.say('yes');
    expect(first.text).toContain('order 1045 to "9 Old Road, York YO1 8AA"');
  });

  it('the user changes course: another request suspends the plan with its step, and resuming continues it', async () => {
    const c = await h.open('alice');
    await c.say('change the address on both orders');
    await c.say('7 New Street, York YO1 7HH');
    const other = await c.say('where is order 1042?');
    expect(other.text).toMatch(/Shall we get back to your address change\?$/);
    expect(c.decisions('plan').find((d) => d.reason === 'task_suspended')!.data).toMatchObject({ task: 'change_address', pattern: 'P7' });
    await c.say('yes');
    const first = await c.say('yes');
    expect(first.text).toContain("I'll change the delivery address of order 1045");
    expect((await c.say('yes')).text).toContain('All done: address change 1043: done; address change 1045: done.');
    expect(planReasons(c).filter((r) => r === 'completed')).toHaveLength(1);
  });

  it("the user changes course: correcting one step's order leaves the order another step's own clause named", async () => {
    const c = await h.open('alice', 'acme-plan-fix');
    await c.say('cancel order 1042 and cancel order 1045');
    const fixed = await c.say('sorry, I meant order 1043');
    expect(fixed.text).toContain('order 1043');
    await c.say('yes');
    const second = await c.say('yes');
    expect(second.text).toContain('All done');
    expect(h.agent!.store.order('acme-plan-fix', '1043')?.status).toBe('cancelled');
    expect(h.agent!.store.order('acme-plan-fix', '1045')?.status).toBe('cancelled');
  });

  it('a second message of several requests the planner cannot split, during a plan, is answered; the step under way is suspended, not dropped', async () => {
    const c = await h.open('alice', 'acme-plan-again');
    await c.say('cancel order 1043 and change the address of order 1045');
    const reply = await c.say('refund my jacket and refund my backpack');
    expect(c.decisions('plan').at(-2)).toMatchObject({ reason: 'no_plan', data: { next: 'startTask' } });
    // The refund is started, and the cancellation put on hold, as any other request would.
    expect(reply.text).toContain("I've put your order cancellation on hold");
    expect(c.decisions('transition').filter((d) => d.reason === 'task_started').at(-1)).toMatchObject({ data: { task: 'refund' } });
    expect(c.decisions('plan').filter((d) => d.reason === 'step_started')).toHaveLength(1);
  });

  it('with one eligible order, the plan has one step and goes straight to it', async () => {
    const c = await h.open('newcomer');
    // A new customer has two sample orders, one already shipped: only the other can change address.
    const out = await c.say('change the address on both orders');
    expect(c.decisions('plan').find((d) => d.reason === 'planned')!.data.steps).toHaveLength(1);
    expect(out.text).toMatch(/^What is the new delivery address for order \d+\?/);
    expect(out.state).toContain('conversation.task.collecting');
  });
});
