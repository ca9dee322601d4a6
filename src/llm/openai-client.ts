/**
 * The one place where the `openai` SDK client is built, for the chat provider and the embedder
 * alike: what it may read from the process and what it does on its own is decided here, once.
 */
import OpenAI from 'openai';

/** Placeholder bearer for keyless servers (Ollama, vLLM without auth): the SDK refuses an empty key. */
const NO_KEY = 'no-key';

/**
 * Creates an SDK client for an OpenAI-compatible endpoint. It reads nothing from the process
 * environment (no organisation, project or admin key leaks into requests to a third party), never
 * retries (keel's resilience policies do), and never prints (failures become KeelErrors).
 *
 * @example
 * ```ts
 * const client = createOpenAiClient({ baseURL: 'http://127.0.0.1:11434/v1', apiKey: '', timeoutMs: 20_000 });
 * ```
 */
export function createOpenAiClient(options: { readonly baseURL: string; readonly apiKey: string; readonly timeoutMs: number }): OpenAI {
  return new OpenAI({
    baseURL: options.baseURL,
    apiKey: options.apiKey === '' ? NO_KEY : options.apiKey,
    organization: null,
    project: null,
    adminAPIKey: null,
    webhookSecret: null,
    maxRetries: 0,
    timeout: options.timeoutMs,
    logLevel: 'off',
  });
}
