/**
 * The agent's statechart as plain JSON for drawing: nested states with their transitions (event
 * names, targets, guard names), invoked actors and tags. Functions (actions, inline guards) are
 * stripped: the inspector shows the shape and the names, never code. Also turns the runtime's
 * state string (`a.b`, `p.x,y` for parallel regions) back into the list of active state paths.
 */

/** One transition of a {@link GraphNode}. */
export interface GraphTransition {
  /** The event name (`user.message`), `after 60000ms` or `after toolRetry` for delayed ones, `always` for eventless ones. */
  readonly event: string;
  /** Paths of the target states; empty for a transition that stays (actions only). */
  readonly targets: readonly string[];
  /** The guard's name, `guard` for an inline one. */
  readonly guard?: string;
}

/** One state node. `path` is the dotted path from the root (`''` for the root). */
export interface GraphNode {
  readonly key: string;
  readonly path: string;
  readonly type: 'atomic' | 'compound' | 'parallel' | 'final' | 'history';
  /** Key of the initial child of a compound state. */
  readonly initial?: string;
  readonly tags: readonly string[];
  readonly description?: string;
  /** Sources of invoked actors (`llmReply`). */
  readonly invoke: readonly string[];
  readonly transitions: readonly GraphTransition[];
  readonly states: readonly GraphNode[];
}

/** A machine as the inspector draws it. */
export interface MachineGraph {
  readonly id: string;
  readonly root: GraphNode;
}

interface RawTransition {
  readonly eventType?: unknown;
  readonly target?: unknown;
  readonly guard?: unknown;
}

/** The live state node next to its definition: eventless (`always`) transitions live only there. */
interface LiveNode {
  readonly always?: unknown;
  readonly states?: unknown;
}

interface RawNode {
  readonly id?: unknown;
  readonly key?: unknown;
  readonly type?: unknown;
  readonly initial?: { readonly target?: unknown } | unknown;
  readonly tags?: unknown;
  readonly description?: unknown;
  readonly invoke?: unknown;
  readonly transitions?: unknown;
  readonly states?: unknown;
}

const NODE_TYPES = new Set(['atomic', 'compound', 'parallel', 'final', 'history']);
const MAX_DEPTH = 32;

/**
 * The graph of an XState v5 machine (from `machine.root.definition`).
 *
 * @example
 * ```ts
 * const graph = machineGraph(runtime.options.machine);
 * graph.root.states.map((s) => s.key); // ['idle', 'working', 'waiting']
 * ```
 */
export function machineGraph(machine: unknown): MachineGraph {
  const m = machine as { id?: unknown; root?: { definition?: unknown }; definition?: unknown } | null;
  const definition = (m?.root?.definition ?? m?.definition) as RawNode | undefined;
  if (definition === undefined || typeof definition !== 'object') throw new TypeError('machine must be an XState machine with a definition');
  const ids = new Map<string, string>();
  collectIds(definition, '', ids, 0);
  const root = toNode(definition, '', ids, 0, m?.root as LiveNode | undefined);
  return { id: typeof m?.id === 'string' ? m.id : String(definition.id ?? 'machine'), root };
}

function collectIds(node: RawNode, path: string, ids: Map<string, string>, depth: number): void {
  if (typeof node.id === 'string') ids.set(node.id, path);
  if (depth >= MAX_DEPTH) return;
  for (const [key, child] of childEntries(node)) collectIds(child, path === '' ? key : `${path}.${key}`, ids, depth + 1);
}

function childEntries(node: RawNode): [string, RawNode][] {
  const states = node.states;
  if (states === null || typeof states !== 'object') return [];
  return Object.entries(states as Record<string, RawNode>).filter(([, v]) => v !== null && typeof v === 'object');
}

function liveChild(live: LiveNode | undefined, key: string): LiveNode | undefined {
  const states = live?.states;
  return states !== null && typeof states === 'object' ? ((states as Record<string, LiveNode>)[key] ?? undefined) : undefined;
}

function toNode(node: RawNode, path: string, ids: Map<string, string>, depth: number, live: LiveNode | undefined): GraphNode {
  const type = typeof node.type === 'string' && NODE_TYPES.has(node.type) ? (node.type as GraphNode['type']) : 'atomic';
  const initialTargets = (node.initial as { target?: unknown } | undefined)?.target;
  const initialPath = Array.isArray(initialTargets) && initialTargets.length > 0 ? targetPath(initialTargets[0], ids) : undefined;
  const initial = type === 'compound' && initialPath !== undefined ? initialPath.split('.').at(-1) : undefined;
  const invoke = Array.isArray(node.invoke)
    ? node.invoke.map((i: { src?: unknown; id?: unknown }) => (typeof i?.src === 'string' ? i.src : typeof i?.id === 'string' ? i.id : 'actor'))
    : [];
  const transitions = [
    ...(Array.isArray(node.transitions) ? (node.transitions as RawTransition[]).map((t) => toTransition(t, ids)) : []),
    ...(Array.isArray(live?.always) ? (live.always as RawTransition[]).map((t) => ({ ...toTransition({ ...t, eventType: '' }, ids) })) : []),
  ];
  return {
    key: typeof node.key === 'string' ? node.key : path,
    path,
    type,
    ...(initial !== undefined ? { initial } : {}),
    tags: Array.isArray(node.tags) ? node.tags.filter((t): t is string => typeof t === 'string') : [],
    ...(typeof node.description === 'string' ? { description: node.description } : {}),
    invoke,
    transitions,
    states: depth >= MAX_DEPTH ? [] : childEntries(node).map(([key, child]) => toNode(child, path === '' ? key : `${path}.${key}`, ids, depth + 1, liveChild(live, key))),
  };
}

function toTransition(t: RawTransition, ids: Map<string, string>): GraphTransition {
  const raw = typeof t.eventType === 'string' ? t.eventType : '';
  const after = /^xstate\.after\.([^.]+)\./.exec(raw);
  const delay = after?.[1];
  const event = delay !== undefined ? `after ${delay}${/^\d+$/.test(delay) ? 'ms' : ''}` : raw === '' ? 'always' : raw;
  const targets = Array.isArray(t.target) ? t.target.map((x) => targetPath(x, ids)).filter((x): x is string => x !== undefined) : [];
  const guard = guardName(t.guard);
  return { event, targets, ...(guard !== undefined ? { guard } : {}) };
}

function targetPath(target: unknown, ids: Map<string, string>): string | undefined {
  if (typeof target === 'string') return ids.get(target.replace(/^#/, ''));
  const id = (target as { id?: unknown } | null)?.id;
  return typeof id === 'string' ? ids.get(id) : undefined;
}

function guardName(guard: unknown): string | undefined {
  if (guard === undefined || guard === null) return undefined;
  if (typeof guard === 'string') return guard;
  if (typeof guard === 'function') return guard.name && guard.name !== 'guard' ? guard.name : 'guard';
  const type = (guard as { type?: unknown }).type;
  return typeof type === 'string' ? type : 'guard';
}

/**
 * The paths of the states active in `state` (the runtime's state string), ancestors included.
 * The string is read against the graph, so parallel regions (`p.a.x,b.y`) come apart correctly.
 * Unknown parts are ignored: a snapshot from an older machine version shows what still matches.
 *
 * @example
 * ```ts
 * activePaths(graph, 'support.task.collecting'); // ['support', 'support.task', 'support.task.collecting']
 * ```
 */
export function activePaths(graph: MachineGraph, state: string): string[] {
  const tokens = state.split(/([.,])/).filter((t) => t !== '');
  let i = 0;
  const out: string[] = [];
  const peek = (): string | undefined => tokens[i];
  const readNode = (parent: GraphNode): void => {
    const key = tokens[i];
    const child = parent.states.find((s) => s.key === key);
    if (!child) return;
    i++;
    out.push(child.path);
    readValue(child);
  };
  /** Moves past the comma before the next region of `node`; false when the next part is not one (an ancestor's). */
  const nextRegion = (node: GraphNode): boolean => {
    // A part the graph does not know (an older machine version) is skipped up to the next comma.
    while (i < tokens.length && tokens[i] !== ',') i++;
    if (i >= tokens.length || !node.states.some((s) => s.key === tokens[i + 1])) return false;
    i++;
    return true;
  };
  const readRegions = (node: GraphNode): void => {
    do readNode(node);
    while (nextRegion(node));
  };
  const readValue = (node: GraphNode): void => {
    if (node.states.length === 0 || peek() !== '.') return;
    i++;
    if (node.type === 'parallel') readRegions(node);
    else readNode(node);
  };
  if (graph.root.type === 'parallel') readRegions(graph.root);
  else readNode(graph.root);
  return out;
}
