/**
 * WebSocket benchmark: N clients each doing turns back to back (send a message, wait for its
 * reply) against the keel server, and the same clients against a raw `ws` echo server in the same
 * run, for a baseline of what the socket layer alone costs on this machine. Servers run in a
 * child process, so clients and server do not share one event loop.
 *
 *   npm run bench:ws -- [--clients 200,1000] [--seconds 5] [--warmup-seconds 1]
 *
 * A keel turn is durable: its ack (and here its reply, the local machine settles at once) is
 * committed and flushed to disk (lmdb-js group commit) before the client hears anything.
 * Last line: one JSON array of {clients, turnsPerSec, p50Ms, p99Ms, echoTurnsPerSec, ratio}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as hdr from 'hdr-histogram-js';
import { WebSocket, WebSocketServer } from 'ws';

type ChildKind = 'keel' | 'echo';
interface ChildReady {
  readonly port: number;
  readonly machine: string;
}

// ---------------------------------------------------------------- child: the servers

async function runChild(kind: ChildKind, dataDir: string | undefined): Promise<void> {
  if (kind === 'echo') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 65_536 });
    wss.on('connection', (ws) => {
      // The raw baseline: parse, answer with one frame naming the message, like a reply would.
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { id?: string; text?: string };
        ws.send(JSON.stringify({ type: 'reply', replyTo: frame.id, text: frame.text, seq: 0 }));
      });
    });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    const port = (wss.address() as { port: number }).port;
    process.send?.({ port, machine: 'raw ws echo' } satisfies ChildReady);
    process.on('disconnect', () => process.exit(0));
    return;
  }
  const { createRuntime } = await import('../src/runtime/runtime.js');
  const { createServer } = await import('../src/server/server.js');
  const { loadDefaultMachine } = await import('../src/cli/default-machine.js');
  const agent = await loadDefaultMachine({ dataDir: dataDir as string, env: {} });
  const runtime = createRuntime({ dataDir: dataDir as string, machine: agent.machine });
  const server = createServer({
    runtime,
    ownsRuntime: true,
    port: 0,
    // Every client is its own user; the load is the point, not the per-client limits.
    messagesPerSecondPerConnection: 1e6,
    messageBurstPerConnection: 1e6,
    messagesPerSecondPerUser: 1e6,
    messageBurstPerUser: 1e6,
    maxConnections: 100_000,
  });
  const { port } = await server.listen();
  process.send?.({ port, machine: agent.name } satisfies ChildReady);
  process.on('disconnect', () => void server.close().then(() => process.exit(0)));
}

// ---------------------------------------------------------------- parent: the clients

interface RunResult {
  readonly turns: number;
  readonly seconds: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly machine: string;
}

function startChild(kind: ChildKind, dataDir?: string): Promise<{ child: ChildProcess; ready: ChildReady }> {
  const child = fork(process.argv[1] as string, ['--child', kind, ...(dataDir ? ['--data-dir', dataDir] : [])], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // KEEL_BENCH_CHILD_ARGS="--cpu-prof" profiles the servers.
    execArgv: (process.env.KEEL_BENCH_CHILD_ARGS ?? '').split(' ').filter((a) => a !== ''),
  });
  return new Promise((resolve, reject) => {
    child.once('message', (ready) => resolve({ child, ready: ready as ChildReady }));
    child.once('exit', (code) => reject(new Error(`${kind} server exited early with ${code}`)));
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.disconnect();
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

/** One client: connects, (keel) says hello, then does turns until `stopAt`. */
function client(url: string, index: number, token: string | undefined, hist: hdr.Histogram, counts: { turns: number; errors: number }, window: { measureFrom: number; stopAt: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}) });
    let n = 0;
    let sentAt = 0;
    let current = '';
    const next = (): void => {
      if (performance.now() >= window.stopAt) {
        ws.close();
        return;
      }
      current = `c${index}-${n++}`;
      sentAt = performance.now();
      ws.send(JSON.stringify({ type: 'message', id: current, text: 'where is my order?' }));
    };
    ws.on('open', () => {
      if (token) ws.send(JSON.stringify({ type: 'hello' }));
      else next();
    });
    ws.on('message', (data) => {
      const frame = JSON.parse(String(data)) as { type: string; replyTo?: string };
      if (frame.type === 'ready') return next();
      if (frame.type === 'error') counts.errors++;
      if (frame.type !== 'reply' || frame.replyTo !== current) return;
      const now = performance.now();
      if (sentAt >= window.measureFrom) {
        hist.recordValue(Math.max(1, Math.round((now - sentAt) * 1000)));
        counts.turns++;
      }
      next();
    });
    ws.on('close', () => resolve());
    ws.on('error', reject);
  });
}

async function measure(url: string, clients: number, tokens: readonly string[] | undefined, seconds: number, warmupSeconds: number, machine: string): Promise<RunResult> {
  const hist = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
  const counts = { turns: 0, errors: 0 };
  const start = performance.now() + 200;
  const window = { measureFrom: start + warmupSeconds * 1000, stopAt: start + (warmupSeconds + seconds) * 1000 };
  await Promise.all(Array.from({ length: clients }, (_, i) => client(url, i, tokens?.[i], hist, counts, window)));
  if (counts.errors > 0) process.stderr.write(`  ${counts.errors} error frames\n`);
  const result = {
    turns: counts.turns,
    seconds,
    p50Ms: hist.getValueAtPercentile(50) / 1000,
    p99Ms: hist.getValueAtPercentile(99) / 1000,
    machine,
  };
  hist.destroy();
  return result;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      'data-dir': { type: 'string' },
      clients: { type: 'string', default: '200,1000' },
      seconds: { type: 'string', default: '5' },
      'warmup-seconds': { type: 'string', default: '1' },
    },
    strict: true,
  });
  if (values.child === 'keel' || values.child === 'echo') return runChild(values.child, values['data-dir']);
  const clientCounts = values.clients.split(',').map(Number);
  const seconds = Number(values.seconds);
  const warmup = Number(values['warmup-seconds']);
  if (clientCounts.some((c) => !Number.isInteger(c) || c < 1) || !(seconds > 0) || !(warmup >= 0)) {
    throw new TypeError('usage: ws.bench [--clients 200,1000] [--seconds 5] [--warmup-seconds 1]');
  }
  const { createTokenKeyring } = await import('../src/security/token-keyring.js');
  const { createTokenService } = await import('../src/security/tokens.js');

  const rows: Array<{ clients: number; turnsPerSec: number; p50Ms: number; p99Ms: number; echoTurnsPerSec: number; ratio: number }> = [];
  for (const clients of clientCounts) {
    const echo = await startChild('echo');
    const base = await measure(`ws://127.0.0.1:${echo.ready.port}`, clients, undefined, seconds, warmup, echo.ready.machine);
    await stopChild(echo.child);

    const dataDir = mkdtempSync(join(tmpdir(), 'keel-ws-bench-'));
    try {
      const tokens = createTokenService({ keyring: createTokenKeyring({ dir: dataDir, env: {} }) });
      const issued = await Promise.all(Array.from({ length: clients }, (_, i) => tokens.issueToken({ tenant: 'bench', user: `user-${i}`, role: 'customer', ttlMs: 3_600_000 })));
      const keel = await startChild('keel', dataDir);
      const run = await measure(`ws://127.0.0.1:${keel.ready.port}/chat`, clients, issued, seconds, warmup, keel.ready.machine);
      await stopChild(keel.child);

      const turnsPerSec = Math.round(run.turns / seconds);
      const echoTurnsPerSec = Math.round(base.turns / seconds);
      const row = { clients, turnsPerSec, p50Ms: round(run.p50Ms), p99Ms: round(run.p99Ms), echoTurnsPerSec, ratio: round(turnsPerSec / echoTurnsPerSec) };
      rows.push(row);
      process.stdout.write(
        `${String(clients).padStart(5)} clients  keel (${run.machine}, durable acks): ${turnsPerSec} turns/s  p50 ${row.p50Ms} ms  p99 ${row.p99Ms} ms` +
          `  |  raw ws echo: ${echoTurnsPerSec} turns/s  p50 ${round(base.p50Ms)} ms  p99 ${round(base.p99Ms)} ms  |  ratio ${row.ratio}\n`,
      );
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  process.stdout.write(`${JSON.stringify(rows)}\n`);
}

const round = (x: number): number => Math.round(x * 100) / 100;

await main();
