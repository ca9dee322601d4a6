/**
 * A real memory over a temporary data directory: LMDB, the AES sealer with per-tenant keys, a
 * manual clock, the index worker. `reopen()` closes everything and opens it again (a restart).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createManualClock, type ManualClock } from '../../../../src/clock.js';
import type { Sealer } from '../../../../src/ports.js';
import { createTenantSealer } from '../../../../src/security/tenant-sealer.js';
import { createTenantKeyStore } from '../../../../src/security/tenant-keys.js';
import { openEnv, type LmdbEnv } from '../../../../src/store/lmdb-env.js';
import { plainSealer } from '../../../../src/store/session-store.js';
import { createUserMemory, type MemoryOptions, type UserMemory } from '../../../../src/memory/user-memory.js';
import { tempDir } from '../../../support/temp-dir.js';

export interface MemoryFixture {
  readonly dir: string;
  readonly indexDir: string;
  readonly clock: ManualClock;
  env: LmdbEnv;
  memory: UserMemory;
  reopen(options?: MemoryOptions): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens a memory fixture.
 *
 * @example
 * ```ts
 * const f = await openMemoryFixture({ maxMemoriesPerUser: 5 });
 * await f.memory.memories.remember({ tenant, user, text: 'hello' });
 * await f.close();
 * ```
 */
export async function openMemoryFixture(options: MemoryOptions = {}, config: { plain?: boolean } = {}): Promise<MemoryFixture> {
  const temp = tempDir('keel-memory-');
  const clock = createManualClock(1_700_000_000_000);
  const indexDir = join(temp.dir, 'memory-index');
  const sealerFor = (): Sealer => (config.plain ? plainSealer : createTenantSealer({ keys: createTenantKeyStore({ dir: temp.dir, clock }) }));
  const open = (o: MemoryOptions) => {
    const env = openEnv({ dir: temp.dir });
    try {
      return { env, memory: createUserMemory({ env, sealer: sealerFor(), clock, indexDir, ...o }) };
    } catch (err) {
      void env.close();
      throw err;
    }
  };
  let current: ReturnType<typeof open>;
  try {
    current = open(options);
  } catch (err) {
    // Options refused: nothing of the fixture stays behind.
    temp.remove();
    throw err;
  }
  let closed = false;
  const f: MemoryFixture = {
    dir: temp.dir,
    indexDir,
    clock,
    env: current.env,
    memory: current.memory,
    async reopen(next = options) {
      await current.memory.close();
      await current.env.close();
      current = open(next);
      f.env = current.env;
      f.memory = current.memory;
    },
    async close() {
      if (closed) return;
      closed = true;
      await current.memory.close();
      await current.env.close();
      temp.remove();
    },
  };
  return f;
}

/** Every index file's bytes, concatenated (for scans). */
export function indexBytes(indexDir: string): Buffer {
  let names: string[] = [];
  try {
    names = readdirSync(indexDir);
  } catch {
    return Buffer.alloc(0);
  }
  return Buffer.concat(names.map((n) => readFileSync(join(indexDir, n))));
}

/**
 * The bytes hnswlib stores for a vector in a cosine index: the vector normalised in single
 * precision exactly as hnswlib-node does (sequential float dot product, float sqrt, float division).
 */
export function storedVectorBytes(vector: Float32Array): Buffer {
  const f = Math.fround;
  let acc = 0;
  for (const x of vector) acc = f(acc + f(x * x));
  const norm = f(Math.sqrt(Math.abs(acc)));
  const out = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) out[i] = norm > 0 ? f(vector[i]! / norm) : vector[i]!;
  return Buffer.from(out.buffer);
}
