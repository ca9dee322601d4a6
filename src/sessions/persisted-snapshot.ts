/**
 * A machine actor's persisted snapshot, as XState's `actor.getPersistedSnapshot()` builds it, made
 * without its rest destructuring. XState takes the fields it keeps with `{ _nodes, tags, ...rest }`,
 * which V8 copies on its slow generic path: about 3 µs, on every turn's commit. The object here
 * is the same, key for key and in the same order (a test compares the two on machines with
 * invoked and spawned children, history states, actors in context, and final states); children
 * are persisted by XState itself.
 */
import type { AnyActorRef } from 'xstate';

/** XState v5's marker for an actor reference persisted in context (`$$ACTOR_TYPE`). */
const ACTOR_TYPE = 1;

/** The fields of a machine snapshot that are persisted. */
interface MachineSnapshotFields {
  readonly status: string;
  readonly output?: unknown;
  readonly error?: unknown;
  readonly value: unknown;
  readonly historyValue?: Record<string, unknown>;
  readonly context: unknown;
  readonly children: Record<string, ChildRef>;
}

interface ChildRef {
  readonly src: unknown;
  readonly systemId: string | undefined;
  readonly _syncSnapshot?: boolean;
  getPersistedSnapshot(): unknown;
}

/**
 * The persisted snapshot of a machine actor; equal to `actor.getPersistedSnapshot()`.
 *
 * @example
 * ```ts
 * const persisted = persistedSnapshotOf(actor); // deep-equals actor.getPersistedSnapshot()
 * createActor(machine, { snapshot: persisted });
 * ```
 */
export function persistedSnapshotOf(actor: Pick<AnyActorRef, 'getSnapshot' | 'getPersistedSnapshot'>): unknown {
  const s = actor.getSnapshot() as MachineSnapshotFields;
  const children: Record<string, unknown> = {};
  for (const id in s.children) {
    const child = s.children[id]!;
    // An inline child cannot be persisted: XState's own call throws its error.
    if (typeof child.src !== 'string') return actor.getPersistedSnapshot();
    children[id] = { snapshot: child.getPersistedSnapshot(), src: child.src, systemId: child.systemId, syncSnapshot: child._syncSnapshot };
  }
  return {
    status: s.status,
    output: s.output,
    error: s.error,
    value: s.value,
    historyValue: historyIds(s.historyValue),
    context: persistContext(s.context),
    children,
  };
}

/** History entries keep only the ids of their state nodes. */
function historyIds(history: Record<string, unknown> | undefined): Record<string, Array<{ id: string }>> {
  const out: Record<string, Array<{ id: string }>> = {};
  if (typeof history !== 'object' || history === null) return out;
  for (const key in history) {
    const nodes = history[key];
    if (Array.isArray(nodes)) out[key] = nodes.map((n: { id: string }) => ({ id: n.id }));
  }
  return out;
}

/** The context with every actor reference in it replaced by a marker; untouched parts are shared. */
function persistContext(part: unknown): unknown {
  if (part === null || typeof part !== 'object') return part;
  let copy: Record<string, unknown> | unknown[] | undefined;
  const source = part as Record<string, unknown>;
  for (const key in source) {
    const value = source[key];
    if (value === null || typeof value !== 'object') continue;
    let persisted: unknown;
    if ('sessionId' in value && 'send' in value && 'ref' in value) {
      persisted = { xstate$$type: ACTOR_TYPE, id: (value as unknown as { id: string }).id };
    } else {
      persisted = persistContext(value);
      if (persisted === value) continue;
    }
    copy ??= Array.isArray(part) ? part.slice() : { ...source };
    (copy as Record<string, unknown>)[key] = persisted;
  }
  return copy ?? part;
}
