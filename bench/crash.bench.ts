/**
 * Part 4 of `npm run bench`: durability under crashes. The keel server (default support agent)
 * runs in a child process under load from real WebSocket clients and is killed with SIGKILL at a
 * random moment, again and again; after each kill it restarts on the same data directory and the
 * clients reconnect, resume (`hello` with their `lastSeq`) and send again whatever had no reply,
 * with the same message ids. At the end the journal is read back: every message the server
 * acknowledged must be there once, answered once; seq must have no gap.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { createRuntime, silentLogger } from '../src/index.js';
import { loadDefaultMachine } from '../src/cli/default-machine.js';
import { machineLoad, markdownTable, num, textTable, type Table } from './support/bench-report.js';
import type { PartContext, PartOutcome } from './support/bench-part.js';
import { issueTokens, sleep, startBenchServer } from './support/ws-load.js';

interface Frame {
  readonly type: string;
  readonly seq?: number;
  readonly id?: string;
  readonly replyTo?: string;
  readonly sessionId?: string;
  readonly lastSeq?: number;
}

/** One client's memory across connections. */
interface ClientState {
  readonly index: number;
  readonly token: string;
  sessionId?: string;
  lastSeq: number;
  next: number;
  /** The message sent and not yet answered (resent after a reconnect). */
  current?: string;
  readonly acked: Set<string>;
  readonly answered: Set<string>;
  ws?: WebSocket;
}

const TEXTS = ['where is my order?', 'order 1042', 'can I get a refund?', 'thanks', 'I want to change my address'];

function connect(url: string, c: ClientState, stopAt: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { perMessageDeflate: false, headers: { authorization: `Bearer ${c.token}` } });
    c.ws = ws;
    const send = (): void => {
      if (stopAt() || ws.readyState !== WebSocket.OPEN) return;
      c.current ??= `c${c.index}-m${c.next++}`;
      ws.send(JSON.stringify({ type: 'message', id: c.current, text: TEXTS[c.next % TEXTS.length] }));
    };
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', ...(c.sessionId ? { sessionId: c.sessionId, lastSeq: c.lastSeq } : {}) })));
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as Frame;
      if (typeof f.seq === 'number' && f.seq > c.lastSeq) c.lastSeq = f.seq;
      if (f.type === 'ready') {
        c.sessionId = f.sessionId;
        resolve();
        send();
        return;
      }
      if (f.type === 'ack' && f.id) c.acked.add(f.id);
      if (f.type === 'reply' && f.replyTo) {
        c.answered.add(f.replyTo);
        if (f.replyTo === c.current) {
          c.current = undefined;
          send();
        }
      }
    });
    ws.on('error', () => resolve());
    ws.on('close', () => resolve());
  });
}

/**
 * Runs the crash trials.
 *
 * @example
 * ```ts
 * const outcome = await runCrashBench({ quick: true, docsDir: 'docs', seconds: 5, log: console.error });
 * ```
 */
export async function runCrashBench(ctx: PartContext): Promise<PartOutcome> {
  const trials = ctx.quick ? 3 : 20;
  const clients = ctx.quick ? 20 : 100;
  const dataDir = mkdtempSync(join(tmpdir(), 'keel-crash-'));
  const started = performance.now();
  try {
    const tokens = await issueTokens(dataDir, clients, 'crash');
    const states: ClientState[] = tokens.map((token, index) => ({ index, token, lastSeq: 0, next: 0, acked: new Set(), answered: new Set() }));
    const killedAtAcks: number[] = [];
    for (let trial = 0; trial <= trials; trial++) {
      const last = trial === trials;
      const server = await startBenchServer('keel', { dataDir });
      let stopping = false;
      await Promise.all(states.map((c) => connect(server.url, c, () => stopping)));
      if (!last) {
        await sleep(300 + Math.random() * 1200);
        killedAtAcks.push(states.reduce((n, c) => n + c.acked.size, 0));
        await server.kill();
        ctx.log(`crash: trial ${trial + 1}/${trials}: SIGKILL with ${killedAtAcks.at(-1)} messages acknowledged so far`);
      } else {
        // The last run: no kill; every client finishes what it had in flight, then stops.
        stopping = true;
        const until = performance.now() + 30_000;
        while (states.some((c) => c.current !== undefined) && performance.now() < until) await sleep(50);
        for (const c of states) c.ws?.close();
        await server.stop();
      }
      for (const c of states) c.ws?.terminate();
    }

    // Read the journal back in-process, with the same agent (its tools need their stores).
    const agent = await loadDefaultMachine({ dataDir, env: {} });
    const runtime = createRuntime({ dataDir, machine: agent.machine, logger: silentLogger });
    let acknowledged = 0;
    let lost = 0;
    let duplicated = 0;
    let gaps = 0;
    let unanswered = 0;
    let journaled = 0;
    try {
      for (const c of states) {
        if (!c.sessionId) continue;
        const frames = runtime.replay(c.sessionId, 0);
        journaled += frames.filter((f) => f.type === 'ack').length;
        if (frames.some((f, i) => f.seq !== i + 1)) gaps++;
        const acks = new Map<string, number>();
        const replies = new Map<string, number>();
        for (const f of frames) {
          if (f.type === 'ack' && f.id) acks.set(f.id, (acks.get(f.id) ?? 0) + 1);
          if (f.type === 'reply' && f.replyTo) replies.set(f.replyTo, (replies.get(f.replyTo) ?? 0) + 1);
        }
        for (const n of acks.values()) if (n > 1) duplicated += n - 1;
        for (const n of replies.values()) if (n > 1) duplicated += n - 1;
        for (const id of c.acked) {
          acknowledged++;
          if (acks.get(id) !== 1 || replies.get(id) !== 1) lost++;
        }
        if (c.current !== undefined) unanswered++;
      }
    } finally {
      await runtime.close();
    }
    const table: Table = {
      head: ['trials (SIGKILL)', 'clients', 'messages acknowledged', 'journaled messages', 'acknowledged but lost', 'duplicated', 'sessions with seq gaps', 'clients left unanswered'],
      rows: [[num(trials), num(clients), num(acknowledged), num(journaled), num(lost), num(duplicated), num(gaps), num(unanswered)]],
    };
    const seconds = (performance.now() - started) / 1000;
    const markdown = [
      '## Durability under crashes (`npm run bench -- --only crash`)',
      '',
      `The keel server (default support agent, local provider) runs in a child process; ${clients} real WebSocket`,
      'clients do turns against it (each sends its next message when the previous one is answered). After',
      '0.3 to 1.5 s the server is killed with SIGKILL, restarted on the same data directory, and every',
      'client reconnects, resumes its session (`hello` with its `lastSeq`; the server replays what it',
      'missed) and sends again, with the same id, the message it had no reply to. After the last trial the',
      'server runs until every client has its reply; then the journal is read back with `runtime.replay`.',
      '"Acknowledged but lost" counts messages a client got an `ack` for that do not appear in the',
      'journal exactly once with exactly one reply; "duplicated" counts extra acks or replies for one',
      `message id. ${num(seconds)} s in all; ${machineLoad()} at the end.`,
      '',
      markdownTable(table),
    ].join('\n');
    return {
      section: 'crash',
      text: textTable(table),
      markdown,
      json: { crash: { trials, clients, acknowledged, journaled, lost, duplicated, gaps, unanswered } },
    };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}
