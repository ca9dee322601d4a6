/**
 * The embeddings adapter over the official `openai` SDK, for any OpenAI-compatible endpoint.
 * Failures are translated exactly as for chat (openai-errors.ts); like the chat adapter it makes
 * one attempt per call and leaves retries and failover to the caller.
 */
import { systemClock } from '../clock.js';
import type { Clock, Embedder } from '../ports.js';
import { llmError } from './llm-provider.js';
import { createOpenAiClient } from './openai-client.js';
import { translateOpenAiError } from './openai-errors.js';

/** Options of {@link createOpenAiEmbedder}. */
export interface OpenAiEmbedderOptions {
  /** Endpoint root including the version. Required. */
  readonly baseURL: string;
  /** Bearer key; empty for servers that need none. Required. */
  readonly apiKey: string;
  /** Embedding model id. Default `text-embedding-3-small`. */
  readonly model?: string;
  /** Vector length; every returned vector is checked against it. Default 1536. */
  readonly dimensions?: number;
  /**
   * Send `dimensions` in the request (text-embedding-3 models shorten vectors on request; older
   * models and some servers reject the field). Default true.
   */
  readonly sendDimensions?: boolean;
  /** Texts per HTTP request; longer lists are split. Default 128. */
  readonly maxBatchSize?: number;
  /** Time budget of one HTTP request, in milliseconds. Default 15 000. */
  readonly timeoutMs?: number;
  /** Name in errors. Default `<host>/<model>`. */
  readonly name?: string;
  /** Timers for the time budget. Default {@link systemClock}. */
  readonly clock?: Clock;
}

const defaultOptions = {
  model: 'text-embedding-3-small',
  dimensions: 1536,
  sendDimensions: true,
  maxBatchSize: 128,
  timeoutMs: 15_000,
} as const;

type ResolvedOptions = Readonly<Required<Omit<OpenAiEmbedderOptions, 'clock'>> & { clock: Clock }>;

function resolveOptions(options: OpenAiEmbedderOptions): ResolvedOptions {
  const fail = (name: string, expected: string): never => {
    throw new TypeError(`invalid option ${name}: expected ${expected}`);
  };
  let host = '';
  try {
    const url = new URL(options.baseURL);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
    host = url.host;
  } catch {
    fail('baseURL', 'an absolute http(s) URL');
  }
  if (typeof options.apiKey !== 'string') fail('apiKey', 'a string (empty when the endpoint needs no key)');
  const model = options.model ?? defaultOptions.model;
  if (typeof model !== 'string' || model.trim() === '') fail('model', 'a non-empty model id');
  const positiveInt = (name: string, value: number) => {
    if (!Number.isInteger(value) || value <= 0) fail(name, 'a positive integer');
    return value;
  };
  const timeoutMs = options.timeoutMs ?? defaultOptions.timeoutMs;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) fail('timeoutMs', 'a positive number of milliseconds');
  return Object.freeze({
    baseURL: options.baseURL,
    apiKey: options.apiKey,
    model,
    dimensions: positiveInt('dimensions', options.dimensions ?? defaultOptions.dimensions),
    sendDimensions: options.sendDimensions ?? defaultOptions.sendDimensions,
    maxBatchSize: positiveInt('maxBatchSize', options.maxBatchSize ?? defaultOptions.maxBatchSize),
    timeoutMs,
    name: options.name ?? `${host}/${model}`,
    clock: options.clock ?? systemClock,
  });
}

/**
 * Creates an {@link Embedder} over the `/embeddings` endpoint. Vectors come back in input order
 * (the API's `index` decides, not the position in the response), as Float32Arrays of exactly
 * `dimensions` floats; a wrong count or length is `llm_bad_response`. The `id` names endpoint,
 * model and length, so vectors from different embedders never share an index.
 *
 * @example
 * ```ts
 * const embedder = createOpenAiEmbedder({ baseURL, apiKey, model: 'text-embedding-3-small', dimensions: 512 });
 * const [vector] = await embedder.embed(['where is my order?'], signal);
 * ```
 */
export function createOpenAiEmbedder(options: OpenAiEmbedderOptions): Embedder {
  const resolved = resolveOptions(options);
  const { name, model, dimensions, clock } = resolved;
  const client = createOpenAiClient(resolved);

  async function embedBatch(texts: readonly string[], signal: AbortSignal | undefined): Promise<Float32Array[]> {
    if (signal?.aborted) throw llmError({ provider: name, reason: 'aborted' }, `embedding call to ${name} was cancelled by the caller`);
    const controller = new AbortController();
    let timedOut = false;
    const onCallerAbort = () => controller.abort();
    signal?.addEventListener('abort', onCallerAbort, { once: true });
    const timer = clock.setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, resolved.timeoutMs);
    try {
      // base64 halves the bytes on the wire; decoding it here (not in the SDK) also accepts
      // servers that ignore the field and send plain arrays.
      const response: unknown = await client.embeddings.create(
        { model, input: [...texts], encoding_format: 'base64', ...(resolved.sendDimensions ? { dimensions } : {}) },
        { signal: controller.signal },
      );
      return readVectors(response, texts.length, dimensions, name);
    } catch (err) {
      throw translateOpenAiError(err, { provider: name, timedOut, callerAborted: signal?.aborted === true, nowMs: clock.now() });
    } finally {
      clock.clearTimeout(timer);
      signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  return Object.freeze({
    id: `openai:${name}:${dimensions}`,
    dimensions,
    async embed(texts: readonly string[], signal?: AbortSignal): Promise<Float32Array[]> {
      const vectors: Float32Array[] = [];
      for (let start = 0; start < texts.length; start += resolved.maxBatchSize) {
        vectors.push(...(await embedBatch(texts.slice(start, start + resolved.maxBatchSize), signal)));
      }
      return vectors;
    },
  });
}

function readVectors(response: unknown, expected: number, dimensions: number, provider: string): Float32Array[] {
  const bad = (what: string) => llmError({ provider, reason: 'malformed' }, `embedding endpoint ${provider} sent ${what}`);
  const data = typeof response === 'object' && response !== null ? (response as { data?: unknown }).data : undefined;
  if (!Array.isArray(data) || data.length !== expected) throw bad(`a list of ${Array.isArray(data) ? data.length : 'no'} vectors for ${expected} texts`);
  const vectors = new Array<Float32Array | undefined>(expected).fill(undefined);
  for (const [position, item] of data.entries()) {
    const record = (typeof item === 'object' && item !== null ? item : {}) as { index?: unknown; embedding?: unknown };
    const index = typeof record.index === 'number' ? record.index : position;
    if (!Number.isInteger(index) || index < 0 || index >= expected || vectors[index] !== undefined) throw bad('a vector with a bad index');
    const vector = decodeVector(record.embedding);
    if (vector === undefined || vector.length !== dimensions) throw bad(`a vector that is not ${dimensions} numbers`);
    vectors[index] = vector;
  }
  return vectors as Float32Array[];
}

function decodeVector(value: unknown): Float32Array | undefined {
  if (typeof value === 'string') {
    const bytes = Buffer.from(value, 'base64');
    if (bytes.byteLength % 4 !== 0) return undefined;
    // Copy into an aligned buffer: the decoded bytes may sit at any offset of a shared pool.
    const vector = new Float32Array(bytes.byteLength / 4);
    new Uint8Array(vector.buffer).set(bytes);
    return vector;
  }
  if (Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v))) return Float32Array.from(value as number[]);
  return undefined;
}
