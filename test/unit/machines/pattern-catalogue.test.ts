/**
 * Every pattern of the catalogue is a visible part of the chart: each state it names exists in the
 * built machine, each guard is one of the setup's named guards, and each verdict is a branch of the
 * triage state.
 */
import { describe, expect, it } from 'vitest';
import type { AnyStateNode } from 'xstate';
import { createDemoAgentSpec } from '../../../src/agent/demo-agent-spec.js';
import { createAgentMachine } from '../../../machines/agent.machine.js';
import { PATTERNS } from '../../../machines/pattern-catalogue.js';

const machine = createAgentMachine(createDemoAgentSpec());

function stateAt(path: string): AnyStateNode | undefined {
  let node: AnyStateNode | undefined = machine.root;
  for (const key of path.split('.')) node = node?.states[key];
  return node;
}

/** Verdict kinds the triage branches on, read from its guards (plain or inside `and`). */
function triageVerdicts(): Set<string> {
  const kinds = new Set<string>();
  const visit = (guard: unknown): void => {
    if (guard === undefined || guard === null) return;
    const g = guard as { type?: string; params?: { kind?: string }; guards?: unknown[] };
    if (g.type === 'verdictIs' && typeof g.params?.kind === 'string') kinds.add(g.params.kind);
    for (const inner of g.guards ?? []) visit(inner);
  };
  for (const t of stateAt('conversation.triage')!.always ?? []) visit(t.guard);
  return kinds;
}

describe('pattern catalogue', () => {
  it('lists P1 to P14 once each', () => {
    expect(PATTERNS.map((p) => p.id)).toEqual(Array.from({ length: 14 }, (_, i) => `P${i + 1}`));
  });

  const guards = new Set(Object.keys(machine.implementations.guards));
  const verdicts = triageVerdicts();
  for (const pattern of PATTERNS) {
    it(`${pattern.id} (${pattern.name}) is a state or a guard of the chart`, () => {
      expect(pattern.states.length + pattern.guards.length).toBeGreaterThan(0);
      for (const path of pattern.states) expect(stateAt(path), `state ${path}`).toBeDefined();
      for (const guard of pattern.guards) {
        if (guard.startsWith('verdict:')) expect(verdicts.has(guard.slice('verdict:'.length)), guard).toBe(true);
        else expect(guards.has(guard), guard).toBe(true);
      }
    });
  }

  it('the P10 ladder has a state per rung', () => {
    const task = stateAt('conversation.task')!;
    expect(Object.keys(task.states)).toEqual(expect.arrayContaining(['executing', 'retrying', 'circuitOpen', 'alternative', 'degraded']));
    expect(stateAt('conversation.gracefulExit')).toBeDefined();
  });
});
