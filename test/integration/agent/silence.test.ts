/**
 * P12 silence: while the agent waits for an answer it nudges, warns, then parks the session,
 * keeping the task as suspended work that "continue" brings back. The timers are the chart's
 * `after` transitions on the runtime's clock (a manual clock here); they are persisted with the
 * snapshot, so they fire after a passivation and after a restart of the runtime.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startAgentHarness, until, type AgentHarness, type Conversation } from './support/agent-harness.js';

const NUDGE_MS = 60_000;
const WARN_MS = 120_000;
const PARK_MS = 300_000;

let h: AgentHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Moves the clock and waits for the `n`-th unprompted frame. */
async function advanceUntilFrame(harness: AgentHarness, c: Conversation, ms: number, n: number) {
  harness.clock.advance(ms);
  return until(() => c.unprompted()[n - 1], 10_000, `unprompted frame #${n}`);
}

describe('P12 silence: nudge, warn, park', () => {
  it('nudges with the pending question, warns, parks keeping the task, and resumes on "continue"', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice');
    const ask = await c.say('I want to cancel an order');
    expect(ask.state).toContain('silence.watching');

    h.clock.advance(NUDGE_MS - 1);
    expect(c.unprompted()).toHaveLength(0);
    const nudge = await advanceUntilFrame(h, c, 1, 1);
    expect(nudge.text).toBe('Are you still there? Which order is it? Order numbers have 4 digits, like 1042; you find yours in the confirmation email.');
    expect(nudge.meta).toMatchObject({ silence: 'nudge' });
    expect(nudge.state).toContain('silence.nudged');

    const warn = await advanceUntilFrame(h, c, WARN_MS, 2);
    expect(warn.text).toBe("I'll pause our conversation soon if I don't hear back; your progress is saved.");
    const park = await advanceUntilFrame(h, c, PARK_MS, 3);
    expect(park.text).toBe('I\'ve paused our conversation. Your progress is saved: say "continue" whenever you\'re back.');
    expect(park.state).toContain('conversation.parked');
    expect(park.state).toContain('silence.off');
    expect(c.decisions('signal').map((d) => d.reason)).toEqual(expect.arrayContaining(['silence_nudge', 'silence_warn', 'silence_park']));
    expect(c.decisions('signal').find((d) => d.reason === 'silence_park')!.data).toMatchObject({ pattern: 'P12', suspended: 1 });

    // Nothing more fires once parked.
    h.clock.advance(10 * PARK_MS);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.unprompted()).toHaveLength(3);

    const back = await c.say('continue');
    expect(back.text).toMatch(/^Welcome back!\n\nOK, back to your order cancellation\.\n\nWhich order is it\?/);
    expect(back.state).toContain('conversation.task.collecting');
    expect((await c.say('1043')).state).toContain('conversation.task.confirming');
  });

  it('an answer disarms the timers; a new question re-arms them from zero', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice');
    await c.say('I want to cancel an order');
    h.clock.advance(NUDGE_MS - 1_000);
    const confirm = await c.say('1043');
    expect(confirm.state).toContain('silence.watching');
    h.clock.advance(NUDGE_MS - 1_000);
    await new Promise((r) => setTimeout(r, 30));
    expect(c.unprompted()).toHaveLength(0);
    const nudge = await advanceUntilFrame(h, c, 1_000, 1);
    expect(nudge.text).toBe('Are you still there? Shall I go ahead?');
    const done = await c.say('yes');
    expect(done.state).toContain('silence.off');
    h.clock.advance(10 * PARK_MS);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.unprompted()).toHaveLength(1);
  });

  it('nothing is armed when the agent asks nothing', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice');
    expect((await c.say('hi')).state).toContain('silence.off');
    h.clock.advance(10 * PARK_MS);
    await new Promise((r) => setTimeout(r, 50));
    expect(c.unprompted()).toHaveLength(0);
  });
});

describe('P12 timers survive passivation and restart', () => {
  it('a passivated session wakes for its nudge', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice');
    await c.say('I want a refund for order 1044');
    expect(await h.runtime.passivate(c.id)).toBe(true);
    expect(h.runtime.describe(c.id)?.live).toBe(false);
    const nudge = await advanceUntilFrame(h, c, NUDGE_MS, 1);
    expect(nudge.text).toMatch(/^Are you still there\? What is the reason for the refund/);
    expect(h.runtime.describe(c.id)?.live).toBe(true);
  });

  it('after a restart the stored deadlines fire on the new runtime, and the task goes on', async () => {
    h = await startAgentHarness();
    const c = await h.open('alice');
    await c.say('I want to cancel an order');
    await c.say('1043');
    await h.restart();
    const nudge = await advanceUntilFrame(h, c, NUDGE_MS, 1);
    expect(nudge.text).toBe('Are you still there? Shall I go ahead?');
    const warn = await advanceUntilFrame(h, c, WARN_MS, 2);
    expect(warn.meta).toMatchObject({ silence: 'warn' });
    await h.restart();
    const park = await advanceUntilFrame(h, c, PARK_MS, 3);
    expect(park.state).toContain('conversation.parked');
    await h.restart();
    const back = await c.say('continue');
    expect(back.text).toContain('OK, back to your order cancellation.');
    expect(back.text).toContain("I'll cancel order 1043");
    const done = await c.say('yes');
    expect(done.text).toMatch(/^Done: order 1043 is cancelled/);
  });
});
