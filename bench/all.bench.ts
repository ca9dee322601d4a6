/**
 * `npm run bench`: every scale, peer and durability benchmark in one run. Prints a table per part,
 * writes each part's section of `docs/benchmarks.md` (with SVG plots drawn by the benchmark
 * itself) and, as its last line, one JSON object with every figure.
 *
 *   npm run bench [-- --only load,scale,peer,crash,llm] [--quick] [--seconds 5] [--no-docs]
 *
 * `--quick` runs small sizes to check that everything works and writes no docs.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeSection } from './support/bench-report.js';
import type { PartContext, PartOutcome } from './support/bench-part.js';

const PARTS = ['load', 'scale', 'peer', 'crash', 'llm'] as const;
type PartName = (typeof PARTS)[number];

async function runPart(name: PartName, ctx: PartContext): Promise<PartOutcome> {
  switch (name) {
    case 'load':
      return (await import('./load.bench.js')).runLoadBench(ctx);
    case 'scale':
      return (await import('./scale.bench.js')).runScaleBench(ctx);
    case 'peer':
      return (await import('./peer.bench.js')).runPeerBench(ctx);
    case 'crash':
      return (await import('./crash.bench.js')).runCrashBench(ctx);
    case 'llm':
      return (await import('./llm-latency.bench.js')).runLlmLatencyBench(ctx);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      only: { type: 'string', default: PARTS.join(',') },
      quick: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '5' },
      'no-docs': { type: 'boolean', default: false },
    },
    strict: true,
  });
  const only = values.only.split(',').map((s) => s.trim()) as PartName[];
  const unknown = only.filter((p) => !PARTS.includes(p));
  if (unknown.length > 0) throw new TypeError(`--only takes ${PARTS.join(', ')}; got ${unknown.join(', ')}`);
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) throw new TypeError('--seconds must be a positive number');
  const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));
  const docsDir = resolve(root, 'docs');
  const ctx: PartContext = { quick: values.quick, docsDir, seconds, log: (line) => process.stderr.write(`${line}\n`) };
  const json: Record<string, unknown> = {};
  for (const name of PARTS.filter((p) => only.includes(p))) {
    const started = performance.now();
    const outcome = await runPart(name, ctx);
    process.stdout.write(`\n== ${name} (${((performance.now() - started) / 1000).toFixed(0)} s)\n${outcome.text}\n`);
    Object.assign(json, outcome.json);
    if (!values.quick && !values['no-docs']) writeSection(resolve(docsDir, 'benchmarks.md'), outcome.section, outcome.markdown);
  }
  process.stdout.write(`${JSON.stringify(json)}\n`);
}

await main();
