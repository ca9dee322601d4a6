/**
 * Part 2 of `npm run bench`: scale of sessions. Creates 1,000,000 persisted sessions with at most
 * 100,000 live, then measures resident memory and heap per live session, hydration latency from a
 * large data directory, the passivation rate, and start-up time on that directory.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime, silentLogger, tenantId, userId, type Runtime } from '../src/index.js';
import { createTestMachine } from '../test/fixtures/test-machines.js';
import { machineLoad, markdownTable, num, percentile, textTable, type Table } from './support/bench-report.js';
import type { PartContext, PartOutcome } from './support/bench-part.js';

const tenant = tenantId('bench');
/** Idle time before resident memory is read (see the Runtime section of docs/benchmarks.md). */
const SETTLE_MS = 30_000;
const gc = (globalThis as { gc?: () => void }).gc;

/** Session id number `i`: random-looking like the default UUIDs, computed again instead of kept (1M kept ids would weigh on the heap measured). */
function sessionIdOf(i: number): string {
  const h = createHash('sha1').update(`session-${i}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** Resident memory split: anonymous (heap, native) and file-backed (the LMDB map's pages). */
function memory(collect = true): { rssMiB: number; anonMiB: number; fileMiB: number; heapMiB: number } {
  if (collect) gc?.();
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024;
  return { rssMiB: process.memoryUsage().rss / 2 ** 20, anonMiB: kb('RssAnon'), fileMiB: kb('RssFile') + kb('RssShmem'), heapMiB: process.memoryUsage().heapUsed / 2 ** 20 };
}

function open(dir: string, maxLiveSessions: number): Runtime {
  return createRuntime({ dataDir: dir, machine: createTestMachine(), logger: silentLogger, maxLiveSessions, idleTimeoutMs: 24 * 3_600_000 });
}

/**
 * Runs the scale part.
 *
 * @example
 * ```ts
 * const outcome = await runScaleBench({ quick: true, docsDir: 'docs', seconds: 5, log: console.error });
 * ```
 */
export async function runScaleBench(ctx: PartContext): Promise<PartOutcome> {
  const persisted = ctx.quick ? 20_000 : 1_000_000;
  const liveCap = ctx.quick ? 5_000 : 100_000;
  const samples = ctx.quick ? 1_000 : 10_000;
  const dir = mkdtempSync(join(tmpdir(), 'keel-scale-'));
  try {
    let runtime = open(dir, liveCap);
    const base = memory();
    const t0 = performance.now();
    const batch = 1000;
    for (let i = 0; i < persisted; i += batch) {
      await Promise.all(Array.from({ length: Math.min(batch, persisted - i) }, (_, j) => runtime.open({ tenant, user: userId(`s${i + j}`), sessionId: sessionIdOf(i + j) })));
      if ((i / batch) % 100 === 99) ctx.log(`scale: ${num(i + batch)} sessions created, ${num(runtime.stats().live)} live`);
    }
    // Let passivations over the cap finish.
    while (runtime.stats().live > liveCap) await new Promise((r) => setTimeout(r, 50));
    const createSeconds = (performance.now() - t0) / 1000;
    // Then let the last sessions opened rest, as quiet live sessions do after `restAfterMs` (5 s).
    while (runtime.stats().resting < runtime.stats().live) await new Promise((r) => setTimeout(r, 100));
    const live = runtime.stats().live;
    const atOnce = memory();
    const heapPerLive = ((atOnce.heapMiB - base.heapMiB) * 2 ** 20) / live;
    ctx.log(`scale: ${num(persisted)} persisted, ${num(live)} live; rss ${num(atOnce.rssMiB)} MiB; idle ${SETTLE_MS / 1000} s`);
    // V8 gives back the heap it grew for the million opens once its memory reducer runs, about 20 s
    // into a quiet spell (no forced GC meanwhile: it would restart the reducer's clock).
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const full = memory(false);

    // Passivation rate: passivate the most recently used live sessions, all at once.
    const toPassivate = Array.from({ length: samples }, (_, k) => sessionIdOf(persisted - 1 - k));
    const tp = performance.now();
    await Promise.all(toPassivate.map((id) => runtime.passivate(id)));
    const passivationsPerSec = toPassivate.length / ((performance.now() - tp) / 1000);

    // Hydration: warm random passivated sessions one at a time (each passivated again after).
    const hydrate: number[] = [];
    for (let k = 0; k < samples; k++) {
      const id = sessionIdOf(Math.floor(Math.random() * (persisted - liveCap - samples)));
      const s = performance.now();
      await runtime.warm(id);
      hydrate.push((performance.now() - s) * 1000);
      await runtime.passivate(id);
    }
    await runtime.close();

    // Start-up on the large directory: until the runtime serves a turn on a passivated session.
    const ts = performance.now();
    runtime = open(dir, liveCap);
    const constructedMs = performance.now() - ts;
    await runtime.send(sessionIdOf(0), { type: 'user.message', id: 'after-restart', text: 'hello again' });
    const firstTurnMs = performance.now() - ts;
    await runtime.close();

    const rows: Array<[string, string]> = [
      ['persisted sessions', num(persisted)],
      ['live sessions (cap), all resting', num(live)],
      ['created in', `${num(createSeconds, 1)} s (${num(persisted / createSeconds)} sessions/s, each committed and synced)`],
      ['resident memory with 100k live, resting, after 30 s idle', `${num(full.rssMiB)} MiB (anonymous ${num(full.anonMiB)} MiB, LMDB map pages ${num(full.fileMiB)} MiB)`],
      ['the same right after the million opens', `${num(atOnce.rssMiB)} MiB (anonymous ${num(atOnce.anonMiB)} MiB, LMDB map pages ${num(atOnce.fileMiB)} MiB)`],
      ['heap per live session, resting', `${num(heapPerLive)} B`],
      [`hydrate p50 / p99 (${num(samples)} random passivated sessions)`, `${num(percentile(hydrate, 50))} / ${num(percentile(hydrate, 99))} µs`],
      ['passivation rate', `${num(passivationsPerSec)} sessions/s`],
      ['start-up: createRuntime on the data directory', `${num(constructedMs, 1)} ms`],
      ['start-up: until the first turn on a passivated session is durable', `${num(firstTurnMs, 1)} ms`],
    ];
    const table: Table = { head: ['measure', 'value'], rows };
    const markdown = [
      '## Scale of sessions (`npm run bench -- --only scale`)',
      '',
      `${num(persisted)} sessions created through \`runtime.open\` (1,000 at a time, each committed and synced),`,
      `with \`maxLiveSessions\` ${num(liveCap)}: the least recently used are passivated as new ones arrive, and`,
      'live sessions quiet for 5 s rest (actor stopped, snapshot JSON kept; the Runtime section compares',
      'resting and running live sessions side by side); memory is read once all of them rest. The',
      'machine is the one-state test machine (a snapshot of ~150 bytes), so the figures are the runtime\'s',
      'own. Resident memory is split into anonymous memory (heap and native) and file-backed pages of the',
      'memory-mapped LMDB file, which the kernel can drop at will; it is read right after the opens and',
      'again after 30 s idle, once V8 has given back the heap it grew for them. Start-up reads no session: the runtime',
      'opens the environment and reads only the due entries of the wake index.',
      `At the end: ${machineLoad()}.`,
      '',
      markdownTable(table),
    ].join('\n');
    return {
      section: 'scale',
      text: textTable(table),
      markdown,
      json: {
        scale: {
          persisted, live, createSeconds: Math.round(createSeconds), rssMiB: Math.round(full.rssMiB), anonMiB: Math.round(full.anonMiB), fileMiB: Math.round(full.fileMiB),
          rssMiBRightAfter: Math.round(atOnce.rssMiB), anonMiBRightAfter: Math.round(atOnce.anonMiB),
          heapBytesPerLiveSession: Math.round(heapPerLive), hydrateP50Us: Math.round(percentile(hydrate, 50)), hydrateP99Us: Math.round(percentile(hydrate, 99)),
          passivationsPerSec: Math.round(passivationsPerSec), startupMs: Math.round(constructedMs), firstTurnMs: Math.round(firstTurnMs),
        },
      },
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
