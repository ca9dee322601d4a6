/**
 * The browser chat page in headless Chromium against a real server: send, stream, hand-off,
 * then survive a server restart, a dropped socket in the middle of a streamed reply, and a reload,
 * without losing or duplicating a message.
 */
import type { Socket } from 'node:net';
import type { Page } from 'playwright-core';
import { expect, it } from 'vitest';
import { describeInBrowser, screenshotPath } from '../../support/browser.js';
import { createStreamingMachine } from './support/streaming-machine.js';
import { startKeel, type Harness } from './support/keel-harness.js';

const ANSWERS: Record<string, string> = {
  'Where is my order?': 'Your order 1042 left our warehouse yesterday and should arrive on Thursday.',
  'Can I change the delivery address?': 'Yes. I have opened the address change for order 1042; what is the new address?',
  'I want to talk to a person': 'A person will join shortly.',
};
const answer = (text: string): string => ANSWERS[text] ?? `You said: ${text}`;

describeInBrowser('browser chat page', ({ newPage, defer }) => {
  const start = async (options: { dir?: string; port?: number; stepMs?: number } = {}): Promise<Harness & { sockets: Set<Socket> }> => {
    const h = await startKeel({
      ...(options.dir ? { dir: options.dir } : {}),
      ...(options.port ? { port: options.port } : {}),
      machine: createStreamingMachine({ stepMs: options.stepMs ?? 15, reply: answer }),
    });
    const sockets = new Set<Socket>();
    h.server.http.on('upgrade', (_req, socket: Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    return Object.assign(h, { sockets });
  };

  const openPage = async (h: Harness): Promise<Page> => {
    const page = await newPage({ width: 520, height: 720 });
    await page.goto(`${h.url}/#token=${await h.token({ user: 'ann' })}`);
    await page.locator('#status[data-state="online"]').waitFor({ timeout: 5000 });
    return page;
  };

  const say = async (page: Page, text: string): Promise<void> => {
    await page.locator('#input').fill(text);
    await page.locator('#input').press('Enter');
  };

  const agentTexts = (page: Page): Promise<string[]> => page.locator('#transcript li.agent').allTextContents();
  const userCount = (page: Page): Promise<number> => page.locator('#transcript li.user').count();
  // Polled from the test side: the page's CSP (rightly) forbids evaluating strings in it.
  const waitForAgentCount = (page: Page, n: number): Promise<unknown> =>
    expect.poll(() => page.locator('#transcript li.agent:not(.streaming)').count(), { timeout: 8000, interval: 50 }).toBeGreaterThanOrEqual(n);

  it('shows streamed replies and the hand-off status, and takes the token out of the address bar', async () => {
    const h = await start();
    defer(h.remove, () => h.stop());
    const page = await openPage(h);
    expect(page.url()).not.toContain('token=');
    await say(page, 'Where is my order?');
    await page.locator('#transcript li.agent.streaming').first().waitFor({ timeout: 5000 });
    await waitForAgentCount(page, 1);
    await say(page, 'Can I change the delivery address?');
    await waitForAgentCount(page, 2);
    await say(page, 'I want to talk to a person');
    await waitForAgentCount(page, 3);
    await page.locator('#handoff[data-status="queued"]').waitFor({ timeout: 5000 });
    expect(await agentTexts(page)).toEqual([ANSWERS['Where is my order?'], ANSWERS['Can I change the delivery address?'], ANSWERS['I want to talk to a person']]);
    expect(await page.locator('#transcript li.user[data-status="sent"]').count()).toBe(3);
    await page.screenshot({ path: screenshotPath('chat-page.png') });
  });

  it('resumes after a server restart and delivers a message typed while offline, once', async () => {
    const first = await start();
    defer(first.remove);
    const page = await openPage(first);
    await say(page, 'Where is my order?');
    await waitForAgentCount(page, 1);
    await first.stop();
    await page.locator('#status[data-state="offline"]').waitFor({ timeout: 5000 });
    await say(page, 'Can I change the delivery address?');
    expect(await page.locator('#transcript li.user[data-status="pending"]').count()).toBe(1);

    const second = await start({ dir: first.dir, port: first.port });
    defer(() => second.stop());
    await waitForAgentCount(page, 2);
    await page.locator('#status[data-state="online"]').waitFor({ timeout: 8000 });
    expect(await agentTexts(page)).toEqual([ANSWERS['Where is my order?'], ANSWERS['Can I change the delivery address?']]);
    expect(await userCount(page)).toBe(2);
    // The test compiles without the DOM library, hence the narrow view of the page's globals.
    const sessionId = await page.evaluate(() => {
      const storage = (globalThis as unknown as { sessionStorage: { getItem(key: string): string | null } }).sessionStorage;
      return (JSON.parse(storage.getItem('keel.chat.v1') ?? '{}') as { sessionId: string }).sessionId;
    });
    expect(second.runtime.replay(sessionId, 0).map((f) => f.type)).toEqual(['ack', 'reply', 'ack', 'reply']);
  });

  it('survives a socket dropped in the middle of a streamed reply, and a reload, without duplicates', async () => {
    const h = await start({ stepMs: 60 });
    defer(h.remove, () => h.stop());
    const page = await openPage(h);
    await say(page, 'Where is my order?');
    await page.locator('#transcript li.agent.streaming').first().waitFor({ timeout: 5000 });
    for (const socket of h.sockets) socket.destroy();
    await waitForAgentCount(page, 1);
    await page.locator('#status[data-state="online"]').waitFor({ timeout: 8000 });
    await say(page, 'Can I change the delivery address?');
    await waitForAgentCount(page, 2);

    await page.reload();
    await page.locator('#status[data-state="online"]').waitFor({ timeout: 5000 });
    await say(page, 'I want to talk to a person');
    await waitForAgentCount(page, 3);
    await page.waitForTimeout(200);
    expect(await agentTexts(page)).toEqual([ANSWERS['Where is my order?'], ANSWERS['Can I change the delivery address?'], ANSWERS['I want to talk to a person']]);
    expect(await userCount(page)).toBe(3);
    const seqs = await page.locator('#transcript li[data-seq]').evaluateAll((nodes) => nodes.map((n) => Number(n.getAttribute('data-seq'))));
    expect(new Set(seqs).size).toBe(seqs.length);
  });
});
