/**
 * Part 1 of `npm run bench`: load over WebSocket. 200, 1,000 and 5,000 connections doing turns
 * (closed loop) against the keel server with the default support agent on the local provider,
 * against the same server with a one-state echo machine (the runtime and gateway alone), and
 * against a raw `ws` echo server (the ceiling of the socket layer), all in the same run; then an
 * open-loop sweep of offered load at 200 connections for the latency-against-load plot.
 * Servers run in a child process; this process is the load generator.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineLoad, markdownTable, num, textTable, type Table } from './support/bench-report.js';
import type { PartContext, PartOutcome } from './support/bench-part.js';
import type { BenchServerKind, ServerStats } from './support/bench-server.js';
import { linePlotSvg } from './support/svg-plot.js';
import { closedLoop, describeBenchServerFlags, openLoop, withBenchServer, type LoadResult } from './support/ws-load.js';

interface Row extends LoadResult {
  readonly server: string;
  readonly rssMiB?: number;
  readonly loopMaxMs?: number;
  readonly closeLoopMaxMs?: number;
}

const PLOT_NAME: Record<BenchServerKind, string> = { keel: 'support agent', 'keel-test': 'one-state', echo: 'ws echo' };

const LABEL: Record<BenchServerKind, string> = {
  keel: 'keel serve, support agent',
  'keel-test': 'keel, one-state machine',
  echo: 'raw ws echo (ceiling)',
};

/**
 * Runs `run` against a fresh server. `run` calls `measured` when its measurement ends and before its
 * connections close: the event-loop delay up to then (connecting, warm-up, measuring) is reported
 * apart from the delay of every connection closing at once.
 */
async function withServer<T>(
  kind: BenchServerKind,
  clients: number,
  run: (url: string, tokens: readonly string[] | undefined, measured: () => Promise<void>) => Promise<T>,
): Promise<{ result: T; rssMiB?: number; loopMaxMs?: number; closeLoopMaxMs?: number }> {
  return withBenchServer(kind, clients, async (server, tokens) => {
    await server.stats();
    let during: ServerStats | undefined;
    const result = await run(server.url, tokens, async () => {
      during = await server.stats();
    });
    const after = await server.stats();
    return { result, rssMiB: (during ?? after).rssBytes / 2 ** 20, loopMaxMs: (during ?? after).loopMaxMs, ...(during ? { closeLoopMaxMs: after.loopMaxMs } : {}) };
  });
}

/**
 * Runs the WebSocket load part.
 *
 * @example
 * ```ts
 * const outcome = await runLoadBench({ quick: true, docsDir: 'docs', seconds: 5, log: console.error });
 * ```
 */
export async function runLoadBench(ctx: PartContext): Promise<PartOutcome> {
  const sizes = ctx.quick ? [50, 200] : [200, 1000, 5000];
  const seconds = ctx.quick ? 2 : ctx.seconds;
  const rows: Row[] = [];
  for (const clients of sizes) {
    for (const kind of ['echo', 'keel-test', 'keel'] as const) {
      ctx.log(`load: ${clients} connections, ${LABEL[kind]}`);
      const { result, rssMiB, loopMaxMs, closeLoopMaxMs } = await withServer(kind, clients, (url, tokens, measured) =>
        closedLoop({ url, clients, ...(tokens ? { tokens } : {}), seconds, warmupSeconds: 1, beforeClose: measured }),
      );
      rows.push({ ...result, server: LABEL[kind], ...(kind === 'echo' ? {} : { rssMiB, loopMaxMs, closeLoopMaxMs }) });
    }
  }
  const keel200 = rows.find((r) => r.clients === sizes[0] && r.server === LABEL.keel)!;
  const oneState200 = rows.find((r) => r.clients === sizes[0] && r.server === LABEL['keel-test'])!;
  const echo200 = rows.find((r) => r.clients === sizes[0] && r.server === LABEL.echo)!;

  // Open loop at the first size: offered load as fractions of each keel server's closed-loop
  // throughput; the echo server at the rates of both.
  const fractions = ctx.quick ? [0.5, 1] : [0.25, 0.5, 0.75, 0.9, 1, 1.2];
  const ratesOf = (closed: LoadResult): number[] => fractions.map((f) => Math.max(50, Math.round(closed.turnsPerSec * f)));
  const plan: ReadonlyArray<readonly [BenchServerKind, readonly number[]]> = [
    ['keel', ratesOf(keel200)],
    ['keel-test', ratesOf(oneState200)],
    ['echo', [...ratesOf(keel200), ...ratesOf(oneState200)].sort((a, b) => a - b)],
  ];
  const sweep: Array<{ kind: BenchServerKind; result: LoadResult }> = [];
  for (const [kind, rates] of plan) {
    await withServer(kind, sizes[0]!, async (url, tokens) => {
      for (const ratePerSec of rates) {
        ctx.log(`load: open loop ${ratePerSec} turns/s over ${sizes[0]} connections, ${LABEL[kind]}`);
        sweep.push({ kind, result: await openLoop({ url, clients: sizes[0]!, ...(tokens ? { tokens } : {}), ratePerSec, seconds: Math.max(2, seconds - 1), warmupSeconds: 1 }) });
      }
    });
  }

  const table: Table = {
    head: ['connections', 'server', 'turns/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'max ms', 'errors', 'server RSS MiB', 'max loop delay ms', 'loop delay at disconnect ms'],
    rows: rows.map((r) => [
      num(r.clients),
      r.server,
      num(r.turnsPerSec),
      num(r.p50Ms, 2),
      num(r.p99Ms, 2),
      num(r.p999Ms, 2),
      num(r.maxMs, 1),
      num(r.errors),
      r.rssMiB === undefined ? '—' : num(r.rssMiB),
      r.loopMaxMs === undefined ? '—' : num(r.loopMaxMs, 1),
      r.closeLoopMaxMs === undefined ? '—' : num(r.closeLoopMaxMs, 1),
    ]),
  };
  const sweepTable: Table = {
    head: ['server', 'offered turns/s', 'served turns/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'errors'],
    rows: sweep.map(({ kind, result: r }) => [LABEL[kind], num(r.offeredPerSec ?? 0), num(r.turnsPerSec), num(r.p50Ms, 2), num(r.p99Ms, 2), num(r.p999Ms, 2), num(r.errors)]),
  };
  const svgName = 'bench-ws-latency.svg';
  if (!ctx.quick) {
    writeFileSync(
      join(ctx.docsDir, svgName),
      linePlotSvg({
        title: `Turn latency against offered load, ${sizes[0]} WebSocket connections`,
        xLabel: 'offered load (turns/s, log scale)',
        yLabel: 'latency (ms, log scale)',
        logX: true,
        logY: true,
        hLines: [{ y: 15, label: 'p99 target 15 ms' }],
        series: (['keel', 'keel-test', 'echo'] as const).flatMap((kind) => [
          { name: `${PLOT_NAME[kind]} p50`, dashed: kind === 'echo', points: sweep.filter((s) => s.kind === kind).map((s) => [s.result.offeredPerSec ?? 0, s.result.p50Ms] as const) },
          { name: `${PLOT_NAME[kind]} p99`, dashed: kind === 'echo', points: sweep.filter((s) => s.kind === kind).map((s) => [s.result.offeredPerSec ?? 0, s.result.p99Ms] as const) },
        ]),
      }),
    );
  }
  const load = machineLoad();
  const markdown = [
    '## WebSocket at scale (`npm run bench -- --only load`)',
    '',
    'Closed loop: every connection sends a message, waits for its reply, sends the next. Three servers,',
    `each in its own child process (${describeBenchServerFlags()}),`,
    'driven from one load-generator process on the same 2 cores:',
    '`keel serve` with the default support agent on the local provider (durable acks: each turn is',
    'committed and synced before the client hears anything); the same server with a one-state echo',
    'machine (what the runtime and gateway cost without the agent\'s statechart); and a raw `ws` echo',
    `server, the ceiling of the socket layer. Each connection is its own user and session. ${seconds} s`,
    'measured (longer if needed for every connection to complete a turn in the window) after a warm-up',
    'of at least 1 s that lasts until every connection has had a reply (steady state); latencies in HDR',
    'histograms; "max loop delay" is the server\'s longest event-loop stall from the first connection',
    'to the end of the measurement, "at disconnect" the longest while every connection closes at once.',
    `At the end: ${load}.`,
    '',
    markdownTable(table),
    '',
    `At ${sizes[0]} connections keel serve does ${num((keel200.turnsPerSec / echo200.turnsPerSec) * 100, 1)} % of the raw echo throughput.`,
    '',
    `Open loop at ${sizes[0]} connections: messages leave on a fixed schedule whatever the server does, and`,
    'latency counts from the scheduled time (no coordinated omission); the generator sends, every',
    'millisecond, the messages due by then, so up to about 1 ms of each latency is its own. Offered',
    'load in steps of each keel server\'s closed-loop throughput; the echo server at both sets of rates.',
    '',
    markdownTable(sweepTable),
    '',
    `![latency against offered load](${svgName})`,
  ].join('\n');
  return {
    section: 'load',
    text: `${textTable(table)}\n\n${textTable(sweepTable)}`,
    markdown,
    json: {
      load: rows.map((r) => ({ clients: r.clients, server: r.server, turnsPerSec: Math.round(r.turnsPerSec), p50Ms: r.p50Ms, p99Ms: r.p99Ms, p999Ms: r.p999Ms, errors: r.errors })),
      loadSweep: sweep.map(({ kind, result: r }) => ({ server: kind, offered: r.offeredPerSec, turnsPerSec: Math.round(r.turnsPerSec), p50Ms: r.p50Ms, p99Ms: r.p99Ms })),
    },
  };
}
