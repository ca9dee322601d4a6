/**
 * An OpenAI-compatible HTTP server on loopback, so the real `openai` SDK runs over real HTTP in
 * tests and benchmarks, with faults injected per request. Dependency-free on purpose: bench/ and
 * examples/ import it too.
 *
 * @example
 * ```ts
 * const server = await startFakeOpenAiServer({ apiKey: 'sk-test' });
 * server.script(fakeReply.error(429, { retryAfterMs: 20 }), fakeReply.text('Hello!'));
 * const client = new OpenAI({ baseURL: server.baseURL, apiKey: 'sk-test', maxRetries: 0 });
 * // ... later
 * expect(server.requestsTo('/v1/chat/completions')).toHaveLength(2);
 * await server.close();
 * ```
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** A tool call the fake model proposes; `arguments` objects are JSON-encoded as a model would. */
export interface FakeToolCall {
  readonly id?: string;
  readonly name: string;
  readonly arguments: string | Readonly<Record<string, unknown>>;
}

/** Options shared by every scripted reply. */
export interface FakeReplyTiming {
  /** Wait this long before answering (headers included). Default 0. */
  readonly delayMs?: number;
  /** When streaming, wait this long between chunks. Default: the server's `chunkDelayMs`. */
  readonly chunkDelayMs?: number;
}

/** What the fake server does with one request. */
export type FakeReply =
  | (FakeReplyTiming & { readonly kind: 'text'; readonly text: string; readonly finishReason?: string })
  | (FakeReplyTiming & { readonly kind: 'tool_calls'; readonly calls: readonly FakeToolCall[]; readonly text?: string })
  | (FakeReplyTiming & {
      readonly kind: 'error';
      readonly status: number;
      /** Sent as `retry-after` (whole seconds, rounded up) and `retry-after-ms`. */
      readonly retryAfterMs?: number;
      readonly message?: string;
    })
  /** Accepts the request and never answers until the client goes away. */
  | { readonly kind: 'hang' }
  /** A 200 whose body is not usable: broken JSON (default) or the given raw text. */
  | (FakeReplyTiming & { readonly kind: 'malformed'; readonly body?: string })
  /**
   * Streams (or, unstreamed, writes half a JSON body) and stops: `end` closes the response
   * cleanly without a finish reason or `[DONE]`; `destroy` resets the socket.
   */
  | (FakeReplyTiming & { readonly kind: 'truncated'; readonly text: string; readonly mode?: 'end' | 'destroy' });

/** A request as the server received it. */
export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The parsed JSON body, or the raw text when it was not JSON; `undefined` when empty. */
  readonly body: unknown;
  readonly receivedAt: number;
  /** Set when the client closed the connection before the response was complete (abort, timeout). */
  readonly clientAborted: boolean;
  /** The reply kind used (`text`, `error`, ..., `unauthorized`, `not_found`). */
  readonly outcome: string;
}

/** Decides the reply for a request: a fixed reply, or a function of the request. */
export type FakeStep = FakeReply | ((request: RecordedRequest) => FakeReply);

export interface FakeOpenAiServerOptions {
  /** The bearer key every request must carry. Default `'test-key'`. */
  readonly apiKey?: string;
  /** Model ids listed by `GET /v1/models`. Default `['fake-model', 'fake-embedding']`. */
  readonly models?: readonly string[];
  /** Vector length when a request names no `dimensions`. Default 64. */
  readonly embeddingDimensions?: number;
  /** Pause between streamed chunks. Default 0. */
  readonly chunkDelayMs?: number;
  /** Characters per streamed text chunk. Default 8. */
  readonly chunkChars?: number;
  /** Reply when the chat script is empty. Default: echoes the last user message. */
  readonly defaultReply?: FakeStep;
}

export interface FakeOpenAiServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** `http://127.0.0.1:<port>/v1`, to pass as the SDK's `baseURL`. */
  readonly baseURL: string;
  readonly apiKey: string;
  /** Every request received, in arrival order. */
  readonly requests: readonly RecordedRequest[];
  /** Queues steps for the next chat completion requests, one step per request. */
  script(...steps: FakeStep[]): void;
  /** Queues steps for the next embeddings requests (faults; `text`/`tool_calls` mean "answer normally"). */
  scriptEmbeddings(...steps: FakeStep[]): void;
  /** Replaces the reply used when the chat script is empty. */
  setDefault(step: FakeStep): void;
  /** Requests to one path (e.g. `/v1/chat/completions`). */
  requestsTo(path: string): RecordedRequest[];
  /** Steps still queued for chat completions. */
  pending(): number;
  /** Clears scripts and recorded requests; keeps the default reply. */
  reset(): void;
  /** Stops the server and drops open connections (hanging ones included). Idempotent. */
  close(): Promise<void>;
}

/** Builders for scripted replies. @example `server.script(fakeReply.error(503), fakeReply.text('ok'))` */
export const fakeReply = {
  text: (text: string, timing: FakeReplyTiming & { finishReason?: string } = {}): FakeReply => ({ kind: 'text', text, ...timing }),
  toolCalls: (calls: readonly FakeToolCall[], timing: FakeReplyTiming & { text?: string } = {}): FakeReply => ({
    kind: 'tool_calls',
    calls,
    ...timing,
  }),
  error: (status: number, extra: FakeReplyTiming & { retryAfterMs?: number; message?: string } = {}): FakeReply => ({
    kind: 'error',
    status,
    ...extra,
  }),
  hang: (): FakeReply => ({ kind: 'hang' }),
  delay: (delayMs: number, text = 'delayed reply'): FakeReply => ({ kind: 'text', text, delayMs }),
  malformed: (body?: string): FakeReply => (body === undefined ? { kind: 'malformed' } : { kind: 'malformed', body }),
  truncated: (text: string, mode: 'end' | 'destroy' = 'end'): FakeReply => ({ kind: 'truncated', text, mode }),
} as const;

const CHAT = '/v1/chat/completions';
const EMBEDDINGS = '/v1/embeddings';
const MODELS = '/v1/models';

interface ChatBody {
  model?: unknown;
  messages?: unknown;
  stream?: unknown;
  stream_options?: { include_usage?: unknown } | null;
}

/**
 * Starts the fake server on 127.0.0.1, port 0 (a free port).
 *
 * @example
 * ```ts
 * const server = await startFakeOpenAiServer();
 * server.script((req) => fakeReply.text(`you sent ${JSON.stringify(req.body)}`));
 * ```
 */
export async function startFakeOpenAiServer(options: FakeOpenAiServerOptions = {}): Promise<FakeOpenAiServer> {
  const apiKey = options.apiKey ?? 'test-key';
  const models = options.models ?? ['fake-model', 'fake-embedding'];
  const defaultDimensions = options.embeddingDimensions ?? 64;
  const chunkChars = Math.max(1, options.chunkChars ?? 8);
  let defaultStep: FakeStep = options.defaultReply ?? ((request) => fakeReply.text(`echo: ${lastUserText(request.body)}`));

  const chatQueue: FakeStep[] = [];
  const embeddingQueue: FakeStep[] = [];
  const requests: RecordedRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  let counter = 0;
  let closing: Promise<void> | undefined;

  const sleep = (ms: number, res: ServerResponse): Promise<boolean> =>
    new Promise((resolve) => {
      if (ms <= 0) return resolve(!res.destroyed);
      // Nobody is listening any more: stop waiting so the handler ends.
      const onClose = () => {
        if (timers.delete(timer)) {
          clearTimeout(timer);
          resolve(false);
        }
      };
      const timer = setTimeout(() => {
        timers.delete(timer);
        res.off('close', onClose);
        resolve(!res.destroyed);
      }, ms);
      timers.add(timer);
      res.once('close', onClose);
    });

  const server: Server = createServer((req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: 'fake server failure', type: 'server_error' } });
      else res.destroy();
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = await readBody(req);
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw);
      } catch {
        body = raw;
      }
    }
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    const record: { -readonly [K in keyof RecordedRequest]: RecordedRequest[K] } = {
      method: req.method ?? 'GET',
      path,
      headers: { ...req.headers },
      body,
      receivedAt: Date.now(),
      clientAborted: false,
      outcome: 'pending',
    };
    requests.push(record);
    res.once('close', () => {
      if (!res.writableFinished) record.clientAborted = true;
    });

    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      record.outcome = 'unauthorized';
      return sendJson(res, 401, {
        error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' },
      });
    }
    if (req.method === 'GET' && path === MODELS) {
      record.outcome = 'models';
      return sendJson(res, 200, {
        object: 'list',
        data: models.map((id) => ({ id, object: 'model', created: 1_700_000_000, owned_by: 'keel-fake' })),
      });
    }
    if (req.method === 'POST' && path === CHAT) {
      const step = chatQueue.shift() ?? defaultStep;
      const reply = typeof step === 'function' ? step(record) : step;
      record.outcome = reply.kind;
      return answerChat(res, (body ?? {}) as ChatBody, reply);
    }
    if (req.method === 'POST' && path === EMBEDDINGS) {
      const step = embeddingQueue.shift();
      const reply = step === undefined ? undefined : typeof step === 'function' ? step(record) : step;
      record.outcome = reply?.kind ?? 'embeddings';
      return answerEmbeddings(res, body, reply);
    }
    record.outcome = 'not_found';
    sendJson(res, 404, { error: { message: `Unknown route ${req.method} ${path}`, type: 'invalid_request_error' } });
  }

  /** Handles faults common to every endpoint; returns true when the reply was fully handled. */
  async function answerFault(res: ServerResponse, reply: FakeReply): Promise<boolean> {
    if (reply.kind === 'hang') {
      // Headers are withheld so the client's timeout or abort is what ends this request.
      return true;
    }
    if ('delayMs' in reply && reply.delayMs !== undefined && !(await sleep(reply.delayMs, res))) return true;
    if (reply.kind === 'error') {
      const headers: Record<string, string> = {};
      if (reply.retryAfterMs !== undefined) {
        headers['retry-after-ms'] = String(reply.retryAfterMs);
        headers['retry-after'] = String(Math.ceil(reply.retryAfterMs / 1000));
      }
      sendJson(
        res,
        reply.status,
        { error: { message: reply.message ?? `fake error ${reply.status}`, type: reply.status === 429 ? 'rate_limit_error' : 'server_error', code: null } },
        headers,
      );
      return true;
    }
    return false;
  }

  async function answerChat(res: ServerResponse, body: ChatBody, reply: FakeReply): Promise<void> {
    if (await answerFault(res, reply)) return;
    const model = typeof body.model === 'string' ? body.model : 'fake-model';
    const id = `chatcmpl-fake-${++counter}`;
    const created = Math.floor(Date.now() / 1000);
    const stream = body.stream === true;
    const includeUsage = stream && body.stream_options?.include_usage === true;
    const promptTokens = countTokens(JSON.stringify(body.messages ?? ''));

    if (reply.kind === 'malformed') {
      if (stream) {
        sendSseHead(res);
        res.end(reply.body ?? 'data: {"id": "broken", "choices": [\n\n');
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(reply.body ?? '{"id": "broken", "choices": [{"index": 0, "message": ');
      }
      return;
    }

    const text = reply.kind === 'text' || reply.kind === 'truncated' ? reply.text : reply.kind === 'tool_calls' ? reply.text ?? '' : '';
    const calls = reply.kind === 'tool_calls' ? reply.calls.map((call, i) => normalizeCall(call, i, id)) : [];
    const finishReason = reply.kind === 'tool_calls' ? 'tool_calls' : reply.kind === 'text' ? reply.finishReason ?? 'stop' : 'stop';
    const completionTokens = countTokens(text) + calls.reduce((n, c) => n + countTokens(c.function.arguments), 0);
    const usage = { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };

    if (!stream) {
      const completion = {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: calls.length > 0 && text === '' ? null : text, refusal: null, ...(calls.length > 0 ? { tool_calls: calls } : {}) },
            logprobs: null,
            finish_reason: finishReason,
          },
        ],
        usage,
      };
      const json = JSON.stringify(completion);
      if (reply.kind === 'truncated') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write(json.slice(0, Math.floor(json.length / 2)));
        if (reply.mode === 'destroy') res.destroy();
        else res.end();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
      res.end(json);
      return;
    }

    const pause = ('chunkDelayMs' in reply ? reply.chunkDelayMs : undefined) ?? options.chunkDelayMs ?? 0;
    const chunk = (delta: Record<string, unknown>, finish: string | null) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
    const frames: string[] = [chunk({ role: 'assistant', content: '' }, null)];
    for (let i = 0; i < text.length; i += chunkChars) frames.push(chunk({ content: text.slice(i, i + chunkChars) }, null));
    calls.forEach((call, index) => {
      frames.push(chunk({ tool_calls: [{ index, id: call.id, type: 'function', function: { name: call.function.name, arguments: '' } }] }, null));
      const args = call.function.arguments;
      // Arguments arrive in pieces, as real servers send them, so assembly is exercised.
      for (let i = 0; i < args.length; i += chunkChars) {
        frames.push(chunk({ tool_calls: [{ index, function: { arguments: args.slice(i, i + chunkChars) } }] }, null));
      }
    });

    sendSseHead(res);
    if (reply.kind === 'truncated') {
      const keep = Math.max(1, Math.ceil(frames.length / 2));
      for (const frame of frames.slice(0, keep)) {
        if (!(await sleep(pause, res))) return;
        res.write(frame);
      }
      if (reply.mode === 'destroy') res.destroy();
      else res.end();
      return;
    }
    frames.push(chunk({}, finishReason));
    if (includeUsage) frames.push(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`);
    frames.push('data: [DONE]\n\n');
    for (const frame of frames) {
      if (!(await sleep(pause, res))) return;
      res.write(frame);
    }
    res.end();
  }

  async function answerEmbeddings(res: ServerResponse, body: unknown, reply: FakeReply | undefined): Promise<void> {
    if (reply !== undefined && (await answerFault(res, reply))) return;
    if (reply?.kind === 'malformed') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(reply.body ?? '{"object": "list", "data": [{"embedding": [0.1, ');
      return;
    }
    const request = (body ?? {}) as { input?: unknown; model?: unknown; dimensions?: unknown; encoding_format?: unknown };
    const inputs = typeof request.input === 'string' ? [request.input] : Array.isArray(request.input) ? request.input : undefined;
    if (inputs === undefined || inputs.some((text) => typeof text !== 'string')) {
      return sendJson(res, 400, { error: { message: "'input' must be a string or an array of strings", type: 'invalid_request_error' } });
    }
    const dimensions = typeof request.dimensions === 'number' ? request.dimensions : defaultDimensions;
    const base64 = request.encoding_format === 'base64';
    const data = (inputs as string[]).map((text, index) => {
      const vector = hashEmbedding(text, dimensions);
      return {
        object: 'embedding',
        index,
        embedding: base64 ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64') : Array.from(vector),
      };
    });
    const tokens = (inputs as string[]).reduce((n, text) => n + countTokens(text), 0);
    sendJson(res, 200, {
      object: 'list',
      // Out of order on purpose: clients must sort by `index`, as the API does not promise order.
      data: data.reverse(),
      model: typeof request.model === 'string' ? request.model : 'fake-embedding',
      usage: { prompt_tokens: tokens, total_tokens: tokens },
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    baseURL: `${url}/v1`,
    apiKey,
    requests,
    script: (...steps) => void chatQueue.push(...steps),
    scriptEmbeddings: (...steps) => void embeddingQueue.push(...steps),
    setDefault: (step) => {
      defaultStep = step;
    },
    requestsTo: (path) => requests.filter((r) => r.path === path),
    pending: () => chatQueue.length,
    reset: () => {
      chatQueue.length = 0;
      embeddingQueue.length = 0;
      requests.length = 0;
    },
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Hanging requests would keep close() waiting forever.
        for (const socket of sockets) socket.destroy();
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
      });
      return closing;
    },
  };
}

/**
 * A deterministic embedding: feature hashing of lower-cased word tokens (signed buckets), then
 * L2-normalised, so texts sharing words have a positive cosine similarity.
 *
 * @example `hashEmbedding('where is my order', 64)` is always the same 64 floats.
 */
export function hashEmbedding(text: string, dimensions: number): Float32Array {
  const vector = new Float32Array(dimensions);
  const tokens = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  for (const token of tokens) {
    const hash = fnv1a(token);
    const bucket = hash % dimensions;
    vector[bucket] = (vector[bucket] ?? 0) + ((hash >>> 31) === 0 ? 1 : -1);
  }
  let norm = 0;
  for (const v of vector) norm += v * v;
  if (norm === 0) {
    vector[0] = 1;
    return vector;
  }
  const scale = 1 / Math.sqrt(norm);
  for (let i = 0; i < vector.length; i++) vector[i] = (vector[i] ?? 0) * scale;
  return vector;
}

function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

function normalizeCall(call: FakeToolCall, index: number, completionId: string) {
  return {
    id: call.id ?? `call_${completionId.slice(-6)}_${index}`,
    type: 'function' as const,
    function: { name: call.name, arguments: typeof call.arguments === 'string' ? call.arguments : JSON.stringify(call.arguments) },
  };
}

function lastUserText(body: unknown): string {
  const messages = (body as { messages?: unknown } | undefined)?.messages;
  if (!Array.isArray(messages)) return '';
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as { role?: unknown; content?: unknown };
    if (message.role === 'user' && typeof message.content === 'string') return message.content;
  }
  return '';
}

function countTokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendSseHead(res: ServerResponse): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  // Headers go out now so the client starts reading before the first chunk.
  res.flushHeaders();
}

function sendJson(res: ServerResponse, status: number, payload: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json), ...headers });
  res.end(json);
}
