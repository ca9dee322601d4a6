/**
 * Runtime benchmark: durable turns per second at 1 and 200 concurrent sessions, hydrate latency,
 * heap per live session at 10k and 100k, with raw LMDB puts of the same snapshot bytes (each
 * awaited to disk like a turn) measured in the same run as the baseline.
 *
 *   npm run bench:runtime [-- --seconds 5 --sessions100k 100000]
 *
 * Run with `node --expose-gc` for exact heap figures (the npm script does).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { open } from 'lmdb';
import { createRuntime, silentLogger, tenantId, userId, type Runtime } from '../src/index.js';
import { createTestMachine } from '../test/fixtures/test-machines.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    sessions10k: { type: 'string', default: '10000' },
    sessions100k: { type: 'string', default: '100000' },
    hydrations: { type: 'string', default: '5000' },
  },
});
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

async function heapPerSession(count: number): Promise<{ bytes: number; rssMiB: number }> {
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
  if (runtime.stats().live < count) throw new Error(`only ${runtime.stats().live} sessions live`);
  await runtime.close();
  t.done();
  return { bytes: (after - before) / count, rssMiB };
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

async function main(): Promise<void> {
  if (!gc) process.stderr.write('note: run with --expose-gc for exact heap figures\n');
  const t = tmp();
  const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine(), logger: silentLogger, maxLiveSessions: 1000 });
  const probe = await runtime.open({ tenant, user: userId('probe') });
  await runtime.send(probe.sessionId, { type: 'user.message', id: 'p', text: 'probe' });
  const snapshotBytes = new TextEncoder().encode(JSON.stringify({ value: 'idle', context: { count: 1, last: 'probe' }, status: 'active', children: {}, historyValue: {} }));
  const turns1 = await turnsPerSecond(runtime, 1);
  const turns200 = await turnsPerSecond(runtime, 200);
  await runtime.close();
  t.done();
  const base1 = await baselinePuts(1, snapshotBytes);
  const base200 = await baselinePuts(200, snapshotBytes);
  const hydrate = await hydrateLatency(Number(values.hydrations));
  const heap10k = await heapPerSession(Number(values.sessions10k));
  const heap100k = await heapPerSession(Number(values.sessions100k));

  const rows: Array<[string, string, string]> = [
    ['durable turns/s, 1 session', turns1.toFixed(0), `baseline puts/s ${base1.toFixed(0)} (ratio ${(turns1 / base1).toFixed(2)})`],
    ['durable turns/s, 200 sessions', turns200.toFixed(0), `baseline puts/s ${base200.toFixed(0)} (ratio ${(turns200 / base200).toFixed(2)})`],
    ['hydrate p50 / p99 (µs)', `${hydrate.p50.toFixed(0)} / ${hydrate.p99.toFixed(0)}`, `${values.hydrations} passivated sessions`],
    ['heap per live session, 10k', `${heap10k.bytes.toFixed(0)} B`, `rss ${heap10k.rssMiB.toFixed(0)} MiB`],
    ['heap per live session, 100k', `${heap100k.bytes.toFixed(0)} B`, `rss ${heap100k.rssMiB.toFixed(0)} MiB`],
  ];
  process.stdout.write(`machine: test-agent (synchronous local turns); ${seconds}s per throughput run\n`);
  for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(34)} ${b.padStart(14)}   ${c}\n`);
  process.stdout.write(
    `${JSON.stringify({
      turnsPerSec1: Math.round(turns1),
      turnsPerSec200: Math.round(turns200),
      baselinePutsPerSec200: Math.round(base200),
      hydrateP50Us: Math.round(hydrate.p50),
      hydrateP99Us: Math.round(hydrate.p99),
      heapBytesPerSession10k: Math.round(heap10k.bytes),
      heapBytesPerSession100k: Math.round(heap100k.bytes),
    })}\n`,
  );
}

await main();
