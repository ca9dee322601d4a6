/**
 * The default agent on a real runtime over a temporary data directory, with a manual clock and
 * the decision trace collected; `restart()` closes the runtime and opens a new one on the same
 * directory, as a process restart would.
 */
import { createDefaultAgent, trainDemoRouter } from '../../../../src/agent/default-agent.js';
import { createManualClock, type ManualClock } from '../../../../src/clock.js';
import type { DecisionEvent } from '../../../../src/ports.js';
import { createRuntime, type Runtime, type RuntimePorts } from '../../../../src/runtime/runtime.js';
import type { RuntimeOptions } from '../../../../src/runtime/runtime-options.js';
import { tenantId, userId, type SessionId } from '../../../../src/types.js';
import type { AnyStateMachine } from 'xstate';
import { tempDir } from '../../../support/temp-dir.js';

export interface Chat {
  readonly id: SessionId;
  /** Sends a message; resolves with the text of the turn's one reply. */
  say(text: string): Promise<string>;
  decisions(kind?: DecisionEvent['kind']): DecisionEvent[];
}

export interface AgentFixture {
  readonly dir: string;
  readonly clock: ManualClock;
  runtime: Runtime;
  open(user: string, channel: string, tenant?: string): Promise<Chat>;
  restart(): Promise<void>;
  /** Closes the runtime and runs `fn` while nothing holds the data directory, then starts a new runtime. */
  whileStopped<T>(fn: () => Promise<T> | T): Promise<T>;
  close(): Promise<void>;
}

let messages = 0;

/**
 * Starts the default agent on a fresh data directory.
 *
 * @example
 * ```ts
 * const f = await startAgentFixture();
 * const web = await f.open('alice', 'web');
 * await web.say('where is my order 1042?');
 * ```
 */
export async function startAgentFixture(options: Partial<Pick<RuntimeOptions, 'memory' | 'sealer'>> & { machine?: (ports: RuntimePorts) => AnyStateMachine } = {}): Promise<AgentFixture> {
  const temp = tempDir('keel-recall-');
  const clock = createManualClock(Date.UTC(2024, 4, 6, 9, 0, 0));
  const trace: DecisionEvent[] = [];
  const machine = options.machine ?? (await createDefaultAgent({ dataDir: temp.dir, router: await trainDemoRouter() })).machine;
  const make = () => {
    const runtime = createRuntime({
      dataDir: temp.dir, machine, clock,
      ...(options.memory !== undefined ? { memory: options.memory } : {}),
      ...(options.sealer !== undefined ? { sealer: options.sealer } : {}),
    });
    runtime.decisions.subscribe((e) => trace.push(e));
    return runtime;
  };
  let closed = false;
  const f: AgentFixture = {
    dir: temp.dir,
    clock,
    runtime: make(),
    async open(user, channel, tenant = 'acme') {
      const { sessionId: id } = await f.runtime.open({ tenant: tenantId(tenant), user: userId(user), channel });
      return {
        id,
        async say(text) {
          const outcome = await f.runtime.send(id, { type: 'user.message', id: `m${++messages}`, text });
          const replies = outcome.frames.filter((fr) => fr.type === 'reply');
          if (replies.length !== 1) throw new Error(`expected one reply, got ${JSON.stringify(outcome.frames)}`);
          clock.advance(1000);
          return replies[0]!.text ?? '';
        },
        decisions: (kind) => trace.filter((e) => e.session === id && (kind === undefined || e.kind === kind)),
      };
    },
    async restart() {
      await f.runtime.close();
      f.runtime = make();
    },
    async whileStopped(fn) {
      await f.runtime.close();
      try {
        return await fn();
      } finally {
        f.runtime = make();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await f.runtime.close();
      temp.remove();
    },
  };
  return f;
}
