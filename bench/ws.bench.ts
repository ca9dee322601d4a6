/**
 * WebSocket benchmark: N clients each doing turns back to back (send a message, wait for its
 * reply) against the keel server (`keel serve`'s default support agent on the local provider),
 * and the same clients against a raw `ws` echo server in the same run, the baseline of what the
 * socket layer alone costs on this machine. Servers run in a child process, so clients and server
 * do not share one event loop.
 *
 *   npm run bench:ws -- [--clients 200,1000] [--seconds 5] [--warmup-seconds 1] [--repeat 3] [--docs]
 *
 * A keel turn is durable: its ack (and here its reply, the local agent settles within the tick) is
 * committed and flushed to disk (lmdb-js group commit) before the client hears anything. With
 * `--repeat N` every figure is the median of N runs (echo and keel alternate). `--docs` writes the
 * "WebSocket" section of docs/benchmarks.md.
 * Last line: one JSON array of {clients, turnsPerSec, p50Ms, p99Ms, echoTurnsPerSec, ratio}.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { machineLoad, markdownTable, median, num, writeSection } from './support/bench-report.js';
import { closedLoop, describeBenchServerFlags, withBenchServer, type LoadResult } from './support/ws-load.js';

async function once(kind: 'keel' | 'echo', clients: number, seconds: number, warmupSeconds: number): Promise<LoadResult & { machine: string }> {
  return withBenchServer(kind, clients, async (server, tokens) => ({
    ...(await closedLoop({ url: server.url, clients, ...(tokens ? { tokens } : {}), seconds, warmupSeconds })),
    machine: server.machine,
  }));
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      clients: { type: 'string', default: '200,1000' },
      seconds: { type: 'string', default: '5' },
      'warmup-seconds': { type: 'string', default: '1' },
      repeat: { type: 'string', default: '1' },
      docs: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const clientCounts = values.clients.split(',').map(Number);
  const seconds = Number(values.seconds);
  const warmup = Number(values['warmup-seconds']);
  const repeat = Number(values.repeat);
  if (clientCounts.some((c) => !Number.isInteger(c) || c < 1) || !(seconds > 0) || !(warmup >= 0) || !Number.isInteger(repeat) || repeat < 1) {
    throw new TypeError('usage: ws.bench [--clients 200,1000] [--seconds 5] [--warmup-seconds 1] [--repeat 1] [--docs]');
  }
  const rows: Array<{ clients: number; turnsPerSec: number; p50Ms: number; p99Ms: number; echoTurnsPerSec: number; ratio: number; p999Ms: number; echoP50Ms: number; echoP99Ms: number; errors: number }> = [];
  let machine = '';
  for (const clients of clientCounts) {
    const keel: LoadResult[] = [];
    const echo: LoadResult[] = [];
    for (let r = 0; r < repeat; r++) {
      echo.push(await once('echo', clients, seconds, warmup));
      const k = await once('keel', clients, seconds, warmup);
      machine = k.machine;
      keel.push(k);
    }
    const m = (list: LoadResult[], pick: (x: LoadResult) => number): number => median(list.map(pick));
    const turnsPerSec = Math.round(m(keel, (x) => x.turnsPerSec));
    const echoTurnsPerSec = Math.round(m(echo, (x) => x.turnsPerSec));
    const row = {
      clients, turnsPerSec, p50Ms: round(m(keel, (x) => x.p50Ms)), p99Ms: round(m(keel, (x) => x.p99Ms)), echoTurnsPerSec, ratio: Number((turnsPerSec / echoTurnsPerSec).toFixed(4)),
      p999Ms: round(m(keel, (x) => x.p999Ms)), echoP50Ms: round(m(echo, (x) => x.p50Ms)), echoP99Ms: round(m(echo, (x) => x.p99Ms)), errors: keel.reduce((n, x) => n + x.errors, 0),
    };
    rows.push(row);
    process.stdout.write(
      `${String(clients).padStart(5)} clients  keel (${machine}, durable acks): ${turnsPerSec} turns/s  p50 ${row.p50Ms} ms  p99 ${row.p99Ms} ms` +
        `  |  raw ws echo: ${echoTurnsPerSec} turns/s  p50 ${row.echoP50Ms} ms  p99 ${row.echoP99Ms} ms  |  ratio ${row.ratio}\n`,
    );
  }
  if (values.docs) {
    const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'benchmarks.md');
    writeSection(docs, 'ws', [
      '## WebSocket (`npm run bench:ws`)',
      '',
      `\`npm run bench:ws -- --clients ${values.clients} --seconds ${seconds} --repeat ${repeat}\`: N clients, each its own user and session,`,
      `doing turns back to back against the keel server (${machine}; every ack and reply is`,
      'committed and synced to disk before it is sent) and, in the same run, against a raw `ws` echo server',
      'that parses each frame and answers it (the ceiling of the socket layer). Servers in a child process',
      `(${describeBenchServerFlags()}).${repeat > 1 ? ` Medians of ${repeat} runs, echo and keel alternating.` : ''}`,
      `At the end: ${machineLoad()}.`,
      '',
      markdownTable({
        head: ['clients', 'keel turns/s', 'keel p50 ms', 'keel p99 ms', 'keel p99.9 ms', 'echo turns/s', 'echo p50 ms', 'echo p99 ms', 'keel ÷ echo', 'errors'],
        rows: rows.map((r) => [num(r.clients), num(r.turnsPerSec), num(r.p50Ms, 2), num(r.p99Ms, 2), num(r.p999Ms, 2), num(r.echoTurnsPerSec), num(r.echoP50Ms, 2), num(r.echoP99Ms, 2), `${num((r.turnsPerSec / r.echoTurnsPerSec) * 100, 1)} %`, num(r.errors)]),
      }),
    ].join('\n'));
  }
  process.stdout.write(`${JSON.stringify(rows.map(({ clients, turnsPerSec, p50Ms, p99Ms, echoTurnsPerSec, ratio }) => ({ clients, turnsPerSec, p50Ms, p99Ms, echoTurnsPerSec, ratio })))}\n`);
}

const round = (x: number): number => Math.round(x * 100) / 100;

await main();
