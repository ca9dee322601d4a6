/**
 * Embedding keel without the server: the default support agent in your own Node program (an
 * Electron main process, a worker, an existing HTTP server). Every turn is committed to LMDB in
 * `dataDir` before `send` resolves; closing the runtime flushes and closes it.
 *
 * Run it: `npm run build && node dist/examples/embed.js` (data in a temporary directory), or with
 * `KEEL_DATA_DIR=./.keel` to keep it. With `OPENAI_BASE_URL` / `OPENAI_API_KEY` / `KEEL_MODEL` set,
 * an OpenAI-compatible model rephrases the grounded replies.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createDefaultAgent, createRuntime, tenantId, userId } from '../src/index.js';

/** One line of the conversation the example holds. */
export interface EmbedLine {
  readonly user: string;
  readonly agent: string;
  readonly state: string;
}

/**
 * Opens a runtime over `dataDir` with the default agent, holds a short conversation as customer
 * `alice` of tenant `acme`, and closes the runtime.
 *
 * @example
 * ```ts
 * const lines = await runEmbedded({ dataDir: './.keel' });
 * lines[1]?.agent; // 'Order 1042 (Trail running shoes, Merino socks) is on its way: ...'
 * ```
 */
export async function runEmbedded(options: { readonly dataDir: string; readonly env?: Readonly<Record<string, string | undefined>> }): Promise<EmbedLine[]> {
  const agent = await createDefaultAgent({ dataDir: options.dataDir, env: options.env ?? {} });
  const runtime = createRuntime({ dataDir: options.dataDir, machine: agent.machine });
  const lines: EmbedLine[] = [];
  try {
    const { sessionId } = await runtime.open({ tenant: tenantId('acme'), user: userId('alice'), channel: 'desktop' });
    const turns = ['hi', 'where is my order 1042?', 'I want to cancel order 1043', 'yes', 'what is your return policy'];
    for (const [i, text] of turns.entries()) {
      // The message id makes the turn idempotent: sending it again returns the stored reply.
      const outcome = await runtime.send(sessionId, { type: 'user.message', id: `m-${i + 1}`, text });
      const reply = outcome.frames.find((f) => f.type === 'reply');
      lines.push({ user: text, agent: reply?.text ?? '', state: outcome.state });
    }
  } finally {
    await runtime.close();
  }
  return lines;
}

async function main(): Promise<void> {
  const kept = process.env.KEEL_DATA_DIR;
  const dataDir = kept ?? mkdtempSync(join(tmpdir(), 'keel-embed-'));
  try {
    for (const line of await runEmbedded({ dataDir, env: process.env })) {
      console.log(`you:   ${line.user}\nagent: ${line.agent.replace(/\n\n/g, '\n       ')}\n`);
    }
  } finally {
    if (kept === undefined) rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
