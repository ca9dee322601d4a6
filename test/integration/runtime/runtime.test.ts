import { afterEach, describe, expect, it, vi } from 'vitest';
import { emit, setup as setupMachine } from 'xstate';
import { createManualClock, createRuntime, createTenantKeyStore, createTenantSealer, isKeelError, tenantId, userId, type Runtime, type SessionFrame } from '../../../src/index.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';

const tenant = tenantId('acme');
const user = userId('u-1');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

function setup(dir?: string) {
  const t = dir ? { dir, remove: () => undefined } : tempDir();
  const clock = createManualClock(1_700_000_000_000);
  const open = (extra: Parameters<typeof createRuntime>[0] | object = {}) => {
    const rt = createRuntime({ dataDir: t.dir, machine: createTestMachine(), clock, ...extra });
    cleanups.push(() => rt.close());
    return rt;
  };
  if (!dir) cleanups.push(t.remove);
  return { dir: t.dir, clock, open };
}

const say = (rt: Runtime, id: string, messageId: string, text: string) =>
  rt.send(id, { type: 'user.message', id: messageId, text });

describe('durable sessions', () => {
  it('keeps state and context across a restart', async () => {
    const s = setup();
    const rt1 = s.open();
    const { sessionId } = await rt1.open({ tenant, user, channel: 'web' });
    expect((await say(rt1, sessionId, 'm1', 'hello')).frames[0]?.text).toBe('echo 0: hello');
    expect((await say(rt1, sessionId, 'm2', 'again')).frames[0]?.text).toBe('echo 1: again');
    await rt1.close();

    const rt2 = s.open();
    const reopened = await rt2.open({ tenant, user, sessionId });
    expect(reopened.created).toBe(false);
    expect(reopened.lastSeq).toBe(4);
    const out = await say(rt2, sessionId, 'm3', 'third');
    expect(out.frames[0]?.text).toBe('echo 2: third');
    expect(out.seq).toBe(5);
    expect(out.frames[0]?.seq).toBe(6);
  });

  it('passivates and hydrates with the same state', async () => {
    const s = setup();
    const rt = s.open();
    const { sessionId } = await rt.open({ tenant, user });
    await say(rt, sessionId, 'm1', 'one');
    expect(await rt.passivate(sessionId)).toBe(true);
    expect(rt.stats().live).toBe(0);
    const out = await say(rt, sessionId, 'm2', 'two');
    expect(out.frames[0]?.text).toBe('echo 1: two');
    expect(rt.stats().hydrations).toBe(1);
  });

  it('answers a duplicate message id with the stored reply and changes nothing', async () => {
    const s = setup();
    const rt = s.open();
    const { sessionId } = await rt.open({ tenant, user });
    const first = await say(rt, sessionId, 'dup-1', 'hi');
    const again = await say(rt, sessionId, 'dup-1', 'hi');
    expect(again.duplicate).toBe(true);
    expect(again.seq).toBe(first.seq);
    expect(again.frames).toEqual(first.frames);
    expect(rt.describe(sessionId)?.seq).toBe(2);
    expect((await say(rt, sessionId, 'm2', 'next')).frames[0]?.text).toBe('echo 1: next');
  });

  it('journals frames with seq growing by one and replays them after lastSeq', async () => {
    const s = setup();
    const rt = s.open();
    const { sessionId } = await rt.open({ tenant, user });
    for (let i = 0; i < 3; i++) await say(rt, sessionId, `m${i}`, `t${i}`);
    const frames = rt.replay(sessionId, 0);
    expect(frames.map((f) => f.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(frames.map((f) => f.type)).toEqual(['ack', 'reply', 'ack', 'reply', 'ack', 'reply']);
    expect(rt.replay(sessionId, 4).map((f) => f.seq)).toEqual([5, 6]);
  });

  it('rejects events beyond the bounded queue with queue_full', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const rt = createRuntime({ dataDir: t.dir, machine: createTestMachine({ slowMs: 50 }), maxQueuedEvents: 2 });
    cleanups.push(() => rt.close());
    const { sessionId } = await rt.open({ tenant, user });
    const results = await Promise.allSettled(Array.from({ length: 6 }, (_, i) => say(rt, sessionId, `q${i}`, `slow ${i}`)));
    const rejected = results.filter((r) => r.status === 'rejected');
    expect(rejected.length).toBeGreaterThan(0);
    for (const r of rejected) expect(isKeelError((r as PromiseRejectedResult).reason, 'queue_full')).toBe(true);
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    expect(fulfilled.length).toBe(3);
  });

  it('runs one event at a time per session, in order', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const rt = createRuntime({ dataDir: t.dir, machine: createTestMachine({ slowMs: 5 }) });
    cleanups.push(() => rt.close());
    const { sessionId } = await rt.open({ tenant, user });
    const outs = await Promise.all(Array.from({ length: 8 }, (_, i) => say(rt, sessionId, `o${i}`, i % 2 ? `slow ${i}` : `fast ${i}`)));
    const seqs = outs.map((o) => o.seq!);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(outs[1]?.frames[0]?.text).toBe('done: slow 1');
    expect(outs[2]?.frames[0]?.text).toBe('echo 2: fast 2');
  });

  it('denies another user and reports unknown sessions', async () => {
    const s = setup();
    const rt = s.open();
    const { sessionId } = await rt.open({ tenant, user });
    await expect(rt.open({ tenant, user: userId('intruder'), sessionId })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(rt.open({ tenant: tenantId('other'), user, sessionId })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(
      rt.send(sessionId, { type: 'user.message', id: 'x', text: 'hi' }, { as: { tenant, user: userId('intruder'), role: 'customer' } }),
    ).rejects.toMatchObject({ code: 'forbidden' });
    await expect(say(rt, 'no-such-session', 'm', 'hi')).rejects.toMatchObject({ code: 'unknown_session' });
    await expect(rt.open({ tenant, user, sessionId: 'nope', mustExist: true })).rejects.toMatchObject({ code: 'unknown_session' });
  });

  it('answers gracefully when the actor throws, and keeps serving the session', async () => {
    const s = setup();
    const rt = s.open();
    const { sessionId } = await rt.open({ tenant, user });
    await say(rt, sessionId, 'm1', 'one');
    const failed = await say(rt, sessionId, 'm2', 'boom');
    expect(failed.frames[0]?.text).toMatch(/something went wrong/);
    expect(failed.frames[0]?.meta).toMatchObject({ failed: true });
    const after = await say(rt, sessionId, 'm3', 'two');
    expect(after.frames[0]?.text).toBe('echo 1: two');
  });

  it("fails only the caller when a session cannot be loaded (its tenant's key deleted), never the process", async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    cleanups.push(() => void process.off('unhandledRejection', onUnhandled));
    const s = setup();
    const keys = createTenantKeyStore({ dir: s.dir, clock: s.clock });
    const rt = s.open({ sealer: createTenantSealer({ keys }) });
    const gone = await rt.open({ tenant: tenantId('gone'), user });
    const kept = await rt.open({ tenant, user });
    expect(await rt.passivate(gone.sessionId)).toBe(true);
    expect(keys.deleteTenantKey(tenantId('gone'))).toBe(true);
    // Loading it fails with a typed error, for this caller only; an unhandled rejection would
    // end a process that has no other listener for them (keel's own rethrows).
    await expect(rt.warm(gone.sessionId)).rejects.toSatisfy((err: unknown) => isKeelError(err, 'forbidden'));
    await expect(say(rt, gone.sessionId, 'm2', 'two')).rejects.toSatisfy((err: unknown) => isKeelError(err, 'forbidden'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(unhandled).toEqual([]);
    expect((await say(rt, kept.sessionId, 'k1', 'still here')).frames[0]?.text).toBe('echo 0: still here');
  });

  it('erases a session whose turn is under way without a second host writing it back', async () => {
    const s = setup();
    const effects = { calls: new Map<string, number>() };
    const rt = createRuntime({ dataDir: s.dir, machine: createTestMachine({ slowMs: 300, effects }), clock: s.clock });
    cleanups.push(() => rt.close());
    const { sessionId } = await rt.open({ tenant, user });
    const first = say(rt, sessionId, 'm1', 'slow one');
    first.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const erasing = rt.forget({ tenant, user });
    await new Promise((resolve) => setTimeout(resolve, 50));
    // A message while the erasure waits for the turn: refused, not run by a second host.
    await expect(say(rt, sessionId, 'm2', 'hello')).rejects.toSatisfy((err: unknown) => isKeelError(err, 'unknown_session'));
    expect((await erasing).sessions).toBe(1);
    await first.catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect([...effects.calls.values()]).toEqual([1]);
    expect(rt.describe(sessionId)).toBeUndefined();
    expect(rt.listSessions({ tenant, user })).toEqual([]);
    await expect(say(rt, sessionId, 'm3', 'again')).rejects.toSatisfy((err: unknown) => isKeelError(err, 'unknown_session'));
  });

  it('closes idempotently and refuses work afterwards', async () => {
    const s = setup();
    const rt = s.open();
    const { sessionId } = await rt.open({ tenant, user });
    await Promise.all([rt.close(), rt.close()]);
    await expect(say(rt, sessionId, 'm', 'x')).rejects.toMatchObject({ code: 'runtime_closed' });
  });
});

describe('passivation policy', () => {
  it('passivates idle sessions after idleTimeoutMs', async () => {
    const s = setup();
    const rt = s.open({ idleTimeoutMs: 1000 });
    const { sessionId } = await rt.open({ tenant, user });
    await say(rt, sessionId, 'm1', 'one');
    expect(rt.stats().live).toBe(1);
    s.clock.advance(1600);
    await new Promise((r) => setTimeout(r, 20));
    expect(rt.stats().live).toBe(0);
    expect((await say(rt, sessionId, 'm2', 'two')).frames[0]?.text).toBe('echo 1: two');
  });

  it('passivates a crowd of idle sessions a few hundred at a time, not all in one event-loop turn', async () => {
    const s = setup();
    const rt = s.open({ idleTimeoutMs: 10_000, maxLiveSessions: 5_000, restAfterMs: 0 });
    for (let i = 0; i < 1_000; i += 250) await Promise.all(Array.from({ length: 250 }, (_, j) => rt.open({ tenant, user: userId(`idle${i + j}`) })));
    // The sweep at 10 s finds all 1,000 idle; its first pass starts at most 256 passivations and
    // stops (fewer when its few milliseconds of event loop run out first, on a loaded machine).
    s.clock.advance(10_000);
    await vi.waitFor(() => expect(rt.stats().passivations).toBeGreaterThan(0), { timeout: 5_000 });
    // The next pass waits for the (manual) clock, so waiting longer for this one cannot run it.
    await new Promise((r) => setTimeout(r, 50));
    const first = rt.stats();
    expect(first.passivations).toBeLessThanOrEqual(256);
    expect(first.live).toBe(1_000 - first.passivations);
    // The next passes follow 5 ms apart.
    s.clock.advance(100);
    await vi.waitFor(() => expect(rt.stats()).toMatchObject({ live: 0, passivations: 1_000 }), { timeout: 5_000 });
  });

  it('keeps at most maxLiveSessions live, least recently used first', async () => {
    const s = setup();
    const rt = s.open({ maxLiveSessions: 2 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { sessionId } = await rt.open({ tenant, user: userId(`u${i}`) });
      ids.push(sessionId);
      await say(rt, sessionId, `m${i}`, 'hi');
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(rt.stats().live).toBeLessThanOrEqual(2);
    expect(rt.stats().passivations).toBeGreaterThanOrEqual(3);
    expect((await say(rt, ids[0]!, 'again', 'back')).frames[0]?.text).toBe('echo 1: back');
  });
});

describe('timers', () => {
  it('fires a timeout that was pending when the session was passivated', async () => {
    const s = setup();
    const rt = s.open();
    const { sessionId } = await rt.open({ tenant, user });
    const seen: SessionFrame[] = [];
    rt.subscribe(sessionId, (frames) => seen.push(...frames));
    await say(rt, sessionId, 'm1', 'wait');
    await rt.passivate(sessionId);
    s.clock.advance(59_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(seen.some((f) => f.text === 'still there?')).toBe(false);
    s.clock.advance(2_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.some((f) => f.text === 'still there?')).toBe(true);
    expect(rt.describe(sessionId)?.state).toBe('idle');
  });

  it('fires a timeout that was pending across a restart, and journals the nudge', async () => {
    const s = setup();
    const rt1 = s.open();
    const { sessionId } = await rt1.open({ tenant, user });
    await say(rt1, sessionId, 'm1', 'wait');
    await rt1.close();
    s.clock.advance(120_000);
    const rt2 = s.open();
    // Hydration re-arms the overdue timer with no delay left; let the manual clock run it.
    s.clock.advance(1);
    await new Promise((r) => setTimeout(r, 50));
    const frames = rt2.replay(sessionId, 0);
    expect(frames.map((f) => f.text)).toContain('still there?');
    expect(frames.map((f) => f.seq)).toEqual([1, 2, 3]);
  });

  it('keeps the remaining time of a live timer when passivated halfway', async () => {
    const s = setup();
    const rt = s.open();
    const { sessionId } = await rt.open({ tenant, user });
    await say(rt, sessionId, 'm1', 'wait');
    s.clock.advance(30_000);
    await rt.passivate(sessionId);
    await say(rt, sessionId, 'm2', 'hello?').then((o) => expect(o.frames[0]?.text).toBe('welcome back'));
    // The message moved the flow on; the old deadline must not fire a nudge any more.
    s.clock.advance(40_000);
    await new Promise((r) => setTimeout(r, 20));
    expect(rt.replay(sessionId, 0).map((f) => f.text)).not.toContain('still there?');
  });
});

describe('a timer step that cannot be committed', () => {
  it('leaves no gap in the journal: the session is loaded again from its last commit', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const machine = setupMachine({ types: { emitted: {} as { type: 'agent.reply'; text: string } } }).createMachine({
      id: 'nudge', initial: 'idle',
      states: {
        idle: { on: { 'user.message': { target: 'waiting', actions: emit({ type: 'agent.reply', text: 'ok' }) } } },
        waiting: {
          after: { 100: { target: 'idle', actions: emit({ type: 'agent.reply', text: 'are you still there?' }) } },
          on: { 'user.message': { target: 'waiting', reenter: true, actions: emit({ type: 'agent.reply', text: 'ok' }) } },
        },
      },
    });
    // Sealing the journal's texts fails while `failing` is set (a key file unreadable for a moment).
    let failing = false;
    const decoder = new TextDecoder();
    const sealer = {
      seal: (_tenant: unknown, bytes: Uint8Array) => {
        if (failing && decoder.decode(bytes).startsWith('["')) throw new Error('transient seal failure');
        return bytes;
      },
      open: (_tenant: unknown, bytes: Uint8Array) => bytes,
    };
    const rt = createRuntime({ dataDir: t.dir, machine, sealer: sealer as never, memory: 'none' });
    cleanups.push(() => rt.close());
    const { sessionId } = await rt.open({ tenant, user });
    await say(rt, sessionId, 'm1', 'hi');
    failing = true;
    await new Promise((resolve) => setTimeout(resolve, 300)); // the timer fires; its step cannot be committed
    failing = false;
    const next = await say(rt, sessionId, 'm2', 'hello');
    expect(next.frames.map((f) => f.text)).toContain('ok');
    const seqs = rt.replay(sessionId, 0).map((f) => f.seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
    expect(rt.describe(sessionId)?.seq).toBe(seqs.length);
  });
});

describe('machine versions', () => {
  it('runs the migration hook when the version changes', async () => {
    const s = setup();
    const rt1 = s.open({ machineVersion: '1' });
    const { sessionId } = await rt1.open({ tenant, user });
    await say(rt1, sessionId, 'm1', 'one');
    await rt1.close();
    const calls: string[] = [];
    const rt2 = s.open({
      machineVersion: '2',
      migrate: ({ fromVersion, toVersion, snapshot }: { fromVersion: string; toVersion: string; snapshot: unknown }) => {
        calls.push(`${fromVersion}->${toVersion}`);
        const snap = snapshot as { context: { count: number } };
        return { ...snap, context: { ...snap.context, count: snap.context.count + 100 } };
      },
    });
    const out = await say(rt2, sessionId, 'm2', 'two');
    expect(calls).toEqual(['1->2']);
    expect(out.frames[0]?.text).toBe('echo 101: two');
  });

  it('restarts the flow keeping the context when the machine changes without a migration', async () => {
    const s = setup();
    const rt1 = s.open();
    const { sessionId } = await rt1.open({ tenant, user });
    await say(rt1, sessionId, 'm1', 'one');
    await say(rt1, sessionId, 'm2', 'wait');
    await rt1.close();
    const rt2 = createRuntime({ dataDir: s.dir, machine: createTestMachine({ id: 'test-agent-v2' }), clock: s.clock, machineVersion: '7' });
    cleanups.push(() => rt2.close());
    const out = await say(rt2, sessionId, 'm3', 'three');
    expect(out.frames[0]?.text).toBe('echo 1: three');
  });
});
