/**
 * A slow inspector never slows the agents: a page that stops reading its socket costs a bounded
 * queue and dropped timeline events (told to it with a `skipped` frame once it reads again),
 * while turns go on at their usual pace.
 */
import type { Socket } from 'node:net';
import { assign, enqueueActions, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { SessionInput, UserMessageEvent } from '../../../src/ports.js';
import { tenantId, userId } from '../../../src/types.js';
import { useCleanups } from '../../support/cleanups.js';
import { connect, keelPerTest, type Frame, type Harness } from '../server/support/keel-harness.js';

/** A machine that reports a lot per turn: 20 decisions of about 4 KB each. */
function createChattyMachine() {
  const pad = 'x'.repeat(4000);
  return setup({
    types: {
      context: {} as { count: number },
      input: {} as SessionInput,
      events: {} as UserMessageEvent,
      emitted: {} as { type: 'agent.reply'; text: string } | { type: 'agent.decision'; kind: 'plan'; reason: string; data: { pad: string; step: number } },
    },
  }).createMachine({
    id: 'chatty-agent',
    context: { count: 0 },
    initial: 'idle',
    states: {
      idle: {
        on: {
          'user.message': {
            actions: [
              assign({ count: ({ context }) => context.count + 1 }),
              enqueueActions(({ context, enqueue }) => {
                for (let step = 0; step < 20; step++) enqueue.emit({ type: 'agent.decision', kind: 'plan', reason: 'thinking', data: { pad, step } });
                enqueue.emit({ type: 'agent.reply', text: `turn ${context.count}` });
              }),
            ],
          },
        },
      },
    },
  });
}

const MAX_QUEUED = 50;
const MAX_BUFFERED = 64 * 1024;

describe('inspector back-pressure', () => {
  const defer = useCleanups();
  const start = keelPerTest(defer, {
    machine: createChattyMachine(),
    server: { inspector: { maxQueuedFrames: MAX_QUEUED, maxBufferedBytes: MAX_BUFFERED, drainCheckMs: 20, healthIntervalMs: 60_000 } },
  });

  const turns = async (h: Harness, sessionId: string, n: number, from: number): Promise<number> => {
    const started = performance.now();
    for (let i = 0; i < n; i++) await h.runtime.send(sessionId, { type: 'user.message', id: `m-${from + i}`, text: 'hello' });
    return performance.now() - started;
  };

  it('keeps turns going while a page stops reading, bounds its queue, and tells it what it missed', async () => {
    const h = await start();
    const { sessionId } = await h.runtime.open({ tenant: tenantId('acme'), user: userId('alice') });
    // Warm up, then the pace of turns with nobody watching.
    await turns(h, sessionId, 20, 0);
    const baselineMs = await turns(h, sessionId, 150, 100);

    const page = connect(`${h.url.replace(/^http/, 'ws')}/inspector/ws`, { token: await h.token({ user: 'eng', role: 'engineer' }) });
    await page.opened;
    await page.next((f) => f.type === 'welcome');
    page.send({ type: 'watch', sessionId });
    await page.next((f) => f.type === 'session.detail');
    // The page stops reading: its socket's buffers fill, then the server's, then the queue.
    const raw = (page.ws as unknown as { _socket: Socket })._socket;
    raw.pause();

    const stalledMs = await turns(h, sessionId, 150, 1000);
    // ~13 MB of events went to a page that read none of them: the operating system's socket
    // buffers took a few MB, the queue its 50 frames, the rest was dropped and counted.
    // The hub sorts events out on the next turns of the event loop.
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [stats] = h.server.inspector.hub.stats();
    expect(stats).toBeDefined();
    expect(stats!.queued).toBeLessThanOrEqual(MAX_QUEUED);
    expect(stats!.dropped).toBeGreaterThan(0);
    // Loose on purpose (a shared machine): the point is "same order", not a benchmark.
    expect(stalledMs).toBeLessThan(baselineMs * 4 + 3000);

    // The page reads again: it learns how many events it missed, and the live stream goes on.
    raw.resume();
    // One `skipped` frame per run of drops: when the socket took some frames mid-stall, the drops
    // before that were told in a frame of their own. Together they account for every drop.
    const skipped = { count: 0, byType: { event: 0 } };
    while (skipped.count < stats!.dropped) {
      const frame = await page.next((f) => f.type === 'skipped', 15_000);
      skipped.count += frame.count as number;
      for (const [type, n] of Object.entries(frame.byType as Record<string, number>)) skipped.byType[type as 'event'] = (skipped.byType[type as 'event'] ?? 0) + n;
    }
    expect(skipped.count).toBe(stats!.dropped);
    expect(skipped.byType).toEqual({ event: stats!.dropped });
    await h.runtime.send(sessionId, { type: 'user.message', id: 'after', text: 'hello again' });
    await page.next((f: Frame) => f.type === 'event' && (f.event as { kind: string }).kind === 'reply', 15_000);
    page.close();
  }, 120_000);

  it('refuses tokens that are not staff, and other origins', async () => {
    const h = await start();
    const url = `${h.url.replace(/^http/, 'ws')}/inspector/ws`;
    const customer = connect(url, { token: await h.token({ role: 'customer' }) });
    expect((await customer.closed).code).toBe(4403);
    const forged = connect(url, { token: 'not-a-token' });
    expect((await forged.closed).code).toBe(4401);
    const elsewhere = connect(url, { token: await h.token({ role: 'admin' }), origin: 'https://evil.example' });
    expect((await elsewhere.closed).code).toBe(4403);
    const silent = connect(url);
    await silent.opened;
    silent.send({ type: 'watch', sessionId: 's-1' });
    expect((await silent.closed).code).toBe(4401);
    // Another tenant's engineer sees nothing of acme's sessions, and cannot watch them.
    const { sessionId } = await h.runtime.open({ tenant: tenantId('acme'), user: userId('alice') });
    const other = connect(url, { token: await h.token({ tenant: 'globex', role: 'engineer' }) });
    const sessions = await other.next((f) => f.type === 'sessions');
    expect(sessions.sessions).toEqual([]);
    other.send({ type: 'watch', sessionId });
    expect((await other.next((f) => f.type === 'error')).code).toBe('unknown_session');
    other.send({ type: 'signal', id: 's1', sessionId, event: { type: 'operator.handoff' } });
    expect((await other.next((f) => f.type === 'error')).code).toBe('forbidden');
    other.close();
  });
});
