/**
 * Part 5 of `npm run bench`: a simulated LLM. An OpenAI-compatible loopback server (the one the
 * tests use) answers every request after 300 to 1,500 ms; the keel server (default agent, with
 * that endpoint as its LLM) holds many concurrent sessions whose turns wait on it. Measured: turn
 * latency, resident memory over time (it must stay bounded) and the event loop's longest stall.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { fakeReply, startFakeOpenAiServer } from '../test/support/fake-openai-server.js';
import { machineLoad, markdownTable, num, textTable, type Table } from './support/bench-report.js';
import type { PartContext, PartOutcome } from './support/bench-part.js';
import { linePlotSvg } from './support/svg-plot.js';
import { issueTokens, latencyHistogram, sleep, startBenchServer } from './support/ws-load.js';

const TEXTS = ['where is my order?', 'my order 1042 has not arrived, what happened?', 'can you explain your refund policy?', 'I would like to change my delivery address'];

/**
 * Runs the simulated-LLM part.
 *
 * @example
 * ```ts
 * const outcome = await runLlmLatencyBench({ quick: true, docsDir: 'docs', seconds: 5, log: console.error });
 * ```
 */
export async function runLlmLatencyBench(ctx: PartContext): Promise<PartOutcome> {
  const clients = ctx.quick ? 200 : 2000;
  const seconds = ctx.quick ? 10 : 40;
  const llm = await startFakeOpenAiServer({ apiKey: 'bench-key' });
  let llmRequests = 0;
  llm.setDefault(() => {
    llmRequests++;
    return fakeReply.text('Thanks for waiting: here is what I found about your request.', { delayMs: 300 + Math.random() * 1200 });
  });
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-llm-'));
  const h = latencyHistogram();
  try {
    const tokens = await issueTokens(dataDir, clients, 'llm');
    const server = await startBenchServer('keel', { dataDir, env: { OPENAI_BASE_URL: llm.baseURL, OPENAI_API_KEY: 'bench-key', KEEL_MODEL: 'fake-model' } });
    let turns = 0;
    let errors = 0;
    let stopping = false;
    let measuring = false;
    const sockets: WebSocket[] = [];
    // Each client: send, wait for the reply, think 5-15 s (a person reading and typing), send again.
    const client = (i: number): Promise<void> =>
      new Promise((resolve) => {
        const ws = new WebSocket(server.url, { perMessageDeflate: false, headers: { authorization: `Bearer ${tokens[i]}` } });
        sockets.push(ws);
        let n = 0;
        let sentAt = 0;
        let current = '';
        const send = (): void => {
          if (stopping) return;
          current = `l${i}-${n++}`;
          sentAt = performance.now();
          ws.send(JSON.stringify({ type: 'message', id: current, text: TEXTS[(i + n) % TEXTS.length] }));
        };
        ws.on('open', () => ws.send(JSON.stringify({ type: 'hello' })));
        ws.on('message', (data) => {
          const f = JSON.parse(String(data)) as { type: string; replyTo?: string };
          if (f.type === 'ready') {
            resolve();
            setTimeout(send, Math.random() * 10_000);
          } else if (f.type === 'error') errors++;
          else if (f.type === 'reply' && f.replyTo === current) {
            if (measuring) {
              h.recordValue(Math.max(1, Math.round((performance.now() - sentAt) * 1000)));
              turns++;
            }
            setTimeout(send, 5000 + Math.random() * 10_000);
          }
        });
        ws.on('error', () => {
          errors++;
          resolve();
        });
      });
    for (let i = 0; i < clients; i += 200) await Promise.all(Array.from({ length: Math.min(200, clients - i) }, (_, j) => client(i + j)));
    // Ten seconds for the first messages to spread out, then the measured window.
    await sleep(10_000);
    await server.stats();
    measuring = true;
    const timeline: Array<{ t: number; rssMiB: number; loopMaxMs: number; live: number }> = [];
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      await sleep(2000);
      const s = await server.stats();
      timeline.push({ t: (performance.now() - t0) / 1000, rssMiB: s.rssBytes / 2 ** 20, loopMaxMs: s.loopMaxMs, live: s.liveSessions });
      llm.reset();
      ctx.log(`llm: t=${num(timeline.at(-1)!.t)} s rss ${num(timeline.at(-1)!.rssMiB)} MiB, max loop delay ${num(s.loopMaxMs, 1)} ms, ${num(turns)} turns`);
    }
    const elapsed = (performance.now() - t0) / 1000;
    stopping = true;
    for (const ws of sockets) ws.close();
    await server.stop();
    const rss = timeline.map((p) => p.rssMiB);
    const loopMax = Math.max(...timeline.map((p) => p.loopMaxMs));
    const table: Table = {
      head: ['measure', 'value'],
      rows: [
        ['concurrent sessions (one WebSocket each)', num(clients)],
        ['LLM answer time (uniform)', '300–1,500 ms'],
        ['turns answered', `${num(turns)} in ${num(elapsed)} s (${num(turns / elapsed)} turns/s)`],
        ['turn latency p50 / p99 / max', `${num(h.getValueAtPercentile(50) / 1000)} / ${num(h.getValueAtPercentile(99) / 1000)} / ${num(h.maxValue / 1000)} ms`],
        ['LLM requests', num(llmRequests)],
        ['error frames', num(errors)],
        ['server RSS first / max / last sample', `${num(rss[0] ?? NaN)} / ${num(Math.max(...rss))} / ${num(rss.at(-1) ?? NaN)} MiB`],
        ['longest event-loop stall (max delay, 5 ms resolution)', `${num(loopMax, 1)} ms`],
      ],
    };
    const svgName = 'bench-llm-memory.svg';
    if (!ctx.quick) {
      writeFileSync(
        join(ctx.docsDir, svgName),
        linePlotSvg({
          title: `${num(clients)} sessions waiting on a 300–1,500 ms LLM`,
          xLabel: 'time (s)',
          yLabel: 'MiB / ms',
          series: [
            { name: 'server RSS (MiB)', points: timeline.map((p) => [p.t, p.rssMiB] as const) },
            { name: 'max loop delay (ms)', points: timeline.map((p) => [p.t, p.loopMaxMs] as const) },
          ],
        }),
      );
    }
    const markdown = [
      '## A slow LLM (`npm run bench -- --only llm`)',
      '',
      `An OpenAI-compatible server on loopback (\`test/support/fake-openai-server.ts\`) answers every request after`,
      `a uniformly random 300 to 1,500 ms; the keel server runs the default agent with it as its LLM`,
      `(\`OPENAI_BASE_URL\`), in a child process. ${num(clients)} WebSocket clients each send a message, wait for the`,
      'reply, think for 5 to 15 s and send again; the first messages spread over 10 s before the measured',
      'window starts. Every 2 s the server reports its resident memory and the',
      `longest event-loop delay since the previous report (\`monitorEventLoopDelay\`). ${num(elapsed)} s; ${machineLoad()} at the end.`,
      '',
      markdownTable(table),
      '',
      `![memory and event-loop delay over time](${svgName})`,
    ].join('\n');
    const out = {
      clients, turns, turnsPerSec: Math.round(turns / elapsed), p50Ms: h.getValueAtPercentile(50) / 1000, p99Ms: h.getValueAtPercentile(99) / 1000,
      llmRequests, errors, rssFirstMiB: Math.round(rss[0] ?? 0), rssMaxMiB: Math.round(Math.max(...rss)), rssLastMiB: Math.round(rss.at(-1) ?? 0), loopMaxMs: loopMax,
    };
    return { section: 'llm', text: textTable(table), markdown, json: { llm: out } };
  } finally {
    h.destroy();
    await llm.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
