/**
 * A chat client for Node (the `keel chat` terminal client, tests, load generators): reconnects
 * with backoff and resumes without losing or repeating anything, the same way the browser page
 * does (docs/protocol.md, "Resuming").
 */
import { randomBytes } from 'node:crypto';
import { WebSocket } from 'ws';
import type { ServerFrame } from './chat-frames.js';
import { CLOSE_CODES } from './close-codes.js';

/** Connection states reported through {@link ChatClientOptions.onStatus}. */
export type ChatClientStatus =
  | { readonly state: 'connecting'; readonly attempt: number }
  | { readonly state: 'online'; readonly sessionId: string; readonly lastSeq: number }
  | { readonly state: 'offline'; readonly code: number; readonly reason: string; readonly retryInMs: number }
  | { readonly state: 'closed'; readonly code: number; readonly reason: string };

/** Options of {@link createChatClient}. */
export interface ChatClientOptions {
  /** The WebSocket URL, e.g. `ws://127.0.0.1:8787/chat`. */
  readonly url: string;
  /** A signed token (sent in the `Authorization` header). */
  readonly token: string;
  /** Resume this session; omit for a new one. */
  readonly sessionId?: string;
  /** The last seq already seen of `sessionId`. Default 0 (replay everything). */
  readonly lastSeq?: number;
  /** Every new server frame, after de-duplication by seq. */
  readonly onFrame?: (frame: ServerFrame) => void;
  readonly onStatus?: (status: ChatClientStatus) => void;
  /** First reconnect delay; doubles up to `maxReconnectDelayMs`, with jitter. Default 250. */
  readonly reconnectDelayMs?: number;
  /** Default 10000. */
  readonly maxReconnectDelayMs?: number;
}

/** A connected (or reconnecting) chat client. */
export interface ChatClient {
  /** Queues a message (sent now when online, else after the next `ready`); returns its id. */
  send(text: string): string;
  /** The session, once the first `ready` arrived. */
  readonly sessionId: string | undefined;
  readonly lastSeq: number;
  /** Messages sent but not answered yet. */
  readonly pending: number;
  /** Resolves at the next `ready` (at once when online). */
  ready(): Promise<void>;
  /** Resolves when every sent message has its reply. */
  idle(): Promise<void>;
  /** Closes for good (no reconnect). */
  close(): Promise<void>;
}

/** Close codes after which reconnecting with the same token cannot help. */
const FATAL_CODES: ReadonlySet<number> = new Set([CLOSE_CODES.unauthorized, CLOSE_CODES.forbidden]);

/**
 * Creates a client and starts connecting.
 *
 * @example
 * ```ts
 * const client = createChatClient({ url: 'ws://127.0.0.1:8787/chat', token, onFrame: (f) => f.type === 'reply' && console.log(f.text) });
 * client.send('where is my order?');
 * await client.idle();
 * await client.close();
 * ```
 */
export function createChatClient(options: ChatClientOptions): ChatClient {
  const baseDelay = options.reconnectDelayMs ?? 250;
  const maxDelay = options.maxReconnectDelayMs ?? 10_000;
  let sessionId = options.sessionId;
  let lastSeq = options.sessionId ? (options.lastSeq ?? 0) : 0;
  const outbox = new Map<string, string>();
  let ws: WebSocket | undefined;
  let online = false;
  let stopped = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;
  let readyWaiters: Array<() => void> = [];
  let idleWaiters: Array<() => void> = [];

  const status = (s: ChatClientStatus): void => options.onStatus?.(s);

  const transmit = (id: string, text: string): void => {
    if (online && ws?.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: 'message', id, text }));
  };

  /** Stops for good: the status says why, and whoever waits for ready or idle is let go. */
  let gaveUp = false;
  const giveUp = (code: number, reason: string): void => {
    stopped = true;
    if (gaveUp) return;
    gaveUp = true;
    status({ state: 'closed', code, reason });
    for (const wake of [...readyWaiters, ...idleWaiters]) wake();
    readyWaiters = [];
    idleWaiters = [];
  };

  const settleIdle = (): void => {
    if (outbox.size > 0) return;
    const waiters = idleWaiters;
    idleWaiters = [];
    for (const wake of waiters) wake();
  };

  const onFrame = (frame: ServerFrame): void => {
    if (frame.type === 'ready') {
      if (sessionId !== frame.sessionId) lastSeq = 0;
      sessionId = frame.sessionId;
      lastSeq = Math.min(lastSeq, frame.lastSeq);
      online = true;
      attempt = 0;
      status({ state: 'online', sessionId, lastSeq: frame.lastSeq });
      for (const [id, text] of outbox) transmit(id, text);
      const waiters = readyWaiters;
      readyWaiters = [];
      for (const wake of waiters) wake();
      options.onFrame?.(frame);
      return;
    }
    if ('seq' in frame && typeof frame.seq === 'number') {
      if (frame.seq <= lastSeq) return;
      lastSeq = frame.seq;
    }
    if (frame.type === 'error' && frame.id !== undefined && outbox.has(frame.id)) {
      if (frame.retryable) {
        const id = frame.id;
        setTimeout(() => {
          const text = outbox.get(id);
          if (text !== undefined) transmit(id, text);
        }, 1000).unref();
      } else {
        outbox.delete(frame.id);
        settleIdle();
      }
    }
    if (frame.type === 'error' && frame.id === undefined && !online && frame.code === 'unknown_session') {
      sessionId = undefined;
      lastSeq = 0;
      ws?.send(JSON.stringify({ type: 'hello' }));
    } else if (frame.type === 'error' && frame.id === undefined && !online && !frame.retryable) {
      // The server refused the hello itself (another user's session, a role that has no session
      // here): no retry changes that, and nothing queued will be answered.
      options.onFrame?.(frame);
      giveUp(CLOSE_CODES.forbidden, `${frame.code}: ${frame.message}`);
      ws?.close(CLOSE_CODES.normal, 'bye');
      return;
    }
    options.onFrame?.(frame);
    if (frame.type === 'reply' && frame.replyTo !== undefined && outbox.delete(frame.replyTo)) settleIdle();
  };

  const connect = (): void => {
    timer = undefined;
    if (stopped) return;
    status({ state: 'connecting', attempt });
    const socket = new WebSocket(options.url, { headers: { authorization: `Bearer ${options.token}` }, perMessageDeflate: false });
    ws = socket;
    socket.on('open', () => socket.send(JSON.stringify(sessionId ? { type: 'hello', sessionId, lastSeq } : { type: 'hello' })));
    socket.on('message', (data) => {
      let frame: ServerFrame;
      try {
        frame = JSON.parse(String(data)) as ServerFrame;
      } catch {
        return;
      }
      onFrame(frame);
    });
    socket.on('error', () => undefined);
    socket.on('close', (code, reasonBuffer) => {
      if (ws !== socket) return;
      ws = undefined;
      online = false;
      const reason = reasonBuffer.toString();
      if (stopped || FATAL_CODES.has(code)) {
        giveUp(code, reason);
        return;
      }
      attempt++;
      const exp = Math.min(maxDelay, baseDelay * 2 ** Math.min(attempt - 1, 16));
      const retryInMs = Math.round(exp * (0.7 + Math.random() * 0.6));
      status({ state: 'offline', code, reason, retryInMs });
      timer = setTimeout(connect, retryInMs);
    });
  };

  connect();

  return {
    send(text) {
      const id = `m-${Date.now().toString(36)}-${randomBytes(6).toString('hex')}`;
      outbox.set(id, text);
      transmit(id, text);
      return id;
    },
    get sessionId() {
      return sessionId;
    },
    get lastSeq() {
      return lastSeq;
    },
    get pending() {
      return outbox.size;
    },
    ready: () => (online || stopped ? Promise.resolve() : new Promise((resolve) => readyWaiters.push(resolve))),
    idle: () => (outbox.size === 0 || stopped ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve))),
    async close() {
      stopped = true;
      if (timer) clearTimeout(timer);
      const socket = ws;
      if (!socket || socket.readyState === WebSocket.CLOSED) return;
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.close(CLOSE_CODES.normal, 'bye');
      });
    },
  };
}
