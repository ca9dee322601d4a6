/**
 * Starts a real keel server (real LMDB in a temp directory, real token keys, port 0) and gives
 * tests tokens and WebSocket clients that record every frame.
 */
import { WebSocket } from 'ws';
import type { AnyStateMachine } from 'xstate';
import { createDefaultAgent, isLocalHandoffDesk, type DefaultAgent, type DefaultAgentOptions } from '../../../../src/agent/default-agent.js';
import { createRuntime, type Runtime, type RuntimeOptions } from '../../../../src/index.js';
import { createTokenKeyring } from '../../../../src/security/token-keyring.js';
import { createTokenService, type TokenClaims } from '../../../../src/security/tokens.js';
import { createServer, type KeelServer } from '../../../../src/server/server.js';
import type { ServerOptions } from '../../../../src/server/server-options.js';
import { createTestMachine } from '../../../fixtures/test-machines.js';
import type { Defer } from '../../../support/cleanups.js';
import { tempDir } from '../../../support/temp-dir.js';

export interface Harness {
  readonly dir: string;
  readonly server: KeelServer;
  readonly runtime: Runtime;
  readonly url: string;
  readonly wsUrl: string;
  /** The human agents' endpoint (`/desk`). */
  readonly deskUrl: string;
  readonly port: number;
  /** The default agent, when started with `defaultAgent`. */
  readonly agent?: DefaultAgent;
  token(claims?: Partial<TokenClaims>): Promise<string>;
  /** Closes the server and its runtime (the data directory stays until `remove`). */
  stop(): Promise<void>;
  remove(): void;
}

export interface HarnessOptions {
  readonly dir?: string;
  readonly port?: number;
  readonly machine?: AnyStateMachine;
  readonly runtime?: Partial<Omit<RuntimeOptions, 'machine' | 'dataDir'>>;
  readonly server?: Partial<Omit<ServerOptions, 'runtime'>>;
  /** Use the server's default verifier (the data directory's keyring) instead of an explicit one. */
  readonly defaultVerifier?: boolean;
  /**
   * Run the default agent (what `keel serve` runs) instead of `machine`, with its local desk behind
   * `/desk` as in `keel serve`; `true` or options of createDefaultAgent (dataDir is the harness's).
   */
  readonly defaultAgent?: boolean | Omit<DefaultAgentOptions, 'dataDir'>;
}

const NO_ENV = Object.freeze({}) as Readonly<Record<string, string | undefined>>;

/**
 * A `startKeel` for the tests of one file: each server is stopped, and its directory removed,
 * after the test that started it. `defaults` are merged under each call's options.
 *
 * @example
 * ```ts
 * const keel = keelPerTest(useCleanups(), { defaultAgent: true });
 * it('...', async () => {
 *   const h = await keel();
 * });
 * ```
 */
export function keelPerTest(defer: Defer, defaults: HarnessOptions = {}): (options?: HarnessOptions) => Promise<Harness> {
  return async (options = {}) => {
    const h = await startKeel({ ...defaults, ...options });
    defer(h.remove, () => h.stop());
    return h;
  };
}

/** Starts a keel server; call `stop()` and `remove()` when done. */
export async function startKeel(options: HarnessOptions = {}): Promise<Harness> {
  const temp = options.dir ? { dir: options.dir, remove: () => undefined } : tempDir('keel-server-');
  const agent = options.defaultAgent
    ? await createDefaultAgent({ dataDir: temp.dir, ...(options.defaultAgent === true ? {} : options.defaultAgent) })
    : undefined;
  const runtime = createRuntime({ dataDir: temp.dir, machine: agent?.machine ?? options.machine ?? createTestMachine(), ...options.runtime });
  const tokens = createTokenService({ keyring: createTokenKeyring({ dir: temp.dir, env: NO_ENV }) });
  const server = createServer({
    runtime,
    ownsRuntime: true,
    port: options.port ?? 0,
    ...(options.defaultVerifier ? {} : { verifyToken: (t: string) => tokens.verifyToken(t) }),
    ...(agent && isLocalHandoffDesk(agent.desk) ? { desk: agent.desk } : {}),
    ...options.server,
  });
  const { url, port } = await server.listen();
  return {
    dir: temp.dir,
    server,
    runtime,
    url,
    port,
    wsUrl: `${url.replace(/^http/, 'ws')}/chat`,
    deskUrl: `${url.replace(/^http/, 'ws')}/desk`,
    ...(agent ? { agent } : {}),
    token: (claims = {}) => tokens.issueToken({ tenant: 'acme', user: 'u-1', role: 'customer', ...claims }),
    stop: () => server.close(),
    remove: temp.remove,
  };
}

/** A server frame as tests see it. */
export type Frame = Record<string, unknown> & { type: string };

export interface TestClient {
  readonly ws: WebSocket;
  readonly frames: Frame[];
  /** Resolves when the socket is open. */
  readonly opened: Promise<void>;
  /** Resolves with the close code and reason. */
  readonly closed: Promise<{ code: number; reason: string }>;
  send(frame: unknown): void;
  sendRaw(data: string | Buffer): void;
  /** The next frame (after those already taken) matching `match`, waiting up to `timeoutMs`. */
  next(match?: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Waits until `count` frames match. */
  waitFor(match: (f: Frame) => boolean, count?: number, timeoutMs?: number): Promise<Frame[]>;
  close(): void;
}

/** Opens a WebSocket to `url` and records its frames. */
export function connect(url: string, options: { token?: string; origin?: string; headers?: Record<string, string> } = {}): TestClient {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
  if (options.origin !== undefined) headers.origin = options.origin;
  const ws = new WebSocket(url, { headers });
  const frames: Frame[] = [];
  let cursor = 0;
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()) as Frame);
    for (const w of [...waiters]) w();
  });
  ws.on('error', () => undefined);
  const opened = new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('close', () => reject(new Error('closed before open')));
  });
  opened.catch(() => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      for (const w of [...waiters]) w();
    });
  });
  const waitUntil = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const tryNow = (): boolean => {
        const value = check();
        if (value === undefined) return false;
        waiters.delete(wake);
        clearTimeout(timer);
        resolve(value);
        return true;
      };
      const wake = (): void => void tryNow();
      const timer = setTimeout(() => {
        waiters.delete(wake);
        reject(new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(frames.slice(-10))}`));
      }, timeoutMs);
      waiters.add(wake);
      tryNow();
    });
  return {
    ws,
    frames,
    opened,
    closed,
    send: (frame) => ws.send(JSON.stringify(frame)),
    sendRaw: (data) => ws.send(data),
    next(match = () => true, timeoutMs = 5000) {
      return waitUntil(() => {
        for (let i = cursor; i < frames.length; i++) {
          if (match(frames[i]!)) {
            cursor = i + 1;
            return frames[i]!;
          }
        }
        return undefined;
      }, timeoutMs, 'a matching frame');
    },
    waitFor(match, count = 1, timeoutMs = 5000) {
      return waitUntil(() => {
        const hits = frames.filter(match);
        return hits.length >= count ? hits : undefined;
      }, timeoutMs, `${count} matching frames`);
    },
    close: () => ws.close(),
  };
}

/** Connects, authenticates with the header, says hello and waits for ready. */
export async function openChat(h: Harness, options: { token?: string; sessionId?: string; lastSeq?: number } = {}): Promise<TestClient & { sessionId: string; ready: Frame }> {
  const client = connect(h.wsUrl, { token: options.token ?? (await h.token()) });
  await client.opened;
  client.send({ type: 'hello', ...(options.sessionId ? { sessionId: options.sessionId } : {}), ...(options.lastSeq !== undefined ? { lastSeq: options.lastSeq } : {}) });
  const ready = await client.next((f) => f.type === 'ready' || f.type === 'error');
  if (ready.type !== 'ready') throw new Error(`hello failed: ${JSON.stringify(ready)}`);
  return Object.assign(client, { sessionId: ready.sessionId as string, ready });
}

/**
 * Opens the desk as a human agent (role `agent` unless `claims` say otherwise) and waits for
 * `ready`; the socket is closed after the test.
 *
 * @example
 * ```ts
 * const sam = await openDesk(h, { user: 'sam' }, defer);
 * sam.send({ type: 'take', sessionId });
 * ```
 */
export async function openDesk(h: Harness, claims: Partial<TokenClaims> & { readonly user: string }, defer: Defer): Promise<TestClient & { ready: Frame }> {
  const desk = connect(h.deskUrl, { token: await h.token({ role: 'agent', ...claims }) });
  defer(() => desk.close());
  const ready = await desk.next((f) => f.type === 'ready' || f.type === 'error');
  if (ready.type !== 'ready') throw new Error(`desk refused: ${JSON.stringify(ready)}`);
  return Object.assign(desk, { ready });
}

export const isReplyTo = (id: string) => (f: Frame): boolean => f.type === 'reply' && f.replyTo === id;

/**
 * Carol (default agent, demo store) asks for a refund of her €249 order 3001 and confirms it: a
 * high-impact call the tool guard holds for a human's approval. Returns her chat, still open.
 *
 * @example
 * ```ts
 * const carol = await requestHeldRefund(h);
 * defer(() => carol.close());
 * ```
 */
export async function requestHeldRefund(h: Harness): Promise<TestClient & { sessionId: string }> {
  const carol = await openChat(h, { token: await h.token({ user: 'carol' }) });
  for (const [id, text] of [['r1', 'I want a refund for order 3001'], ['r2', 'it was damaged'], ['r3', 'yes']] as const) {
    carol.send({ type: 'message', id, text });
    await carol.next(isReplyTo(id));
  }
  return carol;
}
