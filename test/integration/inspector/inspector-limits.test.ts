/**
 * What one inspector page may cost the server: its requests are rate-limited (and a page that
 * ignores its refusals is closed), it cannot make the server hold answers it never reads, one user
 * holds a bounded number of pages, a page refused at sign-in never ends the process, and staff see
 * what customers said redacted even when the runtime keeps its trace as written.
 */
import type { Socket } from 'node:net';
import { enqueueActions, setup } from 'xstate';
import { describe, expect, it } from 'vitest';
import type { SessionInput, UserMessageEvent } from '../../../src/ports.js';
import { tenantId, userId } from '../../../src/types.js';
import { useCleanups } from '../../support/cleanups.js';
import { connect, keelPerTest, type Harness, type TestClient } from '../server/support/keel-harness.js';

const EMAIL = 'alice.private@example.org';

/** Each turn reports 20 decisions of about 4 KB, and one failure naming the customer's email. */
function createChattyMachine() {
  const pad = 'x'.repeat(4000);
  return setup({
    types: {
      input: {} as SessionInput,
      events: {} as UserMessageEvent,
      emitted: {} as
        | { type: 'agent.reply'; text: string }
        | { type: 'agent.decision'; kind: 'plan' | 'fallback'; reason: string; data: Record<string, string | number> },
    },
  }).createMachine({
    id: 'chatty-agent',
    initial: 'idle',
    states: {
      idle: {
        on: {
          'user.message': {
            actions: enqueueActions(({ enqueue }) => {
              for (let step = 0; step < 20; step++) enqueue.emit({ type: 'agent.decision', kind: 'plan', reason: 'thinking', data: { pad, step } });
              enqueue.emit({ type: 'agent.decision', kind: 'fallback', reason: `lookup failed for ${EMAIL}`, data: { tool: 'find_order', reason: `no order for ${EMAIL}`, next: 'template', latencyMs: 3 } });
              enqueue.emit({ type: 'agent.reply', text: 'sorry' });
            }),
          },
        },
      },
    },
  });
}

const defer = useCleanups();
const start = keelPerTest(defer, { machine: createChattyMachine() });

async function page(h: Harness, user = 'eve', role: 'engineer' | 'admin' = 'engineer'): Promise<TestClient> {
  const c = connect(`${h.url.replace(/^http/, 'ws')}/inspector/ws`, { token: await h.token({ user, role }) });
  defer(() => c.close());
  await c.opened;
  return c;
}

async function someTurns(h: Harness, n: number): Promise<string> {
  const { sessionId } = await h.runtime.open({ tenant: tenantId('acme'), user: userId('alice') });
  for (let i = 0; i < n; i++) await h.runtime.send(sessionId, { type: 'user.message', id: `m-${i}`, text: 'where is my order' });
  return sessionId;
}

describe('inspector limits', () => {
  it('rate-limits requests, and closes a page that keeps sending after its refusals', async () => {
    const h = await start({ server: { inspector: { maxRequestsPerSecond: 2 } } });
    const p = await page(h);
    await p.next((f) => f.type === 'welcome');
    // A burst of 4 is answered; the fifth request is refused with rate_limited.
    for (let i = 0; i < 5; i++) p.send({ type: 'query', id: `q${i}`, since: 0 });
    expect(await p.next((f) => f.type === 'error' && f.code === 'rate_limited')).toMatchObject({ type: 'error', code: 'rate_limited' });
    // A page that keeps sending after its refusals (a burst of 20 of them) is closed. Frames still
    // queued for it when it is closed are not sent: whether the answers above went out first
    // depends on how the requests arrived, so only their number is bounded.
    for (let i = 5; i < 60; i++) p.send({ type: 'query', id: `q${i}`, since: 0 });
    expect(await p.closed).toEqual({ code: 1008, reason: 'flooding: requests kept coming after rate_limited errors' });
    const answered = p.frames.filter((f) => f.type === 'query.result').length;
    const limited = p.frames.filter((f) => f.type === 'error' && f.code === 'rate_limited').length;
    // 4, and one more for each half second the test took (2 requests a second).
    expect(answered).toBeLessThanOrEqual(6);
    expect(limited).toBeGreaterThanOrEqual(1);
    expect(limited).toBeLessThanOrEqual(21);
    // Another page of the same engineer is unaffected.
    const other = await page(h);
    await other.next((f) => f.type === 'welcome');
    other.send({ type: 'query', id: 'fine', since: 0 });
    expect(await other.next((f) => f.id === 'fine')).toMatchObject({ type: 'query.result' });
  });

  it('holds no more answers for a page that asks and never reads than maxUnreadBytes', async () => {
    const h = await start({ server: { inspector: { maxRequestsPerSecond: 1000, maxUnreadBytes: 256 * 1024 } } });
    await someTurns(h, 30);
    const p = await page(h);
    await p.next((f) => f.type === 'welcome');
    const raw = (p.ws as unknown as { _socket: Socket })._socket;
    raw.pause();
    // Each answer is about 2.5 MB (600 events of 4 KB): the first fills what the page may leave unread.
    for (let i = 0; i < 30; i++) p.send({ type: 'query', id: `q${i}`, since: 0 });
    await expect.poll(() => h.server.inspector.hub.stats()[0]?.queued ?? 0, { timeout: 5000 }).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    raw.resume();
    const answers = await p.waitFor((f) => f.type === 'query.result' || (f.type === 'error' && f.code === 'rate_limited'), 30, 20_000);
    const results = answers.filter((f) => f.type === 'query.result').length;
    expect(results).toBeGreaterThanOrEqual(1);
    expect(results).toBeLessThanOrEqual(3);
    expect(answers.filter((f) => f.type === 'error')).toHaveLength(30 - results);
    // Once read, the page is answered again.
    p.send({ type: 'query', id: 'again', since: 0, limit: 5 });
    expect(await p.next((f) => f.id === 'again', 10_000)).toMatchObject({ type: 'query.result' });
  }, 60_000);

  it('builds one report at a time per page, and refuses another meanwhile', async () => {
    const h = await start({ server: { inspector: { maxRequestsPerSecond: 1000 } } });
    // 300 turns of 22 decisions, each turn its own stored batch: a report reads them in several slices.
    await someTurns(h, 300);
    const p = await page(h);
    await p.next((f) => f.type === 'welcome');
    p.send({ type: 'report', id: 'r1', since: 0 });
    p.send({ type: 'report', id: 'r2', since: 0 });
    expect(await p.next((f) => f.id === 'r2')).toMatchObject({ type: 'error', code: 'rate_limited', message: expect.stringContaining('still being built') });
    const first = await p.next((f) => f.id === 'r1');
    expect(first).toMatchObject({ type: 'report.result', report: { turns: 300 } });
    // Once it is answered, the page may ask again.
    p.send({ type: 'report', id: 'r3', since: 0 });
    expect(await p.next((f) => f.id === 'r3')).toMatchObject({ type: 'report.result' });
  });

  it('holds at most maxPagesPerUser pages per user, closing one more with 4429', async () => {
    const h = await start({ server: { inspector: { maxPagesPerUser: 2 } } });
    const first = await page(h);
    const second = await page(h);
    await Promise.all([first.next((f) => f.type === 'welcome'), second.next((f) => f.type === 'welcome')]);
    const third = await page(h);
    expect((await third.closed).code).toBe(4429);
    const colleague = await page(h, 'ivy');
    await colleague.next((f) => f.type === 'welcome');
    first.close();
    await first.closed;
    const again = await page(h);
    await again.next((f) => f.type === 'welcome');
  });

  it('refuses a page it cannot open (the runtime closed first) without ending the process', async () => {
    const h = await start();
    await h.runtime.close();
    const p = await page(h);
    const closed = await p.closed;
    expect([1001, 1011]).toContain(closed.code);
    expect(p.frames.some((f) => f.type === 'welcome')).toBe(false);
  });

  it("shows staff what customers said redacted in session rows and reports, with the runtime's redaction off", async () => {
    const h = await start({ runtime: { redactText: 'none' } });
    const p = await page(h);
    await p.next((f) => f.type === 'welcome');
    await someTurns(h, 2);
    p.send({ type: 'sessions' });
    const rows = await p.next((f) => f.type === 'sessions' && (f.sessions as unknown[]).length > 0);
    p.send({ type: 'report', id: 'r', since: 0 });
    const report = await p.next((f) => f.type === 'report.result');
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const f of [rows, report, ...p.frames]) expect(JSON.stringify(f)).not.toContain(EMAIL);
    expect(JSON.stringify(report)).toContain('[email]');
    // The trace itself keeps it as written: that is what redactText 'none' means.
    expect(JSON.stringify(h.runtime.events.query({ tenant: tenantId('acme') }))).toContain(EMAIL);
  });
});
