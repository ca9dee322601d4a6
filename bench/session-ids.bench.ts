/**
 * Session-id bench: what the order of session ids does to durable turns. The same runtime runs
 * the peer's three-step support turn (bench/support/support-turn.ts) at N concurrent sessions,
 * alternately with random ids (UUID version 4, passed to `runtime.open`, what keel generated
 * before) and with keel's own time-ordered ids (UUID version 7). Each round first stores older
 * sessions (created through `runtime.open` as earlier traffic would have), then opens the active
 * ones and drives turns back to back. Measured per round: turns per second, bytes the data
 * directory's block device wrote per turn (`/sys/dev/block/M:m/stat`; "—" where the directory's
 * device has no such file), and process CPU per turn.
 *
 *   npm run bench:session-ids -- [--pairs 3] [--seconds 4] [--sessions 200] [--stored 20000]
 *
 * Prints a table, then as its last line one JSON object:
 * {"sessions", "stored", "rounds": [{"ids", "turnsPerSec", "diskBytesPerTurn", "cpuUsPerTurn"}], "medians": {...}}.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createRuntime, silentLogger, tenantId, userId } from '../src/index.js';
import { machineLoad, median, num, textTable } from './support/bench-report.js';
import { createSupportTurnMachine } from './support/support-turn.js';

const { values: args } = parseArgs({
  options: { pairs: { type: 'string', default: '3' }, seconds: { type: 'string', default: '4' }, sessions: { type: 'string', default: '200' }, stored: { type: 'string', default: '20000' } },
  strict: true,
});
const pairs = Number(args.pairs);
const seconds = Number(args.seconds);
const sessions = Number(args.sessions);
const stored = Number(args.stored);
for (const [name, value] of Object.entries({ pairs, seconds, sessions })) {
  if (!Number.isInteger(value) || value < 1) throw new TypeError(`session-ids.bench: --${name} must be a positive integer`);
}
if (!Number.isInteger(stored) || stored < 0) throw new TypeError('session-ids.bench: --stored must be a non-negative integer');

type Ids = 'random (v4)' | 'time-ordered (v7)';
const TEXT = 'where is my order 1042?';
const tenant = tenantId('bench');

/** Sectors written by the block device holding `dir`, in bytes, or undefined where unreadable. */
function deviceBytesWritten(dir: string): number | undefined {
  const dev = statSync(dir).dev;
  const major = Math.floor(dev / 256) & 0xfff;
  const minor = (dev & 0xff) | (Math.floor(dev / 4096) & 0xfff00);
  const file = `/sys/dev/block/${major}:${minor}/stat`;
  if (!existsSync(file)) return undefined;
  const fields = readFileSync(file, 'utf8').trim().split(/\s+/);
  return Number(fields[6]) * 512;
}

async function round(ids: Ids): Promise<{ ids: Ids; turnsPerSec: number; diskBytesPerTurn: number | null; cpuUsPerTurn: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-bench-ids-'));
  const runtime = createRuntime({ dataDir: dir, machine: createSupportTurnMachine(), logger: silentLogger, maxLiveSessions: sessions + 1_000 });
  const idFor = () => (ids === 'random (v4)' ? { sessionId: randomUUID() } : {});
  try {
    for (let i = 0; i < stored; i += 1_000) {
      await Promise.all(Array.from({ length: Math.min(1_000, stored - i) }, (_, k) => runtime.open({ tenant, user: userId(`old${i + k}`), ...idFor() })));
    }
    const active: string[] = [];
    for (let i = 0; i < sessions; i++) active.push((await runtime.open({ tenant, user: userId(`u${i}`), ...idFor() })).sessionId);
    const drive = async (s: number, prefix: string) => {
      let turns = 0;
      const deadline = performance.now() + s * 1_000;
      await Promise.all(
        active.map(async (id) => {
          for (let k = 0; performance.now() < deadline; k++) {
            await runtime.send(id, { type: 'user.message', id: `${prefix}${k}`, text: TEXT });
            turns++;
          }
        }),
      );
      return turns;
    };
    await drive(1, 'w');
    const disk0 = deviceBytesWritten(dir);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const turns = await drive(seconds, 'm');
    const elapsed = (performance.now() - t0) / 1_000;
    const cpu = process.cpuUsage(cpu0);
    const disk1 = deviceBytesWritten(dir);
    return {
      ids,
      turnsPerSec: turns / elapsed,
      diskBytesPerTurn: disk0 === undefined || disk1 === undefined ? null : (disk1 - disk0) / turns,
      cpuUsPerTurn: (cpu.user + cpu.system) / turns,
    };
  } finally {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rounds: Array<Awaited<ReturnType<typeof round>>> = [];
for (let p = 0; p < pairs; p++) {
  // Alternating which goes first, so a slow minute of the machine falls on both.
  for (const ids of (p % 2 === 0 ? ['random (v4)', 'time-ordered (v7)'] : ['time-ordered (v7)', 'random (v4)']) as Ids[]) {
    const r = await round(ids);
    rounds.push(r);
    process.stderr.write(`pair ${p + 1}: ${ids} ${num(r.turnsPerSec)} turns/s\n`);
  }
}
const of = (ids: Ids) => rounds.filter((r) => r.ids === ids);
const med = (ids: Ids, key: 'turnsPerSec' | 'diskBytesPerTurn' | 'cpuUsPerTurn') => {
  const values = of(ids).map((r) => r[key]).filter((v): v is number => v !== null);
  return values.length === 0 ? null : Math.round(median(values) * 10) / 10;
};
const medians = Object.fromEntries((['random (v4)', 'time-ordered (v7)'] as Ids[]).map((ids) => [ids, { turnsPerSec: med(ids, 'turnsPerSec'), diskBytesPerTurn: med(ids, 'diskBytesPerTurn'), cpuUsPerTurn: med(ids, 'cpuUsPerTurn') }]));
const show = (v: number | null, digits = 0) => (v === null ? '—' : num(v, digits));
const ratio = (a: number | null, b: number | null) => (a === null || b === null || b === 0 ? '—' : `${num(a / b, 2)}×`);
const v4 = medians['random (v4)']!;
const v7 = medians['time-ordered (v7)']!;
process.stdout.write(
  `${textTable({
    head: ['session ids', 'rounds', 'turns/s (median)', 'bytes to disk per turn', 'CPU µs per turn', 'turns/s in each round'],
    rows: [
      ['random (v4)', String(of('random (v4)').length), show(v4.turnsPerSec), show(v4.diskBytesPerTurn), show(v4.cpuUsPerTurn, 1), of('random (v4)').map((r) => num(r.turnsPerSec)).join(', ')],
      ['time-ordered (v7)', String(of('time-ordered (v7)').length), show(v7.turnsPerSec), show(v7.diskBytesPerTurn), show(v7.cpuUsPerTurn, 1), of('time-ordered (v7)').map((r) => num(r.turnsPerSec)).join(', ')],
      ['v7 ÷ v4', '', ratio(v7.turnsPerSec, v4.turnsPerSec), ratio(v7.diskBytesPerTurn, v4.diskBytesPerTurn), ratio(v7.cpuUsPerTurn, v4.cpuUsPerTurn), ''],
    ],
  })}\n${sessions} concurrent sessions, ${num(stored)} stored before them, ${seconds} s per round; ${machineLoad()} at the end.\n`,
);
process.stdout.write(`${JSON.stringify({ sessions, stored, rounds: rounds.map((r) => ({ ...r, turnsPerSec: Math.round(r.turnsPerSec), diskBytesPerTurn: r.diskBytesPerTurn === null ? null : Math.round(r.diskBytesPerTurn), cpuUsPerTurn: Math.round(r.cpuUsPerTurn * 10) / 10 })), medians })}\n`);
