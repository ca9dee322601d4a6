/**
 * Resting: a live session quiet for `restAfterMs` has its actor stopped, its state being what
 * LMDB holds, and its next event builds the actor again. Nothing of the conversation changes:
 * context, timers, duplicate ids and busy turns behave as with a running actor.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock, createRuntime, tenantId, userId, type Runtime, type SessionFrame } from '../../../src/index.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { startAgentHarness } from '../agent/support/agent-harness.js';
import { tempDir } from '../../support/temp-dir.js';

const tenant = tenantId('acme');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function setup(extra: Partial<Parameters<typeof createRuntime>[0]> = {}) {
  const t = tempDir();
  cleanups.push(t.remove);
  const clock = createManualClock(1_700_000_000_000);
  const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine({ slowMs: 30 }), clock, sealer: 'none', restAfterMs: 1_000, ...extra });
  cleanups.push(() => runtime.close());
  return { clock, runtime };
}

const say = (rt: Runtime, id: string, messageId: string, text: string) => rt.send(id, { type: 'user.message', id: messageId, text });
const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

describe('resting sessions', () => {
  it('stop their actor when quiet and carry on from the committed state on the next message', async () => {
    const { clock, runtime } = setup();
    const a = (await runtime.open({ tenant, user: userId('a') })).sessionId;
    const b = (await runtime.open({ tenant, user: userId('b') })).sessionId;
    expect((await say(runtime, a, 'm1', 'one')).frames[0]?.text).toBe('echo 0: one');
    expect(runtime.stats()).toMatchObject({ live: 2, resting: 0 });
    clock.advance(600);
    await say(runtime, b, 'm1', 'hello');
    clock.advance(600);
    // `a` has been quiet for 1.2 s, `b` for 0.6 s.
    expect(runtime.stats()).toMatchObject({ live: 2, resting: 1 });
    expect((await say(runtime, a, 'm2', 'two')).frames[0]?.text).toBe('echo 1: two');
    // `a` is awake again; `b` has been quiet for 0.6 s only.
    expect(runtime.stats()).toMatchObject({ live: 2, resting: 0 });
    clock.advance(1_500);
    expect(runtime.stats()).toMatchObject({ live: 2, resting: 2 });
    expect(runtime.describe(a)).toMatchObject({ live: true, resting: true });
    // A duplicate id is answered from the journal; a new one continues the count.
    const again = await say(runtime, a, 'm2', 'two');
    expect(again.duplicate).toBe(true);
    expect(again.frames[0]?.text).toBe('echo 1: two');
    expect((await say(runtime, a, 'm3', 'three')).frames[0]?.text).toBe('echo 2: three');
    expect(runtime.describe(a)).toMatchObject({ live: true, resting: false });
    // A signal wakes a resting session too.
    clock.advance(1_500);
    expect(runtime.describe(b)).toMatchObject({ resting: true });
    expect((await runtime.send(b, { type: 'signal.poke' })).frames[0]?.text).toBe('poked');
    expect(runtime.describe(b)).toMatchObject({ resting: false });
    expect(runtime.stats().hydrations).toBe(0);
  });

  it('keep their pending timers, which fire through the wake index', async () => {
    const { clock, runtime } = setup();
    const id = (await runtime.open({ tenant, user: userId('a') })).sessionId;
    const seen: SessionFrame[] = [];
    runtime.subscribe(id, (frames) => seen.push(...frames));
    await say(runtime, id, 'm1', 'wait');
    clock.advance(2_000);
    expect(runtime.stats().resting).toBe(1);
    // Brought back a second before the deadline, the actor fires its timer on time.
    clock.advance(57_999);
    await tick();
    expect(seen.some((f) => f.text === 'still there?')).toBe(false);
    expect(runtime.stats().resting).toBe(0);
    clock.advance(1);
    await tick(50);
    expect(seen.some((f) => f.text === 'still there?')).toBe(true);
    expect(runtime.describe(id)?.state).toBe('idle');
    // Woken for its timer, it rests again once quiet.
    clock.advance(2_000);
    expect(runtime.stats().resting).toBe(1);
    expect((await say(runtime, id, 'm2', 'hi')).frames[0]?.text).toBe('echo 0: hi');
  });

  it('do not rest while a turn is running, and rest once it is answered', async () => {
    const { clock, runtime } = setup();
    const id = (await runtime.open({ tenant, user: userId('a') })).sessionId;
    const turn = say(runtime, id, 'm1', 'slow job');
    await tick(5);
    clock.advance(5_000);
    expect(runtime.stats().resting).toBe(0);
    expect((await turn).frames.at(-1)?.text).toBe('done: slow job');
    clock.advance(2_000);
    expect(runtime.stats().resting).toBe(1);
    expect((await say(runtime, id, 'm2', 'after')).frames[0]?.text).toBe('echo 1: after');
  });

  it('never happens with restAfterMs 0, and is passivated like any live session', async () => {
    const off = setup({ restAfterMs: 0 });
    const id = (await off.runtime.open({ tenant, user: userId('a') })).sessionId;
    off.clock.advance(60_000);
    expect(off.runtime.stats()).toMatchObject({ live: 1, resting: 0 });
    expect(() => createRuntime({ dataDir: '/nonexistent', machine: createTestMachine(), restAfterMs: -1 })).toThrow(/restAfterMs/);

    const on = setup();
    const other = (await on.runtime.open({ tenant, user: userId('a') })).sessionId;
    on.clock.advance(2_000);
    expect(on.runtime.stats().resting).toBe(1);
    expect(await on.runtime.passivate(other)).toBe(true);
    expect(on.runtime.stats()).toMatchObject({ live: 0, resting: 0 });
    expect((await say(on.runtime, other, 'm1', 'back')).frames[0]?.text).toBe('echo 0: back');
    expect(id).not.toBe('');
  });

  it('rest a few milliseconds of the event loop at a time when thousands fall quiet at once', async () => {
    const { clock, runtime } = setup({ maxLiveSessions: 10_000 });
    const count = 5_000;
    for (let i = 0; i < count; i += 500) {
      await Promise.all(Array.from({ length: 500 }, (_, j) => runtime.open({ tenant, user: userId(`q${i + j}`) })));
    }
    // The first pass that finds them quiet stops after its budget; the next ones, 5 ms apart, go on.
    clock.advance(1_000);
    const afterOnePass = runtime.stats().resting;
    expect(afterOnePass).toBeGreaterThan(0);
    expect(afterOnePass).toBeLessThan(count);
    clock.advance(1_000);
    expect(runtime.stats().resting).toBe(count);
  });

  it('survive a restart while resting: the next runtime carries on from what LMDB holds', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const clock = createManualClock(1_700_000_000_000);
    const first = createRuntime({ dataDir: t.dir, machine: createTestMachine(), clock, sealer: 'none', restAfterMs: 1_000 });
    const id = (await first.open({ tenant, user: userId('a') })).sessionId;
    await say(first, id, 'm1', 'one');
    await say(first, id, 'm2', 'two');
    clock.advance(2_000);
    expect(first.stats().resting).toBe(1);
    await first.close();
    const second = createRuntime({ dataDir: t.dir, machine: createTestMachine(), clock, sealer: 'none', restAfterMs: 1_000 });
    cleanups.push(() => second.close());
    expect((await say(second, id, 'm3', 'three')).frames[0]?.text).toBe('echo 2: three');
    expect(second.replay(id, 0).map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('keep the support agent in the middle of its flow (a slot asked for before the rest is filled after it)', async () => {
    const h = await startAgentHarness();
    cleanups.push(() => h.close());
    const c = await h.open('alice');
    const asked = await c.say('where is my order?');
    expect(asked.text).toMatch(/which order/i);
    const before = h.runtime.stats().resting;
    h.clock.advance(6_000);
    await tick();
    expect(h.runtime.stats().resting).toBe(before + 1);
    const answered = await c.say('1043');
    expect(answered.text).toMatch(/1043/);
    expect(answered.text).not.toMatch(/which order/i);
  });
});
