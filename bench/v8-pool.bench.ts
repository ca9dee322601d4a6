/**
 * V8 helper pool benchmark: the Recall bench's 100k import (`recall.bench.js --import-only`), run
 * in child processes that alternate Node's `--v8-pool-size`, so each pool is measured next to the
 * others in the same minutes. Node's default is 4 helper threads whatever the machine; `npm start`
 * runs `keel serve` with 2 (src/cli/node-flags.ts). Per run: the event loop's longest delay during
 * the import, its longest GC pause and the number over 4 ms, and the import rate.
 *
 *   npm run bench:v8-pool -- [--pools 4,2] [--pairs 3] [--n 100000] [--data DIR]
 *
 * Prints a table of the runs and one of the medians per pool, then as its last line one JSON array
 * of {"pool", "runs", "maxEventLoopDelayMs": [..], "medianMaxEventLoopDelayMs", "medianInsertsPerSec"}.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const { values: args } = parseArgs({
  options: {
    pools: { type: 'string', default: '4,2' },
    pairs: { type: 'string', default: '3' },
    n: { type: 'string', default: '100000' },
    data: { type: 'string' },
  },
  strict: true,
});
const pools = args.pools.split(',').map(Number);
const pairs = Number(args.pairs);
if (pools.some((p) => !Number.isInteger(p) || p < 1) || !Number.isInteger(pairs) || pairs < 1) throw new TypeError('--pools takes positive integers, --pairs a positive integer');
const recallBench = fileURLToPath(new URL('./recall.bench.js', import.meta.url));

interface Run { pool: number; maxDelayMs: number; longestGcMs: number; gcOver4: number; insertsPerSec: number }

/** One import in a child process with this pool; its figures read from the Recall bench's output. */
function importOnce(pool: number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [`--v8-pool-size=${pool}`, recallBench, '--import-only', '--n', args.n, ...(args.data ? ['--data', args.data] : [])], {
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => {
      const last = JSON.parse(out.trim().split('\n').at(-1) ?? 'null') as { insertsPerSec: number; maxEventLoopDelayMs: number } | null;
      const gc = /longest GC pause meanwhile; GC pauses over 4 ms\s+([\d.]+) ms; (\d+)/.exec(out);
      if (code !== 0 || !last || !gc) return reject(new Error(`the import with pool ${pool} ended with ${code}:\n${out}`));
      resolve({ pool, maxDelayMs: last.maxEventLoopDelayMs, longestGcMs: Number(gc[1]), gcOver4: Number(gc[2]), insertsPerSec: last.insertsPerSec });
    });
  });
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

const runs: Run[] = [];
for (let pair = 0; pair < pairs; pair++) {
  for (const pool of pools) {
    const run = await importOnce(pool);
    runs.push(run);
    process.stderr.write(`round ${pair + 1}, pool ${pool}: max delay ${run.maxDelayMs} ms, longest GC ${run.longestGcMs} ms, ${run.insertsPerSec}/s\n`);
  }
}

const table = (head: string[], rows: Array<Array<string | number>>) =>
  `| ${head.join(' | ')} |\n| ${head.map(() => '---').join(' | ')} |\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`;
process.stdout.write(table(
  ['round', '--v8-pool-size', 'event loop max delay ms', 'longest GC pause ms', 'GC pauses over 4 ms', 'inserts/s'],
  runs.map((r, i) => [Math.floor(i / pools.length) + 1, r.pool, r.maxDelayMs.toFixed(1), r.longestGcMs.toFixed(1), r.gcOver4, r.insertsPerSec.toLocaleString('en')]),
));
const summary = pools.map((pool) => {
  const mine = runs.filter((r) => r.pool === pool);
  return {
    pool,
    runs: mine.length,
    maxEventLoopDelayMs: mine.map((r) => r.maxDelayMs),
    medianMaxEventLoopDelayMs: median(mine.map((r) => r.maxDelayMs)),
    medianInsertsPerSec: Math.round(median(mine.map((r) => r.insertsPerSec))),
  };
});
process.stdout.write(`\n${table(
  ['--v8-pool-size', 'runs', 'max delay per run ms', 'median max delay ms', 'median inserts/s'],
  summary.map((s) => [s.pool, s.runs, s.maxEventLoopDelayMs.map((x) => x.toFixed(1)).join(', '), s.medianMaxEventLoopDelayMs.toFixed(1), s.medianInsertsPerSec.toLocaleString('en')]),
)}`);
process.stdout.write(`${JSON.stringify(summary)}\n`);
