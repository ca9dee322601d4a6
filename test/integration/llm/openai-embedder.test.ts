// The OpenAI embeddings adapter against the loopback OpenAI-compatible server.
import OpenAI from 'openai';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { isKeelError } from '../../../src/errors.js';
import { llmFailureOf } from '../../../src/llm/llm-provider.js';
import { createOpenAiEmbedder } from '../../../src/llm/openai-embedder.js';
import { fakeReply, hashEmbedding, startFakeOpenAiServer } from '../../support/fake-openai-server.js';

const server = await startFakeOpenAiServer({ apiKey: 'sk-embed' });
afterAll(() => server.close());
beforeEach(() => server.reset());

const embedder = (overrides: Partial<Parameters<typeof createOpenAiEmbedder>[0]> = {}) =>
  createOpenAiEmbedder({ baseURL: server.baseURL, apiKey: 'sk-embed', model: 'fake-embedding', dimensions: 32, name: 'fake', timeoutMs: 2_000, ...overrides });

const cosine = (a: Float32Array, b: Float32Array) => a.reduce((sum, v, i) => sum + v * (b[i] ?? 0), 0);

describe('openai embedder', () => {
  it('returns one vector per text, in input order, deterministic and of the configured length', async () => {
    const texts = ['where is my order', 'cancel my subscription', 'where is my parcel'];
    const e = embedder();
    const vectors = await e.embed(texts, new AbortController().signal);
    expect(vectors).toHaveLength(3);
    vectors.forEach((vector, i) => {
      expect(vector).toBeInstanceOf(Float32Array);
      expect(vector.length).toBe(32);
      // The server answers out of order; the adapter puts each vector back by its index.
      expect(Array.from(vector)).toEqual(Array.from(hashEmbedding(texts[i]!, 32)));
    });
    expect(cosine(vectors[0]!, vectors[2]!)).toBeGreaterThan(cosine(vectors[0]!, vectors[1]!));
    expect(e.id).toBe('openai:fake:32');
    expect(e.dimensions).toBe(32);
    expect(server.requests[0]?.body).toMatchObject({ model: 'fake-embedding', dimensions: 32, encoding_format: 'base64' });
  });

  it('splits long lists into batches of maxBatchSize', async () => {
    const texts = Array.from({ length: 7 }, (_, i) => `text number ${i}`);
    const vectors = await embedder({ maxBatchSize: 3 }).embed(texts);
    expect(vectors.map((v) => Array.from(v))).toEqual(texts.map((t) => Array.from(hashEmbedding(t, 32))));
    expect(server.requests.map((r) => (r.body as { input: string[] }).input.length)).toEqual([3, 3, 1]);
  });

  it('a vector of the wrong length → llm_bad_response', async () => {
    const err = await embedder({ sendDimensions: false }).embed(['hi']).catch((e: unknown) => e);
    expect(isKeelError(err, 'llm_bad_response')).toBe(true);
  });

  it.each([
    [fakeReply.error(503), 'llm_unavailable', 'server_error'],
    [fakeReply.error(429, { retryAfterMs: 2000 }), 'llm_unavailable', 'rate_limited'],
    [fakeReply.malformed(), 'llm_bad_response', 'malformed'],
  ])('faults translate like chat: %#', async (reply, code, reason) => {
    server.scriptEmbeddings(reply);
    const err = await embedder().embed(['hi']).catch((e: unknown) => e);
    expect(isKeelError(err, code as 'llm_unavailable')).toBe(true);
    expect(llmFailureOf(err)?.reason).toBe(reason);
    expect(server.requests).toHaveLength(1);
  });

  it('a hang → llm_timeout, and the caller can abort', async () => {
    server.scriptEmbeddings(fakeReply.hang(), fakeReply.hang());
    const timedOut = await embedder({ timeoutMs: 100 }).embed(['hi']).catch((e: unknown) => e);
    expect(llmFailureOf(timedOut)?.reason).toBe('timeout');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const aborted = await embedder().embed(['hi'], controller.signal).catch((e: unknown) => e);
    expect(isKeelError(aborted, 'llm_timeout')).toBe(true);
    expect(llmFailureOf(aborted)?.reason).toBe('aborted');
  });

  it('rejects bad options with a TypeError naming them', () => {
    expect(() => createOpenAiEmbedder({ baseURL: server.baseURL, apiKey: '', dimensions: 0 })).toThrow(/dimensions/);
    expect(() => createOpenAiEmbedder({ baseURL: 'ftp://x', apiKey: '' })).toThrow(/baseURL/);
  });
});

describe('fake OpenAI server', () => {
  it('lists models, checks the key and answers float embeddings to the SDK', async () => {
    const client = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-embed', maxRetries: 0, logLevel: 'off' });
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['fake-model', 'fake-embedding']);
    const floats = await client.embeddings.create({ model: 'x', input: 'hello', encoding_format: 'float', dimensions: 8 });
    expect(floats.data[0]?.embedding).toHaveLength(8);
    const denied = new OpenAI({ baseURL: server.baseURL, apiKey: 'nope', maxRetries: 0, logLevel: 'off' });
    await expect(denied.models.list()).rejects.toMatchObject({ status: 401 });
    expect(server.requests.map((r) => r.outcome)).toEqual(['models', 'embeddings', 'unauthorized']);
  });
});
