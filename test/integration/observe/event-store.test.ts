import { afterEach, describe, expect, it } from 'vitest';
import { createManualClock, createRuntime, tenantId, userId } from '../../../src/index.js';
import { buildReport, buildReportSliced } from '../../../src/observe/diagnostics.js';
import { createEventStore } from '../../../src/observe/event-store.js';
import { createTenantSealer } from '../../../src/security/tenant-sealer.js';
import { createTenantKeyStore } from '../../../src/security/tenant-keys.js';
import { openEnv } from '../../../src/store/lmdb-env.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A temporary LMDB environment and a manual clock, both removed after the test. */
function storage(startMs: number) {
  const t = tempDir();
  cleanups.push(t.remove);
  const env = openEnv({ dir: t.dir });
  cleanups.push(() => env.close());
  return { dir: t.dir, env, clock: createManualClock(startMs) };
}

describe('decision trace', () => {
  it('records what each session did and answers queries by time range, user and kind', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const day = 86_400_000;
    const clock = createManualClock(Date.UTC(2026, 0, 1));
    const rt = createRuntime({ dataDir: t.dir, machine: createTestMachine(), clock, redactText: (s) => s.replace(/\S+@\S+/g, '[email]') });
    cleanups.push(() => rt.close());
    const alice = await rt.open({ tenant: tenantId('acme'), user: userId('alice') });
    const bob = await rt.open({ tenant: tenantId('acme'), user: userId('bob') });
    await rt.send(alice.sessionId, { type: 'user.message', id: 'a1', text: 'wait' });
    clock.advance(8 * day);
    await rt.send(bob.sessionId, { type: 'user.message', id: 'b1', text: 'mail me at bob@example.com' });
    await rt.send(alice.sessionId, { type: 'user.message', id: 'a2', text: 'back' });
    await new Promise((r) => setTimeout(r, 20));

    const lastWeek = rt.events.query({ tenant: tenantId('acme'), since: clock.now() - 7 * day });
    expect(new Set(lastWeek.map((e) => e.user))).toEqual(new Set(['alice', 'bob']));
    const aliceAll = rt.events.query({ tenant: tenantId('acme'), user: userId('alice') });
    expect(aliceAll.every((e) => e.user === 'alice' && e.session === alice.sessionId)).toBe(true);
    const transitions = aliceAll.filter((e) => e.kind === 'transition');
    expect(transitions.map((e) => e.data.to)).toEqual(['idle', 'waiting', 'idle']);
    const aliceLastWeek = rt.events.query({ tenant: tenantId('acme'), user: userId('alice'), since: clock.now() - 7 * day, kinds: ['transition'] });
    expect(aliceLastWeek.map((e) => e.data.to)).toEqual(['idle']);
    expect(rt.events.query({ tenant: tenantId('other') })).toEqual([]);
    expect(JSON.stringify(rt.events.query({ user: userId('bob') }))).not.toContain('bob@example.com');
  });

  it('drops events older than the retention', async () => {
    const { env, clock } = storage(1_000_000);
    const store = createEventStore({ env, clock, retentionMs: 1000 });
    const base = { tenant: tenantId('t'), session: 's' as never, user: userId('u'), traceId: 'x', reason: 'r', data: {} };
    store.append({ ...base, kind: 'route', time: 1_000_000 });
    clock.advance(5000);
    store.append({ ...base, kind: 'reply', time: clock.now() });
    store.flush();
    await env.flushed();
    expect(await store.prune()).toBe(1);
    expect(store.query({}).map((e) => e.kind)).toEqual(['reply']);
  });

  it('prunes a backlog larger than one slice completely, and counts every event it removed', async () => {
    const { env, clock } = storage(1_000_000);
    const store = createEventStore({ env, clock, retentionMs: 1000 });
    const base = { tenant: tenantId('t'), session: 's' as never, user: userId('u'), traceId: 'x', reason: 'r', data: {} };
    // 2,500 batches of two events each, a millisecond apart: more than two slices of 1,000.
    for (let i = 0; i < 2_500; i++) {
      store.append({ ...base, kind: 'route', time: clock.now() });
      store.append({ ...base, kind: 'reply', time: clock.now() });
      store.flush();
      clock.advance(1);
    }
    await env.flushed();
    clock.advance(10_000);
    store.append({ ...base, kind: 'reply', time: clock.now() });
    store.flush();
    await env.flushed();
    expect(await store.prune()).toBe(5_000);
    expect(store.query({}).length).toBe(1);
    expect(await store.prune()).toBe(0);
  });

  it('bounds the batches a query reads, and says when the bound cut the scan short', async () => {
    const { env, clock } = storage(1_000_000);
    const store = createEventStore({ env, clock });
    const ev = (session: string) => ({ kind: 'reply' as const, time: clock.now(), tenant: tenantId('acme'), session: session as never, user: userId('u'), traceId: 'x', reason: 'r', data: {} });
    store.append(ev('old'));
    store.flush();
    for (let i = 0; i < 2_000; i++) {
      clock.advance(1);
      store.append(ev('busy'));
      store.flush();
    }
    await env.flushed();
    // The old session's one event lies behind 2,000 batches of another: a bounded scan stops first.
    expect(store.queryPage({ session: 'old' as never, reverse: true, maxBatches: 500 })).toEqual({ events: [], complete: false });
    const all = store.queryPage({ session: 'old' as never, reverse: true });
    expect(all.complete).toBe(true);
    expect(all.events).toHaveLength(1);
    // A bound the scan never reaches changes nothing.
    expect(store.queryPage({ session: 'busy' as never, reverse: true, limit: 10, maxBatches: 500 })).toMatchObject({ complete: true, events: { length: 10 } });
    const report = buildReport({ events: store, since: 0, until: clock.now(), maxBatches: 100 });
    expect(report).toMatchObject({ truncated: true, events: 100 });
  });

  it('scans in slices with the event loop free between them, and gives what queryPage gave when the scan began', async () => {
    const { env, clock } = storage(1_000_000);
    const store = createEventStore({ env, clock });
    const kinds = ['route', 'reply', 'fallback', 'tool'] as const;
    const ev = (i: number, tenant: string) => ({ kind: kinds[i % 4]!, time: clock.now(), tenant: tenantId(tenant), session: `s-${i % 50}` as never, user: userId(`u-${i % 7}`), traceId: `t-${i}`, reason: `r-${i}`, data: { i } });
    // 3,000 stored batches of 1 to 5 events, two tenants; then a batch committing and two waiting.
    let n = 0;
    for (let b = 0; b < 3_000; b++) {
      for (let k = 0; k <= b % 5; k++) store.append(ev(n++, n % 3 === 0 ? 'other' : 'acme'));
      store.flush();
      clock.advance(1);
    }
    await env.flushed();
    store.append(ev(n++, 'acme'));
    store.flush();
    store.append(ev(n++, 'acme'));
    store.append(ev(n++, 'acme'));
    const reasonsOf = (events: readonly { reason: string }[]) => events.map((e) => e.reason);

    for (const q of [{ tenant: tenantId('acme'), limit: 100_000 }, { kinds: ['tool' as const], limit: 100_000 }, { tenant: tenantId('acme'), limit: 1_234 }, { tenant: tenantId('acme'), limit: 100_000, maxBatches: 777 }, { since: 1_000_500, until: 1_001_500, limit: 100_000 }]) {
      const expected = store.queryPage(q);
      const pages: string[][] = [];
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 0);
      const scanning = store.scan(q, (events) => pages.push(reasonsOf(events)), { sliceBatches: 100 });
      // Appended after the scan began: not in what it gives.
      store.append(ev(n++, 'acme'));
      const result = await scanning;
      clearInterval(ticker);
      expect(pages.flat()).toEqual(reasonsOf(expected.events));
      expect(result).toEqual({ count: expected.events.length, complete: expected.complete });
      if (q.maxBatches === undefined && (q.limit ?? 0) > 10_000) {
        // Thousands of batches, a hundred a slice: timers ran between the slices.
        expect(pages.length).toBeGreaterThan(5);
        expect(ticks).toBeGreaterThan(0);
      }
      store.flush();
      await env.flushed();
    }
    await expect(store.scan({ reverse: true }, () => undefined)).rejects.toThrow(/reverse/);

    // A report read in slices is the report read at once.
    const until = clock.now();
    for (const tenant of ['acme', 'other']) {
      const once = buildReport({ events: store, since: 0, until, tenant });
      expect(await buildReportSliced({ events: store, since: 0, until, tenant })).toEqual(once);
      expect(once.events).toBeGreaterThan(2_000);
    }
    const bounded = buildReport({ events: store, since: 0, until, maxBatches: 100 });
    expect(await buildReportSliced({ events: store, since: 0, until, maxBatches: 100 })).toEqual(bounded);
    expect(bounded.truncated).toBe(true);
  });

  it('ends a scan at its next slice when the runtime closes, and closes only when no scan reads', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    const rt = createRuntime({ dataDir: t.dir, machine: createTestMachine() });
    const session = await rt.open({ tenant: tenantId('acme'), user: userId('ann') });
    for (let i = 0; i < 300; i++) await rt.send(session.sessionId, { type: 'user.message', id: `m${i}`, text: 'wait' });
    let slices = 0;
    const scanning = rt.events.scan({ tenant: tenantId('acme'), limit: 100_000 }, () => slices++, { sliceBatches: 1 });
    const closed = rt.close();
    await expect(scanning).rejects.toMatchObject({ code: 'runtime_closed' });
    await closed;
    // It stopped before the end of the trace (hundreds of batches, one a slice), and a scan asked for now is refused.
    expect(slices).toBeGreaterThan(0);
    expect(slices).toBeLessThan(300);
    await expect(rt.events.scan({ limit: 10 }, () => undefined)).rejects.toMatchObject({ code: 'runtime_closed' });
  });

  it('keeps batches of an earlier run visible while a new run writes under the same counter, and stores a busy tick in bounded batches', async () => {
    const { env, clock } = storage(1_000_000);
    const ev = (reason: string, i = 0) => ({ kind: 'reply' as const, time: clock.now(), tenant: tenantId('acme'), session: 's' as never, user: userId('u'), traceId: `t-${i}`, reason, data: {} });
    const before = createEventStore({ env, clock });
    before.append(ev('old'));
    before.flush();
    await env.flushed();
    clock.advance(10);
    // A restarted process: its counter starts again, and its first batch is on its way to LMDB.
    const after = createEventStore({ env, clock });
    after.append(ev('new'));
    after.flush();
    const reasons: string[] = [];
    await after.scan({}, (events) => reasons.push(...events.map((e) => e.reason)));
    expect(after.query({}).map((e) => e.reason)).toEqual(['old', 'new']);
    expect(reasons).toEqual(['old', 'new']);
    await env.flushed();

    // 5,000 events in one tick: stored under several keys, each read without the others.
    clock.advance(10);
    for (let i = 0; i < 5_000; i++) after.append(ev('busy', i));
    after.flush();
    await env.flushed();
    const sizes = [...env.db('events').getRange({ start: [clock.now()] })].map(({ value }) => (value as unknown[]).length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(5_000);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2_000);
    expect(after.query({ since: clock.now(), limit: 10_000 }).map((e) => e.traceId)).toEqual(Array.from({ length: 5_000 }, (_, i) => `t-${i}`));

    // Limits as queryPage takes them, and an aborted scan ends with its signal's reason.
    expect(await after.scan({ limit: 0, maxBatches: 0 }, () => undefined)).toEqual({ count: 0, complete: true });
    await expect(after.scan({ limit: 2.5 }, () => undefined)).rejects.toThrow(/limit/);
    const abort = new AbortController();
    const scanning = after.scan({ limit: 10_000 }, () => abort.abort(new Error('page gone')), { sliceBatches: 1, signal: abort.signal });
    await expect(scanning).rejects.toThrow('page gone');
  });

  it('erases a user from a trace longer than one slice: batches of theirs removed, shared ones rewritten', async () => {
    const { env, clock } = storage(1_000_000);
    const store = createEventStore({ env, clock });
    const ev = (user: string) => ({ kind: 'reply' as const, time: clock.now(), tenant: tenantId('acme'), session: `s-${user}` as never, user: userId(user), traceId: 'x', reason: 'r', data: {} });
    // 2,500 batches: alice alone in every third, alice and bob in every third, bob alone in the rest.
    for (let i = 0; i < 2_500; i++) {
      if (i % 3 !== 2) store.append(ev('alice'));
      if (i % 3 !== 0) store.append(ev('bob'));
      store.flush();
      clock.advance(1);
    }
    await env.flushed();
    const alices = store.query({ user: userId('alice'), limit: 10_000 }).length;
    const bobs = store.query({ user: userId('bob'), limit: 10_000 }).length;
    expect(await store.forgetUser(tenantId('acme'), userId('alice'))).toBe(alices);
    expect(store.query({ user: userId('alice'), limit: 10_000 })).toEqual([]);
    expect(store.query({ user: userId('bob'), limit: 10_000 })).toHaveLength(bobs);
    expect([...env.db('events').getKeys({})]).toHaveLength(2_500 - 834);
  });

  it('erases events appended just before the erasure: the batch of this tick and one still being written', async () => {
    const { dir, env, clock } = storage(1_500_000);
    const store = createEventStore({ env, clock });
    const ev = (user: string, reason: string) => ({ kind: 'session' as const, time: clock.now(), tenant: tenantId('acme'), session: `s-${user}` as never, user: userId(user), traceId: 'x', reason, data: {} });
    store.append(ev('alice', 'older'));
    store.append(ev('bob', 'older'));
    store.flush();
    // Put, not committed yet: its write is in flight when the erasure starts.
    store.append(ev('alice', 'in flight'));
    store.flush();
    // Still in this tick's batch.
    store.append(ev('alice', 'this tick'));
    store.append(ev('bob', 'this tick'));
    expect(await store.forgetUser(tenantId('acme'), userId('alice'))).toBe(3);
    await env.flushed();
    expect(store.query({ user: userId('alice') })).toEqual([]);
    expect(store.query({ user: userId('bob') }).map((e) => e.reason)).toEqual(['older', 'this tick']);
    // Nor in what a new store reads from the environment (as after a restart): nothing lands late.
    await new Promise((resolve) => setTimeout(resolve, 20));
    await env.flushed();
    const again = openEnv({ dir });
    cleanups.push(() => again.close());
    expect(createEventStore({ env: again, clock }).query({ user: userId('alice') })).toEqual([]);
  });

  it('answers with events not written yet, in order and once, while their batch waits or commits', async () => {
    const { env, clock } = storage(2_000_000);
    const store = createEventStore({ env, clock });
    const base = { tenant: tenantId('t'), session: 's' as never, user: userId('u'), traceId: 'x', data: {} };
    const add = (reason: string) => {
      clock.advance(1);
      store.append({ ...base, kind: 'route', reason, time: clock.now() });
    };
    add('stored-1');
    add('stored-2');
    store.flush();
    await env.flushed();
    add('flushed');
    store.flush();
    add('waiting-1');
    add('waiting-2');
    // Nothing of the last three is committed yet: one batch is on its way to LMDB, two events wait.
    const reasons = (q: Parameters<typeof store.query>[0]) => store.query(q).map((e) => e.reason);
    expect(reasons({})).toEqual(['stored-1', 'stored-2', 'flushed', 'waiting-1', 'waiting-2']);
    expect(reasons({ reverse: true, limit: 4 })).toEqual(['waiting-2', 'waiting-1', 'flushed', 'stored-2']);
    expect(reasons({ limit: 3 })).toEqual(['stored-1', 'stored-2', 'flushed']);
    expect(reasons({ since: clock.now() - 1 })).toEqual(['waiting-1', 'waiting-2']);
    // Once everything is committed, each event is still there once.
    store.flush();
    await env.flushed();
    expect(reasons({})).toEqual(['stored-1', 'stored-2', 'flushed', 'waiting-1', 'waiting-2']);
  });

  it("keeps serving when one tenant's events cannot be sealed: that tenant's batch is reported and dropped, the others' kept", async () => {
    const { dir, env, clock } = storage(1_000_000);
    const aes = createTenantSealer({ keys: createTenantKeyStore({ dir, env: {} }) });
    const sealer = {
      seal: (tenant: never, bytes: Uint8Array) => {
        if (tenant === 'broken') throw new Error('key store unavailable');
        return aes.seal(tenant, bytes);
      },
      open: aes.open,
    };
    const errors: unknown[] = [];
    const store = createEventStore({ env, clock, sealer, onError: (err) => errors.push(err) });
    const ev = (tenant: string, reason: string) => ({ kind: 'reply' as const, time: clock.now(), tenant: tenantId(tenant), session: `s-${tenant}` as never, user: userId('u'), traceId: 'x', reason, data: {} });
    store.append(ev('acme', 'kept'));
    store.append(ev('broken', 'lost'));
    // The batch is written on its own tick (setImmediate): a throw there would end the process.
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
    await env.flushed();
    expect(errors.map((e) => (e as Error).message)).toEqual(['key store unavailable']);
    expect(store.query({}).map((e) => e.reason)).toEqual(['kept']);
  });

  it('seals the events of a tick once per tenant, and an erasure seals the rest again without the user', async () => {
    const { dir, env, clock } = storage(1_000_000);
    let seals = 0;
    const aes = createTenantSealer({ keys: createTenantKeyStore({ dir, env: {} }) });
    const sealer = { seal: (tenant: never, bytes: Uint8Array) => (seals++, aes.seal(tenant, bytes)), open: aes.open };
    const store = createEventStore({ env, clock, sealer });
    const ev = (tenant: string, user: string, reason: string) => ({
      kind: 'reply' as const, time: clock.now(), tenant: tenantId(tenant), session: `s-${user}` as never, user: userId(user), traceId: 'x', reason, data: { said: `${reason} by ${user}` },
    });
    for (let i = 0; i < 10; i++) store.append(ev('acme', i % 2 ? 'alice' : 'bob', `r${i}`));
    store.append(ev('globex', 'gina', 'g0'));
    store.flush();
    await env.flushed();
    expect(seals).toBe(2);
    // Nothing a decision said is readable in the stored value.
    const raw = JSON.stringify([...env.db('events').getRange({})].map((r) => r.value), (_k, v: unknown) => (v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v));
    expect(raw).not.toContain('by alice');
    expect(store.query({ tenant: tenantId('acme'), user: userId('alice') }).map((e) => e.data.said)).toEqual(['r1 by alice', 'r3 by alice', 'r5 by alice', 'r7 by alice', 'r9 by alice']);

    expect(await store.forgetUser(tenantId('acme'), userId('alice'))).toBe(5);
    expect(store.query({ tenant: tenantId('acme'), user: userId('alice') })).toEqual([]);
    expect(store.query({ tenant: tenantId('acme') }).map((e) => e.reason)).toEqual(['r0', 'r2', 'r4', 'r6', 'r8']);
    expect(store.query({ tenant: tenantId('globex') }).map((e) => e.data.said)).toEqual(['g0 by gina']);
  });
});
