/**
 * Options of the memory store: limits, retention, index saving and the HNSW parameters, with
 * their defaults and the validation that names a bad option.
 */
import type { Clock, Embedder, Sealer } from '../ports.js';
import type { LmdbEnv } from '../store/lmdb-env.js';
import type { HnswIndexHostOptions } from './hnsw-index.js';
import type { RetentionPolicy } from './memory-retention.js';

/** Options of `createMemoryStore`. */
export interface MemoryStoreOptions {
  /** The opened LMDB environment; the store uses its `memories` database. Required. */
  readonly env: LmdbEnv;
  /** Turns texts into vectors. Required. */
  readonly embedder: Embedder;
  /** Seals texts and embeddings at rest with the tenant's key. Required. */
  readonly sealer: Sealer;
  /** Source of time for memory timestamps and save timers. Required. */
  readonly clock: Clock;
  /** Directory of the per-tenant index files (caches). Required. */
  readonly indexDir: string;
  /** Memories kept per user before the oldest are summarised or dropped. Default 1000. */
  readonly maxMemoriesPerUser?: number;
  /** Memories kept per tenant before the oldest are summarised or dropped. Default 100 000. */
  readonly maxMemoriesPerTenant?: number;
  /** What happens to memories over a limit. Default `'summarise'`. */
  readonly retention?: RetentionPolicy;
  /** Oldest memories folded into one summary at a time. Default 20. */
  readonly summariseBatchSize?: number;
  /** Longest text accepted by `remember`, in characters. Default 8192. */
  readonly maxTextChars?: number;
  /** Largest `k` of a recall. Default 50. */
  readonly maxRecallK?: number;
  /** Candidates fetched from the index per requested hit, to absorb filtered-out candidates. Default 2. */
  readonly searchOverfetch?: number;
  /** Save an index after this many changes. Default 1000. */
  readonly saveAfterChanges?: number;
  /** Save an index at the latest this long after its first unsaved change. Default 30 000 ms. */
  readonly saveDelayMs?: number;
  /** Records read per step of an index rebuild. Default 256. */
  readonly rebuildBatchSize?: number;
  /**
   * Memories committed per transaction by `rememberMany`; each chunk is one LMDB commit and one
   * batch for the index worker. An import posts a chunk only when at most one earlier chunk waits
   * for the worker, so the chunk bounds how long a search in the same tenant waits, and how much
   * the event loop holds at once. Default 8: the event loop's longest delay during a 100k import
   * was 9.3-15.5 ms against 12.9-32.7 ms with chunks of 32, at 4 % of the import's rate
   * (docs/benchmarks.md; the index, not the commits, sets an import's pace).
   */
  readonly bulkChunkSize?: number;
  /** HNSW parameters (`m`, `efConstruction`, `efSearch`, ...); `dir` and `dimensions` come from above. */
  readonly index?: Omit<HnswIndexHostOptions, 'dir' | 'dimensions'>;
}

/** The defaults of {@link MemoryStoreOptions}. */
export const defaultMemoryStoreOptions = Object.freeze({
  maxMemoriesPerUser: 1000,
  maxMemoriesPerTenant: 100_000,
  retention: 'summarise' as RetentionPolicy,
  summariseBatchSize: 20,
  maxTextChars: 8192,
  maxRecallK: 50,
  searchOverfetch: 2,
  saveAfterChanges: 1000,
  saveDelayMs: 30_000,
  rebuildBatchSize: 256,
  bulkChunkSize: 8,
});

/** Options with every default filled in. */
export type ResolvedMemoryStoreOptions = Readonly<MemoryStoreOptions & typeof defaultMemoryStoreOptions>;

/**
 * Fills defaults, validates (a TypeError names the bad option) and freezes.
 *
 * @example
 * ```ts
 * resolveMemoryStoreOptions({ env, embedder, sealer, clock, indexDir, maxMemoriesPerUser: 0 }); // TypeError: ... maxMemoriesPerUser ...
 * ```
 */
export function resolveMemoryStoreOptions(options: MemoryStoreOptions): ResolvedMemoryStoreOptions {
  if (options === null || typeof options !== 'object') throw new TypeError('memory store options must be an object');
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  const o = { ...defaultMemoryStoreOptions, ...defined } as MemoryStoreOptions & typeof defaultMemoryStoreOptions;
  for (const name of ['env', 'embedder', 'sealer', 'clock'] as const) {
    if (o[name] === null || typeof o[name] !== 'object') throw new TypeError(`memory store option ${name} is required`);
  }
  if (typeof o.embedder.embed !== 'function' || !Number.isInteger(o.embedder.dimensions) || o.embedder.dimensions < 1) {
    throw new TypeError('memory store option embedder must implement embed() and have positive integer dimensions');
  }
  if (typeof o.indexDir !== 'string' || o.indexDir === '') throw new TypeError('memory store option indexDir must be a non-empty path');
  const int = (name: keyof typeof defaultMemoryStoreOptions, min: number, max: number) => {
    const v = o[name];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) throw new TypeError(`memory store option ${name} must be an integer in [${min}, ${max}]`);
  };
  int('maxMemoriesPerUser', 1, 10_000_000);
  int('maxMemoriesPerTenant', 1, 100_000_000);
  int('summariseBatchSize', 2, 10_000);
  int('maxTextChars', 1, 1_000_000);
  int('maxRecallK', 1, 10_000);
  int('searchOverfetch', 1, 100);
  int('saveAfterChanges', 1, 100_000_000);
  int('saveDelayMs', 0, 86_400_000);
  int('rebuildBatchSize', 1, 100_000);
  int('bulkChunkSize', 1, 100_000);
  if (o.retention !== 'summarise' && o.retention !== 'drop') throw new TypeError("memory store option retention must be 'summarise' or 'drop'");
  if (o.index !== undefined && (o.index === null || typeof o.index !== 'object')) throw new TypeError('memory store option index must be an object');
  return Object.freeze(o);
}
