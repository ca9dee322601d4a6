// Reading the LLM chain from the environment, and wiring it to real providers over loopback.
import { inspect } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createConfiguredLlm } from '../../../src/llm/llm-chain.js';
import { readLlmConfig } from '../../../src/llm/llm-config.js';
import type { LlmProvider } from '../../../src/llm/llm-provider.js';
import { fakeReply, startFakeOpenAiServer } from '../../support/fake-openai-server.js';

const SECRET = 'sk-very-secret-key-123';

describe('llm config', () => {
  it('no endpoint configured → an empty chain: local provider only', () => {
    const config = readLlmConfig({ KEEL_MODEL: 'gpt-4o' });
    expect(config.chain).toEqual([]);
    expect(config.localOnly).toBe(true);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reads the primary endpoint from OPENAI_BASE_URL, OPENAI_API_KEY and KEEL_MODEL', () => {
    const config = readLlmConfig({ OPENAI_BASE_URL: 'http://127.0.0.1:11434/v1/', OPENAI_API_KEY: SECRET, KEEL_MODEL: 'qwen2.5' });
    expect(config.localOnly).toBe(false);
    expect(config.chain).toHaveLength(1);
    expect(config.chain[0]).toMatchObject({ name: '127.0.0.1:11434/qwen2.5', baseURL: 'http://127.0.0.1:11434/v1', model: 'qwen2.5', apiKeySource: 'OPENAI_API_KEY' });
    expect(config.chain[0]?.apiKey).toBe(SECRET);
  });

  it('a key alone means the OpenAI API with the default model', () => {
    const [endpoint] = readLlmConfig({ OPENAI_API_KEY: SECRET }).chain;
    expect(endpoint).toMatchObject({ baseURL: 'https://api.openai.com/v1', model: 'gpt-4o-mini' });
  });

  it('never shows the key: JSON, util.inspect, spreads and entries', () => {
    const config = readLlmConfig({ OPENAI_API_KEY: SECRET, KEEL_LLM_CHAIN: 'http://a.test/v1|m|GROQ_KEY', GROQ_KEY: 'gsk-other-secret' });
    const shown = [JSON.stringify(config), inspect(config, { depth: 5 }), inspect(config.chain[0]), JSON.stringify({ ...config.chain[0] }), JSON.stringify(Object.entries(config.chain[1]!))];
    for (const text of shown) {
      expect(text).not.toContain(SECRET);
      expect(text).not.toContain('gsk-other-secret');
    }
    expect(JSON.parse(JSON.stringify(config)).chain[0].apiKey).toBe('[redacted]');
  });

  it('reads fallbacks from KEEL_LLM_CHAIN as comma-separated baseURL|model[|KEY_ENV] entries', () => {
    const config = readLlmConfig({
      OPENAI_BASE_URL: 'https://api.openai.com/v1',
      OPENAI_API_KEY: SECRET,
      KEEL_LLM_CHAIN: 'https://api.groq.com/openai/v1|llama-3.1-8b-instant|GROQ_API_KEY, http://127.0.0.1:11434/v1|qwen2.5',
      GROQ_API_KEY: 'gsk-1',
    });
    expect(config.chain.map((e) => [e.name, e.apiKey, e.apiKeySource])).toEqual([
      ['api.openai.com/gpt-4o-mini', SECRET, 'OPENAI_API_KEY'],
      ['api.groq.com/llama-3.1-8b-instant', 'gsk-1', 'GROQ_API_KEY'],
      // No KEY_ENV: no key, so the primary's key never travels to another host.
      ['127.0.0.1:11434/qwen2.5', '', null],
    ]);
  });

  it('reads KEEL_LLM_CHAIN as a JSON array of strings or objects, and keeps names unique', () => {
    const config = readLlmConfig({
      KEEL_LLM_CHAIN: JSON.stringify([{ baseURL: 'http://a.test/v1', model: 'm', name: 'edge' }, 'http://b.test/v1|m', { baseURL: 'http://b.test/v1', model: 'm' }]),
    });
    expect(config.chain.map((e) => e.name)).toEqual(['edge', 'b.test/m', 'b.test/m#2']);
  });

  it.each([
    [{ OPENAI_BASE_URL: 'not a url' }, /OPENAI_BASE_URL/],
    [{ OPENAI_BASE_URL: 'https://user:pw@api.test/v1' }, /credentials/],
    [{ KEEL_LLM_CHAIN: 'http://a.test/v1' }, /KEEL_LLM_CHAIN\[0\]/],
    [{ KEEL_LLM_CHAIN: 'http://a.test/v1|m|MISSING_KEY' }, /MISSING_KEY is not set/],
    [{ KEEL_LLM_CHAIN: '[{"baseURL":"http://a.test/v1","model":"m","apiKey":"inline"}]' }, /apiKeyEnv/],
    [{ KEEL_LLM_CHAIN: '[oops' }, /not valid JSON/],
    [{ KEEL_LLM_CHAIN: 'ftp://a.test|m' }, /KEEL_LLM_CHAIN\[0\]\.baseURL/],
  ])('rejects %j with a TypeError naming the variable', (env, message) => {
    expect(() => readLlmConfig(env)).toThrow(TypeError);
    expect(() => readLlmConfig(env)).toThrow(message);
  });

  it('never echoes a key in an error', () => {
    expect(() => readLlmConfig({ OPENAI_API_KEY: SECRET, KEEL_MODEL: ' ', OPENAI_BASE_URL: 'bad' })).toThrow(/^(?!.*sk-very)/);
  });
});

describe('configured ladder', () => {
  const servers = Promise.all([startFakeOpenAiServer({ apiKey: 'k1' }), startFakeOpenAiServer({ apiKey: 'k2' })]);
  afterAll(async () => Promise.all((await servers).map((s) => s.close())));

  it('builds one OpenAI provider per endpoint, in order, before the local provider', async () => {
    const [first, second] = await servers;
    first.setDefault(fakeReply.error(503));
    second.setDefault(fakeReply.text('from the second endpoint'));
    const config = readLlmConfig({ OPENAI_BASE_URL: first.baseURL, OPENAI_API_KEY: 'k1', KEEL_MODEL: 'fake-model', KEEL_LLM_CHAIN: `${second.baseURL}|fake-model|SECOND_KEY`, SECOND_KEY: 'k2' });
    const local: LlmProvider = { name: 'local', complete: () => Promise.reject(new Error('unused')) };
    const llm = createConfiguredLlm(config, { local, maxAttempts: 1, timeoutMs: 1_000 });
    const response = await llm.complete({ messages: [{ role: 'user', content: 'hi' }] }, new AbortController().signal);
    expect(response.text).toBe('from the second endpoint');
    expect(llm.status().providers.map((p) => p.name)).toEqual(config.chain.map((e) => e.name));
    expect(second.requests[0]?.headers.authorization).toBe('Bearer k2');
  });
});
