/**
 * Report benchmark: how long a diagnostics report holds the event loop. A decision trace of N
 * events (default 100,000: the inspector's report bound) is written to LMDB as a loaded server
 * writes it (one batch per tick, sealed per tenant with XChaCha20-Poly1305, 200 events a batch,
 * 50 sessions' turns of route, transition, tool, fallback and reply decisions), then the same
 * report is built alternately at once (`buildReport`, one synchronous scan) and in slices
 * (`buildReportSliced`, what the inspector runs), measuring each one's wall time and the event
 * loop's longest delay meanwhile (`monitorEventLoopDelay`, 1 ms resolution).
 *
 *   npm run bench:report -- [--events 100000] [--rounds 3]
 *
 * Prints a table, then as its last line one JSON object:
 * {"events", "rounds": [{"mode", "wallMs", "maxEventLoopDelayMs"}], "medians": {...}}.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/clock.js';
import { buildReport, buildReportSliced } from '../src/observe/diagnostics.js';
import { createEventStore } from '../src/observe/event-store.js';
import type { DecisionEvent } from '../src/ports.js';
import { createTenantKeyStore } from '../src/security/tenant-keys.js';
import { createTenantSealer } from '../src/security/tenant-sealer.js';
import { openEnv } from '../src/store/lmdb-env.js';
import { tenantId, userId, type SessionId } from '../src/types.js';

const { values: args } = parseArgs({ options: { events: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '3' } }, strict: true });
const total = Number(args.events);
const rounds = Number(args.rounds);
if (!Number.isInteger(total) || total < 1 || !Number.isInteger(rounds) || rounds < 1) throw new TypeError('usage: report.bench [--events N] [--rounds R]');

const dir = mkdtempSync(join(tmpdir(), 'keel-bench-report-'));
const env = openEnv({ dir });
const store = createEventStore({ env, clock: systemClock, sealer: createTenantSealer({ keys: createTenantKeyStore({ dir, clock: systemClock }) }) });
const tenant = tenantId('acme');
const start = Date.now() - 3_600_000;
const intents = ['order_status', 'refund', 'change_address', 'cancel_order', 'policy'];
const steps: Array<Pick<DecisionEvent, 'kind' | 'reason'> & { data: DecisionEvent['data'] }> = [
  { kind: 'route', reason: 'confident', data: {} },
  { kind: 'transition', reason: 'event', data: { from: 'idle', to: 'task' } },
  { kind: 'tool', reason: 'lookup_order', data: { tool: 'lookup_order', outcome: 'ok', latencyMs: 3 } },
  { kind: 'fallback', reason: 'reprompt', data: { pattern: 'P4' } },
  { kind: 'reply', reason: 'template', data: { chars: 180 } },
];
let written = 0;
for (let tick = 0; written < total; tick++) {
  for (let k = 0; k < 200 && written < total; k++, written++) {
    const turn = Math.floor(written / steps.length);
    const step = steps[written % steps.length]!;
    const session = `s-${turn % 50}` as SessionId;
    const data = step.kind === 'route' ? { intent: intents[turn % intents.length]!, score: 0.91 } : step.data;
    store.append({ ...step, data, time: start + tick, tenant, session, user: userId(`u-${turn % 50}`), traceId: `${session}:${turn}`, state: 'task' });
  }
  store.flush();
}
await env.flushed();

const delay = monitorEventLoopDelay({ resolution: 1 });
const measure = async (mode: 'at once' | 'in slices') => {
  const options = { events: store, since: start - 1, until: Date.now(), tenant, maxEvents: total };
  delay.reset();
  delay.enable();
  // The histogram records gaps between its timer's ticks: it needs a first tick before the report.
  await new Promise((resolve) => setTimeout(resolve, 10));
  const t0 = performance.now();
  const report = mode === 'at once' ? buildReport(options) : await buildReportSliced(options);
  const wallMs = performance.now() - t0;
  // One more turn of the loop, so a delay that ends with the report is recorded.
  await new Promise((resolve) => setTimeout(resolve, 5));
  delay.disable();
  if (report.events !== total) throw new Error(`the report read ${report.events} events of ${total}`);
  return { mode, wallMs: Number(wallMs.toFixed(1)), maxEventLoopDelayMs: Number((delay.max / 1e6).toFixed(1)) };
};

const results: Array<Awaited<ReturnType<typeof measure>>> = [];
await measure('at once');
await measure('in slices');
for (let r = 0; r < rounds; r++) {
  results.push(await measure('at once'));
  results.push(await measure('in slices'));
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const medians = Object.fromEntries((['at once', 'in slices'] as const).map((mode) => {
  const mine = results.filter((r) => r.mode === mode);
  return [mode, { wallMs: median(mine.map((r) => r.wallMs)), maxEventLoopDelayMs: median(mine.map((r) => r.maxEventLoopDelayMs)) }];
}));
process.stdout.write(`report over ${total.toLocaleString('en')} stored events (${Math.ceil(total / 200)} batches), ${rounds} alternating rounds after one warm-up each\n`);
process.stdout.write(`${'mode'.padEnd(10)}  ${'wall ms'.padStart(8)}  ${'event loop max delay ms'.padStart(24)}\n`);
for (const r of results) process.stdout.write(`${r.mode.padEnd(10)}  ${r.wallMs.toFixed(1).padStart(8)}  ${r.maxEventLoopDelayMs.toFixed(1).padStart(24)}\n`);
process.stdout.write(`${JSON.stringify({ events: total, rounds: results, medians })}\n`);
await env.close();
rmSync(dir, { recursive: true, force: true });
