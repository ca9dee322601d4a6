/**
 * Runtime benchmark: durable turns per second at 1 and 200 concurrent sessions, hydrate latency,
 * heap per live session at 10k and 100k, with two baselines measured in the same run: raw LMDB
 * puts of the same snapshot bytes (one key per session, each awaited to disk like a turn), and
 * raw LMDB writes of what a turn stores (a journal group, a message-id entry and a session
 * record of the same sizes under the same keys, awaited to disk): the storage alone, no runtime.
 *
 *   npm run bench:runtime [-- --seconds 5 --repeat 3 --sessions100k 100000 --docs]
 *
 * With `--repeat N` the throughput figures are the medians of N runs. `--docs` writes the
 * "Runtime" section of docs/benchmarks.md.
 *
 * Run with `node --expose-gc` for exact heap figures (the npm script does).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { randomBytes, randomUUID } from 'node:crypto';
import { open } from 'lmdb';
import { createRuntime, silentLogger, tenantId, userId, type Runtime } from '../src/index.js';
import { createTestMachine } from '../test/fixtures/test-machines.js';
import { machineLoad, markdownTable, median, num, writeSection } from './support/bench-report.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    sessions10k: { type: 'string', default: '10000' },
    sessions100k: { type: 'string', default: '100000' },
    hydrations: { type: 'string', default: '5000' },
    repeat: { type: 'string', default: '1' },
    docs: { type: 'boolean', default: false },
  },
});
const repeat = Math.max(1, Number(values.repeat));
const seconds = Number(values.seconds);
const tenant = tenantId('bench');
const gc = (globalThis as { gc?: () => void }).gc;

function tmp(): { dir: string; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-'));
  return { dir, done: () => rmSync(dir, { recursive: true, force: true }) };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function turnsPerSecond(runtime: Runtime, concurrency: number): Promise<number> {
  const ids: string[] = [];
  for (let i = 0; i < concurrency; i++) {
    ids.push((await runtime.open({ tenant, user: userId(`t${concurrency}-${i}`) })).sessionId);
  }
  let turns = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    ids.map(async (id, i) => {
      for (let k = 0; performance.now() < deadline; k++) {
        await runtime.send(id, { type: 'user.message', id: `m${i}-${k}`, text: `hello ${k}` });
        turns++;
      }
    }),
  );
  return turns / seconds;
}

async function baselinePuts(concurrency: number, bytes: Uint8Array): Promise<number> {
  const t = tmp();
  const db = open({ path: join(t.dir, 'baseline.mdb') });
  let puts = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, i) => {
      for (let k = 0; performance.now() < deadline; k++) {
        await db.put(`s${i}`, bytes);
        await db.flushed;
        puts++;
      }
    }),
  );
  await db.close();
  t.done();
  return puts / seconds;
}

/**
 * The storage alone: each "turn" writes what a keel turn stores (a journal group under
 * [session, seq], a message-id entry under [session, messageId], the session record under its id;
 * same sizes, same key shapes, three named databases) and awaits the flush.
 */
async function baselineTurnWrites(concurrency: number): Promise<number> {
  const t = tmp();
  const root = open({ path: join(t.dir, 'baseline-turns.mdb'), maxDbs: 8 });
  const sessions = root.openDB({ name: 'sessions' });
  const journal = root.openDB({ name: 'journal' });
  const messages = root.openDB({ name: 'messages' });
  const sealedTexts = randomBytes(90);
  const sealedSnapshot = randomBytes(150);
  let turns = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      const id = randomUUID();
      for (let k = 1; performance.now() < deadline; k++) {
        const seq = 2 * k - 1;
        void journal.put([id, seq], { records: [{ seq, dir: 'in', type: 'message', messageId: `m${k}`, time: Date.now() }, { seq: seq + 1, dir: 'out', type: 'reply', messageId: `m${k}`, state: 'idle', time: Date.now() }], sealed: sealedTexts });
        void messages.put([id, `m${k}`], { inSeq: seq, outSeqs: [seq + 1] });
        void sessions.put(id, { tenant: 'bench', user: 'u', channel: 'api', machineId: 'test-agent', machineVersion: '1', snapshot: sealedSnapshot, seq: seq + 1, timers: [], pending: [], state: 'idle', createdAt: 1, updatedAt: Date.now() });
        await root.flushed;
        turns++;
      }
    }),
  );
  await root.close();
  t.done();
  return turns / seconds;
}

/** Idle time after the opening burst before resident memory is read again (V8 returns the burst's pages meanwhile). */
const SETTLE_MS = 15_000;

async function heapPerSession(count: number): Promise<{ bytes: number; rssMiB: number; settledRssMiB: number }> {
  const t = tmp();
  const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine(), maxLiveSessions: count + 10, logger: silentLogger });
  const warm = await runtime.open({ tenant, user: userId('warm') });
  await runtime.send(warm.sessionId, { type: 'user.message', id: 'w', text: 'warm' });
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const batch = 1000;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => runtime.open({ tenant, user: userId(`h${i + j}`) })));
  }
  gc?.();
  const after = process.memoryUsage().heapUsed;
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  // The same sessions, still live, once the process has been idle: the garbage of opening 100k
  // sessions in bursts of 1,000 is collected, but the heap V8 grew for it is returned only later.
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  gc?.();
  const settledRssMiB = process.memoryUsage().rss / 2 ** 20;
  if (runtime.stats().live < count) throw new Error(`only ${runtime.stats().live} sessions live`);
  await runtime.close();
  t.done();
  return { bytes: (after - before) / count, rssMiB, settledRssMiB };
}

async function hydrateLatency(count: number): Promise<{ p50: number; p99: number }> {
  const t = tmp();
  const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine(), logger: silentLogger });
  const ids: string[] = [];
  for (let i = 0; i < count; i += 500) {
    const opened = await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, j) => runtime.open({ tenant, user: userId(`y${i + j}`) })));
    await Promise.all(opened.map((o, j) => runtime.send(o.sessionId, { type: 'user.message', id: `x${j}`, text: 'hi' })));
    ids.push(...opened.map((o) => o.sessionId));
  }
  for (const id of ids) await runtime.passivate(id);
  // Warm-up, untimed: the hydrate path compiled and optimised before it is measured.
  for (const id of ids.slice(0, 500)) {
    await runtime.warm(id);
    await runtime.passivate(id);
  }
  const samples: number[] = [];
  for (const id of ids) {
    const start = process.hrtime.bigint();
    await runtime.warm(id);
    samples.push(Number(process.hrtime.bigint() - start) / 1000);
    await runtime.passivate(id);
  }
  await runtime.close();
  t.done();
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 50), p99: percentile(samples, 99) };
}

async function throughput(): Promise<{ turns1: number; turns200: number; base1: number; base200: number; turnWrites200: number }> {
  const t = tmp();
  const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine(), logger: silentLogger, maxLiveSessions: 1000 });
  const probe = await runtime.open({ tenant, user: userId('probe') });
  await runtime.send(probe.sessionId, { type: 'user.message', id: 'p', text: 'probe' });
  const turns1 = await turnsPerSecond(runtime, 1);
  const turns200 = await turnsPerSecond(runtime, 200);
  await runtime.close();
  t.done();
  const snapshotBytes = new TextEncoder().encode(JSON.stringify({ value: 'idle', context: { count: 1, last: 'probe' }, status: 'active', children: {}, historyValue: {} }));
  const base1 = await baselinePuts(1, snapshotBytes);
  const base200 = await baselinePuts(200, snapshotBytes);
  const turnWrites200 = await baselineTurnWrites(200);
  return { turns1, turns200, base1, base200, turnWrites200 };
}

async function main(): Promise<void> {
  if (!gc) process.stderr.write('note: run with --expose-gc for exact heap figures\n');
  const runs: Array<Awaited<ReturnType<typeof throughput>>> = [];
  for (let r = 0; r < repeat; r++) {
    runs.push(await throughput());
    if (repeat > 1) process.stderr.write(`run ${r + 1}/${repeat}: ${JSON.stringify(runs.at(-1), (_, v: unknown) => (typeof v === 'number' ? Math.round(v) : v))}\n`);
  }
  const med = (pick: (r: (typeof runs)[number]) => number): number => median(runs.map(pick));
  const turns1 = med((r) => r.turns1);
  const turns200 = med((r) => r.turns200);
  const base1 = med((r) => r.base1);
  const base200 = med((r) => r.base200);
  const turnWrites200 = med((r) => r.turnWrites200);
  const hydrate = await hydrateLatency(Number(values.hydrations));
  const heap10k = await heapPerSession(Number(values.sessions10k));
  const heap100k = await heapPerSession(Number(values.sessions100k));

  const rows: Array<[string, string, string]> = [
    ['durable turns/s, 1 session', num(turns1), `raw put+flush of the snapshot bytes ${num(base1)}/s (ratio ${(turns1 / base1).toFixed(2)})`],
    ['durable turns/s, 200 sessions', num(turns200), `raw put+flush, 200 keys ${num(base200)}/s (ratio ${(turns200 / base200).toFixed(2)}); a turn's 3 writes without the runtime ${num(turnWrites200)}/s (ratio ${(turns200 / turnWrites200).toFixed(2)})`],
    ['hydrate p50 / p99 (µs)', `${hydrate.p50.toFixed(0)} / ${hydrate.p99.toFixed(0)}`, `${values.hydrations} passivated sessions`],
    ['heap per live session, 10k', `${num(heap10k.bytes)} B`, `rss ${heap10k.rssMiB.toFixed(0)} MiB right after opening, ${heap10k.settledRssMiB.toFixed(0)} MiB after ${SETTLE_MS / 1000} s idle`],
    ['heap per live session, 100k', `${num(heap100k.bytes)} B`, `rss ${heap100k.rssMiB.toFixed(0)} MiB right after opening, ${heap100k.settledRssMiB.toFixed(0)} MiB after ${SETTLE_MS / 1000} s idle`],
  ];
  process.stdout.write(`machine: test-agent (synchronous local turns); ${seconds}s per throughput run; ${repeat > 1 ? `medians of ${repeat} runs; ` : ''}${machineLoad()}\n`);
  for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(34)} ${b.padStart(14)}   ${c}\n`);
  if (values.docs) {
    const docs = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'benchmarks.md');
    writeSection(docs, 'runtime', [
      '## Runtime (`npm run bench:runtime`)',
      '',
      `\`npm run bench:runtime -- --seconds ${seconds} --repeat ${repeat}\`: the test agent (one state, replies at once), each session`,
      'doing turns back to back; a turn resolves after its commit is synced to disk. Two baselines run in the',
      'same process right after: raw LMDB puts of the same snapshot bytes, one key per session, each awaited',
      'to disk (a floor that writes one small record per turn into a tiny database), and a turn\'s three',
      'writes (journal group, message-id entry, session record; same sizes and key shapes) without the',
      `runtime: what LMDB alone does for the same data.${repeat > 1 ? ` Throughput figures are medians of ${repeat} runs.` : ''} At the end: ${machineLoad()}.`,
      '',
      markdownTable({ head: ['measure', 'keel', 'baseline (same run)'], rows }),
    ].join('\n'));
  }
  process.stdout.write(
    `${JSON.stringify({
      turnsPerSec1: Math.round(turns1),
      turnsPerSec200: Math.round(turns200),
      baselinePutsPerSec200: Math.round(base200),
      baselineTurnWritesPerSec200: Math.round(turnWrites200),
      hydrateP50Us: Math.round(hydrate.p50),
      hydrateP99Us: Math.round(hydrate.p99),
      heapBytesPerSession10k: Math.round(heap10k.bytes),
      heapBytesPerSession100k: Math.round(heap100k.bytes),
    })}\n`,
  );
}

await main();
