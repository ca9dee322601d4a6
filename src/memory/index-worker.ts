/**
 * The body of the HNSW index worker thread and its message protocol.
 *
 * hnswlib-node inserts on the calling thread (about 1 ms per point at 100k × 384), so every
 * tenant's index lives in a worker and the event loop only posts messages. The body is one
 * self-contained function that {@link indexWorkerSource} serialises and the host starts with
 * `new Worker(source, { eval: true })`: the same code then runs from compiled `dist/` and from the
 * TypeScript sources under vitest, with no file path to resolve and no loader to install. Its one
 * dependency, hnswlib-node, is resolved to an absolute path by the host (relative to the host
 * module's `import.meta.url`) and passed in `workerData`.
 *
 * Rules for the function body, because it is serialised: it references nothing from module scope
 * (only its `load` parameter and globals), and uses only syntax Node 20 runs untranspiled.
 */
import type * as Crypto from 'node:crypto';
import type * as Fs from 'node:fs';
import type * as Os from 'node:os';
import type * as Path from 'node:path';
import type * as WorkerThreads from 'node:worker_threads';
import type * as HnswlibModule from 'hnswlib-node';

/** A worker request; `tenant` picks one of the per-tenant indexes the worker holds. */
export type IndexWorkerRequest =
  | { id: number; op: 'open'; tenant: string; instance: number; spec: IndexWorkerSpec; expected?: IndexWorkerFingerprint }
  | { id: number; op: 'add'; tenant: string; labels: Uint32Array; owners: Uint32Array; vectors: Float32Array }
  | { id: number; op: 'remove'; tenant: string; labels: number[]; scrub: boolean }
  | { id: number; op: 'search'; tenant: string; query: Float32Array; k: number; owner: number; efSearch: number }
  | { id: number; op: 'save'; tenant: string }
  | { id: number; op: 'snapshot'; tenant: string; file: string }
  | { id: number; op: 'stats'; tenant: string }
  | { id: number; op: 'drop'; tenant: string; instance: number };

/** What the worker needs to create or load one tenant's index. */
export interface IndexWorkerSpec {
  readonly file: string;
  readonly ownersFile: string;
  readonly space: 'cosine' | 'ip' | 'l2';
  readonly dimensions: number;
  readonly m: number;
  readonly efConstruction: number;
  readonly efSearch: number;
  readonly initialCapacity: number;
  readonly growthFactor: number;
  readonly exactScanMaxLabels: number;
  readonly sliceMs: number;
  readonly randomSeed: number;
}

/** Identifies the exact bytes of a saved index and its owner table. */
export interface IndexWorkerFingerprint {
  readonly indexSha256: string;
  readonly ownersSha256: string;
  readonly live: number;
}

/** How `open` found the files: `loaded` (verified), or an empty index was created because they were missing or corrupt. */
export type IndexOpenStatus = 'loaded' | 'created' | 'missing' | 'corrupt';

export interface IndexWorkerStats {
  readonly live: number;
  readonly count: number;
  readonly capacity: number;
}

/** A worker reply; failures carry the original message and, for file errors, the errno code. */
export type IndexWorkerResponse =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { message: string; code?: string } };

type Load = (id: string) => unknown;

/**
 * The worker's main function. Never call it on the main thread: it takes over `parentPort`.
 * @internal
 */
export function indexWorkerMain(load: Load): void {
  const { parentPort, workerData } = load('node:worker_threads') as typeof WorkerThreads;
  const fs = load('node:fs') as typeof Fs;
  const path = load('node:path') as typeof Path;
  const crypto = load('node:crypto') as typeof Crypto;
  const hnswlib = load((workerData as { hnswlibPath: string }).hnswlibPath) as typeof HnswlibModule;
  if (!parentPort) return;
  const port = parentPort;
  const nice = (workerData as { nice?: number }).nice ?? 0;
  if (nice > 0) {
    try {
      // On Linux a thread id given to setpriority renices that thread only, not the process.
      const tid = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
      if (Number.isInteger(tid) && tid > 0) (load('node:os') as typeof Os).setPriority(tid, nice);
    } catch {
      // Not Linux, or not allowed: the worker keeps the process's priority.
    }
  }

  interface TenantIndex {
    spec: IndexWorkerSpec;
    index: HnswlibModule.HierarchicalNSW;
    owners: Uint32Array;
    ownerLabels: Map<number, Set<number>>;
    live: number;
    scratch: number[];
    tail: Promise<unknown>;
    mutationsDone: Promise<unknown>;
    /** Which opening of the tenant this is: a drop names the one it closes. */
    instance?: number;
  }
  const tenants = new Map<string, TenantIndex>();
  let tmpSeq = 0;
  const OWNERS_MAGIC = 0x4e574f4b; // "KOWN": guards against loading some other file as an owner table.

  const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
  const sha256File = (file: string) =>
    new Promise<string>((resolve, reject) => {
      const hash = crypto.createHash('sha256');
      fs.createReadStream(file).on('error', reject).on('data', (chunk) => hash.update(chunk)).on('end', () => resolve(hash.digest('hex')));
    });
  const fsyncPath = async (file: string, flags: string) => {
    const handle = await fs.promises.open(file, flags);
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  };

  const createEmpty = (spec: IndexWorkerSpec): TenantIndex => {
    const index = new hnswlib.HierarchicalNSW(spec.space, spec.dimensions);
    // Label reuse keeps slots stable without allowReplaceDeleted: re-adding a deleted label unmarks and overwrites its own slot.
    index.initIndex(spec.initialCapacity, spec.m, spec.efConstruction, spec.randomSeed, false);
    index.setEf(spec.efSearch);
    return wrap(spec, index, new Uint32Array(spec.initialCapacity));
  };

  const wrap = (spec: IndexWorkerSpec, index: HnswlibModule.HierarchicalNSW, owners: Uint32Array): TenantIndex => {
    const ownerLabels = new Map<number, Set<number>>();
    let live = 0;
    for (let label = 0; label < owners.length; label++) {
      const owner = owners[label]!;
      if (owner === 0) continue;
      live++;
      let set = ownerLabels.get(owner);
      if (!set) ownerLabels.set(owner, (set = new Set()));
      set.add(label);
    }
    const scratch = new Array<number>(spec.dimensions).fill(0);
    return { spec, index, owners, ownerLabels, live, scratch, tail: Promise.resolve(), mutationsDone: Promise.resolve() };
  };

  const removeStaleTemps = (file: string) => {
    const dir = path.dirname(file);
    const base = path.basename(file);
    for (const name of fs.readdirSync(dir)) {
      if (name.startsWith(`${base}.`) && name.endsWith('.tmp')) fs.rmSync(path.join(dir, name), { force: true });
    }
  };

  type Opened = { status: IndexOpenStatus; state?: TenantIndex };
  const open = async (spec: IndexWorkerSpec, expected?: IndexWorkerFingerprint): Promise<Opened> => {
    fs.mkdirSync(path.dirname(spec.file), { recursive: true });
    removeStaleTemps(spec.file);
    removeStaleTemps(spec.ownersFile);
    if (!expected) return { status: 'created' };
    if (!fs.existsSync(spec.file) || !fs.existsSync(spec.ownersFile)) return { status: 'missing' };
    // Checksums first: hnswlib trusts the sizes inside the file, and a flipped byte can crash the process instead of throwing.
    const [indexSha, ownersBytes] = await Promise.all([sha256File(spec.file), fs.promises.readFile(spec.ownersFile)]);
    const ownersSha = crypto.createHash('sha256').update(ownersBytes).digest('hex');
    if (indexSha !== expected.indexSha256 || ownersSha !== expected.ownersSha256 || ownersBytes.length < 8) return { status: 'corrupt' };
    const view = new DataView(ownersBytes.buffer, ownersBytes.byteOffset, ownersBytes.byteLength);
    const length = view.getUint32(4, true);
    if (view.getUint32(0, true) !== OWNERS_MAGIC || ownersBytes.length !== 8 + length * 4) return { status: 'corrupt' };
    const owners = new Uint32Array(length);
    for (let i = 0; i < length; i++) owners[i] = view.getUint32(8 + i * 4, true);
    const index = new hnswlib.HierarchicalNSW(spec.space, spec.dimensions);
    try {
      // Synchronous on purpose (this is the index's own thread): hnswlib-node's asynchronous read and
      // write finish on a native callback that aborts the process if the thread is torn down first.
      index.readIndexSync(spec.file, false);
    } catch {
      return { status: 'corrupt' };
    }
    if (index.getNumDimensions() !== spec.dimensions) return { status: 'corrupt' };
    index.setEf(spec.efSearch);
    const state = wrap(spec, index, owners);
    if (state.live !== expected.live) return { status: 'corrupt' };
    return { status: 'loaded', state };
  };

  const ensureOwners = (t: TenantIndex, label: number) => {
    if (label < t.owners.length) return;
    const grown = new Uint32Array(Math.max(label + 1, Math.ceil(t.owners.length * t.spec.growthFactor), 16));
    grown.set(t.owners);
    t.owners = grown;
  };

  const ensureCapacity = (t: TenantIndex, extra: number) => {
    const needed = t.index.getCurrentCount() + extra;
    const max = t.index.getMaxElements();
    if (needed > max) t.index.resizeIndex(Math.max(needed, Math.ceil(max * t.spec.growthFactor)));
  };

  const addOne = (t: TenantIndex, label: number, owner: number, vectors: Float32Array, offset: number) => {
    const dim = t.spec.dimensions;
    for (let j = 0; j < dim; j++) t.scratch[j] = vectors[offset + j]!;
    ensureOwners(t, label);
    t.index.addPoint(t.scratch, label);
    const previous = t.owners[label]!;
    if (previous !== 0) t.ownerLabels.get(previous)?.delete(label);
    else t.live++;
    t.owners[label] = owner;
    let set = t.ownerLabels.get(owner);
    if (!set) t.ownerLabels.set(owner, (set = new Set()));
    set.add(label);
  };

  const add = async (t: TenantIndex, labels: Uint32Array, owners: Uint32Array, vectors: Float32Array) => {
    ensureCapacity(t, labels.length);
    let sliceStart = performance.now();
    for (let i = 0; i < labels.length; i++) {
      addOne(t, labels[i]!, owners[i]!, vectors, i * t.spec.dimensions);
      // Slices keep the worker responsive to other tenants' searches during a bulk build.
      if (performance.now() - sliceStart >= t.spec.sliceMs && i + 1 < labels.length) {
        await yieldToLoop();
        sliceStart = performance.now();
      }
    }
    return t.live;
  };

  // A vector unrelated to any text (a fixed pseudo-random direction per label) that overwrites an
  // erased point before it is marked deleted, so neither memory nor a saved file keeps the original.
  const tombstone = (t: TenantIndex, label: number) => {
    let s = (label ^ 0x9e3779b9) >>> 0;
    for (let j = 0; j < t.spec.dimensions; j++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      t.scratch[j] = s / 4294967296 - 0.5;
    }
    return t.scratch;
  };

  const remove = async (t: TenantIndex, labels: number[], scrub: boolean) => {
    let removed = 0;
    let sliceStart = performance.now();
    for (const label of labels) {
      const owner = label < t.owners.length ? t.owners[label]! : 0;
      if (owner === 0) continue;
      if (scrub) {
        t.index.addPoint(tombstone(t, label), label);
        if (performance.now() - sliceStart >= t.spec.sliceMs) {
          await yieldToLoop();
          sliceStart = performance.now();
        }
      }
      t.index.markDelete(label);
      t.owners[label] = 0;
      t.ownerLabels.get(owner)?.delete(label);
      t.live--;
      removed++;
    }
    return removed;
  };

  const search = (t: TenantIndex, query: Float32Array, k: number, owner: number, efSearch: number) => {
    const labels: number[] = [];
    const distances: number[] = [];
    const pool = owner === 0 ? t.live : (t.ownerLabels.get(owner)?.size ?? 0);
    const kk = Math.min(k, pool);
    if (kk <= 0) return { labels, distances };
    // The scratch array is reused: a search allocates (almost) nothing, so the worker rarely collects garbage.
    const q = t.scratch;
    for (let j = 0; j < t.spec.dimensions; j++) q[j] = query[j]!;
    if (owner !== 0 && pool <= t.spec.exactScanMaxLabels) {
      // A small owner is cheaper to scan exactly than a filtered graph walk that must visit most of the graph.
      let norm = 0;
      for (const x of q) norm += x * x;
      const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      const scored: Array<[number, number]> = [];
      for (const label of t.ownerLabels.get(owner)!) {
        const point = t.index.getPoint(label);
        let dot = 0;
        let pointNorm = 0;
        let squared = 0;
        for (let j = 0; j < point.length; j++) {
          dot += point[j]! * q[j]!;
          pointNorm += point[j]! * point[j]!;
          squared += (point[j]! - q[j]!) ** 2;
        }
        // hnswlib's distances: squared L2, 1 - inner product, or 1 - cosine similarity.
        const distance = t.spec.space === 'l2' ? squared : t.spec.space === 'ip' ? 1 - dot : 1 - dot * inv * (pointNorm > 0 ? 1 / Math.sqrt(pointNorm) : 0);
        scored.push([distance, label]);
      }
      scored.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
      for (const [distance, label] of scored.slice(0, kk)) {
        labels.push(label);
        distances.push(distance);
      }
      return { labels, distances };
    }
    t.index.setEf(Math.max(efSearch, kk));
    const owners = t.owners;
    // When the owner holds every live vector the filter cannot exclude anything: skip its per-node callback.
    const unfiltered = owner === 0 || pool === t.live;
    const result = unfiltered ? t.index.searchKnn(q, kk) : t.index.searchKnn(q, kk, (label) => owners[label] === owner);
    return { labels: result.neighbors, distances: result.distances };
  };

  const save = async (t: TenantIndex): Promise<IndexWorkerFingerprint> => {
    const suffix = `${process.pid}.${++tmpSeq}.tmp`;
    const indexTmp = `${t.spec.file}.${suffix}`;
    const ownersTmp = `${t.spec.ownersFile}.${suffix}`;
    try {
      const ownersBytes = Buffer.alloc(8 + t.owners.length * 4);
      ownersBytes.writeUInt32LE(OWNERS_MAGIC, 0);
      ownersBytes.writeUInt32LE(t.owners.length, 4);
      for (let i = 0; i < t.owners.length; i++) ownersBytes.writeUInt32LE(t.owners[i]!, 8 + i * 4);
      t.index.writeIndexSync(indexTmp);
      await fs.promises.writeFile(ownersTmp, ownersBytes);
      await Promise.all([fsyncPath(indexTmp, 'r+'), fsyncPath(ownersTmp, 'r+')]);
      const indexSha256 = await sha256File(indexTmp);
      const ownersSha256 = crypto.createHash('sha256').update(ownersBytes).digest('hex');
      // Rename is the commit point: readers see the old complete file or the new complete file, never a torn one.
      await fs.promises.rename(ownersTmp, t.spec.ownersFile);
      await fs.promises.rename(indexTmp, t.spec.file);
      await fsyncPath(path.dirname(t.spec.file), 'r').catch(() => undefined);
      return { indexSha256, ownersSha256, live: t.live };
    } finally {
      await Promise.all([fs.promises.rm(indexTmp, { force: true }), fs.promises.rm(ownersTmp, { force: true })]);
    }
  };

  // A copy for the host's search view: the graph written to `file` (the host reads and deletes
  // it) and the owner table, as they stand after every mutation posted before.
  const snapshot = (t: TenantIndex, file: string) => {
    try {
      t.index.writeIndexSync(file);
    } catch (err) {
      fs.rmSync(file, { force: true });
      throw err;
    }
    return { owners: t.owners.slice(), live: t.live };
  };

  const get = (tenant: string) => {
    const t = tenants.get(tenant);
    if (!t) throw new Error(`index for tenant ${tenant} is not open`);
    return t;
  };
  // Mutations and saves run one after another per tenant; a search waits only for the mutations
  // posted before it (read-your-writes), not for a save, which reads the graph like a search does.
  const mutate = <T>(t: TenantIndex, fn: () => T | Promise<T>) => {
    const run = t.tail.then(fn);
    t.tail = run.catch(() => undefined);
    t.mutationsDone = t.tail;
    return run;
  };
  const afterTail = <T>(t: TenantIndex, fn: () => T | Promise<T>) => {
    const run = t.tail.then(fn);
    t.tail = run.catch(() => undefined);
    return run;
  };

  const handle = async (msg: IndexWorkerRequest): Promise<unknown> => {
    switch (msg.op) {
      case 'open': {
        const previous = tenants.get(msg.tenant);
        if (previous) await previous.tail;
        const opened = await open(msg.spec, msg.expected);
        const state = opened.state ?? createEmpty(msg.spec);
        state.instance = msg.instance;
        tenants.set(msg.tenant, state);
        return { status: opened.status, live: state.live };
      }
      case 'add': {
        const t = get(msg.tenant);
        return mutate(t, () => add(t, msg.labels, msg.owners, msg.vectors));
      }
      case 'remove': {
        const t = get(msg.tenant);
        return mutate(t, () => remove(t, msg.labels, msg.scrub));
      }
      case 'search': {
        const t = get(msg.tenant);
        return t.mutationsDone.then(() => search(t, msg.query, msg.k, msg.owner, msg.efSearch));
      }
      case 'save': {
        const t = get(msg.tenant);
        return afterTail(t, () => save(t));
      }
      case 'snapshot': {
        const t = get(msg.tenant);
        return afterTail(t, () => snapshot(t, msg.file));
      }
      case 'stats': {
        const t = get(msg.tenant);
        return afterTail(t, () => ({ live: t.live, count: t.index.getCurrentCount(), capacity: t.index.getMaxElements() }));
      }
      case 'drop': {
        // Only the opening the drop names: a reopen that reached the worker first is left alone.
        const t = tenants.get(msg.tenant);
        if (!t || t.instance !== msg.instance) return false;
        await t.tail;
        // A reopen may have replaced the entry while we waited; only this index is dropped.
        if (tenants.get(msg.tenant) === t) tenants.delete(msg.tenant);
        return true;
      }
    }
  };

  port.on('message', (msg: IndexWorkerRequest) => {
    handle(msg).then(
      (result) => {
        // A snapshot's owner table is handed over, not copied.
        const owners = (result as { owners?: unknown } | undefined)?.owners;
        port.postMessage({ id: msg.id, ok: true, result } satisfies IndexWorkerResponse, owners instanceof Uint32Array ? [owners.buffer as ArrayBuffer] : []);
      },
      (err: unknown) => {
        const e = err as { message?: string; code?: unknown };
        const error = { message: String(e?.message ?? err), ...(typeof e?.code === 'string' ? { code: e.code } : {}) };
        port.postMessage({ id: msg.id, ok: false, error } satisfies IndexWorkerResponse);
      },
    );
  });
}

/**
 * The JavaScript source the host evaluates in a new worker thread.
 * @internal
 */
export function indexWorkerSource(): string {
  return `(${indexWorkerMain.toString()})(require);`;
}
