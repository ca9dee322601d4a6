import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { createRuntime, type SessionFrame } from '../../../src/index.js';
import { openEnv } from '../../../src/store/lmdb-env.js';
import { createTestMachine } from '../../fixtures/test-machines.js';
import { tempDir } from '../../support/temp-dir.js';

const child = fileURLToPath(new URL('../../../dist/test/fixtures/crash-child.js', import.meta.url));
const rerunChild = fileURLToPath(new URL('../../../dist/test/fixtures/rerun-child.js', import.meta.url));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** Runs the child until `doneTarget` turns resolved, then kills it with SIGKILL mid-load. */
function runAndKill(dir: string, sessions: number, doneTarget: number): Promise<{ accepted: Map<string, string>; done: Set<string> }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child, dir, String(sessions)], { stdio: ['ignore', 'pipe', 'pipe'] });
    const accepted = new Map<string, string>();
    const done = new Set<string>();
    let buffer = '';
    let stderr = '';
    proc.stderr.on('data', (d) => (stderr += String(d)));
    proc.stdout.on('data', (d) => {
      buffer += String(d);
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const [kind, session, messageId] = line.split(' ');
        if (kind === 'ACCEPT' && session && messageId) accepted.set(messageId, session);
        if (kind === 'DONE' && messageId) done.add(messageId);
      }
      // Kill while at least one acknowledged message is still unanswered, to exercise the re-run.
      if (done.size >= doneTarget && accepted.size > done.size && !proc.killed) proc.kill('SIGKILL');
    });
    proc.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ accepted, done });
      else reject(new Error(`child exited with ${code}: ${stderr}`));
    });
  });
}

describe('crash safety', () => {
  it('loses no acknowledged turn and duplicates nothing after SIGKILL under load', async () => {
    expect(existsSync(child), 'the crash child is compiled by `npm run build`').toBe(true);
    let rerun = 0;
    for (let trial = 0; trial < 3; trial++) rerun += await trialOnce(300 + trial * 150);
    // Messages acknowledged but not yet answered at the kill must have been answered after restart.
    expect(rerun).toBeGreaterThan(0);
  }, 90_000);

  it('answers a message acknowledged before the kill with what the machine produces after the restart, however long its step takes', async () => {
    const t = tempDir();
    cleanups.push(t.remove);
    // The child's step takes a minute: killed once the message is acknowledged, it never answered.
    await new Promise<void>((resolve, reject) => {
      const proc = spawn(process.execPath, [rerunChild, t.dir], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      proc.stderr.on('data', (d) => (stderr += String(d)));
      proc.stdout.on('data', (d) => {
        if (String(d).startsWith('ACCEPT') && !proc.killed) proc.kill('SIGKILL');
      });
      proc.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`child exited with ${code}: ${stderr}`))));
    });
    // After the restart the step takes 50 ms: the answer is its result, not what the machine held
    // when the message was run again.
    const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine({ slowMs: 50 }) });
    cleanups.push(() => runtime.close());
    const replies = () => runtime.replay('rerun-1', 0).filter((f) => f.type === 'reply');
    for (let i = 0; i < 200 && !replies().some((f) => f.text !== ''); i++) await new Promise((r) => setTimeout(r, 20));
    expect(replies().map((f) => ({ replyTo: f.replyTo, text: f.text }))).toEqual([{ replyTo: 'm1', text: 'done: slow one' }]);
    const again = await runtime.send('rerun-1', { type: 'user.message', id: 'm1', text: 'slow one' });
    expect(again.duplicate).toBe(true);
    expect(again.frames.map((f) => f.text)).toEqual(['done: slow one']);
    await runtime.close();
    // The wake entry that made the restart answer it (due at once) is gone: the session has no
    // timer, so nothing brings it back at the next start.
    const env = openEnv({ dir: t.dir });
    try {
      expect([...env.db('timers').getKeys({})]).toEqual([]);
    } finally {
      await env.close();
    }
  }, 30_000);
});

async function trialOnce(doneTarget: number): Promise<number> {
  const t = tempDir();
  cleanups.push(t.remove);
  const sessions = 24;
  const { accepted, done } = await runAndKill(t.dir, sessions, doneTarget);
  expect(done.size).toBeGreaterThanOrEqual(doneTarget);

  const runtime = createRuntime({ dataDir: t.dir, machine: createTestMachine({ slowMs: 1 }) });
  cleanups.push(() => runtime.close());
  // Without any client coming back, startup answers every message accepted before the kill.
  const unanswered = (): string[] =>
    [...accepted].filter(([messageId, session]) => !runtime.replay(session, 0).some((f) => f.type === 'reply' && f.replyTo === messageId)).map(([m]) => m);
  for (let i = 0; i < 100 && unanswered().length > 0; i++) await new Promise((r) => setTimeout(r, 30));
  expect(unanswered()).toEqual([]);
  const bySession = new Map<string, SessionFrame[]>();
  for (let i = 0; i < sessions; i++) {
    const id = `crash-${i}`;
    if (!runtime.describe(id)) continue;
    await runtime.send(id, { type: 'user.message', id: `after-${i}`, text: 'after restart' });
    bySession.set(id, runtime.replay(id, 0));
  }

  for (const [messageId, session] of accepted) {
    const frames = bySession.get(session) ?? [];
    const acks = frames.filter((f) => f.type === 'ack' && f.id === messageId);
    const replies = frames.filter((f) => f.type === 'reply' && f.replyTo === messageId);
    expect(acks, `ack of ${messageId}`).toHaveLength(1);
    expect(replies, `reply to ${messageId}`).toHaveLength(1);
  }
  for (const messageId of done) expect(accepted.has(messageId)).toBe(true);
  for (const frames of bySession.values()) {
    expect(frames.map((f) => f.seq)).toEqual(frames.map((_, i) => i + 1));
    const ids = frames.filter((f) => f.type === 'ack').map((f) => f.id);
    expect(new Set(ids).size).toBe(ids.length);
  }
  await runtime.close();
  return [...accepted.keys()].filter((id) => !done.has(id)).length;
}
