/**
 * Wires a configured chain (llm-config.ts) into the ladder (resilient-llm.ts): one OpenAI
 * provider per endpoint, then the local provider.
 */
import type { LlmConfig } from './llm-config.js';
import { createOpenAiProvider } from './openai-provider.js';
import type { OpenAiProviderOptions } from './openai-provider.js';
import { createResilientLlm } from './resilient-llm.js';
import type { ResilientLlm, ResilientLlmOptions } from './resilient-llm.js';

/** Options of {@link createConfiguredLlm}: the ladder's, minus the providers the config supplies. */
export interface ConfiguredLlmOptions extends Omit<ResilientLlmOptions, 'providers'> {
  /** Passed to every OpenAI provider (`timeoutMs` defaults to the ladder's). Default `{}`. */
  readonly provider?: Omit<OpenAiProviderOptions, 'baseURL' | 'apiKey' | 'model' | 'name'>;
}

/**
 * Creates the ladder for a config. An empty chain (`localOnly`) yields a ladder that answers
 * from the local provider alone, with the same `status()` and decision surface.
 *
 * @example
 * ```ts
 * const llm = createConfiguredLlm(readLlmConfig(), { local: localProvider, onDecision });
 * ```
 */
export function createConfiguredLlm(config: LlmConfig, options: ConfiguredLlmOptions): ResilientLlm {
  const { provider: providerOptions = {}, ...ladder } = options;
  const providers = config.chain.map((endpoint) =>
    createOpenAiProvider({
      // The ladder's per-attempt timeout is the real budget; the provider's own is a backstop.
      ...(ladder.timeoutMs !== undefined ? { timeoutMs: ladder.timeoutMs } : {}),
      ...providerOptions,
      baseURL: endpoint.baseURL,
      apiKey: endpoint.apiKey,
      model: endpoint.model,
      name: endpoint.name,
    }),
  );
  return createResilientLlm({ ...ladder, providers });
}
