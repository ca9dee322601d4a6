/**
 * The default agent's options are validated at start-up, and the building blocks it exports for
 * custom agents (the demo tool names, the shared control and small-talk intents) are consistent.
 */
import { describe, expect, it } from 'vitest';
import { controlIntents, smalltalkIntents, CONTROL_INTENT_NAMES } from '../../../src/agent/control-intents.js';
import { createDefaultAgent } from '../../../src/agent/default-agent.js';
import { openDemoStore } from '../../../src/agent/demo-store.js';
import { createDemoTools, DEMO_TOOL_NAMES } from '../../../src/agent/demo-tools.js';
import { defaultControlIntents } from '../../../machines/resolve-agent-spec.js';

const store = () => openDemoStore({ dataDir: '/nonexistent-keel-demo', persist: false });

describe('createDefaultAgent options', () => {
  it('names every demo tool, so overrides can be checked', () => {
    expect([...DEMO_TOOL_NAMES].sort()).toEqual(Object.keys(createDemoTools(store())).sort());
  });

  it('rejects overrides of tools it does not have, or without run(), naming the option', async () => {
    await expect(createDefaultAgent({ dataDir: '/tmp/x', store: store(), toolOverrides: { wire_money: { description: '', parameters: {}, run: () => null } } })).rejects.toThrow(
      /option toolOverrides\.wire_money does not name a demo tool/,
    );
    await expect(createDefaultAgent({ dataDir: '/tmp/x', store: store(), toolOverrides: { track_order: { description: '', parameters: {} } as never } })).rejects.toThrow(
      /option toolOverrides\.track_order\.run must be a function/,
    );
    await expect(createDefaultAgent({ dataDir: '' })).rejects.toThrow(/option dataDir/);
  });
});

describe('shared intents', () => {
  it('ship phrasings for every control intent the chart branches on, and for small talk', () => {
    expect(controlIntents().map((i) => i.name)).toEqual([...CONTROL_INTENT_NAMES]);
    expect(new Set(Object.values(defaultControlIntents))).toEqual(new Set(CONTROL_INTENT_NAMES));
    for (const intent of [...controlIntents(), ...smalltalkIntents()]) expect(intent.examples.length).toBeGreaterThanOrEqual(10);
    // Copies: a caller editing them does not change the next caller's.
    (controlIntents()[0]!.examples as string[]).push('changed');
    expect(controlIntents()[0]!.examples).not.toContain('changed');
  });
});
