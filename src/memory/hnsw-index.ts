/**
 * Per-tenant HNSW vector indexes (hnswlib-node) held in one worker thread, so that inserts,
 * builds, saves and checksum checks never run on the event loop.
 *
 * An index file is a cache of the vectors kept in LMDB: the caller records the fingerprint that
 * {@link HnswIndex.save} returns next to its own generation counter and passes it back to
 * {@link HnswIndexHost.open}; any mismatch (missing, truncated, altered, stale file) yields an
 * empty index that the caller refills from LMDB. Indexes are per tenant and never shared: each has
 * its own hnswlib object and its own files.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { KeelError } from '../errors.js';
import { createSearchView, type SearchView, type SearchViewStats } from './hnsw-search-view.js';
import type { TenantId } from '../types.js';
import {
  indexWorkerSource,
  type IndexOpenStatus,
  type IndexWorkerFingerprint,
  type IndexWorkerRequest,
  type IndexWorkerResponse,
  type IndexWorkerSpec,
  type IndexWorkerStats,
} from './index-worker.js';

export type { IndexOpenStatus, IndexWorkerFingerprint as HnswFingerprint, IndexWorkerStats as HnswStats, SearchViewStats };

/** Options of {@link createHnswIndexHost}. */
export interface HnswIndexHostOptions {
  /** Directory of the index files (`<tenant>.<hash>.hnsw` and `.owners`). Required. */
  readonly dir: string;
  /** Vector length; must match the embedder. Required. */
  readonly dimensions: number;
  /** Distance space. Default `'cosine'` (score = 1 - distance). */
  readonly space?: 'cosine' | 'ip' | 'l2';
  /** Graph degree (hnswlib `M`). Default 16. */
  readonly m?: number;
  /** Candidate list size while inserting. Default 100. */
  readonly efConstruction?: number;
  /** Candidate list size while searching (raised to k when k is larger). Default 128 (recall@10 ≈ 0.97 at 100k × 384). */
  readonly efSearch?: number;
  /** Slots allocated when an index is created; it grows by `growthFactor` when full. Default 1024. */
  readonly initialCapacity?: number;
  /** Multiplier applied to the capacity on each resize. Default 2. */
  readonly growthFactor?: number;
  /** An owner with at most this many vectors is searched exactly instead of through the graph. Default 256. */
  readonly exactScanMaxLabels?: number;
  /** Longest stretch of inserts in the worker before it reads its messages again. Default 8 ms. */
  readonly sliceMs?: number;
  /** Seed of the level generator, so builds are reproducible. Default 100. */
  readonly randomSeed?: number;
  /**
   * Scheduling niceness of the worker thread (Linux; ignored elsewhere), 0-19. Index work is
   * background work: when the CPU is short, the event loop (chat turns) goes first and builds
   * take longer. 0 gives the worker the event loop's priority. Default 10.
   */
  readonly workerNice?: number;
  /**
   * Searches run on the calling thread, against a copy of the index taken from the worker plus an
   * exact scan of what changed since (see `hnsw-search-view.ts`): no thread hop, whose wake-ups
   * set the recall's p99 on small machines. It costs each searched index's memory a second time.
   * false: every search goes to the worker. Default true.
   */
  readonly searchOnEventLoop?: boolean;
  /** Changes since the copy above which searches go to the worker until a fresh copy is loaded. Default 1024. */
  readonly searchViewMaxChanges?: number;
}

/** The defaults of {@link HnswIndexHostOptions}. */
export const defaultHnswIndexHostOptions = Object.freeze({
  space: 'cosine' as const,
  m: 16,
  efConstruction: 100,
  efSearch: 128,
  initialCapacity: 1024,
  growthFactor: 2,
  exactScanMaxLabels: 256,
  sliceMs: 8,
  randomSeed: 100,
  workerNice: 10,
  searchOnEventLoop: true,
  searchViewMaxChanges: 1024,
});

type ResolvedOptions = Readonly<Required<HnswIndexHostOptions>>;
/** A request without its correlation id (distributes over the union). */
type RequestBody = IndexWorkerRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

function resolveOptions(options: HnswIndexHostOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('hnsw index options must be an object');
  const o = { ...defaultHnswIndexHostOptions, ...options };
  if (typeof o.dir !== 'string' || o.dir.length === 0) throw new TypeError('hnsw index option dir must be a non-empty path');
  const int = (name: keyof HnswIndexHostOptions, min: number, max: number) => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new TypeError(`hnsw index option ${name} must be an integer in [${min}, ${max}]`);
  };
  int('dimensions', 1, 16_384);
  int('m', 2, 128);
  int('efConstruction', 8, 4096);
  int('efSearch', 1, 4096);
  int('initialCapacity', 1, 100_000_000);
  int('exactScanMaxLabels', 0, 1_000_000);
  int('sliceMs', 1, 1000);
  int('randomSeed', 0, 2 ** 31 - 1);
  int('workerNice', 0, 19);
  int('searchViewMaxChanges', 0, 1_000_000);
  if (typeof o.searchOnEventLoop !== 'boolean') throw new TypeError('hnsw index option searchOnEventLoop must be a boolean');
  if (typeof o.growthFactor !== 'number' || !(o.growthFactor >= 1.1 && o.growthFactor <= 16)) throw new TypeError('hnsw index option growthFactor must be a number in [1.1, 16]');
  if (!['cosine', 'ip', 'l2'].includes(o.space)) throw new TypeError("hnsw index option space must be 'cosine', 'ip' or 'l2'");
  return Object.freeze(o);
}

/** One nearest neighbour: the caller's label and its distance (cosine: 1 - similarity). */
export interface HnswHit {
  readonly label: number;
  readonly distance: number;
}

/** A batch for {@link HnswIndex.add}: `vectors` holds `labels.length × dimensions` floats. */
export interface HnswBatch {
  readonly labels: Uint32Array;
  /** Owner tag per vector (non-zero); searches can be restricted to one owner. */
  readonly owners: Uint32Array;
  readonly vectors: Float32Array;
}

/** One tenant's index. Operations are applied in the order they are called. */
export interface HnswIndex {
  readonly tenant: TenantId;
  /** How {@link HnswIndexHost.open} found the files. */
  readonly status: IndexOpenStatus;
  /** Adds or replaces vectors; a deleted label is reused in place. The batch's buffers are transferred (detached). */
  add(batch: HnswBatch): Promise<number>;
  /**
   * Marks labels deleted so their slots can be reused; unknown labels are ignored. With `scrub`,
   * each vector is first overwritten with a meaningless one, so the deleted point's data is gone
   * from memory and from the next saved file too. `erasure` scrubs, and also drops the search
   * view's copy of the graph at once (a user's erasure); a plain scrub (retention) leaves the copy,
   * which never returns a deleted label and is replaced by the next one.
   */
  remove(labels: readonly number[], options?: { scrub?: boolean; erasure?: boolean }): Promise<number>;
  /** The `k` nearest neighbours, best first, optionally among one owner's vectors only. */
  search(query: Float32Array, k: number, options?: { owner?: number; efSearch?: number }): Promise<HnswHit[]>;
  /** Writes the index atomically (temp file, fsync, rename) and returns the fingerprint to keep in LMDB. */
  save(): Promise<IndexWorkerFingerprint>;
  stats(): Promise<IndexWorkerStats>;
  /** How searches were answered: on the calling thread (the search view) or by the worker. */
  searchStats(): SearchViewStats;
  /** Frees the index in the worker (after pending operations). Idempotent. */
  close(): Promise<void>;
}

/** A worker thread holding any number of tenant indexes. */
export interface HnswIndexHost {
  readonly dimensions: number;
  /** The resolved options. */
  readonly options: ResolvedOptions;
  /**
   * Opens a tenant's index. With `expected` (the fingerprint of the last save) the files are
   * verified by checksum and loaded (`status: 'loaded'`); otherwise, or when they are missing or
   * do not match, an empty index is created and `status` says why.
   */
  open(tenant: TenantId, expected?: IndexWorkerFingerprint): Promise<HnswIndex>;
  /** Bumped whenever the worker thread is replaced; indexes of an older epoch must be reopened. */
  readonly epoch: number;
  /** Waits for pending operations, then stops the worker. Idempotent. */
  close(): Promise<void>;
}

/** File names of a tenant's index; safe on every file system and distinct per tenant. */
export function hnswIndexFiles(dir: string, tenant: TenantId): { file: string; ownersFile: string } {
  let h = 0x811c9dc5;
  for (let i = 0; i < tenant.length; i++) h = Math.imul(h ^ tenant.charCodeAt(i), 0x01000193);
  const base = `${tenant.replace(/[^A-Za-z0-9._-]/g, '_')}.${(h >>> 0).toString(16).padStart(8, '0')}`;
  return { file: join(dir, `${base}.hnsw`), ownersFile: join(dir, `${base}.owners`) };
}

/**
 * Translates a worker failure into a KeelError, once: file-system errors keep their meaning
 * (`storage_full`, `storage_failed`), everything else from hnswlib is `internal`.
 */
function translate(error: { message: string; code?: string }, op: string): KeelError {
  if (error.code === 'ENOSPC' || error.code === 'EDQUOT') return new KeelError('storage_full', `index ${op}: the index directory is out of space`, { cause: error });
  if (error.code?.startsWith('E')) return new KeelError('storage_failed', `index ${op} failed: ${error.message}`, { cause: error });
  return new KeelError('internal', `index ${op} failed: ${error.message}`, { cause: error });
}

/**
 * Creates a host: one worker thread for the HNSW indexes of many tenants.
 *
 * The worker starts on first use, is unreferenced while idle (it never keeps the process alive
 * by itself) and is replaced after a crash; pending calls then reject with `internal` and
 * indexes of the old worker must be reopened (see {@link HnswIndexHost.epoch}).
 *
 * @example
 * ```ts
 * const host = createHnswIndexHost({ dir: '.keel/index', dimensions: 384 });
 * const index = await host.open(tenantId('acme'));
 * await index.add({ labels: Uint32Array.of(0), owners: Uint32Array.of(7), vectors });
 * const hits = await index.search(query, 10, { owner: 7 });
 * const fingerprint = await index.save(); // keep it in LMDB; pass it to open() next time
 * await host.close();
 * ```
 */
export function createHnswIndexHost(options: HnswIndexHostOptions): HnswIndexHost {
  const o = resolveOptions(options);
  // Resolved against this module, so it works from dist/ and from the sources alike.
  const hnswlibPath = createRequire(import.meta.url).resolve('hnswlib-node');
  const source = indexWorkerSource();
  let worker: Worker | undefined;
  let epoch = 0;
  let nextId = 1;
  /** Numbers each opening of a tenant's index, so a late drop never closes a newer opening. */
  let nextInstance = 1;
  let closing: Promise<void> | undefined;
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void; op: string }>();
  /** Views of open indexes: closing the host waits for the copies they are reading. */
  const views = new Set<SearchView>();

  const failAll = (reason: KeelError) => {
    for (const entry of pending.values()) entry.reject(reason);
    pending.clear();
  };

  const start = (): Worker => {
    const w = new Worker(source, { eval: true, workerData: { hnswlibPath, nice: o.workerNice }, name: 'keel-hnsw-index' });
    w.on('message', (msg: IndexWorkerResponse) => {
      const entry = pending.get(msg.id);
      if (!entry) return;
      pending.delete(msg.id);
      if (pending.size === 0) w.unref();
      if (msg.ok) entry.resolve(msg.result);
      else entry.reject(translate(msg.error, entry.op));
    });
    const lost = (cause: unknown) => {
      if (worker !== w) return;
      worker = undefined;
      epoch++;
      failAll(new KeelError('internal', 'the index worker stopped; indexes must be reopened', { cause }));
    };
    w.on('error', lost);
    w.on('exit', (code) => lost(new Error(`index worker exited with code ${code}`)));
    w.unref();
    return w;
  };

  const request = <T>(message: RequestBody, transfer: ArrayBuffer[] = [], forEpoch?: number): Promise<T> => {
    if (closing) return Promise.reject(new KeelError('runtime_closed', 'the index host is closed'));
    if (forEpoch !== undefined && forEpoch !== epoch) {
      return Promise.reject(new KeelError('internal', 'the index worker was restarted; reopen the index'));
    }
    worker ??= start();
    const w = worker;
    const id = nextId++;
    return new Promise<T>((resolve, reject) => {
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject, op: message.op });
      if (pending.size === 1) w.ref();
      w.postMessage({ ...message, id } as IndexWorkerRequest, transfer);
    });
  };

  const open = async (tenant: TenantId, expected?: IndexWorkerFingerprint): Promise<HnswIndex> => {
    const files = hnswIndexFiles(o.dir, tenant);
    const spec: IndexWorkerSpec = {
      ...files,
      space: o.space,
      dimensions: o.dimensions,
      m: o.m,
      efConstruction: o.efConstruction,
      efSearch: o.efSearch,
      initialCapacity: o.initialCapacity,
      growthFactor: o.growthFactor,
      exactScanMaxLabels: o.exactScanMaxLabels,
      sliceMs: o.sliceMs,
      randomSeed: o.randomSeed,
    };
    const instance = nextInstance++;
    const opened = await request<{ status: IndexOpenStatus; live: number }>({ op: 'open', tenant, instance, spec, ...(expected ? { expected } : {}) });
    const myEpoch = epoch;
    let closed: Promise<void> | undefined;
    let inWorker = 0;
    const call = <T>(message: RequestBody, transfer?: ArrayBuffer[]) =>
      closed ? Promise.reject(new KeelError('runtime_closed', 'the index is closed')) : request<T>(message, transfer, myEpoch);
    let snapshots = 0;
    const view = o.searchOnEventLoop
      ? createSearchView({
          space: o.space,
          dimensions: o.dimensions,
          exactScanMaxLabels: o.exactScanMaxLabels,
          maxChanges: o.searchViewMaxChanges,
          snapshot: () => {
            // Named like the worker's temp files, so a copy left by a crash is removed at the next open.
            const file = `${files.file}.${process.pid}.view${++snapshots}.tmp`;
            return call<{ owners: Uint32Array; live: number }>({ op: 'snapshot', tenant, file }).then((r) => ({ ...r, file }));
          },
        })
      : undefined;
    if (view) views.add(view);
    return Object.freeze({
      tenant,
      status: opened.status,
      add(batch: HnswBatch) {
        const n = batch.labels.length;
        if (batch.owners.length !== n || batch.vectors.length !== n * o.dimensions) {
          return Promise.reject(new TypeError(`index add: expected ${n} owners and ${n * o.dimensions} floats`));
        }
        if (batch.owners.some((owner) => owner === 0)) return Promise.reject(new TypeError('index add: owner tags must be non-zero'));
        const buffers = [...new Set([batch.labels.buffer, batch.owners.buffer, batch.vectors.buffer])].filter((b): b is ArrayBuffer => b instanceof ArrayBuffer);
        if (!closed) view?.added(batch.labels, batch.owners, batch.vectors);
        return call<number>({ op: 'add', tenant, labels: batch.labels, owners: batch.owners, vectors: batch.vectors }, buffers);
      },
      remove(labels: readonly number[], removeOptions: { scrub?: boolean; erasure?: boolean } = {}) {
        const erasure = removeOptions.erasure === true;
        if (!closed) view?.removed(labels, erasure);
        return call<number>({ op: 'remove', tenant, labels: [...labels], scrub: erasure || removeOptions.scrub === true });
      },
      async search(query: Float32Array, k: number, searchOptions: { owner?: number; efSearch?: number } = {}) {
        if (query.length !== o.dimensions) throw new TypeError(`index search: expected a ${o.dimensions}-dimension query`);
        if (!Number.isInteger(k) || k < 1) throw new TypeError('index search: k must be a positive integer');
        // The view answers only for the live worker: after a crash the index must be reopened.
        const local = closed || epoch !== myEpoch ? undefined : view?.search(query, k, searchOptions.owner ?? 0, searchOptions.efSearch ?? o.efSearch);
        if (local) return local;
        if (!view) inWorker++;
        const r = await call<{ labels: number[]; distances: number[] }>({
          op: 'search',
          tenant,
          query,
          k,
          owner: searchOptions.owner ?? 0,
          efSearch: searchOptions.efSearch ?? o.efSearch,
        });
        return r.labels.map((label, i) => ({ label, distance: r.distances[i]! }));
      },
      save: () => call<IndexWorkerFingerprint>({ op: 'save', tenant }),
      stats: () => call<IndexWorkerStats>({ op: 'stats', tenant }),
      searchStats: () => view?.stats() ?? { loaded: false, changes: 0, onEventLoop: 0, inWorker, refreshes: 0 },
      close() {
        closed ??= (async () => {
          if (view) {
            await view.close();
            views.delete(view);
          }
          if (epoch === myEpoch && !closing) await request<boolean>({ op: 'drop', tenant, instance }).catch(() => undefined);
        })();
        return closed;
      },
    });
  };

  return {
    dimensions: o.dimensions,
    options: o,
    open,
    get epoch() {
      return epoch;
    },
    close() {
      closing ??= (async () => {
        // Let in-flight saves finish so no temp file is left half-written.
        await Promise.allSettled([...pending.values()].map((entry) => new Promise((resolve) => {
          const { resolve: res, reject: rej } = entry;
          entry.resolve = (v) => { resolve(v); res(v); };
          entry.reject = (e) => { resolve(e); rej(e); };
        })));
        await Promise.all([...views].map((v) => v.close()));
        views.clear();
        const w = worker;
        worker = undefined;
        epoch++;
        if (w) await w.terminate();
      })();
      return closing;
    },
  };
}
