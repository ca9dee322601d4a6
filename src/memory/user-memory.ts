/**
 * A user's memory as the runtime and the agent see it: the structured context (profile, facts,
 * preferences, intent history, open tasks, sessions by channel) and the long-term memories
 * recalled by meaning. Both live in the runtime's LMDB environment, sealed with the tenant's key;
 * the per-tenant HNSW index files under `indexDir` are caches rebuilt from LMDB when needed.
 */
import { KeelError } from '../errors.js';
import type { Clock, Embedder, Sealer } from '../ports.js';
import type { LmdbEnv } from '../store/lmdb-env.js';
import { isValidId, type TenantId, type UserId } from '../types.js';
import { createLocalEmbedder } from './local-embedder.js';
import { createMemoryStore, type MemoryStore } from './memory-store.js';
import type { MemoryStoreOptions } from './memory-store-options.js';
import { createUserContextStore, defaultUserContextStoreOptions, type UserContextStore } from './user-context-store.js';
import type { UserContextLimits } from './user-context.js';

/**
 * What can be configured about memory (the runtime's `memory` option): the embedder, the limits
 * of contexts and memories, retention, index saving and HNSW parameters.
 */
export interface MemoryOptions extends Partial<UserContextLimits> {
  /** Turns texts into vectors. Default: the local embedder (384 dimensions, offline). */
  readonly embedder?: Embedder;
  /** Directory of the per-tenant index files. Default `<dataDir>/memory-index`. */
  readonly indexDir?: string;
  /** Largest sealed user context in bytes. Default 256 KiB. */
  readonly maxContextBytes?: number;
  readonly maxMemoriesPerUser?: MemoryStoreOptions['maxMemoriesPerUser'];
  readonly maxMemoriesPerTenant?: MemoryStoreOptions['maxMemoriesPerTenant'];
  readonly retention?: MemoryStoreOptions['retention'];
  readonly summariseBatchSize?: MemoryStoreOptions['summariseBatchSize'];
  readonly maxTextChars?: MemoryStoreOptions['maxTextChars'];
  readonly saveAfterChanges?: MemoryStoreOptions['saveAfterChanges'];
  readonly saveDelayMs?: MemoryStoreOptions['saveDelayMs'];
  readonly bulkChunkSize?: MemoryStoreOptions['bulkChunkSize'];
  readonly index?: MemoryStoreOptions['index'];
}

/** Options of {@link createUserMemory}: {@link MemoryOptions} plus what the runtime provides. */
export interface UserMemoryOptions extends MemoryOptions {
  /** The opened LMDB environment (databases `users` and `memories`). Required. */
  readonly env: LmdbEnv;
  /** Seals contexts and memories at rest with the tenant's key. Required. */
  readonly sealer: Sealer;
  /** Time source. Required. */
  readonly clock: Clock;
  /** Directory of the per-tenant index files. Required here (the runtime passes its default). */
  readonly indexDir: string;
}

/** What {@link UserMemory.forget} erased. */
export interface MemoryErasure {
  /** Memories deleted (their index vectors overwritten, and the index saved without them). */
  readonly memories: number;
  /** Whether the user had a structured context. */
  readonly context: boolean;
}

/** The structured context and memories of every user of a runtime. */
export interface UserMemory {
  readonly contexts: UserContextStore;
  readonly memories: MemoryStore;
  readonly embedder: Embedder;
  /**
   * Erases one user: their context, their memories and their vectors in the tenant's index,
   * whose file is saved again at once so no copy of the vectors stays on disk.
   */
  forget(tenant: TenantId, user: UserId): Promise<MemoryErasure>;
  /** Waits for work in flight, saves changed indexes, stops the index worker. Idempotent. */
  close(): Promise<void>;
}

/** The {@link MemoryOptions} handed on to the memory store. */
const MEMORY_STORE_OPTION_NAMES = [
  'maxMemoriesPerUser', 'maxMemoriesPerTenant', 'retention', 'summariseBatchSize', 'maxTextChars', 'saveAfterChanges', 'saveDelayMs', 'bulkChunkSize', 'index',
] as const;
/** The {@link MemoryOptions} handed on to the user context store. */
const CONTEXT_STORE_OPTION_NAMES = Object.keys(defaultUserContextStoreOptions) as Array<keyof typeof defaultUserContextStoreOptions>;
const MEMORY_OPTION_NAMES = new Set<string>(['embedder', 'indexDir', ...MEMORY_STORE_OPTION_NAMES, ...CONTEXT_STORE_OPTION_NAMES]);

/**
 * Checks the runtime's `memory` option: `'none'` or an object of known {@link MemoryOptions}.
 * Values are validated when the stores are created; unknown names are caught here.
 *
 * @example
 * ```ts
 * checkMemoryOptions({ maxMemoriesPerUser: 500 }); // ok
 * checkMemoryOptions({ maxMemories: 5 });          // TypeError: option memory.maxMemories is not a memory option
 * ```
 */
export function checkMemoryOptions(value: unknown): asserts value is MemoryOptions | 'none' | undefined {
  if (value === undefined || value === 'none') return;
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TypeError("option memory must be an object of memory options or 'none'");
  for (const name of Object.keys(value)) {
    if (!MEMORY_OPTION_NAMES.has(name)) throw new TypeError(`option memory.${name} is not a memory option`);
  }
}

/**
 * Creates the memory of a runtime. Nothing starts until it is used: the index worker thread
 * starts with the first memory of a tenant and idles unreferenced.
 *
 * @example
 * ```ts
 * const memory = createUserMemory({ env, sealer, clock: systemClock, indexDir: './.keel/memory-index' });
 * await memory.contexts.recordFact(tenant, user, { key: 'orderId', value: '1042', source: session });
 * await memory.memories.remember({ tenant, user, text: 'Please never call me before 9am', session });
 * (await memory.memories.recall({ tenant, user, query: 'when can we call?' }))[0]?.text;
 * await memory.close();
 * ```
 */
export function createUserMemory(options: UserMemoryOptions): UserMemory {
  if (options === null || typeof options !== 'object') throw new TypeError('user memory options must be an object');
  const { env, sealer, clock, indexDir, ...rest } = options;
  checkMemoryOptions(rest);
  if (typeof indexDir !== 'string' || indexDir === '') throw new TypeError('option memory.indexDir must be a non-empty path');
  // Bulk inserts embed in slices of 32 texts between yields, so chat turns are not held up.
  const embedder = options.embedder ?? createLocalEmbedder({ yieldEveryTexts: 32 });
  const given = options as unknown as Record<string, unknown>;
  const pick = (names: readonly string[]) => Object.fromEntries(names.filter((n) => given[n] !== undefined).map((n) => [n, given[n]]));
  const contexts = createUserContextStore({ env, sealer, clock, ...pick(CONTEXT_STORE_OPTION_NAMES) });
  const memories = createMemoryStore({ env, sealer, clock, indexDir, embedder, ...pick(MEMORY_STORE_OPTION_NAMES) });
  let closing: Promise<void> | undefined;
  return {
    contexts,
    memories,
    embedder,
    async forget(tenant, user) {
      if (closing) throw new KeelError('runtime_closed', 'the memory is closed');
      if (!isValidId(tenant) || !isValidId(user)) throw new TypeError('memory: tenant and user must be valid ids');
      const erased = await memories.forget({ tenant, user });
      const context = await contexts.forget(tenant, user);
      // Written again even when nothing was erased now: the last saved file may still hold vectors
      // scrubbed since (by retention, or by an earlier erasure whose save failed). Last, so a failed
      // save (a full disk) leaves the context erased too, and a retry saves again.
      await memories.saveIndex(tenant);
      return { memories: erased, context };
    },
    close() {
      closing ??= Promise.allSettled([contexts.close(), memories.close()]).then(() => undefined);
      return closing;
    },
  };
}
