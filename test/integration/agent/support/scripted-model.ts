/**
 * A model on the fake OpenAI-compatible server that answers each kind of request the agent makes
 * the way a well-behaved model would: routing from a table, no plan of its own, and the grounded
 * draft rephrased. Tests queue faults or hostile answers per kind of request, so a fault meant for
 * the reply never hits the routing call before it.
 */
import { fakeReply, startFakeOpenAiServer, type FakeOpenAiServer, type FakeReply, type RecordedRequest } from '../../../support/fake-openai-server.js';

/** What the model says when asked to route a message. */
export interface RouteAnswer {
  readonly intent: string;
  readonly confidence: number;
  readonly alternative?: string;
  readonly alternativeConfidence?: number;
}

/** The kinds of requests the agent sends. */
export type RequestKind = 'route' | 'plan' | 'draft';

export interface ScriptedModel {
  readonly server: FakeOpenAiServer;
  /** The env `createDefaultAgent` reads. */
  readonly env: Readonly<Record<string, string>>;
  /** Queues replies for the next requests of one kind (a reply or a function of the request). */
  next(kind: RequestKind, ...replies: (FakeReply | ((request: RecordedRequest) => FakeReply))[]): void;
  /** Answers every request of one kind with `reply` until called again with `undefined`. */
  failing(kind: RequestKind, reply: FakeReply | undefined): void;
  /** Chat requests of one kind received so far. */
  requests(kind: RequestKind): RecordedRequest[];
  close(): Promise<void>;
}

/** The system prompt of a chat request. */
export function systemPromptOf(request: RecordedRequest): string {
  const messages = (request.body as { messages?: { role?: string; content?: unknown }[] } | undefined)?.messages ?? [];
  const system = messages.find((m) => m.role === 'system');
  return typeof system?.content === 'string' ? system.content : '';
}

/** The last user message of a chat request. */
export function userTextOf(request: RecordedRequest): string {
  const messages = (request.body as { messages?: { role?: string; content?: unknown }[] } | undefined)?.messages ?? [];
  const user = [...messages].reverse().find((m) => m.role === 'user');
  return typeof user?.content === 'string' ? user.content : '';
}

/** The grounded draft the agent offered the model to rephrase ('' when none). */
export function draftOf(request: RecordedRequest): string {
  return /A correct reply built from the facts: "([\s\S]*)"\. Rephrase it naturally/.exec(systemPromptOf(request))?.[1] ?? '';
}

/** Names of the tools offered to the model in a request. */
export function toolsOffered(request: RecordedRequest): string[] {
  const tools = (request.body as { tools?: { function?: { name?: string } }[] } | undefined)?.tools ?? [];
  return tools.map((t) => t.function?.name ?? '');
}

export function kindOf(request: RecordedRequest): RequestKind {
  const system = systemPromptOf(request);
  if (system.startsWith('You classify')) return 'route';
  if (system.startsWith('You split a customer request')) return 'plan';
  return 'draft';
}

/**
 * Starts the model. `routes` maps a message (lower-cased, trimmed) to the model's routing answer;
 * other messages get an unusable answer, so the agent routes them locally. Drafts are answered
 * with `rephrase(draft)` (default: "✦ " + the draft, so tests see the model's hand).
 *
 * @example
 * ```ts
 * const model = await startScriptedModel({ routes: { 'money stuff': { intent: 'refund_request', confidence: 0.3 } } });
 * const agent = await createDefaultAgent({ dataDir, env: model.env });
 * ```
 */
export async function startScriptedModel(
  options: { readonly routes?: Readonly<Record<string, RouteAnswer>>; readonly rephrase?: (draft: string) => string; readonly chunkDelayMs?: number } = {},
): Promise<ScriptedModel> {
  const queues: Record<RequestKind, (FakeReply | ((request: RecordedRequest) => FakeReply))[]> = { route: [], plan: [], draft: [] };
  const rephrase = options.rephrase ?? ((draft: string) => `✦ ${draft}`);
  const faults: Partial<Record<RequestKind, FakeReply>> = {};
  const server = await startFakeOpenAiServer({
    apiKey: 'test',
    ...(options.chunkDelayMs !== undefined ? { chunkDelayMs: options.chunkDelayMs } : {}),
    defaultReply: (request) => {
      const kind = kindOf(request);
      const fault = faults[kind];
      if (fault !== undefined) return fault;
      const queued = queues[kind].shift();
      if (queued !== undefined) return typeof queued === 'function' ? queued(request) : queued;
      if (kind === 'route') {
        const answer = options.routes?.[userTextOf(request).toLowerCase().trim()];
        return fakeReply.text(answer ? JSON.stringify(answer) : 'I am not sure.');
      }
      if (kind === 'plan') return fakeReply.text('{"steps": []}');
      const draft = draftOf(request);
      return fakeReply.text(draft === '' ? "I don't know." : rephrase(draft));
    },
  });
  return {
    server,
    env: { OPENAI_BASE_URL: server.baseURL, OPENAI_API_KEY: 'test', KEEL_MODEL: 'fake-model' },
    next: (kind, ...replies) => void queues[kind].push(...replies),
    failing: (kind, reply) => {
      if (reply === undefined) delete faults[kind];
      else faults[kind] = reply;
    },
    requests: (kind) => server.requestsTo('/v1/chat/completions').filter((r) => kindOf(r) === kind),
    close: () => server.close(),
  };
}
