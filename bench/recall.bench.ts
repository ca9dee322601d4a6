/**
 * Recall benchmark: stores N memories of real customer sentences (CLINC150 and Banking77 training
 * texts, expanded by joining two sentences when N exceeds them) through the local embedder into
 * the memory store (LMDB, sealing, the HNSW index built in its worker thread), then measures:
 *
 * - insert throughput of the bulk insert, until every memory is committed and indexed;
 * - the event loop's longest delay during that bulk insert (`perf_hooks.monitorEventLoopDelay`);
 * - recall latency (p50, p99) of `memories.recall` with k = 10: embed the query, search the index
 *   (on the event loop, against the search view's copy), re-read, unseal and re-score the
 *   candidates from LMDB; interleaved with the same recall in a second store whose searches go to
 *   the worker (the baseline), with the same memories;
 * - recall@10 of those answers against an exact brute-force search over the same vectors, in the
 *   same run (ties with the 10th exact score count as found);
 * - the latency of another user's recall in the same tenant during the import;
 * - two baselines for the recall latency: a bare worker round trip, and the HNSW search alone on
 *   the calling thread from the saved index file.
 *
 * All memories belong to one user, so every query goes through the HNSW graph (a user with few
 * memories is scanned exactly instead, which would measure nothing). The store is warmed up with
 * 512 memories of another tenant before the bulk insert, as in a running server. Queries are CLINC150
 * validation texts, never stored. No test split is read.
 *
 * `npm run bench:recall` runs Node with `--v8-pool-size=2`, as `npm start` runs `keel serve`
 * (docs/operations.md, Node flags); `npm run bench:v8-pool` compares pools in alternating runs.
 *
 *   npm run bench:recall -- [--n 100000] [--queries 500] [--data DIR] [--m 16] [--ef-construction 100] [--ef-search 128] [--worker-nice 10] [--search-on-event-loop true|false] [--bulk-chunk-size 8] [--import-only]
 *
 * `--import-only` stops after the import (its figures, then the JSON line with the recall fields
 * null): for comparing import settings such as `--bulk-chunk-size` in alternating runs.
 *
 * Prints a table, then as its last line one JSON object:
 * {"n", "recallAt10", "p50Ms", "p99Ms", "insertsPerSec", "maxEventLoopDelayMs"}.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import hnswlib from 'hnswlib-node';
import { v8PoolSizeOf } from '../src/cli/node-flags.js';
import { systemClock } from '../src/clock.js';
import { defaultHnswIndexHostOptions, hnswIndexFiles } from '../src/memory/hnsw-index.js';
import { defaultMemoryStoreOptions } from '../src/memory/memory-store-options.js';
import { createLocalEmbedder } from '../src/memory/local-embedder.js';
import { createUserMemory } from '../src/memory/user-memory.js';
import { seededRandom } from '../src/routing/linear-trainers.js';
import { createTenantSealer } from '../src/security/tenant-sealer.js';
import { createTenantKeyStore } from '../src/security/tenant-keys.js';
import { openEnv } from '../src/store/lmdb-env.js';
import { tenantId, userId } from '../src/types.js';
import { loadClinc150, readTextCategoryCsv, resolveDataDir } from './datasets.js';

const { values: args } = parseArgs({
  options: {
    n: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '500' },
    data: { type: 'string' },
    m: { type: 'string' },
    'ef-construction': { type: 'string' },
    'ef-search': { type: 'string' },
    'worker-nice': { type: 'string' },
    'search-on-event-loop': { type: 'string' },
    'bulk-chunk-size': { type: 'string' },
    'import-only': { type: 'boolean', default: false },
    seed: { type: 'string', default: '7' },
  },
  strict: true,
});

const n = Number(args.n);
const queryCount = Number(args.queries);
const numberOr = (value: string | undefined, fallback: number) => (value === undefined ? fallback : Number(value));
const hnsw = {
  m: numberOr(args.m, defaultHnswIndexHostOptions.m),
  efConstruction: numberOr(args['ef-construction'], defaultHnswIndexHostOptions.efConstruction),
  efSearch: numberOr(args['ef-search'], defaultHnswIndexHostOptions.efSearch),
  workerNice: numberOr(args['worker-nice'], defaultHnswIndexHostOptions.workerNice),
  searchOnEventLoop: args['search-on-event-loop'] !== 'false',
};
const bulkChunkSize = numberOr(args['bulk-chunk-size'], defaultMemoryStoreOptions.bulkChunkSize);
const K = 10;
// `npm run bench:recall` runs with the V8 helper pool `npm start` gives `keel serve`; the table says which.
const pool = v8PoolSizeOf(process.execArgv, process.env.NODE_OPTIONS);
const v8PoolRow: [string, string] = ['V8 helper threads (--v8-pool-size)', pool === undefined ? "4 (Node's default)" : String(pool)];
const { HierarchicalNSW } = hnswlib;

// ---------------------------------------------------------------------------------------------
// Texts: every training sentence once, then pairs of sentences until there are n.
const dataDir = resolveDataDir(args.data);
const clinc = loadClinc150(dataDir);
const banking = readTextCategoryCsv(join(dataDir, 'banking77', 'train.csv'));
const base = [...new Set([...clinc.train.map((r) => r.text), ...clinc.trainOutOfScope, ...banking.map((r) => r.text)].map((t) => t.trim()).filter(Boolean))];
const random = seededRandom(Number(args.seed));
const pick = () => base[Math.floor(random() * base.length)]!;
const texts: string[] = base.slice(0, n);
while (texts.length < n) {
  const a = pick();
  const b = pick();
  if (a !== b) texts.push(`${a.replace(/[.?!]*$/, '.')} ${b}`);
}
const stored = new Set(texts);
const queries = clinc.validation.map((r) => r.text).filter((t) => !stored.has(t));
for (let i = queries.length - 1; i > 0; i--) {
  const j = Math.floor(random() * (i + 1));
  [queries[i], queries[j]] = [queries[j]!, queries[i]!];
}
queries.length = Math.min(queries.length, queryCount);

// ---------------------------------------------------------------------------------------------
// The store, as the runtime builds it: LMDB, per-tenant keys, local embedder, HNSW worker.
const dir = mkdtempSync(join(tmpdir(), 'keel-bench-recall-'));
const env = openEnv({ dir, mapSizeBytes: 4 * 1024 * 1024 * 1024 });
const sealer = createTenantSealer({ keys: createTenantKeyStore({ dir, clock: systemClock }) });
const embedder = createLocalEmbedder();
const memory = createUserMemory({
  env, sealer, clock: systemClock, indexDir: join(dir, 'memory-index'), embedder,
  maxMemoriesPerUser: n + 1, maxMemoriesPerTenant: n + 1, bulkChunkSize,
  saveAfterChanges: 100_000_000, saveDelayMs: 86_400_000,
  index: { ...hnsw, initialCapacity: 1024 },
});
// The baseline store: the same options, but every search goes to the index worker (the design
// before searches ran on the event loop). It gets the same memories after the measured import.
const dirInWorker = mkdtempSync(join(tmpdir(), 'keel-bench-recall-worker-'));
const envInWorker = openEnv({ dir: dirInWorker, mapSizeBytes: 4 * 1024 * 1024 * 1024 });
const memoryInWorker = createUserMemory({
  env: envInWorker, sealer: createTenantSealer({ keys: createTenantKeyStore({ dir: dirInWorker, clock: systemClock }) }), clock: systemClock,
  indexDir: join(dirInWorker, 'memory-index'), embedder,
  maxMemoriesPerUser: n + 1, maxMemoriesPerTenant: n + 1, bulkChunkSize,
  saveAfterChanges: 100_000_000, saveDelayMs: 86_400_000,
  index: { ...hnsw, initialCapacity: 1024, searchOnEventLoop: false },
});
const tenant = tenantId('bench');
const user = userId('bench-user');

const log = (line: string) => process.stderr.write(`${line}\n`);
/** Prints rows as a two-column table. */
const printTable = (rows: ReadonlyArray<[string, string]>): void => {
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
};
const quantileOf = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
const cleanUp = async (): Promise<void> => {
  await Promise.all([memory.close(), memoryInWorker.close()]);
  await Promise.all([env.close(), envInWorker.close()]);
  rmSync(dir, { recursive: true, force: true });
  rmSync(dirInWorker, { recursive: true, force: true });
};

try {
  // -------------------------------------------------------------------------------------------
  // Bulk insert with the event loop watched. The store is warmed first (worker thread started,
  // code paths compiled by a small bulk insert for another tenant), as in a server already running.
  const warmUp = tenantId('warm-up');
  await memory.memories.rememberMany(base.slice(0, 512).map((text) => ({ tenant: warmUp, user, text })));
  await memory.memories.recall({ tenant: warmUp, user, query: base[0]!, k: K });
  const delay = monitorEventLoopDelay({ resolution: 1 });
  let maxGapMs = 0;
  let lateTicks = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last - 5);
    if (now - last - 5 > 20) lateTicks++;
    last = now;
  }, 5);
  // Garbage-collection pauses are reported apart: they stop the event loop whatever the code does.
  let maxGcMs = 0;
  let gcOver4 = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      maxGcMs = Math.max(maxGcMs, entry.duration);
      if (entry.duration > 4) gcOver4++;
    }
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  // Another user of the same tenant asks every 100 ms during the import: the latency a customer
  // sees while their tenant's memories are imported (a search waits for inserts posted before it).
  const bob = userId('bench-other');
  await memory.memories.remember({ tenant, user: bob, text: 'My parcel to Leeds never came' });
  await memory.memories.indexStats(tenant);
  let importing = true;
  const duringImport: number[] = [];
  const prober = (async () => {
    while (importing) {
      const t0 = performance.now();
      await memory.memories.recall({ tenant, user: bob, query: 'parcel to Leeds', k: K });
      duringImport.push(performance.now() - t0);
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  delay.enable();
  const insertStart = performance.now();
  const ids: string[] = [];
  const slice = 10_000;
  for (let start = 0; start < n; start += slice) {
    const results = await memory.memories.rememberMany(texts.slice(start, start + slice).map((text) => ({ tenant, user, text })));
    ids.push(...results.map((r) => r.memoryId));
    log(`committed ${ids.length}/${n} (${((performance.now() - insertStart) / 1000).toFixed(1)} s)`);
  }
  const committedMs = performance.now() - insertStart;
  const stats = await memory.memories.indexStats(tenant);
  const insertMs = performance.now() - insertStart;
  importing = false;
  await prober;
  duringImport.sort((a, b) => a - b);
  delay.disable();
  clearInterval(ticker);
  gcObserver.disconnect();
  const maxEventLoopDelayMs = delay.max / 1e6;
  const p99EventLoopDelayMs = delay.percentile(99) / 1e6;
  log(`indexed ${stats.live - 1} in ${(insertMs / 1000).toFixed(1)} s`);
  // The import's figures: the whole table has them too.
  const importRows: Array<[string, string]> = [
    ['bulk insert: committed and indexed', `${(insertMs / 1000).toFixed(1)} s  (${Math.round(n / (insertMs / 1000)).toLocaleString('en')}/s)`],
    ['event loop delay during bulk insert: max / p99', `${maxEventLoopDelayMs.toFixed(1)} ms / ${p99EventLoopDelayMs.toFixed(1)} ms`],
    ['  5 ms ticker: latest / ticks over 20 ms late', `${maxGapMs.toFixed(1)} ms / ${lateTicks}`],
    ['  longest GC pause meanwhile; GC pauses over 4 ms', `${maxGcMs.toFixed(1)} ms; ${gcOver4}`],
  ];
  const otherUserRow = (): [string, string] =>
    ['recall by another user of the tenant during the import: p50 / max', `${quantileOf(duringImport, 0.5).toFixed(1)} ms / ${duringImport.at(-1)!.toFixed(1)} ms (${duringImport.length} recalls)`];
  if (args['import-only']) {
    printTable([['memories imported; bulk chunk size', `${n.toLocaleString('en')}; ${bulkChunkSize}`], v8PoolRow, ...importRows, otherUserRow()]);
    process.stdout.write(`${JSON.stringify({ n, recallAt10: null, p50Ms: null, p99Ms: null, insertsPerSec: Math.round(n / (insertMs / 1000)), maxEventLoopDelayMs: Number(maxEventLoopDelayMs.toFixed(1)) })}\n`);
    await cleanUp();
    process.exit(0);
  }

  const saveStart = performance.now();
  await memory.memories.saveIndex(tenant);
  const saveMs = performance.now() - saveStart;
  // The search view holds a copy of the graph about this size (hnswlib's file is its memory layout).
  const indexFileBytes = statSync(hnswIndexFiles(join(dir, 'memory-index'), tenant).file).size;

  // -------------------------------------------------------------------------------------------
  // Queries through the store, each followed by one baseline round trip: a worker thread that
  // computes for 0.25 ms (about one HNSW search here) and answers. Each recall makes one such round
  // trip, during which both threads may sleep and must be woken again; interleaved, the baseline
  // meets the same moments of a shared machine, and shows the floor its scheduling puts under a recall.
  const echo = new Worker(
    "const { parentPort } = require('node:worker_threads'); parentPort.on('message', (m) => { const end = performance.now() + 0.25; while (performance.now() < end); parentPort.postMessage(m); });",
    { eval: true },
  );
  const roundTrip = () => new Promise<void>((resolve) => {
    echo.once('message', () => resolve());
    echo.postMessage(0);
  });
  // The same memories into the baseline store, in the same order (not measured).
  await memoryInWorker.memories.remember({ tenant, user: bob, text: 'My parcel to Leeds never came' });
  for (let start = 0; start < n; start += slice) {
    await memoryInWorker.memories.rememberMany(texts.slice(start, start + slice).map((text) => ({ tenant, user, text })));
  }
  await memoryInWorker.memories.indexStats(tenant);
  await memoryInWorker.memories.saveIndex(tenant);
  log('baseline store filled');

  // Warm-up, until the search view has its copy of the index (a server that has answered a
  // recall in this tenant before; the first recalls go to the worker meanwhile).
  const warmStart = performance.now();
  const searchesAtWarmUp = (await memory.memories.indexStats(tenant)).searches;
  const viewLoaded = async () => !hnsw.searchOnEventLoop || (await memory.memories.indexStats(tenant)).searches.loaded;
  for (let i = 0; i < 20 || !(await viewLoaded()); i++) {
    const q = queries[i % queries.length]!;
    await memory.memories.recall({ tenant, user, query: q, k: K });
    await memoryInWorker.memories.recall({ tenant, user, query: q, k: K });
    await roundTrip();
  }
  const warmMs = performance.now() - warmStart;
  const searchesBefore = (await memory.memories.indexStats(tenant)).searches;
  // Interleaved per query: the event-loop search, the worker search, a bare round trip.
  const latencies: number[] = [];
  const inWorker: number[] = [];
  const trips: number[] = [];
  const answers: Array<Array<{ memoryId: string; score: number }>> = [];
  let sameAnswers = 0;
  for (const q of queries) {
    const t0 = performance.now();
    const hits = await memory.memories.recall({ tenant, user, query: q, k: K });
    const t1 = performance.now();
    const viaWorker = await memoryInWorker.memories.recall({ tenant, user, query: q, k: K });
    const t2 = performance.now();
    await roundTrip();
    trips.push(performance.now() - t2);
    latencies.push(t1 - t0);
    inWorker.push(t2 - t1);
    answers.push(hits.map((h) => ({ memoryId: h.memoryId, score: h.score })));
    if (hits.map((h) => h.text).join('\n') === viaWorker.map((h) => h.text).join('\n')) sameAnswers++;
  }
  const searchesAfter = (await memory.memories.indexStats(tenant)).searches;
  await echo.terminate();

  // The HNSW search alone, on this thread, from the saved file: what a recall costs without the
  // thread hop, the LMDB reads and the unsealing (same queries, same ef, the same k × overfetch).
  const direct = new HierarchicalNSW('cosine', embedder.dimensions);
  direct.readIndexSync(hnswIndexFiles(join(dir, 'memory-index'), tenant).file, true);
  direct.setEf(hnsw.efSearch);
  const searchAlone: number[] = [];
  for (const q of queries) {
    const vector = Array.from(embedder.embedSync(q));
    const t0 = performance.now();
    direct.searchKnn(vector, K * defaultMemoryStoreOptions.searchOverfetch);
    searchAlone.push(performance.now() - t0);
  }
  searchAlone.sort((a, b) => a - b);
  latencies.sort((a, b) => a - b);
  inWorker.sort((a, b) => a - b);
  trips.sort((a, b) => a - b);
  const quantile = (p: number) => quantileOf(latencies, p);
  const tripQuantile = (p: number) => quantileOf(trips, p);

  // -------------------------------------------------------------------------------------------
  // Exact brute force over the same vectors (the local embedder is deterministic).
  const dim = embedder.dimensions;
  const matrix = new Float32Array(n * dim);
  texts.forEach((t, i) => matrix.set(embedder.embedSync(t), i * dim));
  const rank = new Map(ids.map((id, i) => [id, i]));
  let found = 0;
  let exactMs = 0;
  for (let qi = 0; qi < queries.length; qi++) {
    const t0 = performance.now();
    const q = embedder.embedSync(queries[qi]!);
    const top = new Float64Array(K).fill(-Infinity);
    for (let i = 0; i < n; i++) {
      let dot = 0;
      const base0 = i * dim;
      for (let j = 0; j < dim; j++) dot += q[j]! * matrix[base0 + j]!;
      if (dot > top[K - 1]!) {
        let p = K - 1;
        while (p > 0 && top[p - 1]! < dot) {
          top[p] = top[p - 1]!;
          p--;
        }
        top[p] = dot;
      }
    }
    exactMs += performance.now() - t0;
    const threshold = top[K - 1]! - 1e-5;
    const got = answers[qi]!.filter((h) => rank.has(h.memoryId) && h.score >= threshold).length;
    found += Math.min(K, got);
  }
  const recallAt10 = found / (queries.length * K);

  // -------------------------------------------------------------------------------------------
  const rows: Array<[string, string]> = [
    ['memories (one user, one tenant; one more for another user)', n.toLocaleString('en')],
    ['distinct training sentences / expanded pairs', `${Math.min(n, base.length).toLocaleString('en')} / ${Math.max(0, n - base.length).toLocaleString('en')}`],
    ['HNSW m / efConstruction / efSearch / worker nice', `${hnsw.m} / ${hnsw.efConstruction} / ${hnsw.efSearch} / ${hnsw.workerNice}`],
    v8PoolRow,
    ['bulk insert: committed (LMDB, sealed)', `${(committedMs / 1000).toFixed(1)} s  (${Math.round(n / (committedMs / 1000)).toLocaleString('en')}/s)`],
    ...importRows,
    ['index save (atomic, fsync); index file size', `${saveMs.toFixed(0)} ms; ${(indexFileBytes / 2 ** 20).toFixed(0)} MiB`],
    [`recall k=${K}: queries`, String(queries.length)],
    ['warm-up until the search view had its copy', `${warmMs.toFixed(0)} ms (${searchesBefore.inWorker - searchesAtWarmUp.inWorker} recalls answered by the worker meanwhile)`],
    [`recall latency p50 / p99 (${hnsw.searchOnEventLoop ? 'search on the event loop, the default' : 'search in the worker: --search-on-event-loop false'})`, `${quantile(0.5).toFixed(3)} ms / ${quantile(0.99).toFixed(3)} ms`],
    ['  searches answered on the event loop / by the worker', `${searchesAfter.onEventLoop - searchesBefore.onEventLoop} / ${searchesAfter.inWorker - searchesBefore.inWorker}`],
    ['  baseline: the same recall, search in the worker, p50 / p99', `${quantileOf(inWorker, 0.5).toFixed(3)} ms / ${quantileOf(inWorker, 0.99).toFixed(3)} ms (same answers: ${sameAnswers}/${queries.length})`],
    ['  baseline: worker round trip with 0.25 ms of work, p50 / p99', `${tripQuantile(0.5).toFixed(3)} ms / ${tripQuantile(0.99).toFixed(3)} ms`],
    ['  baseline: the HNSW search alone on this thread, p50 / p99', `${quantileOf(searchAlone, 0.5).toFixed(3)} ms / ${quantileOf(searchAlone, 0.99).toFixed(3)} ms`],
    otherUserRow(),
    ['  of them answered on the event loop / by the worker; search-view copies loaded', `${stats.searches.onEventLoop} / ${stats.searches.inWorker}; ${stats.searches.refreshes}`],
    ['exact brute-force scan per query (same thread)', `${(exactMs / queries.length).toFixed(1)} ms`],
    ['recall@10 vs exact', recallAt10.toFixed(4)],
  ];
  printTable(rows);
  const result = {
    n,
    recallAt10: Number(recallAt10.toFixed(4)),
    p50Ms: Number(quantile(0.5).toFixed(3)),
    p99Ms: Number(quantile(0.99).toFixed(3)),
    insertsPerSec: Math.round(n / (insertMs / 1000)),
    maxEventLoopDelayMs: Number(maxEventLoopDelayMs.toFixed(1)),
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await cleanUp();
}
