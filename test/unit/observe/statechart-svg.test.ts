/**
 * The statechart the inspector draws: every state of the support agent's machine as a box with
 * its path, eventless transitions included, names escaped, and the runtime's state strings read
 * back into the paths to light.
 */
import { setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import { activePaths, machineGraph, type GraphNode } from '../../../inspector/machine-graph.js';
import { renderStatechartSvg } from '../../../inspector/statechart-svg.js';
import { createAgentMachine } from '../../../machines/agent.machine.js';
import { createDemoAgentSpec } from '../../../src/agent/demo-agent-spec.js';

const all = (n: GraphNode): GraphNode[] => [n, ...n.states.flatMap(all)];

describe('statechart drawing', () => {
  const graph = machineGraph(createAgentMachine(createDemoAgentSpec()));

  it('draws every state of the support agent with its path, invoked actors and transitions', () => {
    const svg = renderStatechartSvg(graph);
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" class="statechart"')).toBe(true);
    const paths = [...svg.matchAll(/<g class="[^"]*" data-path="([^"]*)"/g)].map((m) => m[1]);
    expect(new Set(paths)).toEqual(new Set(all(graph.root).map((n) => n.path)));
    expect(paths).toContain('conversation.task.retrying');
    expect(svg).toContain('⚙ callTool');
    // `outcome` leaves only through eventless transitions: they are read from the live state nodes.
    const outcome = all(graph.root).find((n) => n.path === 'conversation.task.outcome');
    expect(outcome?.transitions.filter((t) => t.event === 'always').map((t) => t.targets[0])).toContain('conversation.task.retrying');
    expect(svg).toMatch(/<path class="edge" data-from="conversation\.task\.outcome" data-to="conversation\.task\.retrying" data-event="always"/);
    expect(svg).toMatch(/data-from="conversation\.task\.retrying" data-to="conversation\.task\.executing" data-event="after/);
  });

  it('reads state strings back into the active paths, parallel regions included', () => {
    expect(activePaths(graph, 'conversation.task.collecting,silence.watching,approvals.none')).toEqual([
      'conversation', 'conversation.task', 'conversation.task.collecting', 'silence', 'silence.watching', 'approvals', 'approvals.none',
    ]);
    expect(activePaths(graph, 'conversation.gone,silence.off')).toEqual(['conversation', 'silence', 'silence.off']);
  });

  it('escapes names and refuses what is not a machine', () => {
    const machine = setup({}).createMachine({ id: 'odd<id>', initial: 'a&b', states: { 'a&b': { on: { 'go"now': 'c' } }, c: {} } });
    const svg = renderStatechartSvg(machineGraph(machine));
    expect(svg).toContain('data-machine="odd&lt;id&gt;"');
    expect(svg).toContain('>a&amp;b<');
    expect(svg).toContain('data-event="go&quot;now"');
    expect(svg).not.toContain('a&b');
    expect(() => machineGraph({})).toThrow(TypeError);
    expect(() => renderStatechartSvg(graph, { maxWidth: 10 })).toThrow(/maxWidth/);
  });
});

describe('active paths of nested parallel states', () => {
  it('keeps regions of the parent apart from regions of a parallel child', () => {
    const machine = setup({}).createMachine({
      id: 'p', type: 'parallel',
      states: { a: { type: 'parallel', states: { x: { initial: 'one', states: { one: {} } }, y: { initial: 'two', states: { two: {} } } } }, b: { initial: 'three', states: { three: {} } } },
    });
    const graph = machineGraph(machine);
    expect(activePaths(graph, 'a.x.one,y.two,b.three')).toEqual(['a', 'a.x', 'a.x.one', 'a.y', 'a.y.two', 'b', 'b.three']);
  });
});
