/**
 * Side-by-side measurements of the runtime core for two builds of keel, to show what a change did:
 * build the older commit elsewhere (`git archive <commit> | tar -x -C DIR`, link node_modules,
 * `npx tsc -p DIR`), then run this with `--root DIR` and without (this build), alternating.
 *
 *   node --expose-gc dist/bench/before-after.bench.js [--root DIR] [--only cap,heap,tick,turns,agent]
 *
 * - cap: sessions opened per second 1,000 at a time with `maxLiveSessions` 1,000 (every open past
 *   the cap passivates one), and the resident memory at the end.
 * - heap: heap bytes per live session (10,000 sessions of the one-state test machine).
 * - tick: durable turns per second at 200 sessions of a machine whose step is a promise actor that
 *   settles within the tick (like the local provider's router), and commits per turn.
 * - turns: durable turns per second at 200 sessions of the one-state test machine.
 * - agent: durable turns per second at 200 sessions of the default support agent (local provider),
 *   each message routed to an intent, after a warm-up that fills every user's intent history.
 * Prints one JSON line.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { assign, emit, fromPromise, setup } from 'xstate';
import type * as KeelModule from '../src/index.js';
import type * as TestMachines from '../test/fixtures/test-machines.js';
import type * as DefaultMachine from '../src/cli/default-machine.js';
import { tempDir } from '../test/support/temp-dir.js';

type Keel = typeof KeelModule;

const { values } = parseArgs({ options: { root: { type: 'string' }, only: { type: 'string', default: 'cap,heap,tick,turns' }, seconds: { type: 'string', default: '3' } }, strict: true });
const root = resolve(values.root ?? fileURLToPath(new URL('../..', import.meta.url)));
const keel = (await import(join(root, 'dist/src/index.js'))) as Keel;
const { createTestMachine } = (await import(join(root, 'dist/test/fixtures/test-machines.js'))) as typeof TestMachines;
const gc = (globalThis as { gc?: () => void }).gc;
const seconds = Number(values.seconds);
const tenant = keel.tenantId('bench');

/** A turn whose one step is a promise actor resolving in a microtask, tagged busy meanwhile. */
function microtaskMachine() {
  return setup({
    types: { context: {} as { n: number }, events: {} as { type: 'user.message'; text: string } },
    actors: { step: fromPromise<string, { text: string }>(async ({ input }) => `ok: ${input.text}`) },
  }).createMachine({
    id: 'microtask-step',
    context: { n: 0 },
    initial: 'idle',
    states: {
      idle: { on: { 'user.message': 'working' } },
      working: {
        tags: ['busy'],
        invoke: {
          src: 'step',
          input: ({ event }) => ({ text: (event as { text: string }).text }),
          onDone: { target: 'idle', actions: [emit(({ event }) => ({ type: 'agent.reply' as const, text: event.output })), assign({ n: ({ context }) => context.n + 1 })] },
        },
      },
    },
  });
}

async function turnsAt200(machine: Parameters<Keel['createRuntime']>[0]['machine']): Promise<{ turnsPerSec: number; commitsPerTurn: number }> {
  const t = tempDir('keel-ba-');
  const runtime = keel.createRuntime({ dataDir: t.dir, machine, logger: keel.silentLogger, maxLiveSessions: 1000 });
  const ids: string[] = [];
  let acksAlone = 0;
  for (let i = 0; i < 200; i++) {
    const id = (await runtime.open({ tenant, user: keel.userId(`u${i}`) })).sessionId;
    ids.push(id);
    // A turn committed twice publishes its ack alone (after the first commit), then the reply.
    runtime.subscribe(id, (frames) => {
      if (frames.some((f) => f.type === 'ack') && !frames.some((f) => f.type === 'reply')) acksAlone++;
    });
  }
  let turns = 0;
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  await Promise.all(
    ids.map(async (id, i) => {
      for (let k = 0; performance.now() < deadline; k++) {
        await runtime.send(id, { type: 'user.message', id: `m${i}-${k}`, text: 'hello' });
        turns++;
      }
    }),
  );
  const turnsPerSec = turns / ((performance.now() - t0) / 1000);
  await runtime.close();
  t.remove();
  return { turnsPerSec, commitsPerTurn: 1 + acksAlone / turns };
}

async function agentTurns(): Promise<{ turnsPerSec: number }> {
  const t = tempDir('keel-ba-');
  const { loadDefaultMachine } = (await import(join(root, 'dist/src/cli/default-machine.js'))) as typeof DefaultMachine;
  const agent = await loadDefaultMachine({ dataDir: t.dir, env: {} });
  const runtime = keel.createRuntime({ dataDir: t.dir, machine: agent.machine, logger: keel.silentLogger, maxLiveSessions: 1000 });
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) ids.push((await runtime.open({ tenant, user: keel.userId(`a${i}`) })).sessionId);
  const run = async (until: (k: number) => boolean, prefix: string) => {
    let turns = 0;
    await Promise.all(
      ids.map(async (id, i) => {
        for (let k = 0; until(k); k++) {
          await runtime.send(id, { type: 'user.message', id: `${prefix}${i}-${k}`, text: 'where is my order?' });
          turns++;
        }
      }),
    );
    return turns;
  };
  // 60 turns each: every history holds its 50 entries before the measurement.
  await run((k) => k < 60, 'w');
  const deadline = performance.now() + seconds * 1000;
  const t0 = performance.now();
  const turns = await run(() => performance.now() < deadline, 'm');
  const turnsPerSec = turns / ((performance.now() - t0) / 1000);
  await runtime.close();
  t.remove();
  return { turnsPerSec };
}

async function cap(): Promise<{ opensPerSec: number; rssMiB: number }> {
  const t = tempDir('keel-ba-');
  const runtime = keel.createRuntime({ dataDir: t.dir, machine: createTestMachine(), logger: keel.silentLogger, maxLiveSessions: 1000 });
  const t0 = performance.now();
  for (let i = 0; i < 5000; i += 1000) {
    await Promise.all(Array.from({ length: 1000 }, (_, j) => runtime.open({ tenant, user: keel.userId(`c${i + j}`) })));
  }
  const opensPerSec = 5000 / ((performance.now() - t0) / 1000);
  const rssMiB = process.memoryUsage().rss / 2 ** 20;
  await runtime.close();
  t.remove();
  return { opensPerSec, rssMiB };
}

async function heap(): Promise<number> {
  const t = tempDir('keel-ba-');
  const n = 10_000;
  const runtime = keel.createRuntime({ dataDir: t.dir, machine: createTestMachine(), logger: keel.silentLogger, maxLiveSessions: n + 10 });
  const warm = await runtime.open({ tenant, user: keel.userId('w') });
  await runtime.send(warm.sessionId, { type: 'user.message', id: 'w', text: 'w' });
  gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < n; i += 1000) await Promise.all(Array.from({ length: 1000 }, (_, j) => runtime.open({ tenant, user: keel.userId(`h${i + j}`) })));
  await new Promise((r) => setTimeout(r, 50));
  gc?.();
  const bytes = (process.memoryUsage().heapUsed - before) / n;
  await runtime.close();
  t.remove();
  return bytes;
}

const only = values.only.split(',');
const out: Record<string, unknown> = { root };
if (only.includes('cap')) out.cap = await cap();
if (only.includes('heap')) out.heapBytesPerLiveSession = Math.round(await heap());
if (only.includes('tick')) out.microtaskStep = await turnsAt200(microtaskMachine());
if (only.includes('turns')) out.testMachine = await turnsAt200(createTestMachine());
if (only.includes('agent')) out.supportAgent = await agentTurns();
process.stdout.write(`${JSON.stringify(out, (_, v: unknown) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))}\n`);
