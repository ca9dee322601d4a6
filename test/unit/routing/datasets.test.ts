import { describe, it, expect } from 'vitest';
import { parseCsv, resolveDataDir, toIntentDefinitions } from '../../../bench/datasets.js';

describe('bench dataset helpers', () => {
  it('parses quoted CSV fields with commas, doubled quotes and line breaks', () => {
    const csv = 'text,category\n"Hi, there",greet\n"say ""hello""",quote\n"\nmulti\nline\n",ml\r\nplain,p';
    expect(parseCsv(csv)).toEqual([
      ['text', 'category'],
      ['Hi, there', 'greet'],
      ['say "hello"', 'quote'],
      ['\nmulti\nline\n', 'ml'],
      ['plain', 'p'],
    ]);
    expect(parseCsv('a,\n')).toEqual([['a', '']]);
  });

  it('resolves the data directory from the flag, then KEEL_DATASETS, then ../shared/datasets', () => {
    expect(resolveDataDir('/data', { KEEL_DATASETS: '/env' }, '/srv/keel')).toBe('/data');
    expect(resolveDataDir(undefined, { KEEL_DATASETS: '/env' }, '/srv/keel')).toBe('/env');
    expect(resolveDataDir(undefined, {}, '/srv/keel')).toBe('/srv/shared/datasets');
  });

  it('groups rows into intent definitions with a name-derived description', () => {
    const defs = toIntentDefinitions([
      { text: 'a', intent: 'card_arrival' },
      { text: 'b', intent: 'card_arrival' },
      { text: 'c', intent: 'top_up' },
      { text: 'd', intent: null },
    ], ['oos text']);
    expect(defs.intents).toEqual([
      { name: 'card_arrival', description: 'card arrival', examples: ['a', 'b'] },
      { name: 'top_up', description: 'top up', examples: ['c'] },
    ]);
    expect(defs.outOfScopeExamples).toEqual(['oos text']);
  });
});
