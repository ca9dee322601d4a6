/**
 * The offline last rung of the LLM ladder. It answers with no text: the agent's actors read an
 * answer from provider `local` as "use the grounded template", so with no endpoint configured (or
 * every endpoint down) replies are the templated, grounded ones.
 */
import type { LlmProvider } from '../llm/llm-provider.js';

/**
 * Creates the local provider for `createResilientLlm({ local })`.
 *
 * @example
 * ```ts
 * const llm = createConfiguredLlm(readLlmConfig(), { local: createLocalLlm() });
 * ```
 */
export function createLocalLlm(): LlmProvider {
  return Object.freeze({
    name: 'local',
    complete: async () => ({ text: '', toolCalls: [], provider: 'local', model: 'templates', usage: { promptTokens: 0, completionTokens: 0 } }),
  });
}
