/**
 * The server side of the WebSocket benchmarks, run in its own process (forked by the load
 * generator) so that clients and server never share an event loop.
 *
 *   node bench-server.js --kind keel|keel-test|echo [--data-dir DIR]
 *
 * `keel` is what `keel serve` runs: the default support agent on the local provider (or on the
 * LLM endpoint in `OPENAI_BASE_URL`), the runtime, the WebSocket gateway; the per-user message
 * rate limits are raised because every load client is a distinct user sending as fast as it
 * can. `keel-test` is the same server with a one-state echo machine, which isolates what the
 * runtime and gateway cost from what the agent's statechart costs. `echo` is a raw `ws` server
 * that parses a frame and answers it: the ceiling of the socket layer on this machine.
 *
 * The parent talks over IPC: the child sends `{ type: 'ready', port, machine }`, answers
 * `{ type: 'stats' }` with resident memory, heap and event-loop delay since the previous ask,
 * and exits on disconnect (or dies by SIGKILL in the crash trials).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { WebSocketServer } from 'ws';

/** What the server child reports when asked. */
export interface ServerStats {
  readonly type: 'stats';
  readonly rssBytes: number;
  readonly heapUsedBytes: number;
  /** Event-loop delay since the previous ask. */
  readonly loopMaxMs: number;
  readonly loopP99Ms: number;
  readonly liveSessions: number;
  readonly cpuUserMs: number;
  readonly cpuSystemMs: number;
}

/** The kinds of server the child runs. */
export type BenchServerKind = 'keel' | 'keel-test' | 'echo';

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { kind: { type: 'string' }, 'data-dir': { type: 'string' } }, strict: true });
  const kind = values.kind as BenchServerKind;
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let liveSessions = (): number => 0;
  let port: number;
  let machine: string;
  let close: () => Promise<void>;
  if (kind === 'echo') {
    const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false, maxPayload: 65_536 });
    wss.on('connection', (ws) => {
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type?: string; id?: string; text?: string };
        if (frame.type === 'hello') {
          ws.send(JSON.stringify({ type: 'ready', sessionId: 'echo', lastSeq: 0 }));
          return;
        }
        // The raw baseline: parse, answer with one frame naming the message, as a reply would.
        ws.send(JSON.stringify({ type: 'reply', replyTo: frame.id, text: frame.text, seq: 0 }));
      });
    });
    await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
    port = (wss.address() as { port: number }).port;
    machine = 'raw ws echo';
    close = () => new Promise((resolve) => wss.close(() => resolve()));
  } else {
    const dataDir = values['data-dir'];
    if (!dataDir) throw new TypeError('--data-dir is required for keel servers');
    const { createRuntime } = await import('../../src/runtime/runtime.js');
    const { createServer } = await import('../../src/server/server.js');
    let built: { machine: Parameters<typeof createRuntime>[0]['machine']; name: string };
    if (kind === 'keel') {
      const { loadDefaultMachine } = await import('../../src/cli/default-machine.js');
      const agent = await loadDefaultMachine({ dataDir, env: process.env });
      built = { machine: agent.machine, name: agent.name };
    } else {
      const { createTestMachine } = await import('../../test/fixtures/test-machines.js');
      built = { machine: createTestMachine(), name: 'one-state echo machine' };
    }
    const runtime = createRuntime({ dataDir, machine: built.machine, maxLiveSessions: 200_000 });
    const server = createServer({
      runtime,
      ownsRuntime: true,
      port: 0,
      messagesPerSecondPerConnection: 1e6,
      messageBurstPerConnection: 1e6,
      messagesPerSecondPerUser: 1e6,
      messageBurstPerUser: 1e6,
      maxConnections: 200_000,
    });
    port = (await server.listen()).port;
    machine = built.name;
    liveSessions = () => runtime.stats().live;
    close = () => server.close();
  }
  let cpu = process.cpuUsage();
  process.on('message', (message: { type?: string }) => {
    if (message?.type !== 'stats') return;
    const mem = process.memoryUsage();
    const used = process.cpuUsage(cpu);
    cpu = process.cpuUsage();
    const stats: ServerStats = {
      type: 'stats',
      rssBytes: mem.rss,
      heapUsedBytes: mem.heapUsed,
      loopMaxMs: loop.max / 1e6,
      loopP99Ms: loop.percentile(99) / 1e6,
      liveSessions: liveSessions(),
      cpuUserMs: used.user / 1000,
      cpuSystemMs: used.system / 1000,
    };
    loop.reset();
    process.send?.(stats);
  });
  process.on('disconnect', () => void close().finally(() => process.exit(0)));
  process.send?.({ type: 'ready', port, machine, pid: process.pid });
}

await main();
