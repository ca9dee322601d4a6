// The structured user context in LMDB: facts with source, time and confidence, preferences,
// intents, open tasks and sessions by channel; bounded; sealed; and no update lost when several
// sessions of one user write at once.
import { randomBytes } from 'node:crypto';
import { getHeapSnapshot } from 'node:v8';
import { asBinary } from 'lmdb';
import { afterEach, describe, expect, it } from 'vitest';
import { createUserContextStore } from '../../../src/memory/user-context-store.js';
import { sessionId, tenantId, userId } from '../../../src/types.js';
import { openMemoryFixture, type MemoryFixture } from './support/memory-fixture.js';

const acme = tenantId('acme');
const ada = userId('ada');
const web = sessionId('s-web');
const phone = sessionId('s-phone');

let fixture: MemoryFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

describe('user context store', () => {
  it('keeps facts with their source, time and confidence; a less confident fact does not replace a surer one', async () => {
    fixture = await openMemoryFixture();
    const { contexts } = fixture.memory;
    expect(contexts.get(acme, ada)).toBeUndefined();
    await contexts.recordFact(acme, ada, { key: 'orderId', value: '1042', source: web, confidence: 1 });
    fixture.clock.advance(5000);
    await contexts.recordFact(acme, ada, { key: 'orderId', value: '9999', source: phone, confidence: 0.4 });
    const context = contexts.get(acme, ada)!;
    expect(context.facts.orderId).toEqual({ key: 'orderId', value: '1042', source: web, time: 1_700_000_000_000, confidence: 1 });
    await contexts.recordFact(acme, ada, { key: 'orderId', value: '1043', source: phone });
    expect(contexts.get(acme, ada)!.facts.orderId).toMatchObject({ value: '1043', source: phone, time: 1_700_000_005_000 });
  });

  it('records preferences, intents, open tasks and sessions by channel, and survives a restart', async () => {
    fixture = await openMemoryFixture();
    const { contexts } = fixture.memory;
    await contexts.setPreference(acme, ada, 'contact', 'email');
    await contexts.recordIntent(acme, ada, { intent: 'order_status', session: web, score: 0.93 });
    await contexts.upsertTask(acme, ada, { id: 't1', kind: 'refund', state: 'collecting', data: { orderId: '1042' }, session: web });
    await contexts.recordSession(acme, ada, 'web', web);
    await contexts.recordSession(acme, ada, 'phone', phone);
    await contexts.update(acme, ada, (draft) => {
      draft.profile.name = 'Ada';
    });
    await fixture.reopen();
    const context = fixture.memory.contexts.get(acme, ada)!;
    expect(context.preferences).toEqual({ contact: 'email' });
    expect(context.intentHistory).toEqual([{ intent: 'order_status', time: 1_700_000_000_000, session: web, score: 0.93 }]);
    expect(context.openTasks).toMatchObject([{ id: 't1', kind: 'refund', state: 'collecting', data: { orderId: '1042' }, session: web }]);
    expect(Object.keys(context.sessionsByChannel).sort()).toEqual(['phone', 'web']);
    expect(context.profile).toEqual({ name: 'Ada' });
    expect(context.version).toBe(6);
    await fixture.memory.contexts.closeTask(acme, ada, 't1');
    expect(fixture.memory.contexts.get(acme, ada)!.openTasks).toEqual([]);
  });

  it('never loses an update when many sessions of one user write at the same time', async () => {
    fixture = await openMemoryFixture();
    // Two stores over one environment stand for two sessions (web and phone) updating together.
    const sealer = (await import('../../../src/security/tenant-sealer.js')).createTenantSealer({
      keys: (await import('../../../src/security/tenant-keys.js')).createTenantKeyStore({ dir: fixture.dir, clock: fixture.clock }),
    });
    const a = fixture.memory.contexts;
    const b = createUserContextStore({ env: fixture.env, sealer, clock: fixture.clock, maxFacts: 1000 });
    const writes: Promise<unknown>[] = [];
    for (let i = 0; i < 150; i++) {
      const store = i % 2 === 0 ? a : b;
      writes.push(store.update(acme, ada, (draft) => {
        draft.profile.counter = ((draft.profile.counter as number | undefined) ?? 0) + 1;
      }));
      writes.push(store.recordFact(acme, ada, { key: `fact-${i}`, value: i, source: i % 2 === 0 ? web : phone }));
      // The history is appended by each store from what it read in the same transaction.
      if (i >= 110) writes.push(store.recordIntent(acme, ada, { intent: `intent-${i}`, turn: `${i % 2 === 0 ? web : phone}:${i}` }));
    }
    await Promise.all(writes);
    const context = a.get(acme, ada)!;
    expect(context.profile.counter).toBe(150);
    expect(Object.keys(context.facts)).toHaveLength(150);
    expect(context.intentHistory.map((e) => e.intent)).toEqual(Array.from({ length: 40 }, (_, k) => `intent-${110 + k}`));
    expect(b.get(acme, ada)!.intentHistory).toHaveLength(40);
    expect(context.version).toBe(340);
    await b.close();
  });

  it('rolls back a throwing update, bounds what it keeps, and refuses a context over its size', async () => {
    fixture = await openMemoryFixture({ maxFacts: 3, maxIntentHistory: 2, maxContextBytes: 2048 });
    const { contexts } = fixture.memory;
    await contexts.recordFact(acme, ada, { key: 'a', value: 1 });
    await expect(contexts.update(acme, ada, (draft) => {
      draft.profile.x = 1;
      throw new Error('changed my mind');
    })).rejects.toThrow('changed my mind');
    expect(contexts.get(acme, ada)!.profile).toEqual({});
    for (const key of ['b', 'c', 'd']) {
      fixture.clock.advance(1000);
      await contexts.recordFact(acme, ada, { key, value: key });
    }
    expect(Object.keys(contexts.get(acme, ada)!.facts).sort()).toEqual(['b', 'c', 'd']);
    for (const intent of ['i1', 'i2', 'i3']) await contexts.recordIntent(acme, ada, { intent });
    expect(contexts.get(acme, ada)!.intentHistory.map((e) => e.intent)).toEqual(['i2', 'i3']);
    await expect(contexts.setPreference(acme, ada, 'essay', 'x'.repeat(4000))).rejects.toMatchObject({ code: 'too_large' });
    await expect(contexts.update(acme, ada, () => Promise.resolve() as never)).rejects.toThrow(/synchronous/);
    expect(() => contexts.get(acme, 'no spaces allowed' as never)).toThrow(/user must be a valid id/);
  });

  it('reads give what is stored, each its own copy: values JSON cannot hold come back as JSON has them', async () => {
    fixture = await openMemoryFixture();
    const { contexts } = fixture.memory;
    await contexts.update(acme, ada, (draft) => {
      draft.profile.name = 'Ada';
    });
    // A reader that changes what it was given changes nothing for the next reader.
    (contexts.get(acme, ada)!.profile as Record<string, unknown>).name = 'Eve';
    expect(contexts.get(acme, ada)!.profile).toStrictEqual({ name: 'Ada' });
    // A date and an undefined field, as an embedding program's update function might leave them.
    const returned = await contexts.update(acme, ada, (draft) => {
      (draft.profile as Record<string, unknown>).since = new Date(Date.UTC(2026, 0, 2));
      (draft.profile as Record<string, unknown>).nickname = undefined;
    });
    expect(returned.profile).toStrictEqual({ name: 'Ada', since: '2026-01-02T00:00:00.000Z' });
    expect(contexts.get(acme, ada)!.profile).toStrictEqual({ name: 'Ada', since: '2026-01-02T00:00:00.000Z' });
    await fixture.reopen();
    expect(fixture.memory.contexts.get(acme, ada)!.profile).toStrictEqual({ name: 'Ada', since: '2026-01-02T00:00:00.000Z' });
    // The next update starts from what is stored.
    await fixture.memory.contexts.update(acme, ada, (draft) => {
      expect(typeof draft.profile.since).toBe('string');
      draft.profile.city = 'Leeds';
    });
    expect(fixture.memory.contexts.get(acme, ada)!.profile).toStrictEqual({ name: 'Ada', since: '2026-01-02T00:00:00.000Z', city: 'Leeds' });
  });

  it('a context copied under another user’s key is refused, not shown', async () => {
    fixture = await openMemoryFixture();
    const { contexts } = fixture.memory;
    await contexts.recordFact(acme, ada, { key: 'address', value: '4 Rue Colbert' });
    const db = fixture.env.db('users');
    await db.put([acme, 'mallory'], db.get([acme, ada]));
    expect(() => contexts.get(acme, userId('mallory'))).toThrow(/does not belong/);
  });

  it('keeps the intent history apart: appended without being read, once per turn, and left as stored by updates that do not touch it', async () => {
    fixture = await openMemoryFixture({ maxIntentHistory: 3 });
    const { contexts } = fixture.memory;
    const db = fixture.env.db('users');
    const historyBytes = () => db.getBinary([acme, ada, 'history']);
    await contexts.recordSession(acme, ada, 'web', web);
    expect(historyBytes()).toBeUndefined();
    await contexts.update(acme, ada, (draft) => {
      draft.profile.name = 'Ada';
    }, { intent: { intent: 'order_status', session: web, turn: 's-web:1', score: 0.9 } });
    fixture.clock.advance(1000);
    await contexts.recordIntent(acme, ada, { intent: 'refund', session: web, turn: 's-web:2' });
    // A turn re-run after a crash records its intent again: it is not added twice.
    await contexts.recordIntent(acme, ada, { intent: 'refund', session: web, turn: 's-web:2' });
    const stored = historyBytes();
    expect(stored).toBeDefined();
    // What is stored is sealed: no intent reads in clear.
    expect(Buffer.from(stored!).includes('order_status')).toBe(false);
    expect(contexts.get(acme, ada)!.intentHistory).toEqual([
      { intent: 'order_status', time: 1_700_000_000_000, session: web, turn: 's-web:1', score: 0.9 },
      { intent: 'refund', time: 1_700_000_001_000, session: web, turn: 's-web:2' },
    ]);
    // An update that leaves the history alone writes the rest only: the history's bytes stay.
    const before = db.get([acme, ada]) as { stamp: string };
    await contexts.setPreference(acme, ada, 'contact', 'email');
    expect((db.get([acme, ada]) as { stamp: string }).stamp).not.toBe(before.stamp);
    expect(Buffer.from(historyBytes()!).equals(Buffer.from(stored!))).toBe(true);
    // One that changes it rewrites it; the bound drops the oldest.
    for (const [i, intent] of ['a', 'b', 'c'].entries()) await contexts.recordIntent(acme, ada, { intent, turn: `s-phone:${i}` });
    expect(contexts.get(acme, ada)!.intentHistory.map((e) => e.intent)).toEqual(['a', 'b', 'c']);
    await contexts.update(acme, ada, (draft) => {
      draft.intentHistory = draft.intentHistory.filter((e) => e.intent !== 'b');
    });
    const context = contexts.get(acme, ada)!;
    expect(context.intentHistory.map((e) => e.intent)).toEqual(['a', 'c']);
    // The lazily read history is a field like any other: in JSON, spreads and clones, in its place.
    expect(Object.keys(JSON.parse(JSON.stringify(context)) as object)).toEqual(['tenant', 'user', 'profile', 'facts', 'preferences', 'intentHistory', 'openTasks', 'sessionsByChannel', 'version', 'updatedAt']);
    expect(structuredClone(context).intentHistory).toEqual(context.intentHistory);
    expect({ ...context }.intentHistory.map((e) => e.intent)).toEqual(['a', 'c']);
    // Emptied, the history's record goes.
    await contexts.update(acme, ada, (draft) => {
      draft.intentHistory.length = 0;
    });
    expect(historyBytes()).toBeUndefined();
    expect(contexts.get(acme, ada)!.intentHistory).toEqual([]);
    await expect(contexts.recordIntent(acme, ada, { intent: 'x', turn: '' })).rejects.toThrow(/intent turn/);
    await expect(contexts.recordIntent(acme, ada, { intent: 'x', score: Number.NaN })).rejects.toThrow(/score/);
  });

  it('reads a context stored whole by an earlier version, and stores its history apart at the next update', async () => {
    fixture = await openMemoryFixture({}, { plain: true });
    const db = fixture.env.db('users');
    const whole = {
      tenant: acme, user: ada, profile: { name: 'Ada' }, facts: {}, preferences: {},
      intentHistory: [{ intent: 'order_status', time: 1, session: web, turn: 's-web:1' }],
      openTasks: [], sessionsByChannel: {}, version: 4, updatedAt: 1,
    };
    await db.put([acme, ada], { v: 1, sealed: new TextEncoder().encode(JSON.stringify(whole)) });
    expect(fixture.memory.contexts.get(acme, ada)).toEqual(whole);
    await fixture.memory.contexts.recordIntent(acme, ada, { intent: 'refund', turn: 's-web:2' });
    await fixture.memory.contexts.recordIntent(acme, ada, { intent: 'refund', turn: 's-web:1' });
    const record = db.get([acme, ada]) as { v: number; sealed: Uint8Array; history?: true };
    expect(record.v).toBe(2);
    expect(record.history).toBe(true);
    expect(JSON.parse(new TextDecoder().decode(record.sealed))).not.toHaveProperty('intentHistory');
    await fixture.reopen();
    const context = fixture.memory.contexts.get(acme, ada)!;
    expect(context.intentHistory.map((e) => [e.intent, e.turn])).toEqual([['order_status', 's-web:1'], ['refund', 's-web:2']]);
    expect(context).toMatchObject({ profile: { name: 'Ada' }, version: 6 });
  });

  it('an intent history moved under another user is refused; erasing a user removes both records; the size bound counts both', async () => {
    fixture = await openMemoryFixture({ maxContextBytes: 4096 });
    const { contexts } = fixture.memory;
    const db = fixture.env.db('users');
    await contexts.recordIntent(acme, ada, { intent: 'order_status', session: web });
    await contexts.recordFact(acme, userId('mallory'), { key: 'plan', value: 'basic' });
    await contexts.recordIntent(acme, userId('mallory'), { intent: 'refund' });
    await db.put([acme, 'mallory', 'history'], asBinary(db.getBinary([acme, ada, 'history'])!));
    // A fresh store (no opened copies) reads what is stored.
    await fixture.reopen({ maxContextBytes: 4096 });
    expect(() => fixture!.memory.contexts.get(acme, userId('mallory'))).toThrow(/does not belong/);
    expect(fixture.memory.contexts.get(acme, ada)!.intentHistory.map((e) => e.intent)).toEqual(['order_status']);
    expect(await fixture.memory.contexts.forget(acme, ada)).toBe(true);
    const reopened = fixture.env.db('users');
    expect(reopened.get([acme, ada])).toBeUndefined();
    expect(reopened.getBinary([acme, ada, 'history'])).toBeUndefined();
    // The context alone is small; its history is what outgrows the bound.
    const many = Array.from({ length: 40 }, (_, i) => ({ intent: `intent-${'x'.repeat(80)}-${i}`, turn: `t${i}` }));
    let refused: unknown;
    for (const entry of many) {
      try {
        await fixture.memory.contexts.recordIntent(acme, ada, entry);
      } catch (err) {
        refused = err;
        break;
      }
    }
    expect(refused).toMatchObject({ code: 'too_large' });
  });

  it('keeps no opened copy of an erased context in memory', async () => {
    fixture = await openMemoryFixture();
    const { contexts } = fixture.memory;
    // Only the reversed form is ever stored; the needle is built after the heap snapshot is taken.
    const seed = randomBytes(12).toString('hex');
    await contexts.recordFact(acme, ada, { key: 'address', value: `zq${[...seed].reverse().join('')}` });
    expect(contexts.get(acme, ada)?.facts.address).toBeDefined();
    expect(await contexts.forget(acme, ada)).toBe(true);
    // A heap snapshot collects all garbage first: what it still holds is referenced.
    const chunks: Buffer[] = [];
    for await (const chunk of getHeapSnapshot()) chunks.push(chunk as Buffer);
    const heap = Buffer.concat(chunks);
    const needle = `zq${[...seed].reverse().join('')}`;
    expect(heap.includes(needle)).toBe(false);
    expect(contexts.get(acme, ada)).toBeUndefined();
  }, 60_000);
});
