/**
 * The machine `keel serve` runs: the support agent of the demo store (src/agent/default-agent.ts),
 * on the local provider unless an LLM endpoint is configured in the environment.
 */
import { createDefaultAgent, type DefaultAgent } from '../agent/default-agent.js';
import type { LlmDecisionListener } from '../llm/resilient-llm.js';

/** What the runtime accepts as `machine`, a name for logs, and the agent behind it. */
export interface DefaultMachine {
  readonly name: string;
  readonly machine: DefaultAgent['machine'];
  readonly agent: DefaultAgent;
}

/**
 * Builds the default agent for a data directory, reading the LLM chain from `env`.
 *
 * @example
 * ```ts
 * const { machine, name } = await loadDefaultMachine({ dataDir, env: process.env });
 * const runtime = createRuntime({ dataDir, machine });
 * ```
 */
export async function loadDefaultMachine(options: {
  readonly dataDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly onLlmDecision?: LlmDecisionListener;
}): Promise<DefaultMachine> {
  const agent = await createDefaultAgent({ dataDir: options.dataDir, env: options.env, ...(options.onLlmDecision ? { onLlmDecision: options.onLlmDecision } : {}) });
  return { name: agent.llm ? 'support-agent (LLM chain, local provider last)' : 'support-agent (local provider)', machine: agent.machine, agent };
}
