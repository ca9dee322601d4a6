/**
 * The one LMDB environment of a keel data directory and its named databases (DESIGN §2).
 * This module and the other adapters under `src/store` are the only places that import `lmdb`;
 * they translate its errors into KeelErrors once.
 */
import { mkdirSync, statSync, statfsSync } from 'node:fs';
import { resolve } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { KeelError } from '../errors.js';

/** Names of the databases inside the environment. */
export const DB_NAMES = ['sessions', 'journal', 'messages', 'users', 'memories', 'events', 'audit', 'effects', 'timers', 'meta', 'owners'] as const;
export type DbName = (typeof DB_NAMES)[number];

/**
 * Where each database keeps the msgpack record structures its values share (lmdb-js
 * `sharedStructuresKey`). Without it, msgpackr defines every object's structure inside every value
 * (its keys, as strings) and builds that definition again on each write: a turn's four writes
 * spent about a tenth of its CPU time there. With it, a value names its structure in one byte; a
 * new structure is saved once, in a transaction of its own. Values written before (each carrying
 * its own definitions) still read: msgpackr restores the shared structures after such a value.
 * Range reads skip this key; LMDB's entry counts include it ({@link countEntries}).
 */
export const STRUCTURES_KEY: unique symbol = Symbol.for('keel.structures');

/**
 * The number of entries of `db` from LMDB's statistics (no scan), not counting the shared
 * structures entry.
 *
 * @example
 * ```ts
 * countEntries(env.db('sessions')); // 0 for a new environment
 * ```
 */
export function countEntries(db: Database): number {
  const all = (db.getStats() as { entryCount?: number }).entryCount ?? 0;
  return db.doesExist(STRUCTURES_KEY) ? all - 1 : all;
}

/** An opened environment with its named databases. */
export interface LmdbEnv {
  readonly root: RootDatabase;
  readonly dir: string;
  db(name: DbName): Database;
  /** Resolves when every write issued so far is committed and synced to disk. */
  flushed(): Promise<void>;
  /** Flushes and closes. Idempotent. */
  close(): Promise<void>;
}

export interface OpenEnvOptions {
  /** The data directory; the environment lives in `<dir>/keel.mdb`. */
  readonly dir: string;
  /** Optional second encryption layer (32 bytes), lmdb's own `encryptionKey`. */
  readonly encryptionKey?: Uint8Array;
  /** Map size hint in bytes; lmdb-js grows it as needed. */
  readonly mapSizeBytes?: number;
}

/** How long a closing environment waits after its last flush for lmdb-js's writer thread (see close). */
const CLOSE_GRACE_MS = 20;

/**
 * Opens (creating if needed) the environment under `dir`.
 *
 * @example
 * ```ts
 * const env = openEnv({ dir: './.keel' });
 * await env.db('sessions').put('s-1', { seq: 0 });
 * await env.flushed();
 * ```
 */
export function openEnv(options: OpenEnvOptions): LmdbEnv {
  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  installCommitRejectionGuard();
  const path = resolve(options.dir, 'keel.mdb');
  let shared = sharedRoots.get(path);
  if (!shared) {
    // LMDB writes its first pages through the memory map: on a full disk that is a SIGBUS that
    // ends the process with no word, and leaves an empty file behind. Refused here instead.
    if (isNewFile(path) && diskNearlyFull(options.dir)) {
      throw new KeelError('storage_full', 'the data directory is out of space: a new environment cannot be created there');
    }
    try {
      shared = {
        root: open({
          path,
          maxDbs: 16,
          mapSize: options.mapSizeBytes ?? 256 * 1024 * 1024,
          // Each write's promise carries the sync of its own transaction (`flushed`): a turn waits
          // for its writes to reach the disk, not for a later group commit's (docs/benchmarks.md).
          separateFlushed: true,
          ...(options.encryptionKey ? { encryptionKey: Buffer.from(options.encryptionKey) } : {}),
        }),
        refs: 0,
      };
    } catch (err) {
      throw translateLmdbError(err);
    }
    sharedRoots.set(path, shared);
  }
  shared.refs++;
  const entry = shared;
  const { root } = entry;
  const dbs = new Map<DbName, Database>();
  let closing: Promise<void> | undefined;
  return {
    root,
    dir: options.dir,
    db(name) {
      let db = dbs.get(name);
      if (!db) {
        db = root.openDB({ name, sharedStructuresKey: STRUCTURES_KEY });
        dbs.set(name, db);
      }
      return db;
    },
    async flushed() {
      try {
        await root.flushed;
      } catch (err) {
        throw await translateCommitError(err, options.dir);
      }
    },
    close() {
      closing ??= (async () => {
        // A failed last commit must not stop the close; it was already reported to its turn.
        await Promise.resolve(root.flushed).catch(() => undefined);
        entry.refs--;
        if (entry.refs > 0) return;
        if (sharedRoots.get(path) === entry) sharedRoots.delete(path);
        // lmdb-js's writer thread makes a commit visible to JavaScript before it is done with it: it
        // then notifies the environment's listeners. Closing the environment in between frees what
        // that thread still reads, and the process dies (a core dump of a test process:
        // WriteWorker::Write, notifyUserCallbacks, on a closed environment). A short wait after the
        // last flush leaves the thread that moment; it narrows lmdb-js's race, it cannot close it.
        await new Promise((resolve) => setTimeout(resolve, CLOSE_GRACE_MS));
        await Promise.resolve(root.flushed).catch(() => undefined);
        await root.close();
      })();
      return closing;
    },
  };
}

/**
 * Environments open in this process, by file, shared by every `openEnv` of the same directory
 * (a CLI command run in-process next to a server, a second runtime). LMDB forbids opening one
 * environment twice in a process, and with lmdb-js two handles deadlock: opening a named
 * database is a write transaction on the main thread, which waits for the other handle's write
 * transaction, which waits for its callback on that same main thread.
 */
const sharedRoots = new Map<string, { readonly root: RootDatabase; refs: number }>();

/** Translates an lmdb or file-system error into a KeelError (`storage_full` or `storage_failed`). */
export function translateLmdbError(err: unknown): KeelError {
  if (err instanceof KeelError) return err;
  const e = err as { code?: string; message?: string } | undefined;
  const text = `${e?.code ?? ''} ${e?.message ?? String(err)}`;
  if (/ENOSPC|MDB_MAP_FULL|No space left/i.test(text)) {
    return new KeelError('storage_full', 'the data directory is out of space; nothing was committed', { cause: err });
  }
  return new KeelError('storage_failed', `storage commit failed: ${e?.message ?? String(err)}`, { cause: err });
}

/**
 * Translates a failed lmdb-js commit. lmdb-js rejects with "Commit failed" and puts the cause in a
 * `commitError` promise; a file system that ran out of space often reports EIO for the memory-mapped
 * write, so free space in the data directory decides between `storage_full` and `storage_failed`.
 */
export async function translateCommitError(err: unknown, dir: string): Promise<KeelError> {
  if (err instanceof KeelError) return err;
  let cause: unknown = err;
  const wrapped = (err as { commitError?: unknown } | undefined)?.commitError;
  if (wrapped && typeof (wrapped as Promise<unknown>).then === 'function') {
    cause = await (wrapped as Promise<unknown>).then(() => err, (inner: unknown) => inner);
  }
  const translated = translateLmdbError(cause);
  if (translated.code === 'storage_failed' && diskNearlyFull(dir)) {
    return new KeelError('storage_full', 'the data directory is out of space; nothing was committed', { cause });
  }
  return translated;
}

/** True when the environment file does not exist yet or is empty (a creation that never finished). */
function isNewFile(path: string): boolean {
  try {
    return statSync(path).size === 0;
  } catch {
    return true;
  }
}

function diskNearlyFull(dir: string): boolean {
  try {
    const stats = statfsSync(dir);
    // Less than 1 MiB left for an unprivileged writer: a commit of a few pages cannot land.
    return stats.bavail * stats.bsize < 1024 * 1024;
  } catch {
    return false;
  }
}

/**
 * Marks an lmdb-js write promise as observed, including the `commitError` promise lmdb-js attaches
 * to a failed commit's errors and never handles itself (lmdb-js issue #368), which would otherwise
 * surface as an unhandled rejection and, under Node's defaults, end the process. Callers still
 * await the returned promise to learn about the failure.
 */
export function observeWrite<T>(write: Promise<T>): Promise<T> {
  write.catch((err: unknown) => {
    const commitError = (err as { commitError?: Promise<unknown> } | undefined)?.commitError;
    if (commitError && typeof commitError.catch === 'function') commitError.catch(() => undefined);
  });
  return write;
}

/** True for the error lmdb-js uses for every write of a failed commit. */
export function isLmdbCommitFailure(reason: unknown): boolean {
  return (
    reason instanceof Error &&
    reason.message === 'Commit failed (see commitError for details)' &&
    typeof (reason as { commitError?: { then?: unknown } }).commitError?.then === 'function'
  );
}

let guardInstalled = false;

/**
 * lmdb-js rejects an internal batch promise that nothing can reach when a commit fails (issue
 * #368), so a full disk would end the process through an unhandled rejection even though keel
 * reports the failure to the turn (`storage_full`). This listener drops exactly that error. When it
 * is the only listener it rethrows anything else, so Node's default for other rejections stays.
 */
function installCommitRejectionGuard(): void {
  if (guardInstalled) return;
  guardInstalled = true;
  process.on('unhandledRejection', (reason) => {
    if (isLmdbCommitFailure(reason)) {
      (reason as unknown as { commitError: Promise<unknown> }).commitError.catch(() => undefined);
      return;
    }
    if (process.listenerCount('unhandledRejection') === 1) throw reason;
  });
}
