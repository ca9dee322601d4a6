/**
 * The one LMDB environment of a keel data directory and its named databases (DESIGN §2).
 * This module and the other adapters under `src/store` are the only places that import `lmdb`;
 * they translate its errors into KeelErrors once.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { open, type Database, type RootDatabase } from 'lmdb';
import { KeelError } from '../errors.js';

/** Names of the databases inside the environment. */
export const DB_NAMES = ['sessions', 'journal', 'messages', 'users', 'memories', 'events', 'audit', 'effects', 'timers', 'meta'] as const;
export type DbName = (typeof DB_NAMES)[number];

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
  let root: RootDatabase;
  try {
    root = open({
      path: join(options.dir, 'keel.mdb'),
      maxDbs: 16,
      mapSize: options.mapSizeBytes ?? 256 * 1024 * 1024,
      ...(options.encryptionKey ? { encryptionKey: Buffer.from(options.encryptionKey) } : {}),
    });
  } catch (err) {
    throw translateLmdbError(err);
  }
  const dbs = new Map<DbName, Database>();
  let closing: Promise<void> | undefined;
  return {
    root,
    dir: options.dir,
    db(name) {
      let db = dbs.get(name);
      if (!db) {
        db = root.openDB({ name });
        dbs.set(name, db);
      }
      return db;
    },
    async flushed() {
      try {
        await root.flushed;
      } catch (err) {
        throw translateLmdbError(err);
      }
    },
    close() {
      closing ??= (async () => {
        try {
          await root.flushed;
        } finally {
          await root.close();
        }
      })();
      return closing;
    },
  };
}

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
