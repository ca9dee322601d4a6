// Recall over an OpenAI-compatible embeddings endpoint: the real `openai` SDK over HTTP against
// the loopback fake server. Memories embedded remotely are recalled by meaning; a failing endpoint
// stores nothing; switching embedders re-embeds, so vectors of two embedders never share an index.
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createOpenAiEmbedder } from '../../../src/llm/openai-embedder.js';
import { memoryKeys } from '../../../src/memory/memory-records.js';
import { tenantId, userId } from '../../../src/types.js';
import { fakeReply, startFakeOpenAiServer } from '../../support/fake-openai-server.js';
import { openMemoryFixture, type MemoryFixture } from './support/memory-fixture.js';

const server = await startFakeOpenAiServer({ apiKey: 'sk-memory' });
afterAll(() => server.close());
beforeEach(() => server.reset());

const acme = tenantId('acme');
const ada = userId('ada');
const SAYINGS = [
  'my parcel was left at the wrong door again',
  'i prefer email and never phone calls',
  'the hiking boots are two sizes too small',
  'send invoices to my company address in lyon',
];

const remote = () => createOpenAiEmbedder({ baseURL: server.baseURL, apiKey: 'sk-memory', model: 'fake-embedding', dimensions: 64, name: 'fake', timeoutMs: 2_000 });

let fixture: MemoryFixture | undefined;
afterEach(async () => {
  await fixture?.close();
  fixture = undefined;
});

describe('recall over an OpenAI-compatible embedder', () => {
  it('embeds memories and queries through the endpoint and recalls by meaning', async () => {
    fixture = await openMemoryFixture({ embedder: remote() });
    await fixture.memory.memories.rememberMany(SAYINGS.map((text) => ({ tenant: acme, user: ada, text })));
    const hits = await fixture.memory.memories.recall({ tenant: acme, user: ada, query: 'which door was the parcel left at', k: 2 });
    expect(hits[0]?.text).toBe('my parcel was left at the wrong door again');
    const requests = server.requestsTo('/v1/embeddings');
    // One batch for the four memories, one request for the query.
    expect(requests.map((r) => (r.body as { input: string[] }).input.length)).toEqual([4, 1]);
    expect(requests[0]!.body).toMatchObject({ model: 'fake-embedding', dimensions: 64 });
    expect(await fixture.memory.memories.indexStats(acme)).toMatchObject({ live: 4 });
  });

  it('a failing endpoint stores nothing and says why', async () => {
    fixture = await openMemoryFixture({ embedder: remote() });
    server.scriptEmbeddings(fakeReply.error(503));
    await expect(fixture.memory.memories.remember({ tenant: acme, user: ada, text: 'hello there friend' })).rejects.toMatchObject({ code: 'llm_unavailable' });
    expect(fixture.memory.memories.count(acme, ada)).toBe(0);
    server.scriptEmbeddings(fakeReply.malformed());
    await expect(fixture.memory.memories.recall({ tenant: acme, user: ada, query: 'hello' })).rejects.toMatchObject({ code: 'llm_bad_response' });
  });

  it('memories stored by the local embedder are re-embedded through the endpoint when it replaces it', async () => {
    fixture = await openMemoryFixture();
    await fixture.memory.memories.rememberMany(SAYINGS.map((text) => ({ tenant: acme, user: ada, text })));
    await fixture.reopen({ embedder: remote() });
    await fixture.memory.memories.whenIndexed(acme);
    expect(await fixture.memory.memories.indexStats(acme)).toMatchObject({ opened: 'created', live: 4 });
    const embedded = server.requestsTo('/v1/embeddings').flatMap((r) => (r.body as { input: string[] }).input);
    expect(embedded.sort()).toEqual([...SAYINGS].sort());
    const hits = await fixture.memory.memories.recall({ tenant: acme, user: ada, query: 'boots too small', k: 1 });
    expect(hits[0]?.text).toBe('the hiking boots are two sizes too small');
    const db = fixture.env.db('memories');
    const ids = [...db.getRange(memoryKeys.memoryRange(acme))].map(({ value }) => (value as { embedder: string }).embedder);
    expect(new Set(ids)).toEqual(new Set(['openai:fake:64']));
  });
});
