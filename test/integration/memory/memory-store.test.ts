// The memory store on real LMDB, the AES sealer and the HNSW worker: recall by meaning within one
// user's scope, and the index as a cache (atomic saves, rebuilt when missing, stale or corrupt,
// resized, deletions with slot reuse).
import { existsSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { hnswIndexFiles } from '../../../src/memory/hnsw-index.js';
import { createLocalEmbedder } from '../../../src/memory/local-embedder.js';
import { memoryKeys } from '../../../src/memory/memory-records.js';
import { createUserMemory } from '../../../src/memory/user-memory.js';
import { createTenantSealer } from '../../../src/security/tenant-sealer.js';
import { createTenantKeyStore } from '../../../src/security/tenant-keys.js';
import { tenantId, userId } from '../../../src/types.js';
import { indexBytes, openMemoryFixture, storedVectorBytes, type MemoryFixture } from './support/memory-fixture.js';

const acme = tenantId('acme');
const ada = userId('ada');

const ADA_SAYS = [
  'My parcel was left at the wrong door again',
  'I prefer to be contacted by email, never by phone',
  'The hiking boots I bought are two sizes too small',
  'Please send invoices to my company address in Lyon',
  'I am allergic to wool so no merino products please',
  'My card was declined when I tried to pay for the tent',
];

let fixture: MemoryFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

async function open(...args: Parameters<typeof openMemoryFixture>) {
  fixture = await openMemoryFixture(...args);
  return fixture;
}

async function rememberAll(f: MemoryFixture, user = ada, texts = ADA_SAYS, tenant = acme) {
  for (const text of texts) {
    await f.memory.memories.remember({ tenant, user, text });
    f.clock.advance(1000);
  }
}

describe('memory store: recall', () => {
  it('recalls what the user said by meaning, best first, with scores recomputed from the stored vectors', async () => {
    const f = await open();
    await rememberAll(f);
    const hits = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'which products contain wool? I have an allergy', k: 3 });
    expect(hits[0]?.text).toBe('I am allergic to wool so no merino products please');
    expect(hits[0]!.score).toBeGreaterThan(hits[1]!.score);
    expect(hits[0]).toMatchObject({ kind: 'message', session: null });
    const email = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'how should we contact you, email or phone?', k: 1 });
    expect(email[0]?.text).toContain('contacted by email');
  });

  it('returns only the requesting user’s memories, even for users whose ids share a prefix', async () => {
    const f = await open();
    await rememberAll(f, userId('u1'), ['My dog is called Biscuit']);
    await rememberAll(f, userId('u10'), ['My cat is called Biscuit']);
    await rememberAll(f, userId('u1'), ['I live in Porto']);
    const u1 = await f.memory.memories.recall({ tenant: acme, user: userId('u1'), query: 'what is my pet called Biscuit', k: 10 });
    expect(u1.map((h) => h.text).sort()).toEqual(['I live in Porto', 'My dog is called Biscuit']);
    const u10 = await f.memory.memories.recall({ tenant: acme, user: userId('u10'), query: 'Biscuit', k: 10 });
    expect(u10.map((h) => h.text)).toEqual(['My cat is called Biscuit']);
    expect(f.memory.memories.count(acme, userId('u1'))).toBe(2);
    expect(f.memory.memories.count(acme)).toBe(3);
  });

  it('applies k, minScore and kinds, and answers a featureless query with nothing', async () => {
    const f = await open();
    await rememberAll(f);
    await f.memory.memories.remember({ tenant: acme, user: ada, text: 'Refund R-7 for the small boots was issued', kind: 'ticket' });
    expect(await f.memory.memories.recall({ tenant: acme, user: ada, query: 'boots', k: 2 })).toHaveLength(2);
    const tickets = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'boots refund', kinds: ['ticket'] });
    expect(tickets.map((h) => h.kind)).toEqual(['ticket']);
    const strict = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'boots too small', minScore: 0.99 });
    expect(strict).toEqual([]);
    expect(await f.memory.memories.recall({ tenant: acme, user: ada, query: '?!' })).toEqual([]);
  });

  it('rejects bad input with errors that name the problem', async () => {
    const f = await open({ maxTextChars: 20 });
    await expect(f.memory.memories.remember({ tenant: acme, user: 'bad id!' as never, text: 'x' })).rejects.toThrow(/user must be a valid id/);
    await expect(f.memory.memories.remember({ tenant: acme, user: ada, text: 'x'.repeat(21) })).rejects.toMatchObject({ code: 'too_large' });
    await expect(f.memory.memories.remember({ tenant: acme, user: ada, text: 'x', kind: 'gossip' as never })).rejects.toThrow(/unknown kind/);
    await expect(f.memory.memories.recall({ tenant: acme, user: ada, query: 'x', k: 0 })).rejects.toThrow(/k must be an integer/);
    await expect(openMemoryFixture({ maxMemoriesPerUser: 0 })).rejects.toThrow(/maxMemoriesPerUser/);
    await expect(openMemoryFixture({ maxMemories: 5 } as never)).rejects.toThrow(/memory.maxMemories is not a memory option/);
  });
});

describe('memory store: tenant boundary', () => {
  it('tenant B recalls nothing of tenant A, not even for the same user id, and never shares its index file', async () => {
    const f = await open();
    const globex = tenantId('globex');
    await rememberAll(f);
    await f.memory.memories.remember({ tenant: globex, user: ada, text: 'I like tents' });
    const probe = await f.memory.memories.recall({ tenant: globex, user: ada, query: 'allergic to wool merino', k: 10 });
    expect(probe.map((h) => h.text)).toEqual(['I like tents']);
    await f.memory.memories.saveIndex(acme);
    await f.memory.memories.saveIndex(globex);
    const a = hnswIndexFiles(f.indexDir, acme);
    const b = hnswIndexFiles(f.indexDir, globex);
    expect(a.file).not.toBe(b.file);
    expect((await f.memory.memories.indexStats(globex)).live).toBe(1);
    expect((await f.memory.memories.indexStats(acme)).live).toBe(ADA_SAYS.length);
  });

  it('a memory record copied under another tenant’s key does not open there', async () => {
    const f = await open();
    const globex = tenantId('globex');
    const { memoryId } = await f.memory.memories.remember({ tenant: acme, user: ada, text: 'My passport number is X1234567' });
    await f.memory.memories.remember({ tenant: globex, user: ada, text: 'hello there' });
    const db = f.env.db('memories');
    const stolen = db.get(memoryKeys.memory(acme, memoryId));
    const [victim] = await f.memory.memories.recall({ tenant: globex, user: ada, query: 'hello there', k: 1 });
    // Overwrite globex's own record with acme's sealed bytes: the sealer refuses to open it for globex.
    await db.put(memoryKeys.memory(globex, victim!.memoryId), { ...stolen, label: db.get(memoryKeys.memory(globex, victim!.memoryId)).label });
    const hits = await f.memory.memories.recall({ tenant: globex, user: ada, query: 'passport number', k: 5 });
    expect(hits).toEqual([]);
  });
});

describe('memory store: the index is a cache', () => {
  it('saves atomically and loads the saved file after a restart', async () => {
    const f = await open();
    await rememberAll(f);
    await f.reopen();
    const stats = await f.memory.memories.indexStats(acme);
    expect(stats).toMatchObject({ opened: 'loaded', live: ADA_SAYS.length });
    expect(readdirSync(f.indexDir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const hits = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'card declined paying for a tent', k: 1 });
    expect(hits[0]?.text).toContain('declined');
  });

  it.each([
    ['missing', (file: string) => rmSync(file)],
    ['corrupt', (file: string) => {
      const bytes = readFileSync(file);
      const at = Math.floor(bytes.length / 2);
      bytes[at] = bytes[at]! ^ 0xff;
      writeFileSync(file, bytes);
    }],
    ['corrupt', (file: string) => truncateSync(file, 100)],
  ] as const)('rebuilds from LMDB when the file is %s', async (status, damage) => {
    const f = await open();
    await rememberAll(f);
    await f.memory.close();
    damage(hnswIndexFiles(f.indexDir, acme).file);
    await f.reopen();
    // Until the rebuild is done, recall answers exactly from LMDB.
    const during = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'wrong door parcel', k: 1 });
    expect(during[0]?.text).toContain('wrong door');
    await f.memory.memories.whenIndexed(acme);
    expect(await f.memory.memories.indexStats(acme)).toMatchObject({ opened: status, live: ADA_SAYS.length });
    // The rebuild saved a good file: the next start loads it.
    await f.reopen();
    expect(await f.memory.memories.indexStats(acme)).toMatchObject({ opened: 'loaded', live: ADA_SAYS.length });
  });

  it('rebuilds when the file is stale (older than LMDB)', async () => {
    const f = await open();
    await rememberAll(f);
    await f.memory.close();
    const db = f.env.db('memories');
    const saved = db.get(memoryKeys.saved(acme));
    await db.put(memoryKeys.saved(acme), { ...saved, generation: saved.generation - 1 });
    await f.reopen();
    await f.memory.memories.whenIndexed(acme);
    expect(await f.memory.memories.indexStats(acme)).toMatchObject({ opened: 'created', live: ADA_SAYS.length });
  });

  it('notices changes made through another store on the same directory and rebuilds', async () => {
    const f = await open();
    await rememberAll(f, ada, ADA_SAYS.slice(0, 2));
    await f.memory.memories.saveIndex(acme);
    // A second store (another process in production) shares LMDB but not the in-memory index.
    const other = createUserMemory({ env: f.env, sealer: sealerOf(f), clock: f.clock, indexDir: f.indexDir });
    await other.memories.remember({ tenant: acme, user: ada, text: 'My new phone number ends in 55' });
    await other.close();
    const hits = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'new phone number', k: 1 });
    expect(hits[0]?.text).toBe('My new phone number ends in 55');
  });

  it('grows past its initial capacity and reuses the slots of deleted memories', async () => {
    const f = await open({ index: { initialCapacity: 4, exactScanMaxLabels: 0 } });
    const texts = Array.from({ length: 40 }, (_, i) => `Order note number ${i}: please deliver item ${i * 7} to the back door`);
    await f.memory.memories.rememberMany(texts.map((text) => ({ tenant: acme, user: ada, text })));
    const grown = await f.memory.memories.indexStats(acme);
    expect(grown).toMatchObject({ live: 40, count: 40 });
    expect(grown.capacity).toBeGreaterThanOrEqual(40);
    const [victim] = await f.memory.memories.recall({ tenant: acme, user: ada, query: texts[3]!, k: 1 });
    expect(victim?.text).toBe(texts[3]);
    expect(await f.memory.memories.forget({ tenant: acme, user: ada, memoryId: victim!.memoryId })).toBe(1);
    expect(await f.memory.memories.recall({ tenant: acme, user: ada, query: texts[3]!, k: 1 })).not.toContainEqual(expect.objectContaining({ memoryId: victim!.memoryId }));
    await f.memory.memories.remember({ tenant: acme, user: ada, text: 'A brand new memory in a reused slot' });
    // The new memory took the deleted one's slot: hnswlib's element count did not grow.
    expect(await f.memory.memories.indexStats(acme)).toMatchObject({ live: 40, count: 40 });
    const [reused] = await f.memory.memories.recall({ tenant: acme, user: ada, query: 'brand new memory reused slot', k: 1 });
    expect(reused?.text).toBe('A brand new memory in a reused slot');
  });

  it('forgetting overwrites the vector: the saved index file no longer holds it', async () => {
    const f = await open();
    const embedder = createLocalEmbedder();
    const secret = 'My safe word for the account is periwinkle';
    await rememberAll(f, ada, [secret, 'Something else entirely about shoes']);
    await f.memory.memories.saveIndex(acme);
    const needle = storedVectorBytes(embedder.embedSync(secret));
    expect(indexBytes(f.indexDir).includes(needle)).toBe(true);
    const [hit] = await f.memory.memories.recall({ tenant: acme, user: ada, query: secret, k: 1 });
    await f.memory.memories.forget({ tenant: acme, user: ada, memoryId: hit!.memoryId });
    await f.memory.memories.saveIndex(acme);
    expect(indexBytes(f.indexDir).includes(needle)).toBe(false);
    expect(existsSync(hnswIndexFiles(f.indexDir, acme).file)).toBe(true);
  });
});

function sealerOf(f: MemoryFixture) {
  return createTenantSealer({ keys: createTenantKeyStore({ dir: f.dir, clock: f.clock }) });
}
