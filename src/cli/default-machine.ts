/**
 * The machine `keel serve` runs: the support agent (`src/agent/default-agent.ts`,
 * `createDefaultAgent`). Until that module exists, a TEMPORARY stand-in is used: the echo test
 * machine from `test/fixtures/test-machines.ts` (compiled into dist), announced in the log.
 */
import type { AnyStateMachine } from 'xstate';
import type { RuntimePorts } from '../runtime/runtime.js';

/** What the runtime accepts as `machine`, and a name for logs and benchmarks. */
export interface DefaultMachine {
  readonly name: string;
  readonly machine: AnyStateMachine | ((ports: RuntimePorts) => AnyStateMachine);
  /** True while the temporary stand-in is in use. */
  readonly temporary: boolean;
}

// Module paths in variables: the compiler must not require files that may not exist yet.
const DEFAULT_AGENT_MODULE = '../agent/default-agent.js';
const TEMPORARY_STANDIN_MODULE = '../../test/fixtures/test-machines.js';

/**
 * Loads the default agent, or the temporary stand-in when it is not built yet.
 *
 * @example
 * ```ts
 * const { machine, name } = await loadDefaultMachine();
 * const runtime = createRuntime({ dataDir, machine });
 * ```
 */
export async function loadDefaultMachine(): Promise<DefaultMachine> {
  try {
    const mod = (await import(DEFAULT_AGENT_MODULE)) as { createDefaultAgent?: (ports: RuntimePorts) => AnyStateMachine };
    if (typeof mod.createDefaultAgent === 'function') {
      const create = mod.createDefaultAgent;
      return { name: 'default-agent', machine: (ports) => create(ports), temporary: false };
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
  }
  const fallback = (await import(TEMPORARY_STANDIN_MODULE)) as { createTestMachine: () => AnyStateMachine };
  return { name: 'test-echo-machine (temporary stand-in for the default agent)', machine: fallback.createTestMachine(), temporary: true };
}
