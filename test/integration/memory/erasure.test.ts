// Erasure: runtime.forget and `keel forget` remove a user's context, memories, index vectors,
// journals, session snapshots and trace, and record the erasure in the audit trail. Afterwards
// nothing of the user is recallable or readable — not through the API, not in the raw LMDB
// values, not in the index files — including after a restart. Encryption is off in the scan
// tests so that a leftover would be visible in the raw bytes.
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../../../src/cli/cli-main.js';
import { createLocalEmbedder } from '../../../src/memory/local-embedder.js';
import { DB_NAMES, openEnv } from '../../../src/store/lmdb-env.js';
import { tenantId, userId } from '../../../src/types.js';
import { fakeIo } from '../server/support/fake-io.js';
import { startAgentFixture, type AgentFixture } from './support/agent-fixture.js';
import { indexBytes, openMemoryFixture, storedVectorBytes, type MemoryFixture } from './support/memory-fixture.js';
import type { Embedder } from '../../../src/ports.js';
import { KeelError } from '../../../src/errors.js';

const acme = tenantId('acme');
const alice = userId('alice');
const bob = userId('bob');
const ADDRESS = '7 Juniper Crescent, Leeds LS6 2AB';
const ALLERGY = 'I am allergic to wool, so please never suggest merino socks to me';
const BOB_SAYS = 'Bob wants to know whether the orange tent is waterproof in storms';
/** Strings only Alice ever wrote. */
const ALICE_TEXTS = ['Juniper Crescent', 'allergic to wool', 'merino socks'];

let fixture: AgentFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

async function aliceAndBob(f: AgentFixture) {
  const web = await f.open('alice', 'web');
  await web.say('where is my order 1042?');
  await web.say(`please change the delivery address of order 1043 to ${ADDRESS}`);
  await web.say('yes');
  await web.say(ALLERGY);
  const phone = await f.open('alice', 'phone');
  await phone.say('what was my order number again?');
  const other = await f.open('bob', 'web');
  await other.say(BOB_SAYS);
  await f.runtime.memory!.memories.saveIndex(acme);
}

/** Every key and value of every database, raw (no decoding, no unsealing). */
function rawLmdb(dir: string): Buffer {
  const env = openEnv({ dir });
  try {
    const parts: Buffer[] = [];
    for (const name of DB_NAMES) {
      const db = env.root.openDB({ name, encoding: 'binary', keyEncoding: 'binary' });
      for (const { key, value } of db.getRange()) parts.push(Buffer.from(key as Uint8Array), Buffer.from(value as Uint8Array));
    }
    return Buffer.concat(parts);
  } finally {
    void env.close();
  }
}

/** Checks through the API; with `probe`, also opens a new session of Alice (which creates new data of hers). */
async function expectAliceGone(f: AgentFixture, probe = true) {
  const memory = f.runtime.memory!;
  expect(await memory.memories.recall({ tenant: acme, user: alice, query: 'allergic to wool merino', k: 10 })).toEqual([]);
  expect(memory.memories.count(acme, alice)).toBe(0);
  expect(memory.contexts.get(acme, alice)).toBeUndefined();
  expect(f.runtime.listSessions({ tenant: acme, user: alice })).toEqual([]);
  expect(f.runtime.events.query({ tenant: acme, user: alice })).toEqual([]);
  // Bob is untouched.
  const bobs = await memory.memories.recall({ tenant: acme, user: bob, query: 'is the orange tent waterproof', k: 1 });
  expect(bobs[0]?.text).toBe(BOB_SAYS);
  if (!probe) return;
  // A new session of Alice starts with nothing: the order number is not known any more.
  const again = await f.open('alice', 'phone');
  expect(await again.say('what was my order number again?')).not.toContain('1043');
}

describe('erasure', () => {
  it('runtime.forget leaves nothing of the user in the API, the raw LMDB values or the index files, also after a restart', async () => {
    fixture = await startAgentFixture({ sealer: 'none' });
    const f = fixture;
    await aliceAndBob(f);
    const needle = storedVectorBytes(createLocalEmbedder().embedSync(ALLERGY));
    // The scans can see Alice's data before the erasure (so an empty scan afterwards means something).
    await f.whileStopped(() => {
      const raw = rawLmdb(f.dir);
      for (const text of ALICE_TEXTS) expect(raw.includes(text), text).toBe(true);
      // Her intent history, stored apart from her context, opens with a line naming her.
      expect(raw.includes(JSON.stringify([acme, alice]))).toBe(true);
      expect(indexBytes(`${f.dir}/memory-index`).includes(needle)).toBe(true);
    });

    const erased = await f.runtime.forget({ tenant: acme, user: alice });
    expect(erased.sessions).toBe(2);
    expect(erased.memories).toBeGreaterThanOrEqual(2);
    expect(erased.context).toBe(true);
    expect(erased.events).toBeGreaterThan(0);
    const [record] = f.runtime.audit.read({ fromSeq: 1, limit: 10_000 }).filter((r) => r.action === 'user.forget');
    expect(record).toMatchObject({ outcome: 'ok', target: 'user:alice', details: { sessions: 2, memories: erased.memories, context: true } });

    await expectAliceGone(f, false);
    await f.whileStopped(() => {
      const raw = rawLmdb(f.dir);
      for (const text of ALICE_TEXTS) expect(raw.includes(text), text).toBe(false);
      expect(raw.includes(JSON.stringify([acme, alice]))).toBe(false);
      expect(raw.includes(BOB_SAYS.slice(0, 30))).toBe(true);
      expect(indexBytes(`${f.dir}/memory-index`).includes(needle)).toBe(false);
    });
    // After the restart (whileStopped started a new runtime on the same directory).
    await expectAliceGone(f);
  });

  it('with encryption on (the default) nothing of the user is recallable after forget and a restart', async () => {
    fixture = await startAgentFixture();
    await aliceAndBob(fixture);
    await fixture.runtime.forget({ tenant: acme, user: alice });
    await fixture.restart();
    await expectAliceGone(fixture);
  });

  it('only an admin of the tenant may erase; a refusal is audited and erases nothing', async () => {
    fixture = await startAgentFixture();
    await aliceAndBob(fixture);
    await expect(fixture.runtime.forget({ tenant: acme, user: alice }, { tenant: acme, user: bob, role: 'customer' })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(fixture.runtime.forget({ tenant: acme, user: alice }, { tenant: tenantId('globex'), user: userId('root'), role: 'admin' })).rejects.toMatchObject({ code: 'forbidden' });
    const denied = fixture.runtime.audit.read({ fromSeq: 1, limit: 10_000 }).filter((r) => r.action === 'user.forget');
    expect(denied.map((r) => r.outcome)).toEqual(['denied', 'denied']);
    expect(fixture.runtime.memory!.contexts.get(acme, alice)?.facts.orderId?.value).toBe('1043');
    const ok = await fixture.runtime.forget({ tenant: acme, user: alice }, { tenant: acme, user: userId('dpo'), role: 'admin' });
    expect(ok.context).toBe(true);
  });

  it('`keel forget` erases the same things from the data directory, audited as the named admin', async () => {
    fixture = await startAgentFixture({ sealer: 'none' });
    const f = fixture;
    await aliceAndBob(f);
    await f.whileStopped(async () => {
      const refused = fakeIo();
      expect(await runCli(['forget', '--tenant', 'acme', '--user', 'alice', '--data-dir', f.dir], refused)).toBe(2);
      expect(refused.err()).toContain('add --yes');
      expect(rawLmdb(f.dir).includes('Juniper Crescent')).toBe(true);

      const io = fakeIo({ env: { USER: 'operator' } });
      expect(await runCli(['forget', '--tenant', 'acme', '--user', 'alice', '--yes', '--by', 'dpo@acme', '--json', '--data-dir', f.dir], io)).toBe(0);
      const result = JSON.parse(io.out()) as { sessions: number; memories: number; context: boolean; auditSeq: number };
      expect(result).toMatchObject({ tenant: 'acme', user: 'alice', sessions: 2, context: true });
      expect(result.memories).toBeGreaterThanOrEqual(2);
      const raw = rawLmdb(f.dir);
      for (const text of ALICE_TEXTS) expect(raw.includes(text), text).toBe(false);
      expect(indexBytes(`${f.dir}/memory-index`).includes(storedVectorBytes(createLocalEmbedder().embedSync(ALLERGY)))).toBe(false);
    });
    const record = f.runtime.audit.read({ fromSeq: 1, limit: 10_000 }).filter((r) => r.action === 'user.forget').at(-1);
    expect(record).toMatchObject({ outcome: 'ok', actor: { tenant: 'acme', user: 'dpo@acme', role: 'admin' } });
    expect((await f.runtime.audit.verify()).ok).toBe(true);
    await expectAliceGone(f);
  });

  describe('work under way when the erasure starts', () => {
    let store: MemoryFixture | undefined;
    afterEach(async () => {
      await store?.close();
      store = undefined;
    });

    /** The local embedder, holding its `held`-th call (1-based) until `release()`. */
    function heldEmbedder(held: number) {
      const local = createLocalEmbedder();
      let calls = 0;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let reached!: () => void;
      const waiting = new Promise<void>((resolve) => (reached = resolve));
      const embedder: Embedder = {
        id: local.id,
        dimensions: local.dimensions,
        async embed(texts, signal) {
          if (++calls === held) {
            reached();
            await gate;
          }
          return local.embed(texts, signal);
        },
      };
      return { embedder, waiting, release };
    }

    it('a memory being stored when its user is erased is refused, not stored after the erasure', async () => {
      const held = heldEmbedder(2);
      store = await openMemoryFixture({ embedder: held.embedder }, { plain: true });
      const memories = store.memory.memories;
      await memories.remember({ tenant: acme, user: alice, text: 'my first order was a red tent' });
      const late = memories.remember({ tenant: acme, user: alice, text: ALLERGY });
      late.catch(() => undefined);
      await held.waiting;
      expect(await store.memory.forget(acme, alice)).toMatchObject({ memories: 1 });
      held.release();
      await expect(late).rejects.toSatisfy((err: unknown) => err instanceof KeelError && err.code === 'forbidden');
      expect(memories.count(acme, alice)).toBe(0);
      expect(await memories.recall({ tenant: acme, user: alice, query: 'allergic to wool', k: 5 })).toEqual([]);
      // A memory stored after the erasure, by a call made after it, is kept as usual.
      await memories.remember({ tenant: acme, user: alice, text: 'I am new here' });
      expect(memories.count(acme, alice)).toBe(1);
    });

    it('a summary being written by retention when its user is erased is not written, and quotes nothing', async () => {
      // Calls 1-4 embed the four messages; call 5 embeds retention's summary of the two oldest.
      const held = heldEmbedder(5);
      store = await openMemoryFixture({ embedder: held.embedder, maxMemoriesPerUser: 3, summariseBatchSize: 2 }, { plain: true });
      const memories = store.memory.memories;
      const texts = [ALLERGY, `I live at ${ADDRESS}`, 'my card ending 4242 was declined', 'please call me after six'];
      for (const text of texts.slice(0, 3)) await memories.remember({ tenant: acme, user: alice, text });
      const fourth = memories.remember({ tenant: acme, user: alice, text: texts[3]! });
      await held.waiting;
      await store.memory.forget(acme, alice);
      held.release();
      await fourth;
      expect(memories.count(acme, alice)).toBe(0);
      expect(await memories.recall({ tenant: acme, user: alice, query: 'allergic to wool', k: 5 })).toEqual([]);
      await store.reopen();
      expect(store.memory.memories.count(acme, alice)).toBe(0);
      // Raw keys and values of every database, through the store's own environment.
      const parts: Buffer[] = [];
      for (const name of DB_NAMES) {
        const db = store.env.root.openDB({ name, encoding: 'binary', keyEncoding: 'binary' });
        for (const { key, value } of db.getRange()) parts.push(Buffer.from(key as Uint8Array), Buffer.from(value as Uint8Array));
      }
      const raw = Buffer.concat(parts);
      expect(raw.includes('Quay') || raw.includes('4242') || raw.includes('after six')).toBe(false);
      for (const text of ALICE_TEXTS) expect(raw.includes(text), text).toBe(false);
    });
  });
});

