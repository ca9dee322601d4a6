/**
 * A copy of one tenant's HNSW index on the calling thread, so a search costs no trip to the index
 * worker. A trip there is two thread wake-ups; on a small virtual machine each can take
 * milliseconds when the scheduler is slow to run an idle thread again, and that, not the search
 * (about half a millisecond at 100k × 384), set the recall's p99.
 *
 * The view is the worker's graph as of one snapshot, plus an exact scan of what changed since:
 * vectors added after the snapshot are kept here (the "delta") and labels removed or replaced
 * after it are filtered out of the graph's answers. Past `maxChanges` changes the view drops its
 * copy and searches go to the worker, which also answers while there is no copy; such a search asks
 * for a fresh snapshot in the background: at most one in flight, spaced by a multiple of the last
 * one's duration, and none while changes stream in (an import), when it would be stale before it
 * loaded. Inserts and builds never run here: only `searchKnn` on a graph read from a file.
 *
 * An erasure (`removed` with `scrub`) drops the copy at once, so erased vectors are not kept on
 * this thread by the view; the next snapshot, taken after the erasure, replaces it.
 */
import hnswlib from 'hnswlib-node';
import { rm } from 'node:fs/promises';

/** What the host hands the view: a snapshot of the worker's index taken after every mutation posted before the call. */
export interface IndexSnapshot {
  /** The graph, written by the worker; the view reads it, then deletes it. */
  readonly file: string;
  /** Owner tag per label (0: free slot). */
  readonly owners: Uint32Array;
  readonly live: number;
}

/** Options of {@link createSearchView}. */
export interface SearchViewOptions {
  readonly space: 'cosine' | 'ip' | 'l2';
  readonly dimensions: number;
  /** An owner with at most this many vectors is scanned exactly (as in the worker). */
  readonly exactScanMaxLabels: number;
  /** Changes since the snapshot above which searches go to the worker until a fresh snapshot is loaded. */
  readonly maxChanges: number;
  /** Takes a snapshot in the worker. Called synchronously by the view, so it is ordered with the mutations the host posts. */
  readonly snapshot: () => Promise<IndexSnapshot>;
}

/** How the view has been used (`memories.indexStats(tenant).searches`). */
export interface SearchViewStats {
  /** A snapshot is loaded. */
  readonly loaded: boolean;
  /** Labels added, replaced or removed since the loaded snapshot. */
  readonly changes: number;
  /** Searches answered on the calling thread, and left to the worker. */
  readonly onEventLoop: number;
  readonly inWorker: number;
  /** Snapshots loaded so far. */
  readonly refreshes: number;
}

/** The view of one index. */
export interface SearchView {
  /** Vectors the host is about to send to the worker (copied: the host transfers the buffers). */
  added(labels: Uint32Array, owners: Uint32Array, vectors: Float32Array): void;
  /** Labels the host is about to remove; with `scrub`, the copy is dropped. */
  removed(labels: readonly number[], scrub: boolean): void;
  /** The `k` nearest among `owner`'s vectors (0: all), best first; undefined when the worker must answer. */
  search(query: Float32Array, k: number, owner: number, efSearch: number): Array<{ label: number; distance: number }> | undefined;
  stats(): SearchViewStats;
  /** Waits for a snapshot being read, then drops the copy. Idempotent. */
  close(): Promise<void>;
}

interface Loaded {
  readonly index: hnswlib.HierarchicalNSW;
  readonly owners: Uint32Array;
  readonly ownerLabels: Map<number, number[]>;
  readonly live: number;
}

/** Shortest pause between two snapshots, and its multiple of the last snapshot's duration. */
const MIN_REFRESH_GAP_MS = 1_000;
const REFRESH_GAP_FACTOR = 10;

/**
 * Creates the view of one index; it starts empty and loads its first snapshot when first searched.
 *
 * @example
 * ```ts
 * const view = createSearchView({ space: 'cosine', dimensions: 384, exactScanMaxLabels: 256, maxChanges: 1024, snapshot });
 * view.added(labels, owners, vectors); // then post the add to the worker
 * const hits = view.search(query, 10, owner, 128) ?? (await askTheWorker());
 * ```
 */
export function createSearchView(o: SearchViewOptions): SearchView {
  const dim = o.dimensions;
  let loaded: Loaded | undefined;
  /** Mutation counter; snapshots and changes are ordered by it. */
  let seq = 0;
  /** Labels added since the snapshot: owner, the vector (unit length for cosine) and when. */
  const delta = new Map<number, { owner: number; vector: Float32Array; seq: number }>();
  /** Labels whose graph entry no longer holds (removed or replaced since the snapshot), and when; every delta label is one. */
  const gone = new Map<number, number>();
  /** Bumped when the copy is dropped (an erasure, too many changes): a snapshot read meanwhile is discarded. */
  let generation = 0;
  let refreshing: Promise<void> | undefined;
  let refreshGeneration = 0;
  let nextRefreshAt = 0;
  let closed = false;
  let onEventLoop = 0;
  let inWorker = 0;
  let refreshes = 0;
  const query = new Array<number>(dim).fill(0);

  /** Scales `v` in place to unit length for cosine (hnswlib stores and searches it so); other spaces keep it. */
  const unit = <V extends Float32Array | number[]>(v: V): V => {
    if (o.space !== 'cosine') return v;
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += v[j]! * v[j]!;
    const inv = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < dim; j++) v[j]! *= inv;
    return v;
  };
  /** hnswlib's distance between the prepared query and a stored vector (unit length for cosine). */
  const distance = (v: ArrayLike<number>): number => {
    if (o.space === 'l2') {
      let sum = 0;
      for (let j = 0; j < dim; j++) {
        const d = query[j]! - v[j]!;
        sum += d * d;
      }
      return sum;
    }
    let dot = 0;
    for (let j = 0; j < dim; j++) dot += query[j]! * v[j]!;
    return 1 - dot;
  };

  let timer: ReturnType<typeof setTimeout> | undefined;
  /** Copies in a row that changes outran (each doubles the pause before the next), and how long the last copy took. */
  let outrun = 0;
  let lastCopyMs = 0;
  /** Changes counted since `windowStart`: a copy is not worth taking while they come faster than it loads. */
  let windowStart = performance.now();
  let windowSeq = 0;
  const later = (at: number): void => {
    nextRefreshAt = at;
    // Taken when the pause is over (a timer that does not hold the process open).
    timer = setTimeout(() => {
      timer = undefined;
      refresh();
    }, Math.max(0, at - performance.now()));
    timer.unref?.();
  };
  const refresh = (): void => {
    if (refreshing || closed || timer) return;
    const now = performance.now();
    if (nextRefreshAt > now) return later(nextRefreshAt);
    const rate = (seq - windowSeq) / Math.max(1, now - windowStart);
    windowStart = now;
    windowSeq = seq;
    // An import: the copy would be stale soon after it loads, and reading it would take CPU from the
    // import and the event loop (two cores here). Asked again when the changes calm down.
    if (rate * Math.max(lastCopyMs, MIN_REFRESH_GAP_MS) > o.maxChanges / 2) return later(now + Math.max(MIN_REFRESH_GAP_MS, lastCopyMs));
    const at = seq;
    const forGeneration = generation;
    refreshGeneration = generation;
    const started = performance.now();
    // Called now, not after an await: the snapshot must come after exactly the mutations counted in `at`.
    let taken: Promise<IndexSnapshot>;
    try {
      taken = o.snapshot();
    } catch {
      return;
    }
    refreshing = (async () => {
      const snap = await taken;
      try {
        const index = new hnswlib.HierarchicalNSW(o.space, dim);
        // Read on libuv's thread pool: the event loop only waits for the callback.
        await index.readIndex(snap.file, false);
        if (closed || forGeneration !== generation) return;
        outrun = 0;
        const ownerLabels = new Map<number, number[]>();
        for (let label = 0; label < snap.owners.length; label++) {
          const owner = snap.owners[label]!;
          if (owner === 0) continue;
          const list = ownerLabels.get(owner);
          if (list) list.push(label);
          else ownerLabels.set(owner, [label]);
        }
        loaded = { index, owners: snap.owners, ownerLabels, live: snap.live };
        refreshes++;
        for (const [label, entry] of delta) if (entry.seq <= at) delta.delete(label);
        for (const [label, when] of gone) if (when <= at) gone.delete(label);
      } finally {
        await rm(snap.file, { force: true });
      }
    })()
      .catch(() => undefined)
      .finally(() => {
        refreshing = undefined;
        lastCopyMs = performance.now() - started;
        nextRefreshAt = performance.now() + Math.max(MIN_REFRESH_GAP_MS, REFRESH_GAP_FACTOR * lastCopyMs) * 2 ** Math.min(outrun, 6);
      });
  };

  /** Forgets the copy and the changes on top of it; a copy being read is discarded when it arrives. */
  const drop = (): void => {
    generation++;
    loaded = undefined;
    delta.clear();
    gone.clear();
  };
  /** Changes are kept only while there is a copy, or one coming, to apply them to. */
  const tracking = (): boolean => loaded !== undefined || (refreshing !== undefined && refreshGeneration === generation);
  /** More changes than a search scans: searches go to the worker, and the next copy waits longer. */
  const overflowed = (): void => {
    if (gone.size <= o.maxChanges) return;
    drop();
    outrun++;
  };

  const searchLoaded = (view: Loaded, k: number, owner: number, efSearch: number, hits: Array<{ label: number; distance: number }>): void => {
    const mine = owner === 0 ? undefined : view.ownerLabels.get(owner);
    const pool = owner === 0 ? view.live : (mine?.length ?? 0);
    if (pool === 0) return;
    if (mine && pool <= o.exactScanMaxLabels) {
      for (const label of mine) if (!gone.has(label)) hits.push({ label, distance: distance(unit(view.index.getPoint(label))) });
      return;
    }
    const kk = Math.min(k, pool);
    view.index.setEf(Math.max(efSearch, kk));
    const owners = view.owners;
    const r =
      gone.size === 0 && pool === view.live
        ? view.index.searchKnn(query, kk)
        : view.index.searchKnn(query, kk, (label) => (owner === 0 || owners[label] === owner) && !gone.has(label));
    for (let i = 0; i < r.neighbors.length; i++) hits.push({ label: r.neighbors[i]!, distance: r.distances[i]! });
  };

  return {
    added(labels, owners, vectors) {
      seq += labels.length;
      if (!tracking()) return;
      for (let i = 0; i < labels.length && gone.size <= o.maxChanges; i++) {
        const label = labels[i]!;
        delta.set(label, { owner: owners[i]!, vector: unit(vectors.slice(i * dim, (i + 1) * dim)), seq });
        gone.set(label, seq);
      }
      overflowed();
    },
    removed(labels, scrub) {
      seq += labels.length;
      // An erasure drops the copy even while nothing is tracked: a copy being read may hold the vectors.
      if (scrub) return drop();
      if (!tracking()) return;
      for (const label of labels) {
        delta.delete(label);
        gone.set(label, seq);
      }
      overflowed();
    },
    search(q, k, owner, efSearch) {
      const view = loaded;
      if (closed || !view || gone.size > o.maxChanges) {
        refresh();
        inWorker++;
        return undefined;
      }
      // Refreshed ahead of need, so a steady trickle of writes does not push searches to the worker.
      if (2 * gone.size > o.maxChanges) refresh();
      for (let j = 0; j < dim; j++) query[j] = q[j]!;
      unit(query);
      const hits: Array<{ label: number; distance: number }> = [];
      for (const [label, entry] of delta) if (owner === 0 || entry.owner === owner) hits.push({ label, distance: distance(entry.vector) });
      try {
        searchLoaded(view, k, owner, efSearch, hits);
      } catch {
        // Whatever went wrong with the copy, the worker's index answers; a new copy is taken later.
        drop();
        inWorker++;
        return undefined;
      }
      hits.sort((a, b) => a.distance - b.distance || a.label - b.label);
      if (hits.length > k) hits.length = k;
      onEventLoop++;
      return hits;
    },
    stats: () => ({ loaded: loaded !== undefined, changes: gone.size, onEventLoop, inWorker, refreshes }),
    async close() {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      await refreshing;
      loaded = undefined;
      delta.clear();
      gone.clear();
    },
  };
}
