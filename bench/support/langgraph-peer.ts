/**
 * The peer side of the peer benchmark: the same three-step support turn (support-turn.ts) as a
 * LangGraph.js graph, one node per step, checkpointed by LangGraph's SQLite checkpointer.
 * LangGraph and its checkpointer are dev dependencies used only here.
 */
import { Annotation, END, START, StateGraph } from '@langchain/langgraph';
import { SqliteSaver } from '@langchain/langgraph-checkpoint-sqlite';
import { respondStep, routeStep, taskStep } from './support-turn.js';

/** SQLite's `synchronous` setting for the checkpointer's connection. */
export type SqliteSync = 'NORMAL' | 'FULL';

/** A compiled graph and a way to close its database. */
export interface LangGraphPeer {
  /** Runs one turn for `threadId`; resolves with the reply once the checkpoints are written. */
  turn(threadId: string, text: string): Promise<string>;
  /** `synchronous` and `journal_mode` as SQLite reports them. */
  readonly durability: string;
  close(): void;
}

/**
 * Builds the graph over a SQLite file. The checkpointer opens it in WAL mode; `sync` sets
 * `synchronous`: `NORMAL` is what the checkpointer gets by default (the WAL is synced only at its
 * checkpoints, so a commit can be lost to a power cut, not to a process crash); `FULL` syncs the
 * WAL on every commit, the promise keel makes with LMDB's `flushed`.
 *
 * @example
 * ```ts
 * const peer = createLangGraphPeer('/tmp/x/checkpoints.sqlite', 'FULL');
 * await peer.turn('thread-1', 'where is my order?');
 * ```
 */
export function createLangGraphPeer(file: string, sync: SqliteSync): LangGraphPeer {
  const saver = SqliteSaver.fromConnString(file);
  // The checkpointer creates its tables on first use; do it now so the pragma below sticks.
  (saver as unknown as { setup(): void }).setup();
  saver.db.pragma(`synchronous=${sync}`);
  const durability = `journal_mode=${String((saver.db.pragma('journal_mode', { simple: true }) as string).toUpperCase())}, synchronous=${['OFF', 'NORMAL', 'FULL', 'EXTRA'][saver.db.pragma('synchronous', { simple: true }) as number]}`;
  const State = Annotation.Root({
    text: Annotation<string>(),
    intent: Annotation<string>(),
    result: Annotation<string>(),
    reply: Annotation<string>(),
    turns: Annotation<number>({ reducer: (a, b) => a + b, default: () => 0 }),
  });
  const graph = new StateGraph(State)
    .addNode('route', (s) => ({ intent: routeStep(s.text) }))
    .addNode('task', (s) => ({ result: taskStep(s.intent, s.text) }))
    .addNode('respond', (s) => ({ reply: respondStep(s.intent, s.result), turns: 1 }))
    .addEdge(START, 'route')
    .addEdge('route', 'task')
    .addEdge('task', 'respond')
    .addEdge('respond', END)
    .compile({ checkpointer: saver });
  return {
    durability,
    async turn(threadId, text) {
      // durability 'sync': each step's checkpoint is written before the next step runs.
      const out = await graph.invoke({ text }, { configurable: { thread_id: threadId }, durability: 'sync' });
      return out.reply;
    },
    close: () => saver.db.close(),
  };
}
