/**
 * The memory store's public shapes: what to remember, how to recall, what comes back, and the
 * store's interface. The implementation is `memory-store.ts`.
 */
import type { SessionId, TenantId, UserId } from '../types.js';
import type { IndexStats } from './hnsw-index-cache.js';
import type { MemoryKind } from './memory-records.js';

/** What to remember. */
export interface RememberInput {
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly text: string;
  /** Default `'message'`. */
  readonly kind?: MemoryKind;
  /** The session it was said in. */
  readonly session?: SessionId;
}

/** A memory as returned by recall. */
export interface MemoryHit {
  readonly memoryId: string;
  readonly text: string;
  /** Cosine similarity of the query to the stored embedding. */
  readonly score: number;
  readonly kind: MemoryKind;
  /** When it was remembered (ms since the epoch, from the store's clock). */
  readonly time: number;
  readonly session: SessionId | null;
}

/** A recall request; always scoped to one user of one tenant. */
export interface RecallInput {
  readonly tenant: TenantId;
  readonly user: UserId;
  readonly query: string;
  /** Hits wanted. Default 5. */
  readonly k?: number;
  /** Only these kinds. Default: all. */
  readonly kinds?: readonly MemoryKind[];
  /** Hits below this similarity are left out. Default: none. */
  readonly minScore?: number;
  readonly signal?: AbortSignal;
}

/** The memory store. */
export interface MemoryStore {
  /** Stores a memory and indexes it; resolves after the commit and after retention ran. */
  remember(input: RememberInput): Promise<{ memoryId: string; time: number }>;
  /**
   * Stores many memories (an import, a benchmark): embedded in batches, committed in chunks of
   * `bulkChunkSize` (one transaction and one index batch each), retention applied once at the
   * end. A chunk is posted only when at most one earlier chunk waits for the index worker, so the
   * import goes at the index's pace; {@link indexStats} waits for the last chunks.
   */
  rememberMany(inputs: readonly RememberInput[], signal?: AbortSignal): Promise<Array<{ memoryId: string; time: number }>>;
  /** The user's memories most similar to `query`, best first. */
  recall(input: RecallInput): Promise<MemoryHit[]>;
  /**
   * Deletes one memory of the user, or all of them; returns how many were deleted. The deleted
   * vectors are overwritten in the index before they are marked deleted (erasure, not just hiding).
   */
  forget(input: { tenant: TenantId; user: UserId; memoryId?: string }): Promise<number>;
  /** Number of memories of a user, or of the tenant. */
  count(tenant: TenantId, user?: UserId): number;
  /** Resolves when the tenant's index is loaded or rebuilt (recall is exact from LMDB meanwhile). */
  whenIndexed(tenant: TenantId): Promise<void>;
  /** The tenant's index size and how its file was found; resolves after every change posted so far is applied. */
  indexStats(tenant: TenantId): Promise<IndexStats>;
  /** Saves the tenant's index now. */
  saveIndex(tenant: TenantId): Promise<void>;
  /** Stops taking work, waits for work in flight, saves changed indexes, stops the index worker. Idempotent. */
  close(): Promise<void>;
}
