/**
 * The load generator of the WebSocket benchmarks: starts a benchmark server in a child process
 * and drives it with real `ws` clients from this process, closed loop (each client sends its next
 * message when the previous reply arrives) or open loop (messages leave on a fixed schedule,
 * whatever the server does, and latency counts from the scheduled time, so a stalled server
 * cannot hide its stall: no coordinated omission). Latencies go to HDR histograms.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import { WebSocket } from 'ws';
import { SERVE_V8_POOL_SIZE } from '../../src/cli/node-flags.js';
import { tempDir } from '../../test/support/temp-dir.js';
import type { BenchServerKind, ServerStats } from './bench-server.js';

const serverScript = fileURLToPath(new URL('./bench-server.js', import.meta.url));

/** A running benchmark server child. */
export interface BenchServer {
  readonly child: ChildProcess;
  readonly port: number;
  /** Where clients connect: `/chat` on keel servers, the root on the echo server. */
  readonly url: string;
  readonly machine: string;
  /** Resident memory, heap and event-loop delay since the previous call. */
  stats(): Promise<ServerStats>;
  /** Disconnects and waits for a graceful exit (SIGKILL after 15 s). */
  stop(): Promise<void>;
  /** SIGKILL, and resolves once the process is gone. */
  kill(): Promise<void>;
}

/**
 * The Node flags of the benchmark servers: those `npm start` runs `keel serve` with, unless
 * KEEL_BENCH_SERVER_ARGS replaces them ("--cpu-prof" profiles the servers, "" gives Node's defaults).
 */
export function benchServerExecArgv(): string[] {
  return (process.env.KEEL_BENCH_SERVER_ARGS ?? `--v8-pool-size=${SERVE_V8_POOL_SIZE}`).split(' ').filter((a) => a !== '');
}

/** How the reports name the servers' Node flags. */
export function describeBenchServerFlags(): string {
  const flags = benchServerExecArgv();
  if (process.env.KEEL_BENCH_SERVER_ARGS === undefined) return `\`node ${flags.join(' ')}\`, as \`npm start\` runs \`keel serve\``;
  return flags.length === 0 ? "Node's default flags" : `\`node ${flags.join(' ')}\``;
}

/**
 * Forks a benchmark server. `env` adds to this process's environment (an LLM endpoint).
 *
 * @example
 * ```ts
 * const server = await startBenchServer('keel', { dataDir });
 * ```
 */
export function startBenchServer(kind: BenchServerKind, options: { dataDir?: string; env?: Record<string, string> } = {}): Promise<BenchServer> {
  const child = fork(serverScript, ['--kind', kind, ...(options.dataDir ? ['--data-dir', options.dataDir] : [])], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...(options.env ?? {}) },
    execArgv: benchServerExecArgv(),
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null): void => reject(new Error(`${kind} server exited early with ${code}`));
    child.once('exit', onExit);
    child.once('message', (ready: { port: number; machine: string }) => {
      child.off('exit', onExit);
      resolve({
        child,
        port: ready.port,
        url: `ws://127.0.0.1:${ready.port}${kind === 'echo' ? '' : '/chat'}`,
        machine: ready.machine,
        stats: () =>
          new Promise((res) => {
            const onMessage = (m: ServerStats): void => {
              if (m?.type !== 'stats') return;
              child.off('message', onMessage);
              res(m);
            };
            child.on('message', onMessage);
            child.send({ type: 'stats' });
          }),
        async stop() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          if (child.connected) child.disconnect();
          await exited;
          clearTimeout(timer);
        },
        async kill() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          await exited;
        },
      });
    });
  });
}

/**
 * Runs `run` against a fresh server of `kind`: keel servers get their own data directory and one
 * customer token per client (`tokens` is undefined for the echo server). The server is stopped
 * and its directory removed afterwards, whatever `run` does.
 *
 * @example
 * ```ts
 * const r = await withBenchServer('keel', 200, (server, tokens) => closedLoop({ url: server.url, clients: 200, tokens, seconds: 5 }));
 * ```
 */
export async function withBenchServer<T>(kind: BenchServerKind, clients: number, run: (server: BenchServer, tokens: readonly string[] | undefined) => Promise<T>): Promise<T> {
  const data = kind === 'echo' ? undefined : tempDir(`keel-bench-${kind}-`);
  try {
    const tokens = data ? await issueTokens(data.dir, clients) : undefined;
    const server = await startBenchServer(kind, data ? { dataDir: data.dir } : {});
    try {
      return await run(server, tokens);
    } finally {
      await server.stop();
    }
  } finally {
    data?.remove();
  }
}

/** Latency and throughput of one load run. */
export interface LoadResult {
  readonly clients: number;
  readonly seconds: number;
  readonly turns: number;
  readonly turnsPerSec: number;
  /** Offered rate for open-loop runs (turns/s); undefined for closed loop. */
  readonly offeredPerSec?: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly p999Ms: number;
  readonly maxMs: number;
  /** Error frames, socket errors and replies that never came. */
  readonly errors: number;
}

interface Conn {
  readonly ws: WebSocket;
  /** message id → time it was (or was scheduled to be) sent. */
  readonly inFlight: Map<string, number>;
  n: number;
}

/** Opens `count` authenticated connections (100 handshakes at a time) and says hello on each. */
async function connectAll(url: string, count: number, tokens: readonly string[] | undefined, onFrame: (conn: Conn, frame: WireFrame) => void, onError: () => void): Promise<Conn[]> {
  const conns: Conn[] = new Array(count);
  let next = 0;
  const one = (i: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const token = tokens?.[i];
      const ws = new WebSocket(url, { perMessageDeflate: false, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
      const conn: Conn = { ws, inFlight: new Map(), n: 0 };
      conns[i] = conn;
      let ready = false;
      ws.on('open', () => ws.send(JSON.stringify({ type: 'hello' })));
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as WireFrame;
        if (!ready && frame.type === 'ready') {
          ready = true;
          resolve();
          return;
        }
        onFrame(conn, frame);
      });
      ws.on('error', (err) => {
        if (!ready) reject(err);
        else onError();
      });
    });
  await Promise.all(
    Array.from({ length: Math.min(100, count) }, async () => {
      while (next < count) await one(next++);
    }),
  );
  return conns;
}

interface WireFrame {
  readonly type: string;
  readonly replyTo?: string;
  readonly id?: string;
}

async function closeAll(conns: readonly Conn[]): Promise<void> {
  await Promise.all(
    conns.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.ws.readyState === WebSocket.CLOSED) return resolve();
          c.ws.once('close', () => resolve());
          c.ws.close();
          setTimeout(() => {
            c.ws.terminate();
            resolve();
          }, 5000).unref();
        }),
    ),
  );
}

/**
 * An HDR histogram of latencies in microseconds, from 1 µs to 10 min at 3 significant digits;
 * call `destroy()` when done.
 *
 * @example
 * ```ts
 * const h = latencyHistogram();
 * h.recordValue(Math.round(ms * 1000));
 * ```
 */
export function latencyHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 600_000_000, numberOfSignificantValueDigits: 3 });
}

function summarize(h: hdr.Histogram, clients: number, seconds: number, turns: number, errors: number, offeredPerSec?: number): LoadResult {
  const result: LoadResult = {
    clients,
    seconds,
    turns,
    turnsPerSec: turns / seconds,
    ...(offeredPerSec !== undefined ? { offeredPerSec } : {}),
    p50Ms: h.getValueAtPercentile(50) / 1000,
    p99Ms: h.getValueAtPercentile(99) / 1000,
    p999Ms: h.getValueAtPercentile(99.9) / 1000,
    maxMs: h.maxValue / 1000,
    errors,
  };
  h.destroy();
  return result;
}

const TEXT = 'where is my order?';

/**
 * Closed loop: each of `clients` connections sends a message, waits for its reply, sends the next.
 *
 * @example
 * ```ts
 * const r = await closedLoop({ url: `ws://127.0.0.1:${server.port}/chat`, clients: 200, tokens, seconds: 5 });
 * ```
 */
export async function closedLoop(options: {
  url: string;
  clients: number;
  tokens?: readonly string[];
  seconds: number;
  warmupSeconds?: number;
  text?: string;
  /** Called when measuring ends, before the connections close (to read the server's stats apart from the disconnect). */
  beforeClose?: () => Promise<void>;
}): Promise<LoadResult> {
  const h = latencyHistogram();
  let turns = 0;
  let errors = 0;
  let measuring = false;
  let stopping = false;
  let replies = 0;
  const text = options.text ?? TEXT;
  const send = (c: Conn): void => {
    if (stopping) return;
    const id = `m${c.n++}`;
    c.inFlight.set(id, performance.now());
    c.ws.send(JSON.stringify({ type: 'message', id, text }));
  };
  const conns = await connectAll(options.url, options.clients, options.tokens, (c, frame) => {
    if (frame.type === 'error') errors++;
    if (frame.type !== 'reply' || frame.replyTo === undefined) return;
    const sentAt = c.inFlight.get(frame.replyTo);
    if (sentAt === undefined) return;
    c.inFlight.delete(frame.replyTo);
    replies++;
    if (measuring) {
      h.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
      turns++;
    }
    send(c);
  }, () => errors++);
  for (const c of conns) send(c);
  // Steady state first: at least the warm-up, and until every client has had a reply (a server
  // slower than `clients` turns per second would otherwise be measured on its first round only).
  await sleep((options.warmupSeconds ?? 1) * 1000);
  const warmUntil = performance.now() + 120_000;
  while (replies < options.clients && performance.now() < warmUntil) await sleep(50);
  measuring = true;
  const t0 = performance.now();
  await sleep(options.seconds * 1000);
  // An overloaded server answers in waves (one group commit per round of every client): measure
  // at least one full round, or a window could fall between two waves.
  const roundUntil = performance.now() + 120_000;
  while (turns < options.clients && performance.now() < roundUntil) await sleep(50);
  measuring = false;
  const elapsed = (performance.now() - t0) / 1000;
  stopping = true;
  await options.beforeClose?.();
  await closeAll(conns);
  return summarize(h, options.clients, elapsed, turns, errors);
}

/**
 * Open loop: `ratePerSec` messages per second spread over `clients` connections, sent on a fixed
 * schedule (those due within the same millisecond timer tick leave together); latency counts from
 * the scheduled send time. Replies still missing 10 s after the run count as errors.
 *
 * @example
 * ```ts
 * const r = await openLoop({ url, clients: 200, tokens, ratePerSec: 5000, seconds: 4 });
 * ```
 */
export async function openLoop(options: { url: string; clients: number; tokens?: readonly string[]; ratePerSec: number; seconds: number; warmupSeconds?: number; text?: string }): Promise<LoadResult> {
  const h = latencyHistogram();
  let turns = 0;
  let errors = 0;
  const text = options.text ?? TEXT;
  const warmupMs = (options.warmupSeconds ?? 1) * 1000;
  let measureFrom = Infinity;
  let outstanding = 0;
  const conns = await connectAll(options.url, options.clients, options.tokens, (c, frame) => {
    if (frame.type === 'error') errors++;
    if (frame.type !== 'reply' || frame.replyTo === undefined) return;
    const scheduled = c.inFlight.get(frame.replyTo);
    if (scheduled === undefined) return;
    c.inFlight.delete(frame.replyTo);
    outstanding--;
    if (scheduled >= measureFrom) {
      h.recordValue(Math.max(1, Math.round((performance.now() - scheduled) * 1000)));
      turns++;
    }
  }, () => errors++);
  const interval = 1000 / options.ratePerSec;
  const start = performance.now();
  const end = start + warmupMs + options.seconds * 1000;
  measureFrom = start + warmupMs;
  let k = 0;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      while (k * interval + start <= Math.min(now, end)) {
        const scheduled = start + k * interval;
        const c = conns[k % conns.length]!;
        const id = `m${c.n++}`;
        c.inFlight.set(id, scheduled);
        outstanding++;
        c.ws.send(JSON.stringify({ type: 'message', id, text }));
        k++;
      }
      if (now >= end) return resolve();
      // A timer, not setImmediate: a generator polling in a loop keeps one of the machine's two
      // cores busy, and the server's threads then share the other. Messages due in the same
      // millisecond leave together; their latency still counts from when each was due.
      setTimeout(tick, Math.max(1, Math.floor(start + k * interval - now)));
    };
    tick();
  });
  const drainUntil = performance.now() + 10_000;
  while (outstanding > 0 && performance.now() < drainUntil) await sleep(20);
  let measuredLost = 0;
  for (const c of conns) for (const at of c.inFlight.values()) if (at >= measureFrom) measuredLost++;
  await closeAll(conns);
  return summarize(h, options.clients, options.seconds, turns, errors + measuredLost, options.ratePerSec);
}

/**
 * Promise-based sleep.
 *
 * @example
 * ```ts
 * await sleep(50);
 * ```
 */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Issues one customer token per client, for the data directory's token keyring (the server child
 * reads the same secret file).
 *
 * @example
 * ```ts
 * const tokens = await issueTokens(dataDir, 200);
 * ```
 */
export async function issueTokens(dataDir: string, count: number, prefix = 'user'): Promise<string[]> {
  const { createTokenKeyring } = await import('../../src/security/token-keyring.js');
  const { createTokenService } = await import('../../src/security/tokens.js');
  const tokens = createTokenService({ keyring: createTokenKeyring({ dir: dataDir, env: {} }) });
  const out: string[] = [];
  for (let i = 0; i < count; i += 500) {
    out.push(...(await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, j) => tokens.issueToken({ tenant: 'bench', user: `${prefix}-${i + j}`, role: 'customer', ttlMs: 6 * 3_600_000 })))));
  }
  return out;
}
