/**
 * Runtime benchmark: durable turns per second at 1 and 200 concurrent sessions, hydrate latency,
 * heap per live session at 10k and 100k (resting, the default for quiet sessions, and with every
 * actor running, side by side) with resident memory at 100k, the price of a turn that wakes a
 * resting session, and two baselines for throughput measured in the same run: raw LMDB
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
import { randomBytes } from 'node:crypto';
import { open } from 'lmdb';
import { createRuntime, silentLogger, tenantId, userId, type Runtime } from '../src/index.js';
import { newSessionId } from '../src/sessions/session-id.js';
import { STRUCTURES_KEY } from '../src/store/lmdb-env.js';
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
 * same sizes, same key shapes, three named databases sharing their record structures) and awaits
 * the flush.
 */
async function baselineTurnWrites(concurrency: number): Promise<number> {
  const t = tmp();
  const root = open({ path: join(t.dir, 'baseline-turns.mdb'), maxDbs: 8 });
  // Stored as keel stores them: each database shares its record structures (lmdb-env.ts).
  const sessions = root.openDB({ name: 'sessions', sharedStructuresKey: STRUCTURES_KEY });
  const journal = root.openDB({ name: 'journal', sharedStructuresKey: STRUCTURES_KEY });
  const messages = root.openDB({ name: 'messages', sharedStructuresKey: STRUCTURES_KEY });
  const sealedTexts = randomBytes(90);
  const sealedSnapshot = randomBytes(150);
  let turns = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      // Named as keel names its sessions (time-ordered), so the keys sit as keel's do.
      const id = newSessionId(Date.now());
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

/**
 * Idle time after the opening burst before resident memory is read again: V8 gives back the pages
 * it grew for the burst only once its memory reducer runs, about 20 s into a quiet spell.
 */
const SETTLE_MS = 30_000;

/**
 * Heap per live session, with every actor running (`restAfterMs: 0`) or once every session rests
 * (the default `restAfterMs`: actor stopped, state kept as snapshot JSON). Resident memory right
 * after opening and, with `settle`, after an idle spell (no forced GC in between).
 */
async function heapPerSession(count: number, mode: 'running' | 'resting', settle: boolean): Promise<{ bytes: number; rssMiB: number; settledRssMiB: number | undefined }> {
  const t = tmp();
  const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine(), maxLiveSessions: count + 10, logger: silentLogger, ...(mode === 'running' ? { restAfterMs: 0 } : {}) });
  const warm = await runtime.open({ tenant, user: userId('warm') });
  await runtime.send(warm.sessionId, { type: 'user.message', id: 'w', text: 'warm' });
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const batch = 1000;
  for (let i = 0; i < count; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, count - i) }, (_, j) => runtime.open({ tenant, user: userId(`h${i + j}`) })));
  }
  while (mode === 'resting' && runtime.stats().resting <= count) await new Promise((r) => setTimeout(r, 100));
  gc?.();
  const after = process.memoryUsage().heapUsed;
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  let settledRssMiB: number | undefined;
  if (settle) {
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    settledRssMiB = process.memoryUsage().rss / 2 ** 20;
  }
  const stats = runtime.stats();
  if (stats.live < count || (mode === 'resting' ? stats.resting < count : stats.resting > 0)) throw new Error(`unexpected live/resting counts ${JSON.stringify(stats)}`);
  await runtime.close();
  t.done();
  return { bytes: (after - before) / count, rssMiB, settledRssMiB };
}

/**
 * The price of resting: CPU time per turn when 1,000 sessions each take one turn at once (the
 * turns share group commits, so CPU, not the disk, is what differs) with every session resting,
 * so that each turn first builds its actor from the kept snapshot, against the same with every
 * actor running. Resting and running rounds alternate; the first pair is a warm-up.
 */
async function wakeCost(count: number, rounds: number): Promise<{ runningCpuUs: number; restingCpuUs: number }> {
  const t = tmp();
  // Long enough that no session rests again before its round has ended: the turns of one commit
  // go on 32 per macrotask, so a round of 1,000 takes longer than one macrotask.
  const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine(), logger: silentLogger, restAfterMs: 1000, maxLiveSessions: count + 10 });
  const ids: string[] = [];
  for (let i = 0; i < count; i += 500) {
    ids.push(...(await Promise.all(Array.from({ length: Math.min(500, count - i) }, (_, j) => runtime.open({ tenant, user: userId(`w${i + j}`) })))).map((o) => o.sessionId));
  }
  const running: number[] = [];
  const resting: number[] = [];
  const round = async (k: number): Promise<number> => {
    const before = process.cpuUsage();
    await Promise.all(ids.map((id) => runtime.send(id, { type: 'user.message', id: `r${k}`, text: 'hello' })));
    const used = process.cpuUsage(before);
    return (used.user + used.system) / count;
  };
  for (let k = 0; k <= rounds; k++) {
    while (runtime.stats().resting < count) await new Promise((r) => setTimeout(r, 20));
    const r1 = await round(2 * k);
    if (runtime.stats().resting > 0) throw new Error('sessions rested during the running round');
    const r2 = await round(2 * k + 1);
    if (k > 0) {
      resting.push(r1);
      running.push(r2);
    }
  }
  await runtime.close();
  t.done();
  return { runningCpuUs: median(running), restingCpuUs: median(resting) };
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
  const wake = await wakeCost(1000, 5);
  const heap10k = await heapPerSession(Number(values.sessions10k), 'resting', false);
  const running10k = await heapPerSession(Number(values.sessions10k), 'running', false);
  const heap100k = await heapPerSession(Number(values.sessions100k), 'resting', true);
  const running100k = await heapPerSession(Number(values.sessions100k), 'running', true);
  const rss = (h: { rssMiB: number; settledRssMiB: number | undefined }): string =>
    `rss ${h.rssMiB.toFixed(0)} MiB right after opening${h.settledRssMiB === undefined ? '' : `, ${h.settledRssMiB.toFixed(0)} MiB after ${SETTLE_MS / 1000} s idle`}`;

  const rows: Array<[string, string, string]> = [
    ['durable turns/s, 1 session', num(turns1), `raw put+flush of the snapshot bytes ${num(base1)}/s (ratio ${(turns1 / base1).toFixed(2)})`],
    ['durable turns/s, 200 sessions', num(turns200), `raw put+flush, 200 keys ${num(base200)}/s (ratio ${(turns200 / base200).toFixed(2)}); a turn's 3 writes without the runtime ${num(turnWrites200)}/s (ratio ${(turns200 / turnWrites200).toFixed(2)})`],
    ['hydrate p50 / p99 (µs)', `${hydrate.p50.toFixed(0)} / ${hydrate.p99.toFixed(0)}`, `${values.hydrations} passivated sessions`],
    ['CPU per turn on a resting session', `${wake.restingCpuUs.toFixed(0)} µs`, `with the actor running ${wake.runningCpuUs.toFixed(0)} µs (ratio ${(wake.restingCpuUs / wake.runningCpuUs).toFixed(2)}; 1,000 sessions, one turn each at once, median of 5 rounds)`],
    ['heap per live session, 10k, resting', `${num(heap10k.bytes)} B`, `actors running ${num(running10k.bytes)} B (ratio ${(heap10k.bytes / running10k.bytes).toFixed(2)}); ${rss(heap10k)}`],
    ['heap per live session, 100k, resting', `${num(heap100k.bytes)} B`, `actors running ${num(running100k.bytes)} B (ratio ${(heap100k.bytes / running100k.bytes).toFixed(2)})`],
    ['resident memory, 100k live, resting', `${heap100k.settledRssMiB?.toFixed(0)} MiB`, `actors running ${running100k.settledRssMiB?.toFixed(0)} MiB, both after ${SETTLE_MS / 1000} s idle; right after opening ${heap100k.rssMiB.toFixed(0)} / ${running100k.rssMiB.toFixed(0)} MiB`],
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
      `runtime: what LMDB alone does for the same data.${repeat > 1 ? ` Throughput figures are medians of ${repeat} runs.` : ''}`,
      'Memory is measured twice, side by side: once every session rests (the default for a live session',
      'quiet for `restAfterMs`, 5 s: actor stopped, state kept as snapshot JSON) and with every actor',
      'running (`restAfterMs: 0`). Resident memory is read again after 30 s idle, with no forced GC, once',
      `V8's memory reducer has given back the heap it grew while the sessions opened. At the end: ${machineLoad()}.`,
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
      heapBytesPerRunningSession10k: Math.round(running10k.bytes),
      heapBytesPerRunningSession100k: Math.round(running100k.bytes),
      rssMiB100k: Math.round(heap100k.settledRssMiB ?? heap100k.rssMiB),
      rssMiB100kRunning: Math.round(running100k.settledRssMiB ?? running100k.rssMiB),
      restingTurnCpuUs: Math.round(wake.restingCpuUs),
      runningTurnCpuUs: Math.round(wake.runningCpuUs),
    })}\n`,
  );
}

await main();
