import { describe, it, expect } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadIntentDefinitions, parseIntentDefinitions, parseValidationSet } from '../../../src/routing/index.js';

const valid = {
  version: 1,
  intents: [
    { name: 'order_status', description: 'Where is my order.', examples: ['where is my order'] },
    { name: 'refund_request', description: 'Money back.', examples: ['refund me'] },
  ],
};

const problem = (value: unknown): { code?: string; message?: string; details?: Record<string, unknown> } => {
  try {
    parseIntentDefinitions(value, 'intents.json');
  } catch (err) {
    return err as { code?: string; message?: string; details?: Record<string, unknown> };
  }
  throw new Error('expected a failure');
};

describe('parseIntentDefinitions', () => {
  it('accepts the documented format, with optional outOfScopeExamples', () => {
    const defs = parseIntentDefinitions({ ...valid, outOfScopeExamples: ['tell me a joke'] });
    expect(defs.intents.map((i) => i.name)).toEqual(['order_status', 'refund_request']);
    expect(defs.outOfScopeExamples).toEqual(['tell me a joke']);
    expect(Object.isFrozen(defs.intents)).toBe(true);
  });

  it.each([
    [null, '$'],
    [{ intents: {} }, 'intents'],
    [{ version: 2, intents: valid.intents }, 'version'],
    [{ intents: [valid.intents[0]] }, 'intents'],
    [{ intents: [valid.intents[0], { ...valid.intents[1], name: 'bad name!' }] }, 'intents[1].name'],
    [{ intents: [valid.intents[0], { ...valid.intents[0] }] }, 'intents[1].name'],
    [{ intents: [valid.intents[0], { ...valid.intents[1], examples: [] }] }, 'intents[1].examples'],
    [{ intents: [valid.intents[0], { ...valid.intents[1], examples: ['ok', ''] }] }, 'intents[1].examples[1]'],
    [{ intents: [valid.intents[0], { ...valid.intents[1], description: 3 }] }, 'intents[1].description'],
    [{ ...valid, outOfScopeExamples: 'nope' }, 'outOfScopeExamples'],
  ])('rejects %j with invalid_option at %s', (value, path) => {
    const err = problem(value);
    expect(err.code).toBe('invalid_option');
    expect(err.details).toMatchObject({ source: 'intents.json', path });
    expect(err.message).toContain(path);
  });
});

describe('parseValidationSet', () => {
  it('accepts null as out of scope and checks intent names', () => {
    const rows = parseValidationSet({ examples: [{ text: 'where is it', intent: 'order_status' }, { text: 'weather?', intent: null }] }, ['order_status']);
    expect(rows).toEqual([
      { text: 'where is it', intent: 'order_status' },
      { text: 'weather?', intent: null },
    ]);
    expect(() => parseValidationSet({ examples: [{ text: 'x', intent: 'other' }] }, ['order_status'])).toThrow(/unknown intent/);
    expect(() => parseValidationSet({ examples: [{ text: 'x' }] })).toThrow(expect.objectContaining({ code: 'invalid_option' }));
  });
});

describe('loadIntentDefinitions', () => {
  it('reads a file and reports unreadable or malformed JSON as invalid_option', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-intents-'));
    const good = join(dir, 'intents.json');
    writeFileSync(good, JSON.stringify(valid));
    expect((await loadIntentDefinitions(good)).intents).toHaveLength(2);
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{ "intents": [');
    await expect(loadIntentDefinitions(broken)).rejects.toMatchObject({ code: 'invalid_option', message: expect.stringContaining('not valid JSON') });
    await expect(loadIntentDefinitions(join(dir, 'missing.json'))).rejects.toMatchObject({ code: 'invalid_option' });
    rmSync(dir, { recursive: true, force: true });
  });
});
