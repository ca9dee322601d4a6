/**
 * Part 3 of `npm run bench`: the same three-step support turn (route, task, respond; no LLM) in
 * keel and in LangGraph.js with its SQLite checkpointer, in-process, 1 and 200 concurrent
 * sessions, each turn durable before the next one of its session starts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRuntime, defaultSealerCipher, silentLogger, tenantId, userId } from '../src/index.js';
import { machineLoad, markdownTable, median, num, textTable, type Table } from './support/bench-report.js';
import type { PartContext, PartOutcome } from './support/bench-part.js';
import { createLangGraphPeer, type SqliteSync } from './support/langgraph-peer.js';
import { createSupportTurnMachine } from './support/support-turn.js';

const TEXT = 'where is my order 1042?';

/** Runs `turn(session, k)` for every session back to back for `seconds`; returns turns per second. */
async function drive(sessions: readonly string[], seconds: number, turn: (session: string, k: number) => Promise<unknown>): Promise<number> {
  let turns = 0;
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    sessions.map(async (s) => {
      for (let k = 0; performance.now() < deadline; k++) {
        await turn(s, k);
        turns++;
      }
    }),
  );
  return turns / ((performance.now() - t0) / 1000);
}

async function keelRate(concurrency: number, seconds: number): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-peer-'));
  const runtime = createRuntime({ dataDir: dir, machine: createSupportTurnMachine(), logger: silentLogger, maxLiveSessions: 10_000 });
  try {
    const ids: string[] = [];
    for (let i = 0; i < concurrency; i++) ids.push((await runtime.open({ tenant: tenantId('bench'), user: userId(`u${i}`) })).sessionId);
    await drive(ids, Math.min(1, seconds), (s, k) => runtime.send(s, { type: 'user.message', id: `w${k}`, text: TEXT }));
    return await drive(ids, seconds, (s, k) => runtime.send(s, { type: 'user.message', id: `m${k}`, text: TEXT }));
  } finally {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function langGraphRate(concurrency: number, seconds: number, sync: SqliteSync): Promise<{ rate: number; durability: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'langgraph-peer-'));
  const peer = createLangGraphPeer(join(dir, 'checkpoints.sqlite'), sync);
  try {
    const threads = Array.from({ length: concurrency }, (_, i) => `thread-${i}`);
    await drive(threads, Math.min(1, seconds), (t) => peer.turn(t, TEXT));
    return { rate: await drive(threads, seconds, (t) => peer.turn(t, TEXT)), durability: peer.durability };
  } finally {
    peer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs the peer comparison.
 *
 * @example
 * ```ts
 * const outcome = await runPeerBench({ quick: false, docsDir: 'docs', seconds: 5, log: console.error });
 * ```
 */
export async function runPeerBench(ctx: PartContext): Promise<PartOutcome> {
  const seconds = ctx.quick ? 1 : ctx.seconds;
  // Alternating rounds, so a slow minute of the machine falls on both sides; medians reported.
  const rounds = ctx.quick ? 1 : ROUNDS;
  const rows: Array<{ concurrency: number; keel: number; normal: number; full: number; ratios: number[] }> = [];
  let durNormal = '';
  let durFull = '';
  for (const concurrency of [1, 200]) {
    const runs: Array<{ keel: number; normal: number; full: number }> = [];
    for (let round = 1; round <= rounds; round++) {
      ctx.log(`peer: ${concurrency} concurrent sessions, round ${round} of ${rounds}`);
      const keel = await keelRate(concurrency, seconds);
      const full = await langGraphRate(concurrency, seconds, 'FULL');
      const normal = await langGraphRate(concurrency, seconds, 'NORMAL');
      durNormal = normal.durability;
      durFull = full.durability;
      runs.push({ keel, normal: normal.rate, full: full.rate });
    }
    rows.push({
      concurrency,
      keel: median(runs.map((r) => r.keel)),
      full: median(runs.map((r) => r.full)),
      normal: median(runs.map((r) => r.normal)),
      ratios: runs.map((r) => r.keel / r.full),
    });
  }
  const table: Table = {
    head: [
      'concurrent sessions',
      'keel turns/s',
      `LangGraph (${durFull}) turns/s`,
      'keel ÷ LangGraph (FULL)',
      'ratio in each round',
      `LangGraph (${durNormal}, its default) turns/s`,
      'keel ÷ LangGraph (default)',
    ],
    rows: rows.map((r) => [
      num(r.concurrency),
      num(r.keel),
      num(r.full),
      `${num(r.keel / r.full, 1)}×`,
      r.ratios.map((x) => `${num(x, 1)}×`).join(', '),
      num(r.normal),
      `${num(r.keel / r.normal, 1)}×`,
    ]),
  };
  const load = machineLoad();
  const markdown = [
    '## The peer: LangGraph.js with its SQLite checkpointer (`npm run bench -- --only peer`)',
    '',
    'The same three-step support turn (route with a keyword router, look the order up, answer from a',
    'template; no LLM, no I/O) in keel (a statechart, one state per step) and in LangGraph.js (a graph,',
    'one node per step, `durability: "sync"`), in one process, each session doing turns back to back.',
    `${rounds} alternating rounds (keel, LangGraph FULL, LangGraph NORMAL), ${seconds} s per measurement after a warm-up;`,
    `the table gives the median of the rounds for each side; ${load} at the end.`,
    '',
    markdownTable(table),
    '',
    'Durability, stated for both:',
    '',
    '- keel: every turn (journal group, session record with its snapshot, message-id index) is one',
    '  LMDB write transaction, committed and synced to disk (lmdb-js `flushed`, fdatasync) before',
    '  `send` resolves; concurrent sessions share a group commit. Snapshots and message texts are sealed',
    `  with ${defaultSealerCipher === 'xchacha20-poly1305' ? 'XChaCha20-Poly1305' : 'AES-256-GCM'} (keel's default here).`,
    `- LangGraph: \`@langchain/langgraph-checkpoint-sqlite\` opens SQLite in WAL mode; its default`,
    '  connection runs `synchronous=NORMAL`, where a commit reaches the disk only at the next WAL',
    '  checkpoint (it survives a process crash, not a power cut). `synchronous=FULL` syncs the WAL on',
    '  every commit, the same promise as keel\'s. LangGraph writes a checkpoint per step (three per turn',
    '  plus the input), keel one commit per turn; better-sqlite3 is synchronous, so concurrent LangGraph',
    '  turns queue on the event loop behind each other\'s commits. Nothing is encrypted on that side.',
  ].join('\n');
  return {
    section: 'peer',
    text: textTable(table),
    markdown,
    json: { peer: rows.map((r) => ({ concurrency: r.concurrency, keelTurnsPerSec: Math.round(r.keel), langGraphFullTurnsPerSec: Math.round(r.full), langGraphNormalTurnsPerSec: Math.round(r.normal), ratioFull: round(r.keel / r.full), ratioFullPerRound: r.ratios.map(round), ratioNormal: round(r.keel / r.normal) })) },
  };
}

const round = (x: number): number => Math.round(x * 10) / 10;
/** Alternating rounds per concurrency. */
const ROUNDS = 3;
